/*
 * objects.c - /v1/buckets/{bucket}/objects: create one, create a batch,
 * read, replace, change (JSON merge patch) and delete. The objects live
 * in the server's backend (backend/backend.h).
 */
#include <string.h>

#include "api/internal.h"

static void answer_object(struct api_ctx *c, const bson_t *doc, int status)
{
    struct jw w;

    jw_init(&w, &c->resp->body);
    jw_bson_document(&w, doc);
    http_reply_json(c->resp, status);
}

/* --- create one -------------------------------------------------------- */

void api_object_create(const struct http_request *req,
                       struct http_response *resp)
{
    struct api_ctx c;
    bson_t stored;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) == 0) {
        struct backend_req br = api_backend_req(&c);
        api_drop_snapshot(&c);
        br.rd = NULL;
        int rc = backend_object_create(api.backend, &br, &c.body, &stored,
                                       &c.err);
        if (rc != 0) {
            api_fail(&c, rc);
        } else {
            atomic_fetch_add(&api.objects_written, 1);
            answer_object(&c, &stored, 200);
            bson_destroy(&stored);
        }
    }
    api_end(&c);
}

/* --- batch ------------------------------------------------------------- */

static void answer_batch(struct api_ctx *c, struct backend_batch *bt)
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
    struct backend_batch bt = {0};
    uint32_t n = 0;
    bson_iter_t objects;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) != 0)
        goto out;
    int rc = check_batch(&c, &n);
    if (rc == 0) {
        bt.stored = calloc(n ? n : 1, sizeof(*bt.stored));
        bt.errors = calloc(n ? n : 1, sizeof(*bt.errors));
        rc = bt.stored && bt.errors ? 0 : ERR_NOMEM;
    }
    if (rc == 0) {
        struct backend_req br = api_backend_req(&c);
        api_drop_snapshot(&c);
        br.rd = NULL;
        bson_iter_init_find(&objects, &c.body, "objects");
        rc = backend_object_batch(api.backend, &br, &objects, &bt, &c.err);
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

void api_object_get(const struct http_request *req, struct http_response *resp)
{
    struct api_ctx c;
    bson_t doc;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE) == 0) {
        struct backend_req br = api_backend_req(&c);
        int rc = backend_object_get(api.backend, &br, req->params[1], &doc,
                                    &c.err);
        if (rc != 0) {
            api_fail(&c, rc);
        } else {
            answer_object(&c, &doc, 200);
            bson_destroy(&doc);
        }
    }
    api_end(&c);
}

static void change(const struct http_request *req, struct http_response *resp,
                   bool merge)
{
    struct api_ctx c;
    bson_t stored;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) == 0) {
        struct backend_req br = api_backend_req(&c);
        api_drop_snapshot(&c);
        br.rd = NULL;
        int rc = backend_object_change(api.backend, &br, req->params[1],
                                       &c.body, merge, &stored, &c.err);
        if (rc != 0) {
            api_fail(&c, rc);
        } else {
            answer_object(&c, &stored, 200);
            bson_destroy(&stored);
        }
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

void api_object_delete(const struct http_request *req,
                       struct http_response *resp)
{
    struct api_ctx c;

    if (api_begin(&c, req, resp, API_NEED_NAMESPACE) == 0) {
        struct backend_req br = api_backend_req(&c);
        api_drop_snapshot(&c);
        br.rd = NULL;
        int rc = backend_object_delete(api.backend, &br, req->params[1],
                                       &c.err);
        if (rc != 0) {
            api_fail(&c, rc);
        } else {
            resp->status = 204;
            resp->content_type = "text/plain";
        }
    }
    api_end(&c);
}
