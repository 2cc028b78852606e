/*
 * clickhouse_schema.c - the tables of the ClickHouse backend.
 *
 * One table per bucket on every node of the cluster
 * (objects_<bucket_id>_local: a ReplacingMergeTree on version, ordered by
 * object_id), and on every node a Distributed table over them
 * (objects_<bucket_id>), sharded by cityHash64(object_id) so that every
 * version of an object lands on the same shard, where FINAL keeps its
 * latest. clickhouse_rows.c says what the columns hold.
 *
 * Typed paths (clickhouse.h, struct ch_layout): the system fields have
 * their columns from the start; a member of metadata gets them when the
 * first object that holds it is written (before its row is inserted), so
 * that no earlier row lacks a value it had: the columns' defaults say
 * "missing", which is true of every row written before. Past
 * CH_TYPED_MAX paths, or for longer names, members stay in the entries
 * only. Column names spell the path out ([A-Za-z0-9] as they are, any
 * other byte as _XX), so the layout is read back from the table itself.
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

/* Facet columns of a typed path: suffix, type and default (the value a
 * row written before the path was promoted reads: "missing"). */
static const struct {
    const char *suffix, *type;
} facet_columns[] = {
    {"p", "UInt8"},   {"t", "UInt8"},   {"k", "String"},  {"j", "String"},
    {"n", "Float64"}, {"i", "Int64"},
    {"d", "Int64 DEFAULT toInt64(-9223372036854775808)"},
    {"x", "UInt8"},   {"c3", "UInt32"}, {"c2", "UInt32"}, {"c1", "UInt32"},
    {"c0", "UInt32"}};

#define NFACETS (sizeof(facet_columns) / sizeof(facet_columns[0]))

static const struct {
    const char *suffix;
    enum ch_kind kind;
} markers[] = {{"hc", CHK_CONTAINER}, {"hi", CHK_INT}, {"hd", CHK_DOUBLE}};

#define NMARKERS (sizeof(markers) / sizeof(markers[0]))

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* f_<path>, every byte but [A-Za-z0-9] as _XX: no "__" inside, so the
 * facet follows the last "__". false when the path is too long. */
static bool typed_name(const char *path, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 2;

    if (strlen(path) > CH_TYPED_PATH_MAX || cap < 3)
        return false;
    memcpy(out, "f_", 2);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (k + 4 > cap)
            return false;
        if (word_byte(*p)) {
            out[k++] = (char)*p;
        } else {
            out[k++] = '_';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    out[k] = '\0';
    return true;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The path of a column name's prefix (n bytes after "f_"), or false. */
static bool typed_path(const char *name, size_t n, char *out, size_t cap)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)name[i];
        if (name[i] == '_') {
            int hi = i + 2 < n ? hexval(name[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(name[i + 2]) : -1;
            if (lo < 0)
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (k + 1 >= cap)
            return false;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return k > 0;
}

const struct ch_typed *ch_layout_find(const struct ch_layout *l,
                                      const char *path)
{
    for (int i = 0; l != NULL && i < l->ntyped; i++)
        if (strcmp(l->typed[i].path, path) == 0)
            return &l->typed[i];
    return NULL;
}

bool ch_typed_key_decides(const struct ch_typed *t)
{
    return !t->held_container && !(t->held_int && t->held_double);
}

bool ch_typed_ints_only(const struct ch_typed *t)
{
    return !t->held_container && !t->held_double;
}

bool ch_typed_scalar_only(const struct ch_typed *t)
{
    return !t->held_container;
}

void ch_layout_columns(const struct ch_layout *l, struct buf *out)
{
    for (int i = 0; i < l->ntyped; i++)
        for (size_t f = 0; f < NFACETS; f++)
            ch_sql_printf(out, ", %s__%s", l->typed[i].name,
                          facet_columns[f].suffix);
}

/* Adds path to l (no columns made here). */
static struct ch_typed *layout_add(struct ch_layout *l, const char *path)
{
    struct ch_typed *t;

    if (l->ntyped == CH_TYPED_MAX)
        return NULL;
    t = &l->typed[l->ntyped];
    memset(t, 0, sizeof(*t));
    if (!typed_name(path, t->name, sizeof(t->name)))
        return NULL;
    snprintf(t->path, sizeof(t->path), "%s", path);
    l->ntyped++;
    return t;
}

/* ", ADD COLUMN <name>__<facet> <type>" for every facet (DDL of CREATE
 * when create is set: ", <name>__<facet> <type>"). */
static void facet_ddl(struct buf *out, const char *name, bool create)
{
    for (size_t f = 0; f < NFACETS; f++)
        ch_sql_printf(out, "%s%s__%s %s", create ? ", " : ", ADD COLUMN ",
                      name, facet_columns[f].suffix, facet_columns[f].type);
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

int ch_schema_create(struct ch *ch, const char *bucket_id, struct err *e)
{
    struct buf local = BUF_INIT, dist = BUF_INIT, cols = BUF_INIT;
    char name[160];
    int rc;

    ch_sql_printf(&cols, "(%s", columns);
    for (size_t i = 0; i < sizeof(system_paths) / sizeof(system_paths[0]);
         i++) {
        char typed[3 * CH_TYPED_PATH_MAX + 8];
        typed_name(system_paths[i], typed, sizeof(typed));
        facet_ddl(&cols, typed, true);
    }
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

    return ch_schema_create(ch, b->id, pair[1]);
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

/* --- columns of a table ------------------------------------------------ */

/* The column names of a table on one node, NUL-separated in out. */
static int table_columns(struct ch *ch, const struct ch_endpoint *ep,
                         const char *table, struct buf *out, struct err *e)
{
    struct buf sql = BUF_INIT, ans = BUF_INIT;

    buf_adds(&sql, "SELECT name FROM system.columns WHERE database = ");
    ch_sql_cstring(&sql, ch->db);
    buf_adds(&sql, " AND table = ");
    ch_sql_cstring(&sql, table);
    buf_adds(&sql, " FORMAT TabSeparated");
    int rc = sql.oom ? err_set(e, ERR_NOMEM, "out of memory")
                     : ch_query(ch, ep, sql.data, NULL, 0, NULL, &ans, e);
    for (size_t i = 0; rc == 0 && i < ans.len; i++)
        buf_addc(out, ans.data[i] == '\n' ? '\0' : ans.data[i]);
    buf_release(&sql);
    buf_release(&ans);
    return rc;
}

static bool has_name(const struct buf *names, const char *name)
{
    for (size_t at = 0; at < names->len;) {
        const char *n = names->data + at;
        if (strcmp(n, name) == 0)
            return true;
        at += strlen(n) + 1;
    }
    return false;
}

int ch_schema_layout(struct ch *ch, const char *bucket_id,
                     struct ch_layout *out, struct err *e)
{
    struct buf names = BUF_INIT;
    char table[160];

    memset(out, 0, sizeof(*out));
    snprintf(table, sizeof(table), "objects_%s", bucket_id);
    int rc = table_columns(ch, &ch->entry, table, &names, e);
    /* Typed paths by their __k column, in the table's order. */
    for (size_t at = 0; rc == 0 && at < names.len;) {
        const char *n = names.data + at;
        size_t len = strlen(n);
        at += len + 1;
        char path[CH_TYPED_PATH_MAX + 1];
        if (len < 5 || strncmp(n, "f_", 2) != 0 ||
            strcmp(n + len - 3, "__k") != 0 ||
            !typed_path(n + 2, len - 5, path, sizeof(path)) ||
            ch_layout_find(out, path) != NULL)
            continue;
        struct ch_typed *t = layout_add(out, path);
        if (t == NULL)
            continue;
        for (size_t m = 0; m < NMARKERS; m++) {
            char marker[3 * CH_TYPED_PATH_MAX + 16];
            snprintf(marker, sizeof(marker), "%s__%s", t->name,
                     markers[m].suffix);
            if (!has_name(&names, marker))
                continue;
            t->held_container |= markers[m].kind == CHK_CONTAINER;
            t->held_int |= markers[m].kind == CHK_INT;
            t->held_double |= markers[m].kind == CHK_DOUBLE;
        }
    }
    if (rc == 0 && names.oom)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    if (rc == 0 && out->ntyped == 0)
        rc = err_set(e, ERR_INTERNAL, "the table of bucket %s has no "
                     "typed columns", bucket_id);
    buf_release(&names);
    return rc;
}

/* Adds the columns of want (", ADD COLUMN ..." clauses, one column each,
 * NUL-separated names in wanted) that each table lacks, on every node:
 * a failed attempt may have added some already (18.16's ADD COLUMN has
 * no IF NOT EXISTS). Local tables first, then the Distributed ones. */
static int add_columns(struct ch *ch, const char *bucket_id,
                       const struct buf *wanted, const struct buf *types,
                       struct err *e)
{
    int rc = 0;

    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        char table[160];
        snprintf(table, sizeof(table), pass == 0 ? "objects_%s_local"
                                                 : "objects_%s",
                 bucket_id);
        for (int i = 0; rc == 0 && i < ch->nshards; i++) {
            struct buf have = BUF_INIT, sql = BUF_INIT;
            rc = table_columns(ch, &ch->shards[i], table, &have, e);
            buf_adds(&sql, "ALTER TABLE ");
            if (pass == 0)
                ch_table_local(&sql, ch, bucket_id);
            else
                ch_table_dist(&sql, ch, bucket_id);
            size_t start = sql.len;
            for (size_t at = 0, tt = 0; rc == 0 && at < wanted->len;) {
                const char *n = wanted->data + at;
                const char *type = types->data + tt;
                at += strlen(n) + 1;
                tt += strlen(type) + 1;
                if (has_name(&have, n))
                    continue;
                ch_sql_printf(&sql, "%s ADD COLUMN %s %s",
                              sql.len > start ? "," : "", n, type);
            }
            if (rc == 0 && (sql.oom || have.oom))
                rc = err_set(e, ERR_NOMEM, "out of memory");
            if (rc == 0 && sql.len > start)
                rc = ch_query(ch, &ch->shards[i], sql.data, NULL, 0, NULL,
                              NULL, e);
            buf_release(&have);
            buf_release(&sql);
        }
    }
    return rc;
}

static void want(struct buf *names, struct buf *types, const char *name,
                 const char *suffix, const char *type)
{
    buf_addf(names, "%s__%s", name, suffix);
    buf_addc(names, '\0');
    buf_adds(types, type);
    buf_addc(types, '\0');
}

int ch_schema_promote(struct ch *ch, const char *bucket_id,
                      struct ch_layout *l, const char *const *paths,
                      size_t n, struct err *e)
{
    struct buf names = BUF_INIT, types = BUF_INIT;
    struct ch_layout next = *l;

    for (size_t i = 0; i < n; i++) {
        if (ch_layout_find(&next, paths[i]) != NULL)
            continue;
        struct ch_typed *t = layout_add(&next, paths[i]);
        if (t == NULL)
            continue;
        for (size_t f = 0; f < NFACETS; f++)
            want(&names, &types, t->name, facet_columns[f].suffix,
                 facet_columns[f].type);
    }
    int rc = 0;
    if (names.oom || types.oom)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    else if (names.len > 0)
        rc = add_columns(ch, bucket_id, &names, &types, e);
    if (rc == 0)
        *l = next;
    buf_release(&names);
    buf_release(&types);
    return rc;
}

int ch_schema_mark(struct ch *ch, const char *bucket_id, struct ch_layout *l,
                   const uint8_t *kinds, bool *changed, struct err *e)
{
    struct buf names = BUF_INIT, types = BUF_INIT;
    struct ch_layout next = *l;

    *changed = false;
    for (int i = 0; i < next.ntyped; i++) {
        struct ch_typed *t = &next.typed[i];
        for (size_t m = 0; m < NMARKERS; m++) {
            enum ch_kind k = markers[m].kind;
            bool *held = k == CHK_CONTAINER ? &t->held_container
                         : k == CHK_INT     ? &t->held_int
                                            : &t->held_double;
            if (!(kinds[i] & k) || *held)
                continue;
            *held = true;
            want(&names, &types, t->name, markers[m].suffix, "UInt8");
        }
    }
    int rc = 0;
    if (names.oom || types.oom)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    else if (names.len > 0)
        rc = add_columns(ch, bucket_id, &names, &types, e);
    if (rc == 0 && names.len > 0) {
        *l = next;
        *changed = true;
    }
    buf_release(&names);
    buf_release(&types);
    return rc;
}
