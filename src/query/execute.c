/*
 * execute.c - runs a plan over one read snapshot.
 *
 * Objects are read in insertion order; each goes through match, unwind
 * and key, and its rows into the group table. Then the groups go through
 * having, sort and limit. The run stops at the first error, including a
 * limit (max_groups, max_memory_bytes, max_time_ms, a regex match limit):
 * nothing partial is returned.
 */
#include <stdlib.h>

#include "query/agg_internal.h"
#include "store/objects.h"

/* TUNING: the clock is read every 1024 objects: cheap (a vDSO call per
 * millisecond or so of work) and precise enough for a limit in seconds. */
#define DEADLINE_EVERY 1024

struct run {
    struct agg_ctx c;
    _Atomic uint64_t memory;
    struct agg_table *table;
    bson_value_t *keys;
    bool *built;
};

static int on_row(void *arg, const struct agg_row *row)
{
    struct run *r = arg;
    const struct agg_request *req = r->c.req;

    /* Everything a row resolves fits in the scratch reserved here, so
     * that no value moves while the row is being read. */
    buf_reset(&r->c.scratch);
    if (buf_reserve(&r->c.scratch,
                    (row->len + 64) * (size_t)(req->nkeys + req->nmetrics + 1)))
        return err_set(r->c.e, ERR_NOMEM, "out of memory aggregating");
    stage_key(req, row, &r->c.scratch, r->keys, r->built);
    return stage_accumulate_row(r->table, row, r->keys, r->built);
}

static int check_deadline(struct run *r)
{
    if (r->c.deadline_ns == 0 || clock_mono_ns() < r->c.deadline_ns)
        return 0;
    return err_set(r->c.e, ERR_TIMEOUT,
                   "the aggregation ran longer than max_time_ms (%llu ms); "
                   "add a filter or a coarser key, or raise "
                   "--agg-max-time-ms",
                   (unsigned long long)r->c.lim->max_time_ms);
}

static int scan(struct run *r, struct store_txn *t, uint32_t bucket)
{
    struct objects_scan sc;
    uint64_t seq;
    const uint8_t *doc;
    size_t len;

    int rc = objects_scan_open(t, bucket, 0, &sc, r->c.e);
    while (rc == 0) {
        rc = objects_scan_next(&sc, &seq, &doc, &len, r->c.e);
        if (rc != 0)
            break;
        if (++r->c.scanned % DEADLINE_EVERY == 0 && (rc = check_deadline(r)))
            break;
        if (!stage_match(r->c.req, doc, len))
            continue;
        r->c.matched++;
        rc = stage_unwind(r->c.req, doc, len, &r->c.scratch, on_row, r);
    }
    objects_scan_close(&sc);
    if (rc == ERR_NOT_FOUND)
        rc = 0;
    if (rc == 0 && filter_failed(r->c.req->filter))
        rc = err_set(r->c.e, ERR_LIMIT,
                     "a regular expression in filters hit its match limit "
                     "(too much backtracking); simplify the pattern");
    return rc;
}

static int finish(struct run *r, struct agg_result *res)
{
    const struct agg_request *req = r->c.req;
    struct agg_group **groups;
    size_t n;

    int rc = stage_accumulate_finish(r->table, &groups, &n);
    if (rc != 0)
        return rc;
    n = stage_having(req, groups, n);
    stage_sort(req, groups, n);
    res->groups = groups;
    res->groups_before_limit = n;
    res->ngroups = stage_limit(req, n);
    res->scanned = r->c.scanned;
    res->matched = r->c.matched;
    return 0;
}

int agg_execute(struct agg_plan *plan, struct store_txn *t, uint32_t bucket,
                struct agg_result **out, struct err *e)
{
    const struct agg_request *req = plan->req;
    struct agg_result *res = arena_zalloc(plan->arena, sizeof(*res));
    struct run r = {.c = {.req = req, .lim = &plan->lim,
                          .arena = plan->arena, .e = e}};

    *out = NULL;
    r.c.memory = &r.memory;
    if (plan->lim.max_time_ms > 0)
        r.c.deadline_ns = clock_mono_ns() +
                          (int64_t)plan->lim.max_time_ms * 1000000;
    r.keys = arena_alloc(plan->arena, (size_t)(req->nkeys + 1) *
                                          sizeof(*r.keys));
    r.built = arena_alloc(plan->arena, (size_t)(req->nkeys + 1));
    if (res == NULL || r.keys == NULL || r.built == NULL)
        return err_set(e, ERR_NOMEM, "out of memory aggregating");

    int rc = stage_accumulate_open(&r.c, &r.table);
    if (rc == 0)
        rc = scan(&r, t, bucket);
    if (rc == 0)
        rc = finish(&r, res);
    buf_release(&r.c.scratch);
    res->table = r.table;
    if (rc != 0) {
        agg_result_free(res);
        return rc;
    }
    *out = res;
    return 0;
}

void agg_result_free(struct agg_result *res)
{
    if (res == NULL)
        return;
    stage_accumulate_close(res->table);
    res->table = NULL;
    if (res->view_cc != NULL)
        colcache_release(res->view_cc, &res->view);
    res->view_cc = NULL;
}
