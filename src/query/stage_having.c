/*
 * stage_having.c - the having stage: a filter over groups, after
 * accumulation. Each condition compares a metric or a group key with a
 * value: numbers numerically, strings by bytes; across types only "ne"
 * holds. A date (a date_trunc key, the min of a date field...) is written
 * as an RFC 3339 string, and an ISO 8601 value meets it as a date, as in
 * filters.
 */
#include "query/agg_internal.h"

static bool verdict(enum agg_cmp op, int c)
{
    switch (op) {
    case CMP_GT:
        return c > 0;
    case CMP_GTE:
        return c >= 0;
    case CMP_LT:
        return c < 0;
    case CMP_LTE:
        return c <= 0;
    case CMP_EQ:
        return c == 0;
    default:
        return c != 0;
    }
}

static bool holds(const struct agg_having *h, const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_DATE_TIME && h->has_date)
        return verdict(h->op, (v->value.v_datetime > h->date_ms) -
                                  (v->value.v_datetime < h->date_ms));

    bool both_numbers = value_is_number(v->value_type) &&
                        value_is_number(h->value.value_type);
    bool both_strings = v->value_type == BSON_TYPE_UTF8 &&
                        h->value.value_type == BSON_TYPE_UTF8;

    if (!both_numbers && !both_strings)
        return h->op == CMP_NE;

    return verdict(h->op, value_compare(v, &h->value));
}

static bool group_passes(const struct agg_request *req,
                         const struct agg_group *g)
{
    for (int i = 0; i < req->nhaving; i++) {
        const struct agg_having *h = &req->having[i];
        const bson_value_t *v = h->on_key ? &g->keys[h->index]
                                          : &g->out[h->index];
        if (!holds(h, v))
            return false;
    }
    return true;
}

/* The array is the group table's: dropped groups are swapped behind the
 * kept ones rather than overwritten, so that it still holds every group
 * once when the table frees their collected values. */
size_t stage_having(const struct agg_request *req, struct agg_group **groups,
                    size_t n)
{
    size_t kept = 0;

    for (size_t i = 0; i < n; i++) {
        if (!group_passes(req, groups[i]))
            continue;
        struct agg_group *g = groups[i];
        groups[i] = groups[kept];
        groups[kept++] = g;
    }
    return kept;
}
