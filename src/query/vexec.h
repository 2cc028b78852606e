/*
 * vexec.h - the column path of the aggregation engine (vexec.c): what it
 * needs from the server, and its entry point.
 */
#ifndef TALLY_QUERY_VEXEC_H
#define TALLY_QUERY_VEXEC_H

#include "base/workq.h"
#include "query/agg.h"
#include "store/colcache.h"

struct vexec_env {
    struct colcache *cc;
    struct workq *workers;   /* helpers for the calling thread; may be
                                NULL (one thread) */
};

/* Runs the plan over the column cache. ERR_UNAVAILABLE when this request
 * or snapshot cannot be served from columns: run agg_execute() instead.
 * On success the result pins the columns until agg_result_free(). */
int agg_execute_columns(struct agg_plan *plan, const struct vexec_env *env,
                        struct store_txn *t, uint32_t bucket,
                        struct agg_result **out, struct err *e);

#endif
