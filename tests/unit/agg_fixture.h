/*
 * agg_fixture.h - a real store in a temporary folder with one bucket, for
 * the tests of the aggregation engine and the filter compiler.
 *
 *   struct agg_fixture fx;
 *   agg_fixture_open(&fx, "{\"when\": {\"type\": \"date\"}}");
 *   agg_fixture_import(&fx, "{\"metadata\": {\"n\": 1}}\n...");
 *   char *answer = agg_fixture_run(&fx, "{...request...}", &e);
 *   ...
 *   free(answer);
 *   agg_fixture_close(&fx);
 *
 * Requests run through agg_parse, agg_plan, agg_execute and agg_encode as
 * the server runs them (elapsed time written as 0, so answers are
 * reproducible). Objects go through the importer, as an NDJSON import
 * does (schema checks, dates, kept ids).
 */
#ifndef TALLY_TEST_AGG_FIXTURE_H
#define TALLY_TEST_AGG_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "base/ids.h"
#include "query/limits.h"
#include "store/store.h"

struct agg_fixture {
    char dir[64];
    struct store *store;
    char ns_id[IDS_MAX];
    struct query_limits limits;
    bool ok;                 /* opened and every import went through */
    size_t arena_used;       /* by the last request that ran */
};

/* Opens a store and creates a namespace and bucket "b" whose
 * bucket_schema.properties is the JSON object schema_properties. */
bool agg_fixture_open(struct agg_fixture *fx, const char *schema_properties);

/* Imports NDJSON lines; false unless every line was imported. */
bool agg_fixture_import(struct agg_fixture *fx, const char *ndjson);

/* The answer to request (JSON), malloc'd, or NULL with e set. */
char *agg_fixture_run(struct agg_fixture *fx, const char *request,
                      struct err *e);

/* The "results" array of an answer, malloc'd ("" when absent). */
char *agg_fixture_results(const char *answer);

/* True when e holds a problem at loc ("body.aggregations.1.field"). */
bool agg_fixture_has_problem(const struct err *e, const char *loc);

void agg_fixture_close(struct agg_fixture *fx);

#endif
