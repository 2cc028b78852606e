/*
 * encode.c - the aggregation response:
 *   {"results": [{"group": {...}, "metrics": {...}}, ...],
 *    "total_groups": n,
 *    "query_info": {execution_time_ms, pipeline_stages, scanned_objects,
 *                   matched_objects, groups_before_limit, pipeline}}
 * Dates are written as RFC 3339 strings with milliseconds, doubles in
 * their shortest form, NaN and infinities as null (json.h).
 */
#include "query/agg_internal.h"

static int check_size(const struct agg_plan *plan, const struct buf *out,
                      struct err *e)
{
    uint64_t max = plan->lim.max_response_bytes;

    if (out->oom)
        return err_set(e, ERR_NOMEM, "out of memory writing the answer");
    if (max == 0 || out->len <= max)
        return 0;
    return err_set(e, ERR_LIMIT,
                   "the answer would be larger than max_response_bytes "
                   "(%llu bytes); add a limit, fewer metrics or raise "
                   "--agg-max-response-bytes",
                   (unsigned long long)max);
}

static void write_group(struct jw *w, const struct agg_request *req,
                        const struct agg_group *g)
{
    jw_object_begin(w);
    jw_key(w, "group");
    jw_object_begin(w);
    for (int i = 0; i < req->nkeys; i++) {
        jw_key(w, req->keys[i].name);
        value_write_json(w, &g->keys[i]);
    }
    jw_object_end(w);
    jw_key(w, "metrics");
    jw_object_begin(w);
    for (int i = 0; i < req->nmetrics; i++) {
        jw_key(w, req->metrics[i].alias);
        value_write_json(w, &g->out[i]);
    }
    jw_object_end(w);
    jw_object_end(w);
}

static void write_query_info(struct jw *w, const struct agg_plan *plan,
                             const struct agg_result *res, double elapsed_ms)
{
    jw_key(w, "query_info");
    jw_object_begin(w);
    jw_key(w, "execution_time_ms");
    jw_double(w, elapsed_ms);
    jw_key(w, "pipeline_stages");
    jw_int(w, agg_pipeline_stage_count(plan->req));
    jw_key(w, "scanned_objects");
    jw_int(w, (int64_t)res->scanned);
    jw_key(w, "matched_objects");
    jw_int(w, (int64_t)res->matched);
    jw_key(w, "groups_before_limit");
    jw_int(w, (int64_t)res->groups_before_limit);
    jw_key(w, "pipeline");
    agg_write_pipeline(plan->req, w);
    jw_object_end(w);
}

int agg_encode(const struct agg_plan *plan, const struct agg_result *res,
               double elapsed_ms, struct buf *out, struct err *e)
{
    struct jw w;

    jw_init(&w, out);
    jw_object_begin(&w);
    jw_key(&w, "results");
    jw_array_begin(&w);
    for (size_t i = 0; i < res->ngroups; i++) {
        write_group(&w, plan->req, res->groups[i]);
        if ((i & 255) == 0 && check_size(plan, out, e) != 0)
            return e->code;
    }
    jw_array_end(&w);
    jw_key(&w, "total_groups");
    jw_int(&w, (int64_t)res->ngroups);
    write_query_info(&w, plan, res, elapsed_ms);
    jw_object_end(&w);
    return check_size(plan, out, e);
}
