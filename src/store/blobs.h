/*
 * blobs.h - blob records.
 *
 * A blob in a request names a property of the object and a type, and may
 * carry data (a URL, inline base64, or any JSON value) and metadata. The
 * stored record is:
 *   blob_id     kept when the client sent one in identifier form, else new
 *   property, type, key_prefix (when set)
 *   properties  the client's properties, then metadata's members, then
 *               data (an object's members, or any other value as "data")
 *   details     the client's details; for inline data (a data: URI or a
 *               plain base64 string) size_bytes, mime_type and a SHA-256
 *               hash of the decoded bytes are filled in
 * The server never fetches a URL.
 */
#ifndef TALLY_STORE_BLOBS_H
#define TALLY_STORE_BLOBS_H

#include <bson/bson.h>

#include "base/err.h"

/* The file-like schema types that name blob properties. */
bool blobs_is_file_type(const char *type);
/* Every schema type a field or blob may declare. */
bool blobs_is_known_type(const char *type);

/* Appends the record for the request blob at it (a document, index i of
 * the blobs array) to out under key. Problems are added to e with
 * locations under path. Returns 0 or ERR_VALIDATION / ERR_NOMEM. */
int blobs_build(const bson_iter_t *it, struct err_path *path,
                bson_t *out, const char *key, struct err *e);

/* Inline data facts, exposed for tests. Returns true when s[0..n) is
 * inline data, with its decoded size, sniffed or declared MIME type and
 * hex SHA-256 (65 bytes with the NUL). */
bool blobs_inline_facts(const char *s, size_t n, uint64_t *size,
                        char mime[96], char sha256_hex[65]);

#endif
