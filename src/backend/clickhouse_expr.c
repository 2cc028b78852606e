/*
 * clickhouse_expr.c - SQL expressions over a row's path entries: what a
 * path resolves to (val) and whether a filter holds (cand).
 *
 * Resolution (value_resolve): the val entry of the path, else, when the
 * longest proper prefix that has an entry holds an array, an empty array
 * (value_resolve builds [] from elements that lack the rest of the
 * path), else missing.
 *
 * Filters (filter.c): a predicate tests every cand entry at its path;
 * "reached" is whether any exists. The verdict for a missing path and
 * for null operands follows pred_eval() case by case, so that each
 * operator answers what the embedded store answers. $elemMatch tests
 * the elements of the arrays at its path; with a query on their members,
 * the members' entries are those whose chain goes through the element.
 *
 * Regular expressions run in RE2 (ClickHouse's match()), wrapped as
 * (?flags)(?:pattern): RE2 refuses what it cannot run (back-references,
 * look-around), which becomes a 422 naming the pattern; the x option
 * has no RE2 equivalent and is refused the same way.
 */
#include <string.h>

#include "backend/clickhouse.h"
#include "query/filter_internal.h"

/* --- resolution -------------------------------------------------------- */

/* The position of the val entry of path[0..n) at elem (0 when none);
 * suffix (SQL of a String, or NULL) follows the position. Entries are
 * found by the hash of their name (val.h): docs/clickhouse.md says why
 * that is exact enough. */
static void index_of(struct buf *out, const char *path, size_t n,
                     const char *elem, const char *suffix)
{
    struct buf at = BUF_INIT;

    buf_add(&at, path, n);
    buf_addc(&at, '#');
    if (strcmp(elem, "0") == 0 && suffix == NULL) {
        buf_addc(&at, '0');
        buf_adds(out, "indexOf(val.h, ");
        ch_sql_name_hash(out, at.data, at.len);
    } else {
        buf_adds(out, "indexOf(val.h, sipHash64(concat(");
        ch_sql_string(out, at.data, at.len);
        ch_sql_printf(out, ", toString(%s)", elem);
        if (suffix != NULL)
            ch_sql_printf(out, ", %s", suffix);
        buf_adds(out, "))");
    }
    buf_adds(out, ")");
    buf_release(&at);
}

/* The proper prefix of path ending at the last dot before `end`. */
static size_t prefix_before(const char *path, size_t end)
{
    while (end > 0 && path[end - 1] != '.')
        end--;
    return end > 0 ? end - 1 : 0;
}

/* Whether a prefix can hold an array: "metadata" is always an object
 * (document_build); above an unwound element, only objects lead to it. */
static bool may_be_array(const char *path, size_t n, size_t floor)
{
    if (n < floor)
        return false;
    return !(n == 8 && memcmp(path, "metadata", 8) == 0);
}

/* 1 when the path is missing but the longest prefix with an entry holds
 * an array (the value is then []), else 0; false when no prefix can
 * hold an array (nothing written). */
static bool empty_array(struct buf *out, const char *path, const char *elem,
                        const char *suffix, size_t floor)
{
    size_t n = strlen(path);
    int open = 0;

    for (size_t end = prefix_before(path, n); end > 0;
         end = prefix_before(path, end)) {
        if (!may_be_array(path, end, floor))
            continue;
        buf_adds(out, open == 0 ? "(" : "");
        buf_adds(out, "if(");
        index_of(out, path, end, elem, suffix);
        buf_adds(out, " > 0, val.type[");
        index_of(out, path, end, elem, suffix);
        ch_sql_printf(out, "] = %d, ", CHT_ARRAY);
        open++;
    }
    if (open == 0)
        return false;
    buf_adds(out, "0");
    for (int i = 0; i < open; i++)
        buf_adds(out, ")");
    buf_adds(out, ")");
    return true;
}

/* Whether some prefix of path may hold an array. */
static bool any_array_prefix(const char *path, size_t floor)
{
    size_t n = strlen(path);

    for (size_t end = prefix_before(path, n); end > 0;
         end = prefix_before(path, end))
        if (may_be_array(path, end, floor))
            return true;
    return false;
}

/* An array column at the entry's position: position 0 (no entry) reads
 * the column's default (0, ''), which is what a missing path reads for
 * every facet but the date. */
void ch_resolve_sql(struct buf *out, const char *path, const char *elem,
                    size_t floor, enum ch_facet facet)
{
    ch_resolve_sql_at(out, path, elem, NULL, floor, facet);
}

void ch_resolve_sql_at(struct buf *out, const char *path, const char *elem,
                       const char *suffix, size_t floor, enum ch_facet facet)
{
    static const char *const column[] = {
        [CHF_TYPE] = "type", [CHF_SKEY] = "skey", [CHF_JSON] = "json",
        [CHF_NUM] = "num",   [CHF_INUM] = "inum", [CHF_MS] = "ms",
        [CHF_FK] = "fk",     [CHF_F3] = "f3",     [CHF_F2] = "f2",
        [CHF_F1] = "f1",     [CHF_F0] = "f0"};
    static const char *const empty[] = {
        [CHF_TYPE] = "6", [CHF_SKEY] = "'\\x05\\x00'", [CHF_JSON] = "'[]'"};
    size_t n = strlen(path);
    bool fallback = (facet == CHF_PRESENT || facet == CHF_TYPE ||
                     facet == CHF_SKEY || facet == CHF_JSON) &&
                    any_array_prefix(path, floor);

    if (facet == CHF_PRESENT) {
        buf_adds(out, "(");
        index_of(out, path, n, elem, suffix);
        buf_adds(out, " > 0");
        if (fallback) {
            buf_adds(out, " OR ");
            empty_array(out, path, elem, suffix, floor);
        }
        buf_adds(out, ")");
        return;
    }
    if (facet == CHF_MS || fallback) {
        buf_adds(out, "if(");
        index_of(out, path, n, elem, suffix);
        buf_adds(out, " > 0, ");
    }
    ch_sql_printf(out, "val.%s[", column[facet]);
    index_of(out, path, n, elem, suffix);
    buf_adds(out, "]");
    if (facet == CHF_MS) {
        buf_adds(out, ", toInt64(-9223372036854775808))");
    } else if (fallback) {
        buf_adds(out, ", if(");
        empty_array(out, path, elem, suffix, floor);
        ch_sql_printf(out, ", %s, %s))", empty[facet],
                      facet == CHF_TYPE ? "0" : "''");
    }
}

void ch_typed_sql(struct buf *out, const struct ch_typed *t,
                  enum ch_facet facet)
{
    static const char *const suffix[] = {
        [CHF_PRESENT] = "p", [CHF_TYPE] = "t", [CHF_SKEY] = "k",
        [CHF_JSON] = "j",    [CHF_NUM] = "n",  [CHF_INUM] = "i",
        [CHF_MS] = "d",      [CHF_FK] = "x",   [CHF_F3] = "c3",
        [CHF_F2] = "c2",     [CHF_F1] = "c1",  [CHF_F0] = "c0"};

    ch_sql_printf(out, "%s__%s", t->name, suffix[facet]);
}

/* --- filters ----------------------------------------------------------- */

/* Lambda variables of one nesting level: cand.h (the path's hash), step,
 * type, skey, num, id, up, walk, chain. */
/* (A name fits a typed column's: 3 * CH_TYPED_PATH_MAX + 8 + "__x".) */
#define VAR_MAX (3 * CH_TYPED_PATH_MAX + 16)
struct vars {
    char p[VAR_MAX], s[VAR_MAX], t[VAR_MAX], k[VAR_MAX], n[VAR_MAX],
        i[VAR_MAX], u[VAR_MAX], w[VAR_MAX], c[VAR_MAX];
};

struct fctx {
    struct ch *ch;
    const struct ch_layout *layout;
    struct buf *out;
    struct err *e;
    struct err_path *path;
    int depth;                   /* lambda nesting */
    bool wide[FILTER_MAX_DEPTH * 4 + 8]; /* each level passes all arrays */
    const char *prefix;          /* $elemMatch: the array's path */
    const struct vars *scope;    /* $elemMatch: the element's variables */
    struct buf regexes;          /* patterns to check, NUL-separated */
};

static void vars_at(struct vars *v, int depth)
{
    snprintf(v->p, sizeof(v->p), "cp%d", depth);
    snprintf(v->s, sizeof(v->s), "cs%d", depth);
    snprintf(v->t, sizeof(v->t), "ct%d", depth);
    snprintf(v->k, sizeof(v->k), "ck%d", depth);
    snprintf(v->n, sizeof(v->n), "cn%d", depth);
    snprintf(v->i, sizeof(v->i), "ci%d", depth);
    snprintf(v->u, sizeof(v->u), "cu%d", depth);
    snprintf(v->w, sizeof(v->w), "cw%d", depth);
    snprintf(v->c, sizeof(v->c), "cc%d", depth);
}

static void key_literal(struct buf *out, const bson_value_t *v)
{
    struct buf k = BUF_INIT;

    ch_key_encode(&k, v);
    ch_sql_bytes(out, k.data, k.len);
    buf_release(&k);
}

static void date_key_literal(struct buf *out, int64_t ms)
{
    bson_value_t d = {.value_type = BSON_TYPE_DATE_TIME,
                      .value.v_datetime = ms};
    key_literal(out, &d);
}

/* The string value of an entry whose type is a string. */
static void string_of(struct buf *out, const struct vars *v)
{
    ch_sql_printf(out, "substring(%s, 2)", v->k);
}

static void remember_regex(struct fctx *c, const char *re, size_t n)
{
    buf_add(&c->regexes, re, n);
    buf_addc(&c->regexes, '\0');
}

/* match(string, '(?flags)(?:pattern)'): the group keeps ClickHouse from
 * reading a literal prefix of the pattern case-sensitively. */
static void regex_match(struct fctx *c, const struct vars *v,
                        const char *flags, const char *src, size_t n,
                        const char *before, const char *after)
{
    struct buf re = BUF_INIT;

    if (flags[0])
        buf_addf(&re, "(?%s)", flags);
    buf_adds(&re, "(?:");
    buf_adds(&re, before);
    buf_add(&re, src, n);
    buf_adds(&re, after);
    buf_adds(&re, ")");
    remember_regex(c, re.data, re.len);
    ch_sql_printf(c->out, "(%s = %d AND match(", v->t, CHT_STRING);
    string_of(c->out, v);
    buf_adds(c->out, ", ");
    ch_sql_string(c->out, re.data, re.len);
    buf_adds(c->out, "))");
    buf_release(&re);
}

/* A caseless literal (condition lists): anchored as literal_fold() is. */
static void fold_match(struct fctx *c, const struct vars *v,
                       const struct operand *o, enum fop op)
{
    struct buf lit = BUF_INIT;
    bool start = op == OP_EQ || op == OP_NE || op == OP_IN || op == OP_NIN ||
                 op == OP_STARTS;
    bool end = op == OP_EQ || op == OP_NE || op == OP_IN || op == OP_NIN ||
               op == OP_ENDS;

    ch_regex_escape(&lit, o->v.value.v_utf8.str, o->v.value.v_utf8.len);
    regex_match(c, v, "i", lit.data ? lit.data : "", lit.len,
                start ? "^" : "", end ? "$" : "");
    buf_release(&lit);
}

/* equals_operand(): a folded operand meets strings caselessly; other
 * values (a date against an ISO operand) compare as they are. */
static void eq_operand(struct fctx *c, const struct vars *v,
                       const struct operand *o, enum fop op)
{
    bool fold = o->re != NULL && o->v.value_type == BSON_TYPE_UTF8;

    buf_adds(c->out, "(");
    if (fold) {
        fold_match(c, v, o, op);
        ch_sql_printf(c->out, " OR (%s != %d AND (0", v->t, CHT_STRING);
    } else {
        ch_sql_printf(c->out, "(%s = ", v->k);
        key_literal(c->out, &o->v);
        buf_adds(c->out, ")");
    }
    if (o->has_date) {
        ch_sql_printf(c->out, " OR %s = ", v->k);
        date_key_literal(c->out, o->date_ms);
    }
    buf_adds(c->out, fold ? ")))" : ")");
}

static const char *cmp_sql(enum fop op)
{
    return op == OP_GT ? ">" : op == OP_GTE ? ">=" : op == OP_LT ? "<" : "<=";
}

/* Comparisons within the operand's type (or a date against an ISO
 * operand). */
static void compare(struct fctx *c, const struct vars *v, enum fop op,
                    const struct operand *o)
{
    struct buf k = BUF_INIT;

    if (o->v.value_type == BSON_TYPE_NULL) {
        if (op == OP_GTE || op == OP_LTE)
            ch_sql_printf(c->out, "(%s = %d)", v->t, CHT_NULL);
        else
            buf_adds(c->out, "0");
        return;
    }
    ch_key_encode(&k, &o->v);
    ch_sql_printf(c->out, "((substring(%s, 1, 1) = ", v->k);
    ch_sql_bytes(c->out, k.data, 1);
    ch_sql_printf(c->out, " AND %s %s ", v->k, cmp_sql(op));
    ch_sql_bytes(c->out, k.data, k.len);
    buf_adds(c->out, ")");
    if (o->has_date) {
        ch_sql_printf(c->out, " OR (substring(%s, 1, 1) = '\\x%02x' AND %s %s ",
                      v->k, CHR_DATE, v->k, cmp_sql(op));
        date_key_literal(c->out, o->date_ms);
        buf_adds(c->out, ")");
    }
    buf_adds(c->out, ")");
    buf_release(&k);
}

static void string_test(struct fctx *c, const struct vars *v,
                        const struct fnode *n)
{
    const struct operand *o = &n->ops[0];
    const char *fn = n->op == OP_STARTS ? "startsWith"
                     : n->op == OP_ENDS ? "endsWith"
                                        : "position";

    if (o->re != NULL) {
        fold_match(c, v, o, n->op);
        return;
    }
    ch_sql_printf(c->out, "(%s = %d AND %s(", v->t, CHT_STRING, fn);
    string_of(c->out, v);
    buf_adds(c->out, ", ");
    ch_sql_string(c->out, o->v.value.v_utf8.str, o->v.value.v_utf8.len);
    buf_adds(c->out, n->op == OP_CONTAINS ? ") > 0)" : "))");
}

static int regex_flags(struct fctx *c, const struct fnode *n, char *flags)
{
    int k = 0;

    for (const char *p = n->regex_opts ? n->regex_opts : ""; *p; p++) {
        if (*p == 'x') {
            struct err_path p0 = *c->path;
            return err_problem(c->e, &p0, "$options", "value_error",
                               "the x option of $regex has no equivalent "
                               "in RE2, the regular expressions of the "
                               "clickhouse backend");
        }
        if (strchr(flags, *p) == NULL)
            flags[k++] = *p;
        flags[k] = '\0';
    }
    return 0;
}

/* candidate_test(): one entry, whatever operator the node holds. */
static int cand_test(struct fctx *c, const struct vars *v,
                     const struct fnode *n)
{
    char flags[8] = "";

    switch (n->op) {
    case OP_EQ:
    case OP_NE:
    case OP_IS_NULL:
        if (n->nops > 0)
            eq_operand(c, v, &n->ops[0], n->op);
        else
            ch_sql_printf(c->out, "(%s = %d)", v->t, CHT_NULL);
        return 0;
    case OP_IN:
    case OP_NIN:
        buf_adds(c->out, "(0");
        for (int i = 0; i < n->nops; i++) {
            buf_adds(c->out, " OR ");
            eq_operand(c, v, &n->ops[i], n->op);
        }
        buf_adds(c->out, ")");
        return 0;
    case OP_GT:
    case OP_GTE:
    case OP_LT:
    case OP_LTE:
        compare(c, v, n->op, &n->ops[0]);
        return 0;
    case OP_REGEX:
        if (regex_flags(c, n, flags) != 0)
            return ERR_VALIDATION;
        regex_match(c, v, flags, n->regex_src, strlen(n->regex_src), "", "");
        return 0;
    case OP_CONTAINS:
    case OP_STARTS:
    case OP_ENDS:
        string_test(c, v, n);
        return 0;
    default:
        buf_adds(c->out, "0");
        return 0;
    }
}

static void full_path(const struct fctx *c, const char *rel, size_t n,
                      struct buf *out)
{
    if (c->prefix != NULL) {
        buf_adds(out, c->prefix);
        buf_addc(out, '.');
    }
    buf_add(out, rel, n);
}

/* arrayExists over the entries at a path (relative to the $elemMatch
 * element, if any, and then within it); the caller writes the condition
 * on the variables and closes with exists_end(). */
static void exists_at(struct fctx *c, const char *rel, size_t len,
                      struct vars *v, bool wide)
{
    struct buf p = BUF_INIT;

    /* Most tests read the type and key only: fewer arrays, less work. */
    wide = wide || c->scope != NULL;
    vars_at(v, ++c->depth);
    full_path(c, rel, len, &p);
    if (wide)
        ch_sql_printf(c->out, "arrayExists((%s, %s, %s, %s, %s, %s, %s, %s, "
                              "%s) -> %s = ",
                      v->p, v->s, v->t, v->k, v->n, v->i, v->u, v->w, v->c,
                      v->p);
    else
        ch_sql_printf(c->out, "arrayExists((%s, %s, %s) -> %s = ", v->p, v->t,
                      v->k, v->p);
    c->wide[c->depth] = wide;
    ch_sql_name_hash(c->out, p.data, p.len);
    if (c->scope != NULL)
        ch_sql_printf(c->out, " AND position(%s, concat('/', toString(%s), "
                              "'/')) > 0",
                      v->c, c->scope->i);
    buf_adds(c->out, " AND ");
    buf_release(&p);
}

static void exists_begin(struct fctx *c, const struct fnode *n,
                         struct vars *v, bool wide)
{
    exists_at(c, n->path, strlen(n->path), v, wide);
}

static void exists_end(struct fctx *c)
{
    if (c->wide[c->depth])
        buf_adds(c->out, ", cand.h, cand.step, cand.type, cand.skey, "
                         "cand.num, cand.id, cand.up, cand.walk, "
                         "cand.chain)");
    else
        buf_adds(c->out, ", cand.h, cand.type, cand.skey)");
    c->depth--;
}

/* The typed columns of the node's path, when it has them, is read from
 * the document and has only held scalars (then it holds one scalar, null
 * or missing: reached when present, missing otherwise, never an array). */
static const struct ch_typed *typed_of(const struct fctx *c,
                                       const struct fnode *n)
{
    const struct ch_typed *t;

    if (c->scope != NULL || c->prefix != NULL)
        return NULL;
    t = ch_layout_find(c->layout, n->path);
    return t != NULL && ch_typed_scalar_only(t) ? t : NULL;
}

/* Variables naming the typed columns, for cand_test(). */
static void typed_vars(const struct ch_typed *t, struct vars *v)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->t, sizeof(v->t), "%s__t", t->name);
    snprintf(v->k, sizeof(v->k), "%s__k", t->name);
    snprintf(v->n, sizeof(v->n), "%s__n", t->name);
}

static void reached(struct fctx *c, const struct fnode *n)
{
    struct vars v;
    const struct ch_typed *t = typed_of(c, n);

    if (t != NULL) {
        ch_sql_printf(c->out, "(%s__p = 1)", t->name);
        return;
    }

    if (c->scope == NULL) {
        struct buf p = BUF_INIT;
        full_path(c, n->path, strlen(n->path), &p);
        buf_adds(c->out, "has(cand.h, ");
        ch_sql_name_hash(c->out, p.data, p.len);
        buf_adds(c->out, ")");
        buf_release(&p);
        return;
    }
    exists_begin(c, n, &v, false);
    buf_adds(c->out, "1");
    exists_end(c);
}

/* Whether the walk of the node's path went missing somewhere (filter.c:
 * a member absent from an object the walk went into, or a value that
 * is not a container where the path goes on). Objects the walk goes
 * into at a prefix are the entries there with walk = 1; each must hold
 * the next member (an entry reached by name with up = its id). At the
 * top, the object is the document (or the $elemMatch element). */
static void missing(struct fctx *c, const struct fnode *n)
{
    const char *path = n->path;
    size_t len = strlen(path);
    struct vars a, b;
    const struct ch_typed *t = typed_of(c, n);

    if (t != NULL) {
        ch_sql_printf(c->out, "(%s__p = 0)", t->name);
        return;
    }

    buf_adds(c->out, "(0");
    for (size_t end = 0; end <= len;) {
        size_t next = end;
        while (next < len && path[next] != '.')
            next++;
        /* The member path[0..next) looked up in the objects at
         * path[0..end-1). */
        buf_adds(c->out, " OR ");
        if (end == 0 && c->scope == NULL) {
            buf_adds(c->out, "NOT ");
            struct buf p = BUF_INIT;
            full_path(c, path, next, &p);
            buf_adds(c->out, "has(cand.h, ");
            ch_sql_name_hash(c->out, p.data, p.len);
            buf_adds(c->out, ")");
            buf_release(&p);
        } else if (end == 0) {
            ch_sql_printf(c->out, "NOT ");
            exists_at(c, path, next, &b, true);
            ch_sql_printf(c->out, "%s = 1 AND %s = %s", b.s, b.u,
                          c->scope->i);
            exists_end(c);
        } else {
            exists_at(c, path, end - 1, &a, true);
            ch_sql_printf(c->out, "%s = 1 AND NOT ", a.w);
            exists_at(c, path, next, &b, true);
            ch_sql_printf(c->out, "%s = 1 AND %s = %s", b.s, b.u, a.i);
            exists_end(c);
            exists_end(c);
        }
        /* A value that cannot be walked where the path goes on. */
        if (next < len) {
            buf_adds(c->out, " OR ");
            exists_at(c, path, next, &b, true);
            ch_sql_printf(c->out, "%s = 1 AND %s NOT IN (%d, %d)", b.s, b.t,
                          CHT_OBJECT, CHT_ARRAY);
            if (c->scope != NULL && end == 0)
                ch_sql_printf(c->out, " AND %s = %s", b.u, c->scope->i);
            exists_end(c);
        }
        end = next + 1;
    }
    buf_adds(c->out, ")");
}

static int hit(struct fctx *c, const struct fnode *n)
{
    struct vars v;
    const struct ch_typed *t = typed_of(c, n);

    if (t != NULL) {
        typed_vars(t, &v);
        ch_sql_printf(c->out, "(%s__p = 1 AND ", t->name);
        int rc = cand_test(c, &v, n);
        buf_adds(c->out, ")");
        return rc;
    }
    exists_begin(c, n, &v, false);
    int rc = cand_test(c, &v, n);
    exists_end(c);
    return rc;
}

static bool null_operand(const struct fnode *n)
{
    for (int i = 0; i < n->nops; i++)
        if (n->ops[i].v.value_type == BSON_TYPE_NULL)
            return true;
    return false;
}

static int node_sql(struct fctx *c, const struct fnode *n);

/* element_test(): $elemMatch with operators, on one element. */
static int element_sql(struct fctx *c, const struct vars *v,
                       const struct fnode *n)
{
    int rc = 0;

    if (n->kind != FN_PRED) {
        const char *join = n->kind == FN_AND ? " AND " : " OR ";
        buf_adds(c->out, n->kind == FN_NOR ? "NOT (" : "(");
        buf_adds(c->out, n->nkids == 0 ? (n->kind == FN_AND ? "1" : "0")
                                       : "");
        for (int i = 0; rc == 0 && i < n->nkids; i++) {
            if (i > 0)
                buf_adds(c->out, join);
            rc = element_sql(c, v, n->kids[i]);
        }
        buf_adds(c->out, ")");
        return rc;
    }
    switch (n->op) {
    case OP_NE:
    case OP_NIN:
        buf_adds(c->out, "NOT ");
        return cand_test(c, v, n);
    case OP_EXISTS:
        buf_adds(c->out, n->flag ? "1" : "0");
        return 0;
    default:
        return cand_test(c, v, n);
    }
}

static int elem_match(struct fctx *c, const struct fnode *n)
{
    struct vars v;
    int rc = 0;

    /* A typed path never holds an array. */
    if (typed_of(c, n) != NULL) {
        buf_adds(c->out, "0");
        return 0;
    }
    exists_begin(c, n, &v, true);
    ch_sql_printf(c->out, "%s = 0 AND ", v.s);
    if (n->sub_on_value) {
        rc = element_sql(c, &v, n->sub);
    } else {
        struct buf p = BUF_INIT;
        const char *saved_prefix = c->prefix;
        const struct vars *saved_scope = c->scope;
        full_path(c, n->path, strlen(n->path), &p);
        ch_sql_printf(c->out, "%s = %d AND ", v.t, CHT_OBJECT);
        c->prefix = p.data;
        c->scope = &v;
        rc = node_sql(c, n->sub);
        c->prefix = saved_prefix;
        c->scope = saved_scope;
        buf_release(&p);
    }
    exists_end(c);
    return rc;
}

/* $all: every operand as an equality ({f: a} and {f: b}), each with its
 * own verdict (a null operand holds for a missing value). */
static int all_sql(struct fctx *c, const struct fnode *n)
{
    struct vars v;

    if (n->nops == 0) {
        buf_adds(c->out, "0");
        return 0;
    }
    buf_adds(c->out, "(1");
    for (int i = 0; i < n->nops; i++) {
        const struct ch_typed *t = typed_of(c, n);
        buf_adds(c->out, " AND (");
        if (t != NULL) {
            typed_vars(t, &v);
            ch_sql_printf(c->out, "(%s__p = 1 AND ", t->name);
            eq_operand(c, &v, &n->ops[i], OP_EQ);
            buf_adds(c->out, ")");
        } else {
            exists_begin(c, n, &v, false);
            eq_operand(c, &v, &n->ops[i], OP_EQ);
            exists_end(c);
        }
        if (n->ops[i].v.value_type == BSON_TYPE_NULL) {
            buf_adds(c->out, " OR ");
            missing(c, n);
        }
        buf_adds(c->out, ")");
    }
    buf_adds(c->out, ")");
    return 0;
}

static int size_sql(struct fctx *c, const struct fnode *n)
{
    struct vars v;

    if (typed_of(c, n) != NULL) {
        buf_adds(c->out, "0");
        return 0;
    }
    exists_begin(c, n, &v, true);
    ch_sql_printf(c->out, "%s != 0 AND %s = %d AND %s = %lld", v.s, v.t,
                  CHT_ARRAY, v.n, (long long)n->size);
    exists_end(c);
    return 0;
}

/* verdict(): from reached, missing and hit, operator by operator. A
 * missing value equals null. */
static int pred_sql(struct fctx *c, const struct fnode *n)
{
    int rc = 0;

    buf_adds(c->out, "(");
    switch (n->op) {
    case OP_EXISTS:
        buf_adds(c->out, n->flag ? "" : "NOT ");
        reached(c, n);
        break;
    case OP_NE:
    case OP_NIN:
        buf_adds(c->out, "NOT ");
        rc = hit(c, n);
        if (null_operand(n)) {
            buf_adds(c->out, " AND NOT ");
            missing(c, n);
        }
        break;
    case OP_IS_NULL:
        buf_adds(c->out, n->flag ? "(" : "NOT (");
        rc = hit(c, n);
        buf_adds(c->out, " OR ");
        missing(c, n);
        buf_adds(c->out, ")");
        break;
    case OP_EQ:
    case OP_IN:
    case OP_GTE:
    case OP_LTE:
        rc = hit(c, n);
        if ((n->op == OP_EQ || n->op == OP_IN) ? null_operand(n)
                                                : n->nops > 0 &&
                                                      n->ops[0].v.value_type ==
                                                          BSON_TYPE_NULL) {
            buf_adds(c->out, " OR ");
            missing(c, n);
        }
        break;
    case OP_SIZE:
        rc = size_sql(c, n);
        break;
    case OP_ALL:
        rc = all_sql(c, n);
        break;
    case OP_ELEM_MATCH:
        rc = elem_match(c, n);
        break;
    default:
        rc = hit(c, n);
        break;
    }
    buf_adds(c->out, ")");
    return rc;
}

static int node_sql(struct fctx *c, const struct fnode *n)
{
    const char *join = n->kind == FN_AND ? " AND " : " OR ";
    int rc = 0;

    if (n->kind == FN_PRED)
        return pred_sql(c, n);
    buf_adds(c->out, n->kind == FN_NOR ? "NOT (" : "(");
    /* An empty AND or OR holds; an empty NOR holds too (NOT false). */
    buf_adds(c->out, n->nkids == 0 ? (n->kind == FN_NOR ? "0" : "1") : "");
    for (int i = 0; rc == 0 && i < n->nkids; i++) {
        if (i > 0)
            buf_adds(c->out, join);
        rc = node_sql(c, n->kids[i]);
    }
    buf_adds(c->out, ")");
    return rc;
}

/* Compiles patterns in ClickHouse (all of them, or the one at `only`):
 * 0, ERR_VALIDATION (code 427, RE2 refused one) or another error. */
static int probe_regexes(struct fctx *c, const char *only, struct err *probe)
{
    const struct buf *r = &c->regexes;
    struct buf sql = BUF_INIT;
    int n = 0;

    buf_adds(&sql, "SELECT 1");
    for (size_t at = 0; at < r->len; at += strlen(r->data + at) + 1) {
        if (only != NULL && r->data + at != only)
            continue;
        buf_adds(&sql, ", match('', ");
        ch_sql_cstring(&sql, r->data + at);
        buf_adds(&sql, ")");
        n++;
    }
    buf_adds(&sql, " FORMAT TabSeparated");
    int rc = n == 0 ? 0
                    : ch_query(c->ch, NULL, sql.data, NULL, 0, NULL, NULL,
                               probe);
    buf_release(&sql);
    if (rc == ERR_IO && strncmp(probe->msg, "clickhouse error 427:", 21) == 0)
        return ERR_VALIDATION;
    return rc;
}

/* The first pattern ClickHouse refuses becomes a validation problem.
 * One query checks them all; only a refusal looks at them one by one. */
static int check_regexes(struct fctx *c)
{
    const struct buf *r = &c->regexes;
    struct err probe;

    err_init(&probe);
    int rc = probe_regexes(c, NULL, &probe);
    for (size_t at = 0; rc == ERR_VALIDATION && at < r->len;
         at += strlen(r->data + at) + 1) {
        err_release(&probe);
        err_init(&probe);
        if (probe_regexes(c, r->data + at, &probe) != ERR_VALIDATION)
            continue;
        err_release(&probe);
        return err_problem(c->e, c->path, NULL, "regex_error",
                           "regular expression %.120s cannot run in RE2, "
                           "the dialect of the clickhouse backend (no "
                           "back-references or look-around)",
                           r->data + at);
    }
    if (rc != 0 && rc != ERR_VALIDATION)
        err_set(c->e, probe.code, "%s", probe.msg);
    err_release(&probe);
    return rc == ERR_VALIDATION ? 0 : rc;
}

int ch_filter_sql(struct ch *ch, const struct filter *f,
                  const struct ch_layout *layout, struct buf *out,
                  struct err_path *path, struct err *e)
{
    struct fctx c = {.ch = ch, .layout = layout, .out = out, .e = e,
                     .path = path};

    if (f == NULL || f->root == NULL) {
        buf_adds(out, "1");
        return 0;
    }
    int rc = node_sql(&c, f->root);
    if (rc == 0)
        rc = check_regexes(&c);
    buf_release(&c.regexes);
    return rc;
}

void ch_search_sql(struct buf *out, const char *needle)
{
    buf_adds(out, "arrayExists(s -> positionCaseInsensitive(s, ");
    ch_sql_cstring(out, needle);
    buf_adds(out, ") > 0, strs)");
}
