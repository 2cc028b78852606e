#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/ids.h"
#include "cli/cli.h"
#include "store/catalog.h"

bool cli_parse_uint(const char *s, uint64_t *out)
{
    char *end;

    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

bool cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    static const char units[] = "KMGT";

    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    const char *u = *end ? strchr(units, *end) : NULL;
    if (*end != '\0' && (u == NULL || (end[1] != '\0' && strcmp(end + 1, "B") &&
                                        strcmp(end + 1, "iB"))))
        return false;
    for (int i = u ? (int)(u - units) + 1 : 0; i > 0; i--) {
        if (v > UINT64_MAX / 1024)
            return false;
        v *= 1024;
    }
    *out = v;
    return true;
}

int cli_fail(const struct err *e)
{
    fprintf(stderr, "tally: %s\n", e->msg[0] ? e->msg : "failed");
    return 1;
}

int cli_usage(const char *usage)
{
    fprintf(stderr, "usage: %s\n", usage);
    return 2;
}

bool cli_wants_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: %s\n", usage);
            return true;
        }
    }
    return false;
}

int cli_open_store(const char *dir, const struct store_config *cfg,
                   struct store **out)
{
    struct err e;

    err_init(&e);
    if (ids_init() != 0) {
        fprintf(stderr, "tally: cannot initialise the random source\n");
        return 1;
    }
    int rc = store_open(dir, cfg, out, &e);
    if (rc != 0)
        cli_fail(&e);
    err_release(&e);
    return rc != 0;
}

/* --- buckets for offline commands -------------------------------------- */

struct find_ctx {
    const char *ns, *bucket;
    bool create;
    char ns_id[IDS_MAX];
};

static int create_ns(struct store_txn *t, struct find_ctx *f, struct err *e)
{
    bson_t rec;
    int64_t now = clock_now_ms();
    const char *bad = catalog_name_problem(f->ns, strlen(f->ns), "ns_");

    if (bad != NULL)
        return err_set(e, ERR_BAD_REQUEST, "namespace name %s", bad);
    ids_generate("ns_", f->ns_id);
    bson_init(&rec);
    BSON_APPEND_UTF8(&rec, "namespace_id", f->ns_id);
    BSON_APPEND_UTF8(&rec, "namespace_name", f->ns);
    BSON_APPEND_DATE_TIME(&rec, "created_at", now);
    BSON_APPEND_DATE_TIME(&rec, "updated_at", now);
    int rc = catalog_ns_insert(t, &rec, e);
    bson_destroy(&rec);
    if (rc == 0)
        fprintf(stderr, "tally: created namespace %s (%s)\n", f->ns,
                f->ns_id);
    return rc;
}

static int create_bucket(struct store_txn *t, struct find_ctx *f,
                         struct err *e)
{
    bson_t rec, schema, props, meta;
    char id[IDS_MAX];
    int64_t now = clock_now_ms();
    const char *bad = catalog_name_problem(f->bucket, strlen(f->bucket),
                                           "bkt_");

    if (bad != NULL)
        return err_set(e, ERR_BAD_REQUEST, "bucket name %s", bad);
    ids_generate("bkt_", id);
    bson_init(&rec);
    BSON_APPEND_UTF8(&rec, "bucket_id", id);
    BSON_APPEND_UTF8(&rec, "bucket_name", f->bucket);
    BSON_APPEND_DOCUMENT_BEGIN(&rec, "bucket_schema", &schema);
    BSON_APPEND_DOCUMENT_BEGIN(&schema, "properties", &props);
    bson_append_document_end(&schema, &props);
    bson_append_document_end(&rec, &schema);
    BSON_APPEND_NULL(&rec, "unique_key");
    BSON_APPEND_DOCUMENT_BEGIN(&rec, "metadata", &meta);
    bson_append_document_end(&rec, &meta);
    BSON_APPEND_UTF8(&rec, "status", "ACTIVE");
    BSON_APPEND_BOOL(&rec, "is_locked", false);
    BSON_APPEND_DATE_TIME(&rec, "created_at", now);
    BSON_APPEND_DATE_TIME(&rec, "updated_at", now);
    int rc = catalog_bucket_insert(t, f->ns_id, &rec, NULL, e);
    bson_destroy(&rec);
    if (rc == 0)
        fprintf(stderr, "tally: created bucket %s (%s)\n", f->bucket, id);
    return rc;
}

static int find_write(struct store_txn *t, void *arg, struct err *e)
{
    struct find_ctx *f = arg;
    struct catalog_ns ns;
    struct catalog_bucket b;

    int rc = catalog_ns_find(t, f->ns, strlen(f->ns), &ns, e);
    if (rc == 0)
        snprintf(f->ns_id, sizeof(f->ns_id), "%s", ns.id);
    else if (rc == ERR_NOT_FOUND && f->create)
        rc = create_ns(t, f, e);
    else if (rc == ERR_NOT_FOUND)
        return err_set(e, ERR_NOT_FOUND, "namespace \"%s\" not found", f->ns);
    if (rc != 0)
        return rc;

    rc = catalog_bucket_find(t, f->ns_id, f->bucket, strlen(f->bucket), &b, e);
    if (rc == ERR_NOT_FOUND && f->create)
        rc = create_bucket(t, f, e);
    else if (rc == ERR_NOT_FOUND)
        rc = err_set(e, ERR_NOT_FOUND, "bucket \"%s\" not found", f->bucket);
    return rc;
}

int cli_find_bucket(struct store *s, const char *ns, const char *bucket,
                    bool create, char ns_id[32], struct err *e)
{
    struct find_ctx f = {.ns = ns, .bucket = bucket, .create = create};
    int rc;

    if (create) {
        rc = store_write(s, find_write, &f, e);
    } else {
        struct store_txn t;
        rc = store_read_begin(s, &t, e);
        if (rc == 0) {
            rc = find_write(&t, &f, e);
            store_read_end(&t);
        }
    }
    if (rc == 0)
        snprintf(ns_id, IDS_MAX, "%s", f.ns_id);
    return rc;
}

/* --- keys -------------------------------------------------------------- */

struct key_ctx {
    const bson_t *record;
    unsigned char hash[CATALOG_KEY_HASH_BYTES];
};

static int key_write(struct store_txn *t, void *arg, struct err *e)
{
    struct key_ctx *k = arg;
    return catalog_key_insert(t, k->record, k->hash, e);
}

int cli_create_key(struct store *s, char **namespaces, int n,
                   const char *label, char key[64], char id[32],
                   struct err *e)
{
    bson_t rec, arr;
    struct key_ctx k;
    char prefix[16];

    ids_generate_key(key);
    ids_generate("key_", id);
    snprintf(prefix, sizeof(prefix), "%.7s", key);
    catalog_key_hash(s, key, strlen(key), k.hash);

    bson_init(&rec);
    BSON_APPEND_UTF8(&rec, "key_id", id);
    BSON_APPEND_UTF8(&rec, "prefix", prefix);
    if (label != NULL)
        BSON_APPEND_UTF8(&rec, "label", label);
    BSON_APPEND_ARRAY_BEGIN(&rec, "namespaces", &arr);
    for (int i = 0; i < n; i++) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%d", i);
        BSON_APPEND_UTF8(&arr, idx, namespaces[i]);
    }
    bson_append_array_end(&rec, &arr);
    BSON_APPEND_DATE_TIME(&rec, "created_at", clock_now_ms());
    BSON_APPEND_NULL(&rec, "revoked_at");
    k.record = &rec;
    int rc = store_write(s, key_write, &k, e);
    bson_destroy(&rec);
    return rc;
}
