/*
 * stage_sort.c - the sort and limit stages.
 *
 * Groups order by sort_by (a key or a metric) in sort_direction, then by
 * the group keys ascending in group_by order, so that the same request on
 * the same data returns the same rows in the same order. Without sort_by
 * the group keys alone decide. Keys are unique per group, so the order is
 * total. limit keeps the first rows: with a limit much smaller than the
 * number of groups, a heap of `limit` groups finds them without sorting
 * the rest (a top-N).
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

/* A max-heap on the group order: the root is the worst of the best. */
static void sift_down(const struct agg_request *req, struct agg_group **h,
                      size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && compare_groups(&h[l], &h[top], (void *)req) > 0)
            top = l;
        if (r < n && compare_groups(&h[r], &h[top], (void *)req) > 0)
            top = r;
        if (top == i)
            return;
        struct agg_group *tmp = h[i];
        h[i] = h[top];
        h[top] = tmp;
        i = top;
    }
}

/* Moves the best k groups to the front, in order. */
static void top_n(const struct agg_request *req, struct agg_group **groups,
                  size_t n, size_t k)
{
    for (size_t i = k / 2; i-- > 0;)
        sift_down(req, groups, k, i);
    for (size_t i = k; i < n; i++) {
        if (compare_groups(&groups[i], &groups[0], (void *)req) >= 0)
            continue;
        struct agg_group *tmp = groups[0];
        groups[0] = groups[i];
        groups[i] = tmp;
        sift_down(req, groups, k, 0);
    }
    qsort_r(groups, k, sizeof(*groups), compare_groups, (void *)req);
}

void stage_sort(const struct agg_request *req, struct agg_group **groups,
                size_t n)
{
    if (n < 2)
        return; /* groups is NULL when there are none */
    /* TUNING: below a quarter of the groups, the heap's log(limit) per
     * group beats sorting them all. */
    if (req->limit > 0 && (uint64_t)req->limit < n / 4) {
        top_n(req, groups, n, (size_t)req->limit);
        return;
    }
    qsort_r(groups, n, sizeof(*groups), compare_groups, (void *)req);
}

size_t stage_limit(const struct agg_request *req, size_t n)
{
    if (req->limit > 0 && (uint64_t)req->limit < n)
        return (size_t)req->limit;
    return n;
}
