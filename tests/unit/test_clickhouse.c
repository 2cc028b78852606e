/*
 * test_clickhouse.c - the ClickHouse backend's pure parts: the one
 * function that puts text into SQL literals (against injection
 * attempts), and sort keys (their order and equality are the contract's,
 * value_compare's, and they decode back).
 */
#include <math.h>

#include "backend/clickhouse.h"
#include "query/value.h"
#include "test.h"

/* Reads a ClickHouse string literal the way ClickHouse's lexer does:
 * backslash escapes (\xHH, \n, \\, \', ...), the literal ends at the
 * first unescaped quote. Returns the bytes, or -1 if the text is not
 * exactly one literal. */
static int read_literal(const char *sql, size_t n, char *out, size_t *olen)
{
    size_t i = 0, k = 0;

    if (n < 2 || sql[0] != '\'')
        return -1;
    for (i = 1; i < n; i++) {
        char c = sql[i];
        if (c == '\'')
            break;
        if (c != '\\') {
            out[k++] = c;
            continue;
        }
        if (++i >= n)
            return -1;
        if (sql[i] == 'x') {
            unsigned v;
            if (i + 2 >= n || sscanf(sql + i + 1, "%2x", &v) != 1)
                return -1;
            out[k++] = (char)v;
            i += 2;
        } else {
            out[k++] = sql[i] == 'n' ? '\n' : sql[i] == '0' ? '\0' : sql[i];
        }
    }
    *olen = k;
    return i == n - 1 ? 0 : -1;
}

static bool literal_holds(const char *s, size_t n)
{
    struct buf sql = BUF_INIT;
    char back[512];
    size_t blen = 0;

    ch_sql_string(&sql, s, n);
    bool ok = read_literal(sql.data, sql.len, back, &blen) == 0 &&
              blen == n && memcmp(back, s, n) == 0;
    /* Nothing but the closing quote may end it, whatever the input. */
    for (size_t i = 1; ok && i + 1 < sql.len; i++)
        ok = sql.data[i] != '\'' && (unsigned char)sql.data[i] >= 0x20 &&
             sql.data[i] != 0x7f;
    buf_release(&sql);
    return ok;
}

TEST(clickhouse_literals_resist_injection)
{
    static const char *const attempts[] = {
        "plain", "", "it's", "'", "''", "\\", "\\'", "'\\", "a\\'b",
        "x'); DROP TABLE t; --", "x' OR '1'='1", "\\x27", "\\\\x27",
        "line\nbreak", "tab\there", "cr\rlf", "bell\a", "del\x7f",
        "é ü Ñ 漢字 😀", "`backquote`", "\"double\"", "%s %d %n",
        "?", "{p:String}", "/* comment */", "-- comment",
    };
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++)
        CHECK(literal_holds(attempts[i], strlen(attempts[i])));
    /* NUL inside, and every byte value once. */
    CHECK(literal_holds("a\0b'\0", 5));
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    CHECK(literal_holds(all, sizeof(all)));
}

TEST(clickhouse_identifiers_and_bytes_are_quoted)
{
    struct buf b = BUF_INIT;

    ch_sql_ident(&b, "db`; DROP");
    CHECK_STR(b.data, "`db\\x60; DROP`");
    buf_reset(&b);
    ch_sql_bytes(&b, "\x00'\xff", 3);
    CHECK_STR(b.data, "'\\x00\\x27\\xff'");
    buf_reset(&b);
    ch_regex_escape(&b, "a.b*c(d)[e]^$\\", 14);
    CHECK_STR(b.data, "a\\.b\\*c\\(d\\)\\[e\\]\\^\\$\\\\");
    buf_release(&b);
}

/* Entry names are looked up by hash in SQL (val.h, cand.h): the C hash
 * must be ClickHouse's sipHash64(); the values are 18.16's answers. */
TEST(clickhouse_name_hash_is_sipHash64)
{
    CHECK(ch_name_hash("abc", 3) == 4596069200710135518ull);
    CHECK(ch_name_hash("metadata.views#0", 16) == 14157557643696777050ull);
    CHECK(ch_name_hash("", 0) == 2202906307356721367ull);
}

/* --- sort keys ---------------------------------------------------------- */

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

static int key_compare(const bson_value_t *a, const bson_value_t *b)
{
    struct buf ka = BUF_INIT, kb = BUF_INIT;

    ch_key_encode(&ka, a);
    ch_key_encode(&kb, b);
    size_t n = ka.len < kb.len ? ka.len : kb.len;
    int c = memcmp(ka.data, kb.data, n);
    if (c == 0)
        c = (ka.len > kb.len) - (ka.len < kb.len);
    buf_release(&ka);
    buf_release(&kb);
    return sign(c);
}

/* Values of every kind, parsed from JSON, plus dates. */
static size_t sample_values(bson_t *holder, bson_value_t *out, size_t cap)
{
    static const char *const json[] = {
        "null", "0", "-0.0", "1", "1.0", "-1", "2.5", "-2.5", "0.1",
        "9007199254740992", "9007199254740993", "9007199254740992.0",
        "9223372036854775807", "-9223372036854775808",
        "9223372036854775808.0", "-9223372036854775809.0", "1e300",
        "-1e300", "5e-324", "\"\"", "\"a\"", "\"a\\u0000\"", "\"a\\u0000b\"",
        "\"ab\"", "\"b\"", "\"\\u00e9\"", "{}", "{\"a\":1}", "{\"a\":1.0}",
        "{\"a\":2}", "{\"b\":1}", "{\"a\":1,\"b\":2}", "{\"a\":\"x\"}",
        "[]", "[1]", "[1.0]", "[1,2]", "[2]", "[[1]]", "[\"a\"]",
        "[null]", "[{\"a\":1}]", "true", "false", "[\"a\\u0000\"]",
        "[\"a\",\"\"]", "{\"a\":[1,\"x\"]}"};
    size_t n = 0;

    for (size_t i = 0; i < sizeof(json) / sizeof(json[0]) && n < cap; i++) {
        struct buf b = BUF_INIT;
        struct json_opts o = {.wrap_key = "v"};
        struct json_error je;
        char key[24];
        if (json_parse(json[i], strlen(json[i]), &o, &b, &je) != 0)
            continue;
        bson_t d;
        bson_iter_t it;
        bson_init_static(&d, (const uint8_t *)b.data, b.len);
        snprintf(key, sizeof(key), "%zu", n);
        if (bson_iter_init_find(&it, &d, "v"))
            bson_append_iter(holder, key, -1, &it);
        buf_release(&b);
        n++;
    }
    int64_t dates[] = {-86400000, 0, 1709596800000LL, 1709596800001LL};
    for (size_t i = 0; i < 4 && n < cap; i++, n++) {
        char key[24];
        snprintf(key, sizeof(key), "%zu", n);
        bson_append_date_time(holder, key, -1, dates[i]);
    }
    bson_iter_t it;
    size_t k = 0;
    bson_iter_init(&it, holder);
    while (bson_iter_next(&it) && k < n)
        out[k++] = *bson_iter_value(&it);
    return k;
}

TEST(clickhouse_sort_keys_order_like_value_compare)
{
    bson_t holder = BSON_INITIALIZER;
    bson_value_t v[128];
    size_t n = sample_values(&holder, v, 128);
    int bad = 0;

    CHECK(n > 40);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (key_compare(&v[i], &v[j]) != sign(value_compare(&v[i], &v[j])))
                bad++;
    CHECK_INT(bad, 0);
    bson_destroy(&holder);
}

TEST(clickhouse_sort_keys_decode_back)
{
    bson_t holder = BSON_INITIALIZER;
    bson_value_t v[128];
    size_t n = sample_values(&holder, v, 128);
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        struct buf k = BUF_INIT, scratch = BUF_INIT;
        bson_value_t back;
        ch_key_encode(&k, &v[i]);
        if (ch_key_decode((const uint8_t *)k.data, k.len, ch_type_of(&v[i]),
                          &scratch, &back) != 0 ||
            value_compare(&back, &v[i]) != 0)
            bad++;
        /* Scalars come back in their own kind (an integer stays one). */
        else if (ch_type_of(&v[i]) <= CHT_DOUBLE &&
                 ch_type_of(&back) != ch_type_of(&v[i]))
            bad++;
        buf_release(&k);
        buf_release(&scratch);
    }
    CHECK_INT(bad, 0);
    bson_destroy(&holder);
}
