/*
 * import.c - POST /v1/buckets/{bucket}/objects/import: an NDJSON body,
 * streamed into the importer as it arrives (never held whole).
 *
 * Authentication and the bucket are settled with the headers, before any
 * of the body is read; the answer comes after the last line: counts and
 * the line number and reason of every rejected line.
 */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/clock.h"

struct import_state {
    struct api_ctx c;
    struct backend_import *im;
    int64_t start_ns;
    int stopped;             /* the error that stopped the import */
};

static int import_begin(const struct http_request *req, void **state,
                        struct http_response *resp)
{
    struct import_state *st = calloc(1, sizeof(*st));
    struct importer_config cfg = {
        .max_object_bytes = api.limits.max_object_bytes,
        .max_rejects = api.limits.max_import_rejects,
        .json_max_depth = api.limits.json_max_depth};

    *state = st;
    if (st == NULL) {
        http_reply_errorf(resp, ERR_NOMEM, "out of memory");
        return -1;
    }
    st->start_ns = clock_mono_ns();
    int rc = api_begin(&st->c, req, resp, API_NEED_NAMESPACE);
    if (rc == 0) {
        struct backend_req br = api_backend_req(&st->c);
        rc = backend_import_new(api.backend, &br, &cfg, &st->im, &st->c.err);
        if (rc != 0)
            api_fail(&st->c, rc);
    }
    /* A long import must not pin an old snapshot. */
    api_drop_snapshot(&st->c);
    return rc;
}

static int import_data(void *state, const char *p, size_t n)
{
    struct import_state *st = state;
    uint64_t max = api.limits.max_import_bytes;

    if (max == 0 || backend_import_stats(st->im)->bytes + n <= max) {
        st->stopped = backend_import_feed(st->im, p, n, &st->c.err);
        return st->stopped;
    }

    /* The lines that arrived before the limit are kept, as the answer
     * says; this piece and the rest are not read. */
    st->stopped = backend_import_drain(st->im, &st->c.err);
    if (st->stopped == 0)
        st->stopped = err_set(&st->c.err, ERR_TOO_LARGE,
                              "import body is larger than max_import_bytes "
                              "(%llu); split the file or raise "
                              "--max-import-bytes",
                              (unsigned long long)max);
    return st->stopped;
}

static void write_counts(struct jw *w, const struct backend_import *im,
                         double ms)
{
    const struct importer_stats *s = backend_import_stats(im);

    jw_key(w, "bucket_id");
    jw_string(w, backend_import_bucket_id(im));
    jw_key(w, "lines");
    jw_int(w, (int64_t)s->lines);
    jw_key(w, "imported");
    jw_int(w, (int64_t)s->imported);
    jw_key(w, "rejected");
    jw_int(w, (int64_t)s->rejected);
    jw_key(w, "elapsed_ms");
    jw_double(w, ms);
}

static void write_rejections(struct jw *w, struct backend_import *im)
{
    size_t n;
    const struct importer_reject *r = backend_import_rejects(im, &n);

    jw_key(w, "rejections");
    jw_array_begin(w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(w);
        jw_key(w, "line");
        jw_int(w, (int64_t)r[i].line);
        jw_key(w, "error");
        jw_string(w, r[i].error);
        jw_key(w, "error_type");
        jw_string(w, r[i].type);
        jw_object_end(w);
    }
    jw_array_end(w);
}

/* An import stopped by a limit or a store error answers that error, with
 * the counts so far in its details: lines before it were kept. */
static void answer_stopped(struct import_state *st, struct http_response *resp,
                           double ms)
{
    struct jw w;
    enum err_code code = st->c.err.code ? st->c.err.code : ERR_INTERNAL;

    buf_reset(&resp->body);
    jw_init(&w, &resp->body);
    jw_object_begin(&w);
    jw_key(&w, "success");
    jw_bool(&w, false);
    jw_key(&w, "status");
    jw_int(&w, err_http_status(code));
    jw_key(&w, "error");
    jw_object_begin(&w);
    jw_key(&w, "message");
    jw_string(&w, st->c.err.msg);
    jw_key(&w, "type");
    jw_string(&w, err_type_name(code));
    jw_key(&w, "details");
    jw_object_begin(&w);
    write_counts(&w, st->im, ms);
    write_rejections(&w, st->im);
    jw_object_end(&w);
    jw_object_end(&w);
    jw_object_end(&w);
    resp->status = err_http_status(code);
}

static void import_end(void *state, struct http_response *resp)
{
    struct import_state *st = state;
    struct jw w;

    if (st->stopped == 0)
        st->stopped = backend_import_finish(st->im, &st->c.err);
    double ms = (double)(clock_mono_ns() - st->start_ns) / 1e6;
    const struct importer_stats *s = backend_import_stats(st->im);
    atomic_fetch_add(&api.objects_written, s->imported);
    atomic_fetch_add(&api.objects_rejected, s->rejected);

    if (st->stopped != 0) {
        answer_stopped(st, resp, ms);
    } else {
        jw_init(&w, &resp->body);
        jw_object_begin(&w);
        jw_key(&w, "success");
        jw_bool(&w, true);
        write_counts(&w, st->im, ms);
        write_rejections(&w, st->im);
        jw_object_end(&w);
        http_reply_json(resp, 200);
    }
    backend_import_free(st->im);
    api_end(&st->c);
    free(st);
}

static void import_abort(void *state)
{
    struct import_state *st = state;

    if (st == NULL)
        return;
    backend_import_free(st->im);
    api_end(&st->c);
    free(st);
}

const struct http_stream_ops api_import_ops = {
    .begin = import_begin,
    .data = import_data,
    .end = import_end,
    .abort = import_abort,
};
