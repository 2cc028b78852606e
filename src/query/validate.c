/*
 * validate.c - the aggregation request: JSON (as BSON) to struct
 * agg_request, with every problem reported at once under its location
 * (["body", "aggregations", 1, "field"]).
 *
 * Unknown top-level members are ignored (clients send "description");
 * an optional member sent as null means the same as leaving it out.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "query/agg_internal.h"

struct validator {
    const bson_t *body;
    struct arena *arena;
    struct agg_request *req;
    struct err_path path;
    struct err *e;
};

static const char *const fn_names[AGG_FN_COUNT] = {
    [AGG_COUNT] = "count",       [AGG_COUNT_DISTINCT] = "count_distinct",
    [AGG_SUM] = "sum",           [AGG_AVG] = "avg",
    [AGG_MIN] = "min",           [AGG_MAX] = "max",
    [AGG_FIRST] = "first",       [AGG_LAST] = "last",
    [AGG_PUSH] = "push",         [AGG_ADD_TO_SET] = "add_to_set",
};

const char *agg_fn_name(enum agg_fn fn)
{
    return fn < AGG_FN_COUNT ? fn_names[fn] : "?";
}

static void problem(struct validator *v, const char *key, const char *type,
                    const char *msg)
{
    err_problem(v->e, &v->path, key, type, "%s", msg);
}

/* Present and not null. */
static bool member(const bson_iter_t *obj, const char *key, bson_iter_t *it)
{
    return bson_iter_recurse(obj, it) && bson_iter_find(it, key) &&
           !BSON_ITER_HOLDS_NULL(it);
}

static bool top_member(struct validator *v, const char *key, bson_iter_t *it)
{
    return bson_iter_init_find(it, v->body, key) && !BSON_ITER_HOLDS_NULL(it);
}

static const char *string_member(struct validator *v, const bson_iter_t *obj,
                                 const char *key, bool required)
{
    bson_iter_t it;

    if (!member(obj, key, &it)) {
        if (required)
            problem(v, key, "missing", "field required");
        return NULL;
    }
    if (!BSON_ITER_HOLDS_UTF8(&it)) {
        problem(v, key, "string_type", "must be a string");
        return NULL;
    }
    return bson_iter_utf8(&it, NULL);
}

/* A dotted field path: non-empty parts, no '$' at the start. */
static bool path_ok(const char *p)
{
    if (p == NULL || p[0] == '\0' || p[0] == '$' || p[0] == '.')
        return false;
    size_t n = strlen(p);
    return p[n - 1] != '.' && strstr(p, "..") == NULL;
}

static const char *path_member(struct validator *v, const bson_iter_t *obj,
                               const char *key, bool required)
{
    const char *p = string_member(v, obj, key, required);

    if (p != NULL && !path_ok(p)) {
        problem(v, key, "value_error",
                "must be a dotted field path such as metadata.category");
        return NULL;
    }
    return p;
}

static int count_items(const bson_iter_t *arr)
{
    bson_iter_t it;
    int n = 0;

    if (bson_iter_recurse(arr, &it))
        while (bson_iter_next(&it))
            n++;
    return n;
}

/* Where a path is read from, given the unwound path. */
static struct agg_path path_for(const struct agg_request *req, const char *p)
{
    struct agg_path out = {.path = p, .rest = p};
    size_t n = req->unwind ? strlen(req->unwind) : 0;

    if (p != NULL && n > 0 && strncmp(p, req->unwind, n) == 0 &&
        (p[n] == '\0' || p[n] == '.')) {
        out.from_element = true;
        out.rest = p[n] == '\0' ? "" : p + n + 1;
    }
    size_t plen = p != NULL ? strlen(p) : 0;
    if (p != NULL && n > plen && strncmp(p, req->unwind, plen) == 0 &&
        req->unwind[plen] == '.') {
        out.above_element = true;
        out.down = req->unwind + plen + 1;
    }
    return out;
}

/* --- group_by ---------------------------------------------------------- */

static int unit_member(struct validator *v, const bson_iter_t *obj,
                       const char *key, bool trunc)
{
    const char *s = string_member(v, obj, key, false);

    if (s == NULL)
        return -1;
    int unit = clock_unit_parse(s, strlen(s));
    if (unit < 0 || (trunc && unit > CLOCK_SECOND)) {
        problem(v, key, "enum",
                trunc ? "must be one of year, month, week, day, hour, "
                        "minute, second"
                      : "must be one of year, month, week, day, dayOfWeek, "
                        "dayOfYear, hour, minute, second");
        return -1;
    }
    return unit;
}

static void parse_group_key(struct validator *v, const bson_iter_t *obj,
                            struct agg_key *k)
{
    const char *field = path_member(v, obj, "field", true);
    const char *alias = string_member(v, obj, "alias", false);
    int trunc = unit_member(v, obj, "date_trunc", true);
    int part = unit_member(v, obj, "date_part", false);

    if (trunc >= 0 && part >= 0)
        problem(v, "date_part", "value_error",
                "date_trunc and date_part cannot be used together");
    k->name = alias ? alias : field;
    k->field = path_for(v->req, field);
    k->kind = trunc >= 0 ? KEY_TRUNC : part >= 0 ? KEY_PART : KEY_VALUE;
    k->unit = (enum clock_unit)(trunc >= 0 ? trunc : part >= 0 ? part : 0);
}

static void parse_group_by(struct validator *v, bool has_ranges)
{
    bson_iter_t arr, it;
    int saved = err_path_key(&v->path, "group_by");

    if (!top_member(v, "group_by", &arr)) {
        if (!has_ranges)
            problem(v, NULL, "missing",
                    "field required (or give range_buckets for a histogram)");
        goto out;
    }
    if (!BSON_ITER_HOLDS_ARRAY(&arr)) {
        problem(v, NULL, "list_type", "must be a list of group keys");
        goto out;
    }
    if (count_items(&arr) == 0 && !has_ranges) {
        problem(v, NULL, "too_short",
                "needs at least one key (or range_buckets)");
        goto out;
    }
    bson_iter_recurse(&arr, &it);
    for (int i = 0; bson_iter_next(&it); i++) {
        int inner = err_path_index(&v->path, i);
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            problem(v, NULL, "dict_type", "must be an object");
        else
            parse_group_key(v, &it, &v->req->keys[v->req->nkeys++]);
        err_path_pop(&v->path, inner);
    }
out:
    v->req->ngroup_by = v->req->nkeys;
    err_path_pop(&v->path, saved);
}

/* --- range_buckets ----------------------------------------------------- */

/* Drops what an exponent does not need: "1e-06" -> "1e-6", "1e+21" ->
 * "1e21". */
static void shorten_exponent(char *text)
{
    char *e = strchr(text, 'e');

    if (e == NULL)
        return;
    char *digits = e + 1 + (e[1] == '+' || e[1] == '-');
    char *first = digits;
    while (*first == '0' && first[1] != '\0')
        first++;
    memmove(digits, first, strlen(first) + 1);
    if (e[1] == '+')
        memmove(e + 1, e + 2, strlen(e + 2) + 1);
}

/* The label of a boundary: its shortest number form ("60", "2.5",
 * "1e-6"). */
static const char *number_label(struct arena *a, const bson_iter_t *it)
{
    char text[40];

    if (BSON_ITER_HOLDS_DOUBLE(it))
        json_format_double(bson_iter_double(it), text, false);
    else
        snprintf(text, sizeof(text), "%lld",
                 (long long)bson_iter_as_int64(it));
    shorten_exponent(text);
    return arena_strndup(a, text, strlen(text));
}

static void parse_bounds(struct validator *v, const bson_iter_t *arr,
                         struct agg_key *k)
{
    bson_iter_t it;
    int n = count_items(arr);
    const char **text = arena_zalloc(v->arena, (size_t)(n + 1) *
                                                   sizeof(char *));

    k->bounds = arena_zalloc(v->arena, (size_t)(n + 1) * sizeof(double));
    k->labels = arena_zalloc(v->arena, (size_t)(n + 1) * sizeof(char *));
    if (k->bounds == NULL || k->labels == NULL || text == NULL)
        return;
    bson_iter_recurse(arr, &it);
    while (bson_iter_next(&it)) {
        if (!value_is_number(bson_iter_type(&it)) ||
            !isfinite(bson_iter_as_double(&it))) {
            problem(v, "boundaries", "float_type",
                    "boundaries must be finite numbers");
            return;
        }
        double b = bson_iter_as_double(&it);
        if (k->nbounds > 0 && !(b > k->bounds[k->nbounds - 1])) {
            problem(v, "boundaries", "value_error",
                    "boundaries must be strictly ascending");
            return;
        }
        text[k->nbounds] = number_label(v->arena, &it);
        k->bounds[k->nbounds++] = b;
    }
    for (int i = 0; i + 1 < k->nbounds; i++) {
        char label[96];
        snprintf(label, sizeof(label), "%s-%s", text[i], text[i + 1]);
        k->labels[i] = arena_strndup(v->arena, label, strlen(label));
    }
}

static void parse_range(struct validator *v, const bson_iter_t *obj,
                        struct agg_key *k)
{
    bson_iter_t b;
    const char *field = path_member(v, obj, "field", true);
    const char *def = string_member(v, obj, "default_bucket", false);

    k->name = field;
    k->field = path_for(v->req, field);
    k->kind = KEY_RANGE;
    k->default_label = def ? def : "other";
    if (!member(obj, "boundaries", &b))
        problem(v, "boundaries", "missing", "field required");
    else if (!BSON_ITER_HOLDS_ARRAY(&b) || count_items(&b) == 0)
        problem(v, "boundaries", "too_short",
                "must be a list of at least one number");
    else
        parse_bounds(v, &b, k);
}

static void parse_ranges(struct validator *v)
{
    bson_iter_t arr, it;
    int saved = err_path_key(&v->path, "range_buckets");

    if (top_member(v, "range_buckets", &arr)) {
        if (!BSON_ITER_HOLDS_ARRAY(&arr)) {
            problem(v, NULL, "list_type", "must be a list");
        } else {
            bson_iter_recurse(&arr, &it);
            for (int i = 0; bson_iter_next(&it); i++) {
                int inner = err_path_index(&v->path, i);
                if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                    problem(v, NULL, "dict_type", "must be an object");
                else
                    parse_range(v, &it, &v->req->keys[v->req->nkeys++]);
                err_path_pop(&v->path, inner);
            }
        }
    }
    err_path_pop(&v->path, saved);
}

/* --- aggregations ------------------------------------------------------ */

static int parse_fn(struct validator *v, const bson_iter_t *obj)
{
    const char *name = string_member(v, obj, "function", true);

    if (name == NULL)
        return -1;
    for (int i = 0; i < AGG_FN_COUNT; i++)
        if (strcasecmp(name, fn_names[i]) == 0)
            return i;
    problem(v, "function", "enum",
            "must be one of count, count_distinct, sum, avg, min, max, "
            "first, last, push, add_to_set");
    return -1;
}

static void parse_metric(struct validator *v, const bson_iter_t *obj,
                         struct agg_metric *m)
{
    int fn = parse_fn(v, obj);
    const char *field = path_member(v, obj, "field", false);
    const char *distinct = path_member(v, obj, "distinct_field", false);

    m->alias = string_member(v, obj, "alias", true);
    if (fn < 0)
        return;
    m->fn = (enum agg_fn)fn;
    if (m->fn == AGG_COUNT_DISTINCT && distinct != NULL)
        field = distinct;
    if (field == NULL && m->fn != AGG_COUNT)
        problem(v, "field", "missing",
                m->fn == AGG_COUNT_DISTINCT
                    ? "count_distinct needs distinct_field or field"
                    : "this function needs a field");
    m->field = path_for(v->req, field);
}

static void parse_metrics(struct validator *v)
{
    bson_iter_t arr, it;
    int saved = err_path_key(&v->path, "aggregations");

    if (!top_member(v, "aggregations", &arr))
        problem(v, NULL, "missing", "field required");
    else if (!BSON_ITER_HOLDS_ARRAY(&arr))
        problem(v, NULL, "list_type", "must be a list of aggregations");
    else if (count_items(&arr) == 0)
        problem(v, NULL, "too_short", "needs at least one aggregation");
    else {
        bson_iter_recurse(&arr, &it);
        for (int i = 0; bson_iter_next(&it); i++) {
            int inner = err_path_index(&v->path, i);
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                problem(v, NULL, "dict_type", "must be an object");
            else
                parse_metric(v, &it, &v->req->metrics[v->req->nmetrics++]);
            err_path_pop(&v->path, inner);
        }
    }
    err_path_pop(&v->path, saved);
}

/* Pushes the location of output name i: a group_by entry, a range
 * bucket (named after its field) or a metric. */
static void name_location(struct validator *v, int i)
{
    const struct agg_request *r = v->req;

    if (i < r->ngroup_by) {
        err_path_key(&v->path, "group_by");
        err_path_index(&v->path, i);
    } else if (i < r->nkeys) {
        err_path_key(&v->path, "range_buckets");
        err_path_index(&v->path, i - r->ngroup_by);
    } else {
        err_path_key(&v->path, "aggregations");
        err_path_index(&v->path, i - r->nkeys);
    }
}

/* Every output name once: keys and metrics share one namespace. */
static void check_names(struct validator *v)
{
    struct agg_request *r = v->req;
    int total = r->nkeys + r->nmetrics;

    for (int i = 0; i < total; i++) {
        const char *a = i < r->nkeys ? r->keys[i].name
                                     : r->metrics[i - r->nkeys].alias;
        for (int j = 0; j < i && a != NULL; j++) {
            const char *b = j < r->nkeys ? r->keys[j].name
                                         : r->metrics[j - r->nkeys].alias;
            if (b == NULL || strcmp(a, b) != 0)
                continue;
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "alias \"%.100s\" is used twice: names of group keys "
                     "and metrics must be unique", a);
            int saved = v->path.len;
            name_location(v, i);
            problem(v, i >= r->ngroup_by && i < r->nkeys ? "field" : "alias",
                    "value_error", msg);
            err_path_pop(&v->path, saved);
            break;
        }
    }
}

/* A group key name or metric alias: its index, keys first. */
static bool find_name(const struct agg_request *r, const char *name,
                      bool *on_key, int *index)
{
    for (int i = 0; i < r->nkeys; i++)
        if (r->keys[i].name && strcmp(r->keys[i].name, name) == 0)
            return *on_key = true, *index = i, true;
    for (int i = 0; i < r->nmetrics; i++)
        if (r->metrics[i].alias && strcmp(r->metrics[i].alias, name) == 0)
            return *on_key = false, *index = i, true;
    return false;
}

/* --- having, sort, limit, unwind, filters ------------------------------ */

static void parse_condition(struct validator *v, const bson_iter_t *obj,
                            struct agg_having *h)
{
    static const char *const ops[] = {"gt", "gte", "lt", "lte", "eq", "ne"};
    const char *field = string_member(v, obj, "field", true);
    const char *op = string_member(v, obj, "operator", true);
    bson_iter_t val;

    if (field != NULL && !find_name(v->req, field, &h->on_key, &h->index))
        problem(v, "field", "value_error",
                "must name a metric alias or a group key");
    if (op != NULL) {
        int found = -1;
        for (int i = 0; i < 6; i++)
            if (strcmp(op, ops[i]) == 0)
                found = i;
        if (found < 0)
            problem(v, "operator", "enum",
                    "must be one of gt, gte, lt, lte, eq, ne");
        h->op = (enum agg_cmp)(found < 0 ? 0 : found);
    }
    if (!bson_iter_recurse(obj, &val) || !bson_iter_find(&val, "value"))
        problem(v, "value", "missing", "field required");
    else if (!value_is_number(bson_iter_type(&val)) &&
             !BSON_ITER_HOLDS_UTF8(&val))
        problem(v, "value", "type_error", "must be a number or a string");
    else
        h->value = *bson_iter_value(&val);
    if (h->value.value_type == BSON_TYPE_UTF8)
        h->has_date = clock_parse_iso8601(h->value.value.v_utf8.str,
                                          h->value.value.v_utf8.len,
                                          &h->date_ms);
}

static void parse_having(struct validator *v)
{
    bson_iter_t arr, it;
    int saved = err_path_key(&v->path, "having");

    if (top_member(v, "having", &arr)) {
        if (!BSON_ITER_HOLDS_ARRAY(&arr)) {
            problem(v, NULL, "list_type", "must be a list of conditions");
        } else {
            v->req->having = arena_zalloc(v->arena,
                                          (size_t)(count_items(&arr) + 1) *
                                              sizeof(struct agg_having));
            bson_iter_recurse(&arr, &it);
            for (int i = 0; v->req->having && bson_iter_next(&it); i++) {
                int inner = err_path_index(&v->path, i);
                if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                    problem(v, NULL, "dict_type", "must be an object");
                else
                    parse_condition(v, &it,
                                    &v->req->having[v->req->nhaving++]);
                err_path_pop(&v->path, inner);
            }
        }
    }
    err_path_pop(&v->path, saved);
}

static void parse_sort_limit(struct validator *v)
{
    bson_iter_t it;
    struct agg_request *r = v->req;

    if (top_member(v, "sort_by", &it)) {
        if (!BSON_ITER_HOLDS_UTF8(&it))
            problem(v, "sort_by", "string_type", "must be a string");
        else if (!find_name(r, bson_iter_utf8(&it, NULL), &r->sort_on_key,
                            &r->sort_index))
            problem(v, "sort_by", "value_error",
                    "must name a group key or a metric alias");
        else
            r->has_sort = true;
    }
    r->sort_desc = true;
    if (top_member(v, "sort_direction", &it)) {
        const char *d = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                                  : "";
        if (strcasecmp(d, "asc") != 0 && strcasecmp(d, "desc") != 0)
            problem(v, "sort_direction", "enum", "must be asc or desc");
        r->sort_desc = strcasecmp(d, "asc") != 0;
    }
    if (top_member(v, "limit", &it)) {
        double d = value_is_number(bson_iter_type(&it))
                       ? bson_iter_as_double(&it)
                       : 0;
        if (!value_is_number(bson_iter_type(&it)) || d != floor(d) ||
            d < 1 || d > 9e18)
            problem(v, "limit", "value_error",
                    "must be an integer greater than 0");
        else
            r->limit = (int64_t)d;
    }
}

static void parse_unwind(struct validator *v)
{
    bson_iter_t it;

    if (!top_member(v, "unwind", &it))
        return;
    const char *p = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                              : NULL;
    if (p != NULL && p[0] == '$')
        p++; /* MongoDB's "$blobs" spelling */
    if (!path_ok(p))
        problem(v, "unwind", "value_error",
                "must be the dotted path of an array field");
    else
        v->req->unwind = p;
}

static void parse_filters(struct validator *v)
{
    bson_iter_t it;
    int saved = err_path_key(&v->path, "filters");

    if (bson_iter_init_find(&it, v->body, "filters"))
        filter_compile(&it, v->req->bucket, v->arena, &v->req->filter,
                       &v->path, v->e);
    err_path_pop(&v->path, saved);
}

/* --- entry ------------------------------------------------------------- */

static int array_size(const bson_t *body, const char *key)
{
    bson_iter_t it;

    if (!bson_iter_init_find(&it, body, key) || !BSON_ITER_HOLDS_ARRAY(&it))
        return 0;
    return count_items(&it);
}

static bool allocate(struct validator *v)
{
    struct agg_request *r = v->req;
    int nkeys = array_size(v->body, "group_by") +
                array_size(v->body, "range_buckets");
    int nmetrics = array_size(v->body, "aggregations");

    r->keys = arena_zalloc(v->arena, (size_t)(nkeys + 1) * sizeof(*r->keys));
    r->metrics = arena_zalloc(v->arena,
                              (size_t)(nmetrics + 1) * sizeof(*r->metrics));
    return r->keys != NULL && r->metrics != NULL;
}

int agg_parse(const bson_t *body, const bson_t *bucket, struct arena *arena,
              struct agg_request **out, struct err *e)
{
    struct validator v = {.body = body, .arena = arena, .e = e};

    *out = NULL;
    v.req = arena_zalloc(arena, sizeof(*v.req));
    if (v.req == NULL || !allocate(&v))
        return err_set(e, ERR_NOMEM, "out of memory reading the request");
    v.req->bucket = bucket;
    err_path_key(&v.path, "body");

    parse_unwind(&v);
    parse_filters(&v);
    parse_group_by(&v, array_size(body, "range_buckets") > 0);
    parse_ranges(&v);
    parse_metrics(&v);
    check_names(&v);
    parse_having(&v);
    parse_sort_limit(&v);

    if (e->code != ERR_OK) {
        agg_request_release(v.req);
        return e->code;
    }
    *out = v.req;
    return 0;
}

void agg_request_release(struct agg_request *req)
{
    if (req != NULL)
        filter_release(req->filter);
}
