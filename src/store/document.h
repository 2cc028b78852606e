/*
 * document.h - from the client's JSON object to the stored object.
 *
 * The stored form is what GET returns:
 *   object_id, bucket_id, key_prefix (when set), status, created_at,
 *   updated_at, metadata, blobs, then the client's other properties in
 *   the order it sent them.
 * Building it checks the bucket schema (JSON-typed fields under metadata,
 * file-typed fields as blob properties), turns declared date and datetime
 * fields into dates, and turns blobs into blob records (blobs.h).
 *
 * Every problem is reported at once as a validation problem located under
 * "body" (ERR_VALIDATION); nothing is written.
 */
#ifndef TALLY_STORE_DOCUMENT_H
#define TALLY_STORE_DOCUMENT_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/catalog.h"

struct document_input {
    const bson_t *body;       /* the client's object */
    const bson_t *previous;   /* the object being replaced, or NULL */
    bool restore;             /* keep object_id, created_at, updated_at
                                 (import); status is always kept */
    int64_t now_ms;
};

/* Builds the stored object into out (initialised here; the caller
 * destroys it on success; on failure out holds nothing to free). */
int document_build(const struct catalog_bucket *b,
                   const struct document_input *in, bson_t *out,
                   struct err *e);

/* True when s is one of the task status values an object may carry. */
bool document_status_valid(const char *s);

/* Applies an RFC 7396 merge patch: the result is target with patch's
 * members merged in (null removes a member, objects merge recursively,
 * anything else replaces). out is initialised here. */
int document_merge_patch(const bson_t *target, const bson_t *patch,
                         bson_t *out);

/* Field names of a bucket's schema, for validation of schemas themselves:
 * NULL when the schema (bucket_schema.properties) is acceptable, else
 * problems are added to e under path. */
void document_check_schema(const bson_t *bucket_schema,
                           struct err_path *path, struct err *e);

#endif
