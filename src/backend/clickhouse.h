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
 *   clickhouse_schema.c  tables: CREATE, DROP and ADD COLUMN on every
 *                        shard, and the columns a table has (its layout)
 *   clickhouse_write.c   create, batch, replace, change, delete, import
 *   clickhouse_read.c    read one object, lists
 *   clickhouse_state.c   what Tally knows of a bucket's table: its layout,
 *                        whether reads may leave FINAL out
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

    /* Each bucket's layout and whether its table holds superseded live
     * rows (clickhouse_state.c). */
    pthread_mutex_t state_mu;
    pthread_rwlock_t shape_rw;
    struct ch_bucket *buckets;
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

/* Runs sql on endpoint ep (NULL: the entry point). data (may be NULL)
 * follows the query in the body, after a newline (for INSERT ... FORMAT
 * RowBinary). The
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

/* Paths with columns of their own ("typed" paths): the system fields, and
 * each member of metadata the bucket's objects have held, from the first
 * object that held it (promoted then: clickhouse_schema.c), up to
 * CH_TYPED_MAX paths. Each holds what the path's val entry at the
 * document holds, in columns <name>__p (present), __t, __k, __j, __n,
 * __i, __d, __x and __c3..__c0, so that keys, metrics and (while it has
 * held no container) filters read them instead of searching the entries.
 * Marker columns record what kinds of values the path has held:
 * <name>__hc (an array or object), __hi (an integer), __hd (a double). */
/* TUNING: 64 typed paths is 768 columns: plenty for the handful of
 * members aggregations read, and inserts write every typed column. */
#define CH_TYPED_MAX 64
/* TUNING: member names longer than this stay in the entries only (a
 * column name spells the path out, three bytes for some characters). */
#define CH_TYPED_PATH_MAX 72

struct ch_typed {
    char path[CH_TYPED_PATH_MAX + 1];
    char name[3 * CH_TYPED_PATH_MAX + 8]; /* column prefix */
    bool held_container, held_int, held_double;
};

struct ch_layout {
    struct ch_typed typed[CH_TYPED_MAX];
    int ntyped;
};

/* Kinds of values, as markers record them (ch_row_encode reports them). */
enum ch_kind {
    CHK_CONTAINER = 1,
    CHK_INT = 2,
    CHK_DOUBLE = 4
};

const struct ch_typed *ch_layout_find(const struct ch_layout *l,
                                      const char *path);
/* Whether the key tells a value's type and form (not so when the path
 * has held both integers and doubles, 1 and 1.0 sharing a key, or
 * containers, whose numbers keep their form in the JSON only). */
bool ch_typed_key_decides(const struct ch_typed *t);
/* Whether numbers there are integers only (sums need no double parts). */
bool ch_typed_ints_only(const struct ch_typed *t);
/* Whether values there are scalars (filters may read the columns). */
bool ch_typed_scalar_only(const struct ch_typed *t);
/* Appends ", <columns>" of the typed paths (the insert's column list). */
void ch_layout_columns(const struct ch_layout *l, struct buf *out);

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
 * typed columns; kinds (one per typed path, may be NULL) gain the kinds
 * of the values found there. */
int ch_row_encode(const bson_t *doc, const struct ch_layout *layout,
                  uint64_t version, bool deleted, uint8_t *kinds,
                  struct buf *out, struct err *e);

/* Calls fn with each member name of doc's metadata. */
void ch_metadata_names(const bson_t *doc,
                       void (*fn)(void *arg, const char *name), void *arg);

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
int ch_schema_create(struct ch *ch, const char *bucket_id, struct err *e);
void ch_schema_drop(struct ch *ch, const char *bucket_id);
/* The layout of a bucket's table, from the columns of its Distributed
 * table on the entry node. */
int ch_schema_layout(struct ch *ch, const char *bucket_id,
                     struct ch_layout *out, struct err *e);
/* Adds typed columns for the paths (metadata.<name>) l lacks, while l
 * has room, on every node; l follows. */
int ch_schema_promote(struct ch *ch, const char *bucket_id,
                      struct ch_layout *l, const char *const *paths,
                      size_t n, struct err *e);
/* Adds the marker columns of kinds (one per typed path of l) that l
 * lacks, on every node; l follows. *changed tells whether any was. */
int ch_schema_mark(struct ch *ch, const char *bucket_id, struct ch_layout *l,
                   const uint8_t *kinds, bool *changed, struct err *e);

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

/* A reader of a RowBinary answer: every read past the end (or a varint
 * that does not end) sets bad and returns 0 or "". */
struct ch_rb {
    const uint8_t *p, *end;
    bool bad;
};

uint64_t ch_rb_varint(struct ch_rb *r);
/* A length-prefixed string, pointing into the answer. */
const char *ch_rb_string(struct ch_rb *r, size_t *n);
/* A little-endian integer of bytes bytes. */
uint64_t ch_rb_le(struct ch_rb *r, int bytes);

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

/* --- clickhouse_state.c ------------------------------------------------ */

/* What one read knows of the bucket's table: its layout, and whether it
 * must name it with FINAL. A read holds the read side of shape_rw from
 * ch_read_begin to ch_read_end, so that what it decided stays true
 * while its query runs. */
struct ch_read {
    bool final;
    bool locked;
    struct ch_layout layout;
};

void ch_state_init(struct ch *ch);
void ch_state_free(struct ch *ch);
/* may_check lets a dirty bucket be checked first (two counts, under the
 * write lock: never call while holding write_mu or another ch_read).
 * Every ch_read_begin that returns 0 has its ch_read_end. */
int ch_read_begin(struct ch *ch, const char *bucket_id, bool may_check,
                  struct ch_read *r, struct err *e);
void ch_read_end(struct ch *ch, struct ch_read *r);
/* Appends the Distributed table's name and FINAL when the read needs it. */
void ch_from(struct buf *sql, struct ch *ch, const char *bucket_id,
             const struct ch_read *r);

/* Writes (under write_mu): the layout to encode rows with; then, before
 * inserting, the layout with the paths and markers the rows needed
 * (published: a change of markers waits for the reads in flight), and
 * whether the rows supersede live ones. */
int ch_write_layout(struct ch *ch, const char *bucket_id,
                    struct ch_layout *out, struct err *e);
void ch_write_publish(struct ch *ch, const char *bucket_id,
                      const struct ch_layout *l, bool markers);
void ch_final_supersede(struct ch *ch, const char *bucket_id);
/* A bucket dropped. */
void ch_state_forget(struct ch *ch, const char *bucket_id);

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
