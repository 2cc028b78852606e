/*
 * api.h - the API handlers: Mixpeek's v1 bucket-object API over the store.
 *
 * Each file of src/api/ serves one group of endpoints: it decodes the
 * request, calls the store (or the query engine), and encodes the answer.
 * The route table (routes.c) is the map from method and path to handler.
 */
#ifndef TALLY_API_API_H
#define TALLY_API_API_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "query/limits.h"
#include "store/store.h"

struct api_limits {
    uint64_t max_object_bytes;   /* one stored object */
    uint64_t max_import_bytes;   /* one import body; 0 = no limit */
    uint64_t max_import_rejects; /* rejected lines before an import stops */
    unsigned max_batch_objects;  /* objects in one batch request */
    int json_max_depth;          /* nesting of request JSON */
};

#define API_DEFAULT_MAX_OBJECT_BYTES (16u << 20)
#define API_DEFAULT_MAX_IMPORT_REJECTS 100000
#define API_DEFAULT_MAX_BATCH_OBJECTS 1000

struct vexec_env;
struct backend;

struct api_config {
    struct store *store;
    struct backend *backend;         /* where objects live */
    struct api_limits limits;
    struct query_limits query;
    const struct vexec_env *columns;  /* the column path; NULL: rows only */
};

/* Sets the state every handler uses; call before serving. */
void api_init(const struct api_config *cfg);
/* Lets /metrics include the HTTP server's figures. */
void api_attach_server(struct http_server *server);
/* Marks the service ready (/healthz answers 200) or not. */
void api_set_ready(int ready);

const struct http_route *api_routes(size_t *count);

#endif
