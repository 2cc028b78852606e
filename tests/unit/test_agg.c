/*
 * test_agg.c - the aggregation engine, stage by stage and function by
 * function, against the contract's edge cases (aggregation.md). Every
 * test runs the real engine over a real store (agg_fixture.h).
 */
#include <stdlib.h>
#include <string.h>

#include "agg_fixture.h"
#include "base/buf.h"
#include "query/value.h"
#include "test.h"

/* Runs request over the objects and returns its "results" (malloc'd);
 * "ERROR: ..." when the request failed. */
static char *results(const char *schema, const char *objects,
                     const char *request)
{
    struct agg_fixture fx;
    struct err e;
    char *out;

    err_init(&e);
    if (!agg_fixture_open(&fx, schema) || !agg_fixture_import(&fx, objects)) {
        agg_fixture_close(&fx);
        return strdup("ERROR: fixture");
    }
    char *answer = agg_fixture_run(&fx, request, &e);
    if (answer == NULL) {
        char line[1024], msg[1100];
        err_describe(&e, line, sizeof(line));
        snprintf(msg, sizeof(msg), "ERROR: %s", line);
        out = strdup(msg);
    } else {
        out = agg_fixture_results(answer);
    }
    free(answer);
    err_release(&e);
    agg_fixture_close(&fx);
    return out;
}

#define EXPECT_RESULTS(schema, objects, request, want)                         \
    do {                                                                       \
        char *got_ = results((schema), (objects), (request));                  \
        CHECK_STR(got_, (want));                                               \
        free(got_);                                                            \
    } while (0)

/* --- group keys -------------------------------------------------------- */

TEST(missing_keys_as_null)
{
    /* Missing and explicit null are one group (null); the group sorts
     * first (null is lowest). */
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"c\": \"a\"}}\n"
                   "{\"metadata\": {}}\n"
                   "{\"metadata\": {\"c\": null}}\n"
                   "{}\n",
                   "{\"group_by\": [{\"field\": \"metadata.c\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"metadata.c\":null},\"metrics\":{\"n\":3}},"
                   "{\"group\":{\"metadata.c\":\"a\"},\"metrics\":{\"n\":1}}]");
}

TEST(array_without_unwind_keys_as_whole_array)
{
    /* ["a","b"] is one key, not two; "a" alone is another; arrays sort
     * after strings. */
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"t\": [\"a\", \"b\"]}}\n"
                   "{\"metadata\": {\"t\": [\"a\", \"b\"]}}\n"
                   "{\"metadata\": {\"t\": \"a\"}}\n",
                   "{\"group_by\": [{\"field\": \"metadata.t\","
                   " \"alias\": \"t\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"t\":\"a\"},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"t\":[\"a\",\"b\"]},\"metrics\":{\"n\":2}}]");
}

TEST(one_and_one_point_zero_group_together)
{
    /* The first value seen (1) names the group. */
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"q\": 1}}\n"
                   "{\"metadata\": {\"q\": 1.0}}\n"
                   "{\"metadata\": {\"q\": 2.5}}\n"
                   "{\"metadata\": {\"q\": [1.0]}}\n"
                   "{\"metadata\": {\"q\": [1]}}\n",
                   "{\"group_by\": [{\"field\": \"metadata.q\","
                   " \"alias\": \"q\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"q\":1},\"metrics\":{\"n\":2}},"
                   "{\"group\":{\"q\":2.5},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"q\":[1.0]},\"metrics\":{\"n\":2}}]");
}

TEST(cross_type_order_in_min_max_sort)
{
    /* null < numbers < strings < objects < arrays < booleans < dates. */
    const char *objects =
        "{\"metadata\": {\"v\": true}}\n"
        "{\"metadata\": {\"v\": \"z\"}}\n"
        "{\"metadata\": {\"v\": [0]}}\n"
        "{\"metadata\": {\"v\": 100}}\n"
        "{\"metadata\": {\"v\": {\"a\": 1}}}\n"
        "{\"metadata\": {\"v\": null}}\n"
        "{\"metadata\": {\"d\": \"2020-01-01\"}}\n";
    EXPECT_RESULTS("{\"d\": {\"type\": \"date\"}}", objects,
                   "{\"range_buckets\": [{\"field\": \"x\","
                   " \"boundaries\": [0]}],"
                   " \"aggregations\": ["
                   "{\"function\": \"min\", \"field\": \"metadata.v\","
                   " \"alias\": \"min\"},"
                   "{\"function\": \"max\", \"field\": \"metadata.v\","
                   " \"alias\": \"max\"},"
                   "{\"function\": \"max\", \"field\": \"metadata\","
                   " \"alias\": \"maxd\"}]}",
                   "[{\"group\":{\"x\":\"other\"},\"metrics\":{\"min\":100,"
                   "\"max\":true,"
                   "\"maxd\":{\"d\":\"2020-01-01T00:00:00.000Z\"}}}]");
    /* Sorting by the key, ascending: the same order; the date last. */
    EXPECT_RESULTS("{\"d\": {\"type\": \"date\"}}", objects,
                   "{\"group_by\": [{\"field\": \"metadata.v\","
                   " \"alias\": \"v\"}, {\"field\": \"metadata.d\","
                   " \"alias\": \"d\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}],"
                   " \"sort_by\": \"v\", \"sort_direction\": \"asc\"}",
                   "[{\"group\":{\"v\":null,\"d\":null},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"v\":null,\"d\":\"2020-01-01T00:00:00.000Z\"},"
                   "\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"v\":100,\"d\":null},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"v\":\"z\",\"d\":null},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"v\":{\"a\":1},\"d\":null},"
                   "\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"v\":[0],\"d\":null},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"v\":true,\"d\":null},"
                   "\"metrics\":{\"n\":1}}]");
}

TEST(objects_compare_by_type_then_key_then_value)
{
    /* MongoDB's order: {"a": 9} < {"b": 0} (key before value), and
     * {"b": 0} < {"a": "x"} (the value's type before the key). */
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"o\": {\"b\": 0}}}\n"
                   "{\"metadata\": {\"o\": {\"a\": \"x\"}}}\n"
                   "{\"metadata\": {\"o\": {\"a\": 9}}}\n",
                   "{\"group_by\": [{\"field\": \"metadata.o\","
                   " \"alias\": \"o\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"o\":{\"a\":9}},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"o\":{\"b\":0}},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"o\":{\"a\":\"x\"}},\"metrics\":{\"n\":1}}]");
}

TEST(path_through_array_skips_nested_arrays)
{
    /* MongoDB's expression path rule: objects continue the walk, every
     * other element (a nested array too) drops out. */
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"a\": [{\"b\": 1}, [{\"b\": 2}], 7,"
                   " {\"c\": 3}, {\"b\": [4]}]}}\n",
                   "{\"group_by\": [{\"field\": \"metadata.a.b\","
                   " \"alias\": \"b\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"b\":[1,[4]]},\"metrics\":{\"n\":1}}]");
}

/* --- dates ------------------------------------------------------------- */

TEST(iso_week_and_week_trunc_monday)
{
    /* 2021-01-03 is a Sunday in ISO week 53 of 2020; its week starts on
     * Monday 2020-12-28. 2024-03-04 is a Monday: its own week's start.
     * The ISO string in an undeclared field counts as a date here. */
    const char *objects =
        "{\"created_at\": \"2021-01-03T23:00:00Z\"}\n"
        "{\"created_at\": \"2024-03-04T00:00:00Z\"}\n"
        "{\"created_at\": \"2024-03-10T23:59:59.999Z\"}\n";
    EXPECT_RESULTS("{}", objects,
                   "{\"group_by\": [{\"field\": \"created_at\","
                   " \"date_trunc\": \"week\", \"alias\": \"w\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"w\":\"2020-12-28T00:00:00.000Z\"},"
                   "\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"w\":\"2024-03-04T00:00:00.000Z\"},"
                   "\"metrics\":{\"n\":2}}]");
    EXPECT_RESULTS("{}", objects,
                   "{\"group_by\": [{\"field\": \"created_at\","
                   " \"date_part\": \"week\", \"alias\": \"w\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"w\":10},\"metrics\":{\"n\":2}},"
                   "{\"group\":{\"w\":53},\"metrics\":{\"n\":1}}]");
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"s\": \"2024-03-05T01:30:00+02:00\"}}\n"
                   "{\"metadata\": {\"s\": \"not a date\"}}\n",
                   "{\"group_by\": [{\"field\": \"metadata.s\","
                   " \"date_trunc\": \"day\", \"alias\": \"d\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"d\":null},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"d\":\"2024-03-04T00:00:00.000Z\"},"
                   "\"metrics\":{\"n\":1}}]");
}

TEST(date_part_day_of_week_sunday_is_1)
{
    /* 2024-03-03 Sunday, 2024-03-04 Monday, 2024-03-09 Saturday. */
    EXPECT_RESULTS("{}",
                   "{\"created_at\": \"2024-03-03T12:00:00Z\"}\n"
                   "{\"created_at\": \"2024-03-04T12:00:00Z\"}\n"
                   "{\"created_at\": \"2024-03-09T12:00:00Z\"}\n",
                   "{\"group_by\": [{\"field\": \"created_at\","
                   " \"date_part\": \"dayOfWeek\", \"alias\": \"d\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"d\":1},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"d\":2},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"d\":7},\"metrics\":{\"n\":1}}]");
}

/* --- range buckets ----------------------------------------------------- */

TEST(range_bucket_lower_edge_inclusive_upper_exclusive)
{
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"p\": 0}}\n"
                   "{\"metadata\": {\"p\": 2.5}}\n"
                   "{\"metadata\": {\"p\": 4.999}}\n"
                   "{\"metadata\": {\"p\": 5}}\n"
                   "{\"metadata\": {\"p\": 10}}\n"
                   "{\"metadata\": {\"p\": -0.5}}\n",
                   "{\"range_buckets\": [{\"field\": \"metadata.p\","
                   " \"boundaries\": [0, 2.5, 5, 10]}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"metadata.p\":\"0-2.5\"},"
                   "\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"metadata.p\":\"2.5-5\"},"
                   "\"metrics\":{\"n\":2}},"
                   "{\"group\":{\"metadata.p\":\"5-10\"},"
                   "\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"metadata.p\":\"other\"},"
                   "\"metrics\":{\"n\":2}}]");
}

TEST(range_bucket_non_number_to_default)
{
    /* A numeric string, a boolean, an array, null and missing all fall
     * in default_bucket. */
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"p\": \"3\"}}\n"
                   "{\"metadata\": {\"p\": true}}\n"
                   "{\"metadata\": {\"p\": [3]}}\n"
                   "{\"metadata\": {\"p\": null}}\n"
                   "{\"metadata\": {}}\n"
                   "{\"metadata\": {\"p\": 3}}\n",
                   "{\"group_by\": [],"
                   " \"range_buckets\": [{\"field\": \"metadata.p\","
                   " \"boundaries\": [0, 60], \"default_bucket\": \"none\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"metadata.p\":\"0-60\"},"
                   "\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"metadata.p\":\"none\"},"
                   "\"metrics\":{\"n\":5}}]");
}

/* --- functions --------------------------------------------------------- */

static const char *const VALUES =
    "{\"metadata\": {\"v\": 1}}\n"
    "{\"metadata\": {\"v\": null}}\n"
    "{\"metadata\": {}}\n"
    "{\"metadata\": {\"v\": \"2\"}}\n"
    "{\"metadata\": {\"v\": 2.5}}\n"
    "{\"metadata\": {\"v\": [1, 2]}}\n";

#define ONE_METRIC(fn, extra)                                                  \
    "{\"range_buckets\": [{\"field\": \"x\", \"boundaries\": [0]}],"           \
    " \"aggregations\": [{\"function\": \"" fn "\", " extra                    \
    " \"alias\": \"m\"}]}"

#define ONE_GROUP(value)                                                       \
    "[{\"group\":{\"x\":\"other\"},\"metrics\":{\"m\":" value "}}]"

TEST(count_with_field_skips_null_and_missing)
{
    EXPECT_RESULTS("{}", VALUES, ONE_METRIC("count", ""), ONE_GROUP("6"));
    EXPECT_RESULTS("{}", VALUES,
                   ONE_METRIC("count", "\"field\": \"metadata.v\","),
                   ONE_GROUP("4"));
}

TEST(count_distinct_counts_non_null_values)
{
    /* 1, "2", 2.5 and [1,2]; null and missing are not counted; 1 and 1.0
     * are one value. distinct_field wins over field. */
    EXPECT_RESULTS("{}", VALUES,
                   ONE_METRIC("count_distinct",
                              "\"distinct_field\": \"metadata.v\","
                              " \"field\": \"metadata.zz\","),
                   ONE_GROUP("4"));
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"v\": 1}}\n{\"metadata\": {\"v\": 1.0}}\n",
                   ONE_METRIC("count_distinct", "\"field\": \"metadata.v\","),
                   ONE_GROUP("1"));
}

TEST(sum_skips_what_is_not_a_number)
{
    /* 1 + 2.5: the string, the array, null and missing are skipped. */
    EXPECT_RESULTS("{}", VALUES,
                   ONE_METRIC("sum", "\"field\": \"metadata.v\","),
                   ONE_GROUP("3.5"));
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"v\": 1}}\n{\"metadata\": {\"v\": 2}}\n",
                   ONE_METRIC("sum", "\"field\": \"metadata.v\","),
                   ONE_GROUP("3"));
}

TEST(sum_overflow_turns_double)
{
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"v\": 9223372036854775807}}\n"
                   "{\"metadata\": {\"v\": 1}}\n",
                   ONE_METRIC("sum", "\"field\": \"metadata.v\","),
                   ONE_GROUP("9.223372036854776e+18"));
}

TEST(sum_of_nothing_is_zero)
{
    EXPECT_RESULTS("{}", "{\"metadata\": {\"v\": \"x\"}}\n{}\n",
                   ONE_METRIC("sum", "\"field\": \"metadata.v\","),
                   ONE_GROUP("0"));
}

TEST(avg_of_nothing_is_null)
{
    EXPECT_RESULTS("{}", "{\"metadata\": {\"v\": \"x\"}}\n{}\n",
                   ONE_METRIC("avg", "\"field\": \"metadata.v\","),
                   ONE_GROUP("null"));
    EXPECT_RESULTS("{}", VALUES,
                   ONE_METRIC("avg", "\"field\": \"metadata.v\","),
                   ONE_GROUP("1.75"));
}

TEST(min_max_of_nothing_is_null)
{
    EXPECT_RESULTS("{}", "{\"metadata\": {\"v\": null}}\n{}\n",
                   ONE_METRIC("min", "\"field\": \"metadata.v\","),
                   ONE_GROUP("null"));
    EXPECT_RESULTS("{}", VALUES,
                   ONE_METRIC("max", "\"field\": \"metadata.v\","),
                   ONE_GROUP("[1,2]"));
}

TEST(first_last_storage_order_and_unwound_element_order)
{
    const char *objects =
        "{\"metadata\": {\"t\": [\"b\", \"a\"], \"u\": \"x\"}}\n"
        "{\"metadata\": {\"t\": [\"c\", \"d\"]}}\n";
    EXPECT_RESULTS("{}", objects,
                   "{\"range_buckets\": [{\"field\": \"x\","
                   " \"boundaries\": [0]}],"
                   " \"aggregations\": ["
                   "{\"function\": \"first\", \"field\": \"metadata.u\","
                   " \"alias\": \"fu\"},"
                   "{\"function\": \"last\", \"field\": \"metadata.u\","
                   " \"alias\": \"lu\"},"
                   "{\"function\": \"first\", \"field\": \"metadata.t\","
                   " \"alias\": \"ft\"}]}",
                   "[{\"group\":{\"x\":\"other\"},\"metrics\":{\"fu\":\"x\","
                   "\"lu\":null,\"ft\":[\"b\",\"a\"]}}]");
    EXPECT_RESULTS("{}", objects,
                   "{\"unwind\": \"metadata.t\","
                   " \"range_buckets\": [{\"field\": \"x\","
                   " \"boundaries\": [0]}],"
                   " \"aggregations\": ["
                   "{\"function\": \"first\", \"field\": \"metadata.t\","
                   " \"alias\": \"f\"},"
                   "{\"function\": \"last\", \"field\": \"metadata.t\","
                   " \"alias\": \"l\"},"
                   "{\"function\": \"push\", \"field\": \"metadata.t\","
                   " \"alias\": \"all\"}]}",
                   "[{\"group\":{\"x\":\"other\"},\"metrics\":{\"f\":\"b\","
                   "\"l\":\"d\",\"all\":[\"b\",\"a\",\"c\",\"d\"]}}]");
}

TEST(push_keeps_nulls_skips_missing)
{
    EXPECT_RESULTS("{}", VALUES,
                   ONE_METRIC("push", "\"field\": \"metadata.v\","),
                   ONE_GROUP("[1,null,\"2\",2.5,[1,2]]"));
}

TEST(add_to_set_sorted_cross_type)
{
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"v\": true}}\n"
                   "{\"metadata\": {\"v\": \"b\"}}\n"
                   "{\"metadata\": {\"v\": 2}}\n"
                   "{\"metadata\": {\"v\": [1]}}\n"
                   "{\"metadata\": {\"v\": \"a\"}}\n"
                   "{\"metadata\": {\"v\": null}}\n"
                   "{\"metadata\": {\"v\": 2.0}}\n"
                   "{\"metadata\": {\"v\": {\"k\": 1}}}\n"
                   "{}\n"
                   "{\"metadata\": {\"v\": -1}}\n",
                   ONE_METRIC("add_to_set", "\"field\": \"metadata.v\","),
                   ONE_GROUP("[null,-1,2,\"a\",\"b\",{\"k\":1},[1],true]"));
}

TEST(function_names_case_insensitive)
{
    EXPECT_RESULTS("{}", VALUES,
                   ONE_METRIC("COUNT", "\"field\": \"metadata.v\","),
                   ONE_GROUP("4"));
    EXPECT_RESULTS("{}", VALUES,
                   ONE_METRIC("Add_To_Set", "\"field\": \"metadata.v\","),
                   ONE_GROUP("[null,1,2.5,\"2\",[1,2]]"));
}

TEST(last_min_max_of_built_values_do_not_grow_per_row)
{
    /* metadata.items.s is built row after row (an array gathered through
     * an array); last and max keep one copy each, not one per row. */
    struct agg_fixture fx;
    struct buf lines = BUF_INIT;
    struct err e;
    char line[512];

    for (int i = 0; i < 3000; i++) {
        snprintf(line, sizeof(line),
                 "{\"metadata\": {\"items\": [{\"s\": \"%04d%0100d\"},"
                 " {\"s\": \"z\"}]}}\n", i, 0);
        buf_adds(&lines, line);
    }
    buf_addc(&lines, '\0');
    err_init(&e);
    CHECK(agg_fixture_open(&fx, "{}") &&
          agg_fixture_import(&fx, lines.data));
    char *answer = agg_fixture_run(
        &fx,
        "{\"range_buckets\": [{\"field\": \"x\", \"boundaries\": [0]}],"
        " \"aggregations\": ["
        "{\"function\": \"last\", \"field\": \"metadata.items.s\","
        " \"alias\": \"l\"},"
        "{\"function\": \"max\", \"field\": \"metadata.items.s\","
        " \"alias\": \"m\"}]}",
        &e);
    CHECK(answer && strstr(answer, "\"l\":[\"2999") &&
          strstr(answer, "\"m\":[\"2999"));
    /* 3000 rows of 120-byte arrays would be 360 KB per metric. */
    CHECK(fx.arena_used < 64 * 1024);
    free(answer);
    err_release(&e);
    buf_release(&lines);
    agg_fixture_close(&fx);
}

/* --- having, sort, limit ----------------------------------------------- */

static const char *const SHOP =
    "{\"metadata\": {\"c\": \"b\", \"p\": 1}}\n"
    "{\"metadata\": {\"c\": \"a\", \"p\": 2}}\n"
    "{\"metadata\": {\"c\": \"c\", \"p\": 1}}\n"
    "{\"metadata\": {\"c\": \"a\", \"p\": 3}}\n"
    "{\"metadata\": {\"c\": \"d\", \"p\": 4}}\n";

TEST(ties_ordered_by_keys)
{
    /* b and c tie on the count (1) and d too: the keys decide, ascending,
     * whatever the direction of sort_by. */
    EXPECT_RESULTS("{}", SHOP,
                   "{\"group_by\": [{\"field\": \"metadata.c\","
                   " \"alias\": \"c\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}], \"sort_by\": \"n\"}",
                   "[{\"group\":{\"c\":\"a\"},\"metrics\":{\"n\":2}},"
                   "{\"group\":{\"c\":\"b\"},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"c\":\"c\"},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"c\":\"d\"},\"metrics\":{\"n\":1}}]");
    EXPECT_RESULTS("{}", SHOP,
                   "{\"group_by\": [{\"field\": \"metadata.c\","
                   " \"alias\": \"c\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}], \"sort_by\": \"n\","
                   " \"sort_direction\": \"asc\"}",
                   "[{\"group\":{\"c\":\"b\"},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"c\":\"c\"},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"c\":\"d\"},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"c\":\"a\"},\"metrics\":{\"n\":2}}]");
}

TEST(limit_after_sort)
{
    /* The two largest sums, not the first two groups seen. */
    EXPECT_RESULTS("{}", SHOP,
                   "{\"group_by\": [{\"field\": \"metadata.c\","
                   " \"alias\": \"c\"}],"
                   " \"aggregations\": [{\"function\": \"sum\","
                   " \"field\": \"metadata.p\", \"alias\": \"s\"}],"
                   " \"sort_by\": \"s\", \"limit\": 2}",
                   "[{\"group\":{\"c\":\"a\"},\"metrics\":{\"s\":5}},"
                   "{\"group\":{\"c\":\"d\"},\"metrics\":{\"s\":4}}]");
}

TEST(having_across_types_only_ne)
{
    const char *req_fmt =
        "{\"group_by\": [{\"field\": \"metadata.c\", \"alias\": \"c\"}],"
        " \"aggregations\": [{\"function\": \"sum\","
        " \"field\": \"metadata.p\", \"alias\": \"s\"}],"
        " \"having\": [{\"field\": \"%s\", \"operator\": \"%s\","
        " \"value\": %s}]}";
    char req[512];

    /* A number against a string: only ne holds, for every group. */
    snprintf(req, sizeof(req), req_fmt, "s", "gt", "\"0\"");
    EXPECT_RESULTS("{}", SHOP, req, "[]");
    snprintf(req, sizeof(req), req_fmt, "s", "ne", "\"4\"");
    char *all = results("{}", SHOP, req);
    CHECK(strstr(all, "\"c\":\"a\"") && strstr(all, "\"c\":\"d\""));
    free(all);
    /* Numbers numerically (4 == 4.0), strings by bytes. */
    snprintf(req, sizeof(req), req_fmt, "s", "eq", "4.0");
    EXPECT_RESULTS("{}", SHOP, req,
                   "[{\"group\":{\"c\":\"d\"},\"metrics\":{\"s\":4}}]");
    snprintf(req, sizeof(req), req_fmt, "c", "gte", "\"c\"");
    EXPECT_RESULTS("{}", SHOP, req,
                   "[{\"group\":{\"c\":\"c\"},\"metrics\":{\"s\":1}},"
                   "{\"group\":{\"c\":\"d\"},\"metrics\":{\"s\":4}}]");
}

TEST(having_with_collected_values_frees_every_group)
{
    /* Having drops groups that hold collected values (a set and a list):
     * every group is freed once (the sanitizer build checks leaks and
     * double frees). */
    EXPECT_RESULTS("{}", SHOP,
                   "{\"group_by\": [{\"field\": \"metadata.c\","
                   " \"alias\": \"c\"}],"
                   " \"aggregations\": ["
                   "{\"function\": \"add_to_set\", \"field\": \"metadata.p\","
                   " \"alias\": \"set\"},"
                   "{\"function\": \"push\", \"field\": \"metadata.p\","
                   " \"alias\": \"list\"},"
                   "{\"function\": \"count_distinct\","
                   " \"field\": \"metadata.p\", \"alias\": \"n\"}],"
                   " \"having\": [{\"field\": \"c\", \"operator\": \"ne\","
                   " \"value\": \"b\"}], \"sort_by\": \"c\"}",
                   "[{\"group\":{\"c\":\"d\"},\"metrics\":{\"set\":[4],"
                   "\"list\":[4],\"n\":1}},"
                   "{\"group\":{\"c\":\"c\"},\"metrics\":{\"set\":[1],"
                   "\"list\":[1],\"n\":1}},"
                   "{\"group\":{\"c\":\"a\"},\"metrics\":{\"set\":[2,3],"
                   "\"list\":[2,3],\"n\":2}}]");
}

/* --- unwind ------------------------------------------------------------ */

TEST(unwind_rows_and_what_gives_none)
{
    /* An array gives a row per element; a single value one row; null,
     * missing and [] none; a path through an array is missing. */
    EXPECT_RESULTS("{}",
                   "{\"x\": {\"t\": [\"a\", \"b\", \"a\"]}}\n"
                   "{\"x\": {\"t\": \"b\"}}\n"
                   "{\"x\": {\"t\": null}}\n"
                   "{\"x\": {\"t\": []}}\n"
                   "{\"x\": {}}\n"
                   "{\"x\": [{\"t\": \"z\"}]}\n",
                   "{\"unwind\": \"$x.t\","
                   " \"group_by\": [{\"field\": \"x.t\", \"alias\": \"t\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"t\":\"a\"},\"metrics\":{\"n\":2}},"
                   "{\"group\":{\"t\":\"b\"},\"metrics\":{\"n\":2}}]");
}

TEST(unwind_path_above_sees_the_element)
{
    /* Grouping by metadata after unwinding metadata.t: the object with
     * the element in place of the array, as after MongoDB's $unwind. */
    EXPECT_RESULTS("{}",
                   "{\"metadata\": {\"k\": 1, \"t\": [\"a\", \"b\"],"
                   " \"z\": 2}}\n",
                   "{\"unwind\": \"metadata.t\","
                   " \"group_by\": [{\"field\": \"metadata\","
                   " \"alias\": \"m\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"m\":{\"k\":1,\"t\":\"a\",\"z\":2}},"
                   "\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"m\":{\"k\":1,\"t\":\"b\",\"z\":2}},"
                   "\"metrics\":{\"n\":1}}]");
}

TEST(filter_before_unwind)
{
    /* The filter sees whole objects: blobs.type "video" keeps the first
     * object, and then all of its blobs are unwound. */
    EXPECT_RESULTS("{}",
                   "{\"blobs\": [{\"property\": \"p\", \"type\": \"video\"},"
                   " {\"property\": \"q\", \"type\": \"image\"}]}\n"
                   "{\"blobs\": [{\"property\": \"p\", \"type\": \"text\"}]}\n",
                   "{\"filters\": {\"blobs.type\": \"video\"},"
                   " \"unwind\": \"blobs\","
                   " \"group_by\": [{\"field\": \"blobs.type\","
                   " \"alias\": \"t\"}],"
                   " \"aggregations\": [{\"function\": \"count\","
                   " \"alias\": \"n\"}]}",
                   "[{\"group\":{\"t\":\"image\"},\"metrics\":{\"n\":1}},"
                   "{\"group\":{\"t\":\"video\"},\"metrics\":{\"n\":1}}]");
}

/* --- values ------------------------------------------------------------ */

TEST(hash_agrees_with_equality_for_large_numbers)
{
    /* 2^62 as an integer and as a double are equal and hash alike. */
    bson_value_t i = {.value_type = BSON_TYPE_INT64,
                      .value.v_int64 = (int64_t)1 << 62};
    bson_value_t d = {.value_type = BSON_TYPE_DOUBLE,
                      .value.v_double = 4611686018427387904.0};
    bson_value_t big = {.value_type = BSON_TYPE_DOUBLE,
                        .value.v_double = 9.21e18};
    bson_value_t bigi = {.value_type = BSON_TYPE_INT64,
                         .value.v_int64 = 9210000000000000000LL};

    CHECK(value_equal(&i, &d));
    CHECK(value_hash(&i) == value_hash(&d));
    CHECK(value_equal(&big, &bigi));
    CHECK(value_hash(&big) == value_hash(&bigi));
}
