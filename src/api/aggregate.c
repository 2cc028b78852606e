/*
 * aggregate.c - POST /v1/buckets/{bucket}/objects/aggregate: the request
 * is parsed, planned, executed over the request's snapshot (one read
 * transaction, so concurrent writes are all in or all out) and encoded.
 *
 * The column path answers when it can; the row path is the reference and
 * the fallback. ?engine=rows forces the row path (the differential test
 * compares both; an operator may use it to rule the cache out).
 */
#include <string.h>

#include "api/internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "query/agg.h"
#include "query/vexec.h"

static bool rows_forced(const struct http_request *req)
{
    const char *engine = http_query(req, "engine");
    return engine != NULL && strcmp(engine, "rows") == 0;
}

static int execute(struct api_ctx *c, struct agg_plan *plan, uint32_t bucket,
                   struct agg_result **res)
{
    if (api.columns != NULL && !rows_forced(c->req)) {
        int rc = agg_execute_columns(plan, api.columns, &c->rd, bucket, res,
                                     &c->err);
        if (rc != ERR_UNAVAILABLE)
            return rc;
        err_release(&c->err);
        err_init(&c->err);
    }
    atomic_fetch_add(&api.aggregations_by_rows, 1);
    return agg_execute(plan, &c->rd, bucket, res, &c->err);
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
        rc = execute(&c, plan, b.num, &res);
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
