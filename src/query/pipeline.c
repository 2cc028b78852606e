/*
 * pipeline.c - the request written as a MongoDB aggregation pipeline, for
 * query_info.pipeline: users can run it on their own MongoDB, and the
 * differential test runs it on mingo.
 *
 *   $match      filters (filter_mongo.c)
 *   $unwind     unwind
 *   $group      _id: {k0, k1, ...} keys; m0, m1, ... metrics
 *   $addFields  final forms: count_distinct counts its non-null set,
 *               add_to_set sorts its set
 *   $match      having, on _id.kN and mN ($expr: values compared whole)
 *   $addFields  sort keys for fields that may hold arrays (skN, smN)
 *   $sort       sort_by, then the keys ascending
 *   $limit      limit
 *   $project    {group: {...}, metrics: {...}} under the output names
 *
 * Keys and metrics go by position (k0, m0) until the last stage, because
 * output names may hold dots, which MongoDB would read as paths.
 */
#include <stdio.h>
#include <string.h>

#include "query/agg_internal.h"

static void field_ref(struct jw *w, const char *path)
{
    char ref[520];

    snprintf(ref, sizeof(ref), "$%s", path);
    jw_string(w, ref);
}

/* {$ifNull: ["$p", null]}: a missing value keys as null. */
static void value_or_null(struct jw *w, const char *path)
{
    jw_object_begin(w);
    jw_key(w, "$ifNull");
    jw_array_begin(w);
    field_ref(w, path);
    jw_null(w);
    jw_array_end(w);
    jw_object_end(w);
}

static void type_is(struct jw *w, const char *path, const char *type)
{
    jw_object_begin(w);
    jw_key(w, "$eq");
    jw_array_begin(w);
    jw_object_begin(w);
    jw_key(w, "$type");
    field_ref(w, path);
    jw_object_end(w);
    jw_string(w, type);
    jw_array_end(w);
    jw_object_end(w);
}

/* The value as a date: dates as they are, ISO strings parsed, else null. */
static void as_date(struct jw *w, const char *path)
{
    jw_object_begin(w);
    jw_key(w, "$switch");
    jw_object_begin(w);
    jw_key(w, "branches");
    jw_array_begin(w);

    jw_object_begin(w);
    jw_key(w, "case");
    type_is(w, path, "date");
    jw_key(w, "then");
    field_ref(w, path);
    jw_object_end(w);

    jw_object_begin(w);
    jw_key(w, "case");
    type_is(w, path, "string");
    jw_key(w, "then");
    jw_object_begin(w);
    jw_key(w, "$dateFromString");
    jw_object_begin(w);
    jw_key(w, "dateString");
    field_ref(w, path);
    jw_key(w, "onError");
    jw_null(w);
    jw_object_end(w);
    jw_object_end(w);
    jw_object_end(w);

    jw_array_end(w);
    jw_key(w, "default");
    jw_null(w);
    jw_object_end(w);
    jw_object_end(w);
}

static const char *part_operator(enum clock_unit u)
{
    static const char *const ops[CLOCK_UNIT_COUNT] = {
        [CLOCK_YEAR] = "$year",           [CLOCK_MONTH] = "$month",
        [CLOCK_WEEK] = "$isoWeek",        [CLOCK_DAY] = "$dayOfMonth",
        [CLOCK_HOUR] = "$hour",           [CLOCK_MINUTE] = "$minute",
        [CLOCK_SECOND] = "$second",       [CLOCK_DAY_OF_WEEK] = "$dayOfWeek",
        [CLOCK_DAY_OF_YEAR] = "$dayOfYear"};
    return ops[u];
}

/* {$let: {vars: {d: <date>}, in: {$cond: [d is null, null, <f(d)>]}}} */
static void date_key(struct jw *w, const struct agg_key *k)
{
    jw_object_begin(w);
    jw_key(w, "$let");
    jw_object_begin(w);
    jw_key(w, "vars");
    jw_object_begin(w);
    jw_key(w, "d");
    as_date(w, k->field.path);
    jw_object_end(w);
    jw_key(w, "in");
    jw_object_begin(w);
    jw_key(w, "$cond");
    jw_array_begin(w);
    jw_object_begin(w);
    jw_key(w, "$eq");
    jw_array_begin(w);
    jw_string(w, "$$d");
    jw_null(w);
    jw_array_end(w);
    jw_object_end(w);
    jw_null(w);

    jw_object_begin(w);
    if (k->kind == KEY_TRUNC) {
        jw_key(w, "$dateTrunc");
        jw_object_begin(w);
        jw_key(w, "date");
        jw_string(w, "$$d");
        jw_key(w, "unit");
        jw_string(w, clock_unit_name(k->unit));
        if (k->unit == CLOCK_WEEK) {
            jw_key(w, "startOfWeek");
            jw_string(w, "monday");
        }
        jw_object_end(w);
    } else {
        jw_key(w, part_operator(k->unit));
        jw_string(w, "$$d");
    }
    jw_object_end(w);

    jw_array_end(w);
    jw_object_end(w);
    jw_object_end(w);
    jw_object_end(w);
}

static void range_branch(struct jw *w, const struct agg_key *k, int i)
{
    jw_object_begin(w);
    jw_key(w, "case");
    jw_object_begin(w);
    jw_key(w, "$and");
    jw_array_begin(w);
    jw_object_begin(w);
    jw_key(w, "$isNumber");
    field_ref(w, k->field.path);
    jw_object_end(w);
    for (int j = 0; j < 2; j++) {
        jw_object_begin(w);
        jw_key(w, j == 0 ? "$gte" : "$lt");
        jw_array_begin(w);
        field_ref(w, k->field.path);
        jw_double(w, k->bounds[i + j]);
        jw_array_end(w);
        jw_object_end(w);
    }
    jw_array_end(w);
    jw_object_end(w);
    jw_key(w, "then");
    jw_string(w, k->labels[i]);
    jw_object_end(w);
}

static void range_key(struct jw *w, const struct agg_key *k)
{
    jw_object_begin(w);
    jw_key(w, "$switch");
    jw_object_begin(w);
    jw_key(w, "branches");
    jw_array_begin(w);
    for (int i = 0; i + 1 < k->nbounds; i++)
        range_branch(w, k, i);
    jw_array_end(w);
    jw_key(w, "default");
    jw_string(w, k->default_label);
    jw_object_end(w);
    jw_object_end(w);
}

static void key_expr(struct jw *w, const struct agg_key *k)
{
    if (k->kind == KEY_VALUE)
        value_or_null(w, k->field.path);
    else if (k->kind == KEY_RANGE)
        range_key(w, k);
    else
        date_key(w, k);
}

static void count_present(struct jw *w, const char *path)
{
    jw_object_begin(w);
    jw_key(w, "$sum");
    jw_object_begin(w);
    jw_key(w, "$cond");
    jw_array_begin(w);
    jw_object_begin(w);
    jw_key(w, "$eq");
    jw_array_begin(w);
    value_or_null(w, path);
    jw_null(w);
    jw_array_end(w);
    jw_object_end(w);
    jw_int(w, 0);
    jw_int(w, 1);
    jw_array_end(w);
    jw_object_end(w);
    jw_object_end(w);
}

static void accumulator(struct jw *w, const struct agg_metric *m)
{
    static const char *const ops[AGG_FN_COUNT] = {
        [AGG_COUNT] = "$sum",          [AGG_COUNT_DISTINCT] = "$addToSet",
        [AGG_SUM] = "$sum",            [AGG_AVG] = "$avg",
        [AGG_MIN] = "$min",            [AGG_MAX] = "$max",
        [AGG_FIRST] = "$first",        [AGG_LAST] = "$last",
        [AGG_PUSH] = "$push",          [AGG_ADD_TO_SET] = "$addToSet"};

    if (m->fn == AGG_COUNT && m->field.path != NULL) {
        count_present(w, m->field.path);
        return;
    }
    jw_object_begin(w);
    jw_key(w, ops[m->fn]);
    if (m->fn == AGG_COUNT)
        jw_int(w, 1);
    else
        field_ref(w, m->field.path);
    jw_object_end(w);
}

static void positional(char *out, size_t cap, char prefix, int i)
{
    snprintf(out, cap, "%c%d", prefix, i);
}

static void group_stage(struct jw *w, const struct agg_request *req)
{
    char name[16];

    jw_object_begin(w);
    jw_key(w, "$group");
    jw_object_begin(w);
    jw_key(w, "_id");
    jw_object_begin(w);
    for (int i = 0; i < req->nkeys; i++) {
        positional(name, sizeof(name), 'k', i);
        jw_key(w, name);
        key_expr(w, &req->keys[i]);
    }
    jw_object_end(w);
    for (int i = 0; i < req->nmetrics; i++) {
        positional(name, sizeof(name), 'm', i);
        jw_key(w, name);
        accumulator(w, &req->metrics[i]);
    }
    jw_object_end(w);
    jw_object_end(w);
}

static bool needs_finish(const struct agg_request *req)
{
    for (int i = 0; i < req->nmetrics; i++)
        if (req->metrics[i].fn == AGG_COUNT_DISTINCT ||
            req->metrics[i].fn == AGG_ADD_TO_SET)
            return true;
    return false;
}

static void finish_expr(struct jw *w, const struct agg_metric *m,
                        const char *ref)
{
    jw_object_begin(w);
    if (m->fn == AGG_ADD_TO_SET) {
        jw_key(w, "$sortArray");
        jw_object_begin(w);
        jw_key(w, "input");
        jw_string(w, ref);
        jw_key(w, "sortBy");
        jw_int(w, 1);
        jw_object_end(w);
    } else {
        jw_key(w, "$size");
        jw_object_begin(w);
        jw_key(w, "$filter");
        jw_object_begin(w);
        jw_key(w, "input");
        jw_string(w, ref);
        jw_key(w, "cond");
        jw_object_begin(w);
        jw_key(w, "$ne");
        jw_array_begin(w);
        jw_string(w, "$$this");
        jw_null(w);
        jw_array_end(w);
        jw_object_end(w);
        jw_object_end(w);
        jw_object_end(w);
    }
    jw_object_end(w);
}

static void finish_stage(struct jw *w, const struct agg_request *req)
{
    char name[16], ref[20];

    jw_object_begin(w);
    jw_key(w, "$addFields");
    jw_object_begin(w);
    for (int i = 0; i < req->nmetrics; i++) {
        const struct agg_metric *m = &req->metrics[i];
        if (m->fn != AGG_COUNT_DISTINCT && m->fn != AGG_ADD_TO_SET)
            continue;
        positional(name, sizeof(name), 'm', i);
        snprintf(ref, sizeof(ref), "$%s", name);
        jw_key(w, name);
        finish_expr(w, m, ref);
    }
    jw_object_end(w);
    jw_object_end(w);
}

/* {"$isNumber": ref} or {"$eq": [{"$type": ref}, type]}: the target is
 * of the having value's type class. */
static void same_class(struct jw *w, const char *ref, const char *type)
{
    jw_object_begin(w);
    if (strcmp(type, "number") == 0) {
        jw_key(w, "$isNumber");
        jw_string(w, ref);
    } else {
        jw_key(w, "$eq");
        jw_array_begin(w);
        jw_object_begin(w);
        jw_key(w, "$type");
        jw_string(w, ref);
        jw_object_end(w);
        jw_string(w, type);
        jw_array_end(w);
    }
    jw_object_end(w);
}

/* Whether a having target holds dates: a date_trunc key, or the extreme
 * or first/last of a date field. */
static bool target_is_date(const struct agg_request *req,
                           const struct agg_having *h)
{
    if (h->on_key)
        return req->keys[h->index].kind == KEY_TRUNC;
    const struct agg_metric *m = &req->metrics[h->index];
    bool picks = m->fn == AGG_MIN || m->fn == AGG_MAX || m->fn == AGG_FIRST ||
                 m->fn == AGG_LAST;
    return picks && m->field.path != NULL &&
           filter_path_is_date(req->bucket, m->field.path);
}

/* One condition as an aggregation expression: a query operator would
 * match an array by any element and compare across types by MongoDB's
 * bracketing, where the contract compares the value whole and holds only
 * "ne" across types. */
static void having_expr(struct jw *w, const struct agg_request *req,
                        const struct agg_having *h)
{
    static const char *const ops[] = {"$gt", "$gte", "$lt",
                                      "$lte", "$eq", "$ne"};
    char ref[24];
    bool as_date = h->has_date && target_is_date(req, h);
    const char *type = as_date ? "date"
                       : value_is_number(h->value.value_type) ? "number"
                                                              : "string";

    snprintf(ref, sizeof(ref), h->on_key ? "$_id.k%d" : "$m%d", h->index);
    jw_object_begin(w);
    jw_key(w, h->op == CMP_NE ? "$or" : "$and");
    jw_array_begin(w);
    if (h->op == CMP_NE) {
        jw_object_begin(w);
        jw_key(w, "$not");
        jw_array_begin(w);
        same_class(w, ref, type);
        jw_array_end(w);
        jw_object_end(w);
    } else {
        same_class(w, ref, type);
    }
    jw_object_begin(w);
    jw_key(w, ops[h->op]);
    jw_array_begin(w);
    jw_string(w, ref);
    if (as_date) {
        jw_object_begin(w);
        jw_key(w, "$date");
        jw_date(w, h->date_ms);
        jw_object_end(w);
    } else {
        value_write_json(w, &h->value);
    }
    jw_array_end(w);
    jw_object_end(w);
    jw_array_end(w);
    jw_object_end(w);
}

static void having_stage(struct jw *w, const struct agg_request *req)
{
    jw_object_begin(w);
    jw_key(w, "$match");
    jw_object_begin(w);
    jw_key(w, "$expr");
    jw_object_begin(w);
    jw_key(w, "$and");
    jw_array_begin(w);
    for (int i = 0; i < req->nhaving; i++)
        having_expr(w, req, &req->having[i]);
    jw_array_end(w);
    jw_object_end(w);
    jw_object_end(w);
    jw_object_end(w);
}

/* --- sorting -------------------------------------------------------------
 * MongoDB's $sort orders an array by its smallest (or largest) element;
 * the contract orders it as a whole value, after objects and before
 * booleans. A field that may hold an array therefore sorts through a key
 * {t: class, v: value}, with t 0 up to objects, 1 for arrays and 2 for
 * booleans and dates: inside an object MongoDB compares arrays whole. */

static bool key_may_be_array(const struct agg_request *req, int i)
{
    return req->keys[i].kind == KEY_VALUE;
}

static bool metric_may_be_array(const struct agg_request *req, int i)
{
    enum agg_fn fn = req->metrics[i].fn;
    return fn != AGG_COUNT && fn != AGG_COUNT_DISTINCT && fn != AGG_SUM &&
           fn != AGG_AVG;
}

static bool sorts_through_key(const struct agg_request *req, bool on_key,
                              int i)
{
    return on_key ? key_may_be_array(req, i) : metric_may_be_array(req, i);
}

static bool needs_sort_keys(const struct agg_request *req)
{
    if (req->has_sort &&
        sorts_through_key(req, req->sort_on_key, req->sort_index))
        return true;
    for (int i = 0; i < req->nkeys; i++)
        if (key_may_be_array(req, i))
            return true;
    return false;
}

/* The sort field of a key or metric: its own, or its sort key's. */
static void sort_name(char *out, size_t cap, const struct agg_request *req,
                      bool on_key, int i)
{
    if (sorts_through_key(req, on_key, i))
        snprintf(out, cap, "s%c%d", on_key ? 'k' : 'm', i);
    else if (on_key)
        snprintf(out, cap, "_id.k%d", i);
    else
        snprintf(out, cap, "m%d", i);
}

static void sort_key_expr(struct jw *w, const char *ref)
{
    jw_object_begin(w);
    jw_key(w, "t");
    jw_object_begin(w);
    jw_key(w, "$switch");
    jw_object_begin(w);
    jw_key(w, "branches");
    jw_array_begin(w);
    jw_object_begin(w);
    jw_key(w, "case");
    jw_object_begin(w);
    jw_key(w, "$isArray");
    jw_string(w, ref);
    jw_object_end(w);
    jw_key(w, "then");
    jw_int(w, 1);
    jw_object_end(w);
    jw_object_begin(w);
    jw_key(w, "case");
    jw_object_begin(w);
    jw_key(w, "$in");
    jw_array_begin(w);
    jw_object_begin(w);
    jw_key(w, "$type");
    jw_string(w, ref);
    jw_object_end(w);
    jw_array_begin(w);
    jw_string(w, "bool");
    jw_string(w, "date");
    jw_array_end(w);
    jw_array_end(w);
    jw_object_end(w);
    jw_key(w, "then");
    jw_int(w, 2);
    jw_object_end(w);
    jw_array_end(w);
    jw_key(w, "default");
    jw_int(w, 0);
    jw_object_end(w);
    jw_object_end(w);
    jw_key(w, "v");
    jw_string(w, ref);
    jw_object_end(w);
}

static void sort_key_field(struct jw *w, const struct agg_request *req,
                           bool on_key, int i)
{
    char name[24], ref[24];

    sort_name(name, sizeof(name), req, on_key, i);
    snprintf(ref, sizeof(ref), on_key ? "$_id.k%d" : "$m%d", i);
    jw_key(w, name);
    sort_key_expr(w, ref);
}

static void sort_keys_stage(struct jw *w, const struct agg_request *req)
{
    jw_object_begin(w);
    jw_key(w, "$addFields");
    jw_object_begin(w);
    if (req->has_sort && !req->sort_on_key &&
        metric_may_be_array(req, req->sort_index))
        sort_key_field(w, req, false, req->sort_index);
    for (int i = 0; i < req->nkeys; i++)
        if (key_may_be_array(req, i))
            sort_key_field(w, req, true, i);
    jw_object_end(w);
    jw_object_end(w);
}

static void sort_stage(struct jw *w, const struct agg_request *req)
{
    char name[24];

    jw_object_begin(w);
    jw_key(w, "$sort");
    jw_object_begin(w);
    if (req->has_sort) {
        sort_name(name, sizeof(name), req, req->sort_on_key,
                  req->sort_index);
        jw_key(w, name);
        jw_int(w, req->sort_desc ? -1 : 1);
    }
    for (int i = 0; i < req->nkeys; i++) {
        if (req->has_sort && req->sort_on_key && req->sort_index == i)
            continue;
        sort_name(name, sizeof(name), req, true, i);
        jw_key(w, name);
        jw_int(w, 1);
    }
    jw_object_end(w);
    jw_object_end(w);
}

/* [[name, value], ...] for $arrayToObject, over the keys or the
 * metrics; names that start with '$' are wrapped in $literal so that they
 * are not read as field paths. */
static void pairs(struct jw *w, const struct agg_request *req, bool keys)
{
    char ref[24];
    int n = keys ? req->nkeys : req->nmetrics;

    jw_object_begin(w);
    jw_key(w, "$arrayToObject");
    jw_array_begin(w);
    jw_array_begin(w);
    for (int i = 0; i < n; i++) {
        const char *name = keys ? req->keys[i].name : req->metrics[i].alias;
        jw_array_begin(w);
        if (name[0] == '$') {
            jw_object_begin(w);
            jw_key(w, "$literal");
            jw_string(w, name);
            jw_object_end(w);
        } else {
            jw_string(w, name);
        }
        snprintf(ref, sizeof(ref), keys ? "$_id.k%d" : "$m%d", i);
        jw_string(w, ref);
        jw_array_end(w);
    }
    jw_array_end(w);
    jw_array_end(w);
    jw_object_end(w);
}

static void project_stage(struct jw *w, const struct agg_request *req)
{
    jw_object_begin(w);
    jw_key(w, "$project");
    jw_object_begin(w);
    jw_key(w, "_id");
    jw_int(w, 0);
    jw_key(w, "group");
    pairs(w, req, true);
    jw_key(w, "metrics");
    pairs(w, req, false);
    jw_object_end(w);
    jw_object_end(w);
}

int agg_pipeline_stage_count(const struct agg_request *req)
{
    return (req->filter != NULL) + (req->unwind != NULL) + 1 +
           needs_finish(req) + (req->nhaving > 0) + needs_sort_keys(req) + 1 +
           (req->limit > 0) + 1;
}

void agg_write_pipeline(const struct agg_request *req, struct jw *w)
{
    jw_array_begin(w);
    if (req->filter != NULL) {
        jw_object_begin(w);
        jw_key(w, "$match");
        filter_write_mongo(req->filter, w);
        jw_object_end(w);
    }
    if (req->unwind != NULL) {
        jw_object_begin(w);
        jw_key(w, "$unwind");
        field_ref(w, req->unwind);
        jw_object_end(w);
    }
    group_stage(w, req);
    if (needs_finish(req))
        finish_stage(w, req);
    if (req->nhaving > 0)
        having_stage(w, req);
    if (needs_sort_keys(req))
        sort_keys_stage(w, req);
    sort_stage(w, req);
    if (req->limit > 0) {
        jw_object_begin(w);
        jw_key(w, "$limit");
        jw_int(w, req->limit);
        jw_object_end(w);
    }
    project_stage(w, req);
    jw_array_end(w);
}
