/*
 * routes.c - the map from method and path to handler: every endpoint the
 * server answers, in one table.
 */
#include "api/internal.h"

static const struct http_route routes[] = {
    {"GET", "/healthz", api_healthz, NULL, NULL},
    {"GET", "/metrics", api_metrics, NULL, NULL},
    {"GET", "/openapi.json", api_openapi, NULL, NULL},

    {"POST", "/v1/namespaces", api_namespace_create, NULL, NULL},
    {"POST", "/v1/namespaces/list", api_namespace_list, NULL, NULL},
    {"GET", "/v1/namespaces/{ns}", api_namespace_get, NULL, NULL},
    {"PUT", "/v1/namespaces/{ns}", api_namespace_put, NULL, NULL},
    {"PATCH", "/v1/namespaces/{ns}", api_namespace_patch, NULL, NULL},
    {"DELETE", "/v1/namespaces/{ns}", api_namespace_delete, NULL, NULL},

    {"POST", "/v1/buckets", api_bucket_create, NULL, NULL},
    {"POST", "/v1/buckets/list", api_bucket_list, NULL, NULL},
    {"GET", "/v1/buckets/{bucket}", api_bucket_get, NULL, NULL},
    {"PUT", "/v1/buckets/{bucket}", api_bucket_put, NULL, NULL},
    {"PATCH", "/v1/buckets/{bucket}", api_bucket_patch, NULL, NULL},
    {"DELETE", "/v1/buckets/{bucket}", api_bucket_delete, NULL, NULL},

    {"POST", "/v1/buckets/{bucket}/objects", api_object_create, NULL, NULL},
    {"POST", "/v1/buckets/{bucket}/objects/batch", api_object_batch, NULL,
     NULL},
    {"POST", "/v1/buckets/{bucket}/objects/list", api_object_list, NULL, NULL},
    {"POST", "/v1/buckets/{bucket}/objects/aggregate", api_object_aggregate,
     NULL, NULL},
    {"POST", "/v1/buckets/{bucket}/objects/import", NULL, &api_import_ops,
     NULL},
    {"GET", "/v1/buckets/{bucket}/objects/{object}", api_object_get, NULL,
     NULL},
    {"PUT", "/v1/buckets/{bucket}/objects/{object}", api_object_put, NULL,
     NULL},
    {"PATCH", "/v1/buckets/{bucket}/objects/{object}", api_object_patch, NULL,
     NULL},
    {"DELETE", "/v1/buckets/{bucket}/objects/{object}", api_object_delete,
     NULL, NULL},
};

const struct http_route *api_routes(size_t *count)
{
    *count = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
