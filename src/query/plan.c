/*
 * plan.c - the stage chain of a validated request.
 *
 * The pipeline is fixed (match, unwind, key, accumulate, having, sort,
 * limit); planning decides which stages run and records them, so that
 * query_info and the logs say what ran. Every row stage reads one object
 * at a time from the snapshot; accumulate is where rows become groups.
 */
#include "query/agg_internal.h"

int agg_plan(const struct agg_request *req, const struct query_limits *lim,
             struct arena *arena, struct agg_plan **out, struct err *e)
{
    struct agg_plan *p = arena_zalloc(arena, sizeof(*p));

    *out = NULL;
    if (p == NULL)
        return err_set(e, ERR_NOMEM, "out of memory planning");
    p->req = req;
    p->lim = *lim;
    p->arena = arena;
    if (req->filter != NULL)
        p->stages[p->nstages++] = "match";
    if (req->unwind != NULL)
        p->stages[p->nstages++] = "unwind";
    p->stages[p->nstages++] = "key";
    p->stages[p->nstages++] = "accumulate";
    if (req->nhaving > 0)
        p->stages[p->nstages++] = "having";
    p->stages[p->nstages++] = "sort";
    if (req->limit > 0)
        p->stages[p->nstages++] = "limit";
    *out = p;
    return 0;
}
