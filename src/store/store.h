/*
 * store.h - the embedded store: one LMDB environment in the data folder.
 *
 * What it owns:
 *  - the data folder: data.mdb and lock.mdb (LMDB), tally.lock (an
 *    exclusive lock so one process at a time owns the folder) and
 *    key-hash.secret (the key that API key hashes are made with);
 *  - the named databases below, opened once;
 *  - the writer: every write runs on one thread, and writes that arrive
 *    together are committed together (group commit), each in its own
 *    nested transaction so one failed write never undoes another.
 *
 * Databases (all keys compared as bytes):
 *   meta          "format" -> u32, "next_bucket_num" -> u32
 *   namespaces    ns_id -> namespace record (BSON)
 *   ns_names      namespace_name -> ns_id
 *   buckets       bkt_id -> bucket record (BSON)
 *   bucket_names  ns_id NUL bucket_name -> bkt_id
 *   bucket_nums   num (u32 BE) -> bkt_id
 *   bucket_stats  num (u32 BE) -> struct store_bucket_stats
 *   keys          key_id -> API key record (BSON)
 *   key_hashes    keyed hash (32 bytes) -> key_id
 *   objects       num (u32 BE) seq (u64 BE) -> object (BSON)
 *   object_ids    num (u32 BE) object_id -> seq (u64 BE)
 *   unique        num (u32 BE) unique-key value encoding -> seq (u64 BE)
 *   purge         num (u32 BE) -> "" : buckets whose objects are being
 *                 removed after a delete
 *
 * A bucket's objects are one contiguous key range in insertion order, so
 * a scan of a bucket is a cursor walk over adjacent pages.
 *
 * Durability: LMDB commits with fsync; a write reported as done survives
 * a crash of the process or the machine. Readers see a consistent
 * snapshot and never block the writer.
 */
#ifndef TALLY_STORE_STORE_H
#define TALLY_STORE_STORE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum store_db {
    STORE_DB_META,
    STORE_DB_NAMESPACES,
    STORE_DB_NS_NAMES,
    STORE_DB_BUCKETS,
    STORE_DB_BUCKET_NAMES,
    STORE_DB_BUCKET_NUMS,
    STORE_DB_BUCKET_STATS,
    STORE_DB_KEYS,
    STORE_DB_KEY_HASHES,
    STORE_DB_OBJECTS,
    STORE_DB_OBJECT_IDS,
    STORE_DB_UNIQUE,
    STORE_DB_PURGE,
    STORE_DB_COUNT
};

struct store_config {
    /* TUNING: LMDB reserves address space, not disk: 1 TiB costs nothing
     * until used and keeps a single machine's data in one map. */
    uint64_t max_size_bytes;
    /* TUNING: readers are one per concurrent request or scan. */
    unsigned max_readers;
    /* Open for reading only (no writer thread, no folder lock): readers
     * may run beside a server, LMDB keeps them consistent. */
    bool read_only;
    /* Write without the folder lock, beside a running server: only for
     * commands that touch nothing a server caches (API keys). */
    bool shared;
    /* Bulk loading (`tally import`): commits write their data with
     * fsync but not the meta page, and store_close() syncs everything. A
     * machine crash may then lose the last commits, never consistency; the
     * server never uses this, since its answers promise durability. */
    bool bulk;
};

#define STORE_DEFAULT_MAX_SIZE ((uint64_t)1 << 40)
#define STORE_DEFAULT_MAX_READERS 1024

struct store;

/* A transaction: a read snapshot or a (nested) write transaction. */
struct store_txn {
    struct store *store;
    MDB_txn *txn;
    bool writable;
    struct store_changes *changes; /* writes only: what changed, for
                                      observers after the commit */
};

/* Opens (creating when missing) the store in dir. On failure *out is NULL
 * and e says why, naming the folder. */
int store_open(const char *dir, const struct store_config *cfg,
               struct store **out, struct err *e);

/* Stops the writer after the queued writes, then closes the environment.
 * No transaction may be open. */
void store_close(struct store *s);

const char *store_dir(const struct store *s);
MDB_dbi store_dbi(const struct store *s, enum store_db db);

/* The 32-byte secret that keys API key hashes. */
const unsigned char *store_key_secret(const struct store *s);

/* Read snapshots. store_read_end() must be called exactly once. */
int store_read_begin(struct store *s, struct store_txn *t, struct err *e);
void store_read_end(struct store_txn *t);

/* A write: fn runs on the writer thread inside its own nested transaction.
 * When fn returns 0, its changes are committed (durably, possibly together
 * with other writes) before store_write() returns 0. When fn fails, its
 * changes are undone and its code returned; the error it reported in e is
 * kept. fn must not block on other writes. */
typedef int (*store_write_fn)(struct store_txn *t, void *ctx, struct err *e);
int store_write(struct store *s, store_write_fn fn, void *ctx, struct err *e);

/* The same write, queued without waiting: the caller keeps *p (and ctx
 * and e) alive until store_write_wait() returns the write's result. Lets
 * a producer prepare the next write while this one commits. */
struct store_pending {
    store_write_fn fn;
    void *ctx;
    struct err *e;
    int rc;
    bool done;
    struct store_pending *next;
};
int store_write_submit(struct store *s, store_write_fn fn, void *ctx,
                       struct err *e, struct store_pending *p);
int store_write_wait(struct store *s, struct store_pending *p);

/* Runs fn in a transaction nested in t (itself a write): its changes are
 * kept when it returns 0 and undone otherwise, leaving t usable either
 * way. A batch uses this to apply its objects one by one. */
int store_nested(struct store_txn *t, store_write_fn fn, void *ctx,
                 struct err *e);

/* Translates an LMDB return code into an err code and message that names
 * what was being done ("what"). */
int store_fail(int mdb_rc, const char *what, struct err *e);

/* Helpers over the transaction's databases. get: 0, ERR_NOT_FOUND, or an
 * error; the value points into the map and lives as long as the txn. */
int store_get(struct store_txn *t, enum store_db db, const void *key,
              size_t klen, MDB_val *val, struct err *e);
int store_put(struct store_txn *t, enum store_db db, const void *key,
              size_t klen, const void *val, size_t vlen, unsigned flags,
              struct err *e);
/* Like store_put, but reserves vlen bytes and hands back where to write
 * them (valid until the next write in the transaction). */
int store_put_reserve(struct store_txn *t, enum store_db db, const void *key,
                      size_t klen, size_t vlen, unsigned flags, void **out,
                      struct err *e);
int store_del(struct store_txn *t, enum store_db db, const void *key,
              size_t klen, struct err *e);

/* Observers learn about committed changes (the column cache does). The
 * callback runs on the writer thread after the commit and before the
 * writers are told; it must not fail. */
struct store_change {
    uint32_t bucket_num;
    uint64_t seq;
    enum { STORE_CHANGE_PUT, STORE_CHANGE_DELETE, STORE_CHANGE_DROP } kind;
};
typedef void (*store_observer_fn)(void *ctx, const struct store_change *c,
                                  size_t n, size_t txn_id);
void store_set_observer(struct store *s, store_observer_fn fn, void *ctx);
int store_note_change(struct store_txn *t, const struct store_change *c);

/* Size facts for /metrics and benchmarks. */
struct store_usage {
    uint64_t file_bytes;
    uint64_t used_bytes;
    uint64_t max_bytes;
    uint64_t commits;
    uint64_t writes;
};
void store_usage(struct store *s, struct store_usage *u);

/* Big-endian key encoding used for bucket numbers and sequences. */
static inline void store_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static inline void store_be64(unsigned char *p, uint64_t v)
{
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

static inline uint32_t store_get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t store_get_be64(const unsigned char *p)
{
    return (uint64_t)store_get_be32(p) << 32 | store_get_be32(p + 4);
}

#endif
