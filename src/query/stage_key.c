/*
 * stage_key.c - the key stage: a row's group key, one value per group_by
 * entry and per range bucket.
 *
 * A missing value keys as null; an array (without unwind) keys as the
 * whole array. date_trunc and date_part read dates, and ISO 8601 strings
 * as dates; anything else keys as null. A range bucket keys a number by
 * its "b[i]-b[i+1]" label, and everything else by the default label.
 */
#include <math.h>
#include <string.h>

#include "query/agg_internal.h"

static bool as_date(const bson_value_t *v, int64_t *ms)
{
    if (v->value_type == BSON_TYPE_DATE_TIME) {
        *ms = v->value.v_datetime;
        return true;
    }
    return v->value_type == BSON_TYPE_UTF8 &&
           clock_parse_iso8601(v->value.v_utf8.str, v->value.v_utf8.len, ms);
}

static const char *range_label(const struct agg_key *k, const bson_value_t *v)
{
    if (!value_is_number(v->value_type))
        return k->default_label;

    double d = value_as_double(v);
    if (isnan(d) || d < k->bounds[0] || d >= k->bounds[k->nbounds - 1])
        return k->default_label;
    int lo = 0, hi = k->nbounds - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (d >= k->bounds[mid])
            lo = mid;
        else
            hi = mid;
    }
    return k->labels[lo];
}

static void string_value(bson_value_t *out, const char *s)
{
    out->value_type = BSON_TYPE_UTF8;
    out->value.v_utf8.str = (char *)s;
    out->value.v_utf8.len = (uint32_t)strlen(s);
}

static void one_key(const struct agg_key *k, const struct agg_row *row,
                    struct buf *scratch, bson_value_t *out, bool *built)
{
    bson_value_t v;
    int64_t ms;
    bool found = agg_row_resolve(row, &k->field, scratch, &v, built) == 0;

    switch (k->kind) {
    case KEY_VALUE:
        if (found)
            *out = v;
        else
            out->value_type = BSON_TYPE_NULL;
        return;
    case KEY_TRUNC:
        *built = false;
        if (!found || !as_date(&v, &ms)) {
            out->value_type = BSON_TYPE_NULL;
            return;
        }
        out->value_type = BSON_TYPE_DATE_TIME;
        out->value.v_datetime = clock_trunc(ms, k->unit);
        return;
    case KEY_PART:
        *built = false;
        if (!found || !as_date(&v, &ms)) {
            out->value_type = BSON_TYPE_NULL;
            return;
        }
        out->value_type = BSON_TYPE_INT32;
        out->value.v_int32 = clock_part(ms, k->unit);
        return;
    case KEY_RANGE:
        *built = false;
        if (!found)
            v.value_type = BSON_TYPE_NULL;
        string_value(out, range_label(k, &v));
        return;
    }
}

void stage_key(const struct agg_request *req, const struct agg_row *row,
               struct buf *scratch, bson_value_t *keys, bool *built)
{
    for (int i = 0; i < req->nkeys; i++)
        one_key(&req->keys[i], row, scratch, &keys[i], &built[i]);
}
