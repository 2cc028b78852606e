/*
 * agg.h - the aggregation engine: POST .../objects/aggregate.
 *
 * A request goes through four steps, each in its own file:
 *   agg_parse()    validate.c  JSON request -> struct agg_request, every
 *                              problem reported at once (422)
 *   agg_plan()     plan.c      request -> the chain of stages:
 *                              match, unwind, key, accumulate, having,
 *                              sort, limit (stage_*.c)
 *   agg_execute()  execute.c   runs the chain over one read snapshot
 *   agg_encode()   encode.c    the response, with query_info and the
 *                              equivalent MongoDB pipeline (pipeline.c)
 *
 * Semantics: ../shared/spec/aggregation.md and docs/aggregation.md.
 * Limits (limits.h) stop a request with an error naming the limit.
 */
#ifndef TALLY_QUERY_AGG_H
#define TALLY_QUERY_AGG_H

#include <bson/bson.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "query/limits.h"
#include "store/store.h"

struct agg_request;
struct agg_plan;
struct agg_result;

/* Validates body (the request JSON as BSON) for the bucket (its record).
 * Everything the request refers to stays valid while body, bucket and
 * arena live. Returns 0, or ERR_VALIDATION with every problem in e. */
int agg_parse(const bson_t *body, const bson_t *bucket, struct arena *arena,
              struct agg_request **out, struct err *e);
void agg_request_release(struct agg_request *req);

/* Builds the stage chain for a validated request. */
int agg_plan(const struct agg_request *req, const struct query_limits *lim,
             struct arena *arena, struct agg_plan **out, struct err *e);

/* Runs the plan over bucket number `bucket` in snapshot t. The result is
 * allocated from arena (and from malloc for collected values, freed by
 * agg_result_free). ERR_LIMIT / ERR_TIMEOUT name the limit reached. */
int agg_execute(struct agg_plan *plan, struct store_txn *t, uint32_t bucket,
                struct agg_result **out, struct err *e);
void agg_result_free(struct agg_result *res);

/* Writes the response JSON. ERR_LIMIT when it would pass
 * max_response_bytes. */
int agg_encode(const struct agg_plan *plan, const struct agg_result *res,
               double elapsed_ms, struct buf *out, struct err *e);

#endif
