/*
 * embedded.c - the embedded backend: objects in the local LMDB store,
 * beside the catalog. This is the behaviour the API handlers had before
 * backends existed, moved here unchanged:
 *
 *   writes    resolve the bucket again inside the write (it may have been
 *             deleted since the request's snapshot was taken);
 *   lists     one pass over the bucket in insertion order, in the
 *             request's snapshot (see list below);
 *   aggregate the column path when it can answer, else the row path.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/internal.h"
#include "query/value.h"
#include "query/vexec.h"
#include "store/document.h"
#include "store/ingest.h"
#include "store/objects.h"

#define UNIQUE_FIELDS_MAX 16

struct embedded {
    struct backend base;
    struct store *store;
    const struct vexec_env *columns;
};

static struct embedded *self(struct backend *be)
{
    return (struct embedded *)be;
}

/* What every object write needs: the bucket, as seen inside the write. */
struct object_target {
    struct catalog_bucket bucket;
    struct objects_bucket ob;
    const char *fields[UNIQUE_FIELDS_MAX];
};

static int find_target(struct store_txn *t, const struct backend_req *r,
                       struct object_target *out, struct err *e)
{
    int rc = backend_find_bucket(t, r, &out->bucket, e);
    if (rc == 0)
        objects_bucket_from(&out->bucket, &out->ob, out->fields,
                            UNIQUE_FIELDS_MAX);
    return rc;
}

static struct ingest_req ingest_for(const struct backend_req *r,
                                    const bson_t *body)
{
    return (struct ingest_req){.body = body,
                               .now_ms = r->now_ms,
                               .max_object_bytes = r->max_object_bytes};
}

/* --- create one -------------------------------------------------------- */

/* The stored copy is made inside the write; the commit may still fail
 * after it, so has_stored (not the result) says whether to free it. */
struct create_one {
    const struct backend_req *r;
    const bson_t *body;
    bson_t *stored;
    bool has_stored;
};

static int create_write(struct store_txn *t, void *arg, struct err *e)
{
    struct create_one *co = arg;
    struct object_target tg;
    struct ingest_req r = ingest_for(co->r, co->body);

    int rc = find_target(t, co->r, &tg, e);
    if (rc == 0)
        rc = ingest_policy_for(&tg.bucket, co->r->policy, &r.policy, e);
    if (rc != 0)
        return rc;
    rc = ingest_object(t, &tg.bucket, &tg.ob, &r, co->stored, e);
    co->has_stored = rc == 0;
    return rc != 0 ? rc : objects_flush(t, &tg.ob, e);
}

static int emb_create(struct backend *be, const struct backend_req *r,
                      const bson_t *body, bson_t *stored, struct err *e)
{
    struct create_one co = {.r = r, .body = body, .stored = stored};

    int rc = store_write(self(be)->store, create_write, &co, e);
    if (rc != 0 && co.has_stored)
        bson_destroy(stored);
    return rc;
}

/* --- batch ------------------------------------------------------------- */

struct batch {
    const struct backend_req *r;
    struct object_target tg;
    enum ingest_policy policy;
    const bson_iter_t *objects;
    bson_iter_t item;          /* the object being written */
    struct backend_batch *out;
};

static int batch_one(struct store_txn *t, void *arg, struct err *e)
{
    struct batch *bt = arg;
    const uint8_t *data;
    uint32_t len;
    bson_t body;
    size_t i = bt->out->count;

    if (!BSON_ITER_HOLDS_DOCUMENT(&bt->item))
        return err_set(e, ERR_VALIDATION, "each object must be a JSON object");
    bson_iter_document(&bt->item, &len, &data);
    bson_init_static(&body, data, len);

    struct ingest_req r = ingest_for(bt->r, &body);
    r.policy = bt->policy;
    return ingest_object(t, &bt->tg.bucket, &bt->tg.ob, &r,
                         &bt->out->stored[i], e);
}

static int batch_write(struct store_txn *t, void *arg, struct err *e)
{
    struct batch *bt = arg;

    int rc = find_target(t, bt->r, &bt->tg, e);
    if (rc == 0)
        rc = ingest_policy_for(&bt->tg.bucket, bt->r->policy, &bt->policy, e);
    if (rc != 0)
        return rc;

    bson_iter_recurse(bt->objects, &bt->item);
    for (bt->out->count = 0; bson_iter_next(&bt->item); bt->out->count++) {
        struct err *oe = &bt->out->errors[bt->out->count];
        err_init(oe);
        if (store_nested(t, batch_one, bt, oe) != 0 && oe->code == ERR_OK)
            err_set(oe, ERR_INTERNAL, "object was not written");
    }
    return objects_flush(t, &bt->tg.ob, e);
}

static int emb_batch(struct backend *be, const struct backend_req *r,
                     const bson_iter_t *objects, struct backend_batch *b,
                     struct err *e)
{
    struct batch bt = {.r = r, .objects = objects, .out = b};

    return store_write(self(be)->store, batch_write, &bt, e);
}

/* --- read, replace, change, delete ------------------------------------- */

/* Finds the object in t: seq and a view of its document. */
static int find_object(struct store_txn *t, const struct object_target *tg,
                       const char *id, uint64_t *seq, bson_t *doc,
                       struct err *e)
{
    int rc = objects_find_id(t, tg->ob.num, id, strlen(id), seq, e);

    if (rc == ERR_NOT_FOUND)
        return err_set(e, ERR_NOT_FOUND,
                       "object \"%.100s\" not found in bucket %s", id,
                       tg->bucket.name);
    return rc != 0 ? rc : objects_get(t, tg->ob.num, *seq, doc, e);
}

static int emb_get(struct backend *be, const struct backend_req *r,
                   const char *object_id, bson_t *out, struct err *e)
{
    struct object_target tg;
    uint64_t seq;
    bson_t doc;

    (void)be;
    int rc = find_target(r->rd, r, &tg, e);
    if (rc == 0)
        rc = find_object(r->rd, &tg, object_id, &seq, &doc, e);
    if (rc == 0)
        bson_copy_to(&doc, out);
    return rc;
}

struct change {
    const struct backend_req *r;
    const char *object_id;
    const bson_t *body;
    bool merge;
    bson_t *stored;
    bool has_stored;         /* as in struct create_one */
};

/* The client's part of a stored object, which a merge patch applies to. */
static void client_part(const bson_t *doc, bson_t *out)
{
    bson_init(out);
    bson_copy_to_excluding_noinit(doc, out, "object_id", "bucket_id",
                                  "created_at", "updated_at", NULL);
}

static int change_write(struct store_txn *t, void *arg, struct err *e)
{
    struct change *ch = arg;
    struct object_target tg;
    uint64_t seq;
    bson_t view, previous, patched, doc;
    const bson_t *body = ch->body;

    int rc = find_target(t, ch->r, &tg, e);
    if (rc == 0)
        rc = find_object(t, &tg, ch->object_id, &seq, &view, e);
    if (rc != 0)
        return rc;
    bson_copy_to(&view, &previous);
    if (ch->merge) {
        bson_t base;
        client_part(&previous, &base);
        document_merge_patch(&base, body, &patched);
        bson_destroy(&base);
        body = &patched;
    }

    struct document_input in = {.body = body, .previous = &previous,
                                .now_ms = ch->r->now_ms};
    rc = document_build(&tg.bucket, &in, &doc, e);
    if (rc == 0) {
        rc = ingest_check_size(&doc, ch->r->max_object_bytes, e);
        if (rc == 0)
            rc = objects_replace(t, &tg.ob, seq, &previous, &doc,
                                 ch->r->now_ms, e);
        if (rc == 0)
            rc = objects_flush(t, &tg.ob, e);
        if (rc == 0) {
            bson_copy_to(&doc, ch->stored);
            ch->has_stored = true;
        }
        bson_destroy(&doc);
    }
    if (ch->merge)
        bson_destroy(&patched);
    bson_destroy(&previous);
    return rc;
}

static int emb_change(struct backend *be, const struct backend_req *r,
                      const char *object_id, const bson_t *body, bool merge,
                      bson_t *stored, struct err *e)
{
    struct change ch = {.r = r, .object_id = object_id, .body = body,
                        .merge = merge, .stored = stored};

    int rc = store_write(self(be)->store, change_write, &ch, e);
    if (rc != 0 && ch.has_stored)
        bson_destroy(stored);
    return rc;
}

struct deletion {
    const struct backend_req *r;
    const char *object_id;
};

static int delete_write(struct store_txn *t, void *arg, struct err *e)
{
    struct deletion *d = arg;
    struct object_target tg;
    uint64_t seq;
    bson_t view, old;

    int rc = find_target(t, d->r, &tg, e);
    if (rc == 0)
        rc = find_object(t, &tg, d->object_id, &seq, &view, e);
    if (rc != 0)
        return rc;
    bson_copy_to(&view, &old);
    rc = objects_delete(t, &tg.ob, seq, &old, e);
    if (rc == 0)
        rc = objects_flush(t, &tg.ob, e);
    bson_destroy(&old);
    return rc;
}

static int emb_delete(struct backend *be, const struct backend_req *r,
                      const char *object_id, struct err *e)
{
    struct deletion d = {.r = r, .object_id = object_id};

    return store_write(self(be)->store, delete_write, &d, e);
}

/* --- list ---------------------------------------------------------------
 * One pass over the bucket in insertion order, in the request's
 * snapshot. Without sort, the page is the next `limit` matching objects
 * after the cursor (their insertion sequence), so the scan stops early.
 * With sort, the scan keeps the best offset+limit+1 rows in a heap
 * ordered by (value, sequence) and the cursor is that pair. include_total
 * counts every match (and fills stats), which reads the whole bucket. */

static bool string_contains(const bson_iter_t *it, const char *needle);

static bool any_string_contains(bson_iter_t *it, const char *needle)
{
    while (bson_iter_next(it))
        if (string_contains(it, needle))
            return true;
    return false;
}

/* Any string anywhere in the value, case-insensitively. */
static bool string_contains(const bson_iter_t *it, const char *needle)
{
    bson_iter_t child;

    if (BSON_ITER_HOLDS_UTF8(it))
        return strcasestr(bson_iter_utf8(it, NULL), needle) != NULL;
    if ((BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) &&
        bson_iter_recurse(it, &child))
        return any_string_contains(&child, needle);
    return false;
}

static bool row_matches(const struct backend_list *l, const uint8_t *doc,
                        size_t len)
{
    bson_iter_t it;

    if (l->filter != NULL && !filter_match(l->filter, doc, len))
        return false;
    if (l->search == NULL || l->search[0] == '\0')
        return true;
    return bson_iter_init_from_data(&it, doc, len) &&
           any_string_contains(&it, l->search);
}

static void count_stats(struct backend_list_stats *st, const uint8_t *doc,
                        size_t len)
{
    bson_iter_t it, arr;

    st->matched++;
    if (bson_iter_init_from_data(&it, doc, len) &&
        bson_iter_find(&it, "blobs") && bson_iter_recurse(&it, &arr))
        while (bson_iter_next(&arr))
            st->blobs++;
    if (!bson_iter_init_from_data(&it, doc, len) ||
        !bson_iter_find(&it, "status") || !BSON_ITER_HOLDS_UTF8(&it))
        return;

    const char *s = bson_iter_utf8(&it, NULL);
    for (int i = 0; i < st->nstatus; i++) {
        if (strcmp(st->statuses[i].name, s) == 0) {
            st->statuses[i].n++;
            return;
        }
    }
    if (st->nstatus < 16) {
        snprintf(st->statuses[st->nstatus].name, 32, "%s", s);
        st->statuses[st->nstatus++].n = 1;
    }
}

/* The sorted case: a bounded max-heap on the row order, whose root is the
 * row that would be dropped. */
struct heap {
    struct backend_row *rows;
    size_t n, cap;
    bool desc;
};

static void sift_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < h->n &&
            backend_row_order(&h->rows[l], &h->rows[top], h->desc) > 0)
            top = l;
        if (r < h->n &&
            backend_row_order(&h->rows[r], &h->rows[top], h->desc) > 0)
            top = r;
        if (top == i)
            return;
        struct backend_row tmp = h->rows[i];
        h->rows[i] = h->rows[top];
        h->rows[top] = tmp;
        i = top;
    }
}

static void sift_up(struct heap *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (backend_row_order(&h->rows[i], &h->rows[parent], h->desc) <= 0)
            return;
        struct backend_row tmp = h->rows[i];
        h->rows[i] = h->rows[parent];
        h->rows[parent] = tmp;
        i = parent;
    }
}

static void heap_offer(struct heap *h, const struct backend_row *r)
{
    if (h->n < h->cap) {
        h->rows[h->n] = *r;
        bson_value_copy(&r->key, &h->rows[h->n].key);
        h->rows[h->n].has_key = true;
        sift_up(h, h->n++);
        return;
    }
    if (backend_row_order(r, &h->rows[0], h->desc) >= 0)
        return;
    bson_value_destroy(&h->rows[0].key);
    h->rows[0] = *r;
    bson_value_copy(&r->key, &h->rows[0].key);
    h->rows[0].has_key = true;
    sift_down(h, 0);
}

static int cmp_rows(const void *a, const void *b, void *desc)
{
    return backend_row_order(a, b, *(bool *)desc);
}

struct scan_out {
    struct backend_row *rows;  /* unsorted: the page (+1) */
    size_t n;
    struct heap heap;
    struct buf scratch;
};

static uint64_t tie_seq(const unsigned char *tie, size_t len)
{
    return len == 8 ? store_get_be64(tie) : 0;
}

/* Whether a row comes after the cursor in the list's order: by sort key
 * (in the asked direction), then by insertion sequence. Unsorted lists
 * start their scan after the cursor's sequence instead. */
static bool after_cursor(const struct backend_list *l,
                         const struct backend_row *r, uint64_t seq)
{
    if (!l->has_cursor || l->sort_field == NULL)
        return true;
    int c = l->cursor_has_value ? value_compare(&r->key, l->cursor_value) : 0;
    if (l->sort_desc)
        c = -c;
    if (c != 0)
        return c > 0;
    return l->cursor_tie_len == 8 &&
           seq > tie_seq(l->cursor_tie, l->cursor_tie_len);
}

static void row_key(const struct backend_list *l, struct scan_out *out,
                    struct backend_row *r)
{
    buf_reset(&out->scratch);
    if (value_resolve(r->doc, r->len, l->sort_field, &out->scratch,
                      &r->key) != 0)
        r->key.value_type = BSON_TYPE_NULL;
}

static int scan(struct store_txn *t, const struct catalog_bucket *b,
                struct backend_list *l, struct scan_out *out, struct err *e)
{
    struct objects_scan sc;
    uint64_t skipped = 0, from = 0, seq;
    struct backend_row r;

    memset(&r, 0, sizeof(r));
    r.tie_len = 8;
    if (l->has_cursor && !l->sort_field && l->cursor_tie_len == 8)
        from = tie_seq(l->cursor_tie, l->cursor_tie_len) + 1;
    int rc = objects_scan_open(t, b->num, from, &sc, e);
    while (rc == 0) {
        rc = objects_scan_next(&sc, &seq, &r.doc, &r.len, e);
        if (rc != 0 || !row_matches(l, r.doc, r.len))
            continue;
        store_be64(r.tie, seq);
        if (l->include_total)
            count_stats(&l->stats, r.doc, r.len);
        if (l->sort_field != NULL) {
            row_key(l, out, &r);
            if (after_cursor(l, &r, seq))
                heap_offer(&out->heap, &r);
        } else if (out->n < l->limit + 1) {
            if (!l->has_cursor && skipped < l->offset)
                skipped++;
            else
                out->rows[out->n++] = r;
        } else if (!l->include_total) {
            break;
        }
    }
    objects_scan_close(&sc);
    if (rc == ERR_NOT_FOUND)
        rc = 0;
    if (rc == 0 && filter_failed(l->filter))
        rc = err_set(e, ERR_LIMIT,
                     "a regular expression in filters hit its match limit "
                     "(too much backtracking); simplify the pattern");
    return rc;
}

static void list_release(struct backend_list *l)
{
    struct scan_out *out = l->owned;

    if (out == NULL)
        return;
    for (size_t i = 0; i < out->heap.n; i++)
        bson_value_destroy(&out->heap.rows[i].key);
    free(out->heap.rows);
    free(out->rows);
    buf_release(&out->scratch);
    free(out);
    l->owned = NULL;
}

static int emb_list(struct backend *be, const struct backend_req *r,
                    const struct catalog_bucket *b, struct backend_list *l,
                    struct err *e)
{
    struct scan_out *out = calloc(1, sizeof(*out));
    size_t cap = l->offset + l->limit + 1;

    (void)be;
    if (out == NULL)
        return ERR_NOMEM;
    l->owned = out;
    l->release = list_release;
    out->rows = calloc(cap, sizeof(*out->rows));
    out->heap = (struct heap){calloc(cap, sizeof(struct backend_row)), 0, cap,
                              l->sort_desc};
    if (out->rows == NULL || out->heap.rows == NULL)
        return ERR_NOMEM;
    int rc = scan(r->rd, b, l, out, e);
    if (rc != 0)
        return rc;

    l->rows = out->rows;
    l->n = out->n;
    if (l->sort_field != NULL) {
        qsort_r(out->heap.rows, out->heap.n, sizeof(struct backend_row),
                cmp_rows, &l->sort_desc);
        size_t skip = l->has_cursor ? 0 : l->offset;
        l->rows = out->heap.rows + (skip < out->heap.n ? skip : out->heap.n);
        l->n = out->heap.n - (size_t)(l->rows - out->heap.rows);
    }
    return 0;
}

/* --- import ------------------------------------------------------------ */

struct emb_import {
    struct backend_import base;
    struct importer *im;
};

static struct importer *imp(const struct backend_import *im)
{
    return ((const struct emb_import *)im)->im;
}

static int imp_feed(struct backend_import *im, const char *data, size_t n,
                    struct err *e)
{
    return importer_feed(imp(im), data, n, e);
}

static int imp_drain(struct backend_import *im, struct err *e)
{
    return importer_drain(imp(im), e);
}

static int imp_finish(struct backend_import *im, struct err *e)
{
    return importer_finish(imp(im), e);
}

static const struct importer_stats *imp_stats(const struct backend_import *im)
{
    return importer_stats(imp(im));
}

static const struct importer_reject *imp_rejects(struct backend_import *im,
                                                 size_t *n)
{
    return importer_rejects(imp(im), n);
}

static const char *imp_bucket_id(const struct backend_import *im)
{
    return importer_bucket_id(imp(im));
}

static void imp_free(struct backend_import *im)
{
    importer_free(imp(im));
    free(im);
}

static const struct backend_import_ops emb_import_ops = {
    imp_feed, imp_drain, imp_finish, imp_stats, imp_rejects, imp_bucket_id,
    imp_free};

static int emb_import_new(struct backend *be, const struct backend_req *r,
                          const struct importer_config *cfg,
                          struct backend_import **out, struct err *e)
{
    struct emb_import *im = calloc(1, sizeof(*im));

    if (im == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    im->base.ops = &emb_import_ops;
    int rc = importer_new(self(be)->store, r->ns_id, r->bucket, r->policy,
                          cfg, &im->im, e);
    if (rc != 0) {
        free(im);
        return rc;
    }
    *out = &im->base;
    return 0;
}

/* --- aggregate --------------------------------------------------------- */

/* The column path answers when it can; the row path is the reference and
 * the fallback. rows_only forces the row path (the differential test
 * compares both; an operator may use it to rule the cache out). */
static int emb_aggregate(struct backend *be, const struct backend_req *r,
                         const struct catalog_bucket *b, struct agg_plan *plan,
                         struct agg_result **res, struct err *e)
{
    const struct vexec_env *columns = self(be)->columns;

    if (columns != NULL && !r->rows_only) {
        int rc = agg_execute_columns(plan, columns, r->rd, b->num, res, e);
        if (rc != ERR_UNAVAILABLE)
            return rc;
        err_release(e);
        err_init(e);
    }
    atomic_fetch_add(&be->row_aggregations, 1);
    return agg_execute(plan, r->rd, b->num, res, e);
}

/* --- buckets ----------------------------------------------------------- */

static int emb_bucket_prepare(struct backend *be, const char *bucket_id,
                              const bson_t *record, struct err *e)
{
    (void)be, (void)bucket_id, (void)record, (void)e;
    return 0;
}

/* Objects of deleted buckets are purged by the janitor (janitor.h). */
static void emb_bucket_drop(struct backend *be, const char *bucket_id)
{
    (void)be, (void)bucket_id;
}

static void emb_bucket_stats(struct backend *be, struct store_txn *rd,
                             const struct catalog_bucket *b,
                             struct catalog_bucket_stats *out)
{
    struct err e;

    (void)be;
    err_init(&e);
    catalog_stats_get(rd, b->num, out, &e);
    err_release(&e);
}

static void emb_free(struct backend *be)
{
    free(be);
}

static const struct backend_ops embedded_ops = {
    .name = "embedded",
    .object_create = emb_create,
    .object_batch = emb_batch,
    .object_get = emb_get,
    .object_change = emb_change,
    .object_delete = emb_delete,
    .object_list = emb_list,
    .import_new = emb_import_new,
    .aggregate = emb_aggregate,
    .bucket_prepare = emb_bucket_prepare,
    .bucket_drop = emb_bucket_drop,
    .bucket_stats = emb_bucket_stats,
    .free = emb_free,
};

int backend_embedded_new(struct store *s, const struct vexec_env *columns,
                         struct backend **out, struct err *e)
{
    struct embedded *em = calloc(1, sizeof(*em));

    *out = NULL;
    if (em == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    em->base.ops = &embedded_ops;
    em->store = s;
    em->columns = columns;
    *out = &em->base;
    return 0;
}
