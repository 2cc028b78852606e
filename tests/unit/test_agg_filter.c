/*
 * test_agg_filter.c - request validation, filters (both dialects) and the
 * equivalent MongoDB pipeline, through the real engine over a real store
 * (agg_fixture.h).
 */
#include <stdlib.h>
#include <string.h>

#include "agg_fixture.h"
#include "base/buf.h"
#include "test.h"

static const char *const SCHEMA = "{\"when\": {\"type\": \"date\"}}";

static const char *const OBJECTS =
    "{\"object_id\": \"obj_1\", \"created_at\": \"2024-01-10T00:00:00Z\","
    " \"metadata\": {\"c\": \"Café\", \"n\": 1, \"t\": [\"red\", \"blue\"],"
    " \"when\": \"2024-03-05\"}}\n"
    "{\"object_id\": \"obj_2\", \"created_at\": \"2023-12-31T23:59:59Z\","
    " \"metadata\": {\"c\": \"tea\", \"n\": \"1\", \"t\": \"red\","
    " \"when\": null}}\n"
    "{\"object_id\": \"obj_3\", \"created_at\": \"2024-06-01T00:00:00Z\","
    " \"metadata\": {\"c\": null, \"n\": 5, \"t\": [],"
    " \"items\": [{\"s\": \"a\", \"q\": 2}, {\"s\": \"b\", \"q\": 9}]}}\n"
    "{\"object_id\": \"obj_4\", \"created_at\": \"2024-01-01T00:00:00Z\","
    " \"metadata\": {\"n\": 2.5, \"t\": [\"green\", 3],"
    " \"items\": [{\"s\": \"a\", \"q\": 7}]}}\n";

/* The ids that a filter keeps among objects, "obj_1,obj_3" ("ERROR: ..."
 * when the request failed), through an aggregation grouping by
 * object_id. */
static char *matching_in(const char *objects, const char *filters)
{
    struct agg_fixture fx;
    struct err e;
    char request[2048], *out = NULL;

    err_init(&e);
    snprintf(request, sizeof(request),
             "{\"filters\": %s, \"group_by\": [{\"field\": \"object_id\","
             " \"alias\": \"id\"}], \"aggregations\": [{\"function\":"
             " \"count\", \"alias\": \"n\"}]}",
             filters);
    if (agg_fixture_open(&fx, SCHEMA) && agg_fixture_import(&fx, objects)) {
        char *answer = agg_fixture_run(&fx, request, &e);
        if (answer != NULL) {
            struct buf ids = BUF_INIT;
            for (const char *p = answer; (p = strstr(p, "\"id\":\"")); ) {
                p += 6;
                if (ids.len > 0)
                    buf_addc(&ids, ',');
                buf_add(&ids, p, strcspn(p, "\""));
            }
            buf_addc(&ids, '\0');
            out = strdup(ids.data);
            buf_release(&ids);
        } else {
            char line[1024], msg[1100];
            err_describe(&e, line, sizeof(line));
            snprintf(msg, sizeof(msg), "ERROR: %s", line);
            out = strdup(msg);
        }
        free(answer);
    }
    agg_fixture_close(&fx);
    err_release(&e);
    return out ? out : strdup("ERROR: fixture");
}

static char *matching(const char *filters)
{
    return matching_in(OBJECTS, filters);
}

#define EXPECT_MATCH(filters, want)                                            \
    do {                                                                       \
        char *got_ = matching(filters);                                        \
        CHECK_STR(got_, (want));                                               \
        free(got_);                                                            \
    } while (0)

/* The validation problems of request, or NULL when it is valid. The
 * caller releases e. */
static bool invalid(const char *request, struct err *e)
{
    struct agg_fixture fx;
    bool bad = false;

    if (agg_fixture_open(&fx, SCHEMA) && agg_fixture_import(&fx, OBJECTS)) {
        char *answer = agg_fixture_run(&fx, request, e);
        bad = answer == NULL && e->code == ERR_VALIDATION;
        free(answer);
    }
    agg_fixture_close(&fx);
    return bad;
}

/* The whole answer of a valid request (malloc'd, or NULL). */
static char *answer_of(const char *request)
{
    struct agg_fixture fx;
    struct err e;
    char *answer = NULL;

    err_init(&e);
    if (agg_fixture_open(&fx, SCHEMA) && agg_fixture_import(&fx, OBJECTS))
        answer = agg_fixture_run(&fx, request, &e);
    agg_fixture_close(&fx);
    err_release(&e);
    return answer;
}

/* --- validation -------------------------------------------------------- */

TEST(validation_reports_all_problems_with_loc)
{
    struct err e;

    err_init(&e);
    CHECK(invalid("{\"group_by\": [{\"field\": \"metadata.c\"},"
                  " {\"alias\": \"x\"}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}, {\"function\": \"sum\","
                  " \"alias\": \"s\"}, {\"function\": \"median\","
                  " \"field\": \"metadata.n\", \"alias\": \"m\"}],"
                  " \"range_buckets\": [{\"field\": \"metadata.n\","
                  " \"boundaries\": [5, 1]}],"
                  " \"having\": [{\"field\": \"nope\", \"operator\": \"gt\","
                  " \"value\": 1}],"
                  " \"sort_by\": \"nope\", \"sort_direction\": \"up\","
                  " \"limit\": 0, \"description\": \"ignored\"}",
                  &e));
    CHECK(agg_fixture_has_problem(&e, "body.group_by.1.field"));
    CHECK(agg_fixture_has_problem(&e, "body.aggregations.1.field"));
    CHECK(agg_fixture_has_problem(&e, "body.aggregations.2.function"));
    CHECK(agg_fixture_has_problem(&e, "body.range_buckets.0.boundaries"));
    CHECK(agg_fixture_has_problem(&e, "body.having.0.field"));
    CHECK(agg_fixture_has_problem(&e, "body.sort_by"));
    CHECK(agg_fixture_has_problem(&e, "body.sort_direction"));
    CHECK(agg_fixture_has_problem(&e, "body.limit"));
    CHECK_INT(e.problem_count, 8);
    err_release(&e);

    err_init(&e);
    CHECK(invalid("{\"group_by\": []}", &e));
    CHECK(agg_fixture_has_problem(&e, "body.group_by"));
    CHECK(agg_fixture_has_problem(&e, "body.aggregations"));
    err_release(&e);
}

TEST(optional_fields_sent_as_null_are_absent)
{
    char *a = answer_of("{\"group_by\": [{\"field\": \"metadata.c\","
                        " \"alias\": null, \"date_trunc\": null}],"
                        " \"aggregations\": [{\"function\": \"count\","
                        " \"field\": null, \"alias\": \"n\"}],"
                        " \"filters\": null, \"unwind\": null,"
                        " \"having\": null, \"range_buckets\": null,"
                        " \"sort_by\": null, \"sort_direction\": null,"
                        " \"limit\": null}");
    CHECK(a != NULL && strstr(a, "\"total_groups\":3") != NULL);
    free(a);
}

TEST(function_names_case_insensitive_in_validation)
{
    struct err e;

    err_init(&e);
    CHECK(!invalid("{\"group_by\": [{\"field\": \"metadata.c\"}],"
                   " \"aggregations\": [{\"function\": \"COUNT\","
                   " \"alias\": \"n\"}, {\"function\": \"Count_Distinct\","
                   " \"distinct_field\": \"metadata.n\", \"alias\": \"d\"}]}",
                   &e));
    CHECK_INT(e.code, ERR_OK);
    err_release(&e);
}

TEST(aliases_must_be_unique)
{
    struct err e;

    err_init(&e);
    CHECK(invalid("{\"group_by\": [{\"field\": \"metadata.c\"},"
                  " {\"field\": \"metadata.n\", \"alias\": \"metadata.c\"}],"
                  " \"range_buckets\": [{\"field\": \"metadata.n\","
                  " \"boundaries\": [0]}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}, {\"function\": \"count\","
                  " \"alias\": \"n\"}, {\"function\": \"count\","
                  " \"alias\": \"metadata.n\"}]}",
                  &e));
    CHECK(agg_fixture_has_problem(&e, "body.group_by.1.alias"));
    CHECK(agg_fixture_has_problem(&e, "body.aggregations.1.alias"));
    CHECK(agg_fixture_has_problem(&e, "body.aggregations.2.alias"));
    CHECK_INT(e.problem_count, 3);
    err_release(&e);

    /* A range bucket is named after its field: the clash is located at
     * range_buckets, not at a group_by entry. */
    err_init(&e);
    CHECK(invalid("{\"group_by\": [{\"field\": \"metadata.n\"}],"
                  " \"range_buckets\": [{\"field\": \"metadata.n\","
                  " \"boundaries\": [0]}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}]}",
                  &e));
    CHECK(agg_fixture_has_problem(&e, "body.range_buckets.0.field"));
    CHECK_INT(e.problem_count, 1);
    err_release(&e);
}

TEST(date_trunc_with_date_part_rejected)
{
    struct err e;

    err_init(&e);
    CHECK(invalid("{\"group_by\": [{\"field\": \"created_at\","
                  " \"date_trunc\": \"day\", \"date_part\": \"hour\"},"
                  " {\"field\": \"created_at\", \"date_trunc\": \"dayOfWeek\","
                  " \"alias\": \"x\"}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}]}",
                  &e));
    CHECK(agg_fixture_has_problem(&e, "body.group_by.0.date_part"));
    CHECK(agg_fixture_has_problem(&e, "body.group_by.1.date_trunc"));
    err_release(&e);
}

TEST(regex_invalid_is_validation_error)
{
    struct err e;

    err_init(&e);
    CHECK(invalid("{\"filters\": {\"metadata.c\": {\"$regex\": \"(a\"}},"
                  " \"group_by\": [{\"field\": \"metadata.c\"}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}]}",
                  &e));
    CHECK(agg_fixture_has_problem(&e, "body.filters.metadata.c.$regex"));
    CHECK_INT(e.problem_count, 1);
    err_release(&e);

    err_init(&e);
    CHECK(invalid("{\"filters\": {\"AND\": [{\"field\": \"metadata.c\","
                  " \"operator\": \"regex\", \"value\": \"[\"}]},"
                  " \"group_by\": [{\"field\": \"metadata.c\"}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}]}",
                  &e));
    CHECK(agg_fixture_has_problem(&e, "body.filters.AND.0.value"));
    err_release(&e);
}

TEST(unknown_operator_is_validation_error)
{
    struct err e;

    err_init(&e);
    CHECK(invalid("{\"filters\": {\"metadata.c\": {\"$near\": 1},"
                  " \"$where\": \"1\"},"
                  " \"group_by\": [{\"field\": \"metadata.c\"}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}]}",
                  &e));
    CHECK(agg_fixture_has_problem(&e, "body.filters.metadata.c.$near"));
    CHECK(agg_fixture_has_problem(&e, "body.filters.$where"));
    err_release(&e);

    err_init(&e);
    CHECK(invalid("{\"filters\": {\"OR\": [{\"field\": \"metadata.c\","
                  " \"operator\": \"like\", \"value\": \"x\"}]},"
                  " \"group_by\": [{\"field\": \"metadata.c\"}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}]}",
                  &e));
    CHECK(agg_fixture_has_problem(&e, "body.filters.OR.0.operator"));
    err_release(&e);
}

/* --- query documents --------------------------------------------------- */

TEST(query_document_operators)
{
    EXPECT_MATCH("{\"metadata.t\": \"red\"}", "obj_1,obj_2");
    EXPECT_MATCH("{\"metadata.t\": [\"red\", \"blue\"]}", "obj_1");
    EXPECT_MATCH("{\"metadata.n\": {\"$gt\": 1}}", "obj_3,obj_4");
    EXPECT_MATCH("{\"metadata.n\": {\"$gte\": \"1\"}}", "obj_2");
    EXPECT_MATCH("{\"metadata.c\": {\"$ne\": null}}", "obj_1,obj_2");
    EXPECT_MATCH("{\"metadata.c\": {\"$in\": [null, \"tea\"]}}",
                 "obj_2,obj_3,obj_4");
    EXPECT_MATCH("{\"metadata.t\": {\"$nin\": [\"red\", 3]}}", "obj_3");
    EXPECT_MATCH("{\"metadata.items\": {\"$exists\": false}}", "obj_1,obj_2");
    EXPECT_MATCH("{\"metadata.c\": {\"$regex\": \"^caf\","
                 " \"$options\": \"i\"}}", "obj_1");
    EXPECT_MATCH("{\"metadata.n\": {\"$not\": {\"$gt\": 1}}}", "obj_1,obj_2");
    EXPECT_MATCH("{\"metadata.t\": {\"$size\": 2}}", "obj_1,obj_4");
    EXPECT_MATCH("{\"metadata.t\": {\"$all\": [\"red\"]}}", "obj_1,obj_2");
    EXPECT_MATCH("{\"metadata.items\": {\"$elemMatch\": {\"s\": \"a\","
                 " \"q\": {\"$gt\": 5}}}}", "obj_4");
    EXPECT_MATCH("{\"metadata.items.q\": {\"$gt\": 5}}", "obj_3,obj_4");
    EXPECT_MATCH("{\"$or\": [{\"metadata.n\": 5}, {\"metadata.c\": \"tea\"}],"
                 " \"$nor\": [{\"metadata.n\": \"1\"}]}", "obj_3");
}

TEST(elem_match_on_values_holds_per_element)
{
    /* Each element on its own: "blue" is not "red", so $ne holds; the
     * array [] has no element. */
    EXPECT_MATCH("{\"metadata.t\": {\"$elemMatch\": {\"$ne\": \"red\"}}}",
                 "obj_1,obj_4");
    EXPECT_MATCH("{\"metadata.t\": {\"$elemMatch\": {\"$nin\": [\"red\","
                 " \"green\"]}}}", "obj_1,obj_4");
    EXPECT_MATCH("{\"metadata.t\": {\"$elemMatch\": {\"$in\": [\"green\"]}}}",
                 "obj_4");
    EXPECT_MATCH("{\"metadata.t\": {\"$elemMatch\": {\"$not\":"
                 " {\"$regex\": \"^r\"}}}}", "obj_1,obj_4");
}

TEST(filters_date_operand_against_date_field)
{
    /* An ISO string is read as a date against a date (created_at, the
     * declared "when"); against a string it stays a string. */
    EXPECT_MATCH("{\"created_at\": {\"$gte\": \"2024-01-01\"}}",
                 "obj_1,obj_3,obj_4");
    EXPECT_MATCH("{\"created_at\": {\"$lt\": \"2024-01-01T00:00:00.000Z\"}}",
                 "obj_2");
    EXPECT_MATCH("{\"metadata.when\": \"2024-03-05T00:00:00Z\"}", "obj_1");
    EXPECT_MATCH("{\"created_at\": {\"$gt\": 5}}", "");
    /* The same in the condition-list dialect, caseless by default. */
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.when\", \"operator\":"
                 " \"eq\", \"value\": \"2024-03-05\"}]}", "obj_1");
    EXPECT_MATCH("{\"AND\": [{\"field\": \"created_at\", \"operator\":"
                 " \"in\", \"value\": [\"2024-06-01t00:00:00z\"]}]}",
                 "obj_3");
    EXPECT_MATCH("{\"AND\": [{\"field\": \"created_at\", \"operator\":"
                 " \"lt\", \"value\": \"2024-01-05\"}]}", "obj_2,obj_4");
}

TEST(is_null_matches_missing)
{
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.c\", \"operator\":"
                 " \"is_null\", \"value\": true}]}", "obj_3,obj_4");
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.c\", \"operator\":"
                 " \"is_null\", \"value\": false}]}", "obj_1,obj_2");
    EXPECT_MATCH("{\"metadata.c\": null}", "obj_3,obj_4");
}

TEST(null_through_arrays_of_objects)
{
    /* MongoDB's rule (its jstests/core/null2.js): an object element
     * without the member is missing, so null; an empty array, and
     * elements that are not objects, add nothing. */
    const char *objects =
        "{\"object_id\": \"obj_1\", \"x\": [{\"b\": 5}]}\n"
        "{\"object_id\": \"obj_2\", \"x\": [{}]}\n"
        "{\"object_id\": \"obj_3\", \"x\": []}\n"
        "{\"object_id\": \"obj_4\", \"x\": [{}, {\"b\": 5}]}\n"
        "{\"object_id\": \"obj_5\", \"x\": [5, {\"b\": 5}]}\n"
        "{\"object_id\": \"obj_6\"}\n";
    const char *const cases[][2] = {
        {"{\"x.b\": null}", "obj_2,obj_4,obj_6"},
        {"{\"x.b\": {\"$in\": [null, 7]}}", "obj_2,obj_4,obj_6"},
        {"{\"x.b\": {\"$gte\": null}}", "obj_2,obj_4,obj_6"},
        {"{\"x.b\": {\"$all\": [null]}}", "obj_2,obj_4,obj_6"},
        {"{\"x.b\": {\"$ne\": null}}", "obj_1,obj_3,obj_5"},
        {"{\"x.b\": {\"$nin\": [null]}}", "obj_1,obj_3,obj_5"},
        {"{\"x.b\": {\"$ne\": 5}}", "obj_2,obj_3,obj_6"},
        {"{\"x.b\": {\"$exists\": false}}", "obj_2,obj_3,obj_6"},
        {"{\"AND\": [{\"field\": \"x.b\", \"operator\": \"is_null\","
         " \"value\": true}]}", "obj_2,obj_4,obj_6"},
        {"{\"AND\": [{\"field\": \"x.b\", \"operator\": \"is_null\","
         " \"value\": false}]}", "obj_1,obj_3,obj_5"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = matching_in(objects, cases[i][0]);
        if (!CHECK_STR(got, cases[i][1]))
            printf("    filter: %s\n", cases[i][0]);
        free(got);
    }
}

/* --- condition lists --------------------------------------------------- */

TEST(condition_list_case_insensitive_eq)
{
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.c\", \"operator\": \"eq\","
                 " \"value\": \"CAFÉ\"}]}", "obj_1");
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.c\", \"operator\": \"eq\","
                 " \"value\": \"CAFÉ\"}], \"case_sensitive\": true}", "");
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.t\", \"operator\": \"in\","
                 " \"value\": [\"RED\", 3]}]}", "obj_1,obj_2,obj_4");
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.c\", \"operator\":"
                 " \"starts_with\", \"value\": \"CA\"}]}", "obj_1");
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.t\", \"operator\":"
                 " \"ends_with\", \"value\": \"UE\"}]}", "obj_1");
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.c\", \"operator\":"
                 " \"text\", \"value\": \"FÉ\"}], \"case_sensitive\": true}",
                 "obj_1");
    EXPECT_MATCH("{\"AND\": [{\"field\": \"metadata.c\", \"operator\":"
                 " \"contains\", \"value\": \"FÉ\"}],"
                 " \"case_sensitive\": true}",
                 "");
}

TEST(not_list_means_none_holds)
{
    EXPECT_MATCH("{\"NOT\": [{\"field\": \"metadata.n\", \"operator\": \"eq\","
                 " \"value\": 1}, {\"field\": \"metadata.c\", \"operator\":"
                 " \"eq\", \"value\": \"tea\"}]}", "obj_3,obj_4");
    EXPECT_MATCH("{\"OR\": [{\"field\": \"metadata.n\", \"operator\": \"gt\","
                 " \"value\": 2}, {\"AND\": [{\"field\": \"metadata.c\","
                 " \"operator\": \"exists\", \"value\": true}, {\"field\":"
                 " \"metadata.n\", \"operator\": \"lt\", \"value\": 2}]}]}",
                 "obj_1,obj_3,obj_4");
}

/* --- the equivalent MongoDB pipeline ----------------------------------- */

TEST(pipeline_writes_elem_match_lists_and_date_operands)
{
    char *a = answer_of("{\"filters\": {\"metadata.t\": {\"$elemMatch\":"
                        " {\"$in\": [\"red\", \"x\"]}}, \"AND\": []},"
                        " \"group_by\": [{\"field\": \"metadata.c\"}],"
                        " \"aggregations\": [{\"function\": \"count\","
                        " \"alias\": \"n\"}]}");
    CHECK(a == NULL); /* mixing the dialects is a validation error */
    free(a);

    a = answer_of("{\"filters\": {\"metadata.t\": {\"$elemMatch\":"
                  " {\"$in\": [\"red\", \"x\"]}}},"
                  " \"group_by\": [{\"field\": \"metadata.c\"}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}]}");
    CHECK(a && strstr(a, "{\"$elemMatch\":{\"$in\":[\"red\",\"x\"]}}"));
    free(a);

    a = answer_of("{\"filters\": {\"AND\": [{\"field\": \"created_at\","
                  " \"operator\": \"eq\", \"value\": \"2024-06-01\"}]},"
                  " \"group_by\": [{\"field\": \"metadata.c\"}],"
                  " \"aggregations\": [{\"function\": \"count\","
                  " \"alias\": \"n\"}]}");
    CHECK(a && strstr(a, "{\"created_at\":{\"$eq\":{\"$date\":"
                         "\"2024-06-01T00:00:00.000Z\"}}}"));
    free(a);
}

TEST(pipeline_having_and_sort_compare_whole_values)
{
    char *a = answer_of("{\"group_by\": [{\"field\": \"metadata.t\","
                        " \"alias\": \"t\"}],"
                        " \"aggregations\": [{\"function\": \"count\","
                        " \"alias\": \"n\"}],"
                        " \"having\": [{\"field\": \"t\", \"operator\": \"ne\","
                        " \"value\": \"red\"}], \"sort_by\": \"n\"}");
    /* [] and ["green", 3] and ["red","blue"] pass ne "red" (arrays are
     * not strings); "red" does not. */
    CHECK(a && strstr(a, "\"total_groups\":3"));
    CHECK(a && strstr(a, "\"$expr\""));
    CHECK(a && strstr(a, "\"sk0\":{\"t\":"));
    CHECK(a && strstr(a, "{\"$sort\":{\"m0\":-1,\"sk0\":1}}"));
    free(a);
}
