/*
 * internal.h - what the backends share: the table of operations each one
 * fills, and helpers used by both. Private to src/backend/.
 */
#ifndef TALLY_BACKEND_INTERNAL_H
#define TALLY_BACKEND_INTERNAL_H

#include <stdatomic.h>

#include "backend/backend.h"

struct backend_ops {
    const char *name;
    int (*object_create)(struct backend *be, const struct backend_req *r,
                         const bson_t *body, bson_t *stored, struct err *e);
    int (*object_batch)(struct backend *be, const struct backend_req *r,
                        const bson_iter_t *objects, struct backend_batch *b,
                        struct err *e);
    int (*object_get)(struct backend *be, const struct backend_req *r,
                      const char *object_id, bson_t *out, struct err *e);
    int (*object_change)(struct backend *be, const struct backend_req *r,
                         const char *object_id, const bson_t *body,
                         bool merge, bson_t *stored, struct err *e);
    int (*object_delete)(struct backend *be, const struct backend_req *r,
                         const char *object_id, struct err *e);
    int (*object_list)(struct backend *be, const struct backend_req *r,
                       const struct catalog_bucket *b, struct backend_list *l,
                       struct err *e);
    int (*import_new)(struct backend *be, const struct backend_req *r,
                      const struct importer_config *cfg,
                      struct backend_import **out, struct err *e);
    int (*aggregate)(struct backend *be, const struct backend_req *r,
                     const struct catalog_bucket *b, struct agg_plan *plan,
                     struct agg_result **res, struct err *e);
    int (*bucket_prepare)(struct backend *be, const char *bucket_id,
                          const bson_t *record, struct err *e);
    void (*bucket_drop)(struct backend *be, const char *bucket_id);
    void (*bucket_stats)(struct backend *be, struct store_txn *rd,
                         const struct catalog_bucket *b,
                         struct catalog_bucket_stats *out);
    void (*free)(struct backend *be);
};

/* Every backend starts with this. */
struct backend {
    const struct backend_ops *ops;
    _Atomic uint64_t row_aggregations;
};

struct backend_import_ops {
    int (*feed)(struct backend_import *im, const char *data, size_t n,
                struct err *e);
    int (*drain)(struct backend_import *im, struct err *e);
    int (*finish)(struct backend_import *im, struct err *e);
    const struct importer_stats *(*stats)(const struct backend_import *im);
    const struct importer_reject *(*rejects)(struct backend_import *im,
                                             size_t *n);
    const char *(*bucket_id)(const struct backend_import *im);
    void (*free)(struct backend_import *im);
};

/* Every import starts with this. */
struct backend_import {
    const struct backend_import_ops *ops;
};

/* Finds the request's bucket in t, with the API's message when it is not
 * there. */
int backend_find_bucket(struct store_txn *t, const struct backend_req *r,
                        struct catalog_bucket *out, struct err *e);

/* The row order of lists: by key (in the asked direction), then by tie
 * bytes ascending. */
int backend_row_order(const struct backend_row *a, const struct backend_row *b,
                      bool desc);

#endif
