/*
 * system.c - /healthz, /metrics and /openapi.json: the endpoints an
 * operator and a client generator use, without authentication.
 */
#include <string.h>

#include "api/internal.h"
#include "query/vexec.h"

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

static void write_cache_metrics(struct buf *out)
{
    struct colcache_usage u;

    colcache_usage(api.columns->cc, &u);
    metric(out, "tally_column_cache_bytes", "gauge",
           "Memory held by cached columns and their dictionaries.", u.bytes);
    metric(out, "tally_column_cache_budget_bytes", "gauge",
           "Configured column cache budget.", u.budget);
    metric(out, "tally_column_cache_columns", "gauge",
           "Columns cached, over all buckets.", u.columns);
    metric(out, "tally_column_cache_builds_total", "counter",
           "Buckets whose columns were built from the store.", u.builds);
    metric(out, "tally_column_cache_catchups_total", "counter",
           "Times cached columns were brought up to date from the log.",
           u.catchups);
    metric(out, "tally_column_cache_evictions_total", "counter",
           "Buckets dropped from the cache to stay within its budget.",
           u.evictions);
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
    metric(out, "tally_aggregations_by_rows_total", "counter",
           "Aggregations answered from stored objects rather than columns.",
           backend_row_aggregations(api.backend));
    if (api.columns != NULL)
        write_cache_metrics(out);
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
