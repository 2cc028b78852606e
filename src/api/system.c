/*
 * system.c - /healthz, /metrics and /openapi.json: the endpoints an
 * operator and a client generator use, without authentication.
 */
#include <string.h>

#include "api/internal.h"

/* docs/openapi.json, linked into the binary (see the Makefile). */
extern const char _binary_docs_openapi_json_start[];
extern const char _binary_docs_openapi_json_end[];

void api_healthz(const struct http_request *req, struct http_response *resp)
{
    (void)req;
    if (!atomic_load(&api.ready)) {
        http_reply_errorf(resp, ERR_UNAVAILABLE, "starting or stopping");
        return;
    }
    buf_adds(&resp->body, "{\"status\":\"ok\"}");
    http_reply_json(resp, 200);
}

static void metric(struct buf *out, const char *name, const char *type,
                   const char *help, unsigned long long v)
{
    buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
             type, name, v);
}

void api_metrics(const struct http_request *req, struct http_response *resp)
{
    struct store_usage u;
    struct buf *out = &resp->body;

    (void)req;
    store_usage(api.store, &u);
    metric(out, "tally_store_file_bytes", "gauge",
           "Size of the data file on disk.", u.file_bytes);
    metric(out, "tally_store_used_bytes", "gauge",
           "Bytes of the data file in use.", u.used_bytes);
    metric(out, "tally_store_max_bytes", "gauge",
           "Configured max_store_size.", u.max_bytes);
    metric(out, "tally_store_commits_total", "counter",
           "Durable commits (one per group of writes).", u.commits);
    metric(out, "tally_store_writes_total", "counter",
           "Writes committed or failed.", u.writes);
    metric(out, "tally_objects_written_total", "counter",
           "Objects written through create, batch and import.",
           atomic_load(&api.objects_written));
    metric(out, "tally_objects_rejected_total", "counter",
           "Objects or import lines rejected.",
           atomic_load(&api.objects_rejected));
    metric(out, "tally_aggregations_total", "counter",
           "Aggregation requests answered.", atomic_load(&api.aggregations));
    if (api.server != NULL)
        http_metrics_write(api.server, out);
    resp->content_type = "text/plain; version=0.0.4";
    resp->status = 200;
}

void api_openapi(const struct http_request *req, struct http_response *resp)
{
    (void)req;
    buf_add(&resp->body, _binary_docs_openapi_json_start,
            (size_t)(_binary_docs_openapi_json_end -
                     _binary_docs_openapi_json_start));
    http_reply_json(resp, 200);
}
