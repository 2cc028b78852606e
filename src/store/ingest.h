/*
 * ingest.h - writing one client object into a bucket: build the stored
 * document (document.h), apply the bucket's unique-key policy, and insert
 * or replace it (objects.h). Shared by create, batch and import, on the
 * server and in `tally import`.
 */
#ifndef TALLY_STORE_INGEST_H
#define TALLY_STORE_INGEST_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/catalog.h"
#include "store/objects.h"

enum ingest_policy {
    INGEST_NONE,    /* the bucket has no unique key */
    INGEST_INSERT,  /* a duplicate unique key is a conflict (409) */
    INGEST_UPDATE,  /* the object with that key must exist (404) */
    INGEST_UPSERT   /* update it when it exists, insert otherwise */
};

/* Reads a policy name; -1 when unknown. */
int ingest_policy_parse(const char *name);

/* The policy a write uses: the requested one (may be NULL), else the
 * bucket's default_policy. A bucket with a unique key and no policy
 * either way is ERR_BAD_REQUEST; one without a unique key uses
 * INGEST_NONE. */
int ingest_policy_for(const struct catalog_bucket *b, const char *requested,
                      enum ingest_policy *out, struct err *e);

struct ingest_req {
    const bson_t *body;
    enum ingest_policy policy;
    bool restore;              /* import: keep ids and timestamps */
    int64_t now_ms;
    uint64_t max_object_bytes;
};

/* Writes one object. When stored is not NULL it receives a copy of the
 * stored document (the caller destroys it). Inside a store_write(); the
 * caller calls objects_flush(ob) before the write ends. A refused object
 * leaves the transaction as it was (see objects.h). */
int ingest_object(struct store_txn *t, const struct catalog_bucket *b,
                  struct objects_bucket *ob, const struct ingest_req *r,
                  bson_t *stored, struct err *e);

/* Inserts a document already built by document_build() (policy insert or
 * none), leaving the transaction as it was when refused. */
int ingest_built(struct store_txn *t, struct objects_bucket *ob,
                 const bson_t *doc, int64_t now_ms, struct err *e);

/* Checks a built document against max_object_bytes. */
int ingest_check_size(const bson_t *doc, uint64_t max, struct err *e);

#endif
