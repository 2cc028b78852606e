#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "base/clock.h"
#include "base/log.h"

struct api_state api;

void api_init(const struct api_config *cfg)
{
    api.store = cfg->store;
    api.backend = cfg->backend;
    api.limits = cfg->limits;
    api.query = cfg->query;
    api.columns = cfg->columns;
}

void api_attach_server(struct http_server *server)
{
    api.server = server;
}

void api_set_ready(int ready)
{
    atomic_store(&api.ready, ready);
}

/* --- authentication ---------------------------------------------------- */

/* The same answer for every failure, so that a caller learns nothing
 * about which part of the key was wrong. */
static int auth_fail(struct api_ctx *c)
{
    return err_set(&c->err, ERR_AUTH, "missing or invalid API key");
}

static int authenticate(struct api_ctx *c)
{
    const char *h = http_header(c->req, "Authorization");
    unsigned char hash[CATALOG_KEY_HASH_BYTES];
    bson_iter_t it;

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return auth_fail(c);
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    if (n == 0 || n > 200)
        return auth_fail(c);

    catalog_key_hash(api.store, h, n, hash);
    int rc = catalog_key_find(&c->rd, hash, &c->key, &c->err);
    if (rc == ERR_NOT_FOUND)
        return auth_fail(c);
    if (rc != 0)
        return rc;
    if (bson_iter_init_find(&it, &c->key.record, "revoked_at") &&
        !BSON_ITER_HOLDS_NULL(&it))
        return auth_fail(c);
    return 0;
}

bool api_key_allows(const struct api_ctx *c, const char *ns_id,
                    const char *ns_name)
{
    bson_iter_t it, arr;
    bool restricted = false;

    if (!bson_iter_init_find(&it, &c->key.record, "namespaces") ||
        !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
        return true;
    while (bson_iter_next(&arr)) {
        const char *s = BSON_ITER_HOLDS_UTF8(&arr) ? bson_iter_utf8(&arr, NULL)
                                                   : "";
        restricted = true;
        if ((ns_id && strcmp(s, ns_id) == 0) ||
            (ns_name && strcmp(s, ns_name) == 0))
            return true;
    }
    return !restricted;
}

/* A restricted key is refused before the namespace is looked up, so that
 * it cannot tell a namespace it may not use from one that does not
 * exist. */
static int resolve_namespace(struct api_ctx *c)
{
    const char *h = http_header(c->req, "X-Namespace");

    if (h == NULL || h[0] == '\0')
        return err_set(&c->err, ERR_BAD_REQUEST,
                       "the X-Namespace header is required (a namespace id "
                       "or name)");

    bool by_id = ids_has_form(h, strlen(h), "ns_");
    int rc = catalog_ns_find(&c->rd, h, strlen(h), &c->ns, &c->err);
    bool allowed = rc == 0 ? api_key_allows(c, c->ns.id, c->ns.name)
                           : api_key_allows(c, by_id ? h : NULL,
                                            by_id ? NULL : h);
    if (!allowed)
        return err_set(&c->err, ERR_FORBIDDEN,
                       "this API key may not use namespace \"%.100s\"", h);
    if (rc == ERR_NOT_FOUND)
        return err_set(&c->err, ERR_NOT_FOUND, "namespace \"%.100s\" not found",
                       h);
    if (rc == 0)
        snprintf(c->ns_id, sizeof(c->ns_id), "%s", c->ns.id);
    return rc;
}

int api_parse_json(struct api_ctx *c, const char *text, size_t n,
                   struct buf *out)
{
    struct json_opts opts = {.max_depth = api.limits.json_max_depth};
    struct json_error je;

    int rc = json_parse(text, n, &opts, out, &je);
    if (rc == ERR_BAD_REQUEST)
        return err_set(&c->err, ERR_BAD_REQUEST,
                       "request body is not valid JSON: %s at byte %zu",
                       je.msg, je.offset);
    if (rc != 0)
        return err_set(&c->err, rc, "cannot read the request body");
    return 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static int parse_body(struct api_ctx *c)
{
    const char *text = c->req->body;
    size_t n = c->req->body_len;

    if (blank(text, n))
        text = "{}", n = 2;
    int rc = api_parse_json(c, text, n, &c->body_buf);
    if (rc == 0 &&
        !bson_init_static(&c->body, (const uint8_t *)c->body_buf.data,
                          c->body_buf.len))
        rc = err_set(&c->err, ERR_INTERNAL, "parsed body does not read back");
    return rc;
}

int api_begin(struct api_ctx *c, const struct http_request *req,
              struct http_response *resp, unsigned needs)
{
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->resp = resp;
    c->now_ms = clock_now_ms();
    bson_init(&c->body);
    err_init(&c->err);

    int rc = store_read_begin(api.store, &c->rd, &c->err);
    if (rc == 0)
        rc = authenticate(c);
    if (rc == 0 && (needs & API_NEED_NAMESPACE))
        rc = resolve_namespace(c);
    if (rc == 0 && (needs & API_NEED_BODY))
        rc = parse_body(c);
    if (rc != 0)
        api_fail(c, rc);
    return rc;
}

void api_drop_snapshot(struct api_ctx *c)
{
    store_read_end(&c->rd);
}

void api_end(struct api_ctx *c)
{
    store_read_end(&c->rd);
    buf_release(&c->body_buf);
    err_release(&c->err);
}

void api_fail(struct api_ctx *c, int code)
{
    if (c->err.code == ERR_OK)
        err_set(&c->err, code ? code : ERR_INTERNAL, "request failed");
    if (err_http_status(c->err.code) >= 500) {
        char quoted[2 * ERR_MSG_MAX];
        LOG_ERROR("request failed", "id=%s code=%s error=%s", c->req->id,
                  err_code_name(c->err.code),
                  log_quote(quoted, sizeof(quoted), c->err.msg,
                            strlen(c->err.msg)));
    }
    http_reply_error(c->resp, &c->err);
}

/* --- request fields ---------------------------------------------------- */

bool api_field(const bson_t *body, const char *key, bson_iter_t *it)
{
    return bson_iter_init_find(it, body, key) && !BSON_ITER_HOLDS_NULL(it);
}

bool api_field_is(const bson_t *body, const char *key, bson_type_t type,
                  const char *type_name, bool required, bson_iter_t *it,
                  struct err *e)
{
    struct err_path p = {0};

    err_path_key(&p, "body");
    if (!api_field(body, key, it)) {
        if (required)
            err_problem(e, &p, key, "missing", "field required");
        return false;
    }
    if (bson_iter_type(it) != type) {
        err_problem(e, &p, key, "type_error", "%s must be %s", key,
                    type_name);
        return false;
    }
    return true;
}

const char *api_field_string(const bson_t *body, const char *key,
                             bool required, struct err *e)
{
    bson_iter_t it;

    if (!api_field_is(body, key, BSON_TYPE_UTF8, "a string", required, &it, e))
        return NULL;
    return bson_iter_utf8(&it, NULL);
}

int api_query_uint(struct api_ctx *c, const char *name, uint64_t min,
                   uint64_t max, uint64_t def, uint64_t *out)
{
    const char *s = http_query(c->req, name);
    char *end;

    *out = def;
    if (s == NULL || s[0] == '\0')
        return 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || s[0] == '-' || v < min || v > max) {
        struct err_path p = {0};
        err_path_key(&p, "query");
        return err_problem(&c->err, &p, name, "value_error",
                           "%s must be an integer from %llu to %llu", name,
                           (unsigned long long)min, (unsigned long long)max);
    }
    *out = v;
    return 0;
}

bool api_query_bool(const struct api_ctx *c, const char *name)
{
    const char *s = http_query(c->req, name);
    return s != NULL && (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0);
}

struct backend_req api_backend_req(const struct api_ctx *c)
{
    const char *engine = http_query(c->req, "engine");

    return (struct backend_req){
        .rd = (struct store_txn *)&c->rd,
        .ns_id = c->ns_id,
        .bucket = c->req->param_count > 0 ? c->req->params[0] : "",
        .now_ms = c->now_ms,
        .max_object_bytes = api.limits.max_object_bytes,
        .policy = http_query(c->req, "policy"),
        .rows_only = engine != NULL && strcmp(engine, "rows") == 0};
}

int api_find_bucket(struct api_ctx *c, struct store_txn *t, const char *ident,
                    struct catalog_bucket *out)
{
    int rc = catalog_bucket_find(t, c->ns_id, ident, strlen(ident), out,
                                 &c->err);
    if (rc == ERR_NOT_FOUND)
        return err_set(&c->err, ERR_NOT_FOUND,
                       "bucket \"%.100s\" not found in namespace %s", ident,
                       c->ns_id);
    return rc;
}
