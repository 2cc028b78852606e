#include "store/objects.h"

#include <math.h>

#include "base/crc32c.h"
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define OBJECT_KEY_LEN 12
#define ID_KEY_MAX (4 + 256)

void objects_bucket_from(const struct catalog_bucket *b,
                         struct objects_bucket *ob, const char **fields,
                         int cap)
{
    bson_iter_t it, uk, arr;

    memset(ob, 0, sizeof(*ob));
    ob->num = b->num;
    ob->unique_fields = fields;
    if (!bson_iter_init_find(&it, &b->record, "unique_key") ||
        !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &uk) ||
        !bson_iter_find(&uk, "fields") || !BSON_ITER_HOLDS_ARRAY(&uk) ||
        !bson_iter_recurse(&uk, &arr))
        return;
    while (bson_iter_next(&arr) && ob->unique_count < cap)
        if (BSON_ITER_HOLDS_UTF8(&arr))
            fields[ob->unique_count++] = bson_iter_utf8(&arr, NULL);
}

static void object_key(unsigned char key[OBJECT_KEY_LEN], uint32_t num,
                       uint64_t seq)
{
    store_be32(key, num);
    store_be64(key + 4, seq);
}

static size_t id_key(unsigned char *key, uint32_t num, const char *id,
                     size_t n)
{
    if (n > ID_KEY_MAX - 4)
        return 0;
    store_be32(key, num);
    memcpy(key + 4, id, n);
    return 4 + n;
}

static const char *doc_object_id(const bson_t *doc, uint32_t *len)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, doc, "object_id") && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, len);
    return NULL;
}

/* --- unique keys ------------------------------------------------------- */

/* Feeds one value into the key hash in a form where equal values (by the
 * contract's equality: 1 == 1.0) give equal bytes. */
static void hash_value(crypto_generichash_state *h, const bson_iter_t *it)
{
    unsigned char tag;
    int64_t i;
    double d;
    uint32_t len = 0;
    const char *s;

    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
        i = bson_iter_as_int64(it);
        goto integer;
    case BSON_TYPE_DOUBLE:
        d = bson_iter_double(it);
        if (d == floor(d) && fabs(d) < 9.2e18) {
            i = (int64_t)d;
            goto integer;
        }
        tag = 'd';
        crypto_generichash_update(h, &tag, 1);
        crypto_generichash_update(h, (unsigned char *)&d, sizeof(d));
        return;
    case BSON_TYPE_UTF8:
        s = bson_iter_utf8(it, &len);
        tag = 's';
        crypto_generichash_update(h, &tag, 1);
        crypto_generichash_update(h, (unsigned char *)&len, sizeof(len));
        crypto_generichash_update(h, (const unsigned char *)s, len);
        return;
    case BSON_TYPE_DATE_TIME:
        i = bson_iter_date_time(it);
        tag = 't';
        crypto_generichash_update(h, &tag, 1);
        crypto_generichash_update(h, (unsigned char *)&i, sizeof(i));
        return;
    case BSON_TYPE_BOOL:
        tag = bson_iter_bool(it) ? 'T' : 'F';
        crypto_generichash_update(h, &tag, 1);
        return;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        const uint8_t *raw;
        bson_iter_document(it, &len, &raw);
        if (BSON_ITER_HOLDS_ARRAY(it))
            bson_iter_array(it, &len, &raw);
        tag = (unsigned char)bson_iter_type(it);
        crypto_generichash_update(h, &tag, 1);
        crypto_generichash_update(h, raw, len);
        return;
    }
    default:
        tag = (unsigned char)bson_iter_type(it);
        crypto_generichash_update(h, &tag, 1);
        return;
    }
integer:
    tag = 'i';
    crypto_generichash_update(h, &tag, 1);
    crypto_generichash_update(h, (unsigned char *)&i, sizeof(i));
}

int objects_unique_key(const struct objects_bucket *b, const bson_t *doc,
                       unsigned char out[32], struct err *e)
{
    crypto_generichash_state h;
    int rc = 0;

    crypto_generichash_init(&h, NULL, 0, 32);
    for (int i = 0; i < b->unique_count; i++) {
        const char *field = b->unique_fields[i];
        char path[512];
        bson_iter_t root, it;

        if (strncmp(field, "metadata.", 9) == 0)
            field += 9;
        snprintf(path, sizeof(path), "metadata.%s", field);
        if (!bson_iter_init(&root, doc) ||
            !bson_iter_find_descendant(&root, path, &it) ||
            BSON_ITER_HOLDS_NULL(&it)) {
            struct err_path p = {0};
            err_path_key(&p, "body");
            err_path_key(&p, "metadata");
            rc = err_problem(e, &p, field, "missing",
                             "unique key field \"%s\" is required", field);
            continue;
        }
        hash_value(&h, &it);
    }
    crypto_generichash_final(&h, out, 32);
    return rc;
}

/* The unique-key index key of doc: 0, or ERR_VALIDATION when a key
 * field is missing. *none is set when the bucket has no unique key. */
static int unique_index_key(const struct objects_bucket *b, const bson_t *doc,
                            unsigned char key[36], bool *none, struct err *e)
{
    *none = b->unique_count == 0;
    if (*none)
        return 0;
    store_be32(key, b->num);
    return objects_unique_key(b, doc, key + 4, e);
}

/* Refuses doc when its unique key belongs to another object than seq. */
static int unique_check(struct store_txn *t, const struct objects_bucket *b,
                        const bson_t *doc, uint64_t seq, struct err *e)
{
    unsigned char key[36];
    bool none;
    MDB_val v;

    int rc = unique_index_key(b, doc, key, &none, e);
    if (rc != 0 || none)
        return rc;
    rc = store_get(t, STORE_DB_UNIQUE, key, sizeof(key), &v, e);
    if (rc == ERR_NOT_FOUND)
        return 0;
    if (rc == 0 && (v.mv_size != 8 || store_get_be64(v.mv_data) != seq))
        return err_set(e, ERR_CONFLICT,
                       "an object with the same unique key already exists");
    return rc;
}

static int unique_claim(struct store_txn *t, const struct objects_bucket *b,
                        const bson_t *doc, uint64_t seq, struct err *e)
{
    unsigned char key[36], val[8];
    bool none;

    int rc = unique_index_key(b, doc, key, &none, e);
    if (rc != 0 || none)
        return rc;
    store_be64(val, seq);
    return store_put(t, STORE_DB_UNIQUE, key, sizeof(key), val, 8, 0, e);
}

static int unique_release(struct store_txn *t, const struct objects_bucket *b,
                          const bson_t *doc, struct err *e)
{
    unsigned char key[36];
    struct err ignored;
    bool none;

    err_init(&ignored);
    int rc = unique_index_key(b, doc, key, &none, &ignored);
    err_release(&ignored);
    if (rc != 0 || none)
        return 0; /* never indexed */
    rc = store_del(t, STORE_DB_UNIQUE, key, sizeof(key), e);
    return rc == ERR_NOT_FOUND ? 0 : rc;
}

int objects_find_unique(struct store_txn *t, const struct objects_bucket *b,
                        const bson_t *doc, uint64_t *seq, struct err *e)
{
    unsigned char key[4 + 32];
    MDB_val v;

    int rc = objects_unique_key(b, doc, key + 4, e);
    if (rc != 0)
        return rc;
    store_be32(key, b->num);
    rc = store_get(t, STORE_DB_UNIQUE, key, sizeof(key), &v, e);
    if (rc == 0)
        *seq = store_get_be64(v.mv_data);
    return rc;
}

/* --- writes ------------------------------------------------------------ */

static int note(struct store_txn *t, uint32_t num, uint64_t seq, int kind,
                struct err *e)
{
    struct store_change c = {.bucket_num = num, .seq = seq, .kind = kind};

    if (store_note_change(t, &c) != 0)
        return err_set(e, ERR_NOMEM, "out of memory recording a change");
    return 0;
}

static int load_stats(struct store_txn *t, struct objects_bucket *b,
                      struct err *e)
{
    if (b->stats_loaded)
        return 0;
    int rc = catalog_stats_get(t, b->num, &b->stats, e);
    if (rc == ERR_NOT_FOUND)
        return err_set(e, ERR_NOT_FOUND, "bucket was deleted");
    b->stats_loaded = rc == 0;
    return rc;
}

int objects_flush(struct store_txn *t, struct objects_bucket *b,
                  struct err *e)
{
    if (!b->stats_dirty)
        return 0;
    b->stats_dirty = false;
    return catalog_stats_put(t, b->num, &b->stats, e);
}

/* Refuses an object_id that is taken (or unusable) in the bucket. */
static int id_check(struct store_txn *t, uint32_t num, const bson_t *doc,
                    unsigned char *key, size_t *klen, struct err *e)
{
    uint32_t len;
    const char *id = doc_object_id(doc, &len);
    MDB_val v;

    *klen = id ? id_key(key, num, id, len) : 0;
    if (*klen == 0)
        return err_set(e, ERR_BAD_REQUEST, "object_id is missing or too long");
    int rc = store_get(t, STORE_DB_OBJECT_IDS, key, *klen, &v, e);
    if (rc == 0)
        return err_set(e, ERR_CONFLICT, "object_id %s already exists", id);
    return rc == ERR_NOT_FOUND ? 0 : rc;
}

#define CRC_LEN 4

static int write_object(struct store_txn *t, const unsigned char *key,
                        const bson_t *doc, unsigned flags, struct err *e)
{
    unsigned char *at;
    uint32_t crc = crc32c(bson_get_data(doc), doc->len);

    int rc = store_put_reserve(t, STORE_DB_OBJECTS, key, OBJECT_KEY_LEN,
                               doc->len + CRC_LEN, flags, (void **)&at, e);
    if (rc != 0)
        return rc;
    memcpy(at, bson_get_data(doc), doc->len);
    memcpy(at + doc->len, &crc, CRC_LEN);
    return 0;
}

/* A new object's key is the largest of its bucket, and usually of all:
 * try LMDB's append first, which skips the tree search. */
static int put_object(struct store_txn *t, const unsigned char *key,
                      const bson_t *doc, struct err *e)
{
    int rc = write_object(t, key, doc, MDB_APPEND, e);
    return rc != ERR_CONFLICT ? rc : write_object(t, key, doc, 0, e);
}

/* The document of a stored value, after its checksum is verified. */
static int stored_document(uint32_t num, uint64_t seq, const void *data,
                           size_t len, size_t *doc_len, struct err *e)
{
    uint32_t crc;

    if (len < 5 + CRC_LEN)
        return err_set(e, ERR_CORRUPT,
                       "object %llu of bucket %u is damaged (too short)",
                       (unsigned long long)seq, num);
    memcpy(&crc, (const unsigned char *)data + len - CRC_LEN, CRC_LEN);
    if (crc32c(data, len - CRC_LEN) != crc)
        return err_set(e, ERR_CORRUPT,
                       "object %llu of bucket %u is damaged (checksum "
                       "mismatch); restore the data folder from a backup",
                       (unsigned long long)seq, num);
    *doc_len = len - CRC_LEN;
    return 0;
}

int objects_insert(struct store_txn *t, struct objects_bucket *b,
                   const bson_t *doc, int64_t now_ms, uint64_t *seq_out,
                   struct err *e)
{
    unsigned char key[OBJECT_KEY_LEN], idkey[ID_KEY_MAX], seqval[8];
    size_t idlen;

    int rc = load_stats(t, b, e);
    if (rc == 0)
        rc = id_check(t, b->num, doc, idkey, &idlen, e);
    if (rc == 0)
        rc = unique_check(t, b, doc, b->stats.next_seq, e);
    if (rc != 0)
        return rc;

    /* Nothing below refuses the object: only the store can fail. */
    uint64_t seq = b->stats.next_seq;
    object_key(key, b->num, seq);
    store_be64(seqval, seq);
    rc = put_object(t, key, doc, e);
    if (rc == 0)
        rc = store_put(t, STORE_DB_OBJECT_IDS, idkey, idlen, seqval, 8, 0, e);
    if (rc == 0)
        rc = unique_claim(t, b, doc, seq, e);
    if (rc != 0)
        return rc;

    rc = note(t, b->num, seq, STORE_CHANGE_PUT, e);
    if (rc != 0)
        return rc;
    b->stats.next_seq++;
    b->stats.object_count++;
    b->stats.total_size_bytes += doc->len;
    b->stats.last_upload_ms = now_ms;
    b->stats_dirty = true;
    if (seq_out != NULL)
        *seq_out = seq;
    return 0;
}

int objects_replace(struct store_txn *t, struct objects_bucket *b,
                    uint64_t seq, const bson_t *old, const bson_t *doc,
                    int64_t now_ms, struct err *e)
{
    unsigned char key[OBJECT_KEY_LEN];

    int rc = load_stats(t, b, e);
    if (rc == 0)
        rc = unique_check(t, b, doc, seq, e);
    if (rc != 0)
        return rc;

    object_key(key, b->num, seq);
    rc = unique_release(t, b, old, e);
    if (rc == 0)
        rc = unique_claim(t, b, doc, seq, e);
    if (rc == 0)
        rc = write_object(t, key, doc, 0, e);
    if (rc == 0)
        rc = note(t, b->num, seq, STORE_CHANGE_PUT, e);
    if (rc != 0)
        return rc;
    b->stats.total_size_bytes = b->stats.total_size_bytes - old->len + doc->len;
    b->stats.last_upload_ms = now_ms;
    b->stats_dirty = true;
    return 0;
}

int objects_delete(struct store_txn *t, struct objects_bucket *b,
                   uint64_t seq, const bson_t *old, struct err *e)
{
    unsigned char key[OBJECT_KEY_LEN], idkey[ID_KEY_MAX];
    uint32_t len;
    const char *id = doc_object_id(old, &len);
    size_t klen = id ? id_key(idkey, b->num, id, len) : 0;

    int rc = load_stats(t, b, e);
    if (rc == 0)
        rc = unique_release(t, b, old, e);
    if (rc == 0 && klen > 0)
        rc = store_del(t, STORE_DB_OBJECT_IDS, idkey, klen, e);
    if (rc != 0)
        return rc;

    object_key(key, b->num, seq);
    rc = store_del(t, STORE_DB_OBJECTS, key, sizeof(key), e);
    if (rc == 0)
        rc = note(t, b->num, seq, STORE_CHANGE_DELETE, e);
    if (rc != 0)
        return rc;
    b->stats.object_count--;
    b->stats.total_size_bytes -= old->len;
    b->stats_dirty = true;
    return 0;
}

/* --- reads ------------------------------------------------------------- */

int objects_find_id(struct store_txn *t, uint32_t num, const char *id,
                    size_t n, uint64_t *seq, struct err *e)
{
    unsigned char key[ID_KEY_MAX];
    size_t klen = id_key(key, num, id, n);
    MDB_val v;

    if (klen == 0)
        return ERR_NOT_FOUND;
    int rc = store_get(t, STORE_DB_OBJECT_IDS, key, klen, &v, e);
    if (rc == 0 && v.mv_size != 8)
        return err_set(e, ERR_CORRUPT, "object id index entry is damaged");
    if (rc == 0)
        *seq = store_get_be64(v.mv_data);
    return rc;
}

int objects_get(struct store_txn *t, uint32_t num, uint64_t seq,
                bson_t *doc, struct err *e)
{
    unsigned char key[OBJECT_KEY_LEN];
    MDB_val v;
    size_t len = 0;

    object_key(key, num, seq);
    int rc = store_get(t, STORE_DB_OBJECTS, key, sizeof(key), &v, e);
    if (rc == 0)
        rc = stored_document(num, seq, v.mv_data, v.mv_size, &len, e);
    if (rc != 0)
        return rc;
    if (!bson_init_static(doc, v.mv_data, len))
        return err_set(e, ERR_CORRUPT, "object %u/%llu does not parse", num,
                       (unsigned long long)seq);
    return 0;
}

int objects_scan_open(struct store_txn *t, uint32_t num, uint64_t from_seq,
                      struct objects_scan *s, struct err *e)
{
    memset(s, 0, sizeof(*s));
    store_be32(s->prefix, num);
    s->from_seq = from_seq;
    int rc = mdb_cursor_open(t->txn, store_dbi(t->store, STORE_DB_OBJECTS),
                             &s->cur);
    return rc != 0 ? store_fail(rc, "opening a bucket scan", e) : 0;
}

int objects_scan_next(struct objects_scan *s, uint64_t *seq,
                      const uint8_t **data, size_t *len, struct err *e)
{
    unsigned char start[OBJECT_KEY_LEN];
    MDB_val k = {sizeof(start), start}, v;
    int rc;

    if (s->done)
        return ERR_NOT_FOUND;
    if (!s->started) {
        memcpy(start, s->prefix, 4);
        store_be64(start + 4, s->from_seq);
        rc = mdb_cursor_get(s->cur, &k, &v, MDB_SET_RANGE);
        s->started = true;
    } else {
        rc = mdb_cursor_get(s->cur, &k, &v, MDB_NEXT);
    }
    if (rc == 0 && (k.mv_size != OBJECT_KEY_LEN ||
                    memcmp(k.mv_data, s->prefix, 4) != 0))
        rc = MDB_NOTFOUND;
    if (rc != 0) {
        s->done = true;
        return rc == MDB_NOTFOUND ? ERR_NOT_FOUND
                                  : store_fail(rc, "scanning a bucket", e);
    }
    *seq = store_get_be64((const unsigned char *)k.mv_data + 4);
    *data = v.mv_data;
    return stored_document(store_get_be32(s->prefix), *seq, v.mv_data,
                           v.mv_size, len, e);
}

void objects_scan_close(struct objects_scan *s)
{
    if (s->cur != NULL)
        mdb_cursor_close(s->cur);
    s->cur = NULL;
}
