/*
 * test_json.c - the JSON reader and writer (src/json): type mapping,
 * numbers in both directions, duplicate keys, limits, error offsets,
 * Unicode, the writer's escaping and special values, and round trips,
 * both over chosen documents and over seeded random ones.
 *
 * Expected BSON is built with libbson's own encoder, so that the reader is
 * checked against an independent writer of the format, byte for byte.
 */
#include <float.h>
#include <math.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/utf8.h"
#include "json/json.h"
#include "test.h"

/* The portable scanner is built here, on x86-64 too, to be compared with
 * the byte-at-a-time definition (the library itself uses SSE2 there). */
#define TALLY_JSON_PORTABLE
#include "json/scan.h"

/* ---- helpers ---------------------------------------------------------- */

/* s[0..n) with unprintable bytes as \xNN, for failure messages; the
 * result lives until the next call. */
static const char *show(const char *s, size_t n)
{
    static char out[400];
    size_t o = 0;

    for (size_t i = 0; i < n && o + 5 < sizeof out; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

static int parse_n(const char *text, size_t n, const struct json_opts *opts,
                   struct buf *out, struct json_error *je)
{
    buf_reset(out);
    return json_parse(text, n, opts, out, je);
}

static int parse(const char *text, struct buf *out)
{
    struct json_error je;
    return parse_n(text, strlen(text), NULL, out, &je);
}

/* True when out[at..len) is exactly the bytes of want. */
static bool same_bson(const struct buf *out, size_t at, const bson_t *want)
{
    return out->len - at == want->len &&
           memcmp(out->data + at, bson_get_data(want), want->len) == 0;
}

/* Parses text (with opts) and compares it with want, which it destroys;
 * prints both sides when they differ. */
static bool parses_to_opts(const char *text, size_t n,
                           const struct json_opts *opts, bson_t *want)
{
    struct buf out = BUF_INIT;
    struct json_error je = {0};
    int rc = parse_n(text, n, opts, &out, &je);
    bool ok = rc == 0 && same_bson(&out, 0, want);

    if (!ok) {
        char *w = bson_as_relaxed_extended_json(want, NULL);
        printf("    input %s\n", show(text, n));
        printf("      rc %d (%s), want %s\n", rc, je.msg, w);
        if (rc == 0) {
            bson_t got;
            bson_init_static(&got, (const uint8_t *)out.data, out.len);
            char *g = bson_as_relaxed_extended_json(&got, NULL);
            printf("      got %s\n", g ? g : "(invalid bson)");
            bson_free(g);
        }
        bson_free(w);
    }
    bson_destroy(want);
    buf_release(&out);
    return ok;
}

static bool parses_to(const char *text, bson_t *want)
{
    return parses_to_opts(text, strlen(text), NULL, want);
}

/* Expects text[0..n) to be rejected at offset with a message containing
 * msg, and the output buffer left as it was. */
static bool rejects_n(const char *text, size_t n, const struct json_opts *opts,
                      size_t offset, const char *msg)
{
    struct buf out = BUF_INIT;
    struct json_error je = {0};

    buf_adds(&out, "keep");
    int rc = json_parse(text, n, opts, &out, &je);
    bool ok = rc == ERR_BAD_REQUEST && je.offset == offset &&
              strstr(je.msg, msg) != NULL && out.len == 4 &&
              strcmp(out.data, "keep") == 0;
    if (!ok)
        printf("    input %s: rc %d, offset %zu (want %zu), \"%s\" (want "
               "\"%s\"), output length %zu\n",
               show(text, n), rc, je.offset, offset, je.msg, msg, out.len);
    buf_release(&out);
    return ok;
}

static bool rejects(const char *text, size_t offset, const char *msg)
{
    return rejects_n(text, strlen(text), NULL, offset, msg);
}

/* Parses {"v": literal} and leaves *it on v. */
static bool parse_value(const char *literal, struct buf *out, bson_iter_t *it)
{
    char text[512];
    bson_t doc;

    snprintf(text, sizeof text, "{\"v\":%s}", literal);
    if (parse(text, out) != 0)
        return false;
    bson_init_static(&doc, (const uint8_t *)out->data, out->len);
    return bson_iter_init_find(it, &doc, "v");
}

/* The JSON text of the BSON document at doc[0..n). */
static void write_bson(const char *doc, size_t n, struct buf *json)
{
    bson_t b;
    struct jw w;

    buf_reset(json);
    jw_init(&w, json);
    if (!bson_init_static(&b, (const uint8_t *)doc, n)) {
        buf_adds(json, "(bad bson)");
        return;
    }
    jw_bson_document(&w, &b);
}

/* Writes want as JSON, compares the text, and destroys want. */
static bool writes_as(bson_t *doc, const char *want)
{
    struct buf json = BUF_INIT;

    write_bson((const char *)bson_get_data(doc), doc->len, &json);
    bool ok = json.data != NULL && strcmp(json.data, want) == 0;
    if (!ok) {
        printf("    wrote %s\n", show(json.data, json.len));
        printf("      want %s\n", show(want, strlen(want)));
    }
    bson_destroy(doc);
    buf_release(&json);
    return ok;
}

static const char *format_double(double d, bool keep_point)
{
    static char out[32];
    json_format_double(d, out, keep_point);
    return out;
}

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* A small PRNG of our own (splitmix64), so that runs are reproducible. */
struct rng {
    uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

/* ---- type mapping ----------------------------------------------------- */

TEST(json_integers_take_the_smallest_bson_type)
{
    static const struct {
        const char *text;
        bson_type_t type;
        int64_t value;
    } cases[] = {
        {"0", BSON_TYPE_INT32, 0},
        {"-0", BSON_TYPE_INT32, 0},
        {"7", BSON_TYPE_INT32, 7},
        {"2147483647", BSON_TYPE_INT32, INT32_MAX},
        {"-2147483648", BSON_TYPE_INT32, INT32_MIN},
        {"2147483648", BSON_TYPE_INT64, INT64_C(2147483648)},
        {"-2147483649", BSON_TYPE_INT64, INT64_C(-2147483649)},
        {"9223372036854775807", BSON_TYPE_INT64, INT64_MAX},
        {"-9223372036854775808", BSON_TYPE_INT64, INT64_MIN},
        {"1000000000000000000", BSON_TYPE_INT64, INT64_C(1000000000000000000)},
    };
    struct buf out = BUF_INIT;
    bson_iter_t it;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool found = parse_value(cases[i].text, &out, &it);
        if (!CHECK(found) || !CHECK_INT(bson_iter_type(&it), cases[i].type)) {
            printf("    literal %s\n", cases[i].text);
            continue;
        }
        int64_t got = cases[i].type == BSON_TYPE_INT32 ? bson_iter_int32(&it)
                                                       : bson_iter_int64(&it);
        CHECK_INT(got, cases[i].value);
    }
    buf_release(&out);

    /* The same bytes libbson's encoder writes. */
    CHECK(parses_to("{\"a\":2147483647,\"b\":2147483648,\"c\":-0}",
                    BCON_NEW("a", BCON_INT32(INT32_MAX), "b",
                             BCON_INT64(INT64_C(2147483648)), "c",
                             BCON_INT32(0))));
}

TEST(json_other_numbers_become_doubles)
{
    static const struct {
        const char *text;
        double value;
    } cases[] = {
        {"9223372036854775808", 9223372036854775808.0},
        {"-9223372036854775809", -9223372036854775808.0},
        {"18446744073709551616", 18446744073709551616.0},
        {"1.0", 1.0},
        {"1e2", 100.0},
        {"1E+2", 100.0},
        {"-2.5e-3", -0.0025},
        {"0.0", 0.0},
        {"10000000000000000000000", 1e22},
    };
    struct buf out = BUF_INIT;
    bson_iter_t it;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool found = parse_value(cases[i].text, &out, &it);
        if (!CHECK(found) ||
            !CHECK_INT(bson_iter_type(&it), BSON_TYPE_DOUBLE)) {
            printf("    literal %s\n", cases[i].text);
            continue;
        }
        CHECK(bson_iter_double(&it) == cases[i].value);
    }

    /* -0.0 keeps its sign as a double (only the integer -0 is plain 0). */
    CHECK(parse_value("-0.0", &out, &it));
    CHECK(bson_iter_type(&it) == BSON_TYPE_DOUBLE &&
          signbit(bson_iter_double(&it)));
    CHECK(parse_value("-0e7", &out, &it));
    CHECK(bson_iter_type(&it) == BSON_TYPE_DOUBLE &&
          signbit(bson_iter_double(&it)));
    buf_release(&out);
}

TEST(json_scalars_strings_and_containers_map_to_bson)
{
    bson_t *want =
        BCON_NEW("s", "text", "t", BCON_BOOL(true), "f", BCON_BOOL(false), "n",
                 BCON_NULL, "o", "{", "x", BCON_INT32(1), "}", "a", "[",
                 BCON_INT32(1), "two", "[", "]", "{", "}", "]", "e", "{", "}");

    CHECK(parses_to(" {\"s\" : \"text\", \"t\":true,\"f\":false,\n"
                    "\"n\":null,\t\"o\":{\"x\":1},\r\"a\":[1,\"two\",[],{}],"
                    "\"e\":{}} ",
                    want));
    CHECK(parses_to("{}", bson_new()));
}

/* ---- doubles in both directions ----------------------------------------*/

/* Each literal reads to the correctly rounded double (glibc's strtod is
 * correctly rounded, and the reader's fast path must agree with it). */
TEST(json_doubles_read_correctly_rounded)
{
    static const char *literals[] = {
        "0.1",
        "1e-300",
        "5e-324",
        "4.9406564584124654e-324",
        "2.4703282292062328e-324", /* just above half the least subnormal */
        "2.2250738585072014e-308",
        "2.2250738585072011e-308",
        "1.7976931348623157e308",
        "123456789012345678901234567890",
        "0.30000000000000004",
        "9007199254740993.0",
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203126",
        "3.14159265358979323846264338327950288419716939937510",
        "1e22",
        "1e23",
        "8.98846567431158e307",
        "0.000000000000000000000000000000000000000000001e45",
        "1e-400",
        "123.456e-10",
        "-7.2057594037927933e16",
    };
    struct buf out = BUF_INIT;
    bson_iter_t it;

    for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
        double want = strtod(literals[i], NULL);
        bool found = parse_value(literals[i], &out, &it);
        if (!CHECK(found && bson_iter_type(&it) == BSON_TYPE_DOUBLE &&
                   double_bits(bson_iter_double(&it)) == double_bits(want)))
            printf("    literal %s\n", literals[i]);
    }

    /* Known bit patterns, independent of the C library. */
    CHECK(parse_value("0.1", &out, &it));
    CHECK(double_bits(bson_iter_double(&it)) == UINT64_C(0x3FB999999999999A));
    CHECK(parse_value("5e-324", &out, &it));
    CHECK(double_bits(bson_iter_double(&it)) == 1);
    CHECK(parse_value("1.7976931348623157e308", &out, &it));
    CHECK(bson_iter_double(&it) == DBL_MAX);
    CHECK(parse_value("2.2250738585072014e-308", &out, &it));
    CHECK(bson_iter_double(&it) == DBL_MIN);
    buf_release(&out);
}

/* Random literals of every shape, each compared with strtod: covers the
 * exact fast path and its boundaries (2^53, 10^22) as well as the rest. */
TEST(json_random_decimal_literals_match_strtod)
{
    struct rng r = {20240603};
    struct buf out = BUF_INIT;
    char lit[128];
    bson_iter_t it;
    int mismatches = 0;

    for (int i = 0; i < 20000; i++) {
        size_t n = 0;
        int digits = 1 + (int)rng_below(&r, 25);
        int point = (int)rng_below(&r, (uint32_t)digits + 1);

        if (rng_below(&r, 2))
            lit[n++] = '-';
        lit[n++] = (char)('1' + rng_below(&r, 9));
        for (int d = 1; d < digits; d++) {
            if (d == point)
                lit[n++] = '.';
            lit[n++] = (char)('0' + rng_below(&r, 10));
        }
        if (rng_below(&r, 3) == 0 || point == 0)
            n += (size_t)snprintf(lit + n, sizeof lit - n, "e%d",
                                  (int)rng_below(&r, 60) - 30);
        lit[n] = '\0';

        double want = strtod(lit, NULL);
        if (!parse_value(lit, &out, &it)) {
            mismatches++;
            printf("    %s rejected\n", lit);
            continue;
        }
        double got = bson_iter_type(&it) == BSON_TYPE_DOUBLE
                         ? bson_iter_double(&it)
                     : bson_iter_type(&it) == BSON_TYPE_INT32
                         ? bson_iter_int32(&it)
                         : (double)bson_iter_int64(&it);
        if (double_bits(got) != double_bits(want) && mismatches++ < 10)
            printf("    %s read as %.17g, strtod says %.17g\n", lit, got, want);
    }
    CHECK_INT(mismatches, 0);
    buf_release(&out);
}

TEST(json_doubles_write_in_the_shortest_form)
{
    CHECK_STR(format_double(0.1, true), "0.1");
    CHECK_STR(format_double(1e-300, true), "1e-300");
    CHECK_STR(format_double(5e-324, true), "5e-324");
    CHECK_STR(format_double(DBL_MIN, true), "2.2250738585072014e-308");
    CHECK_STR(format_double(DBL_MAX, true), "1.7976931348623157e+308");
    CHECK_STR(format_double(123456789012345678901234567890.0, true),
              "1.2345678901234568e+29");
    CHECK_STR(format_double(0.30000000000000004, true), "0.30000000000000004");
    CHECK_STR(format_double(-1.5, true), "-1.5");
    CHECK_STR(format_double(1e22, true), "1e+22");

    /* Integral values keep a ".0" so that clients see a float... */
    CHECK_STR(format_double(60.0, true), "60.0");
    CHECK_STR(format_double(0.0, true), "0.0");
    CHECK_STR(format_double(-0.0, true), "-0.0");
    CHECK_STR(format_double(-3.0, true), "-3.0");
    CHECK_STR(format_double(9007199254740992.0, true), "9007199254740992.0");
    /* ...unless asked not to. */
    CHECK_STR(format_double(60.0, false), "60");
    CHECK_STR(format_double(2.5, false), "2.5");
    CHECK_STR(format_double(-0.0, false), "-0");
    CHECK_STR(format_double(1e22, false), "1e+22");

    char out[32];
    CHECK_INT(json_format_double(0.1, out, true), 3);
    CHECK_INT(json_format_double(DBL_MAX, out, true), 23);
}

/* Significant digits in a formatted number (mantissa digits, leading
 * zeros not counted). */
static int significant_digits(const char *s)
{
    int n = 0;
    bool leading = true;

    for (; *s != '\0' && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (leading && *s == '0')
            continue;
        leading = false;
        n++;
    }
    return n;
}

/* The fewest significant digits with which printf's nearest decimal reads
 * back as d. */
static int fewest_digits(double d)
{
    char text[40];

    for (int p = 1; p < 17; p++) {
        snprintf(text, sizeof text, "%.*g", p, d);
        if (strtod(text, NULL) == d)
            return p;
    }
    return 17;
}

/* Random doubles across the whole range: the text reads back exactly and
 * uses no more digits than necessary. */
TEST(json_random_doubles_write_shortest_and_read_back)
{
    struct rng r = {77};
    int failures = 0;

    for (int i = 0; i < 20000; i++) {
        double d;
        uint64_t bits = rng_next(&r);
        switch (i % 4) {
        case 0: /* any finite double */
            memcpy(&d, &bits, sizeof d);
            if (!isfinite(d))
                continue;
            break;
        case 1: /* short decimals, as people write them */
            d = (double)(int64_t)(bits % 2000000 - 1000000) /
                pow(10, (double)rng_below(&r, 8));
            break;
        case 2: /* subnormals */
            bits &= UINT64_C(0x800FFFFFFFFFFFFF);
            memcpy(&d, &bits, sizeof d);
            break;
        default: /* integral values around 2^53 and beyond */
            d = ldexp((double)(bits >> 11), (int)rng_below(&r, 20));
            break;
        }

        const char *text = format_double(d, true);
        double back = strtod(text, NULL);
        int digits = significant_digits(text);
        bool integral_form = strchr(text, 'e') == NULL && d == trunc(d);
        if (double_bits(back) != double_bits(d) ||
            (!integral_form && digits != fewest_digits(d))) {
            if (failures++ < 10)
                printf("    %.17g wrote %s (%d digits, fewest %d)\n", d, text,
                       digits, fewest_digits(d));
        }
    }
    CHECK_INT(failures, 0);
}

TEST(json_rejects_numbers_too_large_for_a_double)
{
    CHECK(rejects("{\"v\":1e400}", 5, "number out of range"));
    CHECK(rejects("{\"v\":-1e400}", 5, "number out of range"));
    CHECK(rejects("{\"a\":1,\"v\":1.8e308}", 11, "number out of range"));
    CHECK(rejects("{\"v\":1e99999999999999999999}", 5, "number out of range"));

    /* Zero stays zero and tiny values underflow to zero: not errors. */
    struct buf out = BUF_INIT;
    bson_iter_t it;
    CHECK(parse_value("0e99999999999", &out, &it));
    CHECK(bson_iter_double(&it) == 0.0);
    CHECK(parse_value("1e-99999", &out, &it));
    CHECK(bson_iter_double(&it) == 0.0);
    buf_release(&out);
}

/* An exponent too long to hold exactly must not be mistaken for a small
 * one: 0.(99999 zeros)1 times 10^1000000 is 10^900000, out of range; and
 * the same digits times 10^100000 are exactly 1. */
TEST(json_huge_exponents_are_not_truncated)
{
    struct buf text = BUF_INIT, out = BUF_INIT;
    struct json_error je = {0};
    bson_iter_t it;
    bson_t doc;

    buf_adds(&text, "{\"v\":0.");
    for (int i = 0; i < 99999; i++)
        buf_addc(&text, '0');
    buf_adds(&text, "1e1000000}");
    CHECK_INT(parse_n(text.data, text.len, NULL, &out, &je), ERR_BAD_REQUEST);
    CHECK_STR(je.msg, "number out of range");
    CHECK_INT(je.offset, 5);

    buf_truncate(&text, text.len - strlen("1000000}"));
    buf_adds(&text, "100000}");
    CHECK_INT(parse_n(text.data, text.len, NULL, &out, &je), 0);
    bson_init_static(&doc, (const uint8_t *)out.data, out.len);
    CHECK(bson_iter_init_find(&it, &doc, "v") &&
          bson_iter_type(&it) == BSON_TYPE_DOUBLE &&
          bson_iter_double(&it) == 1.0);
    buf_release(&text);
    buf_release(&out);
}

TEST(json_rejects_malformed_numbers_where_they_go_wrong)
{
    CHECK(rejects("{\"v\":01}", 6, "leading zeros"));
    CHECK(rejects("{\"v\":-01}", 7, "leading zeros"));
    CHECK(rejects("{\"v\":-}", 6, "expected a digit"));
    CHECK(rejects("{\"v\":1.}", 7, "after the decimal point"));
    CHECK(rejects("{\"v\":1.e5}", 7, "after the decimal point"));
    CHECK(rejects("{\"v\":1e}", 7, "in the exponent"));
    CHECK(rejects("{\"v\":1e+}", 8, "in the exponent"));
    CHECK(rejects("{\"v\":.5}", 5, "expected a value"));
    CHECK(rejects("{\"v\":+1}", 5, "expected a value"));
    CHECK(rejects("{\"v\":0x10}", 6, "expected ',' or '}'"));
    CHECK(rejects("{\"v\":1.5.2}", 8, "expected ',' or '}'"));
    CHECK(rejects("{\"v\":-", 6, "expected a digit"));
}

/* ---- duplicate keys --------------------------------------------------- */

TEST(json_duplicate_keys_last_value_wins_at_the_first_position)
{
    CHECK(parses_to("{\"a\":1,\"b\":2,\"a\":3}",
                    BCON_NEW("a", BCON_INT32(3), "b", BCON_INT32(2))));
    CHECK(
        parses_to("{\"a\":1,\"a\":2,\"a\":\"three\"}", BCON_NEW("a", "three")));
    /* The values may differ in size and type. */
    CHECK(parses_to("{\"a\":{\"k\":[1,2,3]},\"b\":\"s\",\"c\":null,"
                    "\"a\":\"short\",\"b\":[true]}",
                    BCON_NEW("a", "short", "b", "[", BCON_BOOL(true), "]", "c",
                             BCON_NULL)));
    CHECK(parses_to(
        "{\"a\":1,\"b\":2,\"b\":{\"x\":\"long value here\"}}",
        BCON_NEW("a", BCON_INT32(1), "b", "{", "x", "long value here", "}")));
    /* Keys are compared once decoded. */
    CHECK(parses_to("{\"a\":1,\"\\u0061\":2}", BCON_NEW("a", BCON_INT32(2))));
    /* Same length, same first and last 8 bytes, different middle. */
    CHECK(parses_to("{\"abcdefgh-X-stuvwxyz\":1,\"abcdefgh-Y-stuvwxyz\":2}",
                    BCON_NEW("abcdefgh-X-stuvwxyz", BCON_INT32(1),
                             "abcdefgh-Y-stuvwxyz", BCON_INT32(2))));
    /* A key that is a prefix of another is a different key. */
    CHECK(parses_to("{\"ab\":1,\"abc\":2,\"\":3,\"\":4}",
                    BCON_NEW("ab", BCON_INT32(1), "abc", BCON_INT32(2), "",
                             BCON_INT32(4))));
}

TEST(json_duplicate_keys_in_nested_objects)
{
    CHECK(
        parses_to("{\"o\":{\"x\":1,\"y\":2,\"x\":{\"z\":1,\"z\":2}},\"o2\":5}",
                  BCON_NEW("o", "{", "x", "{", "z", BCON_INT32(2), "}", "y",
                           BCON_INT32(2), "}", "o2", BCON_INT32(5))));
    /* Inner and outer both rebuilt, inside an array too. */
    CHECK(parses_to("{\"a\":[{\"k\":1,\"k\":2},{\"k\":3}],\"b\":0,"
                    "\"a\":[{\"m\":{\"n\":1,\"n\":[2]}}]}",
                    BCON_NEW("a", "[", "{", "m", "{", "n", "[", BCON_INT32(2),
                             "]", "}", "}", "]", "b", BCON_INT32(0))));
    /* The same key in different objects is no duplicate. */
    CHECK(parses_to("{\"k\":{\"k\":{\"k\":1}},\"j\":{\"k\":2}}",
                    BCON_NEW("k", "{", "k", "{", "k", BCON_INT32(1), "}", "}",
                             "j", "{", "k", BCON_INT32(2), "}")));
}

/* {"k0":0,...} for the given key numbers, values their positions. */
static void object_text(struct buf *text, const int *keys, size_t n)
{
    buf_reset(text);
    buf_addc(text, '{');
    for (size_t i = 0; i < n; i++)
        buf_addf(text, "%s\"k%d\":%zu", i ? "," : "", keys[i], i);
    buf_addc(text, '}');
}

/* What the reader must make of that text: each key at its first position
 * with the position of its last occurrence as value. */
static bson_t *object_expected(const int *keys, size_t n)
{
    bson_t *want = bson_new();

    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= keys[j] == keys[i];
        if (seen)
            continue;
        size_t last = i;
        for (size_t j = i + 1; j < n; j++)
            if (keys[j] == keys[i])
                last = j;
        char key[16];
        snprintf(key, sizeof key, "k%d", keys[i]);
        BSON_APPEND_INT32(want, key, (int32_t)last);
    }
    return want;
}

/* Objects past the size where duplicates are found by sorting. */
TEST(json_duplicate_keys_in_large_objects)
{
    struct buf text = BUF_INIT;
    int keys[200];

    /* 40 distinct keys, then k5 again: the duplicate is key 41. */
    for (int i = 0; i < 40; i++)
        keys[i] = i;
    keys[40] = 5;
    object_text(&text, keys, 41);
    CHECK(parses_to(text.data, object_expected(keys, 41)));

    /* 31, 32 and 33 keys (both sides of the linear-compare limit), the
     * duplicate pair as far apart as it gets. */
    for (int n = 31; n <= 33; n++) {
        for (int i = 0; i < n; i++)
            keys[i] = i;
        keys[n - 1] = 0;
        object_text(&text, keys, (size_t)n);
        CHECK(parses_to(text.data, object_expected(keys, (size_t)n)));
    }

    /* Duplicates only among the later keys, and many keys (the key stack
     * outgrows its inline storage). */
    for (int i = 0; i < 150; i++)
        keys[i] = i < 100 ? i : 90 + i % 7;
    object_text(&text, keys, 150);
    CHECK(parses_to(text.data, object_expected(keys, 150)));

    /* Many keys and no duplicate: untouched, in order. */
    for (int i = 0; i < 200; i++)
        keys[i] = 199 - i;
    object_text(&text, keys, 200);
    CHECK(parses_to(text.data, object_expected(keys, 200)));
    buf_release(&text);
}

/* Random objects with keys from a small pool, so many repeat; sizes on
 * both sides of the linear-compare limit. */
TEST(json_random_duplicate_keys_match_the_model)
{
    struct rng r = {4242};
    struct buf text = BUF_INIT, wrapped = BUF_INIT;
    int keys[120];
    int failures = 0;

    for (int round = 0; round < 600; round++) {
        size_t n = 1 + rng_below(&r, 120);
        uint32_t pool = 1 + rng_below(&r, (uint32_t)n + 5);
        for (size_t i = 0; i < n; i++)
            keys[i] = (int)rng_below(&r, pool);
        object_text(&text, keys, n);

        /* Nest it in an object of its own, with a duplicate outer key. */
        buf_reset(&wrapped);
        buf_addf(&wrapped, "{\"x\":0,\"o\":%s,\"x\":1}", text.data);
        bson_t *inner = object_expected(keys, n);
        bson_t *want = bson_new();
        BSON_APPEND_INT32(want, "x", 1);
        BSON_APPEND_DOCUMENT(want, "o", inner);
        bson_destroy(inner);
        if (!parses_to(wrapped.data, want))
            failures++;
    }
    CHECK_INT(failures, 0);
    buf_release(&text);
    buf_release(&wrapped);
}

/* ---- depth ------------------------------------------------------------ */

/* levels nested containers: {"a":[[...]]} (or [[...]] when wrapped). */
static void nested_text(struct buf *text, int levels, bool wrapped)
{
    buf_reset(text);
    if (!wrapped) {
        buf_adds(text, "{\"a\":");
        levels--;
    }
    for (int i = 0; i < levels; i++)
        buf_addc(text, '[');
    buf_addc(text, '1');
    for (int i = 0; i < levels; i++)
        buf_addc(text, ']');
    if (!wrapped)
        buf_addc(text, '}');
}

/* Accepts `limit` levels, rejects limit + 1 at the innermost bracket. */
static bool depth_limit_is(int max_depth, int limit, bool wrapped)
{
    struct json_opts opts = {.max_depth = max_depth,
                             .wrap_key = wrapped ? "v" : NULL};
    struct buf text = BUF_INIT, out = BUF_INIT;
    struct json_error je = {0};

    nested_text(&text, limit, wrapped);
    bool ok = parse_n(text.data, text.len, &opts, &out, &je) == 0;
    if (!ok)
        printf("    %d levels rejected: %s\n", limit, je.msg);

    nested_text(&text, limit + 1, wrapped);
    size_t innermost = wrapped ? (size_t)limit : 5 + (size_t)limit - 1;
    ok &= rejects_n(text.data, text.len, &opts, innermost, "nesting deeper");
    buf_release(&text);
    buf_release(&out);
    return ok;
}

TEST(json_depth_limit_is_exact)
{
    CHECK(depth_limit_is(1, 1, false));
    CHECK(depth_limit_is(5, 5, false));
    CHECK(depth_limit_is(5, 5, true));
    CHECK(depth_limit_is(0, JSON_DEFAULT_MAX_DEPTH, false));
    CHECK(depth_limit_is(0, JSON_DEFAULT_MAX_DEPTH, true));
    CHECK(depth_limit_is(JSON_MAX_DEPTH_LIMIT, JSON_MAX_DEPTH_LIMIT, true));
    /* A larger request is capped, as json.h says. */
    CHECK(depth_limit_is(100000, JSON_MAX_DEPTH_LIMIT, true));

    /* Objects count as levels as well as arrays do. */
    struct json_opts opts = {.max_depth = 2};
    struct buf out = BUF_INIT;
    struct json_error je;
    const char *two = "{\"a\":{\"b\":1}}";
    CHECK_INT(parse_n(two, strlen(two), &opts, &out, &je), 0);
    const char *three = "{\"a\":{\"b\":{}}}";
    CHECK(rejects_n(three, strlen(three), &opts, 10, "nesting deeper"));
    buf_release(&out);
}

/* ---- errors ----------------------------------------------------------- */

TEST(json_errors_report_the_byte_offset)
{
    CHECK(rejects("{\"a\":1,}", 7, "expected a string key"));
    CHECK(rejects("{\"a\":[1,]}", 8, "expected a value"));
    CHECK(rejects("{\"a\":\"\\x\"}", 6, "invalid escape"));
    CHECK(rejects("{\"a\":\"ok\\q\"}", 8, "invalid escape"));
    CHECK(rejects("{\"a\":", 5, "unexpected end of input"));
    CHECK(rejects("{\"a\":1", 6, "unexpected end of input"));
    CHECK(rejects("{\"a\":[1,2", 9, "unexpected end of input"));
    CHECK(rejects("{\"a\":\"abc", 9, "unterminated string"));
    CHECK(rejects("{\"a\":\"\\", 7, "unexpected end of input"));
    CHECK(rejects("{\"a", 3, "unterminated string"));
    CHECK(rejects("{", 1, "unexpected end of input"));
    CHECK(rejects("", 0, "unexpected end of input"));
    CHECK(rejects("   ", 3, "unexpected end of input"));
    CHECK(rejects("{} x", 3, "unexpected text after"));
    CHECK(rejects("{}{}", 2, "unexpected text after"));
    CHECK(rejects("{\"a\":1}]", 7, "unexpected text after"));
    CHECK(rejects("{\"a\" 1}", 5, "expected ':'"));
    CHECK(rejects("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'"));
    CHECK(rejects("{\"a\":[1 2]}", 8, "expected ',' or ']'"));
    CHECK(rejects("{a:1}", 1, "expected a string key"));
    CHECK(rejects("{'a':1}", 1, "expected a string key"));
    CHECK(rejects("{\"a\":tru}", 5, "invalid literal"));
    CHECK(rejects("{\"a\":nul", 5, "invalid literal"));
    CHECK(rejects("{\"a\":True}", 5, "expected a value"));
    CHECK(rejects("{\"a\":truex}", 9, "expected ',' or '}'"));
    CHECK(rejects("[1]", 0, "expected a json object"));
    CHECK(rejects("\"s\"", 0, "expected a json object"));
    CHECK(rejects("\f{}", 0, "expected a json object"));
    CHECK(rejects("{\"a\":1}\v", 7, "unexpected text after"));
    /* A NUL byte in the text is just a wrong byte. */
    CHECK(rejects_n("{\"a\":1}\0", 8, NULL, 7, "unexpected text after"));
    CHECK(rejects_n("{\"a\0\":1}", 8, NULL, 3, "control character"));
}

/* ---- strings and Unicode ---------------------------------------------- */

TEST(json_escapes_decode)
{
    CHECK(parses_to("{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
                    BCON_NEW("s", "\"\\/\b\f\n\r\t")));
    CHECK(parses_to("{\"s\":\"\\u0041\\u00e9\\u20AC\\uFFFF\"}",
                    BCON_NEW("s", "A\xC3\xA9\xE2\x82\xAC\xEF\xBF\xBF")));
    CHECK(parses_to("{\"s\":\"\\uD83D\\uDE00|\\ud83d\\ude00\"}",
                    BCON_NEW("s", "\xF0\x9F\x98\x80|\xF0\x9F\x98\x80")));
    CHECK(parses_to("{\"s\":\"\\uDBFF\\uDFFF\\uD800\\uDC00\"}",
                    BCON_NEW("s", "\xF4\x8F\xBF\xBF\xF0\x90\x80\x80")));
    /* Raw UTF-8 and DEL pass through. */
    CHECK(parses_to("{\"\xC3\xA9\":\"\xE2\x80\xA8\xF0\x9F\x98\x80\x7F\"}",
                    BCON_NEW("\xC3\xA9", "\xE2\x80\xA8\xF0\x9F\x98\x80\x7F")));
}

/* A special byte at every position of strings longer than the scanner's
 * 16-byte step, in keys and in values. */
TEST(json_string_specials_at_every_position)
{
    static const struct {
        const char *text;
        const char *decoded;
    } specials[] = {
        {"\\\"", "\""},
        {"\\n", "\n"},
        {"\\u00e9", "\xC3\xA9"},
        {"\xC3\xA9", "\xC3\xA9"},
        {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},
    };
    struct buf text = BUF_INIT, key = BUF_INIT, want = BUF_INIT;
    int failures = 0;

    for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) {
        for (int at = 0; at < 40; at++) {
            buf_reset(&key);
            buf_reset(&want);
            for (int i = 0; i < 40; i++) {
                buf_adds(&key, i == at ? specials[s].text : "x");
                buf_adds(&want, i == at ? specials[s].decoded : "x");
            }
            buf_reset(&text);
            buf_addf(&text, "{\"%s\":\"%s\"}", key.data, key.data);

            bson_t *expect = bson_new();
            bson_append_utf8(expect, want.data, (int)want.len, want.data,
                             (int)want.len);
            failures += !parses_to(text.data, expect);
        }
    }
    CHECK_INT(failures, 0);
    buf_release(&text);
    buf_release(&key);
    buf_release(&want);
}

TEST(json_lone_surrogates_are_rejected)
{
    CHECK(rejects("{\"s\":\"\\uD800\"}", 6, "surrogate"));
    CHECK(rejects("{\"s\":\"ab\\uD800x\"}", 8, "surrogate"));
    CHECK(rejects("{\"s\":\"\\uD800\\u0041\"}", 6, "surrogate"));
    CHECK(rejects("{\"s\":\"\\uD800\\uD800\"}", 6, "surrogate"));
    CHECK(rejects("{\"s\":\"\\uDBFF\\uE000\"}", 6, "surrogate"));
    CHECK(rejects("{\"s\":\"\\uD800\\uDBFF\"}", 6, "surrogate"));
    CHECK(rejects("{\"s\":\"\\uDC00\"}", 6, "lone low surrogate"));
    CHECK(rejects("{\"s\":\"\\uDFFF\\uD800\"}", 6, "lone low surrogate"));
    CHECK(rejects("{\"s\":\"\\uD800\\n\"}", 6, "surrogate"));
    CHECK(rejects("{\"\\uDBFF\":1}", 2, "surrogate"));
    CHECK(rejects("{\"s\":\"\\u12\"}", 6, "invalid \\u escape"));
    CHECK(rejects("{\"s\":\"\\u12G4\"}", 6, "invalid \\u escape"));
    CHECK(rejects("{\"s\":\"\\U0041\"}", 6, "invalid escape"));
}

TEST(json_invalid_utf8_is_rejected)
{
    static const struct {
        const char *bytes;
        const char *why;
    } bad[] = {
        {"\xC0\x80", "overlong nul"},
        {"\xC1\xBF", "overlong 2-byte"},
        {"\xE0\x80\x80", "overlong 3-byte"},
        {"\xE0\x9F\xBF", "overlong 3-byte, top"},
        {"\xF0\x80\x80\x80", "overlong 4-byte"},
        {"\xF0\x8F\xBF\xBF", "overlong 4-byte, top"},
        {"\xED\xA0\x80", "surrogate d800 encoded"},
        {"\xED\xBF\xBF", "surrogate dfff encoded"},
        {"\xF4\x90\x80\x80", "u+110000"},
        {"\xF5\x80\x80\x80", "f5 lead"},
        {"\xFF", "ff"},
        {"\x80", "lone continuation"},
        {"\xE2\x82", "truncated 3-byte"},
        {"\xF0\x9F\x98", "truncated 4-byte"},
        {"\xC3", "truncated 2-byte"},
        {"\xC3\x28", "bad continuation"},
    };
    char text[64];
    int failures = 0;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* In a value, in a key, and at the very end of the input. */
        snprintf(text, sizeof text, "{\"s\":\"ab%s\"}", bad[i].bytes);
        failures += !rejects(text, 8, "invalid utf-8");
        snprintf(text, sizeof text, "{\"%scd\":1}", bad[i].bytes);
        failures += !rejects(text, 2, "invalid utf-8");
        snprintf(text, sizeof text, "{\"s\":\"ab%s", bad[i].bytes);
        failures += !rejects(text, 8, "invalid utf-8");
    }
    CHECK_INT(failures, 0);

    /* The largest valid forms are accepted. */
    CHECK(parses_to("{\"s\":\"\xF4\x8F\xBF\xBF\xED\x9F\xBF\xEE\x80\x80\"}",
                    BCON_NEW("s", "\xF4\x8F\xBF\xBF\xED\x9F\xBF\xEE\x80\x80")));
}

/* Every control character, at every position of a string longer than
 * the scanner's step. */
TEST(json_raw_control_characters_are_rejected)
{
    char text[64];
    int failures = 0;

    for (int c = 0; c < 0x20; c++) {
        for (int at = 0; at < 40; at++) {
            int n = snprintf(text, sizeof text, "{\"s\":\"%40s\"}", "");
            text[6 + at] = (char)c;
            failures += !rejects_n(text, (size_t)n, NULL, 6 + (size_t)at,
                                   "control character");
        }
    }
    CHECK_INT(failures, 0);

    /* DEL is no control character in JSON. */
    CHECK(parses_to("{\"s\":\"\x7f\"}", BCON_NEW("s", "\x7f")));
}

TEST(json_u0000_rejected_in_keys_kept_in_values)
{
    CHECK(rejects("{\"a\\u0000b\":1}", 1, "object key contains u+0000"));
    CHECK(rejects("{\"ok\":1,\"\\u0000\":1}", 8, "object key contains"));

    /* A BSON string carries its length, so the NUL survives. */
    bson_t *want = bson_new();
    bson_append_utf8(want, "s", 1, "a\0b", 3);
    CHECK(parses_to("{\"s\":\"a\\u0000b\"}", want));

    struct buf out = BUF_INIT, json = BUF_INIT;
    CHECK_INT(parse("{\"s\":\"a\\u0000b\"}", &out), 0);
    write_bson(out.data, out.len, &json);
    CHECK_STR(json.data, "{\"s\":\"a\\u0000b\"}");
    buf_release(&out);
    buf_release(&json);
}

/* ---- wrap_key --------------------------------------------------------- */

static bool wraps_to(const char *text, bson_t *want)
{
    const struct json_opts opts = {.wrap_key = "value"};
    return parses_to_opts(text, strlen(text), &opts, want);
}

TEST(json_wrap_key_takes_any_value)
{
    CHECK(wraps_to("42", BCON_NEW("value", BCON_INT32(42))));
    CHECK(
        wraps_to(" -5000000000 ", BCON_NEW("value", BCON_INT64(-5000000000))));
    CHECK(wraps_to("2.5", BCON_NEW("value", BCON_DOUBLE(2.5))));
    CHECK(wraps_to("\"s\"", BCON_NEW("value", "s")));
    CHECK(wraps_to("true", BCON_NEW("value", BCON_BOOL(true))));
    CHECK(wraps_to("null", BCON_NEW("value", BCON_NULL)));
    CHECK(wraps_to("[1,\"x\",[]]",
                   BCON_NEW("value", "[", BCON_INT32(1), "x", "[", "]", "]")));
    CHECK(wraps_to("[]", BCON_NEW("value", "[", "]")));
    CHECK(wraps_to("{\"a\":1,\"a\":2}",
                   BCON_NEW("value", "{", "a", BCON_INT32(2), "}")));

    const struct json_opts opts = {.wrap_key = "value"};
    CHECK(rejects_n("1 2", 3, &opts, 2, "unexpected text after"));
    CHECK(rejects_n("", 0, &opts, 0, "unexpected end of input"));
    CHECK(rejects_n("[1,]", 4, &opts, 3, "expected a value"));
    CHECK(rejects_n("nan", 3, &opts, 0, "invalid literal"));

    const struct json_opts empty_key = {.wrap_key = ""};
    CHECK(parses_to_opts("7", 1, &empty_key, BCON_NEW("", BCON_INT32(7))));
}

/* ---- the output buffer ------------------------------------------------ */

/* Several documents parsed into one buffer; failures in between, of every
 * kind and at every stage, leave it exactly as it was. */
TEST(json_failed_parse_leaves_the_buffer_unchanged)
{
    static const char *good[] = {
        "{\"a\":1}",
        "{\"s\":\"a fairly long string value, longer than sixteen\"}",
        "{\"d\":[1.5,1e300,123456789012345678901234567890]}",
        "{\"k\":1,\"k\":2}",
    };
    static const char *bad[] = {
        "{\"a\":1,}",
        "{\"a\":\"unterminated string that is fairly long",
        "{\"a\":[1,2,{\"b\":[3,4,{\"c\":\"x\"}]}]",
        "{\"a\":123456789012345678901234567890e999}",
        "{\"a\":1,\"a\":2,\"b\":{\"c\":1,\"c\":2},\"x\":tru}",
        "{\"k\\u0000\":1}",
        "{\"a\":\"\\uD800\"}",
    };
    struct buf out = BUF_INIT, snapshot = BUF_INIT, single = BUF_INIT;
    struct json_error je;
    size_t starts[4];

    buf_adds(&out, "header");
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            buf_reset(&snapshot);
            buf_add(&snapshot, out.data, out.len);
            CHECK_INT(json_parse(bad[j], strlen(bad[j]), NULL, &out, &je),
                      ERR_BAD_REQUEST);
            CHECK(out.len == snapshot.len &&
                  memcmp(out.data, snapshot.data, out.len) == 0 &&
                  out.data[out.len] == '\0' && !out.oom);
        }
        starts[i] = out.len;
        CHECK_INT(json_parse(good[i], strlen(good[i]), NULL, &out, &je), 0);
        CHECK_INT(out.data[out.len], '\0');
    }

    /* Each document is where it was said to start, and is what parsing it
     * alone gives. */
    CHECK(memcmp(out.data, "header", 6) == 0);
    for (size_t i = 0; i < 4; i++) {
        size_t end = i + 1 < 4 ? starts[i + 1] : out.len;
        CHECK_INT(parse(good[i], &single), 0);
        CHECK(single.len == end - starts[i] &&
              memcmp(single.data, out.data + starts[i], single.len) == 0);
    }
    buf_release(&out);
    buf_release(&snapshot);
    buf_release(&single);
}

/* ---- the writer ------------------------------------------------------- */

static const char *json_string_of(const char *s, size_t n)
{
    static struct buf out = BUF_INIT;

    buf_reset(&out);
    json_write_string(&out, s, n);
    return out.data;
}

TEST(json_writer_escapes_what_json_requires)
{
    CHECK_STR(json_string_of("", 0), "\"\"");
    CHECK_STR(json_string_of("plain text", 10), "\"plain text\"");
    CHECK_STR(json_string_of("q\"b\\s/", 6), "\"q\\\"b\\\\s/\"");
    CHECK_STR(json_string_of("\b\f\n\r\t", 5), "\"\\b\\f\\n\\r\\t\"");
    CHECK_STR(json_string_of("\x01\x1f\x7f", 3), "\"\\u0001\\u001f\x7f\"");
    CHECK_STR(json_string_of("a\0b", 3), "\"a\\u0000b\"");
    /* U+2028 and U+2029 are valid in JSON strings and stay as they are. */
    CHECK_STR(json_string_of("\xE2\x80\xA8\xE2\x80\xA9", 6),
              "\"\xE2\x80\xA8\xE2\x80\xA9\"");
    CHECK_STR(json_string_of("\xC3\xA9\xF0\x9F\x98\x80", 6),
              "\"\xC3\xA9\xF0\x9F\x98\x80\"");
    /* A long string with specials past the first 16 bytes. */
    CHECK_STR(json_string_of("0123456789abcdef0123456789\"x\n", 29),
              "\"0123456789abcdef0123456789\\\"x\\n\"");

    /* Each control character is escaped wherever it is in a long string. */
    char line[40];
    int raw = 0;
    for (int c = 0; c < 0x20; c++) {
        for (size_t at = 0; at < sizeof line; at++) {
            memset(line, 'x', sizeof line);
            line[at] = (char)c;
            const char *json = json_string_of(line, sizeof line);
            for (const char *q = json; *q != '\0'; q++)
                raw += (unsigned char)*q < 0x20;
            raw += c == 0 && strstr(json, "\\u0000") == NULL;
        }
    }
    CHECK_INT(raw, 0);

    /* Every control character reads back as itself. */
    char all[32];
    for (int c = 0; c < 32; c++)
        all[c] = (char)c;
    struct buf text = BUF_INIT;
    buf_adds(&text, "{\"s\":");
    json_write_string(&text, all, sizeof all);
    buf_addc(&text, '}');
    bson_t *want = bson_new();
    bson_append_utf8(want, "s", 1, all, sizeof all);
    CHECK(parses_to(text.data, want));
    buf_release(&text);
}

TEST(json_writer_replaces_invalid_utf8)
{
    CHECK_STR(json_string_of("a\xFF"
                             "b",
                             3),
              "\"a\xEF\xBF\xBD"
              "b\"");
    CHECK_STR(json_string_of("\xC0\x80", 2), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
    CHECK_STR(json_string_of("\xED\xA0\x80", 3),
              "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    CHECK_STR(json_string_of("x\xE2\x82", 3), "\"x\xEF\xBF\xBD\xEF\xBF\xBD\"");
    CHECK_STR(json_string_of("\xF4\x90\x80\x80!", 5),
              "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!\"");

    /* From a damaged stored document, in a value and in a key: the output
     * is valid UTF-8 and valid JSON. */
    bson_t *doc = bson_new();
    bson_append_utf8(doc, "k\xFF", 2, "v\xC3", 2);
    CHECK(writes_as(doc, "{\"k\xEF\xBF\xBD\":\"v\xEF\xBF\xBD\"}"));
}

TEST(json_writer_special_values)
{
    bson_t *doc = bson_new();
    BSON_APPEND_DOUBLE(doc, "nan", NAN);
    BSON_APPEND_DOUBLE(doc, "inf", INFINITY);
    BSON_APPEND_DOUBLE(doc, "ninf", -INFINITY);
    BSON_APPEND_DOUBLE(doc, "d", 60.0);
    BSON_APPEND_DOUBLE(doc, "z", -0.0);
    CHECK(writes_as(doc, "{\"nan\":null,\"inf\":null,\"ninf\":null,"
                         "\"d\":60.0,\"z\":-0.0}"));

    doc = bson_new();
    BSON_APPEND_DATE_TIME(doc, "epoch", 0);
    BSON_APPEND_DATE_TIME(doc, "t", 1709641331250);
    BSON_APPEND_DATE_TIME(doc, "before", -1);
    BSON_APPEND_DATE_TIME(doc, "y2k", 946684800000);
    BSON_APPEND_DATE_TIME(doc, "first", -62167219200000);
    BSON_APPEND_DATE_TIME(doc, "last", 253402300799999);
    CHECK(writes_as(doc, "{\"epoch\":\"1970-01-01T00:00:00.000Z\","
                         "\"t\":\"2024-03-05T12:22:11.250Z\","
                         "\"before\":\"1969-12-31T23:59:59.999Z\","
                         "\"y2k\":\"2000-01-01T00:00:00.000Z\","
                         "\"first\":\"0000-01-01T00:00:00.000Z\","
                         "\"last\":\"9999-12-31T23:59:59.999Z\"}"));

    /* Past what RFC 3339 can name (and what clock.h computes). */
    doc = bson_new();
    BSON_APPEND_DATE_TIME(doc, "a", -62167219200001);
    BSON_APPEND_DATE_TIME(doc, "b", 253402300800000);
    BSON_APPEND_DATE_TIME(doc, "c", INT64_MIN);
    BSON_APPEND_DATE_TIME(doc, "d", INT64_MAX);
    CHECK(writes_as(doc, "{\"a\":null,\"b\":null,\"c\":null,\"d\":null}"));

    doc = bson_new();
    BSON_APPEND_INT64(doc, "min", INT64_MIN);
    BSON_APPEND_INT64(doc, "max", INT64_MAX);
    BSON_APPEND_INT64(doc, "small", 5);
    BSON_APPEND_INT32(doc, "i32", INT32_MIN);
    BSON_APPEND_BOOL(doc, "b", false);
    BSON_APPEND_NULL(doc, "n");
    CHECK(writes_as(doc, "{\"min\":-9223372036854775808,"
                         "\"max\":9223372036854775807,\"small\":5,"
                         "\"i32\":-2147483648,\"b\":false,\"n\":null}"));
}

TEST(json_writer_types_without_a_json_counterpart)
{
    static const uint8_t bytes[] = "foobar";
    bson_oid_t oid;
    bson_decimal128_t dec;
    bson_t *doc = bson_new();
    bson_t *scope = BCON_NEW("x", BCON_INT32(1));

    bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
    bson_decimal128_from_string("1.10", &dec);
    for (uint32_t n = 0; n <= 6; n++) {
        char key[4];
        snprintf(key, sizeof key, "b%u", n);
        BSON_APPEND_BINARY(doc, key, BSON_SUBTYPE_BINARY, bytes, n);
    }
    BSON_APPEND_OID(doc, "oid", &oid);
    BSON_APPEND_DECIMAL128(doc, "dec", &dec);
    BSON_APPEND_REGEX(doc, "re", "^a\"b", "i");
    BSON_APPEND_CODE(doc, "code", "f()");
    BSON_APPEND_SYMBOL(doc, "sym", "s");
    BSON_APPEND_CODE_WITH_SCOPE(doc, "cws", "g()", scope);
    BSON_APPEND_TIMESTAMP(doc, "ts", 1, 2);
    BSON_APPEND_UNDEFINED(doc, "u");
    BSON_APPEND_MINKEY(doc, "min");
    CHECK(writes_as(doc, "{\"b0\":\"\",\"b1\":\"Zg==\",\"b2\":\"Zm8=\","
                         "\"b3\":\"Zm9v\",\"b4\":\"Zm9vYg==\","
                         "\"b5\":\"Zm9vYmE=\",\"b6\":\"Zm9vYmFy\","
                         "\"oid\":\"0123456789abcdef01234567\","
                         "\"dec\":\"1.10\",\"re\":\"/^a\\\"b/i\","
                         "\"code\":\"f()\",\"sym\":\"s\",\"cws\":\"g()\","
                         "\"ts\":null,\"u\":null,"
                         "\"min\":null}"));
    bson_destroy(scope);
}

TEST(json_streaming_writer_places_commas_and_colons)
{
    struct buf out = BUF_INIT;
    struct jw w;

    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "a");
    jw_int(&w, -12);
    jw_key(&w, "list");
    jw_array_begin(&w);
    jw_double(&w, 0.5);
    jw_double(&w, 3.0);
    jw_double(&w, NAN);
    jw_string(&w, "x\"y");
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_object_begin(&w);
    jw_object_end(&w);
    jw_raw(&w, "{\"pre\":1}", 9);
    jw_array_end(&w);
    jw_keyn(&w, "k\0z", 3);
    jw_bool(&w, true);
    jw_key(&w, "when");
    jw_date(&w, 0);
    jw_object_end(&w);
    CHECK_STR(out.data, "{\"a\":-12,\"list\":[0.5,3.0,null,\"x\\\"y\",[],{},"
                        "{\"pre\":1}],\"k\\u0000z\":true,"
                        "\"when\":\"1970-01-01T00:00:00.000Z\"}");
    CHECK_INT(w.depth, 0);
    buf_release(&out);
}

/* A stored document nested past the writer's limit is written as null
 * there, not aborted on. */
TEST(json_writer_nulls_documents_nested_too_deep)
{
    bson_t *docs[JSON_WRITER_MAX_DEPTH + 2];
    int levels = JSON_WRITER_MAX_DEPTH + 1;

    docs[levels] = bson_new();
    BSON_APPEND_INT32(docs[levels], "leaf", 1);
    for (int i = levels - 1; i >= 0; i--) {
        docs[i] = bson_new();
        BSON_APPEND_DOCUMENT(docs[i], "d", docs[i + 1]);
        bson_destroy(docs[i + 1]);
    }

    struct buf want = BUF_INIT;
    for (int i = 0; i < JSON_WRITER_MAX_DEPTH; i++)
        buf_adds(&want, i ? "\"d\":{" : "{");
    buf_adds(&want, "\"d\":null");
    for (int i = 0; i < JSON_WRITER_MAX_DEPTH; i++)
        buf_addc(&want, '}');
    CHECK(writes_as(docs[0], want.data));
    buf_release(&want);
}

/* ---- round trips ------------------------------------------------------ */

/* parse(text) -> write -> parse gives the same bytes; *json gets the
 * written text. */
static bool round_trips(const char *text, size_t n, struct buf *json)
{
    struct buf first = BUF_INIT, second = BUF_INIT;
    struct json_error je = {0};
    const struct json_opts opts = {.max_depth = 100};
    bool ok = false;

    if (json_parse(text, n, &opts, &first, &je) != 0) {
        printf("    %s: %s at %zu\n", show(text, n), je.msg, je.offset);
    } else {
        write_bson(first.data, first.len, json);
        if (json_parse(json->data, json->len, &opts, &second, &je) != 0) {
            printf("    wrote %s: %s at %zu\n", show(json->data, json->len),
                   je.msg, je.offset);
        } else if (second.len != first.len ||
                   memcmp(first.data, second.data, first.len) != 0) {
            printf("    %s\n", show(text, n));
            printf("      changed to %s\n", show(json->data, json->len));
        } else {
            ok = utf8_valid(json->data, json->len);
        }
    }
    buf_release(&first);
    buf_release(&second);
    return ok;
}

TEST(json_round_trip_keeps_documents_byte_for_byte)
{
    static const char *docs[] = {
        "{}",
        "{\"a\":1}",
        "{\"i\":[0,-0,2147483647,-2147483648,2147483648,"
        "9223372036854775807,-9223372036854775808]}",
        "{\"d\":[0.1,1e-300,5e-324,2.2250738585072014e-308,"
        "1.7976931348623157e308,123456789012345678901234567890,"
        "60.0,-0.0,1e22,9007199254740993.0,0.30000000000000004]}",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\","
        "\"u\":\"\\u00e9\\u2028\\uD83D\\uDE00\xE4\xB8\xAD\","
        "\"nul\":\"\\u0000x\\u0000\"}",
        "{\"nested\":{\"a\":[{\"b\":[[],{},[{}]]}],\"c\":{\"d\":{\"e\":null}}},"
        "\"t\":true,\"f\":false}",
        "{\"dup\":1,\"x\":{\"y\":1,\"y\":2},\"dup\":[1,2]}",
        "{\"\":\"\",\"\xF0\x9F\x98\x80 key\":\"\xF0\x9F\x98\x80\"}",
        "{\"object_id\":\"obj_2c58e2e1f19ce9cc\",\"metadata\":{\"duration\":"
        "33.5,\"views\":102,\"size\":2489131,\"tags\":[]},\"blobs\":[{"
        "\"details\":{\"size_bytes\":32949,\"mime_type\":\"image/jpeg\"}}]}",
    };
    struct buf json = BUF_INIT;

    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        CHECK(round_trips(docs[i], strlen(docs[i]), &json));

    /* Writing is canonical: what was written once is written again. */
    CHECK(round_trips(docs[3], strlen(docs[3]), &json));
    CHECK_STR(json.data,
              "{\"d\":[0.1,1e-300,5e-324,2.2250738585072014e-308,"
              "1.7976931348623157e+308,1.2345678901234568e+29,60.0,-0.0,"
              "1e+22,9007199254740992.0,0.30000000000000004]}");
    CHECK(round_trips(docs[4], strlen(docs[4]), &json));
    CHECK_STR(json.data,
              "{\"s\":\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\","
              "\"u\":\"\xC3\xA9\xE2\x80\xA8\xF0\x9F\x98\x80\xE4\xB8\xAD\","
              "\"nul\":\"\\u0000x\\u0000\"}");
    buf_release(&json);
}

/* A random string: ASCII (quotes and backslashes included), control
 * characters, and 2-, 3- and 4-byte UTF-8, U+2028 and U+FFFD among them.
 * NUL only when allow_nul. */
static void random_string(struct rng *r, struct buf *s, bool allow_nul)
{
    size_t n = rng_below(r, 8) == 0 ? rng_below(r, 100) : rng_below(r, 20);
    char utf8[4];
    uint32_t cp;

    buf_reset(s);
    for (size_t i = 0; i < n; i++) {
        switch (rng_below(r, 10)) {
        case 0:
            cp = rng_below(r, 0x20);
            if (cp == 0 && !allow_nul)
                cp = 1;
            break;
        case 1:
            cp = "\"\\/\x7f"[rng_below(r, 4)];
            break;
        case 2:
            cp = 0x80 + rng_below(r, 0x800 - 0x80);
            break;
        case 3:
            cp = 0x800 + rng_below(r, 0x10000 - 0x800);
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = rng_below(r, 2) ? 0x2028 : 0xFFFD;
            break;
        case 4:
            cp = 0x10000 + rng_below(r, 0x110000 - 0x10000);
            break;
        default:
            cp = 0x20 + rng_below(r, 0x5F);
            break;
        }
        buf_add(s, utf8, utf8_encode(cp, utf8));
    }
}

static double random_double(struct rng *r)
{
    uint64_t bits = rng_next(r);
    double d;

    switch (rng_below(r, 5)) {
    case 0:
        memcpy(&d, &bits, sizeof d);
        return isfinite(d) ? d : 0.5;
    case 1:
        return (double)(int64_t)(bits % 2000001 - 1000000) /
               pow(10, (double)rng_below(r, 6));
    case 2:
        return (double)(int64_t)(bits % 2000001 - 1000000); /* integral */
    case 3:
        return ldexp((double)(bits >> 11), (int)rng_below(r, 80) - 40);
    default:
        return rng_below(r, 2) ? -0.0 : 0.0;
    }
}

static void random_value(struct rng *r, bson_t *parent, const char *key,
                         int depth);

/* Fills doc with up to max members; keys are unique (a random string and
 * the member's position), so the reader has nothing to drop. */
static void random_members(struct rng *r, bson_t *doc, bool is_array, int depth)
{
    uint32_t max = depth > 3 ? 3 : rng_below(r, 10) == 0 ? 45 : 8;
    uint32_t n = rng_below(r, max + 1);
    struct buf key = BUF_INIT;

    for (uint32_t i = 0; i < n; i++) {
        if (is_array) {
            buf_reset(&key);
            buf_addf(&key, "%u", i);
        } else {
            random_string(r, &key, false);
            buf_addf(&key, "#%u", i);
        }
        random_value(r, doc, key.data, depth);
    }
    buf_release(&key);
}

static void random_value(struct rng *r, bson_t *parent, const char *key,
                         int depth)
{
    uint32_t kinds = depth < 6 ? 10 : 8;
    struct buf s = BUF_INIT;
    bson_t child;
    uint64_t big;

    switch (rng_below(r, kinds)) {
    case 0:
        BSON_APPEND_INT32(parent, key, (int32_t)(uint32_t)rng_next(r));
        break;
    case 1:
        /* int64 outside int32: the reader keeps the smaller type else. */
        big = rng_next(r) >> (1 + rng_below(r, 32));
        big |= UINT64_C(1) << 31;
        BSON_APPEND_INT64(parent, key,
                          rng_below(r, 2) ? (int64_t)big : -(int64_t)big - 1);
        break;
    case 2:
    case 3:
        BSON_APPEND_DOUBLE(parent, key, random_double(r));
        break;
    case 4:
    case 5:
        random_string(r, &s, true);
        bson_append_utf8(parent, key, -1, s.data ? s.data : "", (int)s.len);
        break;
    case 6:
        BSON_APPEND_BOOL(parent, key, rng_below(r, 2));
        break;
    case 7:
        BSON_APPEND_NULL(parent, key);
        break;
    case 8:
        BSON_APPEND_DOCUMENT_BEGIN(parent, key, &child);
        random_members(r, &child, false, depth + 1);
        bson_append_document_end(parent, &child);
        break;
    default:
        BSON_APPEND_ARRAY_BEGIN(parent, key, &child);
        random_members(r, &child, true, depth + 1);
        bson_append_array_end(parent, &child);
        break;
    }
    buf_release(&s);
}

/* Random documents built by libbson: write(doc) is valid UTF-8 JSON and
 * parse(write(doc)) is doc, byte for byte. */
TEST(json_random_documents_round_trip)
{
    struct rng r = {0x7A11E};
    struct buf json = BUF_INIT, out = BUF_INIT;
    struct json_error je;
    int failures = 0;

    for (int i = 0; i < 3000; i++) {
        bson_t *doc = bson_new();
        random_members(&r, doc, false, 0);

        write_bson((const char *)bson_get_data(doc), doc->len, &json);
        int rc = parse_n(json.data, json.len, NULL, &out, &je);
        if (rc != 0 || !same_bson(&out, 0, doc) ||
            !utf8_valid(json.data, json.len)) {
            if (failures++ < 5)
                printf("    document %d: rc %d (%s at %zu)\n      %s\n", i, rc,
                       je.msg, je.offset, show(json.data, json.len));
        }
        bson_destroy(doc);
    }
    CHECK_INT(failures, 0);
    buf_release(&json);
    buf_release(&out);
}

/* Random JSON text, with the liberties a writer may take (whitespace,
 * escapes for any character, exponents): parse -> write -> parse is
 * stable. */
static void random_json_value(struct rng *r, struct buf *t, int depth);

static void random_ws(struct rng *r, struct buf *t)
{
    while (rng_below(r, 4) == 0)
        buf_addc(t, " \t\r\n"[rng_below(r, 4)]);
}

static void random_json_string(struct rng *r, struct buf *t, bool key)
{
    uint32_t n = rng_below(r, 24);

    buf_addc(t, '"');
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cp;
        switch (rng_below(r, 6)) {
        case 0: /* \u escape of anything, surrogate pairs included */
            cp = rng_below(r, 0x110000);
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xE000;
            if (cp == 0 && key)
                cp = 1;
            if (cp >= 0x10000)
                buf_addf(t, "\\u%04X\\u%04x", 0xD800 + ((cp - 0x10000) >> 10),
                         0xDC00 + ((cp - 0x10000) & 0x3FF));
            else
                buf_addf(t, rng_below(r, 2) ? "\\u%04x" : "\\u%04X", cp);
            break;
        case 1:
            buf_adds(t, (const char *[]){"\\\"", "\\\\", "\\/", "\\b", "\\f",
                                         "\\n", "\\r", "\\t"}[rng_below(r, 8)]);
            break;
        case 2: {
            char utf8[4];
            cp = 0x80 + rng_below(r, 0x110000 - 0x80);
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0x2028;
            buf_add(t, utf8, utf8_encode(cp, utf8));
            break;
        }
        default:
            cp = 0x20 + rng_below(r, 0x5F);
            if (cp == '"' || cp == '\\')
                cp = 'q';
            buf_addc(t, (char)cp);
            break;
        }
    }
    buf_addc(t, '"');
}

static void random_json_number(struct rng *r, struct buf *t)
{
    if (rng_below(r, 2))
        buf_addc(t, '-');
    if (rng_below(r, 5) == 0)
        buf_addc(t, '0');
    else
        buf_addf(t, "%llu",
                 (unsigned long long)(rng_next(r) >> rng_below(r, 64)) + 1);
    if (rng_below(r, 3) == 0)
        buf_addf(t, ".%u", rng_below(r, 100000));
    if (rng_below(r, 4) == 0)
        buf_addf(t, "%c%s%u", rng_below(r, 2) ? 'e' : 'E',
                 (const char *[]){"", "+", "-"}[rng_below(r, 3)],
                 rng_below(r, 280));
}

static void random_json_members(struct rng *r, struct buf *t, int depth,
                                bool object)
{
    uint32_t n = rng_below(r, depth > 3 ? 3 : 8);

    buf_addc(t, object ? '{' : '[');
    random_ws(r, t);
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0) {
            buf_addc(t, ',');
            random_ws(r, t);
        }
        if (object) {
            random_json_string(r, t, true);
            random_ws(r, t);
            buf_addc(t, ':');
            random_ws(r, t);
        }
        random_json_value(r, t, depth + 1);
        random_ws(r, t);
    }
    buf_addc(t, object ? '}' : ']');
}

static void random_json_value(struct rng *r, struct buf *t, int depth)
{
    switch (rng_below(r, depth < 6 ? 8 : 6)) {
    case 0:
    case 1:
        random_json_number(r, t);
        break;
    case 2:
    case 3:
        random_json_string(r, t, false);
        break;
    case 4:
        buf_adds(t, (const char *[]){"true", "false", "null"}[rng_below(r, 3)]);
        break;
    case 5:
        buf_addf(t, "%d", (int)rng_next(r));
        break;
    case 6:
        random_json_members(r, t, depth, true);
        break;
    default:
        random_json_members(r, t, depth, false);
        break;
    }
}

TEST(json_random_text_round_trips)
{
    struct rng r = {99};
    struct buf text = BUF_INIT, json = BUF_INIT;
    int failures = 0;

    for (int i = 0; i < 3000; i++) {
        buf_reset(&text);
        random_ws(&r, &text);
        random_json_members(&r, &text, 0, true);
        random_ws(&r, &text);
        if (!round_trips(text.data, text.len, &json) && failures++ > 5)
            break;
    }
    CHECK_INT(failures, 0);
    buf_release(&text);
    buf_release(&json);
}

/* ---- the scanner ------------------------------------------------------ */

/* The portable word-at-a-time scan agrees with the byte-at-a-time
 * definition, at every alignment and for every byte value. */
TEST(json_portable_scanner_matches_the_definition)
{
    unsigned char text[64];
    char copy[64 + 16];
    int failures = 0;

    for (int special = 0; special < 256; special++) {
        for (size_t at = 0; at < 40; at++) {
            memset(text, 'a', sizeof text);
            text[at] = (unsigned char)special;
            size_t want = json_byte_is_plain((unsigned char)special) ? 40 : at;
            size_t got = json_scan_plain(text, text + 40, copy);
            if (got != want || memcmp(copy, text, got) != 0) {
                if (failures++ < 5)
                    printf("    byte 0x%02x at %zu: run %zu, want %zu\n",
                           special, at, got, want);
            }
        }
    }
    CHECK_INT(failures, 0);
    CHECK_INT(json_scan_plain(text, text, NULL), 0);
}
