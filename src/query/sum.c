#include "query/sum.h"

#include <math.h>

#define FRACTION_BITS 64
#define TWO_64 18446744073709551616.0

void exact_sum_add_int(struct exact_sum *s, int64_t v)
{
    /* 2^64 terms of 2^63 cannot overflow 128 bits: no check needed for
     * any bucket this side of 2^64 objects. */
    s->ints += v;
}

bool exact_sum_to_fixed(double x, __int128 *out)
{
    int exp;
    double m = frexp(x, &exp);          /* x = m * 2^exp, 0.5 <= |m| < 1 */
    int64_t mant = (int64_t)ldexp(m, 53);
    int shift = exp - 53 + FRACTION_BITS;

    if (!isfinite(x))
        return false;
    if (mant == 0) {
        *out = 0;
        return true;
    }
    if (shift >= 0) {
        if (shift > 126 - 54)
            return false;                /* would pass 2^126 */
        *out = (__int128)mant * ((__int128)1 << shift);
        return true;
    }
    if (shift < -62 || (mant & (((int64_t)1 << -shift) - 1)) != 0)
        return false;                    /* bits below 2^-64 */
    *out = mant >> -shift;
    return true;
}

void exact_sum_add_double(struct exact_sum *s, double v)
{
    __int128 f, total;

    s->has_double = true;
    if (exact_sum_to_fixed(v, &f) &&
        !__builtin_add_overflow(s->fixed, f, &total)) {
        s->fixed = total;
        return;
    }
    s->loose += v;
    s->has_loose = true;
}

void exact_sum_merge(struct exact_sum *into, const struct exact_sum *from)
{
    into->ints += from->ints;
    into->has_double |= from->has_double;
    __int128 total;
    if (__builtin_add_overflow(into->fixed, from->fixed, &total)) {
        into->loose += (double)from->fixed / TWO_64;
        into->has_loose = true;
    } else {
        into->fixed = total;
    }
    if (from->has_loose) {
        into->loose += from->loose;
        into->has_loose = true;
    }
}

/* The exact part as one double: ints and fixed joined first when the
 * result still fits, so that it is rounded once. */
static double exact_part(const struct exact_sum *s)
{
    __int128 joined, ints_fixed;

    if (!__builtin_mul_overflow(s->ints, (__int128)1 << 32, &ints_fixed) &&
        !__builtin_mul_overflow(ints_fixed, (__int128)1 << 32, &ints_fixed) &&
        !__builtin_add_overflow(ints_fixed, s->fixed, &joined))
        return (double)joined / TWO_64;
    return (double)s->ints + (double)s->fixed / TWO_64;
}

double exact_sum_double(const struct exact_sum *s)
{
    double d = exact_part(s);
    return s->has_loose ? d + s->loose : d;
}

void exact_sum_value(const struct exact_sum *s, bson_value_t *out)
{
    if (!s->has_double && s->ints >= INT64_MIN && s->ints <= INT64_MAX) {
        out->value_type = BSON_TYPE_INT64;
        out->value.v_int64 = (int64_t)s->ints;
        return;
    }
    out->value_type = BSON_TYPE_DOUBLE;
    out->value.v_double = exact_sum_double(s);
}
