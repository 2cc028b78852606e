#include "store/catalog.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/utf8.h"

/* --- records ----------------------------------------------------------- */

static int view_record(const MDB_val *v, bson_t *out, const char *what,
                       struct err *e)
{
    if (!bson_init_static(out, v->mv_data, v->mv_size))
        return err_set(e, ERR_CORRUPT, "stored %s record does not parse",
                       what);
    return 0;
}

static const char *record_str(const bson_t *rec, const char *key)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, rec, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static void copy_id(char out[IDS_MAX], const char *s)
{
    snprintf(out, IDS_MAX, "%s", s ? s : "");
}

const char *catalog_name_problem(const char *name, size_t n,
                                 const char *id_prefix)
{
    if (n == 0)
        return "must not be empty";
    if (n > CATALOG_NAME_MAX)
        return "must be at most 128 bytes long";
    if (!utf8_valid(name, n))
        return "must be valid UTF-8";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7F ||
            name[i] == '/')
            return "must not contain control characters or '/'";
    if (ids_has_form(name, n, id_prefix))
        return "must not look like an identifier (it starts with the id "
               "prefix)";
    return NULL;
}

static void view_copy(bson_t *dst, const bson_t *src)
{
    bson_init_static(dst, bson_get_data(src), src->len);
}

void catalog_ns_copy(struct catalog_ns *dst, const struct catalog_ns *src)
{
    *dst = *src;
    view_copy(&dst->record, &src->record);
}

void catalog_bucket_copy(struct catalog_bucket *dst,
                         const struct catalog_bucket *src)
{
    *dst = *src;
    view_copy(&dst->record, &src->record);
}

/* --- namespaces -------------------------------------------------------- */

static int ns_from_value(const MDB_val *v, struct catalog_ns *out,
                         struct err *e)
{
    int rc = view_record(v, &out->record, "namespace", e);
    if (rc != 0)
        return rc;
    copy_id(out->id, record_str(&out->record, "namespace_id"));
    out->name = record_str(&out->record, "namespace_name");
    if (out->name == NULL || out->id[0] == '\0')
        return err_set(e, ERR_CORRUPT, "namespace record lacks its id or name");
    return 0;
}

static int ns_get(struct store_txn *t, const char *id, size_t n,
                  struct catalog_ns *out, struct err *e)
{
    MDB_val v;
    int rc = store_get(t, STORE_DB_NAMESPACES, id, n, &v, e);
    return rc != 0 ? rc : ns_from_value(&v, out, e);
}

int catalog_ns_find(struct store_txn *t, const char *ident, size_t n,
                    struct catalog_ns *out, struct err *e)
{
    MDB_val id;

    if (n == 0)
        return ERR_NOT_FOUND;
    if (ids_has_form(ident, n, "ns_"))
        return ns_get(t, ident, n, out, e);

    int rc = store_get(t, STORE_DB_NS_NAMES, ident, n, &id, e);
    return rc != 0 ? rc : ns_get(t, id.mv_data, id.mv_size, out, e);
}

static int put_record(struct store_txn *t, enum store_db db, const char *id,
                      const bson_t *record, struct err *e)
{
    return store_put(t, db, id, strlen(id), bson_get_data(record),
                     record->len, 0, e);
}

static int claim_name(struct store_txn *t, enum store_db db, const void *key,
                      size_t klen, const char *id, const char *what,
                      const char *name, struct err *e)
{
    int rc = store_put(t, db, key, klen, id, strlen(id), MDB_NOOVERWRITE, e);

    if (rc == ERR_CONFLICT)
        return err_set(e, ERR_CONFLICT, "a %s named \"%s\" already exists",
                       what, name);
    return rc;
}

int catalog_ns_insert(struct store_txn *t, const bson_t *record,
                      struct err *e)
{
    const char *id = record_str(record, "namespace_id");
    const char *name = record_str(record, "namespace_name");

    if (id == NULL || name == NULL)
        BUG("namespace record without id or name");
    int rc = claim_name(t, STORE_DB_NS_NAMES, name, strlen(name), id,
                        "namespace", name, e);
    return rc != 0 ? rc : put_record(t, STORE_DB_NAMESPACES, id, record, e);
}

int catalog_ns_update(struct store_txn *t, const struct catalog_ns *old,
                      const bson_t *record, struct err *e)
{
    const char *name = record_str(record, "namespace_name");
    int rc = 0;

    if (name == NULL)
        BUG("namespace record without a name");
    if (strcmp(name, old->name) != 0) {
        rc = claim_name(t, STORE_DB_NS_NAMES, name, strlen(name), old->id,
                        "namespace", name, e);
        if (rc == 0)
            rc = store_del(t, STORE_DB_NS_NAMES, old->name, strlen(old->name),
                           e);
    }
    return rc != 0 ? rc : put_record(t, STORE_DB_NAMESPACES, old->id, record, e);
}

static int delete_bucket_cb(void *ctx, const struct catalog_bucket *b)
{
    struct store_txn *t = ((void **)ctx)[0];
    struct err *e = ((void **)ctx)[1];
    return catalog_bucket_delete(t, b, e);
}

int catalog_ns_delete(struct store_txn *t, const struct catalog_ns *ns,
                      struct err *e)
{
    void *ctx[2] = {t, e};
    char id[IDS_MAX], name[CATALOG_NAME_MAX + 1];

    /* The views die with the first write: keep copies. */
    copy_id(id, ns->id);
    snprintf(name, sizeof(name), "%s", ns->name);

    int rc = catalog_bucket_each(t, id, delete_bucket_cb, ctx, e);
    if (rc == 0)
        rc = store_del(t, STORE_DB_NS_NAMES, name, strlen(name), e);
    if (rc == 0)
        rc = store_del(t, STORE_DB_NAMESPACES, id, strlen(id), e);
    return rc;
}

/* Calls fn for every record of db, in key order, from key `from` while keys
 * start with `prefix`. Stops at the first non-zero return of fn. */
typedef int (*each_fn)(void *ctx, const MDB_val *k, const MDB_val *v);

static int each_prefix(struct store_txn *t, enum store_db db,
                       const void *prefix, size_t plen, each_fn fn,
                       void *ctx, struct err *e)
{
    MDB_cursor *cur;
    MDB_val k = {plen, (void *)prefix}, v;
    int rc = mdb_cursor_open(t->txn, store_dbi(t->store, db), &cur);

    if (rc != 0)
        return store_fail(rc, "opening a cursor", e);
    rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    int out = 0;
    while (rc == 0 && out == 0) {
        /* plen 0 walks the whole database, and prefix may be NULL. */
        if (plen > 0 &&
            (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
            break;
        out = fn(ctx, &k, &v);
        if (out == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (out != 0)
        return out;
    return rc != 0 && rc != MDB_NOTFOUND ? store_fail(rc, "scanning", e) : 0;
}

struct ns_each_ctx {
    catalog_ns_fn fn;
    void *ctx;
    struct err *e;
};

static int ns_each_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
    struct ns_each_ctx *c = arg;
    struct catalog_ns ns;
    (void)k;
    int rc = ns_from_value(v, &ns, c->e);
    return rc != 0 ? rc : c->fn(c->ctx, &ns);
}

int catalog_ns_each(struct store_txn *t, catalog_ns_fn fn, void *ctx,
                    struct err *e)
{
    struct ns_each_ctx c = {fn, ctx, e};
    return each_prefix(t, STORE_DB_NAMESPACES, NULL, 0, ns_each_cb, &c, e);
}

/* --- buckets ----------------------------------------------------------- */

static int bucket_from_value(const MDB_val *v, struct catalog_bucket *out,
                             struct err *e)
{
    bson_iter_t it;
    int rc = view_record(v, &out->record, "bucket", e);

    if (rc != 0)
        return rc;
    copy_id(out->id, record_str(&out->record, "bucket_id"));
    copy_id(out->ns_id, record_str(&out->record, CATALOG_INTERNAL_NS));
    out->name = record_str(&out->record, "bucket_name");
    if (!bson_iter_init_find(&it, &out->record, CATALOG_INTERNAL_NUM) ||
        !BSON_ITER_HOLDS_INT32(&it) || out->name == NULL)
        return err_set(e, ERR_CORRUPT, "bucket record %s is incomplete",
                       out->id);
    out->num = (uint32_t)bson_iter_int32(&it);
    return 0;
}

static int bucket_get(struct store_txn *t, const char *id, size_t n,
                      struct catalog_bucket *out, struct err *e)
{
    MDB_val v;
    int rc = store_get(t, STORE_DB_BUCKETS, id, n, &v, e);
    return rc != 0 ? rc : bucket_from_value(&v, out, e);
}

/* Key of the bucket name index: namespace id, NUL, name. */
static size_t bucket_name_key(char *out, size_t cap, const char *ns_id,
                              const char *name, size_t n)
{
    size_t idlen = strlen(ns_id);

    if (idlen + 1 + n > cap)
        return 0;
    memcpy(out, ns_id, idlen + 1);
    memcpy(out + idlen + 1, name, n);
    return idlen + 1 + n;
}

int catalog_bucket_find(struct store_txn *t, const char *ns_id,
                        const char *ident, size_t n,
                        struct catalog_bucket *out, struct err *e)
{
    char key[IDS_MAX + CATALOG_NAME_MAX + 1];
    MDB_val id;
    int rc;

    if (ids_has_form(ident, n, "bkt_")) {
        rc = bucket_get(t, ident, n, out, e);
        if (rc == 0 && strcmp(out->ns_id, ns_id) != 0)
            return ERR_NOT_FOUND; /* another namespace's: not visible */
        return rc;
    }

    size_t klen = bucket_name_key(key, sizeof(key), ns_id, ident, n);
    if (klen == 0)
        return ERR_NOT_FOUND;
    rc = store_get(t, STORE_DB_BUCKET_NAMES, key, klen, &id, e);
    return rc != 0 ? rc : bucket_get(t, id.mv_data, id.mv_size, out, e);
}

static int next_bucket_num(struct store_txn *t, uint32_t *num, struct err *e)
{
    MDB_val v;
    uint32_t next = 1;
    int rc = store_get(t, STORE_DB_META, "next_bucket_num", 15, &v, e);

    if (rc == 0 && v.mv_size == sizeof(next))
        memcpy(&next, v.mv_data, sizeof(next));
    else if (rc != 0 && rc != ERR_NOT_FOUND)
        return rc;
    if (next == UINT32_MAX)
        return err_set(e, ERR_LIMIT, "no bucket numbers left");
    *num = next++;
    return store_put(t, STORE_DB_META, "next_bucket_num", 15, &next,
                     sizeof(next), 0, e);
}

static int with_internals(const bson_t *record, const char *ns_id,
                          uint32_t num, bson_t *out)
{
    bson_init(out);
    bson_copy_to_excluding_noinit(record, out, CATALOG_INTERNAL_NUM,
                                  CATALOG_INTERNAL_NS, NULL);
    if (!BSON_APPEND_INT32(out, CATALOG_INTERNAL_NUM, (int32_t)num) ||
        !BSON_APPEND_UTF8(out, CATALOG_INTERNAL_NS, ns_id)) {
        bson_destroy(out);
        return ERR_NOMEM;
    }
    return 0;
}

static int bucket_store(struct store_txn *t, const char *ns_id, uint32_t num,
                        const bson_t *record, struct err *e)
{
    bson_t full;
    const char *id = record_str(record, "bucket_id");

    if (with_internals(record, ns_id, num, &full) != 0)
        return err_set(e, ERR_NOMEM, "out of memory storing a bucket");
    int rc = put_record(t, STORE_DB_BUCKETS, id, &full, e);
    bson_destroy(&full);
    return rc;
}

int catalog_bucket_insert(struct store_txn *t, const char *ns_id,
                          const bson_t *record, struct catalog_bucket *out,
                          struct err *e)
{
    const char *id = record_str(record, "bucket_id");
    const char *name = record_str(record, "bucket_name");
    char key[IDS_MAX + CATALOG_NAME_MAX + 1];
    unsigned char numkey[4];
    uint32_t num = 0;

    if (id == NULL || name == NULL)
        BUG("bucket record without id or name");
    size_t klen = bucket_name_key(key, sizeof(key), ns_id, name, strlen(name));
    int rc = claim_name(t, STORE_DB_BUCKET_NAMES, key, klen, id, "bucket",
                        name, e);
    if (rc == 0)
        rc = next_bucket_num(t, &num, e);
    if (rc != 0)
        return rc;

    store_be32(numkey, num);
    struct catalog_bucket_stats stats = {.next_seq = 1};
    rc = store_put(t, STORE_DB_BUCKET_NUMS, numkey, 4, id, strlen(id), 0, e);
    if (rc == 0)
        rc = catalog_stats_put(t, num, &stats, e);
    if (rc == 0)
        rc = bucket_store(t, ns_id, num, record, e);
    if (rc == 0 && out != NULL)
        rc = bucket_get(t, id, strlen(id), out, e);
    return rc;
}

int catalog_bucket_update(struct store_txn *t,
                          const struct catalog_bucket *old,
                          const bson_t *record, struct err *e)
{
    const char *name = record_str(record, "bucket_name");
    char key[IDS_MAX + CATALOG_NAME_MAX + 1];
    int rc = 0;

    if (name == NULL)
        BUG("bucket record without a name");
    if (strcmp(name, old->name) != 0) {
        size_t klen = bucket_name_key(key, sizeof(key), old->ns_id, name,
                                      strlen(name));
        rc = claim_name(t, STORE_DB_BUCKET_NAMES, key, klen, old->id,
                        "bucket", name, e);
        klen = bucket_name_key(key, sizeof(key), old->ns_id, old->name,
                               strlen(old->name));
        if (rc == 0)
            rc = store_del(t, STORE_DB_BUCKET_NAMES, key, klen, e);
    }
    return rc != 0 ? rc : bucket_store(t, old->ns_id, old->num, record, e);
}

int catalog_bucket_delete(struct store_txn *t, const struct catalog_bucket *b,
                          struct err *e)
{
    char key[IDS_MAX + CATALOG_NAME_MAX + 1], id[IDS_MAX];
    unsigned char numkey[4];
    uint32_t num = b->num;
    size_t klen = bucket_name_key(key, sizeof(key), b->ns_id, b->name,
                                  strlen(b->name));

    copy_id(id, b->id);
    store_be32(numkey, num);
    int rc = store_del(t, STORE_DB_BUCKET_NAMES, key, klen, e);
    if (rc == 0)
        rc = store_del(t, STORE_DB_BUCKETS, id, strlen(id), e);
    if (rc == 0)
        rc = store_del(t, STORE_DB_BUCKET_NUMS, numkey, 4, e);
    if (rc == 0)
        rc = store_del(t, STORE_DB_BUCKET_STATS, numkey, 4, e);
    if (rc == 0)
        rc = store_put(t, STORE_DB_PURGE, numkey, 4, "", 0, 0, e);
    if (rc == 0) {
        struct store_change c = {.bucket_num = num,
                                 .kind = STORE_CHANGE_DROP};
        rc = store_note_change(t, &c);
    }
    return rc;
}

struct bucket_each_ctx {
    struct store_txn *t;
    catalog_bucket_fn fn;
    void *ctx;
    struct err *e;
};

static int bucket_each_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
    struct bucket_each_ctx *c = arg;
    struct catalog_bucket b;
    (void)k;
    int rc = bucket_get(c->t, v->mv_data, v->mv_size, &b, c->e);
    return rc != 0 ? rc : c->fn(c->ctx, &b);
}

int catalog_bucket_each(struct store_txn *t, const char *ns_id,
                        catalog_bucket_fn fn, void *ctx, struct err *e)
{
    struct bucket_each_ctx c = {t, fn, ctx, e};
    return each_prefix(t, STORE_DB_BUCKET_NAMES, ns_id, strlen(ns_id) + 1,
                       bucket_each_cb, &c, e);
}

int catalog_bucket_by_num(struct store_txn *t, uint32_t num,
                          struct catalog_bucket *out, struct err *e)
{
    unsigned char numkey[4];
    MDB_val id;

    store_be32(numkey, num);
    int rc = store_get(t, STORE_DB_BUCKET_NUMS, numkey, 4, &id, e);
    return rc != 0 ? rc : bucket_get(t, id.mv_data, id.mv_size, out, e);
}

int catalog_stats_get(struct store_txn *t, uint32_t num,
                      struct catalog_bucket_stats *out, struct err *e)
{
    unsigned char numkey[4];
    MDB_val v;

    store_be32(numkey, num);
    int rc = store_get(t, STORE_DB_BUCKET_STATS, numkey, 4, &v, e);
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof(*out))
        return err_set(e, ERR_CORRUPT, "bucket %u: stats record is damaged",
                       num);
    memcpy(out, v.mv_data, sizeof(*out));
    return 0;
}

int catalog_stats_put(struct store_txn *t, uint32_t num,
                      const struct catalog_bucket_stats *s, struct err *e)
{
    unsigned char numkey[4];

    store_be32(numkey, num);
    return store_put(t, STORE_DB_BUCKET_STATS, numkey, 4, s, sizeof(*s), 0, e);
}

/* --- purging deleted buckets ------------------------------------------ */

/* Deletes up to *budget keys starting with the 4-byte prefix from db;
 * *emptied tells whether none is left. */
static int purge_prefix(struct store_txn *t, enum store_db db,
                        const unsigned char prefix[4], size_t *budget,
                        bool *emptied, struct err *e)
{
    MDB_cursor *cur;
    MDB_val k = {4, (void *)prefix}, v;
    int rc = mdb_cursor_open(t->txn, store_dbi(t->store, db), &cur);

    if (rc != 0)
        return store_fail(rc, "purging", e);
    *emptied = false;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size < 4 || memcmp(k.mv_data, prefix, 4) != 0) {
            *emptied = true;
            break;
        }
        if (*budget == 0)
            break;
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0)
            break;
        (*budget)--;
        /* After a delete the cursor rests on the following entry. */
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND || rc == EINVAL) {
        *emptied = true;
        rc = 0;
    }
    return rc != 0 ? store_fail(rc, "purging", e) : 0;
}

int catalog_purge_step(struct store_txn *t, size_t max_keys, bool *more,
                       struct err *e)
{
    static const enum store_db dbs[] = {STORE_DB_OBJECTS, STORE_DB_OBJECT_IDS,
                                        STORE_DB_UNIQUE};
    MDB_cursor *cur;
    MDB_val k, v;
    unsigned char prefix[4];
    size_t budget = max_keys;

    *more = false;
    int rc = mdb_cursor_open(t->txn, store_dbi(t->store, STORE_DB_PURGE), &cur);
    if (rc != 0)
        return store_fail(rc, "purging", e);
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0 || k.mv_size != 4)
        return store_fail(rc ? rc : MDB_CORRUPTED, "purging", e);
    memcpy(prefix, k.mv_data, 4);

    bool all_empty = true;
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        bool emptied = false;
        rc = purge_prefix(t, dbs[i], prefix, &budget, &emptied, e);
        if (rc != 0)
            return rc;
        all_empty &= emptied;
    }
    if (all_empty)
        rc = store_del(t, STORE_DB_PURGE, prefix, 4, e);
    *more = catalog_purge_pending(t);
    return rc;
}

bool catalog_purge_pending(struct store_txn *t)
{
    MDB_stat st;

    if (mdb_stat(t->txn, store_dbi(t->store, STORE_DB_PURGE), &st) != 0)
        return false;
    return st.ms_entries > 0;
}

/* --- API keys ---------------------------------------------------------- */

void catalog_key_hash(struct store *s, const char *key, size_t n,
                      unsigned char out[CATALOG_KEY_HASH_BYTES])
{
    crypto_generichash(out, CATALOG_KEY_HASH_BYTES, (const unsigned char *)key,
                       n, store_key_secret(s), 32);
}

static int key_from_value(const MDB_val *v, struct catalog_key *out,
                          struct err *e)
{
    int rc = view_record(v, &out->record, "API key", e);
    if (rc != 0)
        return rc;
    copy_id(out->id, record_str(&out->record, "key_id"));
    return 0;
}

int catalog_key_insert(struct store_txn *t, const bson_t *record,
                       const unsigned char hash[CATALOG_KEY_HASH_BYTES],
                       struct err *e)
{
    const char *id = record_str(record, "key_id");
    bson_t full;

    if (id == NULL)
        BUG("key record without key_id");
    bson_init(&full);
    bson_copy_to_excluding_noinit(record, &full, CATALOG_INTERNAL_HASH, NULL);
    BSON_APPEND_BINARY(&full, CATALOG_INTERNAL_HASH, BSON_SUBTYPE_BINARY, hash,
                       CATALOG_KEY_HASH_BYTES);

    int rc = store_put(t, STORE_DB_KEY_HASHES, hash, CATALOG_KEY_HASH_BYTES,
                       id, strlen(id), MDB_NOOVERWRITE, e);
    if (rc == ERR_CONFLICT)
        rc = err_set(e, ERR_INTERNAL, "API key hash collision");
    if (rc == 0)
        rc = put_record(t, STORE_DB_KEYS, id, &full, e);
    bson_destroy(&full);
    return rc;
}

int catalog_key_find_id(struct store_txn *t, const char *key_id,
                        struct catalog_key *out, struct err *e)
{
    MDB_val v;
    int rc = store_get(t, STORE_DB_KEYS, key_id, strlen(key_id), &v, e);
    return rc != 0 ? rc : key_from_value(&v, out, e);
}

int catalog_key_find(struct store_txn *t,
                     const unsigned char hash[CATALOG_KEY_HASH_BYTES],
                     struct catalog_key *out, struct err *e)
{
    MDB_val id, v;
    bson_iter_t it;
    const uint8_t *stored;
    uint32_t len;
    bson_subtype_t sub;

    int rc = store_get(t, STORE_DB_KEY_HASHES, hash, CATALOG_KEY_HASH_BYTES,
                       &id, e);
    if (rc == 0)
        rc = store_get(t, STORE_DB_KEYS, id.mv_data, id.mv_size, &v, e);
    if (rc == 0)
        rc = key_from_value(&v, out, e);
    if (rc != 0)
        return rc;

    if (!bson_iter_init_find(&it, &out->record, CATALOG_INTERNAL_HASH) ||
        !BSON_ITER_HOLDS_BINARY(&it))
        return err_set(e, ERR_CORRUPT, "API key %s has no hash", out->id);
    bson_iter_binary(&it, &sub, &len, &stored);
    if (len != CATALOG_KEY_HASH_BYTES ||
        sodium_memcmp(stored, hash, CATALOG_KEY_HASH_BYTES) != 0)
        return ERR_NOT_FOUND;
    return 0;
}

int catalog_key_update(struct store_txn *t, const struct catalog_key *old,
                       const bson_t *record, struct err *e)
{
    return put_record(t, STORE_DB_KEYS, old->id, record, e);
}

struct key_each_ctx {
    catalog_key_fn fn;
    void *ctx;
    struct err *e;
};

static int key_each_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
    struct key_each_ctx *c = arg;
    struct catalog_key key;
    (void)k;
    int rc = key_from_value(v, &key, c->e);
    return rc != 0 ? rc : c->fn(c->ctx, &key);
}

int catalog_key_each(struct store_txn *t, catalog_key_fn fn, void *ctx,
                     struct err *e)
{
    struct key_each_ctx c = {fn, ctx, e};
    return each_prefix(t, STORE_DB_KEYS, NULL, 0, key_each_cb, &c, e);
}

uint64_t catalog_key_count(struct store_txn *t)
{
    MDB_stat st;

    if (mdb_stat(t->txn, store_dbi(t->store, STORE_DB_KEYS), &st) != 0)
        return 0;
    return st.ms_entries;
}
