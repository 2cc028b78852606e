/*
 * stage_sort.c - the sort and limit stages.
 *
 * Groups order by sort_by (a key or a metric) in sort_direction, then by
 * the group keys ascending in group_by order, so that the same request on
 * the same data returns the same rows in the same order. Without sort_by
 * the group keys alone decide. Keys are unique per group, so the order is
 * total. limit keeps the first rows.
 */
#include <stdlib.h>

#include "query/agg_internal.h"

static int by_keys(const struct agg_request *req, const struct agg_group *a,
                   const struct agg_group *b)
{
    for (int i = 0; i < req->nkeys; i++) {
        int c = value_compare(&a->keys[i], &b->keys[i]);
        if (c != 0)
            return c;
    }
    return 0;
}

static int compare_groups(const void *pa, const void *pb, void *arg)
{
    const struct agg_request *req = arg;
    const struct agg_group *a = *(struct agg_group *const *)pa;
    const struct agg_group *b = *(struct agg_group *const *)pb;

    if (req->has_sort) {
        const bson_value_t *x = req->sort_on_key ? &a->keys[req->sort_index]
                                                 : &a->out[req->sort_index];
        const bson_value_t *y = req->sort_on_key ? &b->keys[req->sort_index]
                                                 : &b->out[req->sort_index];
        int c = value_compare(x, y);
        if (c != 0)
            return req->sort_desc ? -c : c;
    }
    return by_keys(req, a, b);
}

void stage_sort(const struct agg_request *req, struct agg_group **groups,
                size_t n)
{
    if (n > 1) /* no groups: groups may be NULL, which qsort_r() refuses */
        qsort_r(groups, n, sizeof(*groups), compare_groups, (void *)req);
}

size_t stage_limit(const struct agg_request *req, size_t n)
{
    if (req->limit > 0 && (uint64_t)req->limit < n)
        return (size_t)req->limit;
    return n;
}
