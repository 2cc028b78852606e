/*
 * vexec.c - the column path: the same plan, run over the column cache in
 * batches, on every core.
 *
 * A request runs here when every field it reads is cached as scalar cells
 * (no array or object values where a value is compared, keyed or
 * collected); otherwise agg_execute_columns() answers ERR_UNAVAILABLE and
 * the row path (execute.c) runs instead. Both paths share the filter
 * verdicts (filter_pred_scalar), the accumulators (agg_acc_*) and the
 * group table used for the final fold, so they give the same answers; the
 * differential test checks it.
 *
 * Work. Rows are split in contiguous ranges of chunks, one per thread.
 * A thread takes a chunk of CC_CHUNK rows at a time: the live rows make
 * a selection vector, the filter narrows it, unwind turns it into element
 * positions, the keys map every unit of the batch to a group id
 * (vexec_group.c), and each metric folds the batch into its groups
 * (vexec_fold.c). Each thread keeps its own groups; they are folded into
 * one table in row order at the end, so first, last and push keep storage
 * order and sums are exact (sum.h).
 */
#include <stdlib.h>
#include <string.h>

#include "base/workq.h"
#include "query/agg_internal.h"
#include "query/filter_internal.h"
#include "query/vexec.h"
#include "query/vexec_internal.h"

/* TUNING: a request over fewer rows than this runs on one thread: the
 * hand-over costs more than it saves. */
#define PARALLEL_MIN_ROWS 65536

/* --- the filter over columns ------------------------------------------- */

struct vpred {
    const struct fnode *node;
    struct vcol col;
    uint8_t *memo;           /* per string code: 0 unknown, 1 no, 2 yes */
    uint64_t memo_size;
    bool missing, null, f, t;/* verdicts that do not depend on the value */
    int fast;                /* FAST_* for numbers and dates */
    bool date_range;         /* FAST_DATE as a closed range of ms: */
    int64_t date_lo, date_hi;
};

enum { FAST_NONE, FAST_NUMBER, FAST_DATE };

struct vnode {
    enum fkind kind;
    struct vnode *kids;
    int nkids;
    struct vpred pred;
};

/* --- collecting the columns -------------------------------------------- */

static int need_index(struct vplan *p, const struct agg_path *path,
                      const char *unwind)
{
    const char *want_unwind = path->from_element ? unwind : NULL;
    const char *want_path = path->from_element ? path->rest : path->path;

    for (int i = 0; i < p->nneeds; i++) {
        const struct cc_need *n = &p->needs[i];
        if ((n->unwind == NULL) == (want_unwind == NULL) &&
            strcmp(n->path, want_path) == 0)
            return i;
    }
    p->needs[p->nneeds] = (struct cc_need){want_unwind, want_path};
    return p->nneeds++;
}

static struct vcol col_for(struct vplan *p, const struct agg_path *path)
{
    return (struct vcol){need_index(p, path, p->req->unwind),
                         path->from_element};
}

static int count_preds(const struct fnode *n)
{
    int total = n->kind == FN_PRED ? 1 : 0;
    for (int i = 0; i < n->nkids; i++)
        total += count_preds(n->kids[i]);
    return total;
}

/* Builds the filter tree over columns; false when a predicate needs more
 * than scalar cells can tell. */
static bool compile_node(struct vplan *p, struct arena *a,
                         const struct fnode *n, struct vnode *out)
{
    out->kind = n->kind;
    if (n->kind == FN_PRED) {
        if (n->op == OP_SIZE || n->op == OP_ELEM_MATCH)
            return false;
        struct agg_path path = {.path = n->path, .rest = n->path};
        out->pred.node = n;
        out->pred.col = (struct vcol){need_index(p, &path, NULL), false};
        return true;
    }
    out->nkids = n->nkids;
    out->kids = arena_zalloc(a, (size_t)(n->nkids + 1) * sizeof(*out->kids));
    if (out->kids == NULL)
        return false;
    for (int i = 0; i < n->nkids; i++)
        if (!compile_node(p, a, n->kids[i], &out->kids[i]))
            return false;
    return true;
}

static bool collect(struct vplan *p, struct arena *a)
{
    const struct agg_request *req = p->req;
    int max = req->nkeys + req->nmetrics + 2;

    if (req->filter != NULL)
        max += count_preds(((struct filter *)req->filter)->root);
    p->needs = arena_zalloc(a, (size_t)max * sizeof(*p->needs));
    p->keys = arena_zalloc(a, (size_t)(req->nkeys + 1) * sizeof(*p->keys));
    p->metrics = arena_zalloc(a, (size_t)(req->nmetrics + 1) *
                                     sizeof(*p->metrics));
    if (p->needs == NULL || p->keys == NULL || p->metrics == NULL)
        return false;

    if (req->filter != NULL) {
        p->f = req->filter;
        p->filter = arena_zalloc(a, sizeof(*p->filter));
        if (p->filter == NULL || !compile_node(p, a, p->f->root, p->filter))
            return false;
    }
    if (req->unwind != NULL) {
        /* The element itself: its column carries the element index. */
        struct agg_path element = {.path = req->unwind, .from_element = true,
                                   .rest = ""};
        col_for(p, &element);
    }
    for (int i = 0; i < req->nkeys; i++)
        p->keys[i] = (struct vkey){.k = &req->keys[i],
                                   .col = col_for(p, &req->keys[i].field)};
    for (int i = 0; i < req->nmetrics; i++) {
        const struct agg_metric *m = &req->metrics[i];
        p->metrics[i].m = m;
        p->metrics[i].col = m->field.path ? col_for(p, &m->field)
                                          : (struct vcol){-1, false};
    }
    return true;
}

/* Arrays or objects in a column that is compared, keyed or collected
 * would need the row path; sums, averages and counts skip them the same
 * way on both paths. */
static bool metric_tolerates_other(enum agg_fn fn)
{
    return fn == AGG_SUM || fn == AGG_AVG || fn == AGG_COUNT;
}

static void mark_filter(const struct vnode *n, bool *strict)
{
    if (n->kind == FN_PRED)
        strict[n->pred.col.index] = true;
    for (int i = 0; i < n->nkids; i++)
        mark_filter(&n->kids[i], strict);
}

/* The columns whose values are compared, keyed or collected must hold
 * scalars only; the others (summed or counted, or only there to number
 * the unwound elements) may hold anything. */
static bool columns_fit(struct vplan *p)
{
    const struct cc_view *v = &p->view;
    bool *strict = calloc((size_t)p->nneeds + 1, sizeof(bool));
    bool ok = true;

    if (strict == NULL)
        return false;
    if (p->filter != NULL)
        mark_filter(p->filter, strict);
    for (int i = 0; i < p->req->nkeys; i++)
        strict[p->keys[i].col.index] = true;
    for (int i = 0; i < p->req->nmetrics; i++)
        if (p->metrics[i].col.index >= 0 &&
            !metric_tolerates_other(p->metrics[i].m->fn))
            strict[p->metrics[i].col.index] = true;
    for (int i = 0; i < p->nneeds; i++)
        if (strict[i] && v->cols[i].other > 0)
            ok = false;
    free(strict);
    return ok;
}

/* --- cells ------------------------------------------------------------- */

bool vexec_cell_value(const struct cc_column *c, uint32_t i, bson_value_t *v)
{
    uint8_t tag = cell_tag(c, i);
    union cc_value val = cell_val(c, i);
    uint32_t len;

    switch (tag) {
    case CC_MISSING:
        return false;
    case CC_NULL:
        v->value_type = BSON_TYPE_NULL;
        return true;
    case CC_INT:
        v->value_type = BSON_TYPE_INT64;
        v->value.v_int64 = val.i;
        return true;
    case CC_DOUBLE:
        v->value_type = BSON_TYPE_DOUBLE;
        v->value.v_double = val.d;
        return true;
    case CC_BOOL:
        v->value_type = BSON_TYPE_BOOL;
        v->value.v_bool = val.i != 0;
        return true;
    case CC_DATE:
        v->value_type = BSON_TYPE_DATE_TIME;
        v->value.v_datetime = val.i;
        return true;
    case CC_STRING:
        v->value_type = BSON_TYPE_UTF8;
        v->value.v_utf8.str = (char *)cc_dict_string(c->dict, val.code, &len);
        v->value.v_utf8.len = len;
        return true;
    default:
        v->value_type = BSON_TYPE_NULL; /* never reached: columns_fit */
        return true;
    }
}

/* --- filter ------------------------------------------------------------ */

/* The dates op x accepts as [lo, hi]; false when they are not one
 * non-empty range ($ne, or nothing past the end of time). */
static bool date_range(enum fop op, int64_t x, int64_t *lo, int64_t *hi)
{
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    switch (op) {
    case OP_EQ:
        *lo = *hi = x;
        return true;
    case OP_GTE:
        *lo = x;
        return true;
    case OP_GT:
        *lo = x + 1;
        return x != INT64_MAX;
    case OP_LTE:
        *hi = x;
        return true;
    case OP_LT:
        *hi = x - 1;
        return x != INT64_MIN;
    default:
        return false;
    }
}

static bool prepare_pred(struct vplan *p, struct arena *a, struct vpred *vp)
{
    const struct fnode *n = vp->node;
    const struct cc_column *c = &p->view.cols[vp->col.index];
    bson_value_t v;

    vp->missing = filter_pred_scalar(p->f, n, NULL);
    v.value_type = BSON_TYPE_NULL;
    vp->null = filter_pred_scalar(p->f, n, &v);
    v.value_type = BSON_TYPE_BOOL;
    v.value.v_bool = false;
    vp->f = filter_pred_scalar(p->f, n, &v);
    v.value.v_bool = true;
    vp->t = filter_pred_scalar(p->f, n, &v);
    vp->memo_size = cc_dict_size(c->dict);
    vp->memo = arena_zalloc(a, vp->memo_size + 1);
    if (vp->memo == NULL)
        return false;

    bool cmp = n->op == OP_EQ || n->op == OP_NE || n->op == OP_GT ||
               n->op == OP_GTE || n->op == OP_LT || n->op == OP_LTE;
    if (cmp && n->nops == 1 && n->ops[0].re == NULL)
        vp->fast = value_is_number(n->ops[0].v.value_type) ? FAST_NUMBER
                   : n->ops[0].has_date                   ? FAST_DATE
                                                          : FAST_NONE;
    if (vp->fast == FAST_DATE)
        vp->date_range = date_range(n->op, n->ops[0].date_ms, &vp->date_lo,
                                    &vp->date_hi);
    return true;
}

static bool prepare_filter(struct vplan *p, struct arena *a, struct vnode *n)
{
    if (n->kind == FN_PRED)
        return prepare_pred(p, a, &n->pred);
    for (int i = 0; i < n->nkids; i++)
        if (!prepare_filter(p, a, &n->kids[i]))
            return false;
    return true;
}

static bool compare_verdict(enum fop op, int c)
{
    switch (op) {
    case OP_EQ:
        return c == 0;
    case OP_NE:
        return c != 0;
    case OP_GT:
        return c > 0;
    case OP_GTE:
        return c >= 0;
    case OP_LT:
        return c < 0;
    default:
        return c <= 0;
    }
}

static bool pred_test(const struct vplan *p, struct vpred *vp, uint32_t row)
{
    const struct cc_column *c = &p->view.cols[vp->col.index];
    uint8_t tag = cell_tag(c, row);
    union cc_value val;
    bson_value_t v;

    switch (tag) {
    case CC_MISSING:
        return vp->missing;
    case CC_NULL:
        return vp->null;
    case CC_BOOL:
        return cell_val(c, row).i ? vp->t : vp->f;
    case CC_STRING:
        val = cell_val(c, row);
        if (val.code < vp->memo_size && vp->memo[val.code] != 0)
            return vp->memo[val.code] == 2;
        vexec_cell_value(c, row, &v);
        bool yes = filter_pred_scalar(p->f, vp->node, &v);
        if (val.code < vp->memo_size)
            vp->memo[val.code] = yes ? 2 : 1;
        return yes;
    case CC_DATE:
        if (vp->fast == FAST_DATE) {
            int64_t ms = cell_val(c, row).i, op = vp->node->ops[0].date_ms;
            return compare_verdict(vp->node->op, (ms > op) - (ms < op));
        }
        break;
    case CC_INT:
    case CC_DOUBLE:
        if (vp->fast == FAST_NUMBER) {
            vexec_cell_value(c, row, &v);
            return compare_verdict(vp->node->op,
                                   value_compare(&v, &vp->node->ops[0].v));
        }
        break;
    default:
        break;
    }
    vexec_cell_value(c, row, &v);
    return filter_pred_scalar(p->f, vp->node, &v);
}

/* pred_test over rows of one chunk, with the common cases (dates in a
 * range, strings already judged) in tight loops. */
static void eval_pred(const struct vplan *p, struct vpred *vp,
                      const uint32_t *sel, uint32_t n, uint8_t *ok)
{
    const struct cc_column *c = &p->view.cols[vp->col.index];
    const struct cc_cells *cells = chunk_of(c, sel[0]);

    if (vp->date_range) {
        uint64_t lo = (uint64_t)vp->date_lo;
        uint64_t span = (uint64_t)vp->date_hi - lo;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t at = sel[i] & (CC_CHUNK - 1);
            ok[i] = cells->tag[at] == CC_DATE
                        ? (uint64_t)cells->val[at].i - lo <= span
                        : pred_test(p, vp, sel[i]);
        }
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t at = sel[i] & (CC_CHUNK - 1);
        if (cells->tag[at] == CC_STRING) {
            uint64_t code = cells->val[at].code;
            if (code < vp->memo_size && vp->memo[code] != 0) {
                ok[i] = vp->memo[code] == 2;
                continue;
            }
        }
        ok[i] = pred_test(p, vp, sel[i]);
    }
}

/* Evaluates node for the rows sel[0..n), all in one chunk: ok[i] says
 * whether sel[i] passes. and/or narrow the rows the next child looks
 * at. */
static void eval_node(const struct vplan *p, struct vnode *node,
                      const uint32_t *sel, uint32_t n, uint8_t *ok)
{
    uint32_t sub[BATCH], map[BATCH];
    uint8_t sub_ok[BATCH];

    if (node->kind == FN_PRED) {
        if (n > 0)
            eval_pred(p, &node->pred, sel, n, ok);
        return;
    }
    bool start = node->kind == FN_AND;
    if (node->nkids == 0)
        memset(ok, 1, n);
    else /* the first child sees every row */
        eval_node(p, &node->kids[0], sel, n, ok);
    for (int k = 1; k < node->nkids; k++) {
        uint32_t m = 0;
        /* Without branches: which rows go on is data, half and half. */
        for (uint32_t i = 0; i < n; i++) {
            sub[m] = sel[i];
            map[m] = i;
            m += ok[i] == start;
        }
        if (m == 0)
            break;
        eval_node(p, &node->kids[k], sub, m, sub_ok);
        /* A row still open takes its verdict from this child: and keeps
         * it while it passes, or takes it when it passes. */
        for (uint32_t j = 0; j < m; j++)
            ok[map[j]] = sub_ok[j];
    }
    if (node->kind == FN_NOR)
        for (uint32_t i = 0; i < n; i++)
            ok[i] = !ok[i];
}

/* --- the batch loop ---------------------------------------------------- */

static bool row_live(const struct cc_view *v, uint32_t r)
{
    const uint64_t *w = v->live[r >> CC_CHUNK_SHIFT];
    uint32_t i = r & (CC_CHUNK - 1);
    return (w[i >> 6] >> (i & 63)) & 1;
}

static int run_units(struct vthread *th, uint32_t n)
{
    int rc = vexec_assign_groups(th, &n);
    return rc == 0 && n > 0 ? vexec_fold_batch(th, n) : rc;
}

/* Turns the selected rows into units (elements, when unwinding) and runs
 * them in batches. */
static int run_rows(struct vthread *th, const uint32_t *sel, uint32_t n)
{
    const struct cc_view *v = &th->p->view;
    uint32_t units = 0;

    if (th->p->req->unwind == NULL) {
        memcpy(th->unit_row, sel, n * sizeof(*sel));
        return run_units(th, n);
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = sel[i];
        uint32_t start = v->elem_start[r >> CC_CHUNK_SHIFT][r & (CC_CHUNK - 1)];
        uint32_t count = v->elem_count[r >> CC_CHUNK_SHIFT][r & (CC_CHUNK - 1)];
        for (uint32_t j = 0; j < count; j++) {
            th->unit_row[units] = r;
            th->unit_elem[units++] = start + j;
            if (units == BATCH) {
                int rc = run_units(th, units);
                if (rc != 0)
                    return rc;
                units = 0;
            }
        }
    }
    return units > 0 ? run_units(th, units) : 0;
}

static int run_chunk(struct vthread *th, uint32_t first, uint32_t end)
{
    uint32_t sel[BATCH];
    uint8_t ok[BATCH];
    uint32_t n = 0;

    for (uint32_t r = first; r < end; r++)
        if (row_live(&th->p->view, r))
            sel[n++] = r;
    if (th->part == 0) /* threads that split by key all read every row */
        th->scanned += n;
    if (th->p->filter != NULL && n > 0) {
        uint32_t kept = 0;
        eval_node(th->p, th->p->filter, sel, n, ok);
        for (uint32_t i = 0; i < n; i++)
            if (ok[i])
                sel[kept++] = sel[i];
        n = kept;
    }
    if (th->part == 0)
        th->matched += n;
    return n > 0 ? run_rows(th, sel, n) : 0;
}

static void thread_main(void *ctx, size_t index)
{
    struct vthread *th = &((struct vthread *)ctx)[index];

    for (uint32_t r = th->row_begin; r < th->row_end && th->rc == 0;
         r += CC_CHUNK) {
        uint32_t end = r + CC_CHUNK < th->row_end ? r + CC_CHUNK : th->row_end;
        th->rc = run_chunk(th, r, end);
        if (th->rc == 0 && th->c.deadline_ns &&
            clock_mono_ns() > th->c.deadline_ns)
            th->rc = err_set(&th->e, ERR_TIMEOUT,
                             "the aggregation ran longer than max_time_ms "
                             "(%llu ms); add a filter or a coarser key, or "
                             "raise --agg-max-time-ms",
                             (unsigned long long)th->c.lim->max_time_ms);
    }
    if (th->rc != 0 && th->e.code == ERR_OK)
        err_set(&th->e, th->rc, "out of memory aggregating");
}

/* --- set-up, merge, tear-down ------------------------------------------ */

static int thread_init(struct vthread *th, struct vplan *p,
                       const struct agg_plan *plan, _Atomic uint64_t *memory,
                       int64_t deadline)
{
    th->p = p;
    arena_init(&th->arena);
    err_init(&th->e);
    th->c = (struct agg_ctx){.req = p->req, .lim = &plan->lim,
                             .arena = &th->arena, .memory = memory,
                             .deadline_ns = deadline, .e = &th->e};
    int rc = vexec_groups_init(th);
    return rc == 0 ? vexec_fold_init(th) : rc;
}

static void thread_release(struct vthread *th)
{
    vexec_fold_release(th);
    vexec_groups_release(th);
    err_release(&th->e);
    arena_release(&th->arena);
}

static int finish(struct agg_plan *plan, struct agg_ctx *c,
                  struct agg_table *table, struct vthread *th, int nthreads,
                  struct agg_result *res)
{
    struct agg_group **groups;
    size_t n;
    uint64_t total;

    int rc = vexec_fold_merge(th, nthreads, table, c, &total);
    if (rc == 0)
        rc = stage_accumulate_finish(table, &groups, &n);
    if (rc != 0 && c->e->code == ERR_OK) /* the merge sets no message */
        return err_set(c->e, rc, "out of memory merging the groups");
    if (rc != 0)
        return rc;
    if (total == 0) /* no group was left out */
        total = n;
    if (c->lim->max_groups && total > c->lim->max_groups)
        return err_set(c->e, ERR_LIMIT,
                       "the request makes more than max_groups (%llu) "
                       "groups; add a filter, group by fewer or coarser "
                       "keys, or raise --agg-max-groups",
                       (unsigned long long)c->lim->max_groups);
    n = stage_having(plan->req, groups, n);
    stage_sort(plan->req, groups, n);
    res->groups = groups;
    res->groups_before_limit = plan->req->nhaving > 0 ? n : (size_t)total;
    res->ngroups = stage_limit(plan->req, n);
    for (int t = 0; t < nthreads; t++) {
        res->scanned += th[t].scanned;
        res->matched += th[t].matched;
    }
    return 0;
}

static int run_threads(struct vplan *p, struct agg_plan *plan,
                       const struct vexec_env *env, struct vthread *th,
                       int nthreads, _Atomic uint64_t *memory,
                       struct err *e)
{
    int64_t deadline = plan->lim.max_time_ms
                           ? clock_mono_ns() +
                                 (int64_t)plan->lim.max_time_ms * 1000000
                           : 0;
    uint32_t nrows = p->view.nrows;
    uint32_t chunks = (nrows + CC_CHUNK - 1) / CC_CHUNK;
    bool by_key = nthreads > 1 && vexec_split_by_key(p);

    for (int t = 0; t < nthreads; t++) {
        if (thread_init(&th[t], p, plan, memory, deadline) != 0)
            return err_set(e, ERR_NOMEM, "out of memory aggregating");
        uint32_t c0 = (uint32_t)((uint64_t)chunks * (uint64_t)t / nthreads);
        uint32_t c1 = (uint32_t)((uint64_t)chunks * (uint64_t)(t + 1) /
                                 nthreads);
        th[t].row_begin = by_key ? 0 : c0 * CC_CHUNK;
        th[t].row_end = by_key ? nrows
                        : c1 * CC_CHUNK < nrows ? c1 * CC_CHUNK
                                                : nrows;
        th[t].part = by_key ? t : 0;
        th[t].nparts = by_key ? nthreads : 1;
    }
    workq_run_all(nthreads > 1 ? env->workers : NULL, (size_t)nthreads,
                  thread_main, th);
    for (int t = 0; t < nthreads; t++)
        if (th[t].rc != 0) {
            err_set(e, th[t].e.code ? th[t].e.code : (enum err_code)th[t].rc,
                    "%s",
                    th[t].e.msg);
            return e->code;
        }
    return 0;
}

int agg_execute_columns(struct agg_plan *plan, const struct vexec_env *env,
                        struct store_txn *t, uint32_t bucket,
                        struct agg_result **out, struct err *e)
{
    struct vplan p = {.req = plan->req};
    struct vthread th[MAX_THREADS];
    struct agg_result *res = arena_zalloc(plan->arena, sizeof(*res));
    _Atomic uint64_t memory = 0;
    int nthreads = 1, rc;

    *out = NULL;
    memset(th, 0, sizeof(th));
    if (env == NULL || env->cc == NULL || res == NULL ||
        plan->req->nkeys > MAX_KEYS || !collect(&p, plan->arena))
        return ERR_UNAVAILABLE;
    rc = colcache_view(env->cc, t, bucket, p.needs, p.nneeds, &p.view, e);
    if (rc != 0)
        return rc;
    if (!columns_fit(&p) ||
        (p.filter && !prepare_filter(&p, plan->arena, p.filter)) ||
        !vexec_prepare_ranges(&p, plan->arena)) {
        colcache_release(env->cc, &p.view);
        return ERR_UNAVAILABLE;
    }
    vexec_prepare_keys(&p);
    vexec_prepare_metrics(&p);
    if (env->workers != NULL && p.view.nrows >= PARALLEL_MIN_ROWS)
        nthreads = (int)workq_threads(env->workers) + 1;
    if (nthreads > MAX_THREADS)
        nthreads = MAX_THREADS;

    rc = run_threads(&p, plan, env, th, nthreads, &memory, e);
    if (rc == 0 && filter_failed(plan->req->filter))
        rc = err_set(e, ERR_LIMIT,
                     "a regular expression in filters hit its match limit "
                     "(too much backtracking); simplify the pattern");
    struct agg_ctx c = {.req = plan->req, .lim = &plan->lim,
                        .arena = plan->arena, .memory = &memory,
                        .precharged = true, .e = e};
    if (rc == 0)
        rc = stage_accumulate_open(&c, &res->table);
    if (rc == 0)
        rc = finish(plan, &c, res->table, th, nthreads, res);
    for (int i = 0; i < nthreads; i++)
        thread_release(&th[i]);
    if (rc != 0) {
        agg_result_free(res);
        colcache_release(env->cc, &p.view);
        return rc == ERR_UNAVAILABLE ? ERR_UNAVAILABLE : rc;
    }
    res->view_cc = env->cc;
    res->view = p.view;
    *out = res;
    return 0;
}
