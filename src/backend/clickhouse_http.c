/*
 * clickhouse_http.c - the connection to ClickHouse: one HTTP request per
 * query, with libcurl.
 *
 * Each thread keeps its own curl handle (a handle is not shared between
 * threads), so that its connection to the entry node stays open between
 * requests; the handle is freed when the thread ends. Settings travel as
 * URL parameters. A failed query answers an HTTP error status with
 * ClickHouse's exception text ("Code: 60, e.displayText() = ..."), which
 * becomes the error message; the code decides the error kind.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/clickhouse.h"
#include "base/clock.h"
#include "base/log.h"

/* TUNING: ten seconds to connect is long for a LAN and short enough that
 * a dead node is reported while the client still waits. */
#define CONNECT_TIMEOUT_MS 10000L
/* TUNING: queries without a configured time limit may run ten minutes
 * (an OPTIMIZE or a large import batch on a busy cluster). */
#define DEFAULT_TIMEOUT_MS 600000L

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t handle_key;
static _Thread_local CURL *thread_handle;

static void handle_free(void *h)
{
    curl_easy_cleanup(h);
}

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&handle_key, handle_free);
}

static CURL *handle(void)
{
    pthread_once(&curl_once, curl_setup);
    if (thread_handle == NULL) {
        thread_handle = curl_easy_init();
        if (thread_handle != NULL)
            pthread_setspecific(handle_key, thread_handle);
    }
    return thread_handle;
}

void ch_settings_add(struct ch_settings *s, const char *name,
                     const char *value)
{
    if (s->n + 2 <= (int)(sizeof(s->pairs) / sizeof(s->pairs[0]))) {
        s->pairs[s->n++] = name;
        s->pairs[s->n++] = value;
    }
}

/* A request body in parts, sent one after the other without copying. */
struct body {
    struct {
        const char *p;
        size_t n;
    } part[3];
};

static size_t body_read(char *out, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t room = size * n, done = 0;

    for (int i = 0; i < 3 && done < room; i++) {
        size_t take = b->part[i].n < room - done ? b->part[i].n : room - done;
        if (take == 0)
            continue;
        memcpy(out + done, b->part[i].p, take);
        b->part[i].p += take;
        b->part[i].n -= take;
        done += take;
    }
    return done;
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    buf_add(arg, p, size * n);
    return size * n;
}

static void add_param(struct buf *url, CURL *h, const char *name,
                      const char *value, size_t n)
{
    char *esc = curl_easy_escape(h, value, (int)n);
    bool first = url->len > 0 && url->data[url->len - 1] == '?';

    buf_addf(url, "%s%s=%s", first ? "" : "&", name, esc ? esc : "");
    curl_free(esc);
}

static void build_url(struct ch *ch, const struct ch_endpoint *ep, CURL *h,
                      const struct ch_settings *s, struct buf *url)
{
    buf_addf(url, "http://%s:%u/?", ep->host, ep->port);
    if (s == NULL || !s->no_database)
        add_param(url, h, "database", ch->db, strlen(ch->db));
    if (ch->user[0])
        add_param(url, h, "user", ch->user, strlen(ch->user));
    if (ch->password[0])
        add_param(url, h, "password", ch->password, strlen(ch->password));
    /* TUNING: reads use FINAL, which reads every part at once with a
     * buffer per column and part: 1 MiB buffers (the default) made a
     * 60-column filter over 44 parts need 2.6 GiB; 128 KiB costs little
     * on scans (parts are compressed in 64 KiB-1 MiB blocks). */
    add_param(url, h, "max_read_buffer_size", "131072", 6);
    for (int i = 0; s != NULL && i + 1 < s->n; i += 2)
        add_param(url, h, s->pairs[i], s->pairs[i + 1],
                  strlen(s->pairs[i + 1]));
}

int ch_error_code(const char *text)
{
    const char *p = text ? strstr(text, "Code: ") : NULL;

    return p ? atoi(p + 6) : 0;
}

/* ClickHouse's message without its wrapping: the text after
 * "DB::Exception: " up to the first ", e.what()" or line end. */
static void error_text(const char *body, char *out, size_t cap)
{
    const char *p = strstr(body, "DB::Exception: ");
    const char *start = p ? p + 15 : body;
    size_t n = strcspn(start, "\n");
    const char *what = strstr(start, ", e.what()");

    if (what != NULL && (size_t)(what - start) < n)
        n = (size_t)(what - start);
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), start);
}

static int query_error(int code, const char *body, struct err *e)
{
    char msg[240];

    error_text(body, msg, sizeof(msg));
    switch (code) {
    case 159: /* TIMEOUT_EXCEEDED */
    case 160: /* TOO_SLOW */
        return err_set(e, ERR_TIMEOUT,
                       "clickhouse stopped the query at its time limit "
                       "(max_time_ms); add a filter or a coarser key: %s",
                       msg);
    case 158: /* TOO_MANY_ROWS (max_rows_to_group_by) */
        return err_set(e, ERR_LIMIT,
                       "the request makes more than max_groups groups on "
                       "a shard; add a filter, group by fewer or coarser "
                       "keys, or raise --agg-max-groups");
    case 241: /* MEMORY_LIMIT_EXCEEDED */
        return err_set(e, ERR_LIMIT,
                       "clickhouse needs more memory than the query may use "
                       "(derived from max_memory_bytes); add a filter, "
                       "group by fewer keys or raise --agg-max-memory: %s",
                       msg);
    case 209: /* SOCKET_TIMEOUT */
    case 210: /* NETWORK_ERROR */
    case 279: /* ALL_CONNECTION_TRIES_FAILED */
        return err_set(e, ERR_UNAVAILABLE,
                       "a clickhouse shard is not reachable: %s", msg);
    default:
        return err_set(e, ERR_IO, "clickhouse error %d: %s", code, msg);
    }
}

int ch_query(struct ch *ch, const struct ch_endpoint *ep, const char *sql,
             const void *data, size_t data_len, const struct ch_settings *s,
             struct buf *out, struct err *e)
{
    CURL *h = handle();
    struct buf url = BUF_INIT, answer = BUF_INIT;
    long status = 0;
    int rc = 0;

    if (h == NULL)
        return err_set(e, ERR_NOMEM, "out of memory (curl handle)");
    if (ep == NULL)
        ep = &ch->entry;
    build_url(ch, ep, h, s, &url);

    /* No "Expect: 100-continue": ClickHouse does not answer it, and curl
     * would wait a second before each large body. */
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    /* With data: the statement, a newline, then the data, all in the
     * body (an INSERT naming hundreds of columns does not fit in a URL;
     * ClickHouse starts the data after the first newline that follows
     * FORMAT). */
    struct body b = {{{sql, strlen(sql)},
                      {"\n", data != NULL ? 1 : 0},
                      {data, data != NULL ? data_len : 0}}};
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, body_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &b);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(b.part[0].n + b.part[1].n + b.part[2].n));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     ch->lim.max_time_ms > 0
                         ? (long)ch->lim.max_time_ms + CONNECT_TIMEOUT_MS
                         : DEFAULT_TIMEOUT_MS);

    int64_t started = clock_mono_ns();
    CURLcode cc = curl_easy_perform(h);
    LOG_DEBUG("clickhouse query", "ms=%.1f bytes=%zu answer=%zu",
              (double)(clock_mono_ns() - started) / 1e6,
              data != NULL ? data_len : strlen(sql), answer.len);
    if (getenv("TALLY_CH_DUMP") != NULL && data == NULL) {
        FILE *f = fopen(getenv("TALLY_CH_DUMP"), "a");
        if (f != NULL) {
            fprintf(f, "%s\n;;\n", sql);
            fclose(f);
        }
    }
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (url.oom || answer.oom) {
        rc = err_set(e, ERR_NOMEM, "out of memory talking to clickhouse");
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = err_set(e, ERR_TIMEOUT,
                     "clickhouse at %s:%u did not answer in time", ep->host,
                     ep->port);
    } else if (cc != CURLE_OK) {
        rc = err_set(e, ERR_UNAVAILABLE, "clickhouse at %s:%u: %s", ep->host,
                     ep->port, curl_easy_strerror(cc));
    } else if (status != 200) {
        char q[200];
        rc = query_error(ch_error_code(answer.data ? answer.data : ""),
                         answer.data ? answer.data : "", e);
        LOG_WARN("clickhouse query failed", "status=%ld error=%s", status,
                 log_quote(q, sizeof(q), e->msg, strlen(e->msg)));
    } else if (out != NULL) {
        buf_add(out, answer.data ? answer.data : "", answer.len);
    }
    curl_slist_free_all(headers);
    buf_release(&url);
    buf_release(&answer);
    return rc;
}
