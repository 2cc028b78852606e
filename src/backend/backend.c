/*
 * backend.c - the repository calls, dispatched to the backend in use, and
 * the helpers both backends share.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/internal.h"
#include "query/value.h"

int backend_object_create(struct backend *be, const struct backend_req *r,
                          const bson_t *body, bson_t *stored, struct err *e)
{
    return be->ops->object_create(be, r, body, stored, e);
}

int backend_object_batch(struct backend *be, const struct backend_req *r,
                         const bson_iter_t *objects, struct backend_batch *b,
                         struct err *e)
{
    return be->ops->object_batch(be, r, objects, b, e);
}

int backend_object_get(struct backend *be, const struct backend_req *r,
                       const char *object_id, bson_t *out, struct err *e)
{
    return be->ops->object_get(be, r, object_id, out, e);
}

int backend_object_change(struct backend *be, const struct backend_req *r,
                          const char *object_id, const bson_t *body,
                          bool merge, bson_t *stored, struct err *e)
{
    return be->ops->object_change(be, r, object_id, body, merge, stored, e);
}

int backend_object_delete(struct backend *be, const struct backend_req *r,
                          const char *object_id, struct err *e)
{
    return be->ops->object_delete(be, r, object_id, e);
}

int backend_object_list(struct backend *be, const struct backend_req *r,
                        const struct catalog_bucket *b,
                        struct backend_list *l, struct err *e)
{
    l->rows = NULL;
    l->n = 0;
    memset(&l->stats, 0, sizeof(l->stats));
    l->owned = NULL;
    l->release = NULL;
    return be->ops->object_list(be, r, b, l, e);
}

void backend_list_release(struct backend_list *l)
{
    if (l->release != NULL)
        l->release(l);
    l->release = NULL;
    l->rows = NULL;
    l->n = 0;
}

int backend_import_new(struct backend *be, const struct backend_req *r,
                       const struct importer_config *cfg,
                       struct backend_import **out, struct err *e)
{
    *out = NULL;
    return be->ops->import_new(be, r, cfg, out, e);
}

int backend_import_feed(struct backend_import *im, const char *data,
                        size_t n, struct err *e)
{
    return im->ops->feed(im, data, n, e);
}

int backend_import_drain(struct backend_import *im, struct err *e)
{
    return im->ops->drain(im, e);
}

int backend_import_finish(struct backend_import *im, struct err *e)
{
    return im->ops->finish(im, e);
}

const struct importer_stats *
backend_import_stats(const struct backend_import *im)
{
    return im->ops->stats(im);
}

const struct importer_reject *backend_import_rejects(struct backend_import *im,
                                                     size_t *n)
{
    return im->ops->rejects(im, n);
}

const char *backend_import_bucket_id(const struct backend_import *im)
{
    return im->ops->bucket_id(im);
}

void backend_import_free(struct backend_import *im)
{
    if (im != NULL)
        im->ops->free(im);
}

int backend_aggregate(struct backend *be, const struct backend_req *r,
                      const struct catalog_bucket *b, struct agg_plan *plan,
                      struct agg_result **res, struct err *e)
{
    *res = NULL;
    return be->ops->aggregate(be, r, b, plan, res, e);
}

int backend_bucket_prepare(struct backend *be, const char *bucket_id,
                           const bson_t *record, struct err *e)
{
    return be->ops->bucket_prepare(be, bucket_id, record, e);
}

void backend_bucket_drop(struct backend *be, const char *bucket_id)
{
    be->ops->bucket_drop(be, bucket_id);
}

void backend_bucket_stats(struct backend *be, struct store_txn *rd,
                          const struct catalog_bucket *b,
                          struct catalog_bucket_stats *out)
{
    memset(out, 0, sizeof(*out));
    be->ops->bucket_stats(be, rd, b, out);
}

const char *backend_name(const struct backend *be)
{
    return be->ops->name;
}

uint64_t backend_row_aggregations(const struct backend *be)
{
    return atomic_load(&((struct backend *)be)->row_aggregations);
}

void backend_free(struct backend *be)
{
    if (be != NULL)
        be->ops->free(be);
}

/* --- shared helpers ---------------------------------------------------- */

int backend_find_bucket(struct store_txn *t, const struct backend_req *r,
                        struct catalog_bucket *out, struct err *e)
{
    int rc = catalog_bucket_find(t, r->ns_id, r->bucket, strlen(r->bucket),
                                 out, e);
    if (rc == ERR_NOT_FOUND)
        return err_set(e, ERR_NOT_FOUND,
                       "bucket \"%.100s\" not found in namespace %s",
                       r->bucket, r->ns_id);
    return rc;
}

int backend_row_order(const struct backend_row *a, const struct backend_row *b,
                      bool desc)
{
    int c = value_compare(&a->key, &b->key);

    if (desc)
        c = -c;
    if (c != 0)
        return c;
    size_t n = a->tie_len < b->tie_len ? a->tie_len : b->tie_len;
    c = memcmp(a->tie, b->tie, n);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return (a->tie_len > b->tie_len) - (a->tie_len < b->tie_len);
}
