/*
 * importer.c - NDJSON lines into a bucket, in two overlapping steps.
 *
 * The feeding thread splits lines, parses them and builds the stored
 * documents (schema checks, blob records): everything that needs no
 * transaction, since a bucket's schema and unique key never change. The
 * store's writer inserts a full batch while the feeder prepares the next
 * one, so parsing and committing (with its fsync) overlap: two batches at
 * most are in memory.
 *
 * An object that the store refuses (a taken object_id or unique key)
 * leaves the transaction as it was (objects.h), so a batch needs no
 * nested transaction per line; only a failure of the store itself (disk
 * full) stops the whole import. Under the update and upsert policies the
 * document is built inside the write, against the object it replaces.
 */
#include "store/importer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "json/json.h"
#include "store/catalog.h"
#include "store/document.h"
#include "store/ingest.h"

#define UNIQUE_FIELDS_MAX 16

struct pending_line {
    uint64_t line;
    size_t offset;           /* of its BSON document in docs */
};

/* One batch: built documents (or parsed bodies, for update/upsert). */
struct batch {
    struct buf docs;
    struct pending_line *lines;
    size_t n, cap;
    bool *refused;
    struct err *errors;
    struct err fatal;        /* what stopped the whole batch */
    struct store_pending write;
    bool in_flight;
    struct importer *im;
};

struct importer {
    struct store *store;
    struct importer_config cfg;
    char ns_id[IDS_MAX];
    struct catalog_bucket bucket;  /* record: an owned copy (record_copy) */
    bson_t record_copy;
    enum ingest_policy policy;

    struct import_lines framing;
    uint64_t line_no;
    struct buf parsed;       /* scratch for one line's BSON */

    struct batch batches[2];
    int filling;             /* index of the batch being filled */

    struct import_rejects rejects;
    struct importer_stats stats;
};

/* --- rejections -------------------------------------------------------- */

int import_rejects_add(struct import_rejects *r, uint64_t line,
                       enum err_code code, const char *msg)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct importer_reject *grown = realloc(r->items, cap * sizeof(*grown));
        if (grown == NULL)
            return ERR_NOMEM;
        r->items = grown;
        r->cap = cap;
    }
    char *copy = strdup(msg);
    if (copy == NULL)
        return ERR_NOMEM;
    r->items[r->n++] = (struct importer_reject){line, copy, err_type_name(code)};
    return 0;
}

int import_rejects_add_err(struct import_rejects *r, uint64_t line,
                           const struct err *e)
{
    char msg[1024];

    err_describe(e, msg, sizeof(msg));
    return import_rejects_add(r, line, e->code, msg);
}

static int by_line(const void *a, const void *b)
{
    const struct importer_reject *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

const struct importer_reject *import_rejects_sorted(struct import_rejects *r,
                                                    size_t *n)
{
    /* Without rejections there is no array, and qsort must not see NULL. */
    if (r->n > 1)
        qsort(r->items, r->n, sizeof(*r->items), by_line);
    *n = r->n;
    return r->items;
}

void import_rejects_release(struct import_rejects *r)
{
    for (size_t i = 0; i < r->n; i++)
        free((char *)r->items[i].error);
    free(r->items);
    *r = (struct import_rejects){0};
}

int import_rejects_bad_json(struct import_rejects *r, uint64_t line,
                            const struct json_error *je)
{
    char msg[256];

    snprintf(msg, sizeof(msg), "not valid JSON: %s at byte %zu", je->msg,
             je->offset);
    return import_rejects_add(r, line, ERR_BAD_REQUEST, msg);
}

int import_rejects_too_long(struct import_rejects *r, uint64_t line,
                            uint64_t max_object_bytes)
{
    char msg[160];

    snprintf(msg, sizeof(msg),
             "line is longer than max_object_bytes (%llu bytes)",
             (unsigned long long)max_object_bytes);
    return import_rejects_add(r, line, ERR_TOO_LARGE, msg);
}

bool import_line_refused(int rc)
{
    return rc == ERR_CONFLICT || rc == ERR_BAD_REQUEST ||
           rc == ERR_VALIDATION || rc == ERR_TOO_LARGE ||
           rc == ERR_NOT_FOUND;
}

bool import_line_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static int reject_err(struct importer *im, uint64_t line, const struct err *e)
{
    im->stats.rejected++;
    return import_rejects_add_err(&im->rejects, line, e);
}

static bool over_reject_limit(const struct importer *im)
{
    return im->cfg.max_rejects > 0 && im->stats.rejected > im->cfg.max_rejects;
}

static int reject_limit_error(struct importer *im, struct err *e)
{
    return err_set(e, ERR_LIMIT,
                   "import stopped at line %llu: more than %llu lines were "
                   "rejected (limit max_import_rejects); fix the input or "
                   "raise --max-import-rejects",
                   (unsigned long long)im->line_no,
                   (unsigned long long)im->cfg.max_rejects);
}

/* --- the write of a batch (on the store's writer) ---------------------- */

static int write_one(struct store_txn *t, struct batch *b, size_t i,
                     struct objects_bucket *ob)
{
    struct importer *im = b->im;
    const uint8_t *data = (const uint8_t *)b->docs.data + b->lines[i].offset;
    uint32_t len;
    bson_t doc;

    memcpy(&len, data, 4);
    bson_init_static(&doc, data, len);
    if (im->policy == INGEST_NONE || im->policy == INGEST_INSERT)
        return ingest_built(t, ob, &doc, clock_now_ms(), &b->errors[i]);

    struct ingest_req r = {.body = &doc,
                           .policy = im->policy,
                           .restore = true,
                           .now_ms = clock_now_ms(),
                           .max_object_bytes = im->cfg.max_object_bytes};
    return ingest_object(t, &im->bucket, ob, &r, NULL, &b->errors[i]);
}

static int batch_write(struct store_txn *t, void *arg, struct err *e)
{
    struct batch *b = arg;
    struct importer *im = b->im;
    struct catalog_bucket live;
    struct objects_bucket ob;
    const char *fields[UNIQUE_FIELDS_MAX];

    int rc = catalog_bucket_find(t, im->ns_id, im->bucket.id,
                                 strlen(im->bucket.id), &live, e);
    if (rc == ERR_NOT_FOUND)
        return err_set(e, ERR_NOT_FOUND,
                       "bucket %s was deleted during the import",
                       im->bucket.id);
    if (rc != 0)
        return rc;
    objects_bucket_from(&live, &ob, fields, UNIQUE_FIELDS_MAX);

    for (size_t i = 0; i < b->n; i++) {
        err_init(&b->errors[i]);
        rc = write_one(t, b, i, &ob);
        b->refused[i] = rc != 0;
        if (rc != 0 && !import_line_refused(rc)) {
            err_set(e, rc, "%s", b->errors[i].msg);
            return rc;
        }
    }
    return objects_flush(t, &ob, e);
}

/* --- batches ----------------------------------------------------------- */

static int batch_submit(struct importer *im, struct batch *b)
{
    free(b->refused);
    free(b->errors);
    b->refused = calloc(b->n ? b->n : 1, sizeof(bool));
    b->errors = calloc(b->n ? b->n : 1, sizeof(struct err));
    if (b->refused == NULL || b->errors == NULL)
        return ERR_NOMEM;
    err_init(&b->fatal);
    b->in_flight = true;
    store_write_submit(im->store, batch_write, b, &b->fatal, &b->write);
    return 0;
}

/* Waits for a batch in flight and records each line's outcome. */
static int batch_settle(struct importer *im, struct batch *b, struct err *e)
{
    int rc = 0;

    if (!b->in_flight)
        return 0;
    b->in_flight = false;
    int wrc = store_write_wait(im->store, &b->write);
    for (size_t i = 0; i < b->n; i++) {
        if (wrc == 0 && !b->refused[i])
            im->stats.imported++;
        else if (wrc == 0 && rc == 0)
            rc = reject_err(im, b->lines[i].line, &b->errors[i]);
        err_release(&b->errors[i]);
    }
    if (wrc != 0) {
        err_set(e, b->fatal.code, "%s", b->fatal.msg);
        rc = wrc;
    } else if (rc != 0) {
        rc = err_set(e, ERR_NOMEM, "out of memory importing");
    }
    err_release(&b->fatal);
    im->stats.batches++;
    b->n = 0;
    buf_reset(&b->docs);
    return rc;
}

/* Writes the batch being filled too, and waits for both: afterwards
 * nothing is in flight and the counts are final. */
static int drain(struct importer *im, struct err *e)
{
    struct batch *full = &im->batches[im->filling];

    int rc = batch_settle(im, &im->batches[1 - im->filling], e);
    if (rc != 0 || full->n == 0)
        return rc;
    if (batch_submit(im, full) != 0)
        return err_set(e, ERR_NOMEM, "out of memory importing");
    im->filling = 1 - im->filling;
    return batch_settle(im, full, e);
}

/* Stops the import once more than max_rejects lines were rejected. The
 * lines read before that are written first, so that the stopped import
 * keeps them and its answer counts them. */
static int check_reject_limit(struct importer *im, struct err *e)
{
    if (!over_reject_limit(im))
        return 0;
    int rc = drain(im, e);
    return rc != 0 ? rc : reject_limit_error(im, e);
}

/* Hands the filled batch to the writer, after the one before it is done. */
static int flush(struct importer *im, struct err *e)
{
    struct batch *full = &im->batches[im->filling];
    struct batch *other = &im->batches[1 - im->filling];

    int rc = batch_settle(im, other, e);
    if (rc == 0)
        rc = check_reject_limit(im, e);
    if (rc != 0 || full->n == 0)
        return rc;
    if (batch_submit(im, full) != 0)
        return err_set(e, ERR_NOMEM, "out of memory importing");
    im->filling = 1 - im->filling;
    return 0;
}

static int add_line(struct batch *b, uint64_t line, size_t offset)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        struct pending_line *p = realloc(b->lines, cap * sizeof(*p));
        if (p == NULL)
            return ERR_NOMEM;
        b->lines = p;
        b->cap = cap;
    }
    b->lines[b->n++] = (struct pending_line){line, offset};
    return 0;
}

/* --- lines ------------------------------------------------------------- */

/* The document to store for a parsed line (built now unless the policy
 * needs the object it replaces), appended to the batch. */
static int stage_document(struct importer *im, const bson_t *body,
                          struct err *le)
{
    struct batch *b = &im->batches[im->filling];
    size_t offset = b->docs.len;
    bson_t doc;

    if (im->policy == INGEST_UPDATE || im->policy == INGEST_UPSERT) {
        buf_add(&b->docs, bson_get_data(body), body->len);
    } else {
        struct document_input in = {.body = body, .restore = true,
                                    .now_ms = clock_now_ms()};
        int rc = document_build(&im->bucket, &in, &doc, le);
        if (rc == 0 && (rc = ingest_check_size(&doc, im->cfg.max_object_bytes,
                                               le)) != 0)
            bson_destroy(&doc);
        if (rc != 0)
            return rc;
        buf_add(&b->docs, bson_get_data(&doc), doc.len);
        bson_destroy(&doc);
    }
    if (b->docs.oom || add_line(b, im->line_no, offset) != 0)
        return err_set(le, ERR_NOMEM, "out of memory importing");
    return 0;
}

static int take_line(struct importer *im, const char *s, size_t n,
                     struct err *e)
{
    struct json_opts opts = {.max_depth = im->cfg.json_max_depth};
    struct json_error je;
    struct err le;
    bson_t body;

    im->line_no++;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (import_line_blank(s, n))
        return 0;
    im->stats.lines++;

    buf_reset(&im->parsed);
    int rc = json_parse(s, n, &opts, &im->parsed, &je);
    if (rc == ERR_BAD_REQUEST) {
        im->stats.rejected++;
        rc = import_rejects_bad_json(&im->rejects, im->line_no, &je);
        return rc != 0 ? err_set(e, rc, "out of memory")
                       : check_reject_limit(im, e);
    }
    if (rc != 0)
        return err_set(e, rc, "out of memory importing");

    bson_init_static(&body, (const uint8_t *)im->parsed.data, im->parsed.len);
    err_init(&le);
    rc = stage_document(im, &body, &le);
    if (rc == ERR_NOMEM) {
        rc = err_set(e, rc, "out of memory importing");
    } else if (rc != 0) {
        rc = reject_err(im, im->line_no, &le);
        rc = rc != 0 ? err_set(e, rc, "out of memory")
                     : check_reject_limit(im, e);
    }
    err_release(&le);
    if (rc != 0)
        return rc;

    struct batch *b = &im->batches[im->filling];
    if (b->n >= IMPORTER_BATCH_LINES || b->docs.len >= IMPORTER_BATCH_BYTES)
        return flush(im, e);
    return 0;
}

static int too_long(struct importer *im, struct err *e)
{
    im->stats.lines++;
    im->stats.rejected++;
    im->line_no++;
    int rc = import_rejects_too_long(&im->rejects, im->line_no,
                                     im->cfg.max_object_bytes);
    return rc != 0 ? err_set(e, rc, "out of memory")
                   : check_reject_limit(im, e);
}

/* --- NDJSON framing ---------------------------------------------------- */

/* Bytes up to the next newline go to the partial line (or are dropped
 * while skipping an overlong line). *used says how many were consumed;
 * *line_done that a whole line now waits in partial. */
static int carry(struct import_lines *l, const char *p, size_t n,
                 size_t *used, bool *line_done,
                 const struct import_line_ops *ops, void *ctx, struct err *e)
{
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;

    *used = take + (nl != NULL);
    *line_done = false;
    if (l->skipping) {
        l->skipping = nl == NULL;
        return 0;
    }
    if (l->max > 0 && l->partial.len + take > l->max) {
        buf_reset(&l->partial);
        l->skipping = nl == NULL;
        return ops->too_long(ctx, e);
    }
    buf_add(&l->partial, p, take);
    *line_done = nl != NULL;
    return l->partial.oom ? err_set(e, ERR_NOMEM, "out of memory") : 0;
}

int import_lines_feed(struct import_lines *l, const char *data, size_t n,
                      const struct import_line_ops *ops, void *ctx,
                      struct err *e)
{
    while (n > 0) {
        /* Fast path: a whole line inside this piece, nothing carried. */
        const char *nl = l->partial.len == 0 && !l->skipping
                             ? memchr(data, '\n', n)
                             : NULL;
        if (nl != NULL && (l->max == 0 || (uint64_t)(nl - data) <= l->max)) {
            int rc = ops->line(ctx, data, (size_t)(nl - data), e);
            if (rc != 0)
                return rc;
            n -= (size_t)(nl - data) + 1;
            data = nl + 1;
            continue;
        }

        size_t used;
        bool done;
        int rc = carry(l, data, n, &used, &done, ops, ctx, e);
        if (rc == 0 && done) {
            rc = ops->line(ctx, l->partial.data, l->partial.len, e);
            buf_reset(&l->partial);
        }
        if (rc != 0)
            return rc;
        data += used;
        n -= used;
    }
    return 0;
}

int import_lines_finish(struct import_lines *l,
                        const struct import_line_ops *ops, void *ctx,
                        struct err *e)
{
    int rc = 0;

    if (l->partial.len > 0)
        rc = ops->line(ctx, l->partial.data, l->partial.len, e);
    buf_reset(&l->partial);
    return rc;
}

void import_lines_release(struct import_lines *l)
{
    buf_release(&l->partial);
}

static int line_taken(void *ctx, const char *s, size_t n, struct err *e)
{
    return take_line(ctx, s, n, e);
}

static int line_too_long(void *ctx, struct err *e)
{
    return too_long(ctx, e);
}

static const struct import_line_ops line_ops = {line_taken, line_too_long};

int importer_feed(struct importer *im, const char *data, size_t n,
                  struct err *e)
{
    im->stats.bytes += n;
    return import_lines_feed(&im->framing, data, n, &line_ops, im, e);
}

int importer_drain(struct importer *im, struct err *e)
{
    return drain(im, e);
}

int importer_finish(struct importer *im, struct err *e)
{
    int rc = import_lines_finish(&im->framing, &line_ops, im, e);

    if (rc == 0)
        rc = flush(im, e);
    if (rc == 0)
        rc = flush(im, e); /* settles the last batch */
    return rc;
}

/* --- set-up and results ------------------------------------------------ */

static int load_bucket(struct importer *im, const char *bucket,
                       const char *policy, struct err *e)
{
    struct store_txn t;
    struct catalog_bucket b;

    int rc = store_read_begin(im->store, &t, e);
    if (rc != 0)
        return rc;
    rc = catalog_bucket_find(&t, im->ns_id, bucket, strlen(bucket), &b, e);
    if (rc == ERR_NOT_FOUND)
        rc = err_set(e, ERR_NOT_FOUND,
                     "bucket \"%.100s\" not found in namespace %s", bucket,
                     im->ns_id);
    if (rc == 0)
        rc = ingest_policy_for(&b, policy, &im->policy, e);
    if (rc == 0) {
        /* Schema and unique key never change: a copy serves the import. */
        bson_copy_to(&b.record, &im->record_copy);
        catalog_bucket_copy(&im->bucket, &b);
        bson_init_static(&im->bucket.record, bson_get_data(&im->record_copy),
                         im->record_copy.len);
    }
    store_read_end(&t);
    return rc;
}

int importer_new(struct store *s, const char *ns_id, const char *bucket,
                 const char *policy, const struct importer_config *cfg,
                 struct importer **out, struct err *e)
{
    struct importer *im = calloc(1, sizeof(*im));

    *out = NULL;
    if (im == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    im->store = s;
    im->cfg = *cfg;
    im->framing.max = cfg->max_object_bytes;
    snprintf(im->ns_id, sizeof(im->ns_id), "%s", ns_id);
    bson_init(&im->record_copy);
    for (int i = 0; i < 2; i++)
        im->batches[i].im = im;

    int rc = load_bucket(im, bucket, policy, e);
    if (rc != 0) {
        importer_free(im);
        return rc;
    }
    *out = im;
    return 0;
}

const struct importer_stats *importer_stats(const struct importer *im)
{
    return &im->stats;
}

const struct importer_reject *importer_rejects(struct importer *im, size_t *n)
{
    return import_rejects_sorted(&im->rejects, n);
}

const char *importer_bucket_id(const struct importer *im)
{
    return im->bucket.id;
}

void importer_free(struct importer *im)
{
    struct err ignored;

    if (im == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        struct batch *b = &im->batches[i];
        err_init(&ignored);
        batch_settle(im, b, &ignored); /* never leave a write referring here */
        err_release(&ignored);
        buf_release(&b->docs);
        free(b->lines);
        free(b->refused);
        free(b->errors);
    }
    import_rejects_release(&im->rejects);
    import_lines_release(&im->framing);
    buf_release(&im->parsed);
    bson_destroy(&im->record_copy);
    free(im);
}
