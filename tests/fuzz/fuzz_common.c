/*
 * fuzz_common.c - the world the fuzz targets run in: a real store in a
 * scratch folder, a namespace and buckets made through the catalog, and
 * ~50 varied sample objects imported through the real importer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "fuzz_common.h"
#include "json/json.h"
#include "store/catalog.h"
#include "store/importer.h"
#include "store/objects.h"

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fuzz assertion failed at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void fuzz_quiet(void)
{
    log_threshold = LOG_OFF;
}

/* --- the store --------------------------------------------------------- */

/* A tmpfs folder when there is one: LMDB syncs every commit, which costs
 * nothing there and keeps store-backed targets fast. */
static const char *scratch_root(void)
{
    const char *tmp = getenv("TMPDIR");

    if (access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    return tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";
}

static void remove_files(const char *dir)
{
    static const char *const names[] = {"data.mdb", "lock.mdb", "tally.lock",
                                        "key-hash.secret"};
    char path[4096];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

struct store *fuzz_store_open(void)
{
    char dir[4096];
    struct store *s = NULL;
    struct err e;

    err_init(&e);
    FUZZ_ASSERT(ids_init() == 0, "cannot initialise the random source");
    snprintf(dir, sizeof(dir), "%s/tally-fuzz-XXXXXX", scratch_root());
    FUZZ_ASSERT(mkdtemp(dir) != NULL, "cannot make a folder in %s",
                scratch_root());
    /* TUNING: 4 GiB of map is far more than a campaign writes (buckets are
     * reset as they go) and small enough for ASan's address space. */
    struct store_config cfg = {.max_size_bytes = (uint64_t)4 << 30};
    int rc = store_open(dir, &cfg, &s, &e);
    FUZZ_ASSERT(rc == 0, "cannot open the store: %s", e.msg);
    remove_files(dir);
    err_release(&e);
    return s;
}

/* --- namespaces and buckets -------------------------------------------- */

struct bucket_ctx {
    const char *ns_name, *bucket_name, *schema_json;
    char ns_id[IDS_MAX];
};

static int ensure_ns(struct store_txn *t, struct bucket_ctx *b, struct err *e)
{
    struct catalog_ns ns;
    bson_t rec;
    int64_t now = clock_now_ms();

    int rc = catalog_ns_find(t, b->ns_name, strlen(b->ns_name), &ns, e);
    if (rc == 0) {
        snprintf(b->ns_id, sizeof(b->ns_id), "%s", ns.id);
        return 0;
    }
    if (rc != ERR_NOT_FOUND)
        return rc;
    ids_generate("ns_", b->ns_id);
    bson_init(&rec);
    BSON_APPEND_UTF8(&rec, "namespace_id", b->ns_id);
    BSON_APPEND_UTF8(&rec, "namespace_name", b->ns_name);
    BSON_APPEND_DATE_TIME(&rec, "created_at", now);
    BSON_APPEND_DATE_TIME(&rec, "updated_at", now);
    rc = catalog_ns_insert(t, &rec, e);
    bson_destroy(&rec);
    return rc;
}

static void append_schema(bson_t *rec, const char *schema_json)
{
    struct buf bson = BUF_INIT;
    struct json_error je;
    bson_t schema;

    int rc = json_parse(schema_json, strlen(schema_json), NULL, &bson, &je);
    FUZZ_ASSERT(rc == 0, "bad sample schema: %s", je.msg);
    FUZZ_ASSERT(bson_init_static(&schema, (const uint8_t *)bson.data, bson.len),
                "sample schema does not read back");
    BSON_APPEND_DOCUMENT(rec, "bucket_schema", &schema);
    buf_release(&bson);
}

static int bucket_write(struct store_txn *t, void *arg, struct err *e)
{
    struct bucket_ctx *b = arg;
    bson_t rec, meta;
    char id[IDS_MAX];
    int64_t now = clock_now_ms();

    int rc = ensure_ns(t, b, e);
    if (rc != 0)
        return rc;
    ids_generate("bkt_", id);
    bson_init(&rec);
    BSON_APPEND_UTF8(&rec, "bucket_id", id);
    BSON_APPEND_UTF8(&rec, "bucket_name", b->bucket_name);
    append_schema(&rec, b->schema_json);
    BSON_APPEND_NULL(&rec, "unique_key");
    BSON_APPEND_DOCUMENT_BEGIN(&rec, "metadata", &meta);
    bson_append_document_end(&rec, &meta);
    BSON_APPEND_UTF8(&rec, "status", "ACTIVE");
    BSON_APPEND_BOOL(&rec, "is_locked", false);
    BSON_APPEND_DATE_TIME(&rec, "created_at", now);
    BSON_APPEND_DATE_TIME(&rec, "updated_at", now);
    rc = catalog_bucket_insert(t, b->ns_id, &rec, NULL, e);
    bson_destroy(&rec);
    return rc;
}

void fuzz_bucket_create(struct store *s, const char *ns_name,
                        const char *bucket_name, const char *schema_json,
                        char ns_id[IDS_MAX])
{
    struct bucket_ctx b = {.ns_name = ns_name,
                           .bucket_name = bucket_name,
                           .schema_json = schema_json};
    struct err e;

    err_init(&e);
    int rc = store_write(s, bucket_write, &b, &e);
    FUZZ_ASSERT(rc == 0, "cannot create bucket %s: %s", bucket_name, e.msg);
    snprintf(ns_id, IDS_MAX, "%s", b.ns_id);
    err_release(&e);
}

struct delete_ctx {
    const char *ns_id, *bucket_name;
};

static int delete_write(struct store_txn *t, void *arg, struct err *e)
{
    struct delete_ctx *d = arg;
    struct catalog_bucket b;

    int rc = catalog_bucket_find(t, d->ns_id, d->bucket_name,
                                 strlen(d->bucket_name), &b, e);
    return rc == 0 ? catalog_bucket_delete(t, &b, e) : rc;
}

static int purge_write(struct store_txn *t, void *arg, struct err *e)
{
    /* TUNING: the janitor's step size is irrelevant here; a large step
     * purges a fuzzing bucket in one write. */
    return catalog_purge_step(t, 100000, arg, e);
}

void fuzz_bucket_delete(struct store *s, const char *ns_id,
                        const char *bucket_name)
{
    struct delete_ctx d = {.ns_id = ns_id, .bucket_name = bucket_name};
    struct err e;
    bool more = true;

    err_init(&e);
    int rc = store_write(s, delete_write, &d, &e);
    FUZZ_ASSERT(rc == 0, "cannot delete bucket %s: %s", bucket_name, e.msg);
    while (rc == 0 && more)
        rc = store_write(s, purge_write, &more, &e);
    FUZZ_ASSERT(rc == 0, "cannot purge bucket %s: %s", bucket_name, e.msg);
    err_release(&e);
}

/* --- sample objects ---------------------------------------------------- */

const char fuzz_sample_schema[] =
    "{\"properties\": {\"when\": {\"type\": \"date\"},"
    " \"price\": {\"type\": \"number\"},"
    " \"category\": {\"type\": \"string\"},"
    " \"content\": {\"type\": \"text\"}}}";

#define SAMPLE_COUNT 50

static const char *const categories[] = {
    "books", "Books", "toys", "\xc3\x89lectronique", "", "a.b"};
static const char *const dates[] = {"2024-03-05",
                                    "2024-03-05T14:22:11Z",
                                    "2023-12-31T23:59:59.999Z",
                                    "2024-02-29T00:00:00+02:00",
                                    "1970-01-01",
                                    "2030-06-15T08:00:00.250Z"};
static const char *const anys[] = {"\"text\"",
                                   "42",
                                   "-7.5",
                                   "true",
                                   "null",
                                   "[1, \"two\", [3]]",
                                   "{\"k\": \"v\", \"n\": 1}",
                                   "\"2024-01-01\"",
                                   "9007199254740993",
                                   "1e300",
                                   "[]",
                                   "{}"};

static void sample_line(struct buf *out, int i)
{
    buf_addf(out, "{\"key_prefix\": \"/p/%d\", \"metadata\": {", i % 7);
    buf_addf(out, "\"category\": \"%s\"", categories[i % 6]);
    if (i % 5 == 0)
        buf_addf(out, ", \"price\": %d.25", i * 3 - 40);
    else if (i % 11 != 3)
        buf_addf(out, ", \"price\": %d", i * 7 - 20);
    if (i % 4 != 1)
        buf_addf(out, ", \"when\": \"%s\"", dates[i % 6]);
    buf_addf(out, ", \"any\": %s", anys[i % 12]);
    if (i % 3 == 0)
        buf_addf(out, ", \"tags\": [\"t%d\", \"T%d\", \"shared\"]", i % 4,
                 i % 3);
    else if (i % 3 == 1)
        buf_adds(out, ", \"tags\": []");
    buf_addf(out,
             ", \"nested\": {\"a\": {\"b\": %d}, \"list\": [{\"x\": %d}, "
             "{\"x\": %d}]}",
             i % 9, i, -i);
    buf_addf(out, ", \"flag\": %s, \"qty\": %s}", i % 2 ? "true" : "false",
             i % 8 == 0 ? "null" : "3");
    if (i % 6 == 2)
        buf_addf(out,
                 ", \"blobs\": [{\"property\": \"content\", \"type\": "
                 "\"text\", \"data\": \"hello %d\"}]",
                 i);
    if (i % 10 == 9)
        buf_addf(out, ", \"status\": \"COMPLETED\"");
    buf_adds(out, "}\n");
}

const char *fuzz_sample_ndjson(void)
{
    static struct buf text = BUF_INIT;

    if (text.len == 0)
        for (int i = 0; i < SAMPLE_COUNT; i++)
            sample_line(&text, i);
    FUZZ_ASSERT(!text.oom, "out of memory");
    return text.data;
}

void fuzz_import_all(struct store *s, const char *ns_id, const char *bucket,
                     const char *ndjson)
{
    struct importer_config cfg = {
        .max_object_bytes = 1u << 20, .max_rejects = 0, .json_max_depth = 64};
    struct importer *im = NULL;
    struct err e;
    size_t nrej;

    err_init(&e);
    int rc = importer_new(s, ns_id, bucket, NULL, &cfg, &im, &e);
    if (rc == 0)
        rc = importer_feed(im, ndjson, strlen(ndjson), &e);
    if (rc == 0)
        rc = importer_finish(im, &e);
    FUZZ_ASSERT(rc == 0, "cannot import the samples: %s", e.msg);
    const struct importer_reject *r = importer_rejects(im, &nrej);
    FUZZ_ASSERT(nrej == 0, "sample line %llu rejected: %s",
                (unsigned long long)r[0].line, r[0].error);
    importer_free(im);
    err_release(&e);
}

/* --- reading a bucket back --------------------------------------------- */

int fuzz_bucket_find(struct store_txn *t, const char *ns_id, const char *bucket,
                     struct catalog_bucket *out)
{
    struct err e;

    err_init(&e);
    int rc = catalog_bucket_find(t, ns_id, bucket, strlen(bucket), out, &e);
    err_release(&e);
    return rc;
}

bson_t *fuzz_bucket_record(struct store *s, const char *ns_id,
                           const char *bucket)
{
    struct store_txn t;
    struct catalog_bucket b;
    struct err e;

    err_init(&e);
    FUZZ_ASSERT(store_read_begin(s, &t, &e) == 0, "read: %s", e.msg);
    FUZZ_ASSERT(fuzz_bucket_find(&t, ns_id, bucket, &b) == 0,
                "bucket %s not found", bucket);
    bson_t *copy = bson_copy(&b.record);
    store_read_end(&t);
    err_release(&e);
    return copy;
}

void fuzz_bucket_docs(struct store *s, const char *ns_id, const char *bucket,
                      struct fuzz_docs *out)
{
    struct store_txn t;
    struct catalog_bucket b;
    struct objects_scan scan;
    struct err e;
    uint64_t seq;
    const uint8_t *data;
    size_t len;

    memset(out, 0, sizeof(*out));
    err_init(&e);
    FUZZ_ASSERT(store_read_begin(s, &t, &e) == 0, "read: %s", e.msg);
    FUZZ_ASSERT(fuzz_bucket_find(&t, ns_id, bucket, &b) == 0,
                "bucket %s not found", bucket);
    FUZZ_ASSERT(objects_scan_open(&t, b.num, 0, &scan, &e) == 0, "scan: %s",
                e.msg);
    while (objects_scan_next(&scan, &seq, &data, &len, &e) == 0) {
        out->data = realloc(out->data, (out->n + 1) * sizeof(*out->data));
        out->len = realloc(out->len, (out->n + 1) * sizeof(*out->len));
        FUZZ_ASSERT(out->data && out->len, "out of memory");
        out->data[out->n] = malloc(len);
        FUZZ_ASSERT(out->data[out->n] != NULL, "out of memory");
        memcpy(out->data[out->n], data, len);
        out->len[out->n++] = len;
    }
    objects_scan_close(&scan);
    store_read_end(&t);
    err_release(&e);
}
