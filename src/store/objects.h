/*
 * objects.h - a bucket's objects: stored documents, the object id index,
 * the unique-key index and the bucket's running totals, kept in step.
 *
 * An object is a BSON document that holds at least "object_id" (string).
 * It is stored followed by the CRC-32C of its bytes: every read checks it
 * and answers ERR_CORRUPT, naming the object, rather than return damaged
 * data.
 * Its key is (bucket number, insertion sequence), so a bucket scan yields
 * objects in insertion order; a replaced object keeps its sequence.
 *
 * Every write function runs inside a store_write() callback and checks
 * everything that can refuse the write (a taken object_id or unique key)
 * before it changes anything: a refused write leaves the transaction as
 * it was, so a batch needs no nested transaction per object. Only a
 * failure of the store itself (disk or map full) can stop a write half
 * way, and then the whole transaction must be abandoned. Each write
 * records a store_change for the column cache.
 *
 * The bucket's running totals are read once per transaction into the
 * struct objects_bucket and written back by objects_flush(), which every
 * writer must call before its transaction commits.
 */
#ifndef TALLY_STORE_OBJECTS_H
#define TALLY_STORE_OBJECTS_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/catalog.h"

/* What the object functions need to know about a bucket. */
struct objects_bucket {
    uint32_t num;
    const char *const *unique_fields; /* metadata field names, or NULL */
    int unique_count;
    struct catalog_bucket_stats stats;
    bool stats_loaded, stats_dirty;
};

/* Fills ob from a bucket record. fields (capacity cap) receives pointers
 * into the record, so ob is valid as long as b is. */
void objects_bucket_from(const struct catalog_bucket *b,
                         struct objects_bucket *ob, const char **fields,
                         int cap);

/* Inserts doc as a new object. ERR_CONFLICT when its object_id or its
 * unique key is taken. *seq_out (optional) receives its sequence. */
int objects_insert(struct store_txn *t, struct objects_bucket *b,
                   const bson_t *doc, int64_t now_ms, uint64_t *seq_out,
                   struct err *e);

/* Replaces the object at seq (old is its current document) with doc,
 * which must carry the same object_id. */
int objects_replace(struct store_txn *t, struct objects_bucket *b,
                    uint64_t seq, const bson_t *old, const bson_t *doc,
                    int64_t now_ms, struct err *e);

int objects_delete(struct store_txn *t, struct objects_bucket *b,
                   uint64_t seq, const bson_t *old, struct err *e);

/* Writes the running totals back (a no-op when nothing changed). */
int objects_flush(struct store_txn *t, struct objects_bucket *b,
                  struct err *e);

/* Lookups: 0 or ERR_NOT_FOUND (e untouched), or an error. */
int objects_find_id(struct store_txn *t, uint32_t num, const char *id,
                    size_t n, uint64_t *seq, struct err *e);
int objects_find_unique(struct store_txn *t, const struct objects_bucket *b,
                        const bson_t *doc, uint64_t *seq, struct err *e);
/* Views the document at seq (valid while the transaction lives). */
int objects_get(struct store_txn *t, uint32_t num, uint64_t seq,
                bson_t *doc, struct err *e);

/* A scan over a bucket in insertion order. */
struct objects_scan {
    MDB_cursor *cur;
    unsigned char prefix[4];
    bool started, done;
    uint64_t from_seq;
};

int objects_scan_open(struct store_txn *t, uint32_t num, uint64_t from_seq,
                      struct objects_scan *s, struct err *e);
/* 0 with the next object, ERR_NOT_FOUND at the end, or an error. The
 * document bytes live as long as the transaction. ERR_CORRUPT for an
 * object whose checksum fails (*seq is set): the scan may go on. */
int objects_scan_next(struct objects_scan *s, uint64_t *seq,
                      const uint8_t **data, size_t *len, struct err *e);
void objects_scan_close(struct objects_scan *s);

/* The unique key of doc: ERR_VALIDATION (problem at metadata.<field>)
 * when a key field is missing or null. out receives 32 bytes. */
int objects_unique_key(const struct objects_bucket *b, const bson_t *doc,
                       unsigned char out[32], struct err *e);

#endif
