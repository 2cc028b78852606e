#include <stdlib.h>

#include "http/internal.h"

/* TUNING: bucket bounds in milliseconds, from a cached read (well under
 * 1 ms) to a cold aggregation over millions of objects (seconds). */
static const double bounds_ms[HTTP_LATENCY_BUCKETS] = {
    0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};

int http_metrics_init(struct http_metrics *m, size_t nroutes)
{
    m->n = nroutes;
    m->routes = calloc(nroutes + 1, sizeof(*m->routes));
    return m->routes ? 0 : ERR_NOMEM;
}

void http_metrics_release(struct http_metrics *m)
{
    free(m->routes);
    m->routes = NULL;
}

void http_metrics_count(struct http_metrics *m, int route, int status,
                        double ms)
{
    struct http_route_metrics *r =
        &m->routes[route >= 0 && (size_t)route < m->n ? (size_t)route : m->n];
    int cls = status / 100;
    int b = 0;

    atomic_fetch_add(&r->by_class[cls >= 1 && cls <= 5 ? cls : 5], 1);
    while (b < HTTP_LATENCY_BUCKETS && ms > bounds_ms[b])
        b++;
    atomic_fetch_add(&r->latency[b], 1);
    atomic_fetch_add(&r->latency_sum_us, (uint64_t)(ms * 1000));
}

static void render_route(const struct http_route_metrics *r, const char *name,
                         const char *method, struct buf *out)
{
    uint64_t cumulative = 0;

    for (int c = 1; c <= 5; c++)
        if (r->by_class[c] > 0)
            buf_addf(out,
                     "tally_http_requests_total{route=\"%s\",method=\"%s\","
                     "code=\"%dxx\"} %llu\n",
                     name, method, c, (unsigned long long)r->by_class[c]);
    for (int b = 0; b <= HTTP_LATENCY_BUCKETS; b++) {
        cumulative += r->latency[b];
        if (b < HTTP_LATENCY_BUCKETS)
            buf_addf(out,
                     "tally_http_request_seconds_bucket{route=\"%s\","
                     "method=\"%s\",le=\"%g\"} %llu\n",
                     name, method, bounds_ms[b] / 1000,
                     (unsigned long long)cumulative);
        else
            buf_addf(out,
                     "tally_http_request_seconds_bucket{route=\"%s\","
                     "method=\"%s\",le=\"+Inf\"} %llu\n",
                     name, method, (unsigned long long)cumulative);
    }
    buf_addf(out,
             "tally_http_request_seconds_sum{route=\"%s\",method=\"%s\"} "
             "%.6f\n"
             "tally_http_request_seconds_count{route=\"%s\",method=\"%s\"} "
             "%llu\n",
             name, method, (double)r->latency_sum_us / 1e6, name, method,
             (unsigned long long)cumulative);
}

void http_metrics_render(struct http_metrics *m,
                         const struct http_route *routes, size_t n,
                         struct buf *out)
{
    buf_adds(out, "# HELP tally_http_requests_total HTTP requests answered, "
                  "by route and status class.\n"
                  "# TYPE tally_http_requests_total counter\n"
                  "# HELP tally_http_request_seconds Time from the request "
                  "headers to the end of the answer.\n"
                  "# TYPE tally_http_request_seconds histogram\n");
    for (size_t i = 0; i <= n; i++) {
        uint64_t total = 0;
        for (int b = 0; b <= HTTP_LATENCY_BUCKETS; b++)
            total += m->routes[i].latency[b];
        if (total == 0)
            continue;
        const char *name = i < n ? (routes[i].metric_name
                                        ? routes[i].metric_name
                                        : routes[i].pattern)
                                 : "unrouted";
        render_route(&m->routes[i], name, i < n ? routes[i].method : "any",
                     out);
    }
}
