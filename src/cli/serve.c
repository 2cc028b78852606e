/*
 * serve.c - `tally serve`: the HTTP API over the embedded store, or with
 * --backend clickhouse://..., over a ClickHouse cluster for the objects
 * (the catalog stays in --data; docs/clickhouse.md).
 *
 * Start: open the store, make a first API key when there is none (printed
 * once), start the purge thread and the HTTP front, answer /healthz.
 * SIGTERM or SIGINT: stop accepting, let requests in flight finish, close
 * the store cleanly.
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "backend/backend.h"
#include "base/log.h"
#include "cli/cli.h"
#include "store/catalog.h"
#include "store/janitor.h"
#include "query/vexec.h"

static const char usage[] =
    "tally serve [--data DIR] [--listen HOST:PORT] [options]\n"
    "  --data DIR                 data folder (./data)\n"
    "  --backend URL              where objects live: embedded (default) or\n"
    "                             clickhouse://HOST:PORT/DB?cluster=NAME\n"
    "  --listen HOST:PORT         address (127.0.0.1:8080)\n"
    "  --io-threads N             HTTP I/O threads (2)\n"
    "  --workers N                request handler threads (4)\n"
    "  --agg-workers N            threads that run aggregations, apart from\n"
    "                             the workers (2; 0: on the workers)\n"
    "  --max-queue N              requests waiting for a worker (1024)\n"
    "  --max-connections N        open connections (20000)\n"
    "  --idle-timeout SECONDS     close idle connections (60)\n"
    "  --max-body-bytes SIZE      request body (64M)\n"
    "  --max-header-bytes SIZE    request line and headers (64K)\n"
    "  --max-object-bytes SIZE    one stored object (16M)\n"
    "  --max-batch-objects N      objects per batch request (1000)\n"
    "  --max-import-bytes SIZE    one import body (0: no limit)\n"
    "  --max-import-rejects N     rejected lines before an import stops "
    "(100000)\n"
    "  --max-json-depth N         nesting of request JSON (64)\n"
    "  --max-store-size SIZE      the store's size limit (1T)\n"
    "  --agg-max-groups N         groups per aggregation (1000000)\n"
    "  --agg-max-memory SIZE      collected values per aggregation (256M)\n"
    "  --agg-max-response-bytes SIZE  aggregation answer (64M)\n"
    "  --agg-max-time-ms N        aggregation run time (30000)\n"
    "  --cache-budget SIZE        column cache memory (a third of RAM, at "
    "most 8G; 0 turns the cache off)\n"
    "  --engine-threads N         threads per aggregation (cores)\n"
    "  --log-level LEVEL          debug, info, warn, error (info)\n"
    "  --access-log               one line per request on stdout";

struct serve_opts {
    const char *data;
    const char *backend;
    struct store_config store;
    struct http_config http;
    struct api_config api;
    struct colcache_config cache;
    unsigned engine_threads;
};

static void defaults(struct serve_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->data = "./data";
    o->http = (struct http_config){
        .listen = "127.0.0.1:8080", .io_threads = 2, .workers = 4,
        .heavy_workers = 2,
        .max_queue = 1024, .max_connections = 20000, .idle_timeout_s = 60,
        .max_body_bytes = 64u << 20, .max_header_bytes = 64u << 10};
    o->api.limits = (struct api_limits){
        .max_object_bytes = API_DEFAULT_MAX_OBJECT_BYTES,
        .max_import_rejects = API_DEFAULT_MAX_IMPORT_REJECTS,
        .max_batch_objects = API_DEFAULT_MAX_BATCH_OBJECTS,
        .json_max_depth = 64};
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t third = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 3
                                           : COLCACHE_DEFAULT_BUDGET;
    o->cache.budget_bytes = third < COLCACHE_DEFAULT_BUDGET
                                ? third
                                : COLCACHE_DEFAULT_BUDGET;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->engine_threads = cores > 0 ? (unsigned)cores : 1;
    o->api.query = (struct query_limits){
        .max_groups = QUERY_DEFAULT_MAX_GROUPS,
        .max_memory_bytes = QUERY_DEFAULT_MAX_MEMORY,
        .max_response_bytes = QUERY_DEFAULT_MAX_RESPONSE,
        .max_time_ms = QUERY_DEFAULT_MAX_TIME_MS};
}

enum {
    OPT_DATA = 256, OPT_LISTEN, OPT_IO, OPT_WORKERS, OPT_QUEUE, OPT_CONNS,
    OPT_IDLE, OPT_BODY, OPT_HEADER, OPT_OBJECT, OPT_BATCH, OPT_IMPORT,
    OPT_REJECTS, OPT_DEPTH, OPT_STORE, OPT_GROUPS, OPT_MEMORY, OPT_RESPONSE,
    OPT_TIME, OPT_LOG, OPT_ACCESS, OPT_CACHE, OPT_THREADS, OPT_BACKEND,
    OPT_AGG_WORKERS
};

static const struct option options[] = {
    {"data", required_argument, 0, OPT_DATA},
    {"backend", required_argument, 0, OPT_BACKEND},
    {"listen", required_argument, 0, OPT_LISTEN},
    {"io-threads", required_argument, 0, OPT_IO},
    {"workers", required_argument, 0, OPT_WORKERS},
    {"agg-workers", required_argument, 0, OPT_AGG_WORKERS},
    {"max-queue", required_argument, 0, OPT_QUEUE},
    {"max-connections", required_argument, 0, OPT_CONNS},
    {"idle-timeout", required_argument, 0, OPT_IDLE},
    {"max-body-bytes", required_argument, 0, OPT_BODY},
    {"max-header-bytes", required_argument, 0, OPT_HEADER},
    {"max-object-bytes", required_argument, 0, OPT_OBJECT},
    {"max-batch-objects", required_argument, 0, OPT_BATCH},
    {"max-import-bytes", required_argument, 0, OPT_IMPORT},
    {"max-import-rejects", required_argument, 0, OPT_REJECTS},
    {"max-json-depth", required_argument, 0, OPT_DEPTH},
    {"max-store-size", required_argument, 0, OPT_STORE},
    {"agg-max-groups", required_argument, 0, OPT_GROUPS},
    {"agg-max-memory", required_argument, 0, OPT_MEMORY},
    {"agg-max-response-bytes", required_argument, 0, OPT_RESPONSE},
    {"agg-max-time-ms", required_argument, 0, OPT_TIME},
    {"log-level", required_argument, 0, OPT_LOG},
    {"access-log", no_argument, 0, OPT_ACCESS},
    {"cache-budget", required_argument, 0, OPT_CACHE},
    {"engine-threads", required_argument, 0, OPT_THREADS},
    {0, 0, 0, 0}};

/* Reads one numeric option into its field; false when malformed. */
static bool numeric_option(struct serve_opts *o, int opt, const char *arg)
{
    uint64_t v;
    bool size = opt == OPT_BODY || opt == OPT_HEADER || opt == OPT_OBJECT ||
                opt == OPT_IMPORT || opt == OPT_STORE || opt == OPT_MEMORY ||
                opt == OPT_RESPONSE || opt == OPT_CACHE;

    if (!(size ? cli_parse_size(arg, &v) : cli_parse_uint(arg, &v)))
        return false;
    switch (opt) {
    case OPT_IO: o->http.io_threads = (unsigned)v; return v > 0;
    case OPT_WORKERS: o->http.workers = (unsigned)v; return v > 0;
    case OPT_AGG_WORKERS: o->http.heavy_workers = (unsigned)v; return true;
    case OPT_QUEUE: o->http.max_queue = (unsigned)v; return true;
    case OPT_CONNS: o->http.max_connections = (unsigned)v; return v > 0;
    case OPT_IDLE: o->http.idle_timeout_s = (unsigned)v; return true;
    case OPT_BODY: o->http.max_body_bytes = v; return v > 0;
    case OPT_HEADER: o->http.max_header_bytes = v; return v >= 4096;
    case OPT_OBJECT: o->api.limits.max_object_bytes = v; return v > 0;
    case OPT_BATCH: o->api.limits.max_batch_objects = (unsigned)v; return v;
    case OPT_IMPORT: o->api.limits.max_import_bytes = v; return true;
    case OPT_REJECTS: o->api.limits.max_import_rejects = v; return true;
    case OPT_DEPTH: o->api.limits.json_max_depth = (int)v; return v > 0;
    case OPT_STORE: o->store.max_size_bytes = v; return v > 0;
    case OPT_GROUPS: o->api.query.max_groups = v; return true;
    case OPT_MEMORY: o->api.query.max_memory_bytes = v; return true;
    case OPT_RESPONSE: o->api.query.max_response_bytes = v; return true;
    case OPT_TIME: o->api.query.max_time_ms = v; return true;
    case OPT_CACHE: o->cache.budget_bytes = v; return true;
    case OPT_THREADS: o->engine_threads = (unsigned)v; return v > 0;
    default: return false;
    }
}

static int parse(int argc, char **argv, struct serve_opts *o)
{
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_DATA) {
            o->data = optarg;
        } else if (opt == OPT_BACKEND) {
            o->backend = optarg;
        } else if (opt == OPT_LISTEN) {
            o->http.listen = optarg;
        } else if (opt == OPT_LOG) {
            int level = log_level_parse(optarg);
            if (level < 0)
                return cli_usage(usage);
            log_threshold = (enum log_level)level;
        } else if (opt == OPT_ACCESS) {
            log_access_enabled = true;
        } else if (!numeric_option(o, opt, optarg)) {
            fprintf(stderr, "tally: bad value for an option: %s\n",
                    optarg ? optarg : "?");
            return cli_usage(usage);
        }
    }
    return optind == argc ? 0 : cli_usage(usage);
}

static int first_key(struct store *s)
{
    struct store_txn t;
    struct err e;
    char key[64], id[32];

    err_init(&e);
    if (store_read_begin(s, &t, &e) != 0)
        return cli_fail(&e);
    uint64_t n = catalog_key_count(&t);
    store_read_end(&t);
    if (n > 0)
        return 0;
    if (cli_create_key(s, NULL, 0, "first key", key, id, &e) != 0)
        return cli_fail(&e);
    printf("created the first API key %s for every namespace; it is shown "
           "once, keep it:\napi_key: %s\n",
           id, key);
    fflush(stdout);
    return 0;
}

static int wait_for_signal(const sigset_t *set)
{
    int sig = 0;
    sigwait(set, &sig);
    return sig;
}

/* The column cache and the threads that help aggregations (the handler
 * thread is one of them); both off when the budget is 0. */
static int start_columns(struct serve_opts *o, struct store *store,
                         struct vexec_env *env)
{
    memset(env, 0, sizeof(*env));
    if (o->cache.budget_bytes == 0)
        return 0;
    if (colcache_new(store, &o->cache, &env->cc) != 0)
        return 1;
    if (o->engine_threads > 1 &&
        workq_start(o->engine_threads - 1, 0, "tally-engine",
                    &env->workers) != 0)
        return 1;
    o->api.columns = env;
    return 0;
}

static void stop_columns(struct vexec_env *env)
{
    workq_stop(env->workers);
    colcache_free(env->cc);
}

static bool embedded_backend(const struct serve_opts *o)
{
    return o->backend == NULL || strcmp(o->backend, "embedded") == 0;
}

/* The object repository; the column cache serves the embedded one only. */
static int start_backend(struct serve_opts *o, struct store *store,
                         struct vexec_env *columns, struct backend **out)
{
    struct err e;
    int rc;

    err_init(&e);
    memset(columns, 0, sizeof(*columns));
    if (embedded_backend(o)) {
        if (start_columns(o, store, columns) != 0)
            return 1;
        rc = backend_embedded_new(store, o->api.columns, out, &e);
    } else {
        rc = backend_clickhouse_new(store, o->backend, &o->api.query, out,
                                    &e);
    }
    return rc != 0 ? cli_fail(&e) : 0;
}

/* TUNING: descriptors the server holds besides client connections: the
 * store's files, the listening socket, an epoll and a wake-up pipe per
 * I/O thread, the worker queues; counted 20 with 2 I/O threads, doubled
 * and rounded up for more threads and headroom. */
#define FD_RESERVE 64

/* Every connection holds a descriptor. Lifts the soft limit on open files
 * as far as --max-connections needs (and the hard limit allows); when
 * even that is short, says so and lowers max_connections to what the
 * limit leaves, so that the limit in force is the one configured and
 * reported rather than accept() failing. */
static void fit_fd_limit(struct http_config *http)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)http->max_connections + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want
                          ? want
                          : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return;

    unsigned fit = rl.rlim_cur > 2 * FD_RESERVE
                       ? (unsigned)(rl.rlim_cur - FD_RESERVE)
                       : (unsigned)(rl.rlim_cur / 2);
    LOG_WARN("open file limit below max_connections",
             "max_connections=%u open_file_limit=%llu using=%u "
             "fix=\"raise the hard limit (ulimit -Hn, LimitNOFILE=) or "
             "lower --max-connections\"",
             http->max_connections, (unsigned long long)rl.rlim_cur, fit);
    http->max_connections = fit;
}

static int run(struct serve_opts *o, const sigset_t *set)
{
    struct store *store;
    struct http_server *server;
    struct vexec_env columns;
    struct backend *backend = NULL;
    struct err e;
    size_t nroutes;

    err_init(&e);
    memset(&columns, 0, sizeof(columns));
    if (cli_open_store(o->data, &o->store, &store) != 0)
        return 1;
    if (first_key(store) != 0 ||
        start_backend(o, store, &columns, &backend) != 0 ||
        janitor_start(store) != 0) {
        backend_free(backend);
        stop_columns(&columns);
        store_close(store);
        return 1;
    }
    o->api.store = store;
    o->api.backend = backend;
    api_init(&o->api);
    const struct http_route *routes = api_routes(&nroutes);
    if (http_server_start(&o->http, routes, nroutes, &server, &e) != 0) {
        janitor_stop();
        backend_free(backend);
        stop_columns(&columns);
        store_close(store);
        return cli_fail(&e);
    }
    api_attach_server(server);
    api_set_ready(1);
    LOG_INFO("serving", "listen=%s port=%u data=%s backend=%s workers=%u",
             o->http.listen, http_server_port(server), o->data,
             backend_name(backend), o->http.workers);

    int sig = wait_for_signal(set);
    LOG_INFO("stopping", "signal=%d", sig);
    api_set_ready(0);
    http_server_stop(server, 30000);
    janitor_stop();
    backend_free(backend);
    stop_columns(&columns);
    store_close(store);
    LOG_INFO("stopped", "data=%s", o->data);
    return 0;
}

int cli_serve(int argc, char **argv)
{
    struct serve_opts o;
    sigset_t set;

    if (cli_wants_help(argc, argv, usage))
        return 0;

    defaults(&o);
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc;

    /* TUNING: aggregations allocate and free tens of megabytes per
     * request; keeping that memory in the heap (rather than giving it back
     * to the kernel and faulting it in again) measured 10-20% faster. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);

    /* Every thread inherits this mask: only sigwait() sees the signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    fit_fd_limit(&o.http);
    return run(&o, &set);
}
