/*
 * stage_accumulate.c - the accumulate stage: rows folded into groups.
 *
 * Design.
 *
 * The table maps a group key (a tuple of values) to a group: the key, and
 * one accumulator per metric. Keys are compared with the contract's
 * equality (1 == 1.0, strings by bytes, arrays and objects member by
 * member) and hashed consistently with it (value_hash), so a hash table
 * with open addressing and linear probing serves every key shape: the
 * slots hold group numbers, the groups live in an array in order of first
 * appearance, which keeps the run deterministic.
 *
 * Memory. A key or collected value that points into the snapshot (a
 * string of a stored object) is kept as that pointer: the snapshot stays
 * open until the answer is written. Values built while the row was read
 * (an array gathered through an array of objects) live in per-row scratch
 * space and are copied into the result's arena before the row ends.
 * Sets (count_distinct, add_to_set) and lists (push) grow with malloc and
 * are charged to the request's memory budget (max_memory_bytes), checked
 * at every insertion; so is the buffer where min, max and last keep a
 * built value, reused as the value is replaced. The group count is
 * checked against max_groups when a group is created. Either limit stops
 * the run with ERR_LIMIT: a partial answer is never returned.
 *
 * Sums and averages add exactly (sum.h), so that their result does not
 * depend on the order of the rows: a sum stays an integer while every
 * term is one and the total fits 64 bits, as MongoDB's $sum does.
 */
#include <stdlib.h>
#include <string.h>

#include "query/agg_internal.h"

/* TUNING: start small (most requests have a few dozen groups) and double;
 * a load factor of one half keeps probe chains short for any key mix. */
#define TABLE_START_SLOTS 64
#define SET_START_SLOTS 16

struct agg_valset {
    bson_value_t *vals;
    uint64_t *hashes;
    uint32_t *slots;         /* index + 1; 0 is empty */
    size_t n, cap, nslots;
};

struct agg_vallist {
    bson_value_t *vals;
    size_t n, cap;
};

struct agg_table {
    struct agg_ctx *c;       /* the run's; gone once agg_execute returns */
    int nmetrics;            /* for close, which comes after the run */
    struct agg_group **groups;
    size_t n, cap;
    uint32_t *slots;
    size_t nslots;
    bool unhashed;           /* groups were adopted: no lookups any more */
};

/* --- collected values -------------------------------------------------- */

int agg_charge(struct agg_ctx *c, size_t bytes)
{
    if (c->precharged)
        return 0;

    uint64_t held = atomic_fetch_add(c->memory, bytes) + bytes;

    if (c->lim->max_memory_bytes && held > c->lim->max_memory_bytes)
        return err_set(c->e, ERR_LIMIT,
                       "the collected values (push, add_to_set, "
                       "count_distinct, and arrays or objects kept by min, "
                       "max and last) need more than max_memory_bytes "
                       "(%llu bytes); add a filter, group by fewer keys or "
                       "raise --agg-max-memory",
                       (unsigned long long)c->lim->max_memory_bytes);
    return 0;
}

/* A value to keep past the row: copied when built in scratch. */
static int keep(struct agg_ctx *c, const bson_value_t *v, bool built,
                bson_value_t *out)
{
    if (!built) {
        *out = *v;
        return 0;
    }
    if (value_copy_to_arena(c->arena, v, out) != 0)
        return err_set(c->e, ERR_NOMEM, "out of memory aggregating");
    return 0;
}

/* A value that later rows may replace (min, max, last): one built in
 * scratch goes to the accumulator's own buffer, reused, rather than to the
 * arena, which would grow by a copy per row. */
static int keep_replaceable(struct agg_ctx *c, struct agg_acc *a,
                            const bson_value_t *v, bool built)
{
    if (!built || (v->value_type != BSON_TYPE_ARRAY &&
                   v->value_type != BSON_TYPE_DOCUMENT))
        return keep(c, v, built, &a->v);

    uint32_t len = v->value.v_doc.data_len;
    if (len > a->owned_cap) {
        uint8_t *p = realloc(a->owned, len);
        if (p == NULL)
            return err_set(c->e, ERR_NOMEM, "out of memory aggregating");
        int rc = agg_charge(c, len - a->owned_cap);
        a->owned = p;
        a->owned_cap = len;
        if (rc != 0)
            return rc;
    }
    memcpy(a->owned, v->value.v_doc.data, len);
    a->v = *v;
    a->v.value.v_doc.data = a->owned;
    return 0;
}

static int set_grow(struct agg_valset *s)
{
    size_t nslots = s->nslots ? s->nslots * 2 : SET_START_SLOTS;
    uint32_t *slots = calloc(nslots, sizeof(*slots));

    if (slots == NULL)
        return ERR_NOMEM;
    for (size_t i = 0; i < s->n; i++) {
        size_t at = s->hashes[i] & (nslots - 1);
        while (slots[at] != 0)
            at = (at + 1) & (nslots - 1);
        slots[at] = (uint32_t)i + 1;
    }
    free(s->slots);
    s->slots = slots;
    s->nslots = nslots;
    return 0;
}

static int set_reserve(struct agg_valset *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        bson_value_t *vals = realloc(s->vals, cap * sizeof(*vals));
        uint64_t *hashes = vals ? realloc(s->hashes, cap * sizeof(*hashes))
                                : NULL;
        if (vals != NULL)
            s->vals = vals;
        if (hashes == NULL)
            return ERR_NOMEM;
        s->hashes = hashes;
        s->cap = cap;
    }
    return (s->n + 1) * 2 > s->nslots ? set_grow(s) : 0;
}

/* Adds v unless an equal value is in the set already. */
static int set_add(struct agg_ctx *c, struct agg_valset **sp,
                   const bson_value_t *v, bool built)
{
    struct agg_valset *s = *sp;
    uint64_t h = value_hash(v);

    if (s == NULL && (s = *sp = calloc(1, sizeof(*s))) == NULL)
        return err_set(c->e, ERR_NOMEM, "out of memory aggregating");
    if (set_reserve(s) != 0)
        return err_set(c->e, ERR_NOMEM, "out of memory aggregating");

    size_t at = h & (s->nslots - 1);
    for (; s->slots[at] != 0; at = (at + 1) & (s->nslots - 1)) {
        uint32_t i = s->slots[at] - 1;
        if (s->hashes[i] == h && value_equal(&s->vals[i], v))
            return 0;
    }
    int rc = keep(c, v, built, &s->vals[s->n]);
    if (rc != 0)
        return rc;
    s->hashes[s->n] = h;
    s->slots[at] = (uint32_t)++s->n;
    return agg_charge(c, value_size(v) + sizeof(uint64_t) + 2 * sizeof(uint32_t));
}

static int list_add(struct agg_ctx *c, struct agg_vallist **lp,
                    const bson_value_t *v, bool built)
{
    struct agg_vallist *l = *lp;

    if (l == NULL && (l = *lp = calloc(1, sizeof(*l))) == NULL)
        return err_set(c->e, ERR_NOMEM, "out of memory aggregating");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        bson_value_t *vals = realloc(l->vals, cap * sizeof(*vals));
        if (vals == NULL)
            return err_set(c->e, ERR_NOMEM, "out of memory aggregating");
        l->vals = vals;
        l->cap = cap;
    }
    int rc = keep(c, v, built, &l->vals[l->n]);
    if (rc != 0)
        return rc;
    l->n++;
    return agg_charge(c, value_size(v));
}

void agg_valset_free(struct agg_valset *s)
{
    if (s == NULL)
        return;
    free(s->vals);
    free(s->hashes);
    free(s->slots);
    free(s);
}

void agg_vallist_free(struct agg_vallist *l)
{
    if (l == NULL)
        return;
    free(l->vals);
    free(l);
}

/* --- accumulators ------------------------------------------------------ */

static void add_number(struct exact_sum *sum, const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_DOUBLE)
        exact_sum_add_double(sum, v->value.v_double);
    else
        exact_sum_add_int(sum, v->value_type == BSON_TYPE_INT32
                                   ? v->value.v_int32
                                   : v->value.v_int64);
}

int agg_acc_add(struct agg_ctx *c, const struct agg_metric *m,
                struct agg_acc *a, const bson_value_t *v, bool found,
                bool built)
{
    bool present = found && v->value_type != BSON_TYPE_NULL;

    switch (m->fn) {
    case AGG_COUNT:
        a->n += m->field.path == NULL || present;
        return 0;
    case AGG_COUNT_DISTINCT:
        return present ? set_add(c, &a->set, v, built) : 0;
    case AGG_ADD_TO_SET:
        return found ? set_add(c, &a->set, v, built) : 0;
    case AGG_PUSH:
        return found ? list_add(c, &a->list, v, built) : 0;
    case AGG_SUM:
    case AGG_AVG:
        if (present && value_is_number(v->value_type)) {
            add_number(&a->sum, v);
            a->n++;
        }
        return 0;
    case AGG_MIN:
    case AGG_MAX:
        if (!present)
            return 0;
        if (a->has) {
            int cmp = value_compare(v, &a->v);
            if (m->fn == AGG_MIN ? cmp >= 0 : cmp <= 0)
                return 0;
        }
        a->has = true;
        return keep_replaceable(c, a, v, built);
    case AGG_FIRST:
    case AGG_LAST:
        if (m->fn == AGG_FIRST && a->has)
            return 0;
        a->has = true;
        if (!found) {
            a->v.value_type = BSON_TYPE_NULL;
            return 0;
        }
        return m->fn == AGG_FIRST ? keep(c, v, built, &a->v)
                                  : keep_replaceable(c, a, v, built);
    default:
        return 0;
    }
}

/* into takes from's value; a value in from's own buffer is copied, since
 * from may be freed before into is read. */
static int take_value(struct agg_ctx *c, struct agg_acc *into,
                      const struct agg_acc *from)
{
    into->has = true;
    if (from->owned == NULL) {
        into->v = from->v;
        return 0;
    }
    return keep_replaceable(c, into, &from->v, true);
}

/* Folds from (a later part of the rows) into into (an earlier part). */
int agg_acc_merge(struct agg_ctx *c, const struct agg_metric *m,
                  struct agg_acc *into, const struct agg_acc *from)
{
    int rc = 0;

    into->n += from->n;
    exact_sum_merge(&into->sum, &from->sum);
    switch (m->fn) {
    case AGG_MIN:
    case AGG_MAX: {
        /* Among equal values the earlier part's is kept, as the row path
         * keeps the first it meets. */
        int cmp = from->has && into->has ? value_compare(&from->v, &into->v)
                                         : 0;
        if (from->has && (!into->has || (m->fn == AGG_MIN ? cmp < 0
                                                          : cmp > 0)))
            return take_value(c, into, from);
        return 0;
    }
    case AGG_FIRST:
        return !into->has && from->has ? take_value(c, into, from) : 0;
    case AGG_LAST:
        return from->has ? take_value(c, into, from) : 0;
    case AGG_PUSH:
        for (size_t i = 0; rc == 0 && from->list && i < from->list->n; i++)
            rc = list_add(c, &into->list, &from->list->vals[i], false);
        return rc;
    case AGG_COUNT_DISTINCT:
    case AGG_ADD_TO_SET:
        for (size_t i = 0; rc == 0 && from->set && i < from->set->n; i++)
            rc = set_add(c, &into->set, &from->set->vals[i], false);
        return rc;
    default:
        return 0;
    }
}

/* --- the table --------------------------------------------------------- */

static uint64_t key_hash(const bson_value_t *keys, int n)
{
    uint64_t h = 0x6a09e667f3bcc909ULL;

    for (int i = 0; i < n; i++)
        h = (h ^ value_hash(&keys[i])) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

static bool keys_equal(const bson_value_t *a, const bson_value_t *b, int n)
{
    for (int i = 0; i < n; i++)
        if (!value_equal(&a[i], &b[i]))
            return false;
    return true;
}

static int table_grow(struct agg_table *t)
{
    size_t nslots = t->nslots ? t->nslots * 2 : TABLE_START_SLOTS;
    uint32_t *slots = calloc(nslots, sizeof(*slots));

    if (slots == NULL)
        return ERR_NOMEM;
    for (size_t i = 0; i < t->n; i++) {
        size_t at = t->groups[i]->hash & (nslots - 1);
        while (slots[at] != 0)
            at = (at + 1) & (nslots - 1);
        slots[at] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

static struct agg_group *group_new(struct agg_table *t, uint64_t h,
                                   const bson_value_t *keys, const bool *built)
{
    struct agg_ctx *c = t->c;
    const struct agg_request *req = c->req;
    struct agg_group *g = arena_zalloc(c->arena, sizeof(*g));

    if (g == NULL ||
        (g->keys = arena_alloc(c->arena, (size_t)req->nkeys *
                                             sizeof(*g->keys) + 1)) == NULL ||
        (g->accs = arena_zalloc(c->arena, (size_t)req->nmetrics *
                                              sizeof(*g->accs) + 1)) == NULL)
        return NULL;
    g->hash = h;
    for (int i = 0; i < req->nkeys; i++)
        if (keep(c, &keys[i], built[i], &g->keys[i]) != 0)
            return NULL;
    return g;
}

static int append_group(struct agg_table *t, struct agg_group *g)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct agg_group **groups = realloc(t->groups, cap * sizeof(*groups));
        if (groups == NULL)
            return ERR_NOMEM;
        t->groups = groups;
        t->cap = cap;
    }
    g->index = (uint32_t)t->n;
    t->groups[t->n++] = g;
    return 0;
}

static int add_group(struct agg_table *t, struct agg_group *g, size_t slot)
{
    int rc = append_group(t, g);

    if (rc == 0)
        t->slots[slot] = (uint32_t)t->n;
    return rc;
}

/* The group of keys, created when new. */
static struct agg_group *find_group(struct agg_table *t,
                                    const bson_value_t *keys,
                                    const bool *built)
{
    struct agg_ctx *c = t->c;
    int nkeys = c->req->nkeys;
    uint64_t h = key_hash(keys, nkeys);

    if ((t->n + 1) * 2 > t->nslots && table_grow(t) != 0) {
        err_set(c->e, ERR_NOMEM, "out of memory aggregating");
        return NULL;
    }
    size_t at = h & (t->nslots - 1);
    for (; t->slots[at] != 0; at = (at + 1) & (t->nslots - 1)) {
        struct agg_group *g = t->groups[t->slots[at] - 1];
        if (g->hash == h && keys_equal(g->keys, keys, nkeys))
            return g;
    }

    if (c->lim->max_groups && t->n >= c->lim->max_groups) {
        err_set(c->e, ERR_LIMIT,
                "the request makes more than max_groups (%llu) groups; add "
                "a filter, group by fewer or coarser keys, or raise "
                "--agg-max-groups",
                (unsigned long long)c->lim->max_groups);
        return NULL;
    }
    struct agg_group *g = group_new(t, h, keys, built);
    if (g == NULL || add_group(t, g, at) != 0) {
        err_set(c->e, ERR_NOMEM, "out of memory aggregating");
        return NULL;
    }
    return g;
}

int stage_accumulate_open(struct agg_ctx *c, struct agg_table **out)
{
    struct agg_table *t = calloc(1, sizeof(*t));

    *out = NULL;
    if (t == NULL || table_grow(t) != 0) {
        free(t);
        return err_set(c->e, ERR_NOMEM, "out of memory aggregating");
    }
    t->c = c;
    t->nmetrics = c->req->nmetrics;
    *out = t;
    return 0;
}

int stage_accumulate_row(struct agg_table *t, const struct agg_row *row,
                         const bson_value_t *keys, const bool *built)
{
    struct agg_ctx *c = t->c;
    struct agg_group *g = find_group(t, keys, built);

    if (g == NULL)
        return c->e->code;
    for (int i = 0; i < c->req->nmetrics; i++) {
        const struct agg_metric *m = &c->req->metrics[i];
        bson_value_t v;
        bool vbuilt = false, found = false;
        if (m->field.path != NULL)
            found = agg_row_resolve(row, &m->field, &c->scratch, &v,
                                    &vbuilt) == 0;
        int rc = agg_acc_add(c, m, &g->accs[i], &v, found, vbuilt);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* --- final values ------------------------------------------------------ */

static int cmp_values(const void *a, const void *b)
{
    return value_compare(a, b);
}

/* An array value of vals, built in the arena. */
static int make_array(struct agg_ctx *c, const bson_value_t *vals, size_t n,
                      bson_value_t *out)
{
    bson_t arr;
    char key[24];
    const char *k;

    bson_init(&arr);
    for (size_t i = 0; i < n; i++) {
        size_t klen = bson_uint32_to_string((uint32_t)i, &k, key, sizeof(key));
        bson_append_value(&arr, k, (int)klen, &vals[i]);
    }
    uint8_t *data = arena_alloc(c->arena, arr.len);
    if (data != NULL)
        memcpy(data, bson_get_data(&arr), arr.len);
    out->value_type = BSON_TYPE_ARRAY;
    out->value.v_doc.data = data;
    out->value.v_doc.data_len = arr.len;
    bson_destroy(&arr);
    return data != NULL ? 0 : err_set(c->e, ERR_NOMEM, "out of memory");
}

int agg_acc_finish(struct agg_ctx *c, const struct agg_metric *m,
                   struct agg_acc *a, bson_value_t *out)
{
    switch (m->fn) {
    case AGG_COUNT:
        *out = (bson_value_t){.value_type = BSON_TYPE_INT64,
                              .value.v_int64 = a->n};
        return 0;
    case AGG_COUNT_DISTINCT:
        *out = (bson_value_t){
            .value_type = BSON_TYPE_INT64,
            .value.v_int64 = (a->set ? (int64_t)a->set->n : 0) + a->n};
        return 0;
    case AGG_SUM:
        exact_sum_value(&a->sum, out);
        return 0;
    case AGG_AVG:
        if (a->n == 0)
            out->value_type = BSON_TYPE_NULL;
        else
            *out = (bson_value_t){
                .value_type = BSON_TYPE_DOUBLE,
                .value.v_double = exact_sum_double(&a->sum) / (double)a->n};
        return 0;
    case AGG_PUSH:
        return make_array(c, a->list ? a->list->vals : NULL,
                          a->list ? a->list->n : 0, out);
    case AGG_ADD_TO_SET:
        if (a->set != NULL)
            qsort(a->set->vals, a->set->n, sizeof(bson_value_t), cmp_values);
        return make_array(c, a->set ? a->set->vals : NULL,
                          a->set ? a->set->n : 0, out);
    default:
        if (a->has)
            *out = a->v;
        else
            out->value_type = BSON_TYPE_NULL;
        return 0;
    }
}

int stage_accumulate_finish(struct agg_table *t, struct agg_group ***groups,
                            size_t *n)
{
    struct agg_ctx *c = t->c;
    int nm = c->req->nmetrics;

    for (size_t i = 0; i < t->n; i++) {
        struct agg_group *g = t->groups[i];
        g->out = arena_alloc(c->arena, (size_t)nm * sizeof(*g->out) + 1);
        if (g->out == NULL)
            return err_set(c->e, ERR_NOMEM, "out of memory aggregating");
        for (int j = 0; j < nm; j++) {
            int rc = agg_acc_finish(c, &c->req->metrics[j], &g->accs[j],
                                    &g->out[j]);
            if (rc != 0)
                return rc;
        }
    }
    *groups = t->groups;
    *n = t->n;
    return 0;
}

void stage_accumulate_close(struct agg_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        for (int j = 0; j < t->nmetrics; j++) {
            agg_valset_free(t->groups[i]->accs[j].set);
            agg_vallist_free(t->groups[i]->accs[j].list);
            free(t->groups[i]->accs[j].owned);
        }
    }
    free(t->groups);
    free(t->slots);
    free(t);
}

int stage_accumulate_merge(struct agg_table *t, struct agg_group *into,
                           const struct agg_acc *accs)
{
    struct agg_ctx *c = t->c;

    for (int i = 0; i < c->req->nmetrics; i++) {
        int rc = agg_acc_merge(c, &c->req->metrics[i], &into->accs[i],
                               &accs[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int stage_accumulate_fold(struct agg_table *t, const bson_value_t *keys,
                          const struct agg_acc *accs,
                          struct agg_group **into)
{
    struct agg_ctx *c = t->c;
    bool built[64] = {false};

    if (c->req->nkeys > 64)
        return err_set(c->e, ERR_INTERNAL, "too many group keys to fold");
    if (t->unhashed)
        return err_set(c->e, ERR_INTERNAL, "folding into an adopting table");
    *into = find_group(t, keys, built);
    return *into == NULL ? (int)c->e->code : stage_accumulate_merge(t, *into,
                                                                   accs);
}

int stage_accumulate_adopt(struct agg_table *t, const bson_value_t *keys,
                           const struct agg_acc *accs,
                           struct agg_group **into)
{
    struct agg_ctx *c = t->c;
    bool built[64] = {false};

    if (c->req->nkeys > 64)
        return err_set(c->e, ERR_INTERNAL, "too many group keys to adopt");
    if (c->lim->max_groups && t->n >= c->lim->max_groups)
        return err_set(c->e, ERR_LIMIT,
                       "the request makes more than max_groups (%llu) "
                       "groups; add a filter, group by fewer or coarser "
                       "keys, or raise --agg-max-groups",
                       (unsigned long long)c->lim->max_groups);
    t->unhashed = true;
    *into = group_new(t, 0, keys, built);
    if (*into == NULL || append_group(t, *into) != 0)
        return err_set(c->e, ERR_NOMEM, "out of memory aggregating");
    return stage_accumulate_merge(t, *into, accs);
}

void agg_table_groups(struct agg_table *t, struct agg_group ***groups,
                      size_t *n)
{
    *groups = t->groups;
    *n = t->n;
}
