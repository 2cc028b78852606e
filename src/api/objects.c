/*
 * objects.c - /v1/buckets/{bucket}/objects: create one, create a batch,
 * read, replace, change (JSON merge patch) and delete.
 *
 * Writes resolve the bucket again inside the write, because it may have
 * been deleted since the request's snapshot was taken.
 */
#include <string.h>

#include "api/internal.h"
#include "store/document.h"
#include "store/ingest.h"

#define UNIQUE_FIELDS_MAX 16

/* What every object write needs: the bucket, as seen inside the write. */
struct object_target {
    struct catalog_bucket bucket;
    struct objects_bucket ob;
    const char *fields[UNIQUE_FIELDS_MAX];
};

static int find_target(struct api_ctx *c, struct store_txn *t,
                       struct object_target *out)
{
    int rc = api_find_bucket(c, t, c->req->params[0], &out->bucket);
    if (rc == 0)
        objects_bucket_from(&out->bucket, &out->ob, out->fields,
                            UNIQUE_FIELDS_MAX);
    return rc;
}

static void answer_object(struct api_ctx *c, const bson_t *doc, int status)
{
    struct jw w;

    jw_init(&w, &c->resp->body);
    jw_bson_document(&w, doc);
    http_reply_json(c->resp, status);
}

static struct ingest_req ingest_for(struct api_ctx *c, const bson_t *body)
{
    return (struct ingest_req){.body = body,
                               .now_ms = c->now_ms,
                               .max_object_bytes = api.limits.max_object_bytes};
}

/* --- create one -------------------------------------------------------- */

/* The stored copy is made inside the write; the commit may still fail
 * after it, so has_stored (not the result) says whether to free it. */
struct create_one {
    struct api_ctx *c;
    bson_t stored;
    bool has_stored;
};

static int create_write(struct store_txn *t, void *arg, struct err *e)
{
    struct create_one *co = arg;
    struct object_target tg;
    struct ingest_req r = ingest_for(co->c, &co->c->body);

    int rc = find_target(co->c, t, &tg);
    if (rc == 0)
        rc = ingest_policy_for(&tg.bucket, http_query(co->c->req, "policy"),
                               &r.policy, e);
    if (rc != 0)
        return rc;
    rc = ingest_object(t, &tg.bucket, &tg.ob, &r, &co->stored, e);
    co->has_stored = rc == 0;
    return rc != 0 ? rc : objects_flush(t, &tg.ob, e);
}

void api_object_create(const struct http_request *req,
                       struct http_response *resp)
{
    struct api_ctx c;
    struct create_one co = {.c = &c};

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) == 0) {
        api_drop_snapshot(&c);
        int rc = store_write(api.store, create_write, &co, &c.err);
        if (rc != 0) {
            api_fail(&c, rc);
        } else {
            atomic_fetch_add(&api.objects_written, 1);
            answer_object(&c, &co.stored, 200);
        }
        if (co.has_stored)
            bson_destroy(&co.stored);
    }
    api_end(&c);
}

/* --- batch ------------------------------------------------------------- */

struct batch {
    struct api_ctx *c;
    struct object_target tg;
    enum ingest_policy policy;
    bson_iter_t item;          /* the object being written */
    bson_t *stored;            /* one per object, NULL-type when failed */
    struct err *errors;
    size_t count;
};

static int batch_one(struct store_txn *t, void *arg, struct err *e)
{
    struct batch *bt = arg;
    const uint8_t *data;
    uint32_t len;
    bson_t body;
    size_t i = bt->count;

    if (!BSON_ITER_HOLDS_DOCUMENT(&bt->item))
        return err_set(e, ERR_VALIDATION, "each object must be a JSON object");
    bson_iter_document(&bt->item, &len, &data);
    bson_init_static(&body, data, len);

    struct ingest_req r = ingest_for(bt->c, &body);
    r.policy = bt->policy;
    return ingest_object(t, &bt->tg.bucket, &bt->tg.ob, &r, &bt->stored[i], e);
}

static int batch_write(struct store_txn *t, void *arg, struct err *e)
{
    struct batch *bt = arg;
    bson_iter_t objects;

    int rc = find_target(bt->c, t, &bt->tg);
    if (rc == 0)
        rc = ingest_policy_for(&bt->tg.bucket,
                               http_query(bt->c->req, "policy"), &bt->policy,
                               e);
    if (rc != 0)
        return rc;

    bson_iter_init_find(&objects, &bt->c->body, "objects");
    bson_iter_recurse(&objects, &bt->item);
    for (bt->count = 0; bson_iter_next(&bt->item); bt->count++) {
        struct err *oe = &bt->errors[bt->count];
        err_init(oe);
        if (store_nested(t, batch_one, bt, oe) != 0 &&
            oe->code == ERR_OK)
            err_set(oe, ERR_INTERNAL, "object was not written");
    }
    return objects_flush(t, &bt->tg.ob, e);
}

static void answer_batch(struct api_ctx *c, struct batch *bt)
{
    struct jw w;
    size_t ok = 0;
    char msg[1024];

    jw_init(&w, &c->resp->body);
    jw_object_begin(&w);
    jw_key(&w, "succeeded");
    jw_array_begin(&w);
    for (size_t i = 0; i < bt->count; i++) {
        if (bt->errors[i].code != ERR_OK)
            continue;
        jw_bson_document(&w, &bt->stored[i]);
        ok++;
    }
    jw_array_end(&w);
    jw_key(&w, "failed");
    jw_array_begin(&w);
    for (size_t i = 0; i < bt->count; i++) {
        if (bt->errors[i].code == ERR_OK)
            continue;
        err_describe(&bt->errors[i], msg, sizeof(msg));
        jw_object_begin(&w);
        jw_key(&w, "object_index");
        jw_int(&w, (int64_t)i);
        jw_key(&w, "error");
        jw_string(&w, msg);
        jw_key(&w, "error_type");
        jw_string(&w, err_type_name(bt->errors[i].code));
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "total_requested");
    jw_int(&w, (int64_t)bt->count);
    jw_key(&w, "succeeded_count");
    jw_int(&w, (int64_t)ok);
    jw_key(&w, "failed_count");
    jw_int(&w, (int64_t)(bt->count - ok));
    jw_object_end(&w);
    http_reply_json(c->resp, 200);
    atomic_fetch_add(&api.objects_written, ok);
    atomic_fetch_add(&api.objects_rejected, bt->count - ok);
}

static int check_batch(struct api_ctx *c, uint32_t *count)
{
    bson_iter_t objects, it;
    struct err_path p = {0};

    *count = 0;
    if (!api_field_is(&c->body, "objects", BSON_TYPE_ARRAY, "an array", true,
                      &objects, &c->err))
        return ERR_VALIDATION;
    bson_iter_recurse(&objects, &it);
    while (bson_iter_next(&it))
        (*count)++;
    if (*count > api.limits.max_batch_objects) {
        err_path_key(&p, "body");
        return err_problem(&c->err, &p, "objects", "too_long",
                           "a batch holds at most %u objects "
                           "(max_batch_objects); split it",
                           api.limits.max_batch_objects);
    }
    return 0;
}

void api_object_batch(const struct http_request *req,
                      struct http_response *resp)
{
    struct api_ctx c;
    struct batch bt = {.c = &c};
    uint32_t n = 0;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) != 0)
        goto out;
    int rc = check_batch(&c, &n);
    if (rc == 0) {
        bt.stored = calloc(n ? n : 1, sizeof(*bt.stored));
        bt.errors = calloc(n ? n : 1, sizeof(*bt.errors));
        rc = bt.stored && bt.errors ? 0 : ERR_NOMEM;
    }
    if (rc == 0) {
        api_drop_snapshot(&c);
        rc = store_write(api.store, batch_write, &bt, &c.err);
    }
    if (rc != 0)
        api_fail(&c, rc);
    else
        answer_batch(&c, &bt);
    for (size_t i = 0; i < bt.count; i++) {
        if (bt.errors[i].code == ERR_OK)
            bson_destroy(&bt.stored[i]);
        err_release(&bt.errors[i]);
    }
    free(bt.stored);
    free(bt.errors);
out:
    api_end(&c);
}

/* --- read, replace, change, delete ------------------------------------- */

/* Finds the path's object in t: seq and a view of its document. */
static int find_object(struct api_ctx *c, struct store_txn *t,
                       const struct object_target *tg, uint64_t *seq,
                       bson_t *doc)
{
    const char *id = c->req->params[1];
    int rc = objects_find_id(t, tg->ob.num, id, strlen(id), seq, &c->err);

    if (rc == ERR_NOT_FOUND)
        return err_set(&c->err, ERR_NOT_FOUND,
                       "object \"%.100s\" not found in bucket %s", id,
                       tg->bucket.name);
    return rc != 0 ? rc : objects_get(t, tg->ob.num, *seq, doc, &c->err);
}

void api_object_get(const struct http_request *req, struct http_response *resp)
{
    struct api_ctx c;
    struct object_target tg;
    uint64_t seq;
    bson_t doc;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE) == 0) {
        int rc = find_target(&c, &c.rd, &tg);
        if (rc == 0)
            rc = find_object(&c, &c.rd, &tg, &seq, &doc);
        if (rc != 0)
            api_fail(&c, rc);
        else
            answer_object(&c, &doc, 200);
    }
    api_end(&c);
}

struct change {
    struct api_ctx *c;
    bool merge;
    bson_t stored;
    bool has_stored;         /* as in struct create_one */
};

/* The client's part of a stored object, which a merge patch applies to. */
static void client_part(const bson_t *doc, bson_t *out)
{
    bson_init(out);
    bson_copy_to_excluding_noinit(doc, out, "object_id", "bucket_id",
                                  "created_at", "updated_at", NULL);
}

static int change_write(struct store_txn *t, void *arg, struct err *e)
{
    struct change *ch = arg;
    struct object_target tg;
    uint64_t seq;
    bson_t view, previous, patched, doc;
    const bson_t *body = &ch->c->body;

    int rc = find_target(ch->c, t, &tg);
    if (rc == 0)
        rc = find_object(ch->c, t, &tg, &seq, &view);
    if (rc != 0)
        return rc;
    bson_copy_to(&view, &previous);
    if (ch->merge) {
        bson_t base;
        client_part(&previous, &base);
        document_merge_patch(&base, body, &patched);
        bson_destroy(&base);
        body = &patched;
    }

    struct document_input in = {.body = body, .previous = &previous,
                                .now_ms = ch->c->now_ms};
    rc = document_build(&tg.bucket, &in, &doc, e);
    if (rc == 0) {
        rc = ingest_check_size(&doc, api.limits.max_object_bytes, e);
        if (rc == 0)
            rc = objects_replace(t, &tg.ob, seq, &previous, &doc,
                                 ch->c->now_ms, e);
        if (rc == 0)
            rc = objects_flush(t, &tg.ob, e);
        if (rc == 0) {
            bson_copy_to(&doc, &ch->stored);
            ch->has_stored = true;
        }
        bson_destroy(&doc);
    }
    if (ch->merge)
        bson_destroy(&patched);
    bson_destroy(&previous);
    return rc;
}

static void change(const struct http_request *req, struct http_response *resp,
                   bool merge)
{
    struct api_ctx c;
    struct change ch = {.c = &c, .merge = merge};

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) == 0) {
        api_drop_snapshot(&c);
        int rc = store_write(api.store, change_write, &ch, &c.err);
        if (rc != 0)
            api_fail(&c, rc);
        else
            answer_object(&c, &ch.stored, 200);
        if (ch.has_stored)
            bson_destroy(&ch.stored);
    }
    api_end(&c);
}

void api_object_put(const struct http_request *req, struct http_response *resp)
{
    change(req, resp, false);
}

void api_object_patch(const struct http_request *req,
                      struct http_response *resp)
{
    change(req, resp, true);
}

static int delete_write(struct store_txn *t, void *arg, struct err *e)
{
    struct api_ctx *c = arg;
    struct object_target tg;
    uint64_t seq;
    bson_t view, old;

    int rc = find_target(c, t, &tg);
    if (rc == 0)
        rc = find_object(c, t, &tg, &seq, &view);
    if (rc != 0)
        return rc;
    bson_copy_to(&view, &old);
    rc = objects_delete(t, &tg.ob, seq, &old, e);
    if (rc == 0)
        rc = objects_flush(t, &tg.ob, e);
    bson_destroy(&old);
    return rc;
}

void api_object_delete(const struct http_request *req,
                       struct http_response *resp)
{
    struct api_ctx c;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE) == 0) {
        api_drop_snapshot(&c);
        int rc = store_write(api.store, delete_write, &c, &c.err);
        if (rc != 0) {
            api_fail(&c, rc);
        } else {
            resp->status = 204;
            resp->content_type = "text/plain";
        }
    }
    api_end(&c);
}
