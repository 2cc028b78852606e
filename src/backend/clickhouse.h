/*
 * clickhouse.h - the parts of the ClickHouse backend that its files
 * share. Private to src/backend/.
 *
 *   clickhouse.c         the backend object, start-up, bucket totals
 *   clickhouse_http.c    the connection: HTTP requests with libcurl
 *   clickhouse_sql.c     SQL text: literals (the one escaping function),
 *                        identifiers, a small statement builder
 *   clickhouse_rows.c    a stored document as a table row: sort keys,
 *                        path entries, RowBinary
 *   clickhouse_schema.c  tables: layout, CREATE and DROP on every shard
 *   clickhouse_write.c   create, batch, replace, change, delete, import
 *   clickhouse_read.c    read one object, lists
 *   clickhouse_final.c   when reads may leave FINAL out
 *   clickhouse_agg.c     an aggregation request as one SELECT
 *
 * Layout and semantics: docs/clickhouse.md.
 */
#ifndef TALLY_BACKEND_CLICKHOUSE_H
#define TALLY_BACKEND_CLICKHOUSE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/internal.h"
#include "base/buf.h"
#include "query/limits.h"

#define CH_MAX_SHARDS 64
#define CH_HOST_MAX 256

/* One HTTP endpoint of the cluster. */
struct ch_endpoint {
    char host[CH_HOST_MAX];
    unsigned port;
};

struct ch {
    struct backend base;
    struct store *store;             /* the catalog */
    struct query_limits lim;

    struct ch_endpoint entry;        /* queries and inserts go here */
    struct ch_endpoint shards[CH_MAX_SHARDS]; /* DDL goes to each */
    int nshards;
    char db[128];
    char cluster[128];
    char user[128], password[128];
    char version[64];

    /* Writes are serialised: checks (object id, unique key) and the
     * insert that follows them must not interleave with another write.
     * One Tally front-end per cluster (docs/clickhouse.md). */
    pthread_mutex_t write_mu;
    uint64_t last_version;

    /* Buckets whose tables hold no superseded live row (reads may leave
     * FINAL out): clickhouse_final.c. */
    pthread_mutex_t final_mu;
    pthread_rwlock_t final_rw;
    struct ch_final *finals;
};

/* --- clickhouse_http.c -------------------------------------------------- */

/* Per-request ClickHouse settings (URL parameters). */
struct ch_settings {
    const char *pairs[24];           /* name, value, name, value, ... */
    int n;
    bool no_database;                /* before the database exists */
};

void ch_settings_add(struct ch_settings *s, const char *name,
                     const char *value);

/* Runs sql on endpoint ep (NULL: the entry point). data (may be NULL) is
 * sent as the body after the query, which then goes in the URL (for
 * INSERT ... FORMAT RowBinary); otherwise the query is the body. The
 * answer is appended to out (may be NULL). Errors: ERR_UNAVAILABLE when
 * the server cannot be reached, ERR_TIMEOUT / ERR_LIMIT for ClickHouse's
 * limits, ERR_IO for any other exception (message from ClickHouse). */
int ch_query(struct ch *ch, const struct ch_endpoint *ep, const char *sql,
             const void *data, size_t data_len, const struct ch_settings *s,
             struct buf *out, struct err *e);

/* The ClickHouse error code of the last failed query's text, or 0. */
int ch_error_code(const char *text);

/* --- clickhouse_sql.c --------------------------------------------------- */

/* Appends s[0..n) as a ClickHouse string literal: quoted, with every
 * byte that could end or bend the literal escaped. The only way user
 * text enters SQL. */
void ch_sql_string(struct buf *out, const char *s, size_t n);
void ch_sql_cstring(struct buf *out, const char *s);
/* Appends a literal holding bytes as hex escapes (any bytes). */
void ch_sql_bytes(struct buf *out, const void *p, size_t n);
/* Appends an identifier in back quotes, escaped. */
void ch_sql_ident(struct buf *out, const char *s);
/* Appends formatted text (no user text here: use the functions above). */
void ch_sql_printf(struct buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends RE2 pattern text that matches s[0..n) literally. */
void ch_regex_escape(struct buf *out, const char *s, size_t n);

/* Table names of a bucket: local (on each shard) and distributed. */
void ch_table_local(struct buf *out, const struct ch *ch, const char *bucket_id);
void ch_table_dist(struct buf *out, const struct ch *ch, const char *bucket_id);

/* --- the layout of a bucket's table ------------------------------------- */

/* Paths with columns of their own ("typed" paths): the system fields and
 * the fields the bucket schema declares at the top of metadata with a
 * scalar type (string, integer, number, float, boolean, date,
 * datetime), whose value is one scalar, null or missing. Each holds the
 * same facets as a val entry, in columns <name>__p (present), __t, __k,
 * __n, __i, __d, __x and __c3..__c0: a filter, key or metric on such a
 * path reads them instead of searching the entries. */
#define CH_TYPED_MAX 64

struct ch_typed {
    char path[256];
    char name[160];              /* column prefix, [A-Za-z0-9_] */
    bool key_decides;            /* the sort key tells the value's type
                                    and form (not so for numbers: 1 and
                                    1.0 share a key) */
    bool ints_only;              /* numbers are integers (integer) */
};

struct ch_layout {
    struct ch_typed typed[CH_TYPED_MAX];
    int ntyped;
};

/* The layout of a bucket (its record: bucket_schema). */
void ch_layout_of(const bson_t *bucket, struct ch_layout *out);
const struct ch_typed *ch_layout_find(const struct ch_layout *l,
                                      const char *path);
/* Appends ", <columns> <types>" (ddl) or ", <columns>" of the typed
 * paths. */
void ch_layout_columns(const struct ch_layout *l, bool ddl, struct buf *out);

/* --- clickhouse_rows.c -------------------------------------------------- */

/* Type codes of path entries (column t). */
enum ch_type {
    CHT_NULL = 1,
    CHT_INT = 2,
    CHT_DOUBLE = 3,
    CHT_STRING = 4,
    CHT_OBJECT = 5,
    CHT_ARRAY = 6,
    CHT_BOOL = 7,
    CHT_DATE = 8,
    CHT_OTHER = 9
};

/* First bytes of sort keys: the contract's order of types. */
enum ch_rank {
    CHR_NULL = 1,
    CHR_NUMBER = 2,
    CHR_STRING = 3,
    CHR_OBJECT = 4,
    CHR_ARRAY = 5,
    CHR_BOOL = 6,
    CHR_DATE = 7,
    CHR_OTHER = 8
};

/* How a number adds up (val.fk): not a double, a double summed exactly
 * as a 64.64 fixed-point number (by sign), or a loose double. */
enum ch_fixed {
    CHX_NONE = 0,
    CHX_POSITIVE = 1,
    CHX_NEGATIVE = 2,
    CHX_LOOSE = 3
};

/* No date: the d column of an entry that holds no date. */
#define CH_NO_DATE INT64_MIN

enum ch_type ch_type_of(const bson_value_t *v);

/* Appends the sort key of v: byte strings whose order (memcmp, shorter
 * first) is the contract's order of values and whose equality is the
 * contract's equality (1 and 1.0 share a key). */
void ch_key_encode(struct buf *out, const bson_value_t *v);

/* Decodes a sort key into a value: numbers become int64 when t says
 * CHT_INT, else doubles; arrays and objects are built in *scratch (the
 * value points into it; numbers inside them are doubles unless they are
 * integral and fit an int64). 0 or ERR_CORRUPT. */
int ch_key_decode(const uint8_t *k, size_t n, enum ch_type t,
                  struct buf *scratch, bson_value_t *out);

/* The date a value stands for: a date, or a string in ISO 8601 form. */
int64_t ch_date_of(const bson_value_t *v);

/* Appends one row for doc (the stored document, a bucket's object) in
 * RowBinary, in the column order of CH_INSERT_COLUMNS then the layout's
 * typed columns. */
int ch_row_encode(const bson_t *doc, const struct ch_layout *layout,
                  uint64_t version, bool deleted, struct buf *out,
                  struct err *e);

/* The 64-bit SipHash-2-4 (zero key) of an entry's name (val.at,
 * cand.path): ClickHouse's sipHash64(), stored beside the name (val.h,
 * cand.h), so that SQL finds an entry by comparing integers. */
uint64_t ch_name_hash(const char *s, size_t n);
/* Appends the SQL of the hash of a name known now (a constant). */
void ch_sql_name_hash(struct buf *out, const char *s, size_t n);

/* The columns every insert names, in row order. */
extern const char CH_INSERT_COLUMNS[];

/* --- clickhouse_schema.c ------------------------------------------------ */

int ch_schema_start(struct ch *ch, struct err *e);
int ch_schema_create(struct ch *ch, const char *bucket_id,
                     const bson_t *record, struct err *e);
void ch_schema_drop(struct ch *ch, const char *bucket_id);

/* --- clickhouse_write.c ------------------------------------------------- */

int ch_object_create(struct backend *be, const struct backend_req *r,
                     const bson_t *body, bson_t *stored, struct err *e);
int ch_object_batch(struct backend *be, const struct backend_req *r,
                    const bson_iter_t *objects, struct backend_batch *b,
                    struct err *e);
int ch_object_change(struct backend *be, const struct backend_req *r,
                     const char *object_id, const bson_t *body, bool merge,
                     bson_t *stored, struct err *e);
int ch_object_delete(struct backend *be, const struct backend_req *r,
                     const char *object_id, struct err *e);
int ch_import_new(struct backend *be, const struct backend_req *r,
                  const struct importer_config *cfg,
                  struct backend_import **out, struct err *e);

/* --- clickhouse_read.c -------------------------------------------------- */

/* The stored JSON of an object as the stored document, appended to doc
 * (an empty document): created_at and updated_at become dates again. */
int ch_doc_from_json(const char *json, size_t n, bson_t *doc, struct err *e);

/* The live documents of bucket_id whose object_id is one of ids (n of
 * them), as BSON appended to out, one after the other (found[i] set for
 * each id found, in the order of ids). */
int ch_fetch_objects(struct ch *ch, const char *bucket_id,
                     const char *const *ids, size_t n, struct buf *out,
                     size_t *offsets, bool *found, struct err *e);
int ch_object_get(struct backend *be, const struct backend_req *r,
                  const char *object_id, bson_t *out, struct err *e);
int ch_object_list(struct backend *be, const struct backend_req *r,
                   const struct catalog_bucket *b, struct backend_list *l,
                   struct err *e);

/* --- clickhouse_final.c ------------------------------------------------ */

/* How one read names its table: with FINAL, or without it while the read
 * holds the read side of final_rw (until ch_read_end). */
struct ch_read {
    bool final;
    bool locked;
};

void ch_final_init(struct ch *ch);
void ch_final_free(struct ch *ch);
/* Decides how to read bucket_id; may_check lets a dirty bucket be
 * checked first (two counts, under the write lock: never while holding
 * write_mu or another ch_read). Every ch_read_begin has its ch_read_end. */
void ch_read_begin(struct ch *ch, const char *bucket_id, bool may_check,
                   struct ch_read *r);
void ch_read_end(struct ch *ch, struct ch_read *r);
/* Appends the Distributed table's name and FINAL when the read needs it. */
void ch_from(struct buf *sql, struct ch *ch, const char *bucket_id,
             const struct ch_read *r);
/* Before inserting rows that supersede live ones (under write_mu). */
void ch_final_supersede(struct ch *ch, const char *bucket_id);
/* A bucket dropped. */
void ch_final_forget(struct ch *ch, const char *bucket_id);

/* --- clickhouse_expr.c -------------------------------------------------- */

/* The facets of a path's value as keys and metrics read it (val entries,
 * value_resolve's rules): elem is the SQL of the element position (the
 * unwound element's, or "0" for the document); prefixes shorter than
 * floor bytes (the unwound path's length, 0 without unwind) are known
 * objects. */
enum ch_facet {
    CHF_PRESENT,                     /* UInt8: the path resolves */
    CHF_TYPE,                        /* enum ch_type, 0 when missing */
    CHF_SKEY,                        /* sort key, '' when missing */
    CHF_JSON,                        /* JSON of arrays and objects */
    CHF_NUM,                         /* Float64: numbers; array length */
    CHF_INUM,                        /* Int64 of integers */
    CHF_MS,                          /* date (ms) of dates and ISO strings */
    CHF_FK,                          /* enum ch_fixed */
    CHF_F3, CHF_F2, CHF_F1, CHF_F0   /* fixed-point chunks, high first */
};

void ch_resolve_sql(struct buf *out, const char *path, const char *elem,
                    size_t floor, enum ch_facet facet);
/* The same with suffix (SQL of a String, or NULL) after the position in
 * the entry's name: ancestors of an unwound path ("path#3@unwound"). */
void ch_resolve_sql_at(struct buf *out, const char *path, const char *elem,
                       const char *suffix, size_t floor, enum ch_facet facet);

/* A facet of a typed path, from its columns. */
void ch_typed_sql(struct buf *out, const struct ch_typed *t,
                  enum ch_facet facet);

/* Appends the SQL condition of a compiled filter (NULL: true) over the
 * cand entries (and the layout's typed columns). Regular expressions
 * that RE2 cannot run are refused with ERR_VALIDATION, located under
 * path. */
int ch_filter_sql(struct ch *ch, const struct filter *f,
                  const struct ch_layout *layout, struct buf *out,
                  struct err_path *path, struct err *e);
/* The condition of objects/list's search (any string, ASCII caseless). */
void ch_search_sql(struct buf *out, const char *needle);

/* --- clickhouse_agg.c --------------------------------------------------- */

int ch_aggregate(struct backend *be, const struct backend_req *r,
                 const struct catalog_bucket *b, struct agg_plan *plan,
                 struct agg_result **res, struct err *e);

/* The condition every read of live objects adds. */
#define CH_LIVE "is_deleted = 0"

#endif
