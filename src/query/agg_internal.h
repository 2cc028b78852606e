/*
 * agg_internal.h - the parts of the aggregation engine that its files
 * share: the validated request, the plan, rows, groups and results.
 * Private to src/query/.
 *
 * Lifetimes. The request and plan live in the request's arena. Values
 * read from stored documents are views into the snapshot's memory, valid
 * while the snapshot is open (the whole execution); values built during
 * the run (arrays resolved through arrays, collected sets) are copied
 * into the result's arena or malloc'd and freed with the result.
 */
#ifndef TALLY_QUERY_AGG_INTERNAL_H
#define TALLY_QUERY_AGG_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/clock.h"
#include "query/agg.h"
#include "query/filter.h"
#include "query/sum.h"
#include "query/value.h"
#include "store/colcache.h"

enum agg_fn {
    AGG_COUNT,
    AGG_COUNT_DISTINCT,
    AGG_SUM,
    AGG_AVG,
    AGG_MIN,
    AGG_MAX,
    AGG_FIRST,
    AGG_LAST,
    AGG_PUSH,
    AGG_ADD_TO_SET,
    AGG_FN_COUNT
};

const char *agg_fn_name(enum agg_fn fn);

/* A field path as a row sees it: from the object, or (when it is the
 * unwound path or below it) from the unwound element, or (when it is
 * above the unwound path) from the object with the element in place of
 * the array, as after MongoDB's $unwind. */
struct agg_path {
    const char *path;        /* as written */
    bool from_element;
    const char *rest;        /* below the element ("" for the element) */
    bool above_element;
    const char *down;        /* from the path to the unwound field */
};

enum agg_key_kind { KEY_VALUE, KEY_TRUNC, KEY_PART, KEY_RANGE };

struct agg_key {
    const char *name;        /* output name: alias or field as written */
    struct agg_path field;
    enum agg_key_kind kind;
    enum clock_unit unit;    /* KEY_TRUNC, KEY_PART */
    double *bounds;          /* KEY_RANGE */
    int nbounds;
    const char **labels;     /* nbounds - 1 labels "b0-b1" */
    const char *default_label;
};

struct agg_metric {
    enum agg_fn fn;
    const char *alias;
    struct agg_path field;   /* path NULL for count without a field */
};

enum agg_cmp { CMP_GT, CMP_GTE, CMP_LT, CMP_LTE, CMP_EQ, CMP_NE };

struct agg_having {
    bool on_key;
    int index;               /* into keys or metrics */
    enum agg_cmp op;
    bson_value_t value;      /* view into the request */
    bool has_date;           /* value is an ISO 8601 string: as a date */
    int64_t date_ms;
};

struct agg_request {
    const bson_t *bucket;
    struct filter *filter;
    const char *unwind;      /* NULL: none */
    struct agg_key *keys;    /* group_by keys, then range buckets */
    int nkeys, ngroup_by;
    struct agg_metric *metrics;
    int nmetrics;
    struct agg_having *having;
    int nhaving;
    bool has_sort, sort_on_key, sort_desc;
    int sort_index;
    int64_t limit;           /* 0: no limit */
};

/* --- rows ---------------------------------------------------------------
 * A row is an object, or one element of its unwound array. */
struct agg_row {
    const uint8_t *doc;
    size_t len;
    bool has_element;
    bson_iter_t element;     /* positioned on the unwound element */
};

/* Resolves a path for a row: 0 with a value, ERR_NOT_FOUND when missing.
 * *built says the value lives in scratch (copy it to keep it). */
int agg_row_resolve(const struct agg_row *row, const struct agg_path *p,
                    struct buf *scratch, bson_value_t *out, bool *built);

/* --- groups ------------------------------------------------------------ */

/* One metric's running state. */
struct agg_acc {
    int64_t n;               /* count, or values averaged; for
                                count_distinct, distinct values counted
                                outside the set (the column path counts
                                dictionary codes) */
    struct exact_sum sum;    /* sum, avg */
    bool has;                /* min, max, first, last: a value is held */
    bson_value_t v;          /* min, max, first, last */
    struct agg_valset *set;  /* count_distinct, add_to_set */
    struct agg_vallist *list;/* push */
    uint8_t *owned;          /* min, max, last: a built value (malloc'd, */
    size_t owned_cap;        /* reused as it is replaced row after row) */
};

struct agg_group {
    uint64_t hash;
    uint32_t index;          /* position in the table, in order of birth */
    bson_value_t *keys;      /* nkeys */
    struct agg_acc *accs;    /* nmetrics */
    bson_value_t *out;       /* nmetrics: final values (after finish) */
};

/* --- stages -------------------------------------------------------------
 * Row stages run per object; group stages run once on the groups. */

struct agg_ctx {
    const struct agg_request *req;
    const struct query_limits *lim;
    struct arena *arena;     /* result lifetime */
    struct buf scratch;      /* per row */
    _Atomic uint64_t *memory;/* bytes held by collected values (shared
                                by the threads of one request) */
    bool precharged;         /* values arriving were charged when first
                                collected (a thread's groups being merged):
                                the budget counts each value once, as the
                                row path does */
    uint64_t scanned, matched;
    int64_t deadline_ns;
    struct err *e;
};

/* match */
bool stage_match(const struct agg_request *req, const uint8_t *doc,
                 size_t len);

/* unwind: calls emit for each row of the object; stops on non-zero. */
typedef int (*agg_emit_fn)(void *ctx, const struct agg_row *row);
int stage_unwind(const struct agg_request *req, const uint8_t *doc,
                 size_t len, struct buf *scratch, agg_emit_fn emit,
                 void *ctx);

/* key: the row's group key (nkeys values, views or scratch). */
void stage_key(const struct agg_request *req, const struct agg_row *row,
               struct buf *scratch, bson_value_t *keys, bool *built);

/* accumulate: the group table. */
struct agg_table;
int stage_accumulate_open(struct agg_ctx *c, struct agg_table **out);
int stage_accumulate_row(struct agg_table *t, const struct agg_row *row,
                         const bson_value_t *keys, const bool *built);
/* Folds a group accumulated elsewhere (a part of the rows that comes
 * after every part folded so far) into the table. */
int stage_accumulate_fold(struct agg_table *t, const bson_value_t *keys,
                          const struct agg_acc *accs,
                          struct agg_group **into);
/* Adds a group whose keys the caller knows to be new, without a lookup;
 * a table that adopted groups is not folded into afterwards. */
int stage_accumulate_adopt(struct agg_table *t, const bson_value_t *keys,
                           const struct agg_acc *accs,
                           struct agg_group **into);
/* Merges accumulators of a later part of the rows into a group. */
int stage_accumulate_merge(struct agg_table *t, struct agg_group *into,
                           const struct agg_acc *accs);
/* The table's groups so far, in order of birth (index). */
void agg_table_groups(struct agg_table *t, struct agg_group ***groups,
                      size_t *n);
/* Final values; the groups array stays owned by the table. */
int stage_accumulate_finish(struct agg_table *t, struct agg_group ***groups,
                            size_t *n);
void stage_accumulate_close(struct agg_table *t);

/* One metric's accumulator, shared by the row and column paths so that
 * both give the same answer: add a row's value (found: present at all;
 * built: lives in scratch and must be copied), fold a later part into an
 * earlier one, and compute the final value. */
int agg_acc_add(struct agg_ctx *c, const struct agg_metric *m,
                struct agg_acc *a, const bson_value_t *v, bool found,
                bool built);
int agg_acc_merge(struct agg_ctx *c, const struct agg_metric *m,
                  struct agg_acc *into, const struct agg_acc *from);
int agg_acc_finish(struct agg_ctx *c, const struct agg_metric *m,
                   struct agg_acc *a, bson_value_t *out);
/* Charges bytes of collected values to the request's memory budget:
 * ERR_LIMIT (named max_memory_bytes) when it is spent. */
int agg_charge(struct agg_ctx *c, size_t bytes);

/* having: keeps the groups that pass every condition, in order. */
size_t stage_having(const struct agg_request *req, struct agg_group **groups,
                    size_t n);

/* sort and limit. */
void stage_sort(const struct agg_request *req, struct agg_group **groups,
                size_t n);
size_t stage_limit(const struct agg_request *req, size_t n);

/* The whole plan. */
struct agg_plan {
    const struct agg_request *req;
    struct query_limits lim;
    struct arena *arena;
    int nstages;
    const char *stages[8];   /* names, for logs and query_info */
};

struct agg_result {
    struct agg_table *table;
    struct colcache *view_cc;    /* the column path's pinned view */
    struct cc_view view;
    struct agg_group **groups;   /* sorted, limited */
    size_t ngroups;              /* in the answer */
    size_t groups_before_limit;
    uint64_t scanned, matched;
};

/* The equivalent MongoDB pipeline. */
void agg_write_pipeline(const struct agg_request *req, struct jw *w);
int agg_pipeline_stage_count(const struct agg_request *req);

/* Collected-value containers (accumulate.c). */
void agg_valset_free(struct agg_valset *s);
void agg_vallist_free(struct agg_vallist *l);

#endif
