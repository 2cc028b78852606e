/*
 * vexec_fold.c - the column path's metrics: each unit of a batch folded
 * into its group, and the threads' groups merged at the end.
 *
 * Three ways in, cheapest first:
 *
 *   lanes     counts, sums and averages, min and max of numbers or
 *             dates: dense arrays per metric indexed by group id (struct
 *             vlane), folded into the table by the merge;
 *   codesets  count_distinct and add_to_set over strings: the distinct
 *             dictionary codes per group, made values at the very end;
 *   the rest  the shared accumulators (agg_acc_add), as the row path.
 *
 * A min or max lane holds one kind of cell per group. The first cell of
 * another kind spills the group's lane value into its accumulator, and
 * from then on that group's values go there, in row order: the answer is
 * the one agg_acc_add() would give for the same rows.
 */
#include <stdlib.h>
#include <string.h>

#include "query/vexec_internal.h"

/* --- lanes ------------------------------------------------------------- */

static enum lane_kind lane_kind_of(const struct vmetric *vm)
{
    switch (vm->m->fn) {
    case AGG_COUNT:
        return vm->col.index < 0 ? LANE_COUNT_ROWS : LANE_COUNT_FIELD;
    case AGG_SUM:
    case AGG_AVG:
        return LANE_SUM;
    case AGG_MIN:
        return LANE_MIN;
    case AGG_MAX:
        return LANE_MAX;
    default:
        return LANE_NONE;
    }
}

static int grow_array(void **array, size_t elem, uint64_t old_cap,
                      uint64_t cap)
{
    uint8_t *p = realloc(*array, cap * elem);

    if (p == NULL)
        return ERR_NOMEM;
    memset(p + old_cap * elem, 0, (cap - old_cap) * elem);
    *array = p;
    return 0;
}

static int grow_lane(struct vlane *l, uint64_t old_cap, uint64_t cap)
{
    int rc = 0;

    switch (l->kind) {
    case LANE_COUNT_ROWS:
    case LANE_COUNT_FIELD:
        return grow_array((void **)&l->n, sizeof(*l->n), old_cap, cap);
    case LANE_SUM:
        rc = grow_array((void **)&l->n, sizeof(*l->n), old_cap, cap);
        if (rc == 0)
            rc = grow_array((void **)&l->isum, sizeof(*l->isum), old_cap,
                            cap);
        if (rc == 0)
            rc = grow_array((void **)&l->fixed, sizeof(*l->fixed), old_cap,
                            cap);
        break;
    case LANE_MIN:
    case LANE_MAX:
        rc = grow_array((void **)&l->best, sizeof(*l->best), old_cap, cap);
        break;
    default:
        return 0;
    }
    if (rc == 0)
        rc = grow_array((void **)&l->state, sizeof(*l->state), old_cap, cap);
    return rc;
}

/* Room in every lane for the thread's groups so far. */
static int lanes_fit(struct vthread *th)
{
    uint64_t need = th->ngroups + 1;

    if (need <= th->lane_cap)
        return 0;
    uint64_t cap = th->lane_cap ? th->lane_cap : 256;
    while (cap < need)
        cap *= 2;
    for (int m = 0; m < th->p->req->nmetrics; m++)
        if (grow_lane(&th->lanes[m], th->lane_cap, cap) != 0)
            return err_set(&th->e, ERR_NOMEM, "out of memory aggregating");
    th->lane_cap = cap;
    return 0;
}

/* The accumulator of group g's metric mi, made on first need: a group
 * whose metrics all stay in lanes never has any. NULL: out of memory. */
static struct agg_acc *acc_of(struct vthread *th, uint32_t g, int mi)
{
    struct vgroup *grp = &th->groups[g];

    if (grp->accs == NULL) {
        size_t n = (size_t)th->p->req->nmetrics + 1;
        grp->accs = arena_zalloc(&th->arena, n * sizeof(*grp->accs));
        if (grp->accs == NULL)
            return NULL;
    }
    return &grp->accs[mi];
}

static void count_rows(struct vthread *th, struct vlane *l, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        l->n[th->gid[i]]++;
}

static void count_field(struct vthread *th, struct vlane *l,
                        const struct cc_column *c, const uint32_t *units,
                        uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t tag = cell_tag(c, units[i]);
        l->n[th->gid[i]] += tag != CC_MISSING && tag != CC_NULL;
    }
}

/* An integer term; on overflow the lane's total moves to the group's
 * accumulator, which adds without limit. */
static inline int sum_int(struct vthread *th, int mi, struct vlane *l,
                          uint32_t g, int64_t x)
{
    int64_t total;

    l->n[g]++;
    if (!__builtin_add_overflow(l->isum[g], x, &total)) {
        l->isum[g] = total;
        return 0;
    }
    struct agg_acc *a = acc_of(th, g, mi);
    if (a == NULL)
        return ERR_NOMEM;
    exact_sum_add_int(&a->sum, l->isum[g]);
    l->isum[g] = x;
    return 0;
}

/* A double term: in fixed point when it fits (sum.h), else in the
 * accumulator. */
static inline int sum_double(struct vthread *th, int mi, struct vlane *l,
                             uint32_t g, double x)
{
    __int128 f, total;

    l->n[g]++;
    if (exact_sum_to_fixed(x, &f) &&
        !__builtin_add_overflow(l->fixed[g], f, &total)) {
        l->fixed[g] = total;
        l->state[g] = 1;
        return 0;
    }
    struct agg_acc *a = acc_of(th, g, mi);
    if (a == NULL)
        return ERR_NOMEM;
    exact_sum_add_double(&a->sum, x);
    return 0;
}

static int sum_values(struct vthread *th, int mi, struct vlane *l,
                      const struct cc_column *c, const uint32_t *units,
                      uint32_t n)
{
    int rc = 0;

    for (uint32_t i = 0; i < n && rc == 0; i++) {
        uint8_t tag = cell_tag(c, units[i]);
        if (tag == CC_INT)
            rc = sum_int(th, mi, l, th->gid[i], cell_val(c, units[i]).i);
        else if (tag == CC_DOUBLE)
            rc = sum_double(th, mi, l, th->gid[i], cell_val(c, units[i]).d);
    }
    return rc;
}

/* The group leaves its lane: what the lane holds goes to the accumulator,
 * which has seen nothing before. */
static void spill_extreme(struct vlane *l, struct agg_acc *a, uint32_t g)
{
    switch (l->state[g]) {
    case CC_INT:
        a->v.value_type = BSON_TYPE_INT64;
        a->v.value.v_int64 = l->best[g].i;
        a->has = true;
        break;
    case CC_DOUBLE:
        a->v.value_type = BSON_TYPE_DOUBLE;
        a->v.value.v_double = l->best[g].d;
        a->has = true;
        break;
    case CC_DATE:
        a->v.value_type = BSON_TYPE_DATE_TIME;
        a->v.value.v_datetime = l->best[g].i;
        a->has = true;
        break;
    default:
        break;
    }
    l->state[g] = LANE_SPILLED;
}

/* A cell the lane can hold against the one it holds: true when handled.
 * NaN is left to the general order. */
static inline bool lane_extreme(struct vlane *l, bool min, uint32_t g,
                                uint8_t tag, union cc_value x)
{
    uint8_t held = l->state[g];
    bool better;

    if (held != 0 && held != tag)
        return false;
    switch (tag) {
    case CC_INT:
    case CC_DATE:
        better = held == 0 ||
                 (min ? x.i < l->best[g].i : x.i > l->best[g].i);
        break;
    case CC_DOUBLE:
        if (x.d != x.d)
            return false;
        better = held == 0 ||
                 (min ? x.d < l->best[g].d : x.d > l->best[g].d);
        break;
    default:
        return false;
    }
    if (better) {
        l->best[g] = x;
        l->state[g] = tag;
    }
    return true;
}

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

/* One value for a spilled group (or a kind of cell the lane does not
 * hold). */
static int extreme_by_acc(struct vthread *th, int mi, struct agg_acc *a,
                          const struct cc_column *c, uint32_t unit)
{
    const struct agg_metric *m = th->p->metrics[mi].m;
    bson_value_t v;
    bool found = vexec_cell_value(c, unit, &v);

    if (found && fast_extreme(a, &v, m->fn == AGG_MIN))
        return 0;
    return agg_acc_add(&th->c, m, a, &v, found, false);
}

static int extremes(struct vthread *th, int mi, struct vlane *l,
                    const struct cc_column *c, const uint32_t *units,
                    uint32_t n)
{
    bool min = l->kind == LANE_MIN;

    for (uint32_t i = 0; i < n; i++) {
        uint32_t g = th->gid[i];
        uint8_t tag = cell_tag(c, units[i]);
        if (tag == CC_MISSING || tag == CC_NULL ||
            lane_extreme(l, min, g, tag, cell_val(c, units[i])))
            continue;
        struct agg_acc *a = acc_of(th, g, mi);
        if (a == NULL)
            return ERR_NOMEM;
        if (l->state[g] != LANE_SPILLED)
            spill_extreme(l, a, g);
        int rc = extreme_by_acc(th, mi, a, c, units[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void flush_lane(struct vlane *l, struct agg_acc *a, uint32_t g)
{
    switch (l->kind) {
    case LANE_COUNT_ROWS:
    case LANE_COUNT_FIELD:
        a->n += (int64_t)l->n[g];
        break;
    case LANE_SUM: {
        struct exact_sum part = {.ints = l->isum[g], .fixed = l->fixed[g],
                                 .has_double = l->state[g] != 0};
        a->n += (int64_t)l->n[g];
        exact_sum_merge(&a->sum, &part);
        break;
    }
    case LANE_MIN:
    case LANE_MAX:
        if (l->state[g] != LANE_SPILLED)
            spill_extreme(l, a, g);
        break;
    default:
        break;
    }
}

/* --- code sets --------------------------------------------------------- */

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

static int codeset_to_bitmap(struct codeset *cs, uint32_t nwords)
{
    uint32_t *words = calloc(nwords, sizeof(*words));

    if (words == NULL)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < cs->nslots; i++) {
        uint32_t code = cs->slots[i] - 1;
        if (cs->slots[i] != 0)
            words[code >> 5] |= 1u << (code & 31);
    }
    free(cs->slots);
    cs->slots = words;
    cs->nslots = nwords;
    cs->bitmap = true;
    return 0;
}

/* Adds code (below universe, the dictionary's size); *added says whether
 * it is new. A set becomes a bitmap of the dictionary once the bitmap
 * would take less room than the hash table. */
static int codeset_insert(struct codeset *cs, uint32_t code,
                          uint64_t universe, bool *added)
{
    *added = false;
    if (!cs->bitmap && (cs->n + 1) * 2 > cs->nslots) {
        uint64_t nwords = (universe + 31) / 32;
        uint64_t grown = cs->nslots ? (uint64_t)cs->nslots * 2 : 16;
        int rc = nwords <= grown ? codeset_to_bitmap(cs, (uint32_t)nwords)
                                 : codeset_grow(cs);
        if (rc != 0)
            return rc;
    }
    if (cs->bitmap) {
        uint32_t *word = &cs->slots[code >> 5], bit = 1u << (code & 31);
        if (*word & bit)
            return 0;
        *word |= bit;
        cs->n++;
        *added = true;
        return 0;
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

/* The set's codes one by one: *pos starts at 0; false after the last. */
static bool codeset_next(const struct codeset *cs, uint64_t *pos,
                         uint32_t *code)
{
    if (!cs->bitmap) {
        for (; *pos < cs->nslots; (*pos)++)
            if (cs->slots[*pos] != 0) {
                *code = cs->slots[(*pos)++] - 1;
                return true;
            }
        return false;
    }
    while (*pos < (uint64_t)cs->nslots * 32) {
        uint32_t rest = cs->slots[*pos >> 5] >> (*pos & 31);
        if (rest == 0) {
            *pos = (*pos | 31) + 1;
            continue;
        }
        *pos += (uint64_t)__builtin_ctz(rest);
        *code = (uint32_t)(*pos)++;
        return true;
    }
    return false;
}

/* An array of set pointers grown (new slots NULL) until index at fits. */
static int sets_reach(struct codeset ***sets, uint64_t *cap, uint64_t at)
{
    while (at >= *cap) {
        uint64_t grown = *cap ? *cap * 2 : 1024;
        struct codeset **p = realloc(*sets, grown * sizeof(*p));
        if (p == NULL)
            return ERR_NOMEM;
        memset(p + *cap, 0, (grown - *cap) * sizeof(*p));
        *sets = p;
        *cap = grown;
    }
    return 0;
}

/* A string new to its set is charged to the memory budget as the row path
 * charges it (agg_valset): its value and its slot. The charge is paid per
 * batch (vexec_fold_batch), not per string. */
static void charge_code(struct vthread *th, int m, uint32_t code)
{
    const struct cc_column *col =
        &th->p->view.cols[th->p->metrics[m].col.index];
    bson_value_t v = {.value_type = BSON_TYPE_UTF8};

    v.value.v_utf8.str =
        (char *)cc_dict_string(col->dict, code, &v.value.v_utf8.len);
    th->pending_charge +=
        value_size(&v) + sizeof(uint64_t) + 2 * sizeof(uint32_t);
}

static int codeset_add(struct vthread *th, uint32_t g, int m, uint32_t code)
{
    uint64_t at_set = (uint64_t)g * (uint64_t)th->p->req->nmetrics +
                      (uint64_t)m;

    if (sets_reach(&th->codes, &th->codes_cap, at_set) != 0)
        return ERR_NOMEM;
    struct codeset *cs = th->codes[at_set];
    if (cs == NULL && (cs = th->codes[at_set] = calloc(1, sizeof(*cs))) == NULL)
        return ERR_NOMEM;
    bool added;
    int rc = codeset_insert(cs, code, th->p->metrics[m].dict_size, &added);
    if (rc == 0 && added)
        charge_code(th, m, code);
    return rc;
}

/* --- a batch ----------------------------------------------------------- */

/* Everything the lanes and code sets leave to the accumulators. */
static int fold_by_acc(struct vthread *th, int mi, const struct cc_column *c,
                       const uint32_t *units, uint32_t n)
{
    const struct agg_metric *m = th->p->metrics[mi].m;
    bool sets = m->fn == AGG_COUNT_DISTINCT || m->fn == AGG_ADD_TO_SET;

    for (uint32_t i = 0; i < n; i++) {
        int rc;
        if (sets && cell_tag(c, units[i]) == CC_STRING) {
            rc = codeset_add(th, th->gid[i], mi,
                             (uint32_t)cell_val(c, units[i]).code);
        } else {
            bson_value_t v;
            bool found = vexec_cell_value(c, units[i], &v);
            struct agg_acc *a = acc_of(th, th->gid[i], mi);
            rc = a == NULL ? ERR_NOMEM
                           : agg_acc_add(&th->c, m, a, &v, found, false);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int fold_metric(struct vthread *th, int mi, uint32_t n)
{
    const struct vmetric *vm = &th->p->metrics[mi];
    const struct cc_column *c =
        vm->col.index >= 0 ? &th->p->view.cols[vm->col.index] : NULL;
    const uint32_t *units = vm->col.element ? th->unit_elem : th->unit_row;
    struct vlane *l = &th->lanes[mi];

    switch (l->kind) {
    case LANE_COUNT_ROWS:
        count_rows(th, l, n);
        return 0;
    case LANE_COUNT_FIELD:
        count_field(th, l, c, units, n);
        return 0;
    case LANE_SUM:
        return sum_values(th, mi, l, c, units, n);
    case LANE_MIN:
    case LANE_MAX:
        return extremes(th, mi, l, c, units, n);
    default:
        return fold_by_acc(th, mi, c, units, n);
    }
}

int vexec_fold_batch(struct vthread *th, uint32_t n)
{
    int rc = lanes_fit(th);

    for (int m = 0; rc == 0 && m < th->p->req->nmetrics; m++)
        rc = fold_metric(th, m, n);
    if (rc == 0 && th->pending_charge > 0) {
        rc = agg_charge(&th->c, th->pending_charge);
        th->pending_charge = 0;
    }
    return rc;
}

/* --- set-up and tear-down ---------------------------------------------- */

void vexec_prepare_metrics(struct vplan *p)
{
    for (int m = 0; m < p->req->nmetrics; m++) {
        struct vmetric *vm = &p->metrics[m];
        vm->dict_size = vm->col.index >= 0
                            ? cc_dict_size(p->view.cols[vm->col.index].dict)
                            : 0;
    }
}

int vexec_fold_init(struct vthread *th)
{
    int nmetrics = th->p->req->nmetrics;

    th->lanes = calloc((size_t)nmetrics + 1, sizeof(*th->lanes));
    if (th->lanes == NULL)
        return ERR_NOMEM;
    for (int m = 0; m < nmetrics; m++)
        th->lanes[m].kind = lane_kind_of(&th->p->metrics[m]);
    return 0;
}

void vexec_fold_release(struct vthread *th)
{
    int nmetrics = th->p ? th->p->req->nmetrics : 0;

    for (uint64_t g = 1; th->groups && g <= th->ngroups; g++)
        for (int m = 0; th->groups[g].accs && m < nmetrics; m++) {
            agg_valset_free(th->groups[g].accs[m].set);
            agg_vallist_free(th->groups[g].accs[m].list);
        }
    for (int m = 0; th->lanes && m < nmetrics; m++) {
        free(th->lanes[m].n);
        free(th->lanes[m].isum);
        free(th->lanes[m].fixed);
        free(th->lanes[m].best);
        free(th->lanes[m].state);
    }
    free(th->lanes);
    for (uint64_t i = 0; i < th->codes_cap; i++) {
        if (th->codes[i] != NULL)
            free(th->codes[i]->slots);
        free(th->codes[i]);
    }
    free(th->codes);
}

/* --- the merge --------------------------------------------------------- */

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
        if (sets_reach(&fc->sets, &fc->cap, to_at) != 0)
            return ERR_NOMEM;
        struct codeset *src = th->codes[from_at];
        if (fc->sets[to_at] == NULL) {
            fc->sets[to_at] = src; /* taken over */
            th->codes[from_at] = NULL;
            continue;
        }
        uint64_t pos = 0, universe = th->p->metrics[m].dict_size;
        uint32_t code;
        while (codeset_next(src, &pos, &code)) {
            bool added;
            int rc = codeset_insert(fc->sets[to_at], code, universe, &added);
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
        uint64_t pos = 0;
        uint32_t code;
        while (codeset_next(cs, &pos, &code)) {
            bson_value_t v = {.value_type = BSON_TYPE_UTF8};
            v.value.v_utf8.str = (char *)cc_dict_string(col->dict, code,
                                                        &v.value.v_utf8.len);
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

/* Group g's accumulators with its lanes folded in, in out (a shallow
 * copy: sets and lists stay the thread's). */
static void compose(struct vthread *th, uint64_t g, struct agg_acc *out)
{
    int nmetrics = th->p->req->nmetrics;
    const struct agg_acc *accs = th->groups[g].accs;

    for (int m = 0; m < nmetrics; m++) {
        if (accs != NULL)
            out[m] = accs[m];
        else
            memset(&out[m], 0, sizeof(out[m]));
        flush_lane(&th->lanes[m], &out[m], (uint32_t)g);
    }
}

/* Group g of thread th into the table: paired by dense index when every
 * thread's groups have one (pairs[at]: table index + 1), else by keys. */
static int fold_group(struct vthread *th, uint64_t g, struct agg_table *table,
                      uint32_t *pairs, const struct agg_acc *accs,
                      struct agg_group **into)
{
    const struct vgroup *vg = &th->groups[g];

    if (pairs == NULL)
        return stage_accumulate_fold(table, vg->keys, accs, into);
    if (pairs[vg->dense_at] == 0) {
        int rc = stage_accumulate_adopt(table, vg->keys, accs, into);
        if (rc == 0)
            pairs[vg->dense_at] = (*into)->index + 1;
        return rc;
    }

    struct agg_group **groups;
    size_t n;
    agg_table_groups(table, &groups, &n);
    *into = groups[pairs[vg->dense_at] - 1];
    return stage_accumulate_merge(table, *into, accs);
}

/* Pairs by dense index when every thread can (no lookup by keys), else
 * NULL. */
static uint32_t *dense_pairs(const struct vthread *th, int nthreads)
{
    for (int t = 0; t < nthreads; t++)
        if (!th[t].all_dense || th[t].direct_size != th[0].direct_size)
            return NULL;
    return calloc(th[0].direct_size, sizeof(uint32_t));
}

/* --- top-N by count ------------------------------------------------------
 * A request sorted by a count with a small limit and no having keeps only
 * its best groups; when every group is whole in one thread (threads split
 * by key, or one thread), the groups that cannot reach the limit are left
 * out of the table: building, finishing and sorting 100k groups to return
 * 10 cost more than counting them. Groups tied with the last one kept stay
 * in, so that the sort stage still breaks ties by key. */

/* TUNING: pruning pays when the groups outnumber the limit many times;
 * below that the ordinary sort is as fast. */
#define PRUNE_MIN_RATIO 4

/* The count metric index to prune on, or -1. */
static int prune_metric(const struct vthread *th, int nthreads,
                        uint64_t total)
{
    const struct agg_request *req = th->p->req;

    if (!req->has_sort || req->sort_on_key || req->nhaving > 0 ||
        req->limit <= 0 || total / PRUNE_MIN_RATIO <= (uint64_t)req->limit)
        return -1;
    if (nthreads > 1 && th[0].nparts != nthreads)
        return -1;
    if (req->metrics[req->sort_index].fn != AGG_COUNT)
        return -1;
    return req->sort_index;
}

static int64_t count_of(struct vthread *th, uint64_t g, int m)
{
    const struct agg_acc *accs = th->groups[g].accs;
    struct agg_acc a = {0};

    if (accs != NULL)
        a = accs[m];
    flush_lane(&th->lanes[m], &a, (uint32_t)g);
    return a.n;
}

/* The heap holds the `limit` best counts seen, worst at the root. */
static void heap_push(int64_t *heap, size_t *n, size_t cap, int64_t v,
                      bool desc)
{
    size_t i;

    if (*n == cap) {
        if (desc ? v <= heap[0] : v >= heap[0])
            return;
        i = 0;
        for (;;) { /* replace the root, sift down */
            size_t l = 2 * i + 1, r = l + 1, w = i;
            int64_t wv = v;
            if (l < cap && (desc ? heap[l] < wv : heap[l] > wv))
                w = l, wv = heap[l];
            if (r < cap && (desc ? heap[r] < wv : heap[r] > wv))
                w = r;
            if (w == i)
                break;
            heap[i] = heap[w];
            i = w;
        }
        heap[i] = v;
        return;
    }
    for (i = (*n)++; i > 0; i = (i - 1) / 2) { /* sift up */
        int64_t parent = heap[(i - 1) / 2];
        if (desc ? parent <= v : parent >= v)
            break;
        heap[i] = parent;
    }
    heap[i] = v;
}

/* The count the last kept group has; every group at least as good is
 * kept. */
static int prune_threshold(struct vthread *th, int nthreads, int m,
                           int64_t *out)
{
    const struct agg_request *req = th->p->req;
    size_t cap = (size_t)req->limit, n = 0;
    int64_t *heap = malloc(cap * sizeof(*heap));

    if (heap == NULL)
        return ERR_NOMEM;
    for (int t = 0; t < nthreads; t++)
        for (uint64_t g = 1; g <= th[t].ngroups; g++)
            heap_push(heap, &n, cap, count_of(&th[t], g, m), req->sort_desc);
    *out = heap[0];
    free(heap);
    return 0;
}

static bool pruned(const struct vthread *th, int m, int64_t threshold,
                   const struct agg_acc *accs)
{
    if (m < 0)
        return false;
    return th->p->req->sort_desc ? accs[m].n < threshold
                                 : accs[m].n > threshold;
}

int vexec_fold_merge(struct vthread *th, int nthreads,
                     struct agg_table *table, struct agg_ctx *c,
                     uint64_t *total)
{
    struct final_codes fc = {0};
    struct agg_acc *accs = calloc((size_t)th->p->req->nmetrics + 1,
                                  sizeof(*accs));
    uint32_t *pairs = dense_pairs(th, nthreads);
    int64_t threshold = 0;
    int rc = accs == NULL ? ERR_NOMEM : 0;

    *total = 0;
    for (int t = 0; t < nthreads; t++)
        *total += th[t].ngroups;
    int prune_on = prune_metric(th, nthreads, *total);
    if (prune_on >= 0 && rc == 0)
        rc = prune_threshold(th, nthreads, prune_on, &threshold);

    for (int t = 0; t < nthreads && rc == 0; t++)
        for (uint64_t g = 1; g <= th[t].ngroups && rc == 0; g++) {
            struct agg_group *into;
            compose(&th[t], g, accs);
            if (pruned(th, prune_on, threshold, accs))
                continue;
            rc = fold_group(&th[t], g, table, pairs, accs, &into);
            if (rc == 0)
                rc = unite_codes(&th[t], &fc, g, into);
        }
    if (prune_on < 0)
        *total = 0;
    free(pairs);
    free(accs);
    if (rc == 0)
        rc = apply_codes(&th[0], &fc, table, c);
    final_codes_release(&fc);
    return rc;
}
