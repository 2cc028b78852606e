#include "store/importer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "json/json.h"
#include "store/catalog.h"
#include "store/ingest.h"

#define UNIQUE_FIELDS_MAX 16

struct pending {
    uint64_t line;
    size_t offset;           /* of its BSON document in batch */
};

struct importer {
    struct store *store;
    struct importer_config cfg;
    char bucket_id[IDS_MAX];
    char ns_id[IDS_MAX];
    char policy[16];
    bool has_policy;

    struct buf partial;      /* an incomplete line carried over */
    bool skipping;           /* inside a line that is too long */
    uint64_t line_no;

    struct buf batch;        /* BSON documents back to back */
    struct pending *pending;
    size_t npending;

    struct importer_reject *rejects;
    size_t nrejects, cap_rejects;
    struct importer_stats stats;
};

/* --- rejections -------------------------------------------------------- */

static int reject(struct importer *im, uint64_t line, enum err_code code,
                  const char *msg)
{
    im->stats.rejected++;
    if (im->nrejects == im->cap_rejects) {
        size_t cap = im->cap_rejects ? im->cap_rejects * 2 : 64;
        struct importer_reject *r = realloc(im->rejects, cap * sizeof(*r));
        if (r == NULL)
            return ERR_NOMEM;
        im->rejects = r;
        im->cap_rejects = cap;
    }
    char *copy = strdup(msg);
    if (copy == NULL)
        return ERR_NOMEM;
    im->rejects[im->nrejects++] = (struct importer_reject){
        line, copy, err_type_name(code)};
    return 0;
}

static int check_reject_limit(struct importer *im, struct err *e)
{
    if (im->cfg.max_rejects == 0 || im->stats.rejected <= im->cfg.max_rejects)
        return 0;
    return err_set(e, ERR_LIMIT,
                   "import stopped at line %llu: more than %llu lines were "
                   "rejected (limit max_import_rejects); fix the input or "
                   "raise --max-import-rejects",
                   (unsigned long long)im->line_no,
                   (unsigned long long)im->cfg.max_rejects);
}

/* --- writing a batch --------------------------------------------------- */

struct batch_ctx {
    struct importer *im;
    struct catalog_bucket bucket;
    struct objects_bucket ob;
    const char *fields[UNIQUE_FIELDS_MAX];
    enum ingest_policy policy;
    struct ingest_req req;
    bson_t body;
    bool *failed;            /* per pending line */
    struct err *errors;
};

static int write_line(struct store_txn *t, void *arg, struct err *e)
{
    struct batch_ctx *b = arg;
    return ingest_object(t, &b->bucket, &b->ob, &b->req, NULL, e);
}

static int batch_write(struct store_txn *t, void *arg, struct err *e)
{
    struct batch_ctx *b = arg;
    struct importer *im = b->im;
    const char *id = im->bucket_id;

    int rc = catalog_bucket_find(t, im->ns_id, id, strlen(id), &b->bucket, e);
    if (rc == ERR_NOT_FOUND)
        return err_set(e, ERR_NOT_FOUND, "bucket %s was deleted during the "
                       "import", id);
    if (rc == 0)
        rc = ingest_policy_for(&b->bucket, im->has_policy ? im->policy : NULL,
                               &b->policy, e);
    if (rc != 0)
        return rc;
    objects_bucket_from(&b->bucket, &b->ob, b->fields, UNIQUE_FIELDS_MAX);

    for (size_t i = 0; i < im->npending; i++) {
        const uint8_t *doc = (const uint8_t *)im->batch.data +
                             im->pending[i].offset;
        uint32_t len;
        memcpy(&len, doc, 4);
        bson_init_static(&b->body, doc, len);
        b->req = (struct ingest_req){.body = &b->body,
                                     .policy = b->policy,
                                     .restore = true,
                                     .now_ms = clock_now_ms(),
                                     .max_object_bytes =
                                         im->cfg.max_object_bytes};
        err_init(&b->errors[i]);
        b->failed[i] = store_nested(t, write_line, b, &b->errors[i]) != 0;
    }
    return 0;
}

static int record_outcome(struct importer *im, struct batch_ctx *b)
{
    char msg[1024];
    int rc = 0;

    for (size_t i = 0; i < im->npending; i++) {
        if (!b->failed[i]) {
            im->stats.imported++;
        } else if (rc == 0) {
            err_describe(&b->errors[i], msg, sizeof(msg));
            rc = reject(im, im->pending[i].line, b->errors[i].code, msg);
        }
        err_release(&b->errors[i]);
    }
    return rc;
}

static int flush(struct importer *im, struct err *e)
{
    struct batch_ctx *b;

    if (im->npending == 0)
        return 0;
    b = calloc(1, sizeof(*b));
    if (b != NULL) {
        b->failed = calloc(im->npending, sizeof(bool));
        b->errors = calloc(im->npending, sizeof(struct err));
    }
    if (b == NULL || b->failed == NULL || b->errors == NULL) {
        if (b != NULL) {
            free(b->failed);
            free(b->errors);
        }
        free(b);
        return err_set(e, ERR_NOMEM, "out of memory importing");
    }
    b->im = im;

    int rc = store_write(im->store, batch_write, b, e);
    if (rc == 0)
        rc = record_outcome(im, b);
    else
        for (size_t i = 0; i < im->npending; i++)
            err_release(&b->errors[i]);
    free(b->failed);
    free(b->errors);
    free(b);

    im->stats.batches++;
    im->npending = 0;
    buf_reset(&im->batch);
    return rc != 0 ? rc : check_reject_limit(im, e);
}

/* --- lines ------------------------------------------------------------- */

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static int add_pending(struct importer *im, uint64_t line, size_t offset)
{
    if ((im->npending & 63) == 0) {
        struct pending *p = realloc(im->pending, (im->npending + 64) *
                                                     sizeof(*p));
        if (p == NULL)
            return ERR_NOMEM;
        im->pending = p;
    }
    im->pending[im->npending++] = (struct pending){line, offset};
    return 0;
}

static int take_line(struct importer *im, const char *s, size_t n,
                     struct err *e)
{
    struct json_opts opts = {.max_depth = im->cfg.json_max_depth};
    struct json_error je;
    char msg[256];

    im->line_no++;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (blank(s, n))
        return 0;
    im->stats.lines++;

    size_t offset = im->batch.len;
    int rc = json_parse(s, n, &opts, &im->batch, &je);
    if (rc == ERR_BAD_REQUEST) {
        snprintf(msg, sizeof(msg), "not valid JSON: %s at byte %zu", je.msg,
                 je.offset);
        rc = reject(im, im->line_no, ERR_BAD_REQUEST, msg);
        return rc != 0 ? rc : check_reject_limit(im, e);
    }
    if (rc == 0)
        rc = add_pending(im, im->line_no, offset);
    if (rc != 0)
        return err_set(e, rc, "out of memory importing");
    if (im->npending >= IMPORTER_BATCH_LINES ||
        im->batch.len >= IMPORTER_BATCH_BYTES)
        return flush(im, e);
    return 0;
}

static int too_long(struct importer *im, struct err *e)
{
    char msg[160];

    snprintf(msg, sizeof(msg),
             "line is longer than max_object_bytes (%llu bytes)",
             (unsigned long long)im->cfg.max_object_bytes);
    im->stats.lines++;
    int rc = reject(im, im->line_no + 1, ERR_TOO_LARGE, msg);
    return rc != 0 ? rc : check_reject_limit(im, e);
}

/* Bytes up to the next newline go to the partial line (or are dropped
 * while skipping an overlong line). Returns how many were consumed. */
static int carry(struct importer *im, const char *p, size_t n, size_t *used,
                 bool *line_done, struct err *e)
{
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    uint64_t max = im->cfg.max_object_bytes;

    *used = take + (nl != NULL);
    *line_done = nl != NULL;
    if (im->skipping) {
        if (nl != NULL) {
            im->skipping = false;
            im->line_no++;
        }
        return 0;
    }
    if (max > 0 && im->partial.len + take > max) {
        buf_reset(&im->partial);
        im->skipping = nl == NULL;
        int rc = too_long(im, e);
        if (nl != NULL)
            im->line_no++;
        *line_done = false;
        return rc;
    }
    buf_add(&im->partial, p, take);
    return im->partial.oom ? err_set(e, ERR_NOMEM, "out of memory") : 0;
}

int importer_feed(struct importer *im, const char *data, size_t n,
                  struct err *e)
{
    im->stats.bytes += n;
    while (n > 0) {
        /* Fast path: a whole line inside this piece, nothing carried. */
        const char *nl = im->partial.len == 0 && !im->skipping
                             ? memchr(data, '\n', n)
                             : NULL;
        if (nl != NULL && (im->cfg.max_object_bytes == 0 ||
                           (uint64_t)(nl - data) <= im->cfg.max_object_bytes)) {
            int rc = take_line(im, data, (size_t)(nl - data), e);
            if (rc != 0)
                return rc;
            n -= (size_t)(nl - data) + 1;
            data = nl + 1;
            continue;
        }

        size_t used;
        bool done;
        int rc = carry(im, data, n, &used, &done, e);
        if (rc == 0 && done) {
            rc = take_line(im, im->partial.data, im->partial.len, e);
            buf_reset(&im->partial);
        }
        if (rc != 0)
            return rc;
        data += used;
        n -= used;
    }
    return 0;
}

static int by_line(const void *a, const void *b)
{
    const struct importer_reject *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

int importer_finish(struct importer *im, struct err *e)
{
    int rc = 0;

    if (im->partial.len > 0)
        rc = take_line(im, im->partial.data, im->partial.len, e);
    buf_reset(&im->partial);
    if (rc == 0)
        rc = flush(im, e);
    return rc;
}

/* --- set-up ------------------------------------------------------------ */

int importer_new(struct store *s, const char *ns_id, const char *bucket,
                 const char *policy, const struct importer_config *cfg,
                 struct importer **out, struct err *e)
{
    struct store_txn t;
    struct catalog_bucket b;
    enum ingest_policy pol;

    *out = NULL;
    int rc = store_read_begin(s, &t, e);
    if (rc != 0)
        return rc;
    rc = catalog_bucket_find(&t, ns_id, bucket, strlen(bucket), &b, e);
    if (rc == ERR_NOT_FOUND)
        rc = err_set(e, ERR_NOT_FOUND, "bucket \"%.100s\" not found in "
                     "namespace %s", bucket, ns_id);
    if (rc == 0)
        rc = ingest_policy_for(&b, policy, &pol, e);

    struct importer *im = rc == 0 ? calloc(1, sizeof(*im)) : NULL;
    if (rc == 0 && im == NULL)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    if (rc == 0) {
        im->store = s;
        im->cfg = *cfg;
        snprintf(im->bucket_id, sizeof(im->bucket_id), "%s", b.id);
        snprintf(im->ns_id, sizeof(im->ns_id), "%s", ns_id);
        im->has_policy = policy != NULL;
        snprintf(im->policy, sizeof(im->policy), "%s", policy ? policy : "");
        *out = im;
    }
    store_read_end(&t);
    return rc;
}

const struct importer_stats *importer_stats(const struct importer *im)
{
    return &im->stats;
}

const struct importer_reject *importer_rejects(struct importer *im,
                                               size_t *n)
{
    /* Lines that do not parse are rejected when read, the others when
     * their batch is written: report them in line order. (qsort() must
     * not be given the NULL of an import without rejects.) */
    if (im->nrejects > 1)
        qsort(im->rejects, im->nrejects, sizeof(*im->rejects), by_line);
    *n = im->nrejects;
    return im->rejects;
}

const char *importer_bucket_id(const struct importer *im)
{
    return im->bucket_id;
}

void importer_free(struct importer *im)
{
    if (im == NULL)
        return;
    for (size_t i = 0; i < im->nrejects; i++)
        free((char *)im->rejects[i].error);
    free(im->rejects);
    free(im->pending);
    buf_release(&im->partial);
    buf_release(&im->batch);
    free(im);
}
