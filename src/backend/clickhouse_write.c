/*
 * clickhouse_write.c - writes to the ClickHouse backend: create, batch,
 * replace, change, delete and import.
 *
 * A write is a set of rows inserted in one INSERT through the
 * Distributed table (insert_distributed_sync=1: the answer comes once
 * every shard holds its rows, so a read that follows sees them). A
 * replaced object is a new row with the same object_id and a higher
 * version; a deleted one is a row with is_deleted = 1. FINAL keeps the
 * latest row of each object.
 *
 * The checks before a write (is the object_id taken, who holds a unique
 * key, which object an update replaces) read the live rows of the
 * objects concerned in one SELECT, then go through the batch in order,
 * each object seeing the ones before it, as one store transaction does.
 * Writes are serialised by a mutex so that no other write slips between
 * the checks and the insert: one Tally front-end per cluster.
 *
 * The documents are built exactly as the embedded store builds them
 * (document_build, the unique-key and policy rules of ingest.c), so an
 * object stored here is byte for byte the one the embedded store keeps.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/clickhouse.h"
#include "base/clock.h"
#include "json/json.h"
#include "store/document.h"
#include "store/ingest.h"
#include "store/objects.h"

#define UNIQUE_FIELDS_MAX 16
/* The embedded store's limit on an object_id (objects.c). */
#define OBJECT_ID_MAX 256

/* An object the batch knows: read from ClickHouse, or written by the
 * batch itself. */
struct known {
    char *id;
    struct buf ukey;             /* unique key (empty: none) */
    bson_t *doc;                 /* owned (a bson_t cannot move: the
                                    array of known objects grows) */
    uint64_t version;
    bool live;
};

/* A row to insert (encoded at commit, once the layout has every path the
 * batch's objects hold). */
struct pending {
    bson_t *doc;
    uint64_t version;
    bool deleted;
};

struct wb {
    struct ch *ch;
    const struct backend_req *r;
    struct store_txn t;          /* the catalog, while the write lasts */
    bool t_open;
    struct catalog_bucket bucket;
    struct ch_layout layout;
    struct objects_bucket ob;
    const char *fields[UNIQUE_FIELDS_MAX];
    enum ingest_policy policy;
    struct known *known;
    size_t nknown, cap;
    struct pending *pend;        /* rows to insert, encoded at commit */
    size_t npend, cap_pend;
    bool supersedes;             /* a row replaces a live one */
};

/* --- set-up ------------------------------------------------------------ */

static int wb_open(struct wb *wb, struct ch *ch, const struct backend_req *r,
                   bool with_policy, struct err *e)
{
    memset(wb, 0, sizeof(*wb));
    wb->ch = ch;
    wb->r = r;
    int rc = store_read_begin(ch->store, &wb->t, e);
    if (rc != 0)
        return rc;
    wb->t_open = true;
    rc = backend_find_bucket(&wb->t, r, &wb->bucket, e);
    if (rc == 0) {
        objects_bucket_from(&wb->bucket, &wb->ob, wb->fields,
                            UNIQUE_FIELDS_MAX);
        rc = ch_write_layout(ch, wb->bucket.id, &wb->layout, e);
    }
    if (rc == 0 && with_policy)
        rc = ingest_policy_for(&wb->bucket, r->policy, &wb->policy, e);
    return rc;
}

static void wb_close(struct wb *wb)
{
    for (size_t i = 0; i < wb->nknown; i++) {
        free(wb->known[i].id);
        buf_release(&wb->known[i].ukey);
        bson_destroy(wb->known[i].doc);
    }
    free(wb->known);
    for (size_t i = 0; i < wb->npend; i++)
        bson_destroy(wb->pend[i].doc);
    free(wb->pend);
    if (wb->t_open)
        store_read_end(&wb->t);
    wb->t_open = false;
}

/* --- unique keys ------------------------------------------------------- */

static const char *field_path(const char *field, char *out, size_t cap)
{
    if (strncmp(field, "metadata.", 9) == 0)
        field += 9;
    snprintf(out, cap, "metadata.%s", field);
    return out;
}

static void add_part(struct buf *key, const char *p, size_t n)
{
    uint32_t len = (uint32_t)n;

    buf_add(key, &len, 4);
    buf_add(key, p, n);
}

/* The unique key of doc as one string (each field's sort key, with its
 * length); empty when the bucket has none. ERR_VALIDATION when a key
 * field is missing or null (objects_unique_key's check and message). */
static int unique_key(struct wb *wb, const bson_t *doc, struct buf *key,
                      struct err *e)
{
    unsigned char hash[32];
    char path[512];

    buf_reset(key);
    if (wb->ob.unique_count == 0)
        return 0;
    int rc = objects_unique_key(&wb->ob, doc, hash, e);
    for (int i = 0; rc == 0 && i < wb->ob.unique_count; i++) {
        bson_iter_t root, it;
        struct buf k = BUF_INIT;
        bson_iter_init(&root, doc);
        bson_iter_find_descendant(&root, field_path(wb->fields[i], path,
                                                    sizeof(path)),
                                  &it);
        ch_key_encode(&k, bson_iter_value(&it));
        add_part(key, k.data, k.len);
        buf_release(&k);
    }
    return rc;
}

/* The SQL of a unique key field's sort key in a row ('' when absent):
 * the path reached through objects only, as bson_iter_find_descendant
 * reads it. */
static void key_field_sql(struct buf *sql, const struct ch_layout *layout,
                          const char *field, bool exact)
{
    char path[512];
    char at[520];
    const struct ch_typed *t;
    struct buf idx = BUF_INIT;

    field_path(field, path, sizeof(path));
    t = ch_layout_find(layout, path);
    if (t != NULL) {
        ch_sql_printf(sql, "if(%s__p = 1, %s__k, '')", t->name, t->name);
        return;
    }
    /* WHERE finds candidates by the name's hash; the select list reads
     * the key by the name itself, and the batch compares those. */
    snprintf(at, sizeof(at), "%s#0", path);
    buf_adds(&idx, exact ? "indexOf(val.at, " : "indexOf(val.h, ");
    if (exact)
        ch_sql_cstring(&idx, at);
    else
        ch_sql_name_hash(&idx, at, strlen(at));
    buf_adds(&idx, ")");
    ch_sql_printf(sql, "if(val.crossed[%s] = 0, val.skey[%s], '')",
                  idx.data ? idx.data : "0", idx.data ? idx.data : "0");
    if (idx.oom)
        sql->oom = true;
    buf_release(&idx);
}

/* --- what the batch knows ---------------------------------------------- */

static struct known *known_add(struct wb *wb, const char *id, size_t n)
{
    if (wb->nknown == wb->cap) {
        size_t cap = wb->cap ? wb->cap * 2 : 16;
        struct known *k = realloc(wb->known, cap * sizeof(*k));
        if (k == NULL)
            return NULL;
        wb->known = k;
        wb->cap = cap;
    }
    struct known *k = &wb->known[wb->nknown];
    memset(k, 0, sizeof(*k));
    k->id = strndup(id, n);
    k->doc = bson_new();
    if (k->id == NULL || k->doc == NULL) {
        free(k->id);
        bson_destroy(k->doc);
        return NULL;
    }
    wb->nknown++;
    return k;
}

static struct known *by_id(struct wb *wb, const char *id)
{
    for (size_t i = wb->nknown; i-- > 0;)
        if (strcmp(wb->known[i].id, id) == 0)
            return &wb->known[i];
    return NULL;
}

/* The live object holding key (other than skip_id), or NULL. */
static struct known *by_key(struct wb *wb, const struct buf *key,
                            const char *skip_id)
{
    if (key->len == 0)
        return NULL;
    for (size_t i = wb->nknown; i-- > 0;) {
        struct known *k = &wb->known[i];
        if (!k->live || k->ukey.len != key->len ||
            memcmp(k->ukey.data, key->data, key->len) != 0)
            continue;
        /* The latest word on this object is the one that counts. */
        if (by_id(wb, k->id) != k)
            continue;
        if (skip_id == NULL || strcmp(k->id, skip_id) != 0)
            return k;
    }
    return NULL;
}

static const char *doc_id(const bson_t *doc)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, doc, "object_id") && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

/* Reads the live rows of the objects with these ids or unique keys. */
static int prefetch(struct wb *wb, const char *const *ids, size_t nids,
                    const struct buf *keys, size_t nkeys, struct err *e)
{
    struct ch *ch = wb->ch;
    struct buf sql = BUF_INIT, ans = BUF_INIT;
    int nf = wb->ob.unique_count;

    if (nids == 0 && nkeys == 0)
        return 0;
    buf_adds(&sql, "SELECT object_id, version, doc");
    for (int f = 0; f < nf; f++) {
        buf_adds(&sql, ", ");
        key_field_sql(&sql, &wb->layout, wb->fields[f], true);
    }
    buf_adds(&sql, " FROM ");
    ch_table_dist(&sql, ch, wb->bucket.id);
    buf_adds(&sql, " FINAL WHERE " CH_LIVE " AND (object_id IN (''");
    for (size_t i = 0; i < nids; i++) {
        buf_adds(&sql, ", ");
        ch_sql_cstring(&sql, ids[i]);
    }
    buf_adds(&sql, ")");
    if (nkeys > 0) {
        buf_adds(&sql, " OR (");
        for (int f = 0; f < nf; f++) {
            buf_adds(&sql, f ? ", " : "");
            key_field_sql(&sql, &wb->layout, wb->fields[f], false);
        }
        buf_adds(&sql, nf > 1 ? ") IN (" : ") IN (");
        for (size_t i = 0; i < nkeys; i++) {
            const struct buf *k = &keys[i];
            buf_adds(&sql, i ? ", " : "");
            buf_adds(&sql, nf > 1 ? "(" : "");
            for (size_t at = 0, f = 0; at + 4 <= k->len; f++) {
                uint32_t len;
                memcpy(&len, k->data + at, 4);
                buf_adds(&sql, f ? ", " : "");
                ch_sql_bytes(&sql, k->data + at + 4, len);
                at += 4 + len;
            }
            buf_adds(&sql, nf > 1 ? ")" : "");
        }
        buf_adds(&sql, ")");
    }
    buf_adds(&sql, ") FORMAT RowBinary");
    int rc = sql.oom ? err_set(e, ERR_NOMEM, "out of memory")
                     : ch_query(ch, NULL, sql.data, NULL, 0, NULL, &ans, e);

    struct ch_rb r = {(const uint8_t *)ans.data,
                   (const uint8_t *)ans.data + ans.len, false};
    while (rc == 0 && r.p < r.end) {
        size_t idn, docn;
        const char *id = ch_rb_string(&r, &idn);
        uint64_t version = 0;
        if ((size_t)(r.end - r.p) >= 8) {
            for (int i = 0; i < 8; i++)
                version |= (uint64_t)r.p[i] << (8 * i);
            r.p += 8;
        } else {
            r.bad = true;
        }
        const char *doc = ch_rb_string(&r, &docn);
        char *copy = r.bad ? NULL : strndup(id, idn);
        bool seen = copy != NULL && by_id(wb, copy) != NULL;
        free(copy);
        if (seen) {
            /* The batch's own word on this object is newer. */
            for (int f = 0; f < nf; f++)
                ch_rb_string(&r, &idn);
            continue;
        }
        struct known *k = r.bad ? NULL : known_add(wb, id, idn);
        if (k == NULL) {
            rc = err_set(e, r.bad ? ERR_CORRUPT : ERR_NOMEM,
                         "cannot read objects from clickhouse");
            break;
        }
        for (int f = 0; f < nf; f++) {
            size_t kn;
            const char *kp = ch_rb_string(&r, &kn);
            add_part(&k->ukey, kp, kn);
        }
        k->version = version;
        k->live = true;
        rc = ch_doc_from_json(doc, docn, k->doc, e);
    }
    buf_release(&sql);
    buf_release(&ans);
    return rc;
}

/* --- rows -------------------------------------------------------------- */

/* Versions are the write's time in microseconds (the request's clock,
 * which the bucket's last_upload_at reports), above every version this
 * process gave out and above the version being replaced. */
static uint64_t next_version(struct ch *ch, int64_t now_ms, uint64_t above)
{
    uint64_t v = now_ms > 0 ? (uint64_t)now_ms * 1000u : 0;

    if (v <= ch->last_version)
        v = ch->last_version + 1;
    if (v <= above)
        v = above + 1;
    ch->last_version = v;
    return v;
}

/* Adds a row for doc and records it as the batch's latest word on it. */
static int put_row(struct wb *wb, const bson_t *doc, const struct buf *ukey,
                   uint64_t above, bool deleted, struct err *e)
{
    const char *id = doc_id(doc);
    uint64_t version = next_version(wb->ch, wb->r->now_ms, above);
    struct known *prev = by_id(wb, id);

    if (prev != NULL && prev->live)
        wb->supersedes = true;
    if (wb->npend == wb->cap_pend) {
        size_t cap = wb->cap_pend ? wb->cap_pend * 2 : 16;
        struct pending *p = realloc(wb->pend, cap * sizeof(*p));
        if (p == NULL)
            return err_set(e, ERR_NOMEM, "out of memory");
        wb->pend = p;
        wb->cap_pend = cap;
    }
    struct pending *row = &wb->pend[wb->npend];
    row->doc = bson_copy(doc);
    if (row->doc == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    row->version = version;
    row->deleted = deleted;
    wb->npend++;
    struct known *k = known_add(wb, id, strlen(id));
    if (k == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    bson_destroy(k->doc);
    k->doc = bson_copy(doc);
    if (k->doc == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    buf_add(&k->ukey, ukey->data, ukey->len);
    k->version = version;
    k->live = !deleted;
    return 0;
}

/* The metadata members of the batch's rows, as paths (once each). */
struct names {
    char **paths;
    size_t n, cap;
    bool oom;
};

static void add_name(void *arg, const char *name)
{
    struct names *ns = arg;
    char path[CH_TYPED_PATH_MAX + 16];

    /* A dotted member name is not the path it spells. */
    if (strchr(name, '.') != NULL || strlen(name) > CH_TYPED_PATH_MAX)
        return;
    snprintf(path, sizeof(path), "metadata.%s", name);
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->paths[i], path) == 0)
            return;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        char **p = realloc(ns->paths, cap * sizeof(*p));
        if (p == NULL) {
            ns->oom = true;
            return;
        }
        ns->paths = p;
        ns->cap = cap;
    }
    ns->paths[ns->n] = strdup(path);
    if (ns->paths[ns->n] == NULL)
        ns->oom = true;
    else
        ns->n++;
}

/* Typed columns for the members the rows hold that have none yet (while
 * there is room: clickhouse_schema.c). */
static int promote(struct wb *wb, struct err *e)
{
    struct names ns = {0};
    int rc = 0;

    if (wb->layout.ntyped < CH_TYPED_MAX)
        for (size_t i = 0; i < wb->npend; i++)
            ch_metadata_names(wb->pend[i].doc, add_name, &ns);
    if (ns.oom)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    int before = wb->layout.ntyped;
    if (rc == 0 && ns.n > 0)
        rc = ch_schema_promote(wb->ch, wb->bucket.id, &wb->layout,
                               (const char *const *)ns.paths, ns.n, e);
    if (rc == 0 && wb->layout.ntyped != before)
        ch_write_publish(wb->ch, wb->bucket.id, &wb->layout, false);
    for (size_t i = 0; i < ns.n; i++)
        free(ns.paths[i]);
    free(ns.paths);
    return rc;
}

static int commit(struct wb *wb, struct err *e)
{
    struct buf sql = BUF_INIT, rows = BUF_INIT;
    struct ch_settings s = {0};
    uint8_t kinds[CH_TYPED_MAX] = {0};
    bool marked = false;

    if (wb->npend == 0)
        return 0;
    int rc = promote(wb, e);
    for (size_t i = 0; rc == 0 && i < wb->npend; i++)
        rc = ch_row_encode(wb->pend[i].doc, &wb->layout, wb->pend[i].version,
                           wb->pend[i].deleted, kinds, &rows, e);
    if (rc == 0)
        rc = ch_schema_mark(wb->ch, wb->bucket.id, &wb->layout, kinds,
                            &marked, e);
    if (rc == 0 && marked)
        ch_write_publish(wb->ch, wb->bucket.id, &wb->layout, true);
    if (rc == 0 && rows.oom)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    if (rc == 0) {
        buf_adds(&sql, "INSERT INTO ");
        ch_table_dist(&sql, wb->ch, wb->bucket.id);
        ch_sql_printf(&sql, " (%s", CH_INSERT_COLUMNS);
        ch_layout_columns(&wb->layout, &sql);
        buf_adds(&sql, ") FORMAT RowBinary");
        ch_settings_add(&s, "insert_distributed_sync", "1");
        if (wb->supersedes)
            ch_final_supersede(wb->ch, wb->bucket.id);
        rc = sql.oom ? err_set(e, ERR_NOMEM, "out of memory")
                     : ch_query(wb->ch, NULL, sql.data, rows.data, rows.len,
                                &s, NULL, e);
    }
    buf_release(&sql);
    buf_release(&rows);
    return rc;
}

/* --- one object -------------------------------------------------------- */

/* objects_insert(): a free object_id, then a free unique key. */
static int insert_one(struct wb *wb, const bson_t *doc, struct err *e)
{
    const char *id = doc_id(doc);
    struct buf key = BUF_INIT;

    if (id == NULL || strlen(id) > OBJECT_ID_MAX)
        return err_set(e, ERR_BAD_REQUEST, "object_id is missing or too long");
    struct known *k = by_id(wb, id);
    if (k != NULL && k->live)
        return err_set(e, ERR_CONFLICT, "object_id %s already exists", id);
    int rc = unique_key(wb, doc, &key, e);
    if (rc == 0 && by_key(wb, &key, NULL) != NULL)
        rc = err_set(e, ERR_CONFLICT,
                     "an object with the same unique key already exists");
    if (rc == 0)
        rc = put_row(wb, doc, &key, k ? k->version : 0, false, e);
    buf_release(&key);
    return rc;
}

/* objects_replace(): the new version of object id (whose row has
 * version) keeps its unique key to itself. */
static int replace_one(struct wb *wb, const char *id, uint64_t version,
                       const bson_t *doc, struct err *e)
{
    struct buf key = BUF_INIT;

    int rc = unique_key(wb, doc, &key, e);
    if (rc == 0 && by_key(wb, &key, id) != NULL)
        rc = err_set(e, ERR_CONFLICT,
                     "an object with the same unique key already exists");
    if (rc == 0)
        rc = put_row(wb, doc, &key, version, false, e);
    buf_release(&key);
    return rc;
}

static int build(struct wb *wb, const bson_t *body, const bson_t *previous,
                 bool restore, bson_t *doc, struct err *e)
{
    struct document_input in = {.body = body, .previous = previous,
                                .restore = restore, .now_ms = wb->r->now_ms};
    int rc = document_build(&wb->bucket, &in, doc, e);

    if (rc == 0 && (rc = ingest_check_size(doc, wb->r->max_object_bytes,
                                           e)) != 0)
        bson_destroy(doc);
    return rc;
}

/* ingest_object(): build, then insert, or (update, upsert) replace the
 * object holding the same unique key. stored (may be NULL) receives a
 * copy of the stored document. */
static int ingest_one(struct wb *wb, const bson_t *body, bool restore,
                      bson_t *stored, struct err *e)
{
    bson_t doc, previous;
    struct buf key = BUF_INIT;

    int rc = build(wb, body, NULL, restore, &doc, e);
    if (rc != 0)
        return rc;
    if (wb->policy == INGEST_UPDATE || wb->policy == INGEST_UPSERT) {
        struct known *old = NULL;
        rc = unique_key(wb, &doc, &key, e);
        if (rc == 0)
            old = by_key(wb, &key, NULL);
        if (rc == 0 && old != NULL) {
            char *id = strdup(old->id);
            uint64_t version = old->version;
            bson_destroy(&doc);
            bson_copy_to(old->doc, &previous);
            rc = id ? build(wb, body, &previous, restore, &doc, e)
                    : err_set(e, ERR_NOMEM, "out of memory");
            if (rc == 0) {
                rc = replace_one(wb, id, version, &doc, e);
                if (rc == 0 && stored != NULL)
                    bson_copy_to(&doc, stored);
                bson_destroy(&doc);
            }
            free(id);
            bson_destroy(&previous);
            buf_release(&key);
            return rc;
        }
        if (rc == 0 && wb->policy == INGEST_UPDATE)
            rc = err_set(e, ERR_NOT_FOUND, "no object with this unique key "
                         "to update (policy=update)");
    }
    if (rc == 0)
        rc = insert_one(wb, &doc, e);
    if (rc == 0 && stored != NULL)
        bson_copy_to(&doc, stored);
    bson_destroy(&doc);
    buf_release(&key);
    return rc;
}

/* --- many objects ------------------------------------------------------ */

/* What the batch will look up: the object_ids bodies carry (restore) or
 * the unique keys they make, so that one SELECT serves the batch. */
struct lookups {
    const char **ids;
    struct buf *keys;
    size_t nids, nkeys;
};

static void lookups_release(struct lookups *lk)
{
    for (size_t i = 0; i < lk->nkeys; i++)
        buf_release(&lk->keys[i]);
    free(lk->keys);
    free(lk->ids);
}

static int lookups_add(struct wb *wb, struct lookups *lk, const bson_t *body,
                       bool restore)
{
    bson_t doc;
    struct err ignored;
    bson_iter_t it;

    if (restore && bson_iter_init_find(&it, body, "object_id") &&
        BSON_ITER_HOLDS_UTF8(&it))
        lk->ids[lk->nids++] = bson_iter_utf8(&it, NULL);
    if (wb->ob.unique_count == 0)
        return 0;
    err_init(&ignored);
    if (build(wb, body, NULL, restore, &doc, &ignored) == 0) {
        buf_init(&lk->keys[lk->nkeys]);
        if (unique_key(wb, &doc, &lk->keys[lk->nkeys], &ignored) == 0)
            lk->nkeys++;
        else
            buf_release(&lk->keys[lk->nkeys]);
        bson_destroy(&doc);
    }
    err_release(&ignored);
    return 0;
}

static int lookups_init(struct lookups *lk, size_t n)
{
    memset(lk, 0, sizeof(*lk));
    lk->ids = calloc(n ? n : 1, sizeof(*lk->ids));
    lk->keys = calloc(n ? n : 1, sizeof(*lk->keys));
    return lk->ids && lk->keys ? 0 : ERR_NOMEM;
}

/* --- the operations ---------------------------------------------------- */

int ch_object_create(struct backend *be, const struct backend_req *r,
                     const bson_t *body, bson_t *stored, struct err *e)
{
    struct ch *ch = (struct ch *)be;
    struct wb wb;
    struct lookups lk;

    pthread_mutex_lock(&ch->write_mu);
    int rc = wb_open(&wb, ch, r, true, e);
    if (rc == 0 && (rc = lookups_init(&lk, 1)) == 0) {
        lookups_add(&wb, &lk, body, false);
        rc = prefetch(&wb, lk.ids, lk.nids, lk.keys, lk.nkeys, e);
        lookups_release(&lk);
    }
    if (rc == 0)
        rc = ingest_one(&wb, body, false, stored, e);
    if (rc == 0 && (rc = commit(&wb, e)) != 0)
        bson_destroy(stored);
    wb_close(&wb);
    pthread_mutex_unlock(&ch->write_mu);
    return rc;
}

int ch_object_batch(struct backend *be, const struct backend_req *r,
                    const bson_iter_t *objects, struct backend_batch *b,
                    struct err *e)
{
    struct ch *ch = (struct ch *)be;
    struct wb wb;
    struct lookups lk = {0};
    bson_iter_t it;
    size_t n = 0;

    bson_iter_recurse(objects, &it);
    while (bson_iter_next(&it))
        n++;
    pthread_mutex_lock(&ch->write_mu);
    int rc = wb_open(&wb, ch, r, true, e);
    if (rc == 0)
        rc = lookups_init(&lk, n);
    bson_iter_recurse(objects, &it);
    while (rc == 0 && bson_iter_next(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t body;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            continue;
        bson_iter_document(&it, &len, &data);
        bson_init_static(&body, data, len);
        lookups_add(&wb, &lk, &body, false);
    }
    if (rc == 0)
        rc = prefetch(&wb, lk.ids, lk.nids, lk.keys, lk.nkeys, e);

    bson_iter_recurse(objects, &it);
    for (b->count = 0; rc == 0 && bson_iter_next(&it); b->count++) {
        struct err *oe = &b->errors[b->count];
        const uint8_t *data;
        uint32_t len;
        bson_t body;
        err_init(oe);
        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
            err_set(oe, ERR_VALIDATION, "each object must be a JSON object");
            continue;
        }
        bson_iter_document(&it, &len, &data);
        bson_init_static(&body, data, len);
        if (ingest_one(&wb, &body, false, &b->stored[b->count], oe) != 0 &&
            oe->code == ERR_OK)
            err_set(oe, ERR_INTERNAL, "object was not written");
    }
    if (rc == 0)
        rc = commit(&wb, e);
    if (rc != 0) {
        /* Nothing was written: no object of the batch succeeded. */
        for (size_t i = 0; i < b->count; i++) {
            if (b->errors[i].code == ERR_OK)
                bson_destroy(&b->stored[i]);
            err_release(&b->errors[i]);
        }
        b->count = 0;
    }
    lookups_release(&lk);
    wb_close(&wb);
    pthread_mutex_unlock(&ch->write_mu);
    return rc;
}

/* The live object of the path, or ERR_NOT_FOUND with the API's message. */
static int find_object(struct wb *wb, const char *object_id,
                       struct known **out, struct err *e)
{
    int rc = prefetch(wb, &object_id, 1, NULL, 0, e);

    *out = rc == 0 ? by_id(wb, object_id) : NULL;
    if (rc == 0 && (*out == NULL || !(*out)->live))
        rc = err_set(e, ERR_NOT_FOUND, "object \"%.100s\" not found in "
                     "bucket %s", object_id, wb->bucket.name);
    return rc;
}

/* The client's part of a stored object, which a merge patch applies to. */
static void client_part(const bson_t *doc, bson_t *out)
{
    bson_init(out);
    bson_copy_to_excluding_noinit(doc, out, "object_id", "bucket_id",
                                  "created_at", "updated_at", NULL);
}

/* objects_replace() of the object at the path with the new version,
 * after a look at whoever holds the unique key it would hold. */
static int change_one(struct wb *wb, struct known *old, const bson_t *body,
                      bool merge, bson_t *stored, struct err *e)
{
    bson_t previous, patched, doc;
    struct buf key = BUF_INIT;

    bson_copy_to(old->doc, &previous);
    if (merge) {
        bson_t base;
        client_part(&previous, &base);
        document_merge_patch(&base, body, &patched);
        bson_destroy(&base);
        body = &patched;
    }
    int rc = build(wb, body, &previous, false, &doc, e);
    if (rc == 0) {
        char *id = strdup(old->id);
        uint64_t version = old->version;
        if (id == NULL)
            rc = err_set(e, ERR_NOMEM, "out of memory");
        if (rc == 0 && (rc = unique_key(wb, &doc, &key, e)) == 0)
            rc = prefetch(wb, NULL, 0, &key, key.len > 0, e);
        if (rc == 0)
            rc = replace_one(wb, id, version, &doc, e);
        if (rc == 0)
            bson_copy_to(&doc, stored);
        free(id);
        bson_destroy(&doc);
    }
    if (merge)
        bson_destroy(&patched);
    bson_destroy(&previous);
    buf_release(&key);
    return rc;
}

int ch_object_change(struct backend *be, const struct backend_req *r,
                     const char *object_id, const bson_t *body, bool merge,
                     bson_t *stored, struct err *e)
{
    struct ch *ch = (struct ch *)be;
    struct wb wb;
    struct known *old = NULL;

    pthread_mutex_lock(&ch->write_mu);
    int rc = wb_open(&wb, ch, r, false, e);
    if (rc == 0)
        rc = find_object(&wb, object_id, &old, e);
    if (rc == 0)
        rc = change_one(&wb, old, body, merge, stored, e);
    if (rc == 0 && (rc = commit(&wb, e)) != 0)
        bson_destroy(stored);
    wb_close(&wb);
    pthread_mutex_unlock(&ch->write_mu);
    return rc;
}

int ch_object_delete(struct backend *be, const struct backend_req *r,
                     const char *object_id, struct err *e)
{
    struct ch *ch = (struct ch *)be;
    struct wb wb;
    struct known *old = NULL;
    struct buf nokey = BUF_INIT;

    pthread_mutex_lock(&ch->write_mu);
    int rc = wb_open(&wb, ch, r, false, e);
    if (rc == 0)
        rc = find_object(&wb, object_id, &old, e);
    if (rc == 0) {
        bson_t doc;
        bson_copy_to(old->doc, &doc);
        rc = put_row(&wb, &doc, &nokey, old->version, true, e);
        bson_destroy(&doc);
    }
    if (rc == 0)
        rc = commit(&wb, e);
    wb_close(&wb);
    pthread_mutex_unlock(&ch->write_mu);
    return rc;
}

/* --- import ---------------------------------------------------------------
 * NDJSON lines, parsed as they arrive and written in batches of
 * IMPORTER_BATCH_LINES (one SELECT for the checks, one INSERT), each
 * line kept or rejected on its own with the embedded importer's rules
 * and messages (store/importer.h). */

struct ch_import {
    struct backend_import base;
    struct ch *ch;
    struct backend_req req;
    char ns_id[IDS_MAX], bucket_ref[IDS_MAX + CATALOG_NAME_MAX];
    char bucket_id[IDS_MAX], policy[16];
    struct importer_config cfg;

    struct import_lines framing;
    uint64_t line_no;
    struct buf bodies;           /* the batch: parsed lines, as BSON */
    uint64_t *lines;
    size_t n, cap;

    struct import_rejects rejects;
    struct importer_stats stats;
};

static struct ch_import *imp(const struct backend_import *b)
{
    return (struct ch_import *)b;
}

static int reject_err(struct ch_import *im, uint64_t line, const struct err *e)
{
    im->stats.rejected++;
    return import_rejects_add_err(&im->rejects, line, e);
}

static const bson_t *body_at(const struct ch_import *im, size_t offset,
                             bson_t *view)
{
    uint32_t len;

    memcpy(&len, im->bodies.data + offset, 4);
    bson_init_static(view, (const uint8_t *)im->bodies.data + offset, len);
    return view;
}

/* The batch's lines in offsets, one after the other. */
static int write_batch(struct ch_import *im, struct err *e)
{
    struct wb wb;
    struct lookups lk = {0};
    struct err *errors = calloc(im->n ? im->n : 1, sizeof(*errors));
    size_t off;
    bson_t view;

    if (errors == NULL)
        return err_set(e, ERR_NOMEM, "out of memory importing");
    pthread_mutex_lock(&im->ch->write_mu);
    im->req.now_ms = clock_now_ms();
    int rc = wb_open(&wb, im->ch, &im->req, true, e);
    if (rc == ERR_NOT_FOUND) {
        err_release(e);
        err_init(e);
        rc = err_set(e, ERR_NOT_FOUND, "bucket %s was deleted during the "
                     "import", im->bucket_id);
    }
    if (rc == 0)
        rc = lookups_init(&lk, im->n);
    off = 0;
    for (size_t i = 0; rc == 0 && i < im->n; i++) {
        lookups_add(&wb, &lk, body_at(im, off, &view), true);
        off += view.len;
    }
    if (rc == 0)
        rc = prefetch(&wb, lk.ids, lk.nids, lk.keys, lk.nkeys, e);
    off = 0;
    for (size_t i = 0; rc == 0 && i < im->n; i++) {
        err_init(&errors[i]);
        int one = ingest_one(&wb, body_at(im, off, &view), true, NULL,
                             &errors[i]);
        off += view.len;
        if (one != 0 && !import_line_refused(one))
            rc = err_set(e, one, "%s", errors[i].msg);
    }
    if (rc == 0)
        rc = commit(&wb, e);
    wb_close(&wb);
    pthread_mutex_unlock(&im->ch->write_mu);

    for (size_t i = 0; i < im->n; i++) {
        if (rc == 0 && errors[i].code == ERR_OK)
            im->stats.imported++;
        else if (rc == 0 && reject_err(im, im->lines[i], &errors[i]) != 0)
            rc = err_set(e, ERR_NOMEM, "out of memory importing");
        err_release(&errors[i]);
    }
    free(errors);
    lookups_release(&lk);
    im->stats.batches++;
    im->n = 0;
    buf_reset(&im->bodies);
    return rc;
}

static int flush(struct ch_import *im, struct err *e)
{
    return im->n > 0 ? write_batch(im, e) : 0;
}

/* Stops the import once more than max_rejects lines were rejected,
 * after writing the lines read before. */
static int check_reject_limit(struct ch_import *im, struct err *e)
{
    if (im->cfg.max_rejects == 0 || im->stats.rejected <= im->cfg.max_rejects)
        return 0;
    int rc = flush(im, e);
    if (rc != 0)
        return rc;
    return err_set(e, ERR_LIMIT,
                   "import stopped at line %llu: more than %llu lines were "
                   "rejected (limit max_import_rejects); fix the input or "
                   "raise --max-import-rejects",
                   (unsigned long long)im->line_no,
                   (unsigned long long)im->cfg.max_rejects);
}

static int take_line(struct ch_import *im, const char *s, size_t n,
                     struct err *e)
{
    struct json_opts opts = {.max_depth = im->cfg.json_max_depth};
    struct json_error je;

    im->line_no++;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (import_line_blank(s, n))
        return 0;
    im->stats.lines++;
    int rc = json_parse(s, n, &opts, &im->bodies, &je);
    if (rc == ERR_BAD_REQUEST) {
        im->stats.rejected++;
        if (import_rejects_bad_json(&im->rejects, im->line_no, &je) != 0)
            return err_set(e, ERR_NOMEM, "out of memory");
        return check_reject_limit(im, e);
    }
    if (rc != 0)
        return err_set(e, rc, "out of memory importing");
    if (im->n == im->cap) {
        size_t cap = im->cap ? im->cap * 2 : 256;
        uint64_t *l = realloc(im->lines, cap * sizeof(*l));
        if (l == NULL)
            return err_set(e, ERR_NOMEM, "out of memory importing");
        im->lines = l;
        im->cap = cap;
    }
    im->lines[im->n++] = im->line_no;
    if (im->n >= IMPORTER_BATCH_LINES || im->bodies.len >= IMPORTER_BATCH_BYTES)
        return flush(im, e);
    return 0;
}

static int too_long(struct ch_import *im, struct err *e)
{
    im->stats.lines++;
    im->stats.rejected++;
    im->line_no++;
    if (import_rejects_too_long(&im->rejects, im->line_no,
                                im->cfg.max_object_bytes) != 0)
        return err_set(e, ERR_NOMEM, "out of memory");
    return check_reject_limit(im, e);
}

static int line_taken(void *ctx, const char *s, size_t n, struct err *e)
{
    return take_line(ctx, s, n, e);
}

static int line_too_long(void *ctx, struct err *e)
{
    return too_long(ctx, e);
}

static const struct import_line_ops line_ops = {line_taken, line_too_long};

static int imp_feed(struct backend_import *b, const char *data, size_t n,
                    struct err *e)
{
    struct ch_import *im = imp(b);

    im->stats.bytes += n;
    return import_lines_feed(&im->framing, data, n, &line_ops, im, e);
}

static int imp_drain(struct backend_import *b, struct err *e)
{
    return flush(imp(b), e);
}

static int imp_finish(struct backend_import *b, struct err *e)
{
    struct ch_import *im = imp(b);
    int rc = import_lines_finish(&im->framing, &line_ops, im, e);

    return rc != 0 ? rc : flush(im, e);
}

static const struct importer_stats *imp_stats(const struct backend_import *b)
{
    return &imp(b)->stats;
}

static const struct importer_reject *imp_rejects(struct backend_import *b,
                                                 size_t *n)
{
    return import_rejects_sorted(&imp(b)->rejects, n);
}

static const char *imp_bucket_id(const struct backend_import *b)
{
    return imp(b)->bucket_id;
}

static void imp_free(struct backend_import *b)
{
    struct ch_import *im = imp(b);

    import_rejects_release(&im->rejects);
    free(im->lines);
    import_lines_release(&im->framing);
    buf_release(&im->bodies);
    free(im);
}

static const struct backend_import_ops ch_import_ops = {
    imp_feed, imp_drain, imp_finish, imp_stats, imp_rejects, imp_bucket_id,
    imp_free};

int ch_import_new(struct backend *be, const struct backend_req *r,
                  const struct importer_config *cfg,
                  struct backend_import **out, struct err *e)
{
    struct ch_import *im = calloc(1, sizeof(*im));
    struct wb wb;

    if (im == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    im->base.ops = &ch_import_ops;
    im->ch = (struct ch *)be;
    im->cfg = *cfg;
    im->framing.max = cfg->max_object_bytes;
    snprintf(im->ns_id, sizeof(im->ns_id), "%s", r->ns_id);
    snprintf(im->policy, sizeof(im->policy), "%s", r->policy ? r->policy : "");

    /* The bucket and policy now, so that a wrong one is refused before
     * any of the body is read. Later batches find it by id. */
    int rc = wb_open(&wb, im->ch, r, true, e);
    if (rc == 0)
        snprintf(im->bucket_id, sizeof(im->bucket_id), "%s", wb.bucket.id);
    wb_close(&wb);
    if (rc != 0) {
        imp_free(&im->base);
        return rc;
    }
    im->req = *r;
    im->req.rd = NULL;
    im->req.ns_id = im->ns_id;
    im->req.bucket = im->bucket_id;
    im->req.policy = im->policy[0] ? im->policy : NULL;
    im->req.max_object_bytes = cfg->max_object_bytes;
    *out = &im->base;
    return 0;
}
