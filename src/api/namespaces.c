/*
 * namespaces.c - /v1/namespaces: create, read, replace, change, delete,
 * list. A namespace record keeps every member the client sent (Mixpeek's
 * feature_extractors, payload_indexes, ...) besides its id, name and
 * timestamps; bucket_count and object_count are computed when read.
 */
#include <string.h>

#include "api/internal.h"
#include "store/janitor.h"
#include "api/listing.h"
#include "store/document.h"

static const char *const server_owned[] = {
    "namespace_id", "namespace_name", "created_at", "updated_at",
    "bucket_count", "object_count", NULL};

static bool is_server_owned(const char *k)
{
    for (int i = 0; server_owned[i] != NULL; i++)
        if (strcmp(k, server_owned[i]) == 0)
            return true;
    return false;
}

static const char *checked_name(struct api_ctx *c, const bson_t *body,
                                bool required)
{
    const char *name = api_field_string(body, "namespace_name", required,
                                        &c->err);
    if (name == NULL)
        return NULL;

    const char *bad = catalog_name_problem(name, strlen(name), "ns_");
    if (bad != NULL) {
        struct err_path p = {0};
        err_path_key(&p, "body");
        err_problem(&c->err, &p, "namespace_name", "value_error",
                    "namespace_name %s", bad);
        return NULL;
    }
    return name;
}

/* Feature extractors are kept as sent, each with the identifier upstream
 * derives from its name and version. */
static void append_extractors(bson_t *out, const bson_iter_t *arr)
{
    bson_iter_t it, m;
    bson_t list;

    bson_append_array_begin(out, "feature_extractors", -1, &list);
    bson_iter_recurse(arr, &it);
    for (uint32_t i = 0; bson_iter_next(&it); i++) {
        char key[16], id[300];
        const char *name = NULL, *version = NULL;
        bool has_id = false;
        bson_t item;

        snprintf(key, sizeof(key), "%u", i);
        bson_append_document_begin(&list, key, -1, &item);
        bson_iter_recurse(&it, &m);
        while (bson_iter_next(&m)) {
            const char *k = bson_iter_key(&m);
            if (strcmp(k, "feature_extractor_name") == 0)
                name = bson_iter_utf8(&m, NULL);
            else if (strcmp(k, "version") == 0)
                version = bson_iter_utf8(&m, NULL);
            has_id |= strcmp(k, "feature_extractor_id") == 0;
            bson_append_iter(&item, k, -1, &m);
        }
        if (!has_id && name != NULL && version != NULL) {
            snprintf(id, sizeof(id), "%s_%s", name, version);
            BSON_APPEND_UTF8(&item, "feature_extractor_id", id);
        }
        bson_append_document_end(&list, &item);
    }
    bson_append_array_end(out, &list);
}

/* Each extractor is an object naming feature_extractor_name and version,
 * as upstream requires. */
static void check_extractors(struct api_ctx *c, const bson_t *body)
{
    bson_iter_t arr, it, m;
    struct err_path p = {0};

    err_path_key(&p, "body");
    if (!api_field_is(body, "feature_extractors", BSON_TYPE_ARRAY, "a list",
                      false, &arr, &c->err))
        return;
    err_path_key(&p, "feature_extractors");
    bson_iter_recurse(&arr, &it);
    for (long i = 0; bson_iter_next(&it); i++) {
        int saved = err_path_index(&p, i);
        static const char *const need[] = {"feature_extractor_name",
                                           "version"};
        for (int j = 0; j < 2; j++)
            if (!BSON_ITER_HOLDS_DOCUMENT(&it) ||
                !bson_iter_recurse(&it, &m) || !bson_iter_find(&m, need[j]) ||
                !BSON_ITER_HOLDS_UTF8(&m))
                err_problem(&c->err, &p, need[j], "missing",
                            "%s is required (a string)", need[j]);
        err_path_pop(&p, saved);
    }
}

/* id, name, the client's members, created_at, updated_at. */
static void build_record(bson_t *out, const char *id, const char *name,
                         const bson_t *members, int64_t created,
                         int64_t updated)
{
    bson_iter_t it;

    bson_init(out);
    BSON_APPEND_UTF8(out, "namespace_id", id);
    BSON_APPEND_UTF8(out, "namespace_name", name);
    if (members != NULL && bson_iter_init(&it, members)) {
        while (bson_iter_next(&it)) {
            const char *k = bson_iter_key(&it);
            if (strcmp(k, "feature_extractors") == 0 &&
                BSON_ITER_HOLDS_ARRAY(&it))
                append_extractors(out, &it);
            else if (!is_server_owned(k))
                bson_append_iter(out, k, -1, &it);
        }
    }
    BSON_APPEND_DATE_TIME(out, "created_at", created);
    BSON_APPEND_DATE_TIME(out, "updated_at", updated);
}

static void answer_namespace(struct api_ctx *c, struct store_txn *t,
                             const char *id)
{
    struct catalog_ns ns;
    struct jw w;

    if (catalog_ns_find(t, id, strlen(id), &ns, &c->err) != 0) {
        api_fail(c, ERR_NOT_FOUND);
        return;
    }
    jw_init(&w, &c->resp->body);
    api_write_namespace(&w, t, &ns);
    http_reply_json(c->resp, 200);
}

/* After a write, the answer reads a fresh snapshot. */
static void answer_fresh(struct api_ctx *c, const char *id)
{
    api_drop_snapshot(c);
    if (store_read_begin(api.store, &c->rd, &c->err) != 0) {
        api_fail(c, ERR_IO);
        return;
    }
    answer_namespace(c, &c->rd, id);
}

/* --- create ------------------------------------------------------------ */

static int insert_write(struct store_txn *t, void *arg, struct err *e)
{
    return catalog_ns_insert(t, arg, e);
}

void api_namespace_create(const struct http_request *req,
                          struct http_response *resp)
{
    struct api_ctx c;
    char id[IDS_MAX];
    bson_t record;

    if (api_begin(&c, req, resp, API_NEED_BODY) != 0)
        goto out;
    const char *name = checked_name(&c, &c.body, true);
    check_extractors(&c, &c.body);
    if (c.err.code != ERR_OK) {
        api_fail(&c, ERR_VALIDATION);
        goto out;
    }
    if (!api_key_allows(&c, NULL, name)) {
        err_set(&c.err, ERR_FORBIDDEN,
                "this API key may not create namespace \"%s\"", name);
        api_fail(&c, 0);
        goto out;
    }

    ids_generate("ns_", id);
    build_record(&record, id, name, &c.body, c.now_ms, c.now_ms);
    int rc = store_write(api.store, insert_write, &record, &c.err);
    bson_destroy(&record);
    if (rc != 0)
        api_fail(&c, rc);
    else
        answer_fresh(&c, id);
out:
    api_end(&c);
}

/* --- read, replace, change, delete ------------------------------------- */

/* Finds the path's namespace in t, refusing one the key may not use
 * before telling whether it exists. */
static int find_allowed(struct api_ctx *c, struct store_txn *t,
                        struct catalog_ns *ns)
{
    const char *ident = c->req->params[0];
    bool by_id = ids_has_form(ident, strlen(ident), "ns_");
    int rc = catalog_ns_find(t, ident, strlen(ident), ns, &c->err);
    bool allowed = rc == 0 ? api_key_allows(c, ns->id, ns->name)
                           : api_key_allows(c, by_id ? ident : NULL,
                                            by_id ? NULL : ident);
    if (!allowed)
        return err_set(&c->err, ERR_FORBIDDEN,
                       "this API key may not use namespace \"%.100s\"", ident);
    if (rc == ERR_NOT_FOUND)
        return err_set(&c->err, ERR_NOT_FOUND,
                       "namespace \"%.100s\" not found", ident);
    return rc;
}

void api_namespace_get(const struct http_request *req,
                       struct http_response *resp)
{
    struct api_ctx c;
    struct catalog_ns ns;

    if (api_begin(&c, req, resp, 0) == 0) {
        if (find_allowed(&c, &c.rd, &ns) != 0)
            api_fail(&c, 0);
        else
            answer_namespace(&c, &c.rd, ns.id);
    }
    api_end(&c);
}

struct change {
    struct api_ctx *c;
    bool merge;            /* PATCH: merge patch; PUT: replace */
    char id[IDS_MAX];
};

static int change_write(struct store_txn *t, void *arg, struct err *e)
{
    struct change *ch = arg;
    struct api_ctx *c = ch->c;
    struct catalog_ns ns;
    bson_t merged, record;
    const bson_t *members = &c->body;
    bson_iter_t it;

    int rc = find_allowed(c, t, &ns);
    if (rc != 0)
        return rc;
    check_extractors(c, &c->body);
    if (e->code != ERR_OK)
        return e->code;
    snprintf(ch->id, sizeof(ch->id), "%s", ns.id);
    if (ch->merge) {
        document_merge_patch(&ns.record, &c->body, &merged);
        members = &merged;
    }
    const char *name = ns.name;
    if (api_field(&c->body, "namespace_name", &it))
        name = checked_name(c, &c->body, false);
    int64_t created = bson_iter_init_find(&it, &ns.record, "created_at")
                          ? bson_iter_date_time(&it)
                          : c->now_ms;
    if (name == NULL) {
        rc = e->code ? e->code : ERR_VALIDATION;
    } else {
        char keep[CATALOG_NAME_MAX + 1];
        snprintf(keep, sizeof(keep), "%s", name);
        build_record(&record, ns.id, keep, members, created, c->now_ms);
        rc = catalog_ns_update(t, &ns, &record, e);
        bson_destroy(&record);
    }
    if (ch->merge)
        bson_destroy(&merged);
    return rc;
}

static void change(const struct http_request *req, struct http_response *resp,
                   bool merge)
{
    struct api_ctx c;
    struct change ch = {.c = &c, .merge = merge};

    if (api_begin(&c, req, resp, API_NEED_BODY) == 0) {
        int rc = store_write(api.store, change_write, &ch, &c.err);
        if (rc != 0)
            api_fail(&c, rc);
        else
            answer_fresh(&c, ch.id);
    }
    api_end(&c);
}

void api_namespace_put(const struct http_request *req,
                       struct http_response *resp)
{
    change(req, resp, false);
}

void api_namespace_patch(const struct http_request *req,
                         struct http_response *resp)
{
    change(req, resp, true);
}

static int delete_write(struct store_txn *t, void *arg, struct err *e)
{
    struct change *ch = arg;
    struct catalog_ns ns;

    int rc = find_allowed(ch->c, t, &ns);
    if (rc == 0) {
        snprintf(ch->id, sizeof(ch->id), "%s", ns.id);
        rc = catalog_ns_delete(t, &ns, e);
    }
    return rc;
}

void api_namespace_delete(const struct http_request *req,
                          struct http_response *resp)
{
    struct api_ctx c;
    struct change ch = {.c = &c};

    if (api_begin(&c, req, resp, 0) == 0) {
        int rc = store_write(api.store, delete_write, &ch, &c.err);
        if (rc != 0) {
            api_fail(&c, rc);
        } else {
            janitor_wake();
            api_reply_deleted(resp, "namespace_id", ch.id,
                              "namespace deleted with its buckets and objects");
        }
    }
    api_end(&c);
}

/* --- list -------------------------------------------------------------- */

struct ns_rows {
    struct api_ctx *c;
    struct catalog_ns *items;
    struct list_row *rows;
    size_t n, cap;
};

static int collect_ns(void *arg, const struct catalog_ns *ns)
{
    struct ns_rows *r = arg;

    if (!api_key_allows(r->c, ns->id, ns->name))
        return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct catalog_ns *items = realloc(r->items, cap * sizeof(*items));
        if (items == NULL)
            return ERR_NOMEM;
        r->items = items;
        r->cap = cap;
    }
    catalog_ns_copy(&r->items[r->n++], ns);
    return 0;
}

static void write_ns(struct jw *w, struct store_txn *t, void *item)
{
    api_write_namespace(w, t, item);
}

void api_namespace_list(const struct http_request *req,
                        struct http_response *resp)
{
    struct api_ctx c;
    struct ns_rows r = {.c = &c};

    if (api_begin(&c, req, resp, API_NEED_BODY) != 0)
        goto out;
    int rc = catalog_ns_each(&c.rd, collect_ns, &r, &c.err);
    if (rc == 0 && (r.rows = calloc(r.n ? r.n : 1, sizeof(*r.rows))) == NULL)
        rc = ERR_NOMEM;
    if (rc != 0) {
        api_fail(&c, rc);
        goto out;
    }
    for (size_t i = 0; i < r.n; i++)
        r.rows[i] = (struct list_row){&r.items[i].record, r.items[i].id,
                                      r.items[i].name, &r.items[i]};
    list_answer(&c, r.rows, r.n, write_ns);
out:
    free(r.rows);
    free(r.items);
    api_end(&c);
}
