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
 * positions, each key maps every unit of the batch to a small index (a
 * string's dictionary code, or a number kept in a little hash map), the
 * indexes make a group id, and each metric folds the batch into its
 * groups. Each thread keeps its own groups; they are folded into one
 * table in row order at the end, so first, last and push keep storage
 * order and sums are exact (sum.h).
 */
#include <stdlib.h>
#include <string.h>

#include "base/workq.h"
#include "query/agg_internal.h"
#include "query/filter_internal.h"
#include "query/vexec.h"

#define BATCH CC_CHUNK
#define MAX_THREADS 8
/* TUNING: a request over fewer rows than this runs on one thread: the
 * hand-over costs more than it saves. */
#define PARALLEL_MIN_ROWS 65536

/* --- the plan over columns --------------------------------------------- */

struct vcol {
    int index;               /* in the view's columns */
    bool element;            /* read at element positions */
};

struct vpred {
    const struct fnode *node;
    struct vcol col;
    uint8_t *memo;           /* per string code: 0 unknown, 1 no, 2 yes */
    uint64_t memo_size;
    bool missing, null, f, t;/* verdicts that do not depend on the value */
    int fast;                /* FAST_* for numbers and dates */
};

enum { FAST_NONE, FAST_NUMBER, FAST_DATE };

struct vnode {
    enum fkind kind;
    struct vnode *kids;
    int nkids;
    struct vpred pred;
};

struct vkey {
    const struct agg_key *k;
    struct vcol col;
    uint64_t dict_size;
    const char **labels;     /* KEY_RANGE: the label of each index */
    int nlabels;
    int *label_index;        /* KEY_RANGE: range -> deduplicated index */
};

struct vmetric {
    const struct agg_metric *m;
    struct vcol col;         /* index -1: count without a field */
};

struct vplan {
    const struct agg_request *req;
    struct cc_view view;
    struct cc_need *needs;
    int nneeds;
    struct vnode *filter;
    struct vkey *keys;
    struct vmetric *metrics;
    const struct filter *f;
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

static inline const struct cc_cells *chunk_of(const struct cc_column *c,
                                              uint32_t i)
{
    return c->chunks[i >> CC_CHUNK_SHIFT];
}

static inline uint8_t cell_tag(const struct cc_column *c, uint32_t i)
{
    return chunk_of(c, i)->tag[i & (CC_CHUNK - 1)];
}

static inline union cc_value cell_val(const struct cc_column *c, uint32_t i)
{
    return chunk_of(c, i)->val[i & (CC_CHUNK - 1)];
}

/* The cell as a value (a view: strings point into the dictionary).
 * Returns false for a missing cell. */
static bool cell_value(const struct cc_column *c, uint32_t i, bson_value_t *v)
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
        cell_value(c, row, &v);
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
            cell_value(c, row, &v);
            return compare_verdict(vp->node->op,
                                   value_compare(&v, &vp->node->ops[0].v));
        }
        break;
    default:
        break;
    }
    cell_value(c, row, &v);
    return filter_pred_scalar(p->f, vp->node, &v);
}

/* Evaluates node for the rows sel[0..n): ok[i] says whether sel[i]
 * passes. and/or narrow the rows the next child looks at. */
static void eval_node(const struct vplan *p, struct vnode *node,
                      const uint32_t *sel, uint32_t n, uint8_t *ok)
{
    uint32_t sub[BATCH], map[BATCH];
    uint8_t sub_ok[BATCH];

    if (node->kind == FN_PRED) {
        for (uint32_t i = 0; i < n; i++)
            ok[i] = pred_test(p, &node->pred, sel[i]);
        return;
    }
    bool start = node->kind == FN_AND;
    memset(ok, start || node->nkids == 0, n);
    for (int k = 0; k < node->nkids; k++) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++)
            if (ok[i] == start) {
                sub[m] = sel[i];
                map[m++] = i;
            }
        if (m == 0)
            break;
        eval_node(p, &node->kids[k], sub, m, sub_ok);
        for (uint32_t j = 0; j < m; j++)
            if (sub_ok[j] != start)
                ok[map[j]] = !start;
    }
    if (node->kind == FN_NOR)
        for (uint32_t i = 0; i < n; i++)
            ok[i] = !ok[i];
}

/* --- keys -------------------------------------------------------------- */

/* A small map from a 64-bit atom to a non-zero value, per thread. */
struct atom_map {
    uint64_t *atoms;
    uint32_t *values;        /* 0: empty slot */
    uint64_t nslots, n;
};

static uint64_t atom_slot_of(uint64_t atom, uint64_t nslots)
{
    return ((atom * 0x9e3779b97f4a7c15ULL) >> 17) & (nslots - 1);
}

static int atom_grow(struct atom_map *m)
{
    uint64_t nslots = m->nslots ? m->nslots * 2 : 256;
    uint64_t *atoms = calloc(nslots, sizeof(*atoms));
    uint32_t *values = calloc(nslots, sizeof(*values));

    if (atoms == NULL || values == NULL) {
        free(atoms);
        free(values);
        return ERR_NOMEM;
    }
    for (uint64_t i = 0; i < m->nslots; i++) {
        if (m->values[i] == 0)
            continue;
        uint64_t at = atom_slot_of(m->atoms[i], nslots);
        while (values[at] != 0)
            at = (at + 1) & (nslots - 1);
        atoms[at] = m->atoms[i];
        values[at] = m->values[i];
    }
    free(m->atoms);
    free(m->values);
    m->atoms = atoms;
    m->values = values;
    m->nslots = nslots;
    return 0;
}

/* The value slot of atom (0 when the atom is new: the caller stores a
 * non-zero value in it), or NULL when out of memory. */
static uint32_t *atom_slot(struct atom_map *m, uint64_t atom)
{
    if ((m->n + 1) * 2 > m->nslots && atom_grow(m) != 0)
        return NULL;
    uint64_t at = atom_slot_of(atom, m->nslots);
    for (; m->values[at] != 0; at = (at + 1) & (m->nslots - 1))
        if (m->atoms[at] == atom)
            return &m->values[at];
    m->atoms[at] = atom;
    m->n++;
    return &m->values[at];
}

static void atom_map_free(struct atom_map *m)
{
    free(m->atoms);
    free(m->values);
}

/* Numbers by value (1 and 1.0 alike), bools, dates and date keys each in
 * a map of their own, so that an atom is the exact 64-bit payload. */
enum atom_class { ATOM_INT, ATOM_DOUBLE, ATOM_BOOL, ATOM_DATE,
                  ATOM_CLASSES };

static uint64_t number_atom(const bson_value_t *v, int *cls)
{
    double d = value_as_double(v);

    if (v->value_type != BSON_TYPE_DOUBLE) {
        *cls = ATOM_INT;
        return (uint64_t)v->value.v_int64;
    }
    if (d == (double)(int64_t)d && d > -9.2e18 && d < 9.2e18) {
        *cls = ATOM_INT;
        return (uint64_t)(int64_t)d;
    }
    if (d != d)
        d = __builtin_nan("");
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    *cls = ATOM_DOUBLE;
    return bits;
}

/* --- per thread -------------------------------------------------------- */

/* The distinct dictionary codes a group met, for count_distinct and
 * add_to_set over strings: cheaper than hashing the strings, turned into
 * values once at the end. */
struct codeset {
    uint32_t *slots;         /* code + 1; 0 is empty */
    uint32_t n, nslots;
};

/* Date parts that depend on the day only, remembered per day. */
#define DAY_MEMO 512
struct day_memo {
    int64_t day[DAY_MEMO];
    int64_t value[DAY_MEMO];
    bool set[DAY_MEMO];
};

struct vgroup {
    bson_value_t *keys;
    struct agg_acc *accs;
};

struct vthread {
    struct vplan *p;
    struct agg_ctx c;
    struct arena arena;
    struct err e;
    uint32_t row_begin, row_end;
    uint64_t scanned, matched;
    int rc;

    struct atom_map *kmaps;  /* per key and atom class: atom -> index */
    uint32_t *key_count;     /* per key: indexes handed out */
    struct atom_map tuples;  /* index tuple -> group */
    uint32_t **key_index;    /* per key: per unit of the batch */
    uint32_t *gid;
    uint32_t *unit_row, *unit_elem;

    struct codeset **codes;  /* per group and metric: distinct strings */
    uint64_t codes_cap;
    struct day_memo *memo;   /* per key: day-level date parts */

    struct vgroup *groups;   /* by group id (1-based; 0 unused) */
    uint64_t ngroups, cap_groups;
    uint32_t *direct;        /* one string key: code + 2 -> group id */
    uint64_t direct_size;
};

static int grow_groups(struct vthread *th)
{
    uint64_t cap = th->cap_groups ? th->cap_groups * 2 : 256;
    struct vgroup *g = realloc(th->groups, cap * sizeof(*g));

    if (g == NULL)
        return ERR_NOMEM;
    th->groups = g;
    th->cap_groups = cap;
    return 0;
}

/* A new group whose keys are the unit's key values. */
static uint32_t new_group(struct vthread *th, const bson_value_t *keys)
{
    const struct agg_request *req = th->p->req;

    if (th->c.lim->max_groups && th->ngroups >= th->c.lim->max_groups) {
        err_set(&th->e, ERR_LIMIT,
                "the request makes more than max_groups (%llu) groups; add "
                "a filter, group by fewer or coarser keys, or raise "
                "--agg-max-groups",
                (unsigned long long)th->c.lim->max_groups);
        return 0;
    }
    if (th->ngroups + 1 >= th->cap_groups && grow_groups(th) != 0)
        return 0;
    struct vgroup *g = &th->groups[++th->ngroups];
    g->keys = arena_alloc(&th->arena, (size_t)(req->nkeys + 1) *
                                          sizeof(*g->keys));
    g->accs = arena_zalloc(&th->arena, (size_t)(req->nmetrics + 1) *
                                           sizeof(*g->accs));
    if (g->keys == NULL || g->accs == NULL)
        return 0;
    memcpy(g->keys, keys, (size_t)req->nkeys * sizeof(*keys));
    return (uint32_t)th->ngroups;
}

/* The key value of one unit (null when it has none), and its atom and
 * atom class. */
/* Units whose value depends on the day alone (and on nothing finer). */
static bool day_level(const struct agg_key *k)
{
    enum clock_unit u = k->unit;
    if (k->kind == KEY_TRUNC)
        return u == CLOCK_YEAR || u == CLOCK_MONTH;
    return u == CLOCK_YEAR || u == CLOCK_MONTH || u == CLOCK_DAY ||
           u == CLOCK_DAY_OF_YEAR || u == CLOCK_WEEK ||
           u == CLOCK_DAY_OF_WEEK;
}

/* date_trunc or date_part of ms, remembered per day when only the day
 * matters. */
static int64_t date_key(struct day_memo *memo, const struct agg_key *k,
                        int64_t ms)
{
    if (!day_level(k))
        return k->kind == KEY_TRUNC ? clock_trunc(ms, k->unit)
                                    : clock_part(ms, k->unit);
    int64_t day = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
    uint32_t at = (uint32_t)day & (DAY_MEMO - 1);
    if (!memo->set[at] || memo->day[at] != day) {
        int64_t start = day * 86400000;
        memo->value[at] = k->kind == KEY_TRUNC ? clock_trunc(start, k->unit)
                                               : clock_part(start, k->unit);
        memo->day[at] = day;
        memo->set[at] = true;
    }
    return memo->value[at];
}

static uint64_t key_atom(const struct vplan *p, const struct vkey *k,
                         struct day_memo *memo, uint32_t unit,
                         bson_value_t *out, int *atom_class)
{
    const struct cc_column *c = &p->view.cols[k->col.index];
    bson_value_t v;
    int64_t ms;
    int cls = ATOM_INT;
    uint64_t payload = 0;
    bool found = cell_value(c, unit, &v);

    out->value_type = BSON_TYPE_NULL;
    switch (k->k->kind) {
    case KEY_VALUE:
        if (!found || v.value_type == BSON_TYPE_NULL)
            break;
        *out = v;
        if (v.value_type == BSON_TYPE_BOOL)
            cls = ATOM_BOOL, payload = v.value.v_bool;
        else if (v.value_type == BSON_TYPE_DATE_TIME)
            cls = ATOM_DATE, payload = (uint64_t)v.value.v_datetime;
        else
            payload = number_atom(&v, &cls);
        break;
    case KEY_TRUNC:
    case KEY_PART:
        if (!found)
            break;
        if (v.value_type == BSON_TYPE_DATE_TIME)
            ms = v.value.v_datetime;
        else if (v.value_type != BSON_TYPE_UTF8 ||
                 !clock_parse_iso8601(v.value.v_utf8.str, v.value.v_utf8.len,
                                      &ms))
            break;
        if (k->k->kind == KEY_TRUNC) {
            out->value_type = BSON_TYPE_DATE_TIME;
            out->value.v_datetime = date_key(memo, k->k, ms);
            cls = ATOM_DATE, payload = (uint64_t)out->value.v_datetime;
        } else {
            out->value_type = BSON_TYPE_INT32;
            out->value.v_int32 = (int32_t)date_key(memo, k->k, ms);
            cls = ATOM_INT, payload = (uint64_t)(int64_t)out->value.v_int32;
        }
        break;
    default:
        break;
    }
    *atom_class = cls;
    return payload;
}

/* The dense index of one unit's key: strings by code, everything else
 * through the atom map; index 1 is null. */
static uint32_t key_index(struct vthread *th, int ki, uint32_t unit,
                          bson_value_t *value)
{
    const struct vplan *p = th->p;
    const struct vkey *k = &p->keys[ki];
    const struct cc_column *c = &p->view.cols[k->col.index];

    if (k->k->kind == KEY_RANGE) {
        bson_value_t v;
        int idx = k->nlabels - 1;   /* the default label */
        if (cell_value(c, unit, &v) && value_is_number(v.value_type)) {
            double d = value_as_double(&v);
            const struct agg_key *rk = k->k;
            if (d >= rk->bounds[0] && d < rk->bounds[rk->nbounds - 1]) {
                int lo = 0, hi = rk->nbounds - 1;
                while (hi - lo > 1) {
                    int mid = (lo + hi) / 2;
                    if (d >= rk->bounds[mid])
                        lo = mid;
                    else
                        hi = mid;
                }
                idx = lo;
            }
        }
        idx = k->label_index[idx];
        value->value_type = BSON_TYPE_UTF8;
        value->value.v_utf8.str = (char *)k->labels[idx];
        value->value.v_utf8.len = (uint32_t)strlen(k->labels[idx]);
        return (uint32_t)idx + 1;
    }
    if (k->k->kind == KEY_VALUE && cell_tag(c, unit) == CC_STRING) {
        uint64_t code = cell_val(c, unit).code;
        cell_value(c, unit, value);
        return (uint32_t)(code + 2);
    }
    int cls;
    uint64_t atom = key_atom(p, k, &th->memo[ki], unit, value, &cls);
    if (value->value_type == BSON_TYPE_NULL)
        return 1;
    /* Bounded date parts (all but the year) index directly. */
    if (k->k->kind == KEY_PART && k->k->unit != CLOCK_YEAR)
        return 2 + (uint32_t)value->value.v_int32;
    uint32_t *slot = atom_slot(&th->kmaps[ki * ATOM_CLASSES + cls], atom);
    if (slot == NULL)
        return 0;
    if (*slot == 0)
        *slot = ++th->key_count[ki];
    return (uint32_t)(k->dict_size + 1) + *slot;
}

/* The group of a tuple of key indexes, created on first sight. */
static uint32_t group_of(struct vthread *th, uint64_t tuple,
                         const bson_value_t *keys)
{
    uint32_t *slot;

    if (th->p->req->nkeys == 1 && tuple < th->direct_size)
        slot = &th->direct[tuple];
    else if ((slot = atom_slot(&th->tuples, tuple)) == NULL)
        return 0;
    if (*slot == 0)
        *slot = new_group(th, keys);
    return *slot;
}

/* Group ids for the batch's units. */
static int assign_groups(struct vthread *th, uint32_t n)
{
    const struct agg_request *req = th->p->req;
    int bits = 64 / req->nkeys;
    bson_value_t keys[8];

    for (uint32_t i = 0; i < n; i++) {
        uint64_t tuple = 0;
        for (int k = 0; k < req->nkeys; k++) {
            const struct vkey *vk = &th->p->keys[k];
            uint32_t unit = vk->col.element ? th->unit_elem[i]
                                            : th->unit_row[i];
            uint32_t idx = key_index(th, k, unit, &keys[k]);
            if (idx == 0)
                return err_set(&th->e, ERR_NOMEM, "out of memory");
            if (bits < 64 && idx >= ((uint64_t)1 << bits))
                return ERR_UNAVAILABLE; /* keys too varied to pack */
            tuple = bits < 64 ? tuple << bits | idx : idx;
        }
        th->gid[i] = group_of(th, tuple, keys);
        if (th->gid[i] == 0)
            return th->e.code ? th->e.code : ERR_NOMEM;
    }
    return 0;
}

/* --- metrics ----------------------------------------------------------- */

/* min and max of two dates or two numbers, without the general order:
 * true when handled. */
static bool fast_extreme(struct agg_acc *a, const bson_value_t *v, bool min)
{
    int c;

    if (!a->has)
        return false;
    bson_type_t x = v->value_type, y = a->v.value_type;
    if (x == BSON_TYPE_DATE_TIME && y == BSON_TYPE_DATE_TIME)
        c = (v->value.v_datetime > a->v.value.v_datetime) -
            (v->value.v_datetime < a->v.value.v_datetime);
    else if (x == BSON_TYPE_INT64 && y == BSON_TYPE_INT64)
        c = (v->value.v_int64 > a->v.value.v_int64) -
            (v->value.v_int64 < a->v.value.v_int64);
    else if (value_is_number(x) && value_is_number(y))
        c = value_compare(v, &a->v);
    else
        return false;
    if (min ? c < 0 : c > 0)
        a->v = *v;
    return true;
}

static int codeset_grow(struct codeset *cs)
{
    uint32_t nslots = cs->nslots ? cs->nslots * 2 : 16;
    uint32_t *slots = calloc(nslots, sizeof(*slots));

    if (slots == NULL)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < cs->nslots; i++) {
        if (cs->slots[i] == 0)
            continue;
        uint32_t at = (cs->slots[i] * 2654435761u) & (nslots - 1);
        while (slots[at] != 0)
            at = (at + 1) & (nslots - 1);
        slots[at] = cs->slots[i];
    }
    free(cs->slots);
    cs->slots = slots;
    cs->nslots = nslots;
    return 0;
}

static int codeset_insert(struct codeset *cs, uint32_t code, bool *added);

/* A string new to its set is charged to the memory budget as the row path
 * charges it (agg_valset): its value and its slot. */
static int charge_code(struct vthread *th, int m, uint32_t code)
{
    const struct cc_column *col =
        &th->p->view.cols[th->p->metrics[m].col.index];
    bson_value_t v = {.value_type = BSON_TYPE_UTF8};

    v.value.v_utf8.str =
        (char *)cc_dict_string(col->dict, code, &v.value.v_utf8.len);
    return agg_charge(&th->c, value_size(&v) + sizeof(uint64_t) +
                                  2 * sizeof(uint32_t));
}

static int codeset_add(struct vthread *th, uint32_t g, int m, uint32_t code)
{
    uint64_t at_set = (uint64_t)g * (uint64_t)th->p->req->nmetrics +
                      (uint64_t)m;

    while (at_set >= th->codes_cap) {
        uint64_t cap = th->codes_cap ? th->codes_cap * 2 : 1024;
        struct codeset **p = realloc(th->codes, cap * sizeof(*p));
        if (p == NULL)
            return ERR_NOMEM;
        memset(p + th->codes_cap, 0, (cap - th->codes_cap) * sizeof(*p));
        th->codes = p;
        th->codes_cap = cap;
    }
    struct codeset *cs = th->codes[at_set];
    if (cs == NULL && (cs = th->codes[at_set] = calloc(1, sizeof(*cs))) == NULL)
        return ERR_NOMEM;
    bool added;
    int rc = codeset_insert(cs, code, &added);
    return rc == 0 && added ? charge_code(th, m, code) : rc;
}

static int codeset_insert(struct codeset *cs, uint32_t code, bool *added)
{
    *added = false;
    if ((cs->n + 1) * 2 > cs->nslots) {
        int rc = codeset_grow(cs);
        if (rc != 0)
            return rc;
    }
    uint32_t key = code + 1;
    uint32_t at = (key * 2654435761u) & (cs->nslots - 1);
    for (; cs->slots[at] != 0; at = (at + 1) & (cs->nslots - 1))
        if (cs->slots[at] == key)
            return 0;
    cs->slots[at] = key;
    cs->n++;
    *added = true;
    return 0;
}

static int fold_metric(struct vthread *th, int mi, uint32_t n)
{
    const struct vmetric *vm = &th->p->metrics[mi];
    const struct agg_metric *m = vm->m;
    const struct cc_column *c = vm->col.index >= 0
                                    ? &th->p->view.cols[vm->col.index]
                                    : NULL;
    const uint32_t *units = vm->col.element ? th->unit_elem : th->unit_row;

    for (uint32_t i = 0; i < n; i++) {
        struct agg_acc *a = &th->groups[th->gid[i]].accs[mi];
        if (c == NULL) {
            a->n++;
            continue;
        }
        uint8_t tag = cell_tag(c, units[i]);
        if (m->fn == AGG_COUNT) {
            a->n += tag != CC_MISSING && tag != CC_NULL;
        } else if (m->fn == AGG_SUM || m->fn == AGG_AVG) {
            if (tag == CC_INT) {
                exact_sum_add_int(&a->sum, cell_val(c, units[i]).i);
                a->n++;
            } else if (tag == CC_DOUBLE) {
                exact_sum_add_double(&a->sum, cell_val(c, units[i]).d);
                a->n++;
            }
        } else if (tag == CC_STRING && (m->fn == AGG_COUNT_DISTINCT ||
                                        m->fn == AGG_ADD_TO_SET)) {
            int rc = codeset_add(th, th->gid[i], mi,
                                 (uint32_t)cell_val(c, units[i]).code);
            if (rc != 0)
                return rc;
        } else {
            bson_value_t v;
            bool found = cell_value(c, units[i], &v);
            if ((m->fn == AGG_MIN || m->fn == AGG_MAX) && found &&
                fast_extreme(a, &v, m->fn == AGG_MIN))
                continue;
            int rc = agg_acc_add(&th->c, m, a, &v, found, false);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
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
    int rc = assign_groups(th, n);

    for (int m = 0; rc == 0 && m < th->p->req->nmetrics; m++)
        rc = fold_metric(th, m, n);
    return rc;
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
    th->scanned += n;
    if (th->p->filter != NULL && n > 0) {
        uint32_t kept = 0;
        eval_node(th->p, th->p->filter, sel, n, ok);
        for (uint32_t i = 0; i < n; i++)
            if (ok[i])
                sel[kept++] = sel[i];
        n = kept;
    }
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
    const struct agg_request *req = p->req;

    th->p = p;
    arena_init(&th->arena);
    err_init(&th->e);
    th->c = (struct agg_ctx){.req = req, .lim = &plan->lim,
                             .arena = &th->arena, .memory = memory,
                             .deadline_ns = deadline, .e = &th->e};
    th->kmaps = calloc((size_t)(req->nkeys + 1) * ATOM_CLASSES,
                       sizeof(*th->kmaps));
    th->key_count = calloc((size_t)req->nkeys + 1, sizeof(*th->key_count));
    th->memo = calloc((size_t)req->nkeys + 1, sizeof(*th->memo));
    th->key_index = calloc((size_t)req->nkeys + 1, sizeof(*th->key_index));
    th->gid = malloc(BATCH * sizeof(*th->gid));
    th->unit_row = malloc(BATCH * sizeof(uint32_t));
    th->unit_elem = malloc(BATCH * sizeof(uint32_t));
    if (th->kmaps == NULL || th->key_count == NULL || th->memo == NULL ||
        th->key_index == NULL ||
        th->gid == NULL ||
        th->unit_row == NULL || th->unit_elem == NULL || grow_groups(th))
        return ERR_NOMEM;
    for (int k = 0; k < req->nkeys; k++)
        if ((th->key_index[k] = malloc(BATCH * sizeof(uint32_t))) == NULL)
            return ERR_NOMEM;
    if (req->nkeys == 1 && p->keys[0].k->kind == KEY_VALUE) {
        th->direct_size = p->keys[0].dict_size + 2;
        th->direct = calloc(th->direct_size, sizeof(*th->direct));
        if (th->direct == NULL)
            return ERR_NOMEM;
    }
    return 0;
}

static void thread_release(struct vthread *th, int nmetrics)
{
    const struct agg_request *req = th->p ? th->p->req : NULL;

    for (uint64_t g = 1; th->groups && g <= th->ngroups; g++)
        for (int m = 0; m < nmetrics; m++) {
            agg_valset_free(th->groups[g].accs[m].set);
            agg_vallist_free(th->groups[g].accs[m].list);
        }
    for (int k = 0; req && th->kmaps && k < req->nkeys * ATOM_CLASSES; k++)
        atom_map_free(&th->kmaps[k]);
    for (int k = 0; req && th->key_index && k < req->nkeys; k++)
        free(th->key_index[k]);
    atom_map_free(&th->tuples);
    for (uint64_t i = 0; i < th->codes_cap; i++) {
        if (th->codes[i] != NULL)
            free(th->codes[i]->slots);
        free(th->codes[i]);
    }
    free(th->codes);
    free(th->memo);
    free(th->kmaps);
    free(th->key_count);
    free(th->key_index);
    free(th->gid);
    free(th->unit_row);
    free(th->unit_elem);
    free(th->groups);
    free(th->direct);
    err_release(&th->e);
    arena_release(&th->arena);
}

/* Range labels deduplicated: two ranges (or a range and the default)
 * that print alike are one group, as on the row path. */
static bool prepare_ranges(struct vplan *p, struct arena *a)
{
    for (int i = 0; i < p->req->nkeys; i++) {
        struct vkey *k = &p->keys[i];
        const struct agg_key *rk = k->k;
        if (rk->kind != KEY_RANGE)
            continue;
        int n = rk->nbounds; /* nbounds-1 labels and the default */
        k->labels = arena_zalloc(a, (size_t)n * sizeof(char *));
        k->label_index = arena_zalloc(a, (size_t)n * sizeof(int));
        if (k->labels == NULL || k->label_index == NULL)
            return false;
        for (int j = 0; j < n; j++) {
            const char *label = j < n - 1 ? rk->labels[j] : rk->default_label;
            int found = -1;
            for (int x = 0; x < k->nlabels && found < 0; x++)
                if (strcmp(k->labels[x], label) == 0)
                    found = x;
            if (found < 0) {
                found = k->nlabels;
                k->labels[k->nlabels++] = label;
            }
            k->label_index[j] = found;
        }
    }
    return true;
}

static void prepare_keys(struct vplan *p)
{
    for (int i = 0; i < p->req->nkeys; i++)
        p->keys[i].dict_size =
            cc_dict_size(p->view.cols[p->keys[i].col.index].dict);
}

/* The code sets of every thread, united per group of the table. */
struct final_codes {
    struct codeset **sets;   /* by table group index and metric */
    uint64_t cap;
};

static int unite_codes(struct vthread *th, struct final_codes *fc,
                       uint64_t g, const struct agg_group *into)
{
    int nm = th->p->req->nmetrics;

    for (int m = 0; m < nm; m++) {
        uint64_t from_at = g * (uint64_t)nm + (uint64_t)m;
        uint64_t to_at = (uint64_t)into->index * (uint64_t)nm + (uint64_t)m;
        if (from_at >= th->codes_cap || th->codes[from_at] == NULL)
            continue;
        while (to_at >= fc->cap) {
            uint64_t cap = fc->cap ? fc->cap * 2 : 1024;
            struct codeset **p = realloc(fc->sets, cap * sizeof(*p));
            if (p == NULL)
                return ERR_NOMEM;
            memset(p + fc->cap, 0, (cap - fc->cap) * sizeof(*p));
            fc->sets = p;
            fc->cap = cap;
        }
        struct codeset *src = th->codes[from_at];
        if (fc->sets[to_at] == NULL) {
            fc->sets[to_at] = src; /* taken over */
            th->codes[from_at] = NULL;
            continue;
        }
        for (uint32_t i = 0; i < src->nslots; i++) {
            if (src->slots[i] == 0)
                continue;
            bool added;
            int rc = codeset_insert(fc->sets[to_at], src->slots[i] - 1,
                                    &added);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Each united code set becomes part of its accumulator: a count for
 * count_distinct, values for add_to_set. */
static int apply_codes(struct vthread *th, struct final_codes *fc,
                       struct agg_table *table, struct agg_ctx *c)
{
    struct agg_group **groups;
    size_t n;
    int nm = th->p->req->nmetrics;

    agg_table_groups(table, &groups, &n);
    for (uint64_t at = 0; at < fc->cap; at++) {
        struct codeset *cs = fc->sets[at];
        if (cs == NULL)
            continue;
        struct agg_group *g = groups[at / (uint64_t)nm];
        int m = (int)(at % (uint64_t)nm);
        const struct vmetric *vm = &th->p->metrics[m];
        if (vm->m->fn == AGG_COUNT_DISTINCT) {
            g->accs[m].n += cs->n;
            continue;
        }
        const struct cc_column *col = &th->p->view.cols[vm->col.index];
        for (uint32_t i = 0; i < cs->nslots; i++) {
            if (cs->slots[i] == 0)
                continue;
            bson_value_t v = {.value_type = BSON_TYPE_UTF8};
            v.value.v_utf8.str = (char *)cc_dict_string(
                col->dict, cs->slots[i] - 1, &v.value.v_utf8.len);
            int rc = agg_acc_add(c, vm->m, &g->accs[m], &v, true, false);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static void final_codes_release(struct final_codes *fc)
{
    for (uint64_t i = 0; i < fc->cap; i++) {
        if (fc->sets[i] != NULL)
            free(fc->sets[i]->slots);
        free(fc->sets[i]);
    }
    free(fc->sets);
}

/* Folds every thread's groups, in thread (row) order, into the table. */
static int merge(struct vthread *th, int nthreads, struct agg_table *table,
                 struct agg_ctx *c)
{
    struct final_codes fc = {0};
    int rc = 0;

    for (int t = 0; t < nthreads && rc == 0; t++)
        for (uint64_t g = 1; g <= th[t].ngroups && rc == 0; g++) {
            struct agg_group *into;
            rc = stage_accumulate_fold(table, th[t].groups[g].keys,
                                       th[t].groups[g].accs, &into);
            if (rc == 0)
                rc = unite_codes(&th[t], &fc, g, into);
        }
    if (rc == 0)
        rc = apply_codes(&th[0], &fc, table, c);
    final_codes_release(&fc);
    return rc;
}

static int finish(struct agg_plan *plan, struct agg_ctx *c,
                  struct agg_table *table, struct vthread *th, int nthreads,
                  struct agg_result *res)
{
    struct agg_group **groups;
    size_t n;

    int rc = merge(th, nthreads, table, c);
    if (rc == 0)
        rc = stage_accumulate_finish(table, &groups, &n);
    if (rc != 0)
        return rc;
    if (c->lim->max_groups && n > c->lim->max_groups)
        return err_set(c->e, ERR_LIMIT,
                       "the request makes more than max_groups (%llu) "
                       "groups; add a filter, group by fewer or coarser "
                       "keys, or raise --agg-max-groups",
                       (unsigned long long)c->lim->max_groups);
    n = stage_having(plan->req, groups, n);
    stage_sort(plan->req, groups, n);
    res->groups = groups;
    res->groups_before_limit = n;
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

    for (int t = 0; t < nthreads; t++) {
        if (thread_init(&th[t], p, plan, memory, deadline) != 0)
            return err_set(e, ERR_NOMEM, "out of memory aggregating");
        uint32_t c0 = (uint32_t)((uint64_t)chunks * (uint64_t)t / nthreads);
        uint32_t c1 = (uint32_t)((uint64_t)chunks * (uint64_t)(t + 1) /
                                 nthreads);
        th[t].row_begin = c0 * CC_CHUNK;
        th[t].row_end = c1 * CC_CHUNK < nrows ? c1 * CC_CHUNK : nrows;
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
        plan->req->nkeys > 8 || !collect(&p, plan->arena))
        return ERR_UNAVAILABLE;
    rc = colcache_view(env->cc, t, bucket, p.needs, p.nneeds, &p.view, e);
    if (rc != 0)
        return rc;
    if (!columns_fit(&p) ||
        (p.filter && !prepare_filter(&p, plan->arena, p.filter)) ||
        !prepare_ranges(&p, plan->arena)) {
        colcache_release(env->cc, &p.view);
        return ERR_UNAVAILABLE;
    }
    prepare_keys(&p);
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
        thread_release(&th[i], plan->req->nmetrics);
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
