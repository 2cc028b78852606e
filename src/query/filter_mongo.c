/*
 * filter_mongo.c - a compiled filter written back as a MongoDB query
 * document, for query_info.pipeline.
 *
 * The form is canonical rather than a copy of the request: condition
 * lists become $and / $or / $nor; caseless string tests become anchored
 * $regex with the "i" option; ISO 8601 operands compared with a date
 * field become {"$date": ...} (MongoDB would not compare a date with a
 * string).
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "query/filter.h"
#include "query/filter_internal.h"
#include "query/value.h"

static const char *const op_names[] = {
    [OP_EQ] = "$eq",   [OP_NE] = "$ne",       [OP_GT] = "$gt",
    [OP_GTE] = "$gte", [OP_LT] = "$lt",       [OP_LTE] = "$lte",
    [OP_IN] = "$in",   [OP_NIN] = "$nin",     [OP_EXISTS] = "$exists",
    [OP_REGEX] = "$regex", [OP_SIZE] = "$size", [OP_ALL] = "$all",
    [OP_ELEM_MATCH] = "$elemMatch",
};

static void write_node(struct jw *w, const struct fnode *n);

static void write_operand(struct jw *w, const struct fnode *n,
                          const struct operand *o)
{
    if (n->path_is_date && o->has_date) {
        jw_object_begin(w);
        jw_key(w, "$date");
        jw_date(w, o->date_ms);
        jw_object_end(w);
        return;
    }
    value_write_json(w, &o->v);
}

/* A regex source matching s literally. */
static void escaped(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strchr("\\^$.|?*+()[]{}/-", s[i]) != NULL && s[i] != '\0')
            buf_addc(out, '\\');
        buf_addc(out, s[i]);
    }
}

static void write_regex(struct jw *w, const char *path, const char *src,
                        size_t n, const char *prefix, const char *suffix,
                        bool literal, bool fold)
{
    struct buf pattern = BUF_INIT;

    buf_adds(&pattern, prefix);
    if (literal)
        escaped(&pattern, src, n);
    else
        buf_add(&pattern, src, n);
    buf_adds(&pattern, suffix);

    jw_object_begin(w);
    jw_key(w, path);
    jw_object_begin(w);
    jw_key(w, "$regex");
    jw_stringn(w, pattern.data ? pattern.data : "", pattern.len);
    jw_key(w, "$options");
    jw_string(w, fold ? "i" : "");
    jw_object_end(w);
    jw_object_end(w);
    buf_release(&pattern);
}

static void write_op(struct jw *w, const char *path, const char *op,
                     const struct fnode *n, const struct operand *o)
{
    jw_object_begin(w);
    jw_key(w, path);
    jw_object_begin(w);
    jw_key(w, op);
    if (o != NULL)
        write_operand(w, n, o);
    else
        jw_null(w);
    jw_object_end(w);
    jw_object_end(w);
}

/* One equality test of an operand, caseless or exact (a date field
 * against an ISO 8601 operand is a date equality). */
static void write_equal(struct jw *w, const struct fnode *n,
                        const struct operand *o)
{
    if (o->re != NULL && !(n->path_is_date && o->has_date))
        write_regex(w, n->path, o->v.value.v_utf8.str, o->v.value.v_utf8.len,
                    "^", "$", true, true);
    else
        write_op(w, n->path, "$eq", n, o);
}

static bool any_folded(const struct fnode *n)
{
    for (int i = 0; i < n->nops; i++)
        if (n->ops[i].re != NULL)
            return true;
    return false;
}

static void write_list(struct jw *w, const char *logic, const struct fnode *n)
{
    jw_object_begin(w);
    jw_key(w, logic);
    jw_array_begin(w);
    for (int i = 0; i < n->nops; i++)
        write_equal(w, n, &n->ops[i]);
    jw_array_end(w);
    jw_object_end(w);
}

static void write_nor_of_equal(struct jw *w, const struct fnode *n)
{
    jw_object_begin(w);
    jw_key(w, "$nor");
    jw_array_begin(w);
    write_equal(w, n, &n->ops[0]);
    jw_array_end(w);
    jw_object_end(w);
}

static void write_operands_array(struct jw *w, const char *path,
                                 const char *op, const struct fnode *n)
{
    jw_object_begin(w);
    jw_key(w, path);
    jw_object_begin(w);
    jw_key(w, op);
    jw_array_begin(w);
    for (int i = 0; i < n->nops; i++)
        write_operand(w, n, &n->ops[i]);
    jw_array_end(w);
    jw_object_end(w);
    jw_object_end(w);
}

/* The members of an operator document on a value ({"$gt": 1, ...}): the
 * kids of an AND node, as $elemMatch on values and $not hold them. */
static void write_value_ops(struct jw *w, const struct fnode *and)
{
    for (int i = 0; i < and->nkids; i++) {
        const struct fnode *k = and->kids[i];
        if (k->kind == FN_NOR && k->nkids == 1) {
            jw_key(w, "$not");
            jw_object_begin(w);
            write_value_ops(w, k->kids[0]);
            jw_object_end(w);
            continue;
        }
        if (k->kind != FN_PRED)
            continue;
        if (k->op == OP_REGEX) {
            jw_key(w, "$regex");
            jw_string(w, k->regex_src);
            jw_key(w, "$options");
            jw_string(w, k->regex_opts);
            continue;
        }
        jw_key(w, op_names[k->op]);
        if (k->op == OP_IN || k->op == OP_NIN || k->op == OP_ALL) {
            jw_array_begin(w);
            for (int j = 0; j < k->nops; j++)
                write_operand(w, k, &k->ops[j]);
            jw_array_end(w);
        } else if (k->op == OP_EXISTS) {
            jw_bool(w, k->flag);
        } else if (k->op == OP_SIZE) {
            jw_int(w, k->size);
        } else {
            write_operand(w, k, &k->ops[0]);
        }
    }
}

static void write_elem_match(struct jw *w, const struct fnode *n)
{
    jw_object_begin(w);
    jw_key(w, n->path);
    jw_object_begin(w);
    jw_key(w, "$elemMatch");
    if (!n->sub_on_value) {
        write_node(w, n->sub);
    } else {
        jw_object_begin(w);
        write_value_ops(w, n->sub);
        jw_object_end(w);
    }
    jw_object_end(w);
    jw_object_end(w);
}

static void write_pred(struct jw *w, const struct fnode *n)
{
    const struct operand *o = n->nops > 0 ? &n->ops[0] : NULL;
    const char *s = o && o->v.value_type == BSON_TYPE_UTF8
                        ? o->v.value.v_utf8.str
                        : "";
    size_t len = o && o->v.value_type == BSON_TYPE_UTF8
                     ? o->v.value.v_utf8.len
                     : 0;

    switch (n->op) {
    case OP_EQ:
        write_equal(w, n, o);
        return;
    case OP_NE:
        if (o->re != NULL)
            write_nor_of_equal(w, n);
        else
            write_op(w, n->path, "$ne", n, o);
        return;
    case OP_IN:
    case OP_NIN:
        if (!any_folded(n))
            write_operands_array(w, n->path, op_names[n->op], n);
        else if (n->op == OP_IN)
            write_list(w, "$or", n);
        else
            write_list(w, "$nor", n);
        return;
    case OP_CONTAINS:
        write_regex(w, n->path, s, len, "", "", true, n->fold);
        return;
    case OP_STARTS:
        write_regex(w, n->path, s, len, "^", "", true, n->fold);
        return;
    case OP_ENDS:
        write_regex(w, n->path, s, len, "", "$", true, n->fold);
        return;
    case OP_REGEX:
        write_regex(w, n->path, n->regex_src, strlen(n->regex_src), "", "",
                    false, strchr(n->regex_opts, 'i') != NULL);
        return;
    case OP_IS_NULL:
        write_op(w, n->path, n->flag ? "$eq" : "$ne", n, NULL);
        return;
    case OP_EXISTS:
    case OP_SIZE:
        jw_object_begin(w);
        jw_key(w, n->path);
        jw_object_begin(w);
        jw_key(w, op_names[n->op]);
        if (n->op == OP_EXISTS)
            jw_bool(w, n->flag);
        else
            jw_int(w, n->size);
        jw_object_end(w);
        jw_object_end(w);
        return;
    case OP_ALL:
        write_operands_array(w, n->path, "$all", n);
        return;
    case OP_ELEM_MATCH:
        write_elem_match(w, n);
        return;
    default:
        write_op(w, n->path, op_names[n->op], n, o);
    }
}

static void write_node(struct jw *w, const struct fnode *n)
{
    static const char *const logic[] = {
        [FN_AND] = "$and", [FN_OR] = "$or", [FN_NOR] = "$nor"};

    if (n->kind == FN_PRED) {
        write_pred(w, n);
        return;
    }
    if (n->kind == FN_AND && n->nkids == 1) {
        write_node(w, n->kids[0]);
        return;
    }
    jw_object_begin(w);
    if (n->nkids > 0 || n->kind != FN_AND) {
        jw_key(w, logic[n->kind]);
        jw_array_begin(w);
        for (int i = 0; i < n->nkids; i++)
            write_node(w, n->kids[i]);
        jw_array_end(w);
    }
    jw_object_end(w);
}

void filter_write_mongo(const struct filter *f, struct jw *w)
{
    if (f == NULL || f->root == NULL) {
        jw_object_begin(w);
        jw_object_end(w);
        return;
    }
    write_node(w, f->root);
}
