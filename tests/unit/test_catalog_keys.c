/*
 * test_catalog_keys.c - API keys in the catalog: a key is found through
 * the index of keyed hashes and then confirmed by comparing the hash kept
 * in its record (sodium_memcmp, constant time), so an index entry that
 * disagrees with its record finds nothing; the hash depends on the data
 * folder's secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/catalog.h"
#include "test.h"

#define KEY "sk_unitTestKeyThatIsNotSecretAtAll0123456789ab"

struct key_store {
    char dir[64];
    struct store *store;
};

static bool open_store(struct key_store *ks)
{
    struct store_config cfg = {.max_size_bytes = (uint64_t)1 << 26};
    struct err e;

    snprintf(ks->dir, sizeof(ks->dir), "/tmp/tally-unit-XXXXXX");
    ks->store = NULL;
    if (mkdtemp(ks->dir) == NULL)
        return false;
    err_init(&e);
    int rc = store_open(ks->dir, &cfg, &ks->store, &e);
    if (rc != 0)
        printf("    store: %s\n", e.msg);
    err_release(&e);
    return rc == 0;
}

static void close_store(struct key_store *ks)
{
    char cmd[128];

    store_close(ks->store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ks->dir);
    if (system(cmd) != 0)
        printf("    could not remove %s\n", ks->dir);
}

struct key_write {
    const unsigned char *hash;     /* insert under this hash */
    const unsigned char *rewrite;  /* or: rewrite the record's hash */
};

static int write_key(struct store_txn *t, void *arg, struct err *e)
{
    struct key_write *w = arg;
    bson_t rec;

    bson_init(&rec);
    BSON_APPEND_UTF8(&rec, "key_id", "key_unit");
    BSON_APPEND_NULL(&rec, "revoked_at");
    int rc;
    if (w->rewrite == NULL) {
        rc = catalog_key_insert(t, &rec, w->hash, e);
    } else {
        struct catalog_key old;
        snprintf(old.id, sizeof(old.id), "key_unit");
        BSON_APPEND_BINARY(&rec, CATALOG_INTERNAL_HASH, BSON_SUBTYPE_BINARY,
                           w->rewrite, CATALOG_KEY_HASH_BYTES);
        rc = catalog_key_update(t, &old, &rec, e);
    }
    bson_destroy(&rec);
    return rc;
}

static int find_key(struct store *s, const unsigned char *hash,
                    char id_out[IDS_MAX])
{
    struct store_txn t;
    struct catalog_key k;
    struct err e;

    err_init(&e);
    int rc = store_read_begin(s, &t, &e);
    if (rc == 0) {
        rc = catalog_key_find(&t, hash, &k, &e);
        if (rc == 0)
            snprintf(id_out, IDS_MAX, "%s", k.id);
        store_read_end(&t);
    }
    err_release(&e);
    return rc;
}

TEST(key_find_confirms_the_hash_kept_in_the_record)
{
    struct key_store ks;
    unsigned char hash[CATALOG_KEY_HASH_BYTES], other[CATALOG_KEY_HASH_BYTES];
    char id[IDS_MAX] = "";
    struct err e;

    CHECK(open_store(&ks));
    if (ks.store == NULL)
        return;
    err_init(&e);
    catalog_key_hash(ks.store, KEY, strlen(KEY), hash);
    memcpy(other, hash, sizeof(hash));
    other[CATALOG_KEY_HASH_BYTES - 1] ^= 1;

    struct key_write insert = {hash, NULL};
    CHECK_INT(store_write(ks.store, write_key, &insert, &e), 0);
    CHECK_INT(find_key(ks.store, hash, id), 0);
    CHECK_STR(id, "key_unit");
    CHECK_INT(find_key(ks.store, other, id), ERR_NOT_FOUND);

    /* The index still leads from hash to the record, whose own hash now
     * differs in its last byte: the comparison refuses it. */
    struct key_write rewrite = {NULL, other};
    CHECK_INT(store_write(ks.store, write_key, &rewrite, &e), 0);
    CHECK_INT(find_key(ks.store, hash, id), ERR_NOT_FOUND);

    err_release(&e);
    close_store(&ks);
}

TEST(key_hash_depends_on_the_folder_secret)
{
    struct key_store a, b;
    unsigned char ha[CATALOG_KEY_HASH_BYTES], ha2[CATALOG_KEY_HASH_BYTES];
    unsigned char hb[CATALOG_KEY_HASH_BYTES];

    CHECK(open_store(&a));
    CHECK(open_store(&b));
    if (a.store == NULL || b.store == NULL)
        return;
    catalog_key_hash(a.store, KEY, strlen(KEY), ha);
    catalog_key_hash(a.store, KEY, strlen(KEY), ha2);
    catalog_key_hash(b.store, KEY, strlen(KEY), hb);
    CHECK(memcmp(ha, ha2, sizeof(ha)) == 0);
    CHECK(memcmp(ha, hb, sizeof(ha)) != 0);
    close_store(&a);
    close_store(&b);
}
