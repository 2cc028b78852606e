/*
 * fuzz_common.h - what the libFuzzer targets of tests/fuzz/ share: a real
 * store in a scratch folder, namespaces and buckets made through the
 * catalog, a fixed set of varied objects, and the crash helper.
 *
 * Everything here runs once per fuzzing process (LLVMFuzzerInitialize),
 * never per input. A setup failure aborts: a target that cannot build its
 * world must not report "no crash".
 */
#ifndef TALLY_FUZZ_COMMON_H
#define TALLY_FUZZ_COMMON_H

#include <bson/bson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ids.h"
#include "store/catalog.h"
#include "store/store.h"

/* The API key the http target installs; the seeds and dictionary use it. */
#define FUZZ_API_KEY   "fuzz-key-0123456789"
#define FUZZ_NAMESPACE "fuzzns"
#define FUZZ_BUCKET    "things"

/* Reports a broken property of the code under test and aborts, so that
 * libFuzzer keeps the input as a crash. */
#define FUZZ_ASSERT(cond, ...)                                                 \
    do {                                                                       \
        if (!(cond))                                                           \
            fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                        \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Silences the logs (limits reached by fuzz inputs are expected). */
void fuzz_quiet(void);

/* Opens a fresh store in a scratch folder. The folder's files are removed
 * right away (the open descriptors and the map keep the data alive), so a
 * crash leaves nothing behind. Never closed: it lives as long as the
 * process. */
struct store *fuzz_store_open(void);

/* Creates namespace ns_name when missing, then bucket bucket_name in it
 * with the given bucket_schema (JSON text of the schema object). Writes
 * the namespace id into ns_id. */
void fuzz_bucket_create(struct store *s, const char *ns_name,
                        const char *bucket_name, const char *schema_json,
                        char ns_id[IDS_MAX]);

/* Deletes bucket bucket_name of ns_id (its objects are purged by the
 * catalog's purge step, run here until nothing is left). */
void fuzz_bucket_delete(struct store *s, const char *ns_id,
                        const char *bucket_name);

/* The schema of the sample bucket: a date field, a number, a string. */
extern const char fuzz_sample_schema[];

/* The sample objects, NDJSON: ~50 lines with strings, integers, doubles,
 * dates, arrays, nested objects, nulls, missing fields and blobs. */
const char *fuzz_sample_ndjson(void);

/* Imports the NDJSON text into the bucket; aborts unless every line is
 * imported. */
void fuzz_import_all(struct store *s, const char *ns_id, const char *bucket,
                     const char *ndjson);

/* Finds bucket (id or name) of ns_id in t: 0 or ERR_NOT_FOUND. */
int fuzz_bucket_find(struct store_txn *t, const char *ns_id, const char *bucket,
                     struct catalog_bucket *out);

/* A copy of the bucket's record (the caller destroys it). */
bson_t *fuzz_bucket_record(struct store *s, const char *ns_id,
                           const char *bucket);

/* Copies of the bucket's stored documents, in insertion order. Kept for
 * the life of the process. */
struct fuzz_docs {
    uint8_t **data;
    size_t *len;
    size_t n;
};
void fuzz_bucket_docs(struct store *s, const char *ns_id, const char *bucket,
                      struct fuzz_docs *out);

#endif
