/*
 * aggregate.c - POST /v1/buckets/{bucket}/objects/aggregate: the request
 * is parsed, planned, executed over the request's snapshot (one read
 * transaction, so concurrent writes are all in or all out) and encoded.
 *
 * The backend runs the plan (backend/backend.h): the embedded store with
 * its column path or row path (?engine=rows forces the row path), or
 * ClickHouse with one SELECT.
 */
#include <string.h>

#include "api/internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "query/agg.h"

static int execute(struct api_ctx *c, const struct catalog_bucket *b,
                   struct agg_plan *plan, struct agg_result **res)
{
    struct backend_req br = api_backend_req(c);

    return backend_aggregate(api.backend, &br, b, plan, res, &c->err);
}

void api_object_aggregate(const struct http_request *req,
                          struct http_response *resp)
{
    struct api_ctx c;
    struct catalog_bucket b;
    struct arena arena;
    struct agg_request *areq = NULL;
    struct agg_plan *plan = NULL;
    struct agg_result *res = NULL;
    int64_t start = clock_mono_ns();

    arena_init(&arena);
    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) != 0)
        goto out;
    int rc = api_find_bucket(&c, &c.rd, req->params[0], &b);
    if (rc == 0)
        rc = agg_parse(&c.body, &b.record, &arena, &areq, &c.err);
    if (rc == 0)
        rc = agg_plan(areq, &api.query, &arena, &plan, &c.err);
    if (rc == 0)
        rc = execute(&c, &b, plan, &res);
    if (rc == 0) {
        double ms = (double)(clock_mono_ns() - start) / 1e6;
        rc = agg_encode(plan, res, ms, &resp->body, &c.err);
    }
    if (rc != 0) {
        buf_reset(&resp->body);
        if (rc == ERR_LIMIT || rc == ERR_TIMEOUT) {
            char quoted[2 * ERR_MSG_MAX];
            LOG_WARN("aggregation stopped by a limit",
                     "id=%s bucket=%s error=%s", req->id, b.id,
                     log_quote(quoted, sizeof(quoted), c.err.msg,
                               strlen(c.err.msg)));
        }
        api_fail(&c, rc);
        goto out;
    }
    atomic_fetch_add(&api.aggregations, 1);
    http_reply_json(resp, 200);
out:
    agg_result_free(res);
    agg_request_release(areq);
    arena_release(&arena);
    api_end(&c);
}
