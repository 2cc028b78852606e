#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/utf8.h"
#include "test.h"

static int64_t iso(const char *s)
{
    int64_t ms = INT64_MIN;
    if (!clock_parse_iso8601(s, strlen(s), &ms))
        return INT64_MIN;
    return ms;
}

static const char *fmt(int64_t ms)
{
    static char out[32];
    clock_format_ms(ms, out);
    return out;
}

TEST(clock_parses_the_contract_forms)
{
    CHECK_INT(iso("1970-01-01"), 0);
    CHECK_INT(iso("2024-03-05"), 1709596800000LL);
    CHECK_INT(iso("2024-03-05T14:22:11Z"), 1709648531000LL);
    CHECK_INT(iso("2024-03-05T14:22:11.250+02:00"), 1709641331250LL);
    CHECK_INT(iso("2024-03-05T14:22:11.250+0200"), 1709641331250LL);
    CHECK_INT(iso("2024-03-05 14:22"), 1709648520000LL);
    CHECK_INT(iso("2024-03-05T14:22:11.123456Z"), 1709648531123LL);
}

TEST(clock_rejects_what_is_not_a_date)
{
    CHECK_INT(iso("2024-02-30"), INT64_MIN);
    CHECK_INT(iso("2023-02-29"), INT64_MIN);
    CHECK_INT(iso("2024-13-01"), INT64_MIN);
    CHECK_INT(iso("2024-03-05T24:00:00Z"), INT64_MIN);
    CHECK_INT(iso("2024-03-05T"), INT64_MIN);
    CHECK_INT(iso("2024-03-05Tx"), INT64_MIN);
    CHECK_INT(iso("20240305"), INT64_MIN);
    CHECK_INT(iso("hello"), INT64_MIN);
    CHECK_INT(iso("2024-03-05T14:22:11Zjunk"), INT64_MIN);
    CHECK_INT(iso(""), INT64_MIN);
}

TEST(clock_formats_rfc3339_with_milliseconds)
{
    CHECK_STR(fmt(0), "1970-01-01T00:00:00.000Z");
    CHECK_STR(fmt(1709641331250LL), "2024-03-05T12:22:11.250Z");
    CHECK_STR(fmt(-1), "1969-12-31T23:59:59.999Z");
    CHECK_STR(fmt(iso("2000-02-29T23:59:59.999Z")), "2000-02-29T23:59:59.999Z");
}

TEST(clock_trunc_week_starts_on_monday)
{
    /* 2024-03-05 is a Tuesday; its ISO week starts on Monday 03-04. */
    CHECK_STR(fmt(clock_trunc(iso("2024-03-05T14:22:11Z"), CLOCK_WEEK)),
              "2024-03-04T00:00:00.000Z");
    CHECK_STR(fmt(clock_trunc(iso("2024-03-04T00:00:00Z"), CLOCK_WEEK)),
              "2024-03-04T00:00:00.000Z");
    CHECK_STR(fmt(clock_trunc(iso("2024-03-10T23:59:59Z"), CLOCK_WEEK)),
              "2024-03-04T00:00:00.000Z");
    CHECK_STR(fmt(clock_trunc(iso("2024-03-05T14:22:11.5Z"), CLOCK_MONTH)),
              "2024-03-01T00:00:00.000Z");
    CHECK_STR(fmt(clock_trunc(iso("2024-03-05T14:22:11.5Z"), CLOCK_YEAR)),
              "2024-01-01T00:00:00.000Z");
    CHECK_STR(fmt(clock_trunc(iso("1969-12-31T23:59:59.5Z"), CLOCK_SECOND)),
              "1969-12-31T23:59:59.000Z");
}

TEST(clock_parts_follow_the_contract)
{
    int64_t t = iso("2024-03-05T14:22:11Z");
    CHECK_INT(clock_part(t, CLOCK_YEAR), 2024);
    CHECK_INT(clock_part(t, CLOCK_MONTH), 3);
    CHECK_INT(clock_part(t, CLOCK_DAY), 5);
    CHECK_INT(clock_part(t, CLOCK_HOUR), 14);
    CHECK_INT(clock_part(t, CLOCK_MINUTE), 22);
    CHECK_INT(clock_part(t, CLOCK_SECOND), 11);
    CHECK_INT(clock_part(t, CLOCK_DAY_OF_WEEK), 3); /* Tuesday */
    CHECK_INT(clock_part(t, CLOCK_DAY_OF_YEAR), 65);
    CHECK_INT(clock_part(iso("2024-03-03"), CLOCK_DAY_OF_WEEK), 1);
    CHECK_INT(clock_part(iso("2024-03-09"), CLOCK_DAY_OF_WEEK), 7);
    CHECK_INT(clock_part(iso("2024-12-31"), CLOCK_DAY_OF_YEAR), 366);
}

TEST(clock_iso_week_edges)
{
    /* 2021-01-03 (Sunday) still belongs to week 53 of 2020. */
    CHECK_INT(clock_part(iso("2021-01-03"), CLOCK_WEEK), 53);
    CHECK_INT(clock_part(iso("2021-01-04"), CLOCK_WEEK), 1);
    /* 2024-12-30 (Monday) is week 1 of 2025. */
    CHECK_INT(clock_part(iso("2024-12-30"), CLOCK_WEEK), 1);
    CHECK_INT(clock_part(iso("2024-03-05"), CLOCK_WEEK), 10);
    CHECK_INT(clock_part(iso("2026-01-01"), CLOCK_WEEK), 1);
}

TEST(err_keeps_the_first_message)
{
    struct err e;
    err_init(&e);
    CHECK_INT(err_set(&e, ERR_NOT_FOUND, "bucket %s", "a"), ERR_NOT_FOUND);
    CHECK_INT(err_set(&e, ERR_IO, "later"), ERR_NOT_FOUND);
    CHECK_STR(e.msg, "bucket a");
    CHECK_INT(err_http_status(e.code), 404);
    err_release(&e);
}

TEST(err_collects_every_problem_with_its_location)
{
    struct err e;
    struct err_path p = {0};
    err_init(&e);
    err_path_key(&p, "body");
    int saved = err_path_key(&p, "aggregations");
    err_path_index(&p, 1);
    err_problem(&e, &p, "field", "missing", "field required");
    err_path_pop(&p, saved);
    err_problem(&e, &p, "limit", "value_error", "must be > 0");
    CHECK_INT(e.code, ERR_VALIDATION);
    CHECK_INT(e.problem_count, 2);
    CHECK_INT(e.problems[0].loc_len, 4);
    CHECK_STR(e.problems[0].loc[1].key, "aggregations");
    CHECK(e.problems[0].loc[2].is_index);
    CHECK_INT(e.problems[0].loc[2].index, 1);
    CHECK_STR(e.problems[1].loc[1].key, "limit");
    err_release(&e);
}

TEST(buf_grows_and_detaches)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 1000; i++)
        buf_addf(&b, "%d,", i);
    CHECK(b.len > 3000);
    CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
    CHECK_INT(b.data[b.len], 0);
    size_t len;
    char *s = buf_detach(&b, &len);
    CHECK(b.data == NULL && b.len == 0);
    CHECK_INT(strlen(s), len);
    free(s);
}

TEST(arena_aligns_and_serves_big_blocks)
{
    struct arena a;
    arena_init(&a);
    char *small = arena_alloc(&a, 3);
    char *big = arena_alloc(&a, 1 << 20);
    char *after = arena_alloc(&a, 5);
    CHECK(small && big && after);
    CHECK(((uintptr_t)after & 15) == 0);
    memset(big, 1, 1 << 20);
    CHECK(arena_strndup(&a, "abcdef", 3)[3] == '\0');
    arena_release(&a);
}

TEST(ids_have_the_documented_form)
{
    char id[IDS_MAX], key[IDS_KEY_MAX], other[IDS_MAX];
    ids_generate("obj_", id);
    ids_generate("obj_", other);
    CHECK(ids_has_form(id, strlen(id), "obj_"));
    CHECK(strcmp(id, other) != 0);
    CHECK_INT(strlen(id), 4 + IDS_RANDOM_CHARS);
    ids_generate_key(key);
    CHECK(strncmp(key, "sk_", 3) == 0);
    CHECK(strlen(key) >= 40);
    CHECK(!ids_has_form("obj_a-b", 7, "obj_"));
}

TEST(utf8_rejects_overlongs_and_surrogates)
{
    CHECK(utf8_valid("h\xc3\xa9llo", 6));
    CHECK(!utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    CHECK(!utf8_valid("\xed\xa0\x80", 3));     /* U+D800 */
    CHECK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    CHECK(!utf8_valid("\xe2\x82", 2));         /* truncated */
    CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));  /* emoji */
}

TEST(log_quote_escapes_hostile_input)
{
    char out[64];
    CHECK_STR(log_quote(out, sizeof(out), "a\"b\n\x01", 5),
              "\"a\\\"b\\x0a\\x01\"");
    CHECK_STR(log_quote(out, sizeof(out), "\xff", 1), "\"\\xff\"");
    char small[12];
    log_quote(small, sizeof(small), "abcdefghijklmnop", 16);
    CHECK(strstr(small, "...") != NULL);
}

#include "base/crc32c.h"

TEST(crc32c_known_values)
{
    /* The check value of CRC-32C over "123456789". */
    CHECK_INT(crc32c("123456789", 9), 0xe3069283u);
    CHECK_INT(crc32c("", 0), 0);
    char big[1000];
    for (int i = 0; i < 1000; i++)
        big[i] = (char)(i * 7);
    uint32_t whole = crc32c(big, sizeof(big));
    big[500] ^= 1;
    CHECK(crc32c(big, sizeof(big)) != whole);
}
