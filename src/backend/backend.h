/*
 * backend.h - the object repository: where a bucket's objects live.
 *
 * The catalog (namespaces, buckets with their schema and unique key, API
 * keys) always stays in the local store. A backend keeps the objects and
 * answers everything about them: create, batch, read, replace, change,
 * delete, list, import and aggregate. The API handlers parse requests and
 * write answers; between the two they call a backend through the
 * functions below. Two backends exist:
 *
 *   embedded   (embedded.c)      objects in the local LMDB store, beside
 *                                the catalog; the default
 *   clickhouse (clickhouse*.c)   objects in a ClickHouse cluster, one
 *                                table per bucket (docs/clickhouse.md)
 *
 * Calls name the bucket as the request did (id or name) and resolve it
 * themselves, because a write must see the bucket as it is when the
 * write happens. Errors follow base/err.h; messages are for the user.
 */
#ifndef TALLY_BACKEND_BACKEND_H
#define TALLY_BACKEND_BACKEND_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "query/agg.h"
#include "query/filter.h"
#include "store/catalog.h"
#include "store/importer.h"
#include "store/store.h"

struct backend;

/* One request as a backend sees it. */
struct backend_req {
    struct store_txn *rd;        /* the request's catalog snapshot (may be
                                    closed for writes: then NULL) */
    const char *ns_id;
    const char *bucket;          /* as the path gave it: id or name */
    int64_t now_ms;
    uint64_t max_object_bytes;
    const char *policy;          /* ?policy=, or NULL */
    bool rows_only;              /* aggregate: ?engine=rows */
};

/* --- objects ----------------------------------------------------------- */

/* A batch: per object, the stored document or the reason it failed.
 * The caller allocates both arrays (one slot per object) and frees them;
 * stored[i] is destroyed by the caller when errors[i].code == ERR_OK. */
struct backend_batch {
    bson_t *stored;
    struct err *errors;
    size_t count;                /* objects tried, set by the backend */
};

/* Writes one object. *stored receives the stored document (the caller
 * destroys it). */
int backend_object_create(struct backend *be, const struct backend_req *r,
                          const bson_t *body, bson_t *stored, struct err *e);
/* Writes the objects of the array at `objects`, each on its own. A
 * non-zero return means nothing could be tried (unknown bucket...). */
int backend_object_batch(struct backend *be, const struct backend_req *r,
                         const bson_iter_t *objects, struct backend_batch *b,
                         struct err *e);
/* Reads one object into *out (initialised here; the caller destroys it
 * on success). */
int backend_object_get(struct backend *be, const struct backend_req *r,
                       const char *object_id, bson_t *out, struct err *e);
/* Replaces (merge false) or merge-patches (merge true) one object. */
int backend_object_change(struct backend *be, const struct backend_req *r,
                          const char *object_id, const bson_t *body,
                          bool merge, bson_t *stored, struct err *e);
int backend_object_delete(struct backend *be, const struct backend_req *r,
                          const char *object_id, struct err *e);

/* --- lists ------------------------------------------------------------- */

#define BACKEND_TIE_MAX 160

struct backend_row {
    const uint8_t *doc;          /* BSON of the object, owned by the list */
    size_t len;
    bson_value_t key;            /* sort value (owned copy) when sorting */
    bool has_key;
    unsigned char tie[BACKEND_TIE_MAX]; /* the cursor's tie-breaker */
    size_t tie_len;
};

struct backend_status_count {
    char name[32];
    uint64_t n;
};

struct backend_list_stats {
    uint64_t matched, blobs;
    struct backend_status_count statuses[16];
    int nstatus;
};

/* A page of objects/list. The request half is filled by the caller; the
 * backend fills the answer half, which backend_list_release() frees. */
struct backend_list {
    uint64_t limit, offset;
    bool include_total;
    bool has_cursor;             /* continue after (cursor_value, tie) */
    bool cursor_has_value;
    const bson_value_t *cursor_value;
    const unsigned char *cursor_tie;
    size_t cursor_tie_len;
    const char *search;          /* NULL or "" for none */
    const char *sort_field;      /* NULL: the backend's natural order */
    bool sort_desc;
    const struct filter *filter; /* NULL: every object */
    const bson_t *bucket;        /* the bucket record */

    /* The answer: the page in order, offset and cursor applied, with one
     * row more than limit when more follow. stats when include_total. */
    struct backend_row *rows;
    size_t n;
    struct backend_list_stats stats;
    void *owned;                 /* the backend's memory behind rows */
    void (*release)(struct backend_list *l);
};

int backend_object_list(struct backend *be, const struct backend_req *r,
                        const struct catalog_bucket *b,
                        struct backend_list *l, struct err *e);
void backend_list_release(struct backend_list *l);

/* --- import ------------------------------------------------------------ */

struct backend_import;

/* The streaming NDJSON import (store/importer.h describes the contract:
 * lines keep their ids and timestamps, each is kept or rejected alone). */
int backend_import_new(struct backend *be, const struct backend_req *r,
                       const struct importer_config *cfg,
                       struct backend_import **out, struct err *e);
int backend_import_feed(struct backend_import *im, const char *data,
                        size_t n, struct err *e);
int backend_import_drain(struct backend_import *im, struct err *e);
int backend_import_finish(struct backend_import *im, struct err *e);
const struct importer_stats *
backend_import_stats(const struct backend_import *im);
const struct importer_reject *backend_import_rejects(struct backend_import *im,
                                                     size_t *n);
const char *backend_import_bucket_id(const struct backend_import *im);
void backend_import_free(struct backend_import *im);

/* --- aggregation ------------------------------------------------------- */

/* Runs a planned request over bucket b. *res is freed with
 * agg_result_free(). */
int backend_aggregate(struct backend *be, const struct backend_req *r,
                      const struct catalog_bucket *b, struct agg_plan *plan,
                      struct agg_result **res, struct err *e);

/* --- buckets ----------------------------------------------------------- */

/* Makes room for a new bucket's objects before its record is stored
 * (bucket_id and bucket_schema are in record). */
int backend_bucket_prepare(struct backend *be, const char *bucket_id,
                           const bson_t *record, struct err *e);
/* Removes the objects of buckets whose records were deleted (a bucket
 * that was prepared but never stored too). Failures are logged. */
void backend_bucket_drop(struct backend *be, const char *bucket_id);
/* The running totals of a bucket (zero when unknown). */
void backend_bucket_stats(struct backend *be, struct store_txn *rd,
                          const struct catalog_bucket *b,
                          struct catalog_bucket_stats *out);

/* --- the backends ------------------------------------------------------ */

struct vexec_env;

/* The embedded store: objects in s, beside the catalog. columns is the
 * column path for aggregations (NULL: rows only). */
int backend_embedded_new(struct store *s, const struct vexec_env *columns,
                         struct backend **out, struct err *e);

/* ClickHouse: url is clickhouse://HOST:PORT/DB?cluster=NAME (see
 * docs/clickhouse.md). The catalog stays in s. */
int backend_clickhouse_new(struct store *s, const char *url,
                           const struct query_limits *lim,
                           struct backend **out, struct err *e);

const char *backend_name(const struct backend *be);
/* Aggregations answered by the embedded row path (for /metrics). */
uint64_t backend_row_aggregations(const struct backend *be);
void backend_free(struct backend *be);

#endif
