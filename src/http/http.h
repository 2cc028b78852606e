/*
 * http.h - the HTTP front: transport only.
 *
 * It accepts connections (libmicrohttpd, epoll, a few I/O threads), reads
 * the request line, headers and body (up to a limit), matches the route,
 * and hands the request to a handler on a worker thread, so that slow
 * work never stalls the I/O threads that serve everyone else. It writes
 * the handler's response, an access log line and the request metrics.
 *
 * Routes with a streamed body (NDJSON import) get their body in pieces as
 * it arrives, on the I/O thread, and are never held in memory whole.
 *
 * Handlers fill a struct http_response; http_reply_error() turns a struct
 * err into the upstream error envelope (or the 422 validation shape).
 */
#ifndef TALLY_HTTP_HTTP_H
#define TALLY_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define HTTP_MAX_PARAMS 4

struct http_conn;   /* the transport's connection, opaque to handlers */

struct http_request {
    struct http_conn *conn;
    const char *method;
    const char *path;
    const char *params[HTTP_MAX_PARAMS];  /* the {name} segments, in order */
    int param_count;
    const char *body;                     /* buffered routes only */
    size_t body_len;
    char id[24];                          /* X-Request-Id */
};

struct http_response {
    int status;
    struct buf body;                      /* JSON unless content_type says */
    const char *content_type;             /* static string; NULL = JSON */
};

typedef void (*http_handler_fn)(const struct http_request *req,
                                struct http_response *resp);

/* Streamed bodies: begin once (with the headers), data for each piece,
 * end after the last piece (or abort when the client went away). begin
 * may fill resp and return non-zero to refuse the request at once. */
struct http_stream_ops {
    int (*begin)(const struct http_request *req, void **state,
                 struct http_response *resp);
    int (*data)(void *state, const char *p, size_t n);
    void (*end)(void *state, struct http_response *resp);
    void (*abort)(void *state);
};

struct http_route {
    const char *method;
    const char *pattern;  /* "/v1/buckets/{bucket}/objects/{object}" */
    http_handler_fn handler;
    const struct http_stream_ops *stream;
    const char *metric_name;  /* label in /metrics; pattern if NULL */
    bool heavy;           /* runs on the heavy pool (long, CPU-bound work) */
};

struct http_config {
    const char *listen;            /* "HOST:PORT" */
    unsigned io_threads;           /* libmicrohttpd threads */
    unsigned workers;              /* handler threads */
    unsigned heavy_workers;        /* threads for heavy routes, so that
                                      cheap requests never wait behind them;
                                      0: heavy routes share the workers */
    unsigned max_queue;            /* requests waiting for a worker */
    unsigned max_connections;
    unsigned idle_timeout_s;       /* a connection idle this long closes */
    uint64_t max_body_bytes;       /* buffered routes */
    uint64_t max_header_bytes;     /* request line + headers */
    bool access_log;
};

struct http_server;

int http_server_start(const struct http_config *cfg,
                      const struct http_route *routes, size_t nroutes,
                      struct http_server **out, struct err *e);
/* Stops accepting, lets in-flight requests finish (up to grace_ms), then
 * closes every connection and joins every thread. */
void http_server_stop(struct http_server *s, int grace_ms);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *s);

/* Request accessors (valid during the handler). */
const char *http_header(const struct http_request *req, const char *name);
const char *http_query(const struct http_request *req, const char *name);

/* Responses. */
void http_reply_json(struct http_response *resp, int status);
void http_reply_error(struct http_response *resp, const struct err *e);
/* The same error, from a code and a message. */
void http_reply_errorf(struct http_response *resp, enum err_code code,
                       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prometheus text for the HTTP side (requests, latencies, connections). */
void http_metrics_write(struct http_server *s, struct buf *out);

#endif
