/*
 * internal.h - pieces of the HTTP front shared by its files: the router
 * and the request metrics. Not for use outside src/http/.
 */
#ifndef TALLY_HTTP_INTERNAL_H
#define TALLY_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <pthread.h>
#include <microhttpd.h>

#include "base/workq.h"
#include "http/http.h"

/* Matches method and path (which is modified: '/' between segments become
 * NUL, and params point into it). Returns the route index, or -1 with
 * *method_mismatch set when the path exists under another method. */
int http_router_match(const struct http_route *routes, size_t n,
                      const char *method, char *path, const char **params,
                      int *param_count, bool *method_mismatch);

/* "GET, PUT" for the Allow header of a 405 (a static buffer per thread). */
const char *http_router_allowed(const struct http_route *routes, size_t n,
                                const char *path);

/* A streamed body, fed to the route's stream handler on the workers
 * (pipe.c). The pipe owns the handler's state from start to free. */
struct MHD_Connection;
struct workq;
struct http_pipe;

int http_pipe_start(struct MHD_Connection *mhd,
                    const struct http_stream_ops *ops, void *state,
                    struct http_response *resp, bool *resp_ready,
                    struct workq *q, struct http_pipe **out);
/* Takes body bytes: returns how many (0 when the ring is full: the
 * connection is then suspended until there is room). */
size_t http_pipe_offer(struct http_pipe *p, const char *data, size_t n);
/* The body is complete: true when the answer is ready, false when the
 * connection is suspended until it is. */
bool http_pipe_finish(struct http_pipe *p);
/* Ends the pipe; aborts the handler when it did not finish. */
void http_pipe_free(struct http_pipe *p);

#define HTTP_LATENCY_BUCKETS 12

struct http_route_metrics {
    _Atomic uint64_t by_class[6];  /* 1xx..5xx, [0] unused */
    _Atomic uint64_t latency[HTTP_LATENCY_BUCKETS + 1];
    _Atomic uint64_t latency_sum_us;
};

struct http_metrics {
    struct http_route_metrics *routes;  /* n + 1: the last is "unrouted" */
    size_t n;
};

int http_metrics_init(struct http_metrics *m, size_t nroutes);
void http_metrics_release(struct http_metrics *m);
void http_metrics_count(struct http_metrics *m, int route, int status,
                        double ms);
void http_metrics_render(struct http_metrics *m,
                         const struct http_route *routes, size_t n,
                         struct buf *out);

#endif
