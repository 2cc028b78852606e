/*
 * fuzz_http.c - the whole HTTP request path: the real server (transport,
 * router, query strings, headers, every API handler) started once over a
 * real store on a loopback port, each input written as raw bytes to a new
 * TCP connection.
 *
 * The store holds a namespace, a bucket of sample objects and an API key
 * whose plain text (FUZZ_API_KEY) the seeds and the dictionary carry, so
 * inputs get past authentication. Inputs may delete or rename all of it:
 * the fixture is checked after every input and rebuilt when it is gone,
 * and everything is wiped every WIPE_EVERY inputs so the store stays
 * small.
 *
 * After writing, the target half-closes the connection and reads until
 * the server closes it or stays quiet (see read_answer). Property: the server
 * stays alive and answering (/healthz gives 200 within
 * HEALTH_TIMEOUT_MS every HEALTH_EVERY inputs). A crash or sanitizer
 * report in a server thread ends the process like one in the target.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "backend/backend.h"
#include "base/clock.h"
#include "fuzz_common.h"
#include "http/http.h"
#include "store/catalog.h"
#include "store/janitor.h"

/* TUNING: a handler over the sample bucket answers in a few milliseconds
 * even under ASan, and libmicrohttpd writes an answer in one go: 30 ms
 * without a first byte, or 10 ms of silence after some, means the server
 * is done with the input (a later pipelined answer may be missed, never
 * a crash). A health check that waits 5 s means a stuck server, not a
 * slow one. Health checks and wipes are cheap next to thousands of
 * inputs. */
#define WAIT_MS           30
#define QUIET_MS          10
#define HEALTH_TIMEOUT_MS 5000
#define HEALTH_EVERY      1000
#define WIPE_EVERY        5000

static struct store *store;
static unsigned port;
static unsigned runs;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* --- the fixture ------------------------------------------------------- */

static int key_write(struct store_txn *t, void *arg, struct err *e)
{
    bson_t rec, arr;
    unsigned char hash[CATALOG_KEY_HASH_BYTES];
    (void)arg;

    catalog_key_hash(store, FUZZ_API_KEY, strlen(FUZZ_API_KEY), hash);
    bson_init(&rec);
    BSON_APPEND_UTF8(&rec, "key_id", "key_fuzz");
    BSON_APPEND_UTF8(&rec, "prefix", "fuzz-ke");
    BSON_APPEND_UTF8(&rec, "label", "fuzzing");
    BSON_APPEND_ARRAY_BEGIN(&rec, "namespaces", &arr);
    bson_append_array_end(&rec, &arr);
    BSON_APPEND_DATE_TIME(&rec, "created_at", clock_now_ms());
    BSON_APPEND_NULL(&rec, "revoked_at");
    int rc = catalog_key_insert(t, &rec, hash, e);
    bson_destroy(&rec);
    return rc;
}

static bool fixture_present(void)
{
    struct store_txn t;
    struct catalog_ns ns;
    struct catalog_bucket b;
    struct err e;

    err_init(&e);
    FUZZ_ASSERT(store_read_begin(store, &t, &e) == 0, "read: %s", e.msg);
    bool ok = catalog_ns_find(&t, FUZZ_NAMESPACE, strlen(FUZZ_NAMESPACE), &ns,
                              &e) == 0 &&
              fuzz_bucket_find(&t, ns.id, FUZZ_BUCKET, &b) == 0;
    store_read_end(&t);
    err_release(&e);
    return ok;
}

static void fixture_make(void)
{
    char ns_id[IDS_MAX];

    fuzz_bucket_create(store, FUZZ_NAMESPACE, FUZZ_BUCKET, fuzz_sample_schema,
                       ns_id);
    fuzz_import_all(store, ns_id, FUZZ_BUCKET, fuzz_sample_ndjson());
}

/* TUNING: inputs make few namespaces between two wipes; past this many
 * the rest go at the next wipe. */
#define WIPE_MAX 256

struct wipe_ctx {
    char ids[WIPE_MAX][IDS_MAX];
    int n;
};

static int collect_ns(void *arg, const struct catalog_ns *ns)
{
    struct wipe_ctx *w = arg;

    if (w->n < WIPE_MAX)
        snprintf(w->ids[w->n++], IDS_MAX, "%s", ns->id);
    return 0;
}

static int wipe_write(struct store_txn *t, void *arg, struct err *e)
{
    struct wipe_ctx *w = arg;
    struct catalog_ns ns;

    w->n = 0;
    int rc = catalog_ns_each(t, collect_ns, w, e);
    for (int i = 0; rc == 0 && i < w->n; i++) {
        rc = catalog_ns_find(t, w->ids[i], strlen(w->ids[i]), &ns, e);
        if (rc == 0)
            rc = catalog_ns_delete(t, &ns, e);
    }
    return rc;
}

static int purge_write(struct store_txn *t, void *arg, struct err *e)
{
    return catalog_purge_step(t, 100000, arg, e);
}

static void wipe(void)
{
    static struct wipe_ctx w;
    struct err e;
    bool more = true;

    err_init(&e);
    int rc = store_write(store, wipe_write, &w, &e);
    while (rc == 0 && more)
        rc = store_write(store, purge_write, &more, &e);
    FUZZ_ASSERT(rc == 0, "cannot wipe the store: %s", e.msg);
    err_release(&e);
}

/* --- the server -------------------------------------------------------- */

static void start_server(void)
{
    static struct api_config api;
    struct http_config http = {.listen = "127.0.0.1:0",
                               .io_threads = 1,
                               .workers = 2,
                               .max_queue = 64,
                               .max_connections = 256,
                               .idle_timeout_s = 10,
                               .max_body_bytes = 256u << 10,
                               .max_header_bytes = 16u << 10};
    struct http_server *server;
    struct err e;
    size_t nroutes;
    int rc;

    api.store = store;
    api.limits = (struct api_limits){.max_object_bytes = 64u << 10,
                                     .max_import_bytes = 128u << 10,
                                     .max_import_rejects = 50,
                                     .max_batch_objects = 20,
                                     .json_max_depth = 32};
    api.query = (struct query_limits){.max_groups = 100,
                                      .max_memory_bytes = 256u << 10,
                                      .max_response_bytes = 1u << 20,
                                      .max_time_ms = 2000};
    err_init(&e);
    rc = backend_embedded_new(store, NULL, &api.backend, &e);
    FUZZ_ASSERT(rc == 0, "cannot make the backend: %s", e.msg);
    api_init(&api);
    const struct http_route *routes = api_routes(&nroutes);
    rc = http_server_start(&http, routes, nroutes, &server, &e);
    FUZZ_ASSERT(rc == 0, "cannot start the server: %s", e.msg);
    api_attach_server(server);
    api_set_ready(1);
    port = http_server_port(server);
    err_release(&e);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct err e;
    (void)argc, (void)argv;

    fuzz_quiet();
    signal(SIGPIPE, SIG_IGN);
    store = fuzz_store_open();
    err_init(&e);
    FUZZ_ASSERT(store_write(store, key_write, NULL, &e) == 0, "key: %s", e.msg);
    err_release(&e);
    fixture_make();
    FUZZ_ASSERT(janitor_start(store) == 0, "cannot start the janitor");
    start_server();
    return 0;
}

/* --- one exchange ------------------------------------------------------ */

static int connect_server(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_ASSERT(fd >= 0, "socket: %s", strerror(errno));
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    /* libFuzzer's timer signal may interrupt connect(), which then goes on
     * in the background: wait for it and read its outcome. */
    if (rc != 0 && errno == EINTR) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof(err);
        while (poll(&p, 1, HEALTH_TIMEOUT_MS) < 0 && errno == EINTR)
            continue;
        rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 ? err : -1;
        errno = err;
    }
    FUZZ_ASSERT(rc == 0, "cannot connect to the server: %s", strerror(errno));
    return fd;
}

/* Writes what the server takes; it may close early (a refused request),
 * which is an answer, not a failure. */
static void send_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        size -= (size_t)n;
    }
}

/* Reads until the server closes, or until it has been quiet for wait_ms
 * (before the first byte) or QUIET_MS (after it); the answer's first cap
 * bytes go to out and the count of all of them is returned. Waiting for
 * the close alone is not enough: libmicrohttpd does not always notice a
 * client's half-close that arrived together with the request, and then
 * keeps the connection until its idle timeout. */
static size_t read_answer(int fd, char *out, size_t cap, int wait_ms)
{
    size_t total = 0;
    char chunk[4096];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, total > 0 ? QUIET_MS : wait_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return total;
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return total;
        if (total < cap) {
            size_t keep = (size_t)n < cap - total ? (size_t)n : cap - total;
            memcpy(out + total, chunk, keep);
        }
        total += (size_t)n;
    }
}

static size_t exchange(const uint8_t *data, size_t size, char *out, size_t cap,
                       int wait_ms)
{
    int fd = connect_server();

    send_all(fd, data, size);
    shutdown(fd, SHUT_WR);
    size_t n = read_answer(fd, out, cap, wait_ms);
    /* Close with a reset: no TIME_WAIT, so ports are not used up at
     * thousands of connections a second, and the server drops its side
     * at once even when it missed the half-close. */
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
    return n;
}

static void check_health(void)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n\r\n";
    char answer[64] = {0};

    exchange((const uint8_t *)req, sizeof(req) - 1, answer, sizeof(answer) - 1,
             HEALTH_TIMEOUT_MS);
    FUZZ_ASSERT(strncmp(answer, "HTTP/1.1 200", 12) == 0,
                "/healthz answered: %.40s", answer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ignored[16];

    exchange(data, size, ignored, sizeof(ignored), WAIT_MS);
    runs++;
    if (runs % WIPE_EVERY == 0)
        wipe();
    if (runs % HEALTH_EVERY == 0)
        check_health();
    if (!fixture_present())
        fixture_make();
    return 0;
}
