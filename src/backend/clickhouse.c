/*
 * clickhouse.c - the ClickHouse backend: start-up (the URL, the nodes of
 * the cluster, the database and tables), bucket totals, and the table of
 * operations whose work the other clickhouse_*.c files do.
 *
 *   clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB?cluster=NAME[&nodes=H:P,...]
 *
 * HOST:PORT is ClickHouse's HTTP interface on the node that takes the
 * queries and inserts (its Distributed tables spread them). DDL goes to
 * every node of the cluster: by default the addresses system.clusters
 * lists, with the entry node's HTTP port; `nodes` names them instead
 * (HTTP host:port of each node, comma-separated).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/clickhouse.h"
#include "base/log.h"
#include "json/json.h"

static struct ch *self(struct backend *be)
{
    return (struct ch *)be;
}

/* --- the URL ----------------------------------------------------------- */

static int parse_endpoint(const char *s, size_t n, struct ch_endpoint *ep,
                          struct err *e)
{
    const char *colon = memchr(s, ':', n);
    char port[16];

    if (colon == NULL || colon == s || (size_t)(colon - s) >= CH_HOST_MAX ||
        (size_t)(s + n - colon - 1) >= sizeof(port) || colon + 1 == s + n)
        return err_set(e, ERR_BAD_REQUEST,
                       "clickhouse address \"%.*s\" is not HOST:PORT",
                       (int)(n < 80 ? n : 80), s);
    snprintf(ep->host, sizeof(ep->host), "%.*s", (int)(colon - s), s);
    snprintf(port, sizeof(port), "%.*s", (int)(s + n - colon - 1), colon + 1);
    char *end;
    unsigned long p = strtoul(port, &end, 10);
    if (*end != '\0' || p == 0 || p > 65535)
        return err_set(e, ERR_BAD_REQUEST, "clickhouse port \"%s\" is not "
                       "a port number", port);
    ep->port = (unsigned)p;
    return 0;
}

/* Reads the value of parameter name from a query string into out. */
static bool query_param(const char *q, const char *name, char *out,
                        size_t cap)
{
    size_t n = strlen(name);

    while (q != NULL && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > n && strncmp(q, name, n) == 0 && q[n] == '=') {
            snprintf(out, cap, "%.*s", (int)(len - n - 1), q + n + 1);
            return true;
        }
        q = amp ? amp + 1 : NULL;
    }
    return false;
}

static int parse_nodes(struct ch *ch, const char *list, struct err *e)
{
    const char *p = list;

    ch->nshards = 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (ch->nshards == CH_MAX_SHARDS)
            return err_set(e, ERR_BAD_REQUEST, "more than %d clickhouse "
                           "nodes", CH_MAX_SHARDS);
        int rc = parse_endpoint(p, n, &ch->shards[ch->nshards++], e);
        if (rc != 0)
            return rc;
        p += n + (p[n] == ',');
    }
    return 0;
}

static bool name_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static int parse_url(struct ch *ch, const char *url, char *nodes, size_t cap,
                     struct err *e)
{
    const char *prefix = "clickhouse://";
    size_t plen = strlen(prefix);

    if (strncmp(url, prefix, plen) != 0)
        return err_set(e, ERR_BAD_REQUEST, "--backend must be embedded or "
                       "clickhouse://HOST:PORT/DB?cluster=NAME");
    const char *p = url + plen;
    const char *slash = strchr(p, '/');
    if (slash == NULL)
        return err_set(e, ERR_BAD_REQUEST, "the clickhouse URL needs a "
                       "database: clickhouse://HOST:PORT/DB?cluster=NAME");
    const char *at = memchr(p, '@', (size_t)(slash - p));
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = (size_t)((colon ? colon : at) - p);
        snprintf(ch->user, sizeof(ch->user), "%.*s", (int)ulen, p);
        if (colon != NULL)
            snprintf(ch->password, sizeof(ch->password), "%.*s",
                     (int)(at - colon - 1), colon + 1);
        p = at + 1;
    }
    int rc = parse_endpoint(p, (size_t)(slash - p), &ch->entry, e);
    if (rc != 0)
        return rc;
    const char *q = strchr(slash, '?');
    size_t dblen = q ? (size_t)(q - slash - 1) : strlen(slash + 1);
    snprintf(ch->db, sizeof(ch->db), "%.*s", (int)dblen, slash + 1);
    if (!name_ok(ch->db))
        return err_set(e, ERR_BAD_REQUEST, "the clickhouse database name "
                       "must be letters, digits and _");
    if (!query_param(q ? q + 1 : NULL, "cluster", ch->cluster,
                     sizeof(ch->cluster)) || !name_ok(ch->cluster))
        return err_set(e, ERR_BAD_REQUEST, "the clickhouse URL needs "
                       "?cluster=NAME (letters, digits and _), the cluster "
                       "of the Distributed tables");
    nodes[0] = '\0';
    query_param(q ? q + 1 : NULL, "nodes", nodes, cap);
    return 0;
}

/* --- start-up ---------------------------------------------------------- */

/* The nodes of the cluster from system.clusters, at the entry node's
 * HTTP port. */
static int discover_nodes(struct ch *ch, struct err *e)
{
    struct buf sql = BUF_INIT, out = BUF_INIT;

    buf_adds(&sql, "SELECT host_address FROM system.clusters WHERE "
                   "cluster = ");
    ch_sql_cstring(&sql, ch->cluster);
    buf_adds(&sql, " ORDER BY shard_num, replica_num FORMAT TabSeparated");
    struct ch_settings s = {.no_database = true};
    int rc = ch_query(ch, NULL, sql.data, NULL, 0, &s, &out, e);
    ch->nshards = 0;
    for (char *line = out.data; rc == 0 && line && *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n > 0 && ch->nshards < CH_MAX_SHARDS) {
            struct ch_endpoint *ep = &ch->shards[ch->nshards++];
            snprintf(ep->host, sizeof(ep->host), "%.*s", (int)n, line);
            ep->port = ch->entry.port;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (rc == 0 && ch->nshards == 0)
        rc = err_set(e, ERR_BAD_REQUEST, "clickhouse has no cluster named "
                     "\"%s\" (see remote_servers in its configuration)",
                     ch->cluster);
    buf_release(&sql);
    buf_release(&out);
    return rc;
}

/* The server's version, and whether its sipHash64() is the hash rows
 * carry (entries are looked up by it: clickhouse_rows.c). */
static int read_version(struct ch *ch, struct err *e)
{
    struct buf out = BUF_INIT;
    struct ch_settings s = {.no_database = true};
    int rc = ch_query(ch, NULL, "SELECT version(), sipHash64('tally') "
                                "FORMAT TabSeparated",
                      NULL, 0, &s, &out, e);
    const char *text = out.data ? out.data : "";
    const char *tab = strchr(text, '\t');

    if (rc == 0)
        snprintf(ch->version, sizeof(ch->version), "%.*s",
                 (int)strcspn(text, "\t\n"), text);
    if (rc == 0 && (tab == NULL || strtoull(tab + 1, NULL, 10) !=
                                       ch_name_hash("tally", 5)))
        rc = err_set(e, ERR_UNAVAILABLE, "clickhouse %s hashes strings "
                     "unlike this build of tally (sipHash64)", ch->version);
    buf_release(&out);
    return rc;
}

/* --- operations -------------------------------------------------------- */

static int ch_bucket_prepare(struct backend *be, const char *bucket_id,
                             const bson_t *record, struct err *e)
{
    (void)record;
    return ch_schema_create(self(be), bucket_id, e);
}

static void ch_bucket_drop(struct backend *be, const char *bucket_id)
{
    ch_schema_drop(self(be), bucket_id);
    ch_state_forget(self(be), bucket_id);
}

/* Counts and bytes of the live objects; last upload is the latest write
 * among them (version is the write time in microseconds). */
static void ch_bucket_stats(struct backend *be, struct store_txn *rd,
                            const struct catalog_bucket *b,
                            struct catalog_bucket_stats *out)
{
    struct ch *ch = self(be);
    struct buf sql = BUF_INIT, ans = BUF_INIT;
    struct err e;
    int rc;

    (void)rd;
    err_init(&e);
    struct ch_read *how = malloc(sizeof(*how));
    rc = how == NULL ? ERR_NOMEM : ch_read_begin(ch, b->id, false, how, &e);
    if (rc == 0) {
        buf_adds(&sql, "SELECT count(), sum(size), "
                       "intDiv(max(version), 1000) FROM ");
        ch_from(&sql, ch, b->id, how);
        buf_adds(&sql, " WHERE " CH_LIVE " FORMAT TabSeparated");
        rc = sql.oom ? ERR_NOMEM
                     : ch_query(ch, NULL, sql.data, NULL, 0, NULL, &ans, &e);
        ch_read_end(ch, how);
    }
    free(how);
    if (rc == 0 && ans.data != NULL) {
        unsigned long long n = 0, bytes = 0;
        long long last = 0;
        if (sscanf(ans.data, "%llu\t%llu\t%lld", &n, &bytes, &last) == 3) {
            out->object_count = n;
            out->total_size_bytes = bytes;
            out->last_upload_ms = n > 0 ? last : 0;
        }
    }
    err_release(&e);
    buf_release(&sql);
    buf_release(&ans);
}

static void ch_free(struct backend *be)
{
    struct ch *ch = self(be);

    pthread_mutex_destroy(&ch->write_mu);
    ch_state_free(ch);
    free(ch);
}

static const struct backend_ops clickhouse_ops = {
    .name = "clickhouse",
    .object_create = ch_object_create,
    .object_batch = ch_object_batch,
    .object_get = ch_object_get,
    .object_change = ch_object_change,
    .object_delete = ch_object_delete,
    .object_list = ch_object_list,
    .import_new = ch_import_new,
    .aggregate = ch_aggregate,
    .bucket_prepare = ch_bucket_prepare,
    .bucket_drop = ch_bucket_drop,
    .bucket_stats = ch_bucket_stats,
    .free = ch_free,
};

int backend_clickhouse_new(struct store *s, const char *url,
                           const struct query_limits *lim,
                           struct backend **out, struct err *e)
{
    struct ch *ch = calloc(1, sizeof(*ch));
    char nodes[2048];

    *out = NULL;
    if (ch == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    ch->base.ops = &clickhouse_ops;
    ch->store = s;
    ch->lim = *lim;
    pthread_mutex_init(&ch->write_mu, NULL);
    ch_state_init(ch);

    int rc = parse_url(ch, url, nodes, sizeof(nodes), e);
    if (rc == 0)
        rc = read_version(ch, e);
    if (rc == 0)
        rc = nodes[0] ? parse_nodes(ch, nodes, e) : discover_nodes(ch, e);
    if (rc == 0)
        rc = ch_schema_start(ch, e);
    if (rc != 0) {
        ch_free(&ch->base);
        return rc;
    }
    LOG_INFO("clickhouse backend ready", "entry=%s:%u database=%s "
             "cluster=%s nodes=%d version=%s", ch->entry.host, ch->entry.port,
             ch->db, ch->cluster, ch->nshards, ch->version);
    *out = &ch->base;
    return 0;
}
