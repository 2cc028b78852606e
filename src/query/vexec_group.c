/*
 * vexec_group.c - the column path's keys: every unit of a batch to the id
 * of its group in the thread.
 *
 * Each key turns a unit into a small index: 1 for null, a string's
 * dictionary code + 2, a bounded date part or range label directly, and
 * any other value (a number, a truncated date) through a little hash map
 * of atoms. The indexes of all keys make a tuple, and the tuple a group
 * id: through a dense table when every key's indexes are bounded (or
 * there is one key), through a hash map otherwise.
 *
 * The common keys have a loop of their own that reads the cells directly
 * (VKEY_*): strings, date parts of dates, day-level truncations of dates.
 * A cell they do not expect goes through key_index(), which is also what
 * gives a new group its key values.
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "query/vexec_internal.h"

/* TUNING: dense tables of up to 2^21 slots (8 MiB a thread); a request
 * whose keys could make more goes through the tuple map. */
#define DIRECT_MAX ((uint64_t)1 << 21)

/* TUNING: from 16384 possible groups up, threads split the groups rather
 * than the rows: each reads every row's keys (a few ns a row) but folds
 * only its own groups, and no group is merged across threads, which cost
 * Q7 of the bench (50,000 users) more than the scan. */
#define KEY_SPLIT_MIN_SLOTS 16384

#define MS_PER_DAY 86400000

/* --- atoms ------------------------------------------------------------- */

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

/* --- groups ------------------------------------------------------------ */

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
    g->accs = NULL; /* vexec_fold.c makes them when a metric needs them */
    if (g->keys == NULL)
        return 0;
    memcpy(g->keys, keys, (size_t)req->nkeys * sizeof(*keys));
    return (uint32_t)th->ngroups;
}

/* --- one unit at a time ------------------------------------------------ */

/* Units whose value depends on the day alone (and on nothing finer). */
static bool day_level(const struct agg_key *k)
{
    enum clock_unit u = k->unit;
    if (k->kind == KEY_TRUNC)
        return u == CLOCK_YEAR || u == CLOCK_MONTH || u == CLOCK_WEEK ||
               u == CLOCK_DAY;
    return u == CLOCK_YEAR || u == CLOCK_MONTH || u == CLOCK_DAY ||
           u == CLOCK_DAY_OF_YEAR || u == CLOCK_WEEK ||
           u == CLOCK_DAY_OF_WEEK;
}

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / MS_PER_DAY : (ms - (MS_PER_DAY - 1)) / MS_PER_DAY;
}

/* date_trunc or date_part of ms, remembered per day when only the day
 * matters. */
static int64_t date_key(struct day_memo *memo, const struct agg_key *k,
                        int64_t ms)
{
    if (!day_level(k))
        return k->kind == KEY_TRUNC ? clock_trunc(ms, k->unit)
                                    : clock_part(ms, k->unit);
    int64_t day = day_of(ms);
    uint32_t at = (uint32_t)day & (DAY_MEMO - 1);
    if (!memo->set[at] || memo->day[at] != day) {
        int64_t start = day * MS_PER_DAY;
        memo->value[at] = k->kind == KEY_TRUNC ? clock_trunc(start, k->unit)
                                               : clock_part(start, k->unit);
        memo->day[at] = day;
        memo->set[at] = true;
    }
    return memo->value[at];
}

/* The key value of one unit (null when it has none), and its atom and
 * atom class. */
static uint64_t key_atom(const struct vplan *p, const struct vkey *k,
                         struct day_memo *memo, uint32_t unit,
                         bson_value_t *out, int *atom_class)
{
    const struct cc_column *c = &p->view.cols[k->col.index];
    bson_value_t v;
    int64_t ms;
    int cls = ATOM_INT;
    uint64_t payload = 0;
    bool found = vexec_cell_value(c, unit, &v);

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

/* The bucket of number d among the key's boundaries, or outside (the
 * default label's slot) when it is below the first or not below the
 * last. */
static inline int range_slot(const struct agg_key *rk, double d, int outside)
{
    if (!(d >= rk->bounds[0] && d < rk->bounds[rk->nbounds - 1]))
        return outside;

    /* TUNING: a few boundaries (the usual case) are counted without
     * branches; a search's dependent steps cost more below 16. */
    if (rk->nbounds <= 16) {
        int slot = 0;
        for (int j = 1; j < rk->nbounds - 1; j++) /* strictly ascending */
            slot += d >= rk->bounds[j];
        return slot;
    }
    int lo = 0, hi = rk->nbounds - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (d >= rk->bounds[mid])
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The label index of one unit (and its label, unless value is NULL). */
static uint32_t range_index(const struct vplan *p, const struct vkey *k,
                            uint32_t unit, bson_value_t *value)
{
    const struct cc_column *c = &p->view.cols[k->col.index];
    const struct agg_key *rk = k->k;
    int idx = k->nlabels - 1; /* the default label */
    bson_value_t v;

    if (vexec_cell_value(c, unit, &v) && value_is_number(v.value_type))
        idx = range_slot(rk, value_as_double(&v), idx);
    idx = k->label_index[idx];
    if (value == NULL)
        return (uint32_t)idx + 1;
    value->value_type = BSON_TYPE_UTF8;
    value->value.v_utf8.str = (char *)k->labels[idx];
    value->value.v_utf8.len = (uint32_t)strlen(k->labels[idx]);
    return (uint32_t)idx + 1;
}

/* The index of one unit's key, and its value: strings by code, bounded
 * parts and range labels directly, everything else through the atom map;
 * 1 is null, 0 is out of memory. */
static uint32_t key_index(struct vthread *th, int ki, uint32_t unit,
                          bson_value_t *value)
{
    const struct vplan *p = th->p;
    const struct vkey *k = &p->keys[ki];
    const struct cc_column *c = &p->view.cols[k->col.index];

    if (k->k->kind == KEY_RANGE)
        return range_index(p, k, unit, value);
    if (k->k->kind == KEY_VALUE && cell_tag(c, unit) == CC_STRING) {
        vexec_cell_value(c, unit, value);
        return (uint32_t)(cell_val(c, unit).code + 2);
    }
    int cls;
    uint64_t atom = key_atom(p, k, &th->memo[ki], unit, value, &cls);
    if (value->value_type == BSON_TYPE_NULL)
        return 1;
    if (k->k->kind == KEY_PART && k->k->unit != CLOCK_YEAR)
        return 2 + (uint32_t)value->value.v_int32;
    uint32_t *slot = atom_slot(&th->kmaps[ki * ATOM_CLASSES + cls], atom);
    if (slot == NULL) {
        th->index_failed = true;
        return 0;
    }
    if (*slot == 0)
        *slot = ++th->key_count[ki];
    return (uint32_t)(k->dict_size + 1) + *slot;
}

/* --- a batch at a time ------------------------------------------------- */

static uint32_t general_index(struct vthread *th, int ki, uint32_t unit)
{
    bson_value_t ignored;
    return key_index(th, ki, unit, &ignored);
}

static void string_indexes(struct vthread *th, int ki, const uint32_t *units,
                           uint32_t n, uint32_t *out)
{
    const struct cc_column *c = &th->p->view.cols[th->p->keys[ki].col.index];

    for (uint32_t i = 0; i < n; i++) {
        uint8_t tag = cell_tag(c, units[i]);
        if (tag == CC_STRING)
            out[i] = (uint32_t)cell_val(c, units[i]).code + 2;
        else if (tag == CC_MISSING || tag == CC_NULL)
            out[i] = 1;
        else
            out[i] = general_index(th, ki, units[i]);
    }
}

static int64_t ms_of_day(int64_t ms)
{
    int64_t r = ms % MS_PER_DAY;
    return r < 0 ? r + MS_PER_DAY : r;
}

/* A part finer than the day (hour, minute, second) of a date, or its
 * day of the week (1 Sunday to 7 Saturday; 1970-01-01 was a Thursday). */
static inline uint32_t time_part(enum clock_unit unit, int64_t ms)
{
    int64_t r = ms_of_day(ms);

    switch (unit) {
    case CLOCK_DAY_OF_WEEK: {
        int64_t weekday = (day_of(ms) + 4) % 7;
        return (uint32_t)(weekday < 0 ? weekday + 7 : weekday) + 1;
    }
    case CLOCK_HOUR:
        return (uint32_t)(r / 3600000);
    case CLOCK_MINUTE:
        return (uint32_t)(r / 60000 % 60);
    default:
        return (uint32_t)(r / 1000 % 60);
    }
}

static void date_part_indexes(struct vthread *th, int ki,
                              const uint32_t *units, uint32_t n,
                              uint32_t *out)
{
    const struct vkey *k = &th->p->keys[ki];
    const struct cc_column *c = &th->p->view.cols[k->col.index];
    struct day_memo *memo = &th->memo[ki];
    enum clock_unit unit = k->k->unit;
    bool by_day = day_level(k->k) && unit != CLOCK_DAY_OF_WEEK;

    for (uint32_t i = 0; i < n; i++) {
        if (cell_tag(c, units[i]) != CC_DATE) {
            out[i] = general_index(th, ki, units[i]);
            continue;
        }
        int64_t ms = cell_val(c, units[i]).i;
        out[i] = 2 + (by_day ? (uint32_t)date_key(memo, k->k, ms)
                             : time_part(unit, ms));
    }
}

/* The day's slot in the key's day table, or NULL when the day is too far
 * from the first one met (or the table cannot be had). */
static uint32_t *day_slot(struct day_table *t, int64_t day)
{
    if (t->index == NULL) {
        t->index = calloc(DAY_TABLE_SPAN, sizeof(*t->index));
        if (t->index == NULL)
            return NULL;
        t->base = day - DAY_TABLE_SPAN / 2;
    }
    int64_t at = day - t->base;
    return at >= 0 && at < DAY_TABLE_SPAN ? &t->index[at] : NULL;
}

static void date_day_indexes(struct vthread *th, int ki,
                             const uint32_t *units, uint32_t n,
                             uint32_t *out)
{
    const struct cc_column *c = &th->p->view.cols[th->p->keys[ki].col.index];
    struct day_table *t = &th->days[ki];

    for (uint32_t i = 0; i < n; i++) {
        uint32_t *slot = NULL;
        if (cell_tag(c, units[i]) == CC_DATE)
            slot = day_slot(t, day_of(cell_val(c, units[i]).i));
        if (slot != NULL && *slot != 0) {
            out[i] = *slot;
            continue;
        }
        out[i] = general_index(th, ki, units[i]);
        if (slot != NULL)
            *slot = out[i];
    }
}

/* range_index for a batch, numbers read straight from their cells. */
static void range_indexes(const struct vplan *p, const struct vkey *k,
                          const uint32_t *units, uint32_t n, uint32_t *out)
{
    const struct cc_column *c = &p->view.cols[k->col.index];
    int outside = k->nlabels - 1;

    for (uint32_t i = 0; i < n; i++) {
        uint8_t tag = cell_tag(c, units[i]);
        if (tag != CC_INT && tag != CC_DOUBLE) {
            out[i] = range_index(p, k, units[i], NULL);
            continue;
        }
        union cc_value v = cell_val(c, units[i]);
        double d = tag == CC_INT ? (double)v.i : v.d;
        out[i] = (uint32_t)k->label_index[range_slot(k->k, d, outside)] + 1;
    }
}

static void key_indexes(struct vthread *th, int ki, uint32_t n)
{
    const struct vkey *k = &th->p->keys[ki];
    const uint32_t *units = k->col.element ? th->unit_elem : th->unit_row;
    uint32_t *out = th->key_index[ki];

    switch (k->fast) {
    case VKEY_STRING:
        string_indexes(th, ki, units, n, out);
        break;
    case VKEY_DATE_PART:
        date_part_indexes(th, ki, units, n, out);
        break;
    case VKEY_DATE_DAY:
        date_day_indexes(th, ki, units, n, out);
        break;
    case VKEY_RANGE:
        range_indexes(th->p, k, units, n, out);
        break;
    default:
        for (uint32_t i = 0; i < n; i++)
            out[i] = general_index(th, ki, units[i]);
        break;
    }
}

/* The dense slot of unit i's tuple (its index in *at), or NULL when an
 * index is past its key's bound. */
static uint32_t *direct_slot(struct vthread *th, uint32_t i, uint64_t *at_out)
{
    const struct agg_request *req = th->p->req;
    uint64_t at = 0;

    for (int k = 0; k < req->nkeys; k++) {
        uint64_t idx = th->key_index[k][i];
        if (th->p->keys[k].bound && idx >= th->p->keys[k].bound)
            return NULL;
        at += idx * th->stride[k];
    }
    *at_out = at;
    if (at < th->direct_size)
        return &th->direct[at];
    if (!th->direct_grows || at >= DIRECT_MAX)
        return NULL;

    uint64_t size = th->direct_size;
    while (size <= at)
        size *= 2;
    uint32_t *grown = realloc(th->direct, size * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    memset(grown + th->direct_size, 0,
           (size - th->direct_size) * sizeof(*grown));
    th->direct = grown;
    th->direct_size = size;
    return &th->direct[at];
}

/* Unit i's tuple packed in 64 bits for the tuple map; false when the
 * indexes are too large to pack. */
static bool packed_tuple(const struct vthread *th, uint32_t i, uint64_t *out)
{
    int nkeys = th->p->req->nkeys;
    int bits = 64 / nkeys;
    uint64_t tuple = 0;

    for (int k = 0; k < nkeys; k++) {
        uint64_t idx = th->key_index[k][i];
        if (bits < 64 && idx >= ((uint64_t)1 << bits))
            return false;
        tuple = bits < 64 ? tuple << bits | idx : idx;
    }
    *out = tuple;
    return true;
}

static uint32_t group_of_unit(struct vthread *th, uint32_t i)
{
    const struct agg_request *req = th->p->req;
    uint64_t at = 0, tuple;
    uint32_t *slot = th->direct != NULL ? direct_slot(th, i, &at) : NULL;

    if (slot == NULL) {
        if (!packed_tuple(th, i, &tuple)) {
            err_set(&th->e, ERR_UNAVAILABLE, "keys too varied to pack");
            return 0;
        }
        if ((slot = atom_slot(&th->tuples, tuple)) == NULL)
            return 0;
    }
    if (*slot != 0)
        return *slot;

    bson_value_t keys[MAX_KEYS];
    for (int k = 0; k < req->nkeys; k++) {
        const struct vkey *vk = &th->p->keys[k];
        uint32_t unit = vk->col.element ? th->unit_elem[i] : th->unit_row[i];
        key_index(th, k, unit, &keys[k]);
    }
    *slot = new_group(th, keys);
    if (*slot != 0) {
        /* Dense indexes mean the same keys in every thread (dictionary
         * codes, parts, labels): the merge pairs groups by them. */
        bool dense = th->direct != NULL && !th->direct_grows &&
                     slot == &th->direct[at];
        th->groups[*slot].dense_at = dense ? at : VGROUP_NOT_DENSE;
        th->all_dense &= dense;
    }
    return *slot;
}

/* The group of unit i when its tuple is in the dense table and has a
 * group already, else 0. */
static inline uint32_t known_direct(const struct vthread *th, uint32_t i)
{
    const struct vkey *keys = th->p->keys;
    uint64_t at = 0;

    for (int k = 0; k < th->p->req->nkeys; k++) {
        uint64_t idx = th->key_index[k][i];
        if (idx >= keys[k].bound)
            return 0;
        at += idx * th->stride[k];
    }
    return th->direct[at];
}

/* Spreads 64-bit h over the parts by multiplying, not dividing: a
 * division per unit cost a third of a high-cardinality grouping. */
static inline int part_of(uint64_t h, int nparts)
{
    uint64_t mixed = (h * 0x9e3779b97f4a7c15ULL) >> 32;

    return (int)((mixed * (uint64_t)nparts) >> 32);
}

/* The thread that owns unit i's group when threads split by key. */
static int owner_of(const struct vthread *th, uint32_t i)
{
    uint64_t at = 0, tuple;

    for (int k = 0; k < th->p->req->nkeys; k++) {
        uint64_t idx = th->key_index[k][i];
        if (idx >= th->p->keys[k].bound)
            return packed_tuple(th, i, &tuple) ? part_of(tuple, th->nparts)
                                               : 0;
        at += idx * th->stride[k];
    }
    return part_of(at, th->nparts);
}

/* keep_own_units for one key over rows (no unwind): the common case,
 * in one tight loop. */
static uint32_t keep_own_rows(struct vthread *th, uint32_t n)
{
    uint32_t *index = th->key_index[0];
    uint64_t bound = th->p->keys[0].bound, stride = th->stride[0];
    uint32_t kept = 0;

    for (uint32_t i = 0; i < n; i++) {
        uint32_t idx = index[i];
        int owner = idx < bound ? part_of(idx * stride, th->nparts)
                                : owner_of(th, i);
        if (owner != th->part)
            continue;
        th->unit_row[kept] = th->unit_row[i];
        index[kept++] = idx;
    }
    return kept;
}

/* Keeps the units whose groups this thread owns, in order. */
static uint32_t keep_own_units(struct vthread *th, uint32_t n)
{
    int nkeys = th->p->req->nkeys;
    uint32_t kept = 0;

    if (nkeys == 1 && th->p->req->unwind == NULL)
        return keep_own_rows(th, n);
    for (uint32_t i = 0; i < n; i++) {
        if (owner_of(th, i) != th->part)
            continue;
        th->unit_row[kept] = th->unit_row[i];
        th->unit_elem[kept] = th->unit_elem[i];
        for (int k = 0; k < nkeys; k++)
            th->key_index[k][kept] = th->key_index[k][i];
        kept++;
    }
    return kept;
}

int vexec_assign_groups(struct vthread *th, uint32_t *count)
{
    const struct agg_request *req = th->p->req;
    bool dense = th->direct != NULL && !th->direct_grows;
    uint32_t n = *count;

    for (int k = 0; k < req->nkeys; k++)
        key_indexes(th, k, n);
    if (th->index_failed)
        return err_set(&th->e, ERR_NOMEM, "out of memory");
    if (th->nparts > 1)
        *count = n = keep_own_units(th, n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t g = dense ? known_direct(th, i) : 0;
        if (g == 0 && (g = group_of_unit(th, i)) == 0)
            return th->e.code ? (int)th->e.code : ERR_NOMEM;
        th->gid[i] = g;
    }
    return 0;
}

/* --- set-up ------------------------------------------------------------ */

/* The largest value of a date part (1-based parts count from 1). */
static uint64_t part_max(enum clock_unit u)
{
    switch (u) {
    case CLOCK_MONTH:
        return 12;
    case CLOCK_WEEK:
        return 53;
    case CLOCK_DAY:
        return 31;
    case CLOCK_HOUR:
        return 23;
    case CLOCK_MINUTE:
    case CLOCK_SECOND:
        return 59;
    case CLOCK_DAY_OF_WEEK:
        return 7;
    default:
        return 366;
    }
}

static void prepare_key(struct vplan *p, struct vkey *k)
{
    const struct agg_key *ak = k->k;

    k->dict_size = cc_dict_size(p->view.cols[k->col.index].dict);
    k->fast = VKEY_GENERAL;
    k->bound = 0;
    switch (ak->kind) {
    case KEY_VALUE:
        k->fast = VKEY_STRING;
        k->bound = k->dict_size + 2;
        break;
    case KEY_PART:
        if (ak->unit != CLOCK_YEAR) {
            k->fast = VKEY_DATE_PART;
            k->bound = 2 + part_max(ak->unit) + 1;
        } else {
            k->fast = VKEY_DATE_DAY;
        }
        break;
    case KEY_TRUNC:
        if (day_level(ak))
            k->fast = VKEY_DATE_DAY;
        break;
    case KEY_RANGE:
        k->fast = VKEY_RANGE;
        k->bound = (uint64_t)k->nlabels + 1;
        break;
    }
}

void vexec_prepare_keys(struct vplan *p)
{
    for (int i = 0; i < p->req->nkeys; i++)
        prepare_key(p, &p->keys[i]);
}

/* Range labels deduplicated: two ranges (or a range and the default)
 * that print alike are one group, as on the row path. */
bool vexec_prepare_ranges(struct vplan *p, struct arena *a)
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

/* The slots of a dense table for the request's keys: the product of
 * their bounds, or 0 when a key is unbounded or the product too large. */
static uint64_t dense_size(const struct vplan *p)
{
    uint64_t size = 1;

    for (int k = 0; k < p->req->nkeys; k++) {
        uint64_t bound = p->keys[k].bound;
        if (bound == 0 || bound > DIRECT_MAX / size)
            return 0;
        size *= bound;
    }
    return size;
}

bool vexec_split_by_key(const struct vplan *p)
{
    return dense_size(p) >= KEY_SPLIT_MIN_SLOTS;
}

/* A dense table when every key is bounded and the tuples fit; one that
 * grows for a single unbounded key; none otherwise. */
static int direct_init(struct vthread *th)
{
    const struct vplan *p = th->p;
    int nkeys = p->req->nkeys;
    uint64_t size = 1;

    for (int k = nkeys - 1; k >= 0; k--) {
        th->stride[k] = size;
        uint64_t bound = p->keys[k].bound;
        if (bound == 0 && nkeys == 1) {
            th->direct_grows = true;
            bound = 1024;
        }
        if (bound == 0 || bound > DIRECT_MAX / size)
            return 0;
        size *= bound;
    }
    th->direct_size = size;
    th->all_dense = !th->direct_grows;
    th->direct = calloc(size, sizeof(*th->direct));
    return th->direct == NULL ? ERR_NOMEM : 0;
}

int vexec_groups_init(struct vthread *th)
{
    int nkeys = th->p->req->nkeys;

    th->kmaps = calloc((size_t)(nkeys + 1) * ATOM_CLASSES,
                       sizeof(*th->kmaps));
    th->key_count = calloc((size_t)nkeys + 1, sizeof(*th->key_count));
    th->memo = calloc((size_t)nkeys + 1, sizeof(*th->memo));
    th->days = calloc((size_t)nkeys + 1, sizeof(*th->days));
    th->key_index = calloc((size_t)nkeys + 1, sizeof(*th->key_index));
    th->gid = malloc(BATCH * sizeof(*th->gid));
    th->unit_row = malloc(BATCH * sizeof(uint32_t));
    th->unit_elem = malloc(BATCH * sizeof(uint32_t));
    if (th->kmaps == NULL || th->key_count == NULL || th->memo == NULL ||
        th->days == NULL || th->key_index == NULL || th->gid == NULL ||
        th->unit_row == NULL || th->unit_elem == NULL || grow_groups(th))
        return ERR_NOMEM;
    for (int k = 0; k < nkeys; k++)
        if ((th->key_index[k] = malloc(BATCH * sizeof(uint32_t))) == NULL)
            return ERR_NOMEM;
    return direct_init(th);
}

void vexec_groups_release(struct vthread *th)
{
    int nkeys = th->p ? th->p->req->nkeys : 0;

    for (int k = 0; th->kmaps && k < nkeys * ATOM_CLASSES; k++)
        atom_map_free(&th->kmaps[k]);
    for (int k = 0; th->key_index && k < nkeys; k++)
        free(th->key_index[k]);
    for (int k = 0; th->days && k < nkeys; k++)
        free(th->days[k].index);
    atom_map_free(&th->tuples);
    free(th->memo);
    free(th->days);
    free(th->kmaps);
    free(th->key_count);
    free(th->key_index);
    free(th->gid);
    free(th->unit_row);
    free(th->unit_elem);
    free(th->groups);
    free(th->direct);
}
