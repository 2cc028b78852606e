/*
 * internal.h - what the API handlers share: the service state, the
 * per-request context (authentication, namespace, body), and encoders.
 * Private to src/api/.
 */
#ifndef TALLY_API_INTERNAL_H
#define TALLY_API_INTERNAL_H

#include <bson/bson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "api/api.h"
#include "base/buf.h"
#include "json/json.h"
#include "store/catalog.h"

struct api_state {
    struct store *store;
    struct api_limits limits;
    struct query_limits query;
    const struct vexec_env *columns;
    struct http_server *server;
    atomic_int ready;
    _Atomic uint64_t objects_written, objects_rejected, aggregations;
    _Atomic uint64_t aggregations_by_rows;
};

extern struct api_state api;

enum api_needs {
    API_NEED_NAMESPACE = 1, /* X-Namespace header, resolved */
    API_NEED_BODY = 2,      /* a JSON object body (empty reads as {}) */
};

/* One request's context. api_begin() fills it or answers the error. */
struct api_ctx {
    const struct http_request *req;
    struct http_response *resp;
    struct store_txn rd;       /* read snapshot, open until api_end() */
    struct catalog_key key;
    struct catalog_ns ns;      /* with API_NEED_NAMESPACE */
    char ns_id[IDS_MAX];
    struct buf body_buf;       /* BSON bytes of the body */
    bson_t body;
    struct err err;
    int64_t now_ms;
};

/* Authenticates, resolves the namespace, parses the body. Returns 0, or
 * answers the error and returns non-zero (call api_end() either way). */
int api_begin(struct api_ctx *c, const struct http_request *req,
              struct http_response *resp, unsigned needs);
void api_end(struct api_ctx *c);
/* Answers c->err (or, if it is empty, the given code). */
void api_fail(struct api_ctx *c, int code);
/* Closes the read snapshot early (before a long write). */
void api_drop_snapshot(struct api_ctx *c);
/* May the request's key use this namespace (by id or name)? */
bool api_key_allows(const struct api_ctx *c, const char *ns_id,
                    const char *ns_name);
/* Parses a JSON body into out (appended); 0 or the error answered. */
int api_parse_json(struct api_ctx *c, const char *text, size_t n,
                   struct buf *out);

/* Encoders: records as the API returns them. */
void api_write_record(struct jw *w, const bson_t *record);
void api_write_namespace(struct jw *w, struct store_txn *t,
                         const struct catalog_ns *ns);
void api_write_bucket(struct jw *w, struct store_txn *t,
                      const struct catalog_bucket *b);

/* The answer to a delete: {"success": true, <id_key>: id, "message"}. */
void api_reply_deleted(struct http_response *resp, const char *id_key,
                       const char *id, const char *message);

/* Request field readers: they add a problem to e (under "body") when the
 * member has the wrong type, and return whether it is present. */
bool api_field(const bson_t *body, const char *key, bson_iter_t *it);
const char *api_field_string(const bson_t *body, const char *key,
                             bool required, struct err *e);
bool api_field_is(const bson_t *body, const char *key, bson_type_t type,
                  const char *type_name, bool required, bson_iter_t *it,
                  struct err *e);

/* Query parameters: integers within bounds, booleans. */
int api_query_uint(struct api_ctx *c, const char *name, uint64_t min,
                   uint64_t max, uint64_t def, uint64_t *out);
bool api_query_bool(const struct api_ctx *c, const char *name);

/* Finds the request's bucket ({bucket} path parameter) in c->ns. */
int api_find_bucket(struct api_ctx *c, struct store_txn *t, const char *ident,
                    struct catalog_bucket *out);

/* Handlers, by file. */
void api_namespace_create(const struct http_request *, struct http_response *);
void api_namespace_get(const struct http_request *, struct http_response *);
void api_namespace_put(const struct http_request *, struct http_response *);
void api_namespace_patch(const struct http_request *, struct http_response *);
void api_namespace_delete(const struct http_request *, struct http_response *);
void api_namespace_list(const struct http_request *, struct http_response *);

void api_bucket_create(const struct http_request *, struct http_response *);
void api_bucket_get(const struct http_request *, struct http_response *);
void api_bucket_put(const struct http_request *, struct http_response *);
void api_bucket_patch(const struct http_request *, struct http_response *);
void api_bucket_delete(const struct http_request *, struct http_response *);
void api_bucket_list(const struct http_request *, struct http_response *);

void api_object_create(const struct http_request *, struct http_response *);
void api_object_batch(const struct http_request *, struct http_response *);
void api_object_get(const struct http_request *, struct http_response *);
void api_object_put(const struct http_request *, struct http_response *);
void api_object_patch(const struct http_request *, struct http_response *);
void api_object_delete(const struct http_request *, struct http_response *);
void api_object_list(const struct http_request *, struct http_response *);
void api_object_aggregate(const struct http_request *,
                          struct http_response *);
extern const struct http_stream_ops api_import_ops;

void api_healthz(const struct http_request *, struct http_response *);
void api_metrics(const struct http_request *, struct http_response *);
void api_openapi(const struct http_request *, struct http_response *);

#endif
