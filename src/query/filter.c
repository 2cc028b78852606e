/*
 * filter.c - compiling and evaluating filters.
 *
 * Both dialects become one tree: AND / OR / NOR nodes over predicates. A
 * predicate is (path, operator, operands). Evaluating it walks the path
 * through the document and tests every value it reaches ("candidates"):
 * the value at the end of the path and, when that value is an array,
 * each element too. A path crossing an array of objects continues into
 * every element. Operators that are about the field as a whole ($size,
 * $exists, $elemMatch) look only at the values at the end of the path.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "query/filter.h"
#include "query/filter_internal.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "query/value.h"

/* --- compiling: shared pieces ------------------------------------------ */

struct compiler {
    struct filter *f;
    struct arena *arena;
    struct err_path *path;
    struct err *e;
    int depth;
};

static struct fnode *node_new(struct compiler *c, enum fkind kind)
{
    struct fnode *n = arena_zalloc(c->arena, sizeof(*n));
    if (n != NULL)
        n->kind = kind;
    else
        err_set(c->e, ERR_NOMEM, "out of memory compiling a filter");
    return n;
}

static void add_kid(struct compiler *c, struct fnode *parent,
                    struct fnode *kid, int cap)
{
    if (kid == NULL)
        return;
    if (parent->kids == NULL)
        parent->kids = arena_alloc(c->arena, (size_t)cap * sizeof(kid));
    if (parent->kids != NULL && parent->nkids < cap)
        parent->kids[parent->nkids++] = kid;
}

static int count_members(const bson_iter_t *it)
{
    bson_iter_t child;
    int n = 0;

    if (bson_iter_recurse(it, &child))
        while (bson_iter_next(&child))
            n++;
    return n;
}

static bool split_path(struct compiler *c, struct fnode *n, const char *path)
{
    int parts = 1;

    for (const char *p = path; *p; p++)
        parts += *p == '.';
    n->path = path;
    n->comps = arena_alloc(c->arena, (size_t)parts * sizeof(char *));
    if (n->comps == NULL || path[0] == '\0')
        return false;
    const char *start = path;
    for (const char *p = path;; p++) {
        if (*p == '.' || *p == '\0') {
            if (p == start)
                return false;
            n->comps[n->ncomps++] = arena_strndup(c->arena, start,
                                                  (size_t)(p - start));
            start = p + 1;
        }
        if (*p == '\0')
            break;
    }
    return true;
}

static void problem(struct compiler *c, const char *key, const char *type,
                    const char *msg, const char *arg)
{
    err_problem(c->e, c->path, key, type, msg, arg ? arg : "");
}

static void keep_regex(struct compiler *c, pcre2_code *re)
{
    struct filter *f = c->f;

    if (f->nregex == f->cap_regex) {
        int cap = f->cap_regex ? f->cap_regex * 2 : 8;
        pcre2_code **r = arena_alloc(c->arena, (size_t)cap * sizeof(*r));
        if (r == NULL) {
            pcre2_code_free(re);
            return;
        }
        if (f->nregex)
            memcpy(r, f->regexes, (size_t)f->nregex * sizeof(*r));
        f->regexes = r;
        f->cap_regex = cap;
    }
    f->regexes[f->nregex++] = re;
}

static pcre2_code *compile_regex(struct compiler *c, const char *src,
                                 size_t n, uint32_t flags, const char *key)
{
    int errcode;
    PCRE2_SIZE erroff;

    if (n > FILTER_REGEX_MAX_BYTES) {
        problem(c, key, "value_error",
                "regular expression is longer than %s bytes", "4096");
        return NULL;
    }
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, n, flags | PCRE2_UTF,
                                   &errcode, &erroff, NULL);
    if (re == NULL) {
        char msg[160], full[240];
        pcre2_get_error_message(errcode, (PCRE2_UCHAR *)msg, sizeof(msg));
        snprintf(full, sizeof(full), "invalid regular expression: %s at "
                 "offset %zu", msg, (size_t)erroff);
        problem(c, key, "regex_error", "%s", full);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    keep_regex(c, re);
    return re;
}

/* A caseless literal match of s: anchored per operator. */
static pcre2_code *literal_fold(struct compiler *c, const char *s, size_t n,
                                enum fop op)
{
    uint32_t flags = PCRE2_LITERAL | PCRE2_CASELESS;

    if (op == OP_EQ || op == OP_NE || op == OP_IN || op == OP_NIN ||
        op == OP_STARTS)
        flags |= PCRE2_ANCHORED;
    if (op == OP_EQ || op == OP_NE || op == OP_IN || op == OP_NIN ||
        op == OP_ENDS)
        flags |= PCRE2_ENDANCHORED;
    return compile_regex(c, s, n, flags, NULL);
}

static void set_operand(struct compiler *c, struct operand *o,
                        const bson_iter_t *it, bool fold, enum fop op)
{
    o->v = *bson_iter_value((bson_iter_t *)it);
    if (o->v.value_type != BSON_TYPE_UTF8)
        return;
    o->has_date = clock_parse_iso8601(o->v.value.v_utf8.str,
                                      o->v.value.v_utf8.len, &o->date_ms);
    if (fold)
        o->re = literal_fold(c, o->v.value.v_utf8.str, o->v.value.v_utf8.len,
                             op);
}

/* --- compiling: query documents --------------------------------------- */

static struct fnode *compile_query(struct compiler *c, const bson_iter_t *doc);

static const struct {
    const char *name;
    enum fop op;
} mongo_ops[] = {
    {"$eq", OP_EQ},         {"$ne", OP_NE},         {"$gt", OP_GT},
    {"$gte", OP_GTE},       {"$lt", OP_LT},         {"$lte", OP_LTE},
    {"$in", OP_IN},         {"$nin", OP_NIN},       {"$exists", OP_EXISTS},
    {"$regex", OP_REGEX},   {"$size", OP_SIZE},     {"$all", OP_ALL},
    {"$elemMatch", OP_ELEM_MATCH},
};

static int mongo_op(const char *name)
{
    for (size_t i = 0; i < sizeof(mongo_ops) / sizeof(mongo_ops[0]); i++)
        if (strcmp(name, mongo_ops[i].name) == 0)
            return (int)mongo_ops[i].op;
    return -1;
}

static struct fnode *pred_new(struct compiler *c, const char *path,
                              enum fop op)
{
    struct fnode *n = node_new(c, FN_PRED);

    if (n == NULL)
        return NULL;
    n->op = op;
    if (!split_path(c, n, path)) {
        problem(c, NULL, "value_error", "field path \"%s\" is not valid",
                path);
        return NULL;
    }
    n->path_is_date = filter_path_is_date(c->f->bucket, path);
    return n;
}

static bool list_operands(struct compiler *c, struct fnode *n,
                          const bson_iter_t *arr, bool fold, const char *key)
{
    bson_iter_t it;

    if (!BSON_ITER_HOLDS_ARRAY(arr)) {
        problem(c, key, "list_type", "%s needs an array", key);
        return false;
    }
    n->ops = arena_zalloc(c->arena, (size_t)(count_members(arr) + 1) *
                                        sizeof(*n->ops));
    if (n->ops == NULL)
        return false;
    bson_iter_recurse(arr, &it);
    while (bson_iter_next(&it))
        set_operand(c, &n->ops[n->nops++], &it, fold, n->op);
    return true;
}

/* A problem about $options, which sits beside $regex (the operator whose
 * key the location ends with). */
static void options_problem(struct compiler *c, const char *type,
                            const char *msg, const char *arg)
{
    int saved = c->path->len;

    if (saved > 0)
        c->path->len--;
    problem(c, "$options", type, msg, arg);
    c->path->len = saved;
}

static const char *regex_options(struct compiler *c, const bson_iter_t *ops,
                                 uint32_t *flags)
{
    bson_iter_t it;
    const char *opts = "";

    *flags = 0;
    if (bson_iter_recurse(ops, &it) && bson_iter_find(&it, "$options")) {
        if (!BSON_ITER_HOLDS_UTF8(&it)) {
            options_problem(c, "string_type", "%s must be a string",
                            "$options");
            return opts;
        }
        opts = bson_iter_utf8(&it, NULL);
    }
    for (const char *p = opts; *p; p++) {
        if (*p == 'i')
            *flags |= PCRE2_CASELESS;
        else if (*p == 'm')
            *flags |= PCRE2_MULTILINE;
        else if (*p == 's')
            *flags |= PCRE2_DOTALL;
        else if (*p == 'x')
            *flags |= PCRE2_EXTENDED;
        else {
            options_problem(c, "value_error",
                            "unknown regex option in \"%s\" (use i, m, s, x)",
                            opts);
            break;
        }
    }
    return opts;
}

static struct fnode *compile_regex_pred(struct compiler *c, const char *path,
                                        const bson_iter_t *val,
                                        const bson_iter_t *ops)
{
    uint32_t flags;
    uint32_t n;
    struct fnode *p = pred_new(c, path, OP_REGEX);

    if (p == NULL)
        return NULL;
    if (!BSON_ITER_HOLDS_UTF8(val)) {
        problem(c, NULL, "string_type", "%s must be a string", "$regex");
        return NULL;
    }
    p->regex_src = bson_iter_utf8(val, &n);
    p->regex_opts = regex_options(c, ops, &flags);
    p->ops = arena_zalloc(c->arena, sizeof(*p->ops));
    if (p->ops == NULL)
        return NULL;
    p->nops = 1;
    /* compile_operator has put "$regex" in the location already. */
    p->ops[0].re = compile_regex(c, p->regex_src, n, flags, NULL);
    return p;
}

static struct fnode *compile_operator(struct compiler *c, const char *path,
                                      const bson_iter_t *it,
                                      const bson_iter_t *ops);

static struct fnode *compile_not(struct compiler *c, const char *path,
                                 const bson_iter_t *it)
{
    struct fnode *nor = node_new(c, FN_NOR);

    if (nor == NULL)
        return NULL;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || count_members(it) == 0) {
        problem(c, "$not", "dict_type", "%s needs an operator document",
                "$not");
        return NULL;
    }
    bson_iter_t op;
    bson_iter_recurse(it, &op);
    struct fnode *and = node_new(c, FN_AND);
    int n = count_members(it);
    while (and != NULL && bson_iter_next(&op)) {
        if (strcmp(bson_iter_key(&op), "$options") == 0)
            continue;
        add_kid(c, and, compile_operator(c, path, &op, it), n);
    }
    add_kid(c, nor, and, 1);
    return nor;
}

static struct fnode *compile_elem_match(struct compiler *c, struct fnode *p,
                                        const bson_iter_t *it)
{
    bson_iter_t first;

    if (!BSON_ITER_HOLDS_DOCUMENT(it)) {
        problem(c, "$elemMatch", "dict_type", "%s needs a document",
                "$elemMatch");
        return NULL;
    }
    bson_iter_recurse(it, &first);
    p->sub_on_value = bson_iter_next(&first) &&
                      (mongo_op(bson_iter_key(&first)) >= 0 ||
                       strcmp(bson_iter_key(&first), "$not") == 0);
    if (!p->sub_on_value) {
        p->sub = compile_query(c, it);
        return p;
    }

    /* Operators on the element itself: predicates with an empty path. */
    struct fnode *and = node_new(c, FN_AND);
    int n = count_members(it);
    bson_iter_recurse(it, &first);
    while (and != NULL && bson_iter_next(&first)) {
        if (strcmp(bson_iter_key(&first), "$options") == 0)
            continue;
        struct fnode *k = compile_operator(c, "$elem", &first, it);
        if (k != NULL)
            k->ncomps = 0; /* applies to the element, not a member */
        add_kid(c, and, k, n);
    }
    p->sub = and;
    return p;
}

static struct fnode *compile_operator(struct compiler *c, const char *path,
                                      const bson_iter_t *it,
                                      const bson_iter_t *ops)
{
    const char *key = bson_iter_key(it);
    int saved = err_path_key(c->path, key);
    struct fnode *p = NULL;

    if (strcmp(key, "$not") == 0) {
        p = compile_not(c, path, it);
        goto out;
    }
    if (strcmp(key, "$regex") == 0) {
        p = compile_regex_pred(c, path, it, ops);
        goto out;
    }
    int op = mongo_op(key);
    if (op < 0) {
        problem(c, NULL, "value_error", "unknown operator \"%s\"", key);
        goto out;
    }
    p = pred_new(c, path, (enum fop)op);
    if (p == NULL)
        goto out;
    switch (p->op) {
    case OP_IN:
    case OP_NIN:
    case OP_ALL:
        if (!list_operands(c, p, it, false, key))
            p = NULL;
        break;
    case OP_EXISTS:
        p->flag = bson_iter_as_bool(it);
        break;
    case OP_SIZE:
        if (!BSON_ITER_HOLDS_INT32(it) && !BSON_ITER_HOLDS_INT64(it)) {
            problem(c, NULL, "int_type", "%s needs an integer", key);
            p = NULL;
        } else {
            p->size = bson_iter_as_int64(it);
        }
        break;
    case OP_ELEM_MATCH:
        p = compile_elem_match(c, p, it);
        break;
    default:
        p->ops = arena_zalloc(c->arena, sizeof(*p->ops));
        if (p->ops == NULL)
            return NULL;
        p->nops = 1;
        set_operand(c, &p->ops[0], it, false, p->op);
    }
out:
    err_path_pop(c->path, saved);
    return p;
}

static bool is_operator_doc(const bson_iter_t *it)
{
    bson_iter_t first;

    return BSON_ITER_HOLDS_DOCUMENT(it) && bson_iter_recurse(it, &first) &&
           bson_iter_next(&first) && bson_iter_key(&first)[0] == '$';
}

static struct fnode *compile_field(struct compiler *c, const char *path,
                                   const bson_iter_t *it)
{
    if (!is_operator_doc(it)) {
        struct fnode *p = pred_new(c, path, OP_EQ);
        if (p == NULL || (p->ops = arena_zalloc(c->arena,
                                                sizeof(*p->ops))) == NULL)
            return NULL;
        p->nops = 1;
        set_operand(c, &p->ops[0], it, false, OP_EQ);
        return p;
    }

    bson_iter_t op;
    int n = count_members(it);
    struct fnode *and = node_new(c, FN_AND);
    bson_iter_recurse(it, &op);
    while (and != NULL && bson_iter_next(&op)) {
        const char *k = bson_iter_key(&op);
        if (strcmp(k, "$options") == 0)
            continue;
        if (k[0] != '$') {
            problem(c, k, "value_error",
                    "operator documents cannot mix operators and fields "
                    "(\"%s\")", k);
            continue;
        }
        add_kid(c, and, compile_operator(c, path, &op, it), n);
    }
    return and;
}

static struct fnode *compile_logical(struct compiler *c, const bson_iter_t *it,
                                     enum fkind kind)
{
    bson_iter_t arr;
    struct fnode *n = node_new(c, kind);
    int count = count_members(it), i = 0;

    if (n == NULL)
        return NULL;
    if (!BSON_ITER_HOLDS_ARRAY(it) || count == 0) {
        problem(c, NULL, "list_type", "%s needs a non-empty array of queries",
                bson_iter_key(it));
        return NULL;
    }
    bson_iter_recurse(it, &arr);
    while (bson_iter_next(&arr)) {
        int saved = err_path_index(c->path, i++);
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
            problem(c, NULL, "dict_type", "each query must be an object%s",
                    "");
        else
            add_kid(c, n, compile_query(c, &arr), count);
        err_path_pop(c->path, saved);
    }
    return n;
}

static struct fnode *compile_query(struct compiler *c, const bson_iter_t *doc)
{
    bson_iter_t it;
    struct fnode *and = node_new(c, FN_AND);
    int n = count_members(doc);

    if (and == NULL || ++c->depth > FILTER_MAX_DEPTH) {
        problem(c, NULL, "value_error", "filter nests deeper than %s levels",
                "32");
        c->depth--;
        return NULL;
    }
    bson_iter_recurse(doc, &it);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        int saved = err_path_key(c->path, k);
        struct fnode *kid = NULL;

        if (strcmp(k, "$and") == 0)
            kid = compile_logical(c, &it, FN_AND);
        else if (strcmp(k, "$or") == 0)
            kid = compile_logical(c, &it, FN_OR);
        else if (strcmp(k, "$nor") == 0)
            kid = compile_logical(c, &it, FN_NOR);
        else if (k[0] == '$')
            problem(c, NULL, "value_error",
                    "unknown top-level operator \"%s\"", k);
        else
            kid = compile_field(c, k, &it);
        add_kid(c, and, kid, n);
        err_path_pop(c->path, saved);
    }
    c->depth--;
    return and;
}

/* --- compiling: condition lists --------------------------------------- */

static const struct {
    const char *name;
    enum fop op;
} list_ops[] = {
    {"eq", OP_EQ},          {"ne", OP_NE},       {"gt", OP_GT},
    {"gte", OP_GTE},        {"lt", OP_LT},       {"lte", OP_LTE},
    {"in", OP_IN},          {"nin", OP_NIN},     {"exists", OP_EXISTS},
    {"regex", OP_REGEX},    {"contains", OP_CONTAINS},
    {"starts_with", OP_STARTS}, {"ends_with", OP_ENDS},
    {"is_null", OP_IS_NULL}, {"text", OP_CONTAINS},
};

static struct fnode *compile_list(struct compiler *c, const bson_iter_t *doc,
                                  bool case_sensitive);

static bool is_condition_list(const bson_iter_t *it)
{
    bson_iter_t m;

    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &m))
        return false;
    while (bson_iter_next(&m)) {
        const char *k = bson_iter_key(&m);
        if (!strcmp(k, "AND") || !strcmp(k, "OR") || !strcmp(k, "NOT"))
            return true;
    }
    return false;
}

static bool string_op(enum fop op)
{
    return op == OP_CONTAINS || op == OP_STARTS || op == OP_ENDS;
}

static struct fnode *condition_operands(struct compiler *c, struct fnode *p,
                                        const bson_iter_t *val, bool fold,
                                        const char *opname)
{
    uint32_t n;

    switch (p->op) {
    case OP_IN:
    case OP_NIN:
        return list_operands(c, p, val, fold, "value") ? p : NULL;
    case OP_EXISTS:
    case OP_IS_NULL:
        if (!BSON_ITER_HOLDS_BOOL(val)) {
            problem(c, "value", "bool_type", "%s needs true or false", opname);
            return NULL;
        }
        p->flag = bson_iter_bool(val);
        return p;
    case OP_REGEX:
        if (!BSON_ITER_HOLDS_UTF8(val)) {
            problem(c, "value", "string_type", "%s needs a string", opname);
            return NULL;
        }
        p->regex_src = bson_iter_utf8(val, &n);
        p->regex_opts = fold ? "i" : "";
        p->ops = arena_zalloc(c->arena, sizeof(*p->ops));
        if (p->ops == NULL)
            return NULL;
        p->nops = 1;
        p->ops[0].re = compile_regex(c, p->regex_src, n,
                                     fold ? PCRE2_CASELESS : 0, "value");
        return p;
    default:
        if (string_op(p->op) && !BSON_ITER_HOLDS_UTF8(val)) {
            problem(c, "value", "string_type", "%s needs a string", opname);
            return NULL;
        }
        p->ops = arena_zalloc(c->arena, sizeof(*p->ops));
        if (p->ops == NULL)
            return NULL;
        p->nops = 1;
        set_operand(c, &p->ops[0], val, fold, p->op);
        return p;
    }
}

static struct fnode *compile_condition(struct compiler *c,
                                       const bson_iter_t *it,
                                       bool case_sensitive)
{
    bson_iter_t m, val;
    const char *field = NULL, *opname = "eq";
    bool has_value = false;

    if (is_condition_list(it))
        return compile_list(c, it, case_sensitive);
    if (!BSON_ITER_HOLDS_DOCUMENT(it)) {
        problem(c, NULL, "dict_type", "a condition must be an object%s", "");
        return NULL;
    }
    bson_iter_recurse(it, &m);
    while (bson_iter_next(&m)) {
        const char *k = bson_iter_key(&m);
        if (strcmp(k, "field") == 0 && BSON_ITER_HOLDS_UTF8(&m))
            field = bson_iter_utf8(&m, NULL);
        else if (strcmp(k, "operator") == 0 && BSON_ITER_HOLDS_UTF8(&m))
            opname = bson_iter_utf8(&m, NULL);
        else if (strcmp(k, "value") == 0)
            val = m, has_value = true;
    }
    if (field == NULL)
        problem(c, "field", "missing", "field is required (a string)%s", "");
    if (!has_value)
        problem(c, "value", "missing", "value is required%s", "");

    int op = -1;
    for (size_t i = 0; i < sizeof(list_ops) / sizeof(list_ops[0]); i++)
        if (strcmp(opname, list_ops[i].name) == 0)
            op = (int)list_ops[i].op;
    if (op < 0) {
        problem(c, "operator", "value_error", "unknown operator \"%s\"",
                opname);
        return NULL;
    }
    if (field == NULL || !has_value)
        return NULL;
    if (BSON_ITER_HOLDS_DOCUMENT(&val) && count_members(&val) > 0) {
        bson_iter_t t;
        if (bson_iter_recurse(&val, &t) && bson_iter_find(&t, "type") &&
            BSON_ITER_HOLDS_UTF8(&t) &&
            strcmp(bson_iter_utf8(&t, NULL), "dynamic") == 0) {
            problem(c, "value", "value_error",
                    "dynamic values (comparing two fields) are not "
                    "supported%s", "");
            return NULL;
        }
    }

    struct fnode *p = pred_new(c, field, (enum fop)op);
    if (p == NULL)
        return NULL;
    /* "text" is always caseless; the rest follow case_sensitive. */
    p->fold = strcmp(opname, "text") == 0 || !case_sensitive;
    return condition_operands(c, p, &val, p->fold, opname);
}

static struct fnode *compile_list_part(struct compiler *c,
                                       const bson_iter_t *it, enum fkind kind,
                                       bool case_sensitive)
{
    bson_iter_t arr;
    int count = count_members(it), i = 0;
    struct fnode *n = node_new(c, kind);

    if (n == NULL)
        return NULL;
    if (!BSON_ITER_HOLDS_ARRAY(it)) {
        problem(c, NULL, "list_type", "%s must be an array of conditions",
                bson_iter_key(it));
        return NULL;
    }
    bson_iter_recurse(it, &arr);
    while (bson_iter_next(&arr)) {
        int saved = err_path_index(c->path, i++);
        add_kid(c, n, compile_condition(c, &arr, case_sensitive), count);
        err_path_pop(c->path, saved);
    }
    return n->nkids > 0 || kind == FN_AND ? n : NULL;
}

static struct fnode *compile_list(struct compiler *c, const bson_iter_t *doc,
                                  bool case_sensitive)
{
    bson_iter_t it;
    struct fnode *and = node_new(c, FN_AND);

    if (and == NULL || ++c->depth > FILTER_MAX_DEPTH) {
        problem(c, NULL, "value_error", "filter nests deeper than %s levels",
                "32");
        c->depth--;
        return NULL;
    }
    if (bson_iter_recurse(doc, &it) && bson_iter_find(&it, "case_sensitive") &&
        BSON_ITER_HOLDS_BOOL(&it))
        case_sensitive = bson_iter_bool(&it);

    bson_iter_recurse(doc, &it);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        int saved = err_path_key(c->path, k);
        enum fkind kind = !strcmp(k, "AND") ? FN_AND
                          : !strcmp(k, "OR") ? FN_OR
                          : FN_NOR;
        if ((!strcmp(k, "AND") || !strcmp(k, "OR") || !strcmp(k, "NOT")) &&
            !BSON_ITER_HOLDS_NULL(&it))
            add_kid(c, and, compile_list_part(c, &it, kind, case_sensitive), 3);
        else if (strcmp(k, "case_sensitive") != 0 && !BSON_ITER_HOLDS_NULL(&it))
            problem(c, NULL, "value_error",
                    "unknown member \"%s\" of a condition list", k);
        err_path_pop(c->path, saved);
    }
    c->depth--;
    return and;
}

/* --- compile entry ----------------------------------------------------- */

bool filter_path_is_date(const bson_t *bucket, const char *path)
{
    bson_iter_t it, spec;
    char key[300];

    if (strcmp(path, "created_at") == 0 || strcmp(path, "updated_at") == 0)
        return true;
    if (bucket == NULL || strncmp(path, "metadata.", 9) != 0)
        return false;
    snprintf(key, sizeof(key), "bucket_schema.properties.%s.type", path + 9);
    if (!bson_iter_init(&it, bucket) ||
        !bson_iter_find_descendant(&it, key, &spec) ||
        !BSON_ITER_HOLDS_UTF8(&spec))
        return false;
    const char *t = bson_iter_utf8(&spec, NULL);
    return strcmp(t, "date") == 0 || strcmp(t, "datetime") == 0;
}

int filter_compile(const bson_iter_t *filters, const bson_t *bucket,
                   struct arena *arena, struct filter **out,
                   struct err_path *path, struct err *e)
{
    struct filter *f = arena_zalloc(arena, sizeof(*f));
    struct compiler c = {f, arena, path, e, 0};
    size_t before = e->problem_count;

    *out = NULL;
    if (f == NULL)
        return err_set(e, ERR_NOMEM, "out of memory compiling a filter");
    f->bucket = bucket;
    f->arena = arena;
    if (BSON_ITER_HOLDS_NULL(filters))
        return 0;
    if (!BSON_ITER_HOLDS_DOCUMENT(filters))
        return err_problem(e, path, NULL, "dict_type",
                           "filters must be an object");
    if (count_members(filters) == 0)
        return 0;

    f->root = is_condition_list(filters) ? compile_list(&c, filters, false)
                                         : compile_query(&c, filters);
    if (e->problem_count != before || e->code != ERR_OK || f->root == NULL) {
        filter_release(f);
        return e->code != ERR_OK ? e->code : ERR_VALIDATION;
    }
    *out = f;
    return 0;
}

void filter_release(struct filter *f)
{
    if (f == NULL)
        return;
    for (int i = 0; i < f->nregex; i++)
        pcre2_code_free(f->regexes[i]);
    f->nregex = 0;
}

bool filter_failed(const struct filter *f)
{
    return f != NULL && atomic_load(&((struct filter *)f)->failed);
}

/* --- evaluating -------------------------------------------------------- */

/* One match data per thread: every pattern needs only the overall match,
 * and one pair fits all of them. It is kept under a thread-specific key
 * whose destructor frees it when the thread ends (worker threads end at
 * shutdown). */
struct match_state {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
};

static pthread_key_t match_key;
static pthread_once_t match_once = PTHREAD_ONCE_INIT;
static bool match_key_ok;

static void match_state_free(void *p)
{
    struct match_state *st = p;

    pcre2_match_data_free(st->md);
    pcre2_match_context_free(st->mctx);
    free(st);
}

static void match_key_create(void)
{
    match_key_ok = pthread_key_create(&match_key, match_state_free) == 0;
}

static struct match_state *match_state_get(void)
{
    pthread_once(&match_once, match_key_create);
    if (!match_key_ok)
        return NULL;
    struct match_state *st = pthread_getspecific(match_key);
    if (st != NULL)
        return st;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->md = pcre2_match_data_create(1, NULL);
    st->mctx = pcre2_match_context_create(NULL);
    if (st->md == NULL || st->mctx == NULL ||
        pthread_setspecific(match_key, st) != 0) {
        match_state_free(st);
        return NULL;
    }
    pcre2_set_match_limit(st->mctx, FILTER_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(st->mctx, FILTER_REGEX_MATCH_LIMIT / 10);
    return st;
}

static bool regex_match(const struct filter *f, pcre2_code *re,
                        const char *s, size_t n)
{
    struct match_state *st = match_state_get();

    if (st == NULL || re == NULL) {
        atomic_store(&((struct filter *)f)->failed, true);
        return false;
    }
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, st->md, st->mctx);
    if (rc >= 0)
        return true;
    if (rc != PCRE2_ERROR_NOMATCH)
        atomic_store(&((struct filter *)f)->failed, true);
    return false;
}

struct eval {
    const struct filter *f;
    const struct fnode *n;
    bool reached;            /* some value was at the end of the path */
    bool missing;            /* somewhere the path did not resolve */
};

/* Value tests, one candidate at a time. */

static int compare_operand(const bson_value_t *v, const struct operand *o,
                           bool *comparable)
{
    if (v->value_type == BSON_TYPE_DATE_TIME && o->has_date) {
        *comparable = true;
        return (v->value.v_datetime > o->date_ms) -
               (v->value.v_datetime < o->date_ms);
    }
    *comparable = value_rank(v->value_type) == value_rank(o->v.value_type);
    return *comparable ? value_compare(v, &o->v) : 0;
}

static bool equals_operand(const struct filter *f, const bson_value_t *v,
                           const struct operand *o)
{
    bool comparable;

    /* Folding is about strings: a date still meets an ISO operand as a
     * date, and other values compare as they are. */
    if (o->re != NULL && v->value_type == BSON_TYPE_UTF8)
        return regex_match(f, o->re, v->value.v_utf8.str, v->value.v_utf8.len);
    return compare_operand(v, o, &comparable) == 0 && comparable;
}

static bool string_test(const struct filter *f, const struct fnode *n,
                        const bson_value_t *v)
{
    const struct operand *o = &n->ops[0];
    const char *s = v->value.v_utf8.str;
    size_t len = v->value.v_utf8.len, olen = o->v.value.v_utf8.len;

    if (v->value_type != BSON_TYPE_UTF8)
        return false;
    if (o->re != NULL)
        return regex_match(f, o->re, s, len);
    if (olen > len)
        return false;
    if (n->op == OP_STARTS)
        return memcmp(s, o->v.value.v_utf8.str, olen) == 0;
    if (n->op == OP_ENDS)
        return memcmp(s + len - olen, o->v.value.v_utf8.str, olen) == 0;
    return memmem(s, len, o->v.value.v_utf8.str, olen) != NULL;
}

/* Tests that hold when any candidate passes. */
static bool candidate_test(const struct filter *f, const struct fnode *n,
                           const bson_value_t *v)
{
    bool comparable;
    int c;

    switch (n->op) {
    case OP_EQ:
    case OP_NE:
    case OP_IS_NULL:
        return n->nops > 0 ? equals_operand(f, v, &n->ops[0])
                           : v->value_type == BSON_TYPE_NULL;
    case OP_IN:
    case OP_NIN:
        for (int i = 0; i < n->nops; i++)
            if (equals_operand(f, v, &n->ops[i]))
                return true;
        return false;
    case OP_GT:
    case OP_GTE:
    case OP_LT:
    case OP_LTE:
        if (n->ops[0].v.value_type == BSON_TYPE_NULL)
            return (n->op == OP_GTE || n->op == OP_LTE) &&
                   v->value_type == BSON_TYPE_NULL;
        c = compare_operand(v, &n->ops[0], &comparable);
        if (!comparable)
            return false;
        return n->op == OP_GT    ? c > 0
               : n->op == OP_GTE ? c >= 0
               : n->op == OP_LT  ? c < 0
                                 : c <= 0;
    case OP_REGEX:
        return v->value_type == BSON_TYPE_UTF8 &&
               regex_match(f, n->ops[0].re, v->value.v_utf8.str,
                           v->value.v_utf8.len);
    case OP_CONTAINS:
    case OP_STARTS:
    case OP_ENDS:
        return string_test(f, n, v);
    default:
        return false;
    }
}

static bool node_eval(const struct filter *f, const struct fnode *n,
                      bson_iter_t *members);

/* $elemMatch with operators: the query on one element itself. The
 * negative operators hold when their positive test fails. */
static bool element_test(const struct filter *f, const struct fnode *n,
                         const bson_value_t *v)
{
    if (n->kind != FN_PRED) {
        bool any = false, all = true;
        for (int i = 0; i < n->nkids; i++) {
            bool hit = element_test(f, n->kids[i], v);
            any = any || hit;
            all = all && hit;
        }
        return n->kind == FN_AND ? all : n->kind == FN_OR ? any : !any;
    }
    switch (n->op) {
    case OP_NE:
    case OP_NIN:
        return !candidate_test(f, n, v);
    case OP_EXISTS:
        return n->flag;
    default:
        return candidate_test(f, n, v);
    }
}

/* Tests about the value at the end of the path as a whole. */
static bool whole_test(const struct filter *f, const struct fnode *n,
                       const bson_iter_t *it)
{
    bson_iter_t arr;

    if (n->op == OP_SIZE) {
        int64_t count = 0;
        if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr))
            return false;
        while (bson_iter_next(&arr))
            count++;
        return count == n->size;
    }
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr))
        return false;
    /* $elemMatch: some element satisfies the sub-query. */
    while (bson_iter_next(&arr)) {
        bson_iter_t members;
        if (n->sub_on_value) {
            if (element_test(f, n->sub, bson_iter_value(&arr)))
                return true;
        } else if (BSON_ITER_HOLDS_DOCUMENT(&arr) &&
                   bson_iter_recurse(&arr, &members) &&
                   node_eval(f, n->sub, &members)) {
            return true;
        }
    }
    return false;
}

static bool is_whole_op(enum fop op)
{
    return op == OP_SIZE || op == OP_ELEM_MATCH || op == OP_EXISTS ||
           op == OP_ALL;
}

/* Visits the value at the end of the path: the value, then (for value
 * tests) its elements. Returns true to stop: the predicate holds. */
static bool visit_end(struct eval *ev, const bson_iter_t *it)
{
    const struct fnode *n = ev->n;
    bson_iter_t arr;

    ev->reached = true;
    if (is_whole_op(n->op))
        return n->op == OP_EXISTS || n->op == OP_ALL ? false
                                                     : whole_test(ev->f, n, it);
    if (candidate_test(ev->f, n, bson_iter_value((bson_iter_t *)it)))
        return true;
    if (BSON_ITER_HOLDS_ARRAY(it) && bson_iter_recurse(it, &arr))
        while (bson_iter_next(&arr))
            if (candidate_test(ev->f, n, bson_iter_value(&arr)))
                return true;
    return false;
}

static bool walk(struct eval *ev, bson_iter_t *members, int depth);

static bool walk_array(struct eval *ev, const bson_iter_t *arr, int depth)
{
    bson_iter_t el, members;
    const char *comp = ev->n->comps[depth];
    bool numeric = comp[0] >= '0' && comp[0] <= '9';

    bson_iter_recurse(arr, &el);
    while (bson_iter_next(&el)) {
        if (numeric && strcmp(bson_iter_key(&el), comp) == 0) {
            if (depth + 1 == ev->n->ncomps) {
                if (visit_end(ev, &el))
                    return true;
            } else if (BSON_ITER_HOLDS_DOCUMENT(&el) &&
                       bson_iter_recurse(&el, &members) &&
                       walk(ev, &members, depth + 1)) {
                return true;
            }
        }
        if (BSON_ITER_HOLDS_DOCUMENT(&el) && bson_iter_recurse(&el, &members) &&
            walk(ev, &members, depth))
            return true;
    }
    return false;
}

/* members iterates a document; comps[depth..] is the rest of the path.
 * Where the path does not resolve in a document (the member is absent, or
 * a scalar stands where the path goes on), the value is missing, which
 * equals null; elements of an array that are not objects, and an empty
 * array, add nothing (MongoDB: {a: [{}]} and {a: [{}, {b: 1}]} match
 * {"a.b": null}; {a: []} and {a: [5, {b: 1}]} do not). */
static bool walk(struct eval *ev, bson_iter_t *members, int depth)
{
    const char *comp = ev->n->comps[depth];
    bson_iter_t child;

    if (!bson_iter_find(members, comp)) {
        ev->missing = true;
        return false;
    }
    if (depth + 1 == ev->n->ncomps)
        return visit_end(ev, members);
    if (BSON_ITER_HOLDS_DOCUMENT(members) &&
        bson_iter_recurse(members, &child))
        return walk(ev, &child, depth + 1);
    if (BSON_ITER_HOLDS_ARRAY(members))
        return walk_array(ev, members, depth + 1);
    ev->missing = true;
    return false;
}

static bool pred_eval(const struct filter *f, const struct fnode *n,
                      bson_iter_t *members);

/* $all: every operand as an equality ({f: a} and {f: b}). */
static bool all_test(const struct filter *f, const struct fnode *n,
                     const bson_iter_t *members)
{
    if (n->nops == 0)
        return false;
    for (int i = 0; i < n->nops; i++) {
        struct fnode one = *n;
        one.op = OP_EQ;
        one.ops = &n->ops[i];
        one.nops = 1;
        if (!pred_eval(f, &one, (bson_iter_t *)members))
            return false;
    }
    return true;
}

static bool has_null_operand(const struct fnode *n)
{
    for (int i = 0; i < n->nops; i++)
        if (n->ops[i].v.value_type == BSON_TYPE_NULL)
            return true;
    return false;
}

/* A predicate's verdict from what its path led to: reached, some value
 * was at the end of the path; missing, somewhere the path did not
 * resolve; hit, a value passed the test. A missing value equals null,
 * as in MongoDB: {f: null}, {f: {$in: [null]}} and {f: {$gte: null}}
 * hold for it, {f: {$ne: null}} does not. */
static bool verdict(const struct fnode *n, bool reached, bool missing,
                    bool hit)
{
    bool missing_is_null = missing && has_null_operand(n);

    switch (n->op) {
    case OP_EXISTS:
        return reached == n->flag;
    case OP_NE:
    case OP_NIN:
        return !hit && !missing_is_null;
    case OP_IS_NULL:
        return n->flag == (hit || missing);
    case OP_EQ:
    case OP_IN:
    case OP_GTE:
    case OP_LTE:
        return hit || missing_is_null;
    default:
        return hit;
    }
}

static bool pred_eval(const struct filter *f, const struct fnode *n,
                      bson_iter_t *members)
{
    struct eval ev = {f, n, false, false};
    bson_iter_t m = *members;

    if (n->op == OP_ALL)
        return all_test(f, n, members);
    bool hit = walk(&ev, &m, 0);
    return verdict(n, ev.reached, ev.missing, hit);
}

static bool node_eval(const struct filter *f, const struct fnode *n,
                      bson_iter_t *members)
{
    switch (n->kind) {
    case FN_PRED:
        return pred_eval(f, n, members);
    case FN_AND:
        for (int i = 0; i < n->nkids; i++)
            if (!node_eval(f, n->kids[i], members))
                return false;
        return true;
    case FN_OR:
        for (int i = 0; i < n->nkids; i++)
            if (node_eval(f, n->kids[i], members))
                return true;
        return n->nkids == 0;
    case FN_NOR:
        for (int i = 0; i < n->nkids; i++)
            if (node_eval(f, n->kids[i], members))
                return false;
        return true;
    }
    return false;
}

bool filter_match(const struct filter *f, const uint8_t *doc, size_t len)
{
    bson_iter_t members;

    if (f == NULL || f->root == NULL)
        return true;
    if (!bson_iter_init_from_data(&members, doc, len))
        return false;
    return node_eval(f, f->root, &members);
}

bool filter_pred_scalar(const struct filter *f, const struct fnode *n,
                        const bson_value_t *v)
{
    /* The same verdicts as pred_eval() for a path that ends on one value
     * that is not an array (the column cache holds only such values). */
    if (n->op == OP_ALL) {
        if (n->nops == 0)
            return false;
        for (int i = 0; i < n->nops; i++) {
            struct fnode one = *n;
            one.op = OP_EQ;
            one.ops = &n->ops[i];
            one.nops = 1;
            if (!filter_pred_scalar(f, &one, v))
                return false;
        }
        return true;
    }
    bool hit = v != NULL && !is_whole_op(n->op) && candidate_test(f, n, v);
    return verdict(n, v != NULL, v == NULL, hit);
}
