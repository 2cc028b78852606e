/*
 * routes.c - the map from method and path to handler: every endpoint the
 * server answers, in one table.
 */
#include "api/internal.h"

/* A route answered by a handler on the workers; a heavy one, on the
 * aggregation pool (--agg-workers); a streamed one, piece by piece as its
 * body arrives (http.h). */
#define ROUTE(m, p, fn) {m, p, fn, NULL, NULL, false}
#define HEAVY(m, p, fn) {m, p, fn, NULL, NULL, true}
#define STREAM(m, p, ops) {m, p, NULL, ops, NULL, false}

static const struct http_route routes[] = {
    ROUTE("GET", "/healthz", api_healthz),
    ROUTE("GET", "/metrics", api_metrics),
    ROUTE("GET", "/openapi.json", api_openapi),

    ROUTE("POST", "/v1/namespaces", api_namespace_create),
    ROUTE("POST", "/v1/namespaces/list", api_namespace_list),
    ROUTE("GET", "/v1/namespaces/{ns}", api_namespace_get),
    ROUTE("PUT", "/v1/namespaces/{ns}", api_namespace_put),
    ROUTE("PATCH", "/v1/namespaces/{ns}", api_namespace_patch),
    ROUTE("DELETE", "/v1/namespaces/{ns}", api_namespace_delete),

    ROUTE("POST", "/v1/buckets", api_bucket_create),
    ROUTE("POST", "/v1/buckets/list", api_bucket_list),
    ROUTE("GET", "/v1/buckets/{bucket}", api_bucket_get),
    ROUTE("PUT", "/v1/buckets/{bucket}", api_bucket_put),
    ROUTE("PATCH", "/v1/buckets/{bucket}", api_bucket_patch),
    ROUTE("DELETE", "/v1/buckets/{bucket}", api_bucket_delete),

    ROUTE("POST", "/v1/buckets/{bucket}/objects", api_object_create),
    ROUTE("POST", "/v1/buckets/{bucket}/objects/batch", api_object_batch),
    ROUTE("POST", "/v1/buckets/{bucket}/objects/list", api_object_list),
    HEAVY("POST", "/v1/buckets/{bucket}/objects/aggregate",
          api_object_aggregate),
    STREAM("POST", "/v1/buckets/{bucket}/objects/import", &api_import_ops),
    ROUTE("GET", "/v1/buckets/{bucket}/objects/{object}", api_object_get),
    ROUTE("PUT", "/v1/buckets/{bucket}/objects/{object}", api_object_put),
    ROUTE("PATCH", "/v1/buckets/{bucket}/objects/{object}", api_object_patch),
    ROUTE("DELETE", "/v1/buckets/{bucket}/objects/{object}",
          api_object_delete),
};

const struct http_route *api_routes(size_t *count)
{
    *count = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
