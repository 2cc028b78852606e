/*
 * buckets.c - /v1/buckets: create, read, replace, change, delete, list.
 *
 * A bucket's schema and unique key are fixed at creation: every stored
 * object was checked and indexed against them. Name, description and
 * metadata may change. object_count, total_size_bytes and last_upload_at
 * come from the bucket's running totals.
 */
#include <string.h>

#include "api/internal.h"
#include "api/listing.h"
#include "store/document.h"
#include "store/janitor.h"

static const char *const server_owned[] = {
    "bucket_id",  "bucket_name",      "created_at",     "updated_at",
    "object_count", "total_size_bytes", "last_upload_at", "status",
    "is_locked",  "bucket_schema",    "unique_key",     "metadata",
    NULL};

static bool is_server_owned(const char *k)
{
    for (int i = 0; server_owned[i] != NULL; i++)
        if (strcmp(k, server_owned[i]) == 0)
            return true;
    return k[0] == '_';
}

static const char *checked_name(struct api_ctx *c, bool required)
{
    const char *name = api_field_string(&c->body, "bucket_name", required,
                                        &c->err);
    if (name == NULL)
        return NULL;

    const char *bad = catalog_name_problem(name, strlen(name), "bkt_");
    if (bad != NULL) {
        struct err_path p = {0};
        err_path_key(&p, "body");
        err_problem(&c->err, &p, "bucket_name", "value_error",
                    "bucket_name %s", bad);
        return NULL;
    }
    return name;
}

static void check_unique_key(struct api_ctx *c, const bson_iter_t *uk)
{
    struct err_path p = {0};
    bson_iter_t it, arr;
    int fields = 0;

    err_path_key(&p, "body");
    err_path_key(&p, "unique_key");
    if (!BSON_ITER_HOLDS_DOCUMENT(uk)) {
        err_problem(&c->err, &p, NULL, "dict_type",
                    "unique_key must be an object");
        return;
    }
    if (bson_iter_recurse(uk, &it) && bson_iter_find(&it, "fields") &&
        BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &arr)) {
        while (bson_iter_next(&arr)) {
            if (!BSON_ITER_HOLDS_UTF8(&arr) ||
                bson_iter_utf8(&arr, NULL)[0] == '\0')
                err_problem(&c->err, &p, "fields", "string_type",
                            "unique_key.fields must hold field names");
            fields++;
        }
    }
    if (fields == 0)
        err_problem(&c->err, &p, "fields", "missing",
                    "unique_key.fields must name at least one field");
    if (bson_iter_recurse(uk, &it) && bson_iter_find(&it, "default_policy") &&
        !BSON_ITER_HOLDS_NULL(&it)) {
        const char *pol = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                                     : "";
        if (strcmp(pol, "insert") && strcmp(pol, "update") &&
            strcmp(pol, "upsert"))
            err_problem(&c->err, &p, "default_policy", "enum",
                        "default_policy must be insert, update or upsert");
    }
}

/* Checks the creation fields; every problem lands in c->err. */
static void check_create(struct api_ctx *c)
{
    bson_iter_t it;
    struct err_path p = {0};

    err_path_key(&p, "body");
    checked_name(c, true);
    if (api_field(&c->body, "bucket_schema", &it)) {
        bson_t schema;
        const uint8_t *data;
        uint32_t len;
        int saved = err_path_key(&p, "bucket_schema");
        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
            err_problem(&c->err, &p, NULL, "dict_type",
                        "bucket_schema must be an object");
        } else {
            bson_iter_document(&it, &len, &data);
            bson_init_static(&schema, data, len);
            document_check_schema(&schema, &p, &c->err);
        }
        err_path_pop(&p, saved);
    }
    if (api_field(&c->body, "unique_key", &it))
        check_unique_key(c, &it);
    api_field_is(&c->body, "metadata", BSON_TYPE_DOCUMENT, "an object", false,
                 &it, &c->err);
    api_field_string(&c->body, "description", false, &c->err);
}

static void append_or(bson_t *out, const bson_t *from, const char *key,
                      const bson_t *fallback_doc)
{
    bson_iter_t it;

    if (from != NULL && api_field(from, key, &it))
        bson_append_iter(out, key, -1, &it);
    else if (fallback_doc != NULL)
        bson_append_document(out, key, -1, fallback_doc);
    else
        bson_append_null(out, key, -1);
}

static void build_new(struct api_ctx *c, const char *id, bson_t *out)
{
    bson_t empty_schema, empty, props;
    bson_iter_t it;

    bson_init(&empty);
    bson_init(&empty_schema);
    bson_append_document_begin(&empty_schema, "properties", -1, &props);
    bson_append_document_end(&empty_schema, &props);

    bson_init(out);
    BSON_APPEND_UTF8(out, "bucket_id", id);
    BSON_APPEND_UTF8(out, "bucket_name",
                     api_field_string(&c->body, "bucket_name", true, NULL));
    append_or(out, &c->body, "bucket_schema", &empty_schema);
    append_or(out, &c->body, "unique_key", NULL);
    append_or(out, &c->body, "metadata", &empty);
    BSON_APPEND_UTF8(out, "status", "ACTIVE");
    BSON_APPEND_BOOL(out, "is_locked", false);
    bson_iter_init(&it, &c->body);
    while (bson_iter_next(&it))
        if (!is_server_owned(bson_iter_key(&it)))
            bson_append_iter(out, bson_iter_key(&it), -1, &it);
    BSON_APPEND_DATE_TIME(out, "created_at", c->now_ms);
    BSON_APPEND_DATE_TIME(out, "updated_at", c->now_ms);
    bson_destroy(&empty);
    bson_destroy(&empty_schema);
}

struct bucket_write {
    struct api_ctx *c;
    const bson_t *record;
    bool merge;
    char id[IDS_MAX];
};

static int create_write(struct store_txn *t, void *arg, struct err *e)
{
    struct bucket_write *bw = arg;
    struct catalog_ns ns;
    const char *ns_id = bw->c->ns_id;

    /* The namespace may have been deleted since the snapshot. */
    if (catalog_ns_find(t, ns_id, strlen(ns_id), &ns, e) != 0)
        return err_set(e, ERR_NOT_FOUND, "namespace %s not found", ns_id);
    return catalog_bucket_insert(t, ns_id, bw->record, NULL, e);
}

static void answer_bucket(struct api_ctx *c, const char *ident)
{
    struct catalog_bucket b;
    struct jw w;

    api_drop_snapshot(c);
    if (store_read_begin(api.store, &c->rd, &c->err) != 0 ||
        api_find_bucket(c, &c->rd, ident, &b) != 0) {
        api_fail(c, ERR_NOT_FOUND);
        return;
    }
    jw_init(&w, &c->resp->body);
    api_write_bucket(&w, &c->rd, &b);
    http_reply_json(c->resp, 200);
}

void api_bucket_create(const struct http_request *req,
                       struct http_response *resp)
{
    struct api_ctx c;
    char id[IDS_MAX];
    bson_t record;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) != 0)
        goto out;
    check_create(&c);
    if (c.err.code != ERR_OK) {
        api_fail(&c, 0);
        goto out;
    }
    ids_generate("bkt_", id);
    build_new(&c, id, &record);
    struct bucket_write bw = {.c = &c, .record = &record};
    int rc = store_write(api.store, create_write, &bw, &c.err);
    bson_destroy(&record);
    if (rc != 0)
        api_fail(&c, rc);
    else
        answer_bucket(&c, id);
out:
    api_end(&c);
}

void api_bucket_get(const struct http_request *req, struct http_response *resp)
{
    struct api_ctx c;
    struct catalog_bucket b;
    struct jw w;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE) == 0) {
        if (api_find_bucket(&c, &c.rd, req->params[0], &b) != 0) {
            api_fail(&c, 0);
        } else {
            jw_init(&w, &resp->body);
            api_write_bucket(&w, &c.rd, &b);
            http_reply_json(resp, 200);
        }
    }
    api_end(&c);
}

/* --- replace and change ------------------------------------------------ */

static void check_change(struct api_ctx *c)
{
    static const char *const fixed[] = {"bucket_schema", "unique_key"};
    struct err_path p = {0};
    bson_iter_t it;

    err_path_key(&p, "body");
    for (size_t i = 0; i < 2; i++)
        if (api_field(&c->body, fixed[i], &it))
            err_problem(&c->err, &p, fixed[i], "value_error",
                        "%s cannot be changed after the bucket is created "
                        "(its objects were checked against it); create a "
                        "new bucket instead",
                        fixed[i]);
    if (api_field(&c->body, "bucket_name", &it))
        checked_name(c, false);
    api_field_is(&c->body, "metadata", BSON_TYPE_DOCUMENT, "an object", false,
                 &it, &c->err);
    api_field_string(&c->body, "description", false, &c->err);
}

/* The old record with the body's changes: name, metadata (replaced, or
 * merge-patched), and any other client member. */
static void build_changed(const bson_t *old, const bson_t *body, bool merge,
                          int64_t now, bson_t *out)
{
    bson_iter_t it, m;
    bson_t merged;

    bson_init(out);
    bson_iter_init(&it, old);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "updated_at") == 0 || (!is_server_owned(k) &&
                                             api_field(body, k, &m)))
            continue;
        if (strcmp(k, "bucket_name") == 0 && api_field(body, k, &m)) {
            bson_append_iter(out, k, -1, &m);
        } else if (strcmp(k, "metadata") == 0 && api_field(body, k, &m)) {
            if (merge && BSON_ITER_HOLDS_DOCUMENT(&it)) {
                bson_t oldm, patch;
                const uint8_t *d;
                uint32_t len;
                bson_iter_document(&it, &len, &d);
                bson_init_static(&oldm, d, len);
                bson_iter_document(&m, &len, &d);
                bson_init_static(&patch, d, len);
                document_merge_patch(&oldm, &patch, &merged);
                bson_append_document(out, k, -1, &merged);
                bson_destroy(&merged);
            } else {
                bson_append_iter(out, k, -1, &m);
            }
        } else {
            bson_append_iter(out, k, -1, &it);
        }
    }
    bson_iter_init(&it, body);
    while (bson_iter_next(&it))
        if (!is_server_owned(bson_iter_key(&it)) &&
            !BSON_ITER_HOLDS_NULL(&it))
            bson_append_iter(out, bson_iter_key(&it), -1, &it);
    BSON_APPEND_DATE_TIME(out, "updated_at", now);
}

static int change_write(struct store_txn *t, void *arg, struct err *e)
{
    struct bucket_write *bw = arg;
    struct catalog_bucket b;
    bson_t record;

    int rc = api_find_bucket(bw->c, t, bw->c->req->params[0], &b);
    if (rc != 0)
        return rc;
    snprintf(bw->id, sizeof(bw->id), "%s", b.id);
    build_changed(&b.record, &bw->c->body, bw->merge, bw->c->now_ms, &record);
    rc = catalog_bucket_update(t, &b, &record, e);
    bson_destroy(&record);
    return rc;
}

static void change(const struct http_request *req, struct http_response *resp,
                   bool merge)
{
    struct api_ctx c;
    struct bucket_write bw = {.c = &c, .merge = merge};

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) != 0)
        goto out;
    check_change(&c);
    int rc = c.err.code;
    if (rc == 0)
        rc = store_write(api.store, change_write, &bw, &c.err);
    if (rc != 0)
        api_fail(&c, rc);
    else
        answer_bucket(&c, bw.id);
out:
    api_end(&c);
}

void api_bucket_put(const struct http_request *req, struct http_response *resp)
{
    change(req, resp, false);
}

void api_bucket_patch(const struct http_request *req,
                      struct http_response *resp)
{
    change(req, resp, true);
}

/* --- delete and list --------------------------------------------------- */

static int delete_write(struct store_txn *t, void *arg, struct err *e)
{
    struct bucket_write *bw = arg;
    struct catalog_bucket b;

    int rc = api_find_bucket(bw->c, t, bw->c->req->params[0], &b);
    if (rc == 0) {
        snprintf(bw->id, sizeof(bw->id), "%s", b.id);
        rc = catalog_bucket_delete(t, &b, e);
    }
    return rc;
}

void api_bucket_delete(const struct http_request *req,
                       struct http_response *resp)
{
    struct api_ctx c;
    struct bucket_write bw = {.c = &c};

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE) == 0) {
        int rc = store_write(api.store, delete_write, &bw, &c.err);
        if (rc != 0) {
            api_fail(&c, rc);
        } else {
            janitor_wake();
            api_reply_deleted(resp, "bucket_id", bw.id,
                              "bucket deleted with its objects");
        }
    }
    api_end(&c);
}

struct bucket_rows {
    struct catalog_bucket *items;
    size_t n, cap;
};

static int collect_bucket(void *arg, const struct catalog_bucket *b)
{
    struct bucket_rows *r = arg;

    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct catalog_bucket *items = realloc(r->items, cap * sizeof(*items));
        if (items == NULL)
            return ERR_NOMEM;
        r->items = items;
        r->cap = cap;
    }
    catalog_bucket_copy(&r->items[r->n++], b);
    return 0;
}

static void write_bucket(struct jw *w, struct store_txn *t, void *item)
{
    api_write_bucket(w, t, item);
}

void api_bucket_list(const struct http_request *req,
                     struct http_response *resp)
{
    struct api_ctx c;
    struct bucket_rows r = {0};
    struct list_row *rows = NULL;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) != 0)
        goto out;
    int rc = catalog_bucket_each(&c.rd, c.ns_id, collect_bucket, &r, &c.err);
    if (rc == 0 && (rows = calloc(r.n ? r.n : 1, sizeof(*rows))) == NULL)
        rc = ERR_NOMEM;
    if (rc != 0) {
        api_fail(&c, rc);
        goto out;
    }
    for (size_t i = 0; i < r.n; i++)
        rows[i] = (struct list_row){&r.items[i].record, r.items[i].id,
                                    r.items[i].name, &r.items[i]};
    list_answer(&c, rows, r.n, write_bucket);
out:
    free(rows);
    free(r.items);
    api_end(&c);
}
