/*
 * vexec_internal.h - what the three parts of the column path share.
 *
 *   vexec.c        the plan over columns, the filter, the batch loop, the
 *                  threads and the final merge
 *   vexec_group.c  keys: each unit of a batch to a group id
 *   vexec_fold.c   metrics: each unit folded into its group
 *
 * A thread (struct vthread) owns everything it touches while it scans:
 * its groups, their accumulators, its maps and its lanes. Nothing here is
 * shared between threads until the merge, which runs on one thread.
 */
#ifndef TALLY_QUERY_VEXEC_INTERNAL_H
#define TALLY_QUERY_VEXEC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "query/agg_internal.h"
#include "store/colcache.h"

#define BATCH CC_CHUNK
#define MAX_THREADS 8
#define MAX_KEYS 8

/* --- the plan over columns --------------------------------------------- */

struct vcol {
    int index;               /* in the view's columns */
    bool element;            /* read at element positions */
};

/* How the batch loop turns a key's cells into indexes (vexec_group.c). */
enum vkey_fast {
    VKEY_GENERAL,            /* cell by cell, through the atom maps */
    VKEY_STRING,             /* a value key: strings by dictionary code */
    VKEY_DATE_PART,          /* a bounded date part of a date cell */
    VKEY_DATE_DAY,           /* a date key that depends on the day only */
    VKEY_RANGE,              /* range buckets: the label's index */
};

struct vkey {
    const struct agg_key *k;
    struct vcol col;
    uint64_t dict_size;
    const char **labels;     /* KEY_RANGE: the label of each index */
    int nlabels;
    int *label_index;        /* KEY_RANGE: range -> deduplicated index */
    enum vkey_fast fast;
    uint64_t bound;          /* indexes below it are dense; 0: unbounded */
};

struct vmetric {
    const struct agg_metric *m;
    struct vcol col;         /* index -1: count without a field */
    uint64_t dict_size;      /* codes of the column are below it */
};

struct vnode;

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
bool vexec_cell_value(const struct cc_column *c, uint32_t i,
                      bson_value_t *v);

/* --- per thread -------------------------------------------------------- */

/* A small map from a 64-bit atom to a non-zero value. */
struct atom_map {
    uint64_t *atoms;
    uint32_t *values;        /* 0: empty slot */
    uint64_t nslots, n;
};

/* Date parts that depend on the day only, remembered per day.
 * TUNING: 4096 days (eleven years) without two days sharing a slot; 512
 * left Q4 of the bench (two years of days) computing a third of its
 * parts again. */
#define DAY_MEMO 4096
struct day_memo {
    int64_t day[DAY_MEMO];
    int64_t value[DAY_MEMO];
    bool set[DAY_MEMO];
};

/* Per day-level date key: the key index of each day near the first one
 * met, so that a day costs one load once it has been seen.
 * TUNING: 65536 days (179 years either side of the first date met) in
 * 256 KiB per key and thread; a day outside takes the atom map. */
#define DAY_TABLE_SPAN (1 << 16)
struct day_table {
    int64_t base;            /* the day of slot 0 */
    uint32_t *index;         /* DAY_TABLE_SPAN slots; 0: not yet */
};

/* The distinct dictionary codes a group met, for count_distinct and
 * add_to_set over strings: cheaper than hashing the strings, turned into
 * values once at the end. A hash table while small, a bitmap of the
 * dictionary once that is smaller. */
struct codeset {
    uint32_t *slots;         /* code + 1, 0 empty; or bitmap words */
    uint32_t n, nslots;
    bool bitmap;
};

/* Dense per-group state of one metric for the common cases (counts, sums
 * and averages, min and max of numbers or dates): a few arrays indexed
 * by group id, where an accumulator would take a cache line of its own.
 * Folded into the table's accumulators by the merge. */
enum lane_kind {
    LANE_NONE,
    LANE_COUNT_ROWS,
    LANE_COUNT_FIELD,
    LANE_SUM,                /* sum and avg */
    LANE_MIN,
    LANE_MAX,
};

struct vlane {
    enum lane_kind kind;
    uint64_t *n;             /* counts; values summed */
    int64_t *isum;           /* integer terms, until they would overflow */
    __int128 *fixed;         /* double terms as fixed point (sum.h) */
    union cc_value *best;    /* min, max: an integer, double or date */
    uint8_t *state;          /* sum: a double was added; min, max: the
                                held cell tag, 0 or LANE_SPILLED */
};

#define LANE_SPILLED 0xff

#define VGROUP_NOT_DENSE UINT64_MAX

struct vgroup {
    bson_value_t *keys;
    struct agg_acc *accs;    /* NULL until a metric needs one */
    uint64_t dense_at;       /* index in the dense table, or
                                VGROUP_NOT_DENSE */
};

struct vthread {
    struct vplan *p;
    struct agg_ctx c;
    struct arena arena;
    struct err e;
    uint32_t row_begin, row_end;
    int part, nparts;        /* split by key: this thread's share of the
                                groups (nparts 1: split by rows) */
    uint64_t scanned, matched;
    int rc;

    /* vexec_group.c */
    struct atom_map *kmaps;  /* per key and atom class: atom -> index */
    uint32_t *key_count;     /* per key: indexes handed out */
    struct atom_map tuples;  /* index tuple -> group */
    uint32_t **key_index;    /* per key: per unit of the batch */
    struct day_memo *memo;   /* per key: day-level date parts */
    struct day_table *days;  /* per key: VKEY_DATE_DAY */
    uint64_t stride[MAX_KEYS];
    uint32_t *direct;        /* dense index tuple -> group id */
    uint64_t direct_size;
    bool direct_grows;       /* one unbounded key: grown on demand */
    bool index_failed;       /* a key index could not be made (memory) */
    bool all_dense;          /* every group has a dense index */
    uint32_t *gid;           /* per unit of the batch */
    uint32_t *unit_row, *unit_elem;

    struct vgroup *groups;   /* by group id (1-based; 0 unused) */
    uint64_t ngroups, cap_groups;

    /* vexec_fold.c */
    struct vlane *lanes;     /* per metric */
    uint64_t lane_cap;
    struct codeset **codes;  /* per group and metric: distinct strings */
    uint64_t codes_cap;
    uint64_t pending_charge; /* bytes of new codes, charged per batch */
};

/* vexec_group.c */
void vexec_prepare_keys(struct vplan *p);
bool vexec_prepare_ranges(struct vplan *p, struct arena *a);
int vexec_groups_init(struct vthread *th);
void vexec_groups_release(struct vthread *th);
/* Group ids for the batch's n units; when the threads split the groups
 * between them, first drops the units of other threads' groups (*n
 * shrinks). */
int vexec_assign_groups(struct vthread *th, uint32_t *n);
/* Whether threads should split the groups rather than the rows: many
 * possible groups, each pairable by a dense index. */
bool vexec_split_by_key(const struct vplan *p);

/* vexec_fold.c */
void vexec_prepare_metrics(struct vplan *p);
int vexec_fold_init(struct vthread *th);
void vexec_fold_release(struct vthread *th);
int vexec_fold_batch(struct vthread *th, uint32_t n);
/* Every thread's groups, lanes folded in, in thread (row) order, into the
 * table. When a top-N by count leaves groups out of the table, *total is
 * the number of groups there were (else 0). */
int vexec_fold_merge(struct vthread *th, int nthreads,
                     struct agg_table *table, struct agg_ctx *c,
                     uint64_t *total);

#endif
