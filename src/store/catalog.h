/*
 * catalog.h - namespaces, buckets and API keys: their records and the
 * indexes that find them by name or by key hash.
 *
 * Records are BSON documents in the shape the API returns, plus a few
 * internal fields the API layer strips (see CATALOG_INTERNAL_*). The
 * catalog keeps names unique (per namespace for buckets) and hands out
 * bucket numbers, which prefix every object key of a bucket.
 *
 * Views: a found record (struct catalog_ns, catalog_bucket, catalog_key)
 * points into the transaction's memory and is valid until the transaction
 * ends. Nothing here allocates on the caller's behalf. A view holds a
 * bson_t, which points into itself: copy one with catalog_*_copy(), never
 * with an assignment.
 */
#ifndef TALLY_STORE_CATALOG_H
#define TALLY_STORE_CATALOG_H

#include <bson/bson.h>
#include <stdint.h>

#include "base/ids.h"
#include "store/store.h"

/* Record fields that never leave the server. */
#define CATALOG_INTERNAL_NUM "_num"    /* bucket number, int32 */
#define CATALOG_INTERNAL_NS "_ns"      /* bucket's namespace id */
#define CATALOG_INTERNAL_HASH "_hash"  /* API key hash, binary */

#define CATALOG_NAME_MAX 128

struct catalog_ns {
    char id[IDS_MAX];
    const char *name;      /* NUL-terminated, inside record */
    bson_t record;         /* read-only view */
};

struct catalog_bucket {
    char id[IDS_MAX];
    char ns_id[IDS_MAX];
    uint32_t num;
    const char *name;
    bson_t record;
};

/* Running totals of a bucket, updated by every object write. */
struct catalog_bucket_stats {
    uint64_t object_count;
    uint64_t total_size_bytes;  /* bytes of the stored documents */
    uint64_t next_seq;          /* insertion sequence of the next object */
    int64_t last_upload_ms;     /* 0 when nothing was ever written */
};

struct catalog_key {
    char id[IDS_MAX];
    bson_t record;
};

/* Names: 1..CATALOG_NAME_MAX bytes of printable UTF-8 without '/', and
 * not in the form of an identifier of that kind (so a name can never be
 * mistaken for an id). Returns NULL when fine, else a message. */
const char *catalog_name_problem(const char *name, size_t n,
                                 const char *id_prefix);

void catalog_ns_copy(struct catalog_ns *dst, const struct catalog_ns *src);
void catalog_bucket_copy(struct catalog_bucket *dst,
                         const struct catalog_bucket *src);

/* --- namespaces --- */

/* Finds a namespace by id or by name: 0 or ERR_NOT_FOUND (e is left
 * untouched on ERR_NOT_FOUND so that the caller can phrase it). */
int catalog_ns_find(struct store_txn *t, const char *ident, size_t n,
                    struct catalog_ns *out, struct err *e);
/* Stores a new namespace; ERR_CONFLICT when the name is taken. The record
 * must hold namespace_id and namespace_name. */
int catalog_ns_insert(struct store_txn *t, const bson_t *record,
                      struct err *e);
/* Replaces the record of old (same id); renames when the name changed. */
int catalog_ns_update(struct store_txn *t, const struct catalog_ns *old,
                      const bson_t *record, struct err *e);
/* Removes the namespace and every bucket in it (their objects are purged
 * in the background, see catalog_purge_step). */
int catalog_ns_delete(struct store_txn *t, const struct catalog_ns *ns,
                      struct err *e);
typedef int (*catalog_ns_fn)(void *ctx, const struct catalog_ns *ns);
int catalog_ns_each(struct store_txn *t, catalog_ns_fn fn, void *ctx,
                    struct err *e);

/* --- buckets --- */

int catalog_bucket_find(struct store_txn *t, const char *ns_id,
                        const char *ident, size_t n,
                        struct catalog_bucket *out, struct err *e);
/* Stores a new bucket in ns_id, giving it a number; the record must hold
 * bucket_id and bucket_name. On success *out views the stored record. */
int catalog_bucket_insert(struct store_txn *t, const char *ns_id,
                          const bson_t *record, struct catalog_bucket *out,
                          struct err *e);
int catalog_bucket_update(struct store_txn *t,
                          const struct catalog_bucket *old,
                          const bson_t *record, struct err *e);
int catalog_bucket_delete(struct store_txn *t, const struct catalog_bucket *b,
                          struct err *e);
typedef int (*catalog_bucket_fn)(void *ctx, const struct catalog_bucket *b);
int catalog_bucket_each(struct store_txn *t, const char *ns_id,
                        catalog_bucket_fn fn, void *ctx, struct err *e);
/* Finds a bucket by number (for integrity checks and the column cache). */
int catalog_bucket_by_num(struct store_txn *t, uint32_t num,
                          struct catalog_bucket *out, struct err *e);

int catalog_stats_get(struct store_txn *t, uint32_t num,
                      struct catalog_bucket_stats *out, struct err *e);
int catalog_stats_put(struct store_txn *t, uint32_t num,
                      const struct catalog_bucket_stats *s, struct err *e);

/* Removes up to max_keys object entries of deleted buckets. *more is set
 * when work remains. Run repeatedly, in writes of their own. */
int catalog_purge_step(struct store_txn *t, size_t max_keys, bool *more,
                       struct err *e);
/* True when deleted buckets still have objects to remove. */
bool catalog_purge_pending(struct store_txn *t);

/* --- API keys --- */

#define CATALOG_KEY_HASH_BYTES 32

/* The keyed hash of a plain API key, as stored. */
void catalog_key_hash(struct store *s, const char *key, size_t n,
                      unsigned char out[CATALOG_KEY_HASH_BYTES]);
/* Stores a key record (which must hold key_id) under its hash. */
int catalog_key_insert(struct store_txn *t, const bson_t *record,
                       const unsigned char hash[CATALOG_KEY_HASH_BYTES],
                       struct err *e);
/* Finds a key by the hash of its plain text: 0 or ERR_NOT_FOUND. The hash
 * is compared again in constant time after the lookup. */
int catalog_key_find(struct store_txn *t,
                     const unsigned char hash[CATALOG_KEY_HASH_BYTES],
                     struct catalog_key *out, struct err *e);
int catalog_key_find_id(struct store_txn *t, const char *key_id,
                        struct catalog_key *out, struct err *e);
int catalog_key_update(struct store_txn *t, const struct catalog_key *old,
                       const bson_t *record, struct err *e);
typedef int (*catalog_key_fn)(void *ctx, const struct catalog_key *k);
int catalog_key_each(struct store_txn *t, catalog_key_fn fn, void *ctx,
                     struct err *e);
uint64_t catalog_key_count(struct store_txn *t);

#endif
