/*
 * server.c - the request life cycle on top of libmicrohttpd.
 *
 * libmicrohttpd calls on_request() several times per request: once when
 * the headers are in, once per piece of body, and once more when the body
 * is complete. A buffered route's body is collected (up to
 * max_body_bytes); then the connection is suspended and the handler runs
 * on a worker; when it is done the worker resumes the connection and the
 * next call queues the response. A streamed route gets its pieces as they
 * arrive. Errors found before the body is read (unknown route, body too
 * large by its Content-Length, refused stream) are answered at once.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/workq.h"
#include "http/http.h"
#include "http/internal.h"

struct http_conn {
    struct http_server *srv;
    struct MHD_Connection *mhd;
    struct http_request req;
    struct http_response resp;
    int route;                 /* index, or -1 */
    struct buf body;
    char *path;                /* owned copy, split into params */
    bool too_large;
    bool resp_ready;           /* resp holds the answer */
    bool queued;               /* handed to a worker */
    struct http_pipe *pipe;  /* streamed routes */
    int64_t start_ns;
    uint64_t bytes_in;
    size_t bytes_out;
};

struct http_server {
    struct http_config cfg;
    const struct http_route *routes;
    size_t nroutes;
    struct MHD_Daemon *daemon;
    struct workq *workers;
    struct workq *heavy;       /* heavy routes, or NULL */
    unsigned port;
    _Atomic long inflight;
    _Atomic uint64_t next_id;
    struct http_metrics metrics;
};

static enum MHD_Result queue_response(struct http_conn *c)
{
    struct http_response *r = &c->resp;
    size_t len;

    if (r->body.oom) {
        buf_release(&r->body);
        http_reply_errorf(r, ERR_NOMEM, "out of memory writing the response");
    }
    char *data = buf_detach(&r->body, &len);
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (mr == NULL) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type",
                            r->content_type ? r->content_type
                                            : "application/json");
    MHD_add_response_header(mr, "X-Request-Id", c->req.id);
    if (r->status == 405)
        MHD_add_response_header(mr, "Allow",
                                http_router_allowed(c->srv->routes,
                                                    c->srv->nroutes,
                                                    c->req.path));
    enum MHD_Result ok = MHD_queue_response(c->mhd, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    c->bytes_out = len;
    return ok;
}

static void run_handler(void *arg)
{
    struct http_conn *c = arg;
    const struct http_route *route = &c->srv->routes[c->route];

    c->req.body = c->body.data ? c->body.data : "";
    c->req.body_len = c->body.len;
    route->handler(&c->req, &c->resp);
    c->resp_ready = true;
    MHD_resume_connection(c->mhd);
}

static struct http_conn *conn_new(struct http_server *srv,
                                  struct MHD_Connection *mhd, const char *url,
                                  const char *method)
{
    struct http_conn *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->path = strdup(url)) == NULL) {
        free(c);
        return NULL;
    }
    c->srv = srv;
    c->mhd = mhd;
    c->start_ns = clock_mono_ns();
    c->req.conn = c;
    c->req.method = method;
    c->req.path = url;
    snprintf(c->req.id, sizeof(c->req.id), "req_%llx",
             (unsigned long long)atomic_fetch_add(&srv->next_id, 1));
    c->resp.status = 200;
    atomic_fetch_add(&srv->inflight, 1);
    return c;
}

static void conn_free(struct http_conn *c)
{
    http_pipe_free(c->pipe);
    buf_release(&c->body);
    buf_release(&c->resp.body);
    free(c->path);
    free(c);
}

/* The body will not fit: say so before reading it. */
static bool declared_too_large(struct http_conn *c)
{
    const char *cl = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND,
                                                 "Content-Length");
    uint64_t max = c->srv->cfg.max_body_bytes;

    return cl != NULL && max > 0 && strtoull(cl, NULL, 10) > max;
}

static void reply_too_large(struct http_conn *c)
{
    http_reply_errorf(&c->resp, ERR_TOO_LARGE,
                      "request body is larger than max_body_bytes (%llu "
                      "bytes); send less per request or raise "
                      "--max-body-bytes",
                      (unsigned long long)c->srv->cfg.max_body_bytes);
    c->resp_ready = true;
}

/* The pool a request runs on: heavy routes have their own, so that an
 * aggregation load never holds up creates, reads and lists. */
static struct workq *pool_of(struct http_server *srv,
                            const struct http_conn *c)
{
    if (srv->heavy != NULL && c->route >= 0 && srv->routes[c->route].heavy)
        return srv->heavy;
    return srv->workers;
}

/* First call: route the request and decide whether to read its body. */
static void on_headers(struct http_conn *c)
{
    struct http_server *srv = c->srv;
    bool method_mismatch = false;

    c->route = http_router_match(srv->routes, srv->nroutes, c->req.method,
                                 c->path, c->req.params, &c->req.param_count,
                                 &method_mismatch);
    if (c->route < 0) {
        if (method_mismatch) {
            c->route = -2;
            http_reply_errorf(&c->resp, ERR_METHOD,
                              "method %s is not allowed on %s",
                              c->req.method, c->req.path);
        } else {
            http_reply_errorf(&c->resp, ERR_NOT_FOUND, "no route for %s %s",
                              c->req.method, c->req.path);
        }
        c->resp_ready = true;
        return;
    }

    const struct http_route *route = &srv->routes[c->route];
    if (route->stream != NULL) {
        void *state = NULL;
        if (route->stream->begin(&c->req, &state, &c->resp) != 0) {
            route->stream->abort(state);
            c->resp_ready = true;
        } else if (http_pipe_start(c->mhd, route->stream, state, &c->resp,
                                   &c->resp_ready, srv->workers,
                                   &c->pipe) != 0) {
            route->stream->abort(state);
            http_reply_errorf(&c->resp, ERR_NOMEM, "out of memory");
            c->resp_ready = true;
        }
        return;
    }
    if (declared_too_large(c))
        reply_too_large(c);
}

/* Takes body bytes; returns how many were taken (a streamed body may
 * take fewer: its connection is then suspended). */
static size_t on_body(struct http_conn *c, const char *data, size_t n)
{
    if (c->pipe != NULL) {
        /* The pipe knows, under its lock, whether the answer is ready. */
        size_t taken = http_pipe_offer(c->pipe, data, n);
        c->bytes_in += taken;
        return taken;
    }
    c->bytes_in += n;
    if (c->resp_ready)
        return n; /* already answered: discard */
    if (c->body.len + n > c->srv->cfg.max_body_bytes) {
        buf_release(&c->body);
        reply_too_large(c);
        return n;
    }
    buf_add(&c->body, data, n);
    return n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mhd,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_conn *c = *con_cls;
    (void)version;

    if (c == NULL) {
        c = conn_new(srv, mhd, url, method);
        if (c == NULL)
            return MHD_NO;
        *con_cls = c;
        on_headers(c);
        return c->resp_ready ? queue_response(c) : MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size -= on_body(c, upload, *upload_size);
        return MHD_YES;
    }
    if (c->resp_ready)
        return queue_response(c);
    if (c->pipe != NULL)
        return http_pipe_finish(c->pipe) ? queue_response(c) : MHD_YES;
    if (c->queued)
        return MHD_YES; /* spurious wake-up while the worker runs */

    c->queued = true;
    MHD_suspend_connection(mhd);
    if (workq_submit(pool_of(srv, c), run_handler, c) != 0) {
        http_reply_errorf(&c->resp, ERR_UNAVAILABLE,
                          "server busy: %zu requests already wait for a "
                          "worker (limit max_queue); retry later",
                          (size_t)srv->cfg.max_queue);
        c->resp_ready = true;
        MHD_resume_connection(mhd);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *mhd,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_conn *c = *con_cls;
    (void)mhd;

    if (c == NULL)
        return;
    double ms = (double)(clock_mono_ns() - c->start_ns) / 1e6;
    int status = c->resp_ready ? c->resp.status : 499;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && status < 400)
        status = 499; /* the client went away before the answer */
    http_metrics_count(&srv->metrics, c->route, status, ms);

    if (log_access_enabled) {
        char path[300], method[40];
        /* Both come from the client: libmicrohttpd passes any bytes but
         * spaces in the method too. */
        log_quote(path, sizeof(path), c->req.path, strlen(c->req.path));
        log_quote(method, sizeof(method), c->req.method,
                  strlen(c->req.method));
        log_access("id=%s method=%s path=%s status=%d in=%llu out=%zu "
                   "ms=%.2f",
                   c->req.id, method, path, status,
                   (unsigned long long)c->bytes_in, c->bytes_out, ms);
    }
    conn_free(c);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    char quoted[600];
    LOG_DEBUG("http transport", "detail=%s",
              log_quote(quoted, sizeof(quoted), msg, strlen(msg)));
}

/* --- start and stop ---------------------------------------------------- */

static int resolve_listen(const char *listen, struct sockaddr_storage *ss,
                          struct err *e)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res;

    if (colon == NULL || colon == listen ||
        (size_t)(colon - listen) >= sizeof(host))
        return err_set(e, ERR_BAD_REQUEST,
                       "--listen %s: expected HOST:PORT", listen);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return err_set(e, ERR_BAD_REQUEST, "--listen %s: cannot resolve",
                       listen);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int http_server_start(const struct http_config *cfg,
                      const struct http_route *routes, size_t nroutes,
                      struct http_server **out, struct err *e)
{
    struct sockaddr_storage ss;
    struct http_server *srv = calloc(1, sizeof(*srv));

    *out = NULL;
    if (srv == NULL)
        return err_set(e, ERR_NOMEM, "out of memory starting the server");
    srv->cfg = *cfg;
    srv->routes = routes;
    srv->nroutes = nroutes;
    int rc = resolve_listen(cfg->listen, &ss, e);
    if (rc == 0)
        rc = http_metrics_init(&srv->metrics, nroutes);
    if (rc == 0 && workq_start(cfg->workers, cfg->max_queue, "tally-worker",
                               &srv->workers) != 0)
        rc = err_set(e, ERR_IO, "cannot start %u worker threads",
                     cfg->workers);
    if (rc == 0 && cfg->heavy_workers > 0 &&
        workq_start(cfg->heavy_workers, cfg->max_queue, "tally-heavy",
                    &srv->heavy) != 0)
        rc = err_set(e, ERR_IO, "cannot start %u heavy worker threads",
                     cfg->heavy_workers);
    if (rc != 0) {
        http_server_stop(srv, 0);
        return rc;
    }

    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_THREAD_POOL_SIZE, cfg->io_threads,
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->max_header_bytes,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        http_server_stop(srv, 0);
        return err_set(e, ERR_IO,
                       "cannot listen on %s (address in use, or not "
                       "allowed)",
                       cfg->listen);
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    *out = srv;
    return 0;
}

void http_server_stop(struct http_server *s, int grace_ms)
{
    if (s == NULL)
        return;
    if (s->daemon != NULL) {
        MHD_quiesce_daemon(s->daemon);
        for (int waited = 0; atomic_load(&s->inflight) > 0 && waited < grace_ms;
             waited += 10)
            usleep(10000);
        MHD_stop_daemon(s->daemon);
    }
    workq_stop(s->workers);
    workq_stop(s->heavy);
    http_metrics_release(&s->metrics);
    free(s);
}

unsigned http_server_port(const struct http_server *s)
{
    return s->port;
}

const char *http_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn->mhd, MHD_HEADER_KIND, name);
}

const char *http_query(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn->mhd, MHD_GET_ARGUMENT_KIND,
                                       name);
}

void http_metrics_write(struct http_server *s, struct buf *out)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(
        s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

    buf_addf(out,
             "# HELP tally_http_connections Open client connections.\n"
             "# TYPE tally_http_connections gauge\n"
             "tally_http_connections %u\n",
             info ? info->num_connections : 0);
    buf_addf(out,
             "# HELP tally_http_queued Requests waiting for a worker.\n"
             "# TYPE tally_http_queued gauge\n"
             "tally_http_queued{pool=\"workers\"} %zu\n"
             "tally_http_queued{pool=\"heavy\"} %zu\n",
             workq_queued(s->workers),
             s->heavy ? workq_queued(s->heavy) : (size_t)0);
    http_metrics_render(&s->metrics, s->routes, s->nroutes, out);
}
