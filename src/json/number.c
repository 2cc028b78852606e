/*
 * number.c - JSON numbers in both directions.
 *
 * Reading. One pass collects the first 19 significant digits into a
 * uint64 and the decimal exponent. An integer literal that fits in int64
 * stays an integer. Other numbers become the correctly rounded double:
 * directly when the digits and the power of ten are both exact doubles
 * (then one IEEE multiplication or division rounds correctly), through
 * strtod() otherwise. Tally never calls setlocale(), so strtod() reads
 * the C locale's '.'.
 *
 * Writing. The shortest decimal that strtod() reads back to the same
 * double, found by asking printf for 15, 16, then 17 significant digits
 * (see format_shortest for why that finds the shortest).
 */
#include "json/number.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "json/json.h"

/* TUNING: 10^19 < 2^64, so 19 decimal digits always fit in a uint64. */
#define MANTISSA_DIGITS 19

/* TUNING: exponents are clamped here while being read, which keeps the
 * arithmetic in range. The leading zeros of a long fraction can offset a
 * clamped exponent back to a small one, so a clamped literal never takes
 * the fast path: strtod() reads all of its text. */
#define EXPONENT_CLAMP 100000

/* The powers of ten that a double represents exactly (5^22 < 2^53). */
static const double exact_pow10[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
#define EXACT_POW10_MAX 22

/* 2^53: every integer up to this is an exact double. */
#define EXACT_MANTISSA_MAX (UINT64_C(1) << 53)

/* What one pass over the literal learned. */
struct literal {
    const char *start;
    uint64_t mantissa;   /* the first MANTISSA_DIGITS significant digits */
    int64_t exp10;       /* value = mantissa * 10^exp10 unless truncated */
    int digits;          /* significant digits kept in mantissa */
    bool truncated;      /* more significant digits than were kept */
    bool exp_clamped;    /* the exponent was too long to hold exactly */
    bool negative;
    bool is_integer;     /* no fraction and no exponent */
    const char *msg;     /* why the literal is malformed, or NULL */
};

static bool is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

static void add_digit(struct literal *lit, int digit, bool in_fraction)
{
    if (lit->mantissa == 0 && digit == 0) {
        /* A leading zero is not significant; in a fraction it scales. */
        if (in_fraction)
            lit->exp10--;
        return;
    }
    if (lit->digits < MANTISSA_DIGITS) {
        lit->mantissa = lit->mantissa * 10 + (uint64_t)digit;
        lit->digits++;
        if (in_fraction)
            lit->exp10--;
        return;
    }
    lit->truncated = true;
    if (!in_fraction)
        lit->exp10++;
}

/* The scanners below return the position after what they read or, with
 * lit->msg set, the position of the byte that does not fit the grammar. */

/* int = "0" / digit1-9 *digit */
static const char *scan_integer_part(struct literal *lit, const char *p,
                                     const char *end)
{
    if (p == end || !is_digit(*p)) {
        lit->msg = "expected a digit";
        return p;
    }
    if (*p == '0') {
        if (p + 1 < end && is_digit(p[1]))
            lit->msg = "leading zeros are not allowed";
        return p + 1;
    }
    while (p < end && is_digit(*p))
        add_digit(lit, *p++ - '0', false);
    return p;
}

/* frac = "." 1*digit; p is at the '.'. */
static const char *scan_fraction(struct literal *lit, const char *p,
                                 const char *end)
{
    p++;
    if (p == end || !is_digit(*p)) {
        lit->msg = "expected a digit after the decimal point";
        return p;
    }
    while (p < end && is_digit(*p))
        add_digit(lit, *p++ - '0', true);
    lit->is_integer = false;
    return p;
}

/* exp = ("e" / "E") ["-" / "+"] 1*digit; p is at the 'e'. */
static const char *scan_exponent(struct literal *lit, const char *p,
                                 const char *end)
{
    bool negative = false;
    int64_t e = 0;

    p++;
    if (p < end && (*p == '+' || *p == '-'))
        negative = *p++ == '-';
    if (p == end || !is_digit(*p)) {
        lit->msg = "expected a digit in the exponent";
        return p;
    }
    while (p < end && is_digit(*p)) {
        if (e < EXPONENT_CLAMP)
            e = e * 10 + (*p - '0');
        else
            lit->exp_clamped = true;
        p++;
    }
    lit->exp10 += negative ? -e : e;
    lit->is_integer = false;
    return p;
}

static const char *scan_literal(struct literal *lit, const char *p,
                                const char *end)
{
    lit->start = p;
    if (*p == '-') {
        lit->negative = true;
        p++;
    }
    p = scan_integer_part(lit, p, end);
    if (lit->msg == NULL && p < end && *p == '.')
        p = scan_fraction(lit, p, end);
    if (lit->msg == NULL && p < end && (*p == 'e' || *p == 'E'))
        p = scan_exponent(lit, p, end);
    return p;
}

/* True, with *v set, when the literal is an integer that fits in int64. */
static bool literal_int64(const struct literal *lit, int64_t *v)
{
    uint64_t limit = (uint64_t)INT64_MAX + (lit->negative ? 1 : 0);

    if (!lit->is_integer || lit->truncated || lit->mantissa > limit)
        return false;
    if (!lit->negative)
        *v = (int64_t)lit->mantissa;
    else if (lit->mantissa == (uint64_t)INT64_MAX + 1)
        *v = INT64_MIN;
    else
        *v = -(int64_t)lit->mantissa;
    return true;
}

/* The exact fast path: both operands are exact doubles, so one IEEE
 * operation gives the correctly rounded result. It needs arithmetic done
 * in double precision, not in a wider format (FLT_EVAL_METHOD 0). */
static bool literal_double_fast(const struct literal *lit, double *d)
{
#if FLT_EVAL_METHOD == 0
    if (lit->truncated || lit->exp_clamped ||
        lit->mantissa > EXACT_MANTISSA_MAX ||
        lit->exp10 < -EXACT_POW10_MAX || lit->exp10 > EXACT_POW10_MAX)
        return false;

    double m = (double)lit->mantissa;
    double v = lit->exp10 < 0 ? m / exact_pow10[-lit->exp10]
                              : m * exact_pow10[lit->exp10];
    *d = lit->negative ? -v : v;
    return true;
#else
    (void)lit;
    (void)d;
    return false;
#endif
}

static int literal_double_strtod(const struct literal *lit, const char *stop,
                                 struct buf *scratch, double *d)
{
    size_t n = (size_t)(stop - lit->start);

    if (buf_reserve(scratch, n + 1) != 0)
        return ERR_NOMEM;

    char *copy = scratch->data + scratch->len + 1;
    memcpy(copy, lit->start, n);
    copy[n] = '\0';

    char *parsed_end;
    *d = strtod(copy, &parsed_end);
    if (parsed_end != copy + n)
        BUG("strtod read %td of %zu bytes of a json number",
            parsed_end - copy, n);
    return 0;
}

int json_number_read(const char *p, const char *end, struct buf *scratch,
                     struct json_number *num, const char **stop,
                     const char **msg)
{
    struct literal lit = {.is_integer = true};
    const char *after = scan_literal(&lit, p, end);

    *stop = after;
    if (lit.msg != NULL) {
        *msg = lit.msg;
        return ERR_BAD_REQUEST;
    }

    num->is_int = literal_int64(&lit, &num->i);
    if (num->is_int)
        return 0;
    if (lit.mantissa == 0) {
        num->d = lit.negative ? -0.0 : 0.0;
        return 0;
    }
    if (literal_double_fast(&lit, &num->d))
        return 0;

    int rc = literal_double_strtod(&lit, after, scratch, &num->d);
    if (rc == 0 && isinf(num->d)) {
        *stop = lit.start;
        *msg = "number out of range";
        return ERR_BAD_REQUEST;
    }
    return rc;
}

size_t json_format_int64(int64_t v, char *out)
{
    char digits[20];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = digits[--n];
    return len;
}

static bool reads_back(const char *text, double d)
{
    return strtod(text, NULL) == d;
}

/* For a normal double, a decimal of at most 15 significant digits that
 * reads back to d is unique (15-digit decimals are spaced wider than the
 * interval that rounds to d), so it is exactly what %.15g prints, trailing
 * zeros dropped. Failing that, %.16g is the nearest 16-digit decimal, which
 * reads back whenever any 16-digit one does; and 17 digits always do.
 * Subnormal doubles carry fewer bits, so shorter forms can read back even
 * though %.15g does too: for them every precision is tried. */
static size_t format_shortest(double d, char *out)
{
    int first = fabs(d) < DBL_MIN ? 1 : DBL_DIG;

    for (int precision = first; precision < DBL_DECIMAL_DIG; precision++) {
        int n = snprintf(out, 32, "%.*g", precision, d);
        if (reads_back(out, d))
            return (size_t)n;
    }
    return (size_t)snprintf(out, 32, "%.*g", DBL_DECIMAL_DIG, d);
}

size_t json_format_double(double d, char *out, bool keep_point)
{
    size_t n;

    if (!isfinite(d))
        BUG("json_format_double given a non-finite value");

    /* Integral values that are exact doubles print as integers ("60"),
     * which %g would turn into exponent form past 15 digits. */
    if (d == trunc(d) && fabs(d) < (double)EXACT_MANTISSA_MAX) {
        n = 0;
        if (d == 0 && signbit(d))
            out[n++] = '-';
        n += json_format_int64((int64_t)d, out + n);
    } else {
        n = format_shortest(d, out);
    }

    if (keep_point && memchr(out, '.', n) == NULL &&
        memchr(out, 'e', n) == NULL) {
        out[n++] = '.';
        out[n++] = '0';
    }
    out[n] = '\0';
    return n;
}
