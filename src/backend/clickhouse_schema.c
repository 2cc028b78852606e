/*
 * clickhouse_schema.c - the tables of the ClickHouse backend.
 *
 * One table per bucket on every node of the cluster
 * (objects_<bucket_id>_local: a ReplacingMergeTree on version, ordered by
 * object_id), and on every node a Distributed table over them
 * (objects_<bucket_id>), sharded by cityHash64(object_id) so that every
 * version of an object lands on the same shard, where FINAL keeps its
 * latest. The columns are the same for every bucket (clickhouse_rows.c
 * says what they hold), so a bucket's schema never changes its table.
 *
 * ClickHouse 18.16 runs DDL on one server only (ON CLUSTER needs
 * ZooKeeper), so each statement is sent to every node in turn. Every
 * statement is idempotent (IF [NOT] EXISTS): start-up repairs a table
 * that a failed creation left missing.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backend/clickhouse.h"
#include "base/log.h"

static const char columns[] =
    "object_id String, rid String, bucket_id String, version UInt64, "
    "is_deleted UInt8, status String, key_prefix Nullable(String), "
    "created Int64, created_at DateTime, updated Int64, "
    "updated_at DateTime, size UInt32, doc String, strs Array(String), "
    "val Nested(at String, h UInt64, crossed UInt8, type UInt8, "
    "skey String, json String, num Float64, inum Int64, ms Int64, "
    "fk UInt8, f3 UInt32, f2 UInt32, f1 UInt32, f0 UInt32), "
    "cand Nested(path String, h UInt64, step UInt8, type UInt8, skey String, "
    "num Float64, id UInt32, up UInt32, walk UInt8, chain String)";

/* --- the layout -------------------------------------------------------- */

static const char *const system_paths[] = {
    "object_id", "bucket_id", "status", "key_prefix", "created_at",
    "updated_at"};

static const char *const scalar_types[] = {
    "string", "integer", "number", "float", "boolean", "date", "datetime"};

/* Facet columns of a typed path: suffix and type. */
static const struct {
    const char *suffix, *type;
} facet_columns[] = {
    {"p", "UInt8"},   {"t", "UInt8"},   {"k", "String"},  {"n", "Float64"},
    {"i", "Int64"},   {"d", "Int64"},   {"x", "UInt8"},   {"c3", "UInt32"},
    {"c2", "UInt32"}, {"c1", "UInt32"}, {"c0", "UInt32"}};

#define NFACETS (sizeof(facet_columns) / sizeof(facet_columns[0]))

static void add_typed(struct ch_layout *l, const char *path,
                      const char *type)
{
    struct ch_typed *t;
    size_t k = 0;

    if (l->ntyped == CH_TYPED_MAX || strlen(path) >= sizeof(t->path))
        return;
    t = &l->typed[l->ntyped];
    snprintf(t->path, sizeof(t->path), "%s", path);
    /* f_<path with every other byte as _>_<position>: readable, and the
     * position keeps two paths that spell alike apart. */
    k = (size_t)snprintf(t->name, sizeof(t->name), "f_");
    for (const char *p = path; *p && k + 16 < sizeof(t->name); p++) {
        char c = *p;
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9');
        t->name[k++] = word ? c : '_';
    }
    snprintf(t->name + k, sizeof(t->name) - k, "_%d", l->ntyped);
    /* Declared values are checked and converted on write (document.c):
     * integers stay integers, dates are dates; number and float take
     * both integers and doubles. */
    t->ints_only = strcmp(type, "integer") == 0;
    t->key_decides = strcmp(type, "number") != 0 &&
                     strcmp(type, "float") != 0;
    l->ntyped++;
}

void ch_layout_of(const bson_t *bucket, struct ch_layout *out)
{
    bson_iter_t it, props;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(system_paths) / sizeof(system_paths[0]); i++)
        add_typed(out, system_paths[i], "system");
    if (bucket == NULL || !bson_iter_init_find(&it, bucket, "bucket_schema") ||
        !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &props) ||
        !bson_iter_find(&props, "properties") ||
        !BSON_ITER_HOLDS_DOCUMENT(&props) || !bson_iter_recurse(&props, &it))
        return;
    /* Declared fields with a scalar type, whose names hold no dot (a dot
     * would make the path go through other members). */
    while (bson_iter_next(&it)) {
        const char *name = bson_iter_key(&it), *type = NULL;
        bson_iter_t spec;
        if (strchr(name, '.') != NULL || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
            !bson_iter_recurse(&it, &spec) || !bson_iter_find(&spec, "type") ||
            !BSON_ITER_HOLDS_UTF8(&spec))
            continue;
        type = bson_iter_utf8(&spec, NULL);
        for (size_t i = 0; i < sizeof(scalar_types) / sizeof(scalar_types[0]);
             i++) {
            if (strcmp(type, scalar_types[i]) != 0)
                continue;
            char path[300];
            snprintf(path, sizeof(path), "metadata.%s", name);
            add_typed(out, path, type);
        }
    }
}

const struct ch_typed *ch_layout_find(const struct ch_layout *l,
                                      const char *path)
{
    for (int i = 0; l != NULL && i < l->ntyped; i++)
        if (strcmp(l->typed[i].path, path) == 0)
            return &l->typed[i];
    return NULL;
}

void ch_layout_columns(const struct ch_layout *l, bool ddl, struct buf *out)
{
    for (int i = 0; i < l->ntyped; i++)
        for (size_t f = 0; f < NFACETS; f++)
            ch_sql_printf(out, ", %s__%s%s%s", l->typed[i].name,
                          facet_columns[f].suffix, ddl ? " " : "",
                          ddl ? facet_columns[f].type : "");
}

/* Runs sql on every node; the first failure stops. */
static int on_every_node(struct ch *ch, const char *sql,
                         const struct ch_settings *s, struct err *e)
{
    for (int i = 0; i < ch->nshards; i++) {
        int rc = ch_query(ch, &ch->shards[i], sql, NULL, 0, s, NULL, e);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ch_schema_create(struct ch *ch, const char *bucket_id,
                     const bson_t *record, struct err *e)
{
    struct buf local = BUF_INIT, dist = BUF_INIT, cols = BUF_INIT;
    struct ch_layout layout;
    char name[160];
    int rc;

    ch_layout_of(record, &layout);
    ch_sql_printf(&cols, "(%s", columns);
    ch_layout_columns(&layout, true, &cols);
    buf_adds(&cols, ")");

    buf_adds(&local, "CREATE TABLE IF NOT EXISTS ");
    ch_table_local(&local, ch, bucket_id);
    /* No PARTITION BY: reads use FINAL, which in 18.16 opens every part
     * of every partition at once (with a read buffer per column each),
     * so month partitions multiply the memory and time of every read;
     * one partition lets merges keep the part count low. */
    ch_sql_printf(&local, " %s ENGINE = ReplacingMergeTree(version) "
                          "ORDER BY object_id",
                  cols.data);

    snprintf(name, sizeof(name), "objects_%s_local", bucket_id);
    buf_adds(&dist, "CREATE TABLE IF NOT EXISTS ");
    ch_table_dist(&dist, ch, bucket_id);
    ch_sql_printf(&dist, " %s ENGINE = Distributed(", cols.data);
    ch_sql_ident(&dist, ch->cluster);
    buf_adds(&dist, ", ");
    ch_sql_ident(&dist, ch->db);
    buf_adds(&dist, ", ");
    ch_sql_ident(&dist, name);
    buf_adds(&dist, ", cityHash64(object_id))");

    if (local.oom || dist.oom || cols.oom)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    else if ((rc = on_every_node(ch, local.data, NULL, e)) == 0)
        rc = on_every_node(ch, dist.data, NULL, e);
    buf_release(&local);
    buf_release(&dist);
    buf_release(&cols);
    return rc;
}

void ch_schema_drop(struct ch *ch, const char *bucket_id)
{
    struct buf sql = BUF_INIT;
    struct err e;
    char q[200];

    for (int pass = 0; pass < 2; pass++) {
        buf_reset(&sql);
        buf_adds(&sql, "DROP TABLE IF EXISTS ");
        if (pass == 0)
            ch_table_dist(&sql, ch, bucket_id);
        else
            ch_table_local(&sql, ch, bucket_id);
        err_init(&e);
        if (!sql.oom && on_every_node(ch, sql.data, NULL, &e) != 0)
            LOG_WARN("cannot drop a deleted bucket's table", "bucket=%s "
                     "error=%s", bucket_id,
                     log_quote(q, sizeof(q), e.msg, strlen(e.msg)));
        err_release(&e);
    }
    buf_release(&sql);
}

/* Every bucket of the catalog has its tables. */
static int bucket_tables(void *arg, const struct catalog_bucket *b)
{
    void **pair = arg;
    struct ch *ch = pair[0];

    return ch_schema_create(ch, b->id, &b->record, pair[1]);
}

static int each_namespace(void *arg, const struct catalog_ns *ns)
{
    void **pair = arg;
    struct store_txn *t = pair[2];

    return catalog_bucket_each(t, ns->id, bucket_tables, arg, pair[1]);
}

int ch_schema_start(struct ch *ch, struct err *e)
{
    struct buf sql = BUF_INIT;
    struct store_txn t;

    struct ch_settings s = {.no_database = true};

    buf_adds(&sql, "CREATE DATABASE IF NOT EXISTS ");
    ch_sql_ident(&sql, ch->db);
    int rc = sql.oom ? ERR_NOMEM : on_every_node(ch, sql.data, &s, e);
    buf_release(&sql);
    if (rc != 0)
        return rc;

    rc = store_read_begin(ch->store, &t, e);
    if (rc != 0)
        return rc;
    void *pair[3] = {ch, e, &t};
    rc = catalog_ns_each(&t, each_namespace, pair, e);
    store_read_end(&t);
    return rc;
}
