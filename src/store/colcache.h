/*
 * colcache.h - the column cache: per bucket, the values of the field
 * paths that aggregations touch, as typed arrays, kept in step with the
 * store and read at exactly the snapshot of the query.
 *
 * Layout. A bucket's objects are rows in insertion order (by sequence);
 * deleted objects stay as rows marked dead until the bucket's cache is
 * rebuilt. A column holds one cell per row: a tag (missing, null, int,
 * double, string, bool, date, other) and an 8-byte value (the string's
 * code in the column's dictionary, the date in milliseconds...). Values
 * that are arrays or objects are "other": the query engine takes its row
 * path for a column that holds any. An unwind path has an index column
 * (each row's first element and element count) and element columns for
 * the paths below it; elements are numbered in an element space of their
 * own. Everything is stored in chunks of CC_CHUNK cells.
 *
 * Versions. A version is the state of a bucket's columns at one store
 * transaction. Readers pin a version and never see it change: a write
 * that changes a row copies the row's chunks first (copy on write), and
 * appends go past the end that older versions see. Committed changes are
 * logged by the store's observer in a ring (transaction, bucket,
 * sequence); a reader whose snapshot is newer than the cached version
 * brings it up to date from the log, reading the changed objects in its
 * own snapshot. When the log has wrapped past a version, or memory is
 * short, the bucket's columns are dropped and built again when needed.
 *
 * Memory is accounted per chunk and dictionary; past the budget the least
 * recently used buckets are dropped.
 */
#ifndef TALLY_STORE_COLCACHE_H
#define TALLY_STORE_COLCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

/* TUNING: 4096 cells make a chunk of 36 KiB: big enough for tight loops,
 * small enough that copying one on an update costs microseconds. */
#define CC_CHUNK 4096
#define CC_CHUNK_SHIFT 12

enum cc_tag {
    CC_MISSING = 0,
    CC_NULL,
    CC_INT,
    CC_DOUBLE,
    CC_STRING,
    CC_BOOL,
    CC_DATE,
    CC_OTHER,
    CC_TAG_COUNT
};

union cc_value {
    int64_t i;               /* CC_INT, CC_DATE (ms), CC_BOOL (0/1) */
    double d;                /* CC_DOUBLE */
    uint64_t code;           /* CC_STRING: dictionary code */
};

/* A chunk of cells (shared between versions, counted by the cache). */
struct cc_cells {
    union cc_value val[CC_CHUNK];
    uint8_t tag[CC_CHUNK];
};

/* The strings of one column: codes in order of first appearance. Entries
 * are never moved or removed while the column lives. */
struct cc_dict;

/* A string of a dictionary by code (any code a pinned version holds). */
const char *cc_dict_string(const struct cc_dict *d, uint64_t code,
                           uint32_t *len);
/* The code of a string, or -1 when the dictionary has not seen it. */
int64_t cc_dict_find(struct cc_dict *d, const char *s, uint32_t len);
/* How many strings (codes 0..n-1) the dictionary holds now. */
uint64_t cc_dict_size(struct cc_dict *d);

/* What a query asks for: a path of the object, or (with unwind) a path
 * below the unwound array's elements ("" for the element itself). */
struct cc_need {
    const char *unwind;      /* NULL: a row column */
    const char *path;
};

/* One column of a pinned view. */
struct cc_column {
    struct cc_cells **chunks;
    struct cc_dict *dict;
    uint64_t other;          /* cells tagged CC_OTHER */
};

/* A pinned, consistent view of a bucket at the reader's snapshot. */
struct cc_view {
    struct cc_version *version;
    uint32_t nrows;
    uint64_t **seqs;             /* chunks of CC_CHUNK sequences */
    uint64_t **live;             /* chunks of CC_CHUNK/64 bit words */
    uint32_t **elem_start;       /* unwind: per row, first element */
    uint32_t **elem_count;       /* unwind: per row, element count */
    uint32_t nelems;
    struct cc_column *cols;      /* in the order of the request's needs */
    int ncols;
};

struct colcache;

struct colcache_config {
    uint64_t budget_bytes;       /* memory for columns and dictionaries */
    uint32_t log_entries;        /* changes remembered for catching up */
};

#define COLCACHE_DEFAULT_BUDGET ((uint64_t)8 << 30)
#define COLCACHE_DEFAULT_LOG (1u << 20)

int colcache_new(struct store *s, const struct colcache_config *cfg,
                 struct colcache **out);
void colcache_free(struct colcache *cc);

/* Pins a view of bucket `num` with the needed columns (building missing
 * ones, catching up with the log) at the snapshot of t. Returns 0, or
 * ERR_UNAVAILABLE when the cache cannot serve this snapshot now (the
 * caller takes the row path), or an error. unwind applies to every need
 * that names it; at most one unwind path per view. */
int colcache_view(struct colcache *cc, struct store_txn *t, uint32_t num,
                  const struct cc_need *needs, int nneeds,
                  struct cc_view *out, struct err *e);
void colcache_release(struct colcache *cc, struct cc_view *view);

/* Figures for /metrics. */
struct colcache_usage {
    uint64_t bytes, budget, buckets, columns, builds, catchups, evictions;
    uint64_t hits, misses;
};
void colcache_usage(struct colcache *cc, struct colcache_usage *u);

#endif
