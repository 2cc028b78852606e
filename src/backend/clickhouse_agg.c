/*
 * clickhouse_agg.c - an aggregation request as one ClickHouse SELECT over
 * the bucket's Distributed table, and the answer back as the groups the
 * embedded engine would have made.
 *
 *   SELECT <keys>, <metrics>, countIf(<row is real>), <matched>
 *   FROM objects_<bucket> [FINAL: unless no live row is superseded]
 *   [LEFT ARRAY JOIN <element positions of the unwound array> AS elem]
 *   WHERE is_deleted = 0 AND <filters>
 *   GROUP BY <keys> WITH TOTALS
 *   HAVING <rows> > 0 [AND <having>]
 *   [ORDER BY <sort_by>, <keys> LIMIT <limit>]
 *
 * Stage by stage (aggregation.md, section 1): filters see whole objects
 * (WHERE on cand entries); unwind joins the element positions of the
 * array (LEFT, so that objects without elements still count as matched,
 * their padding row never reaching a group); keys and metrics read val
 * entries at the element (clickhouse_expr.c). Values are compared by sort
 * key, so grouping, min, max, distinct counts and ordering follow the
 * contract's order and equality. Where the contract speaks of storage
 * order (first, last, push, and which of equal values is kept) the order
 * is (created, object_id, element position): a cluster has no insertion
 * order (docs/clickhouse.md).
 *
 * Exact sums: integers are summed as two 32-bit halves, doubles as
 * 64.64 fixed-point numbers in four 32-bit chunks per sign, so that the
 * sum is the same exact sum as sum.c's whatever the order of rows; the
 * parts are joined in C.
 *
 * having, sort and limit run in ClickHouse when every value they read is
 * exact in SQL (keys, counts, min/max/first/last by sort key); otherwise
 * every group comes back and they run here, with the engine's own stages.
 *
 * Answers come as FORMAT JSONCompact (strings as JSON, sort keys in
 * hex), read with Tally's JSON reader.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/clickhouse.h"
#include "json/json.h"
#include "query/agg_internal.h"

#define ELEM "elem"
/* A value tuple's type that the decoder reads from the key's first byte
 * (typed paths whose key tells the form: see ch_typed); numbers there are
 * integers, or with the second code doubles (a path that has held both
 * is not read by its key). */
#define TYPE_FROM_KEY 255
#define TYPE_FROM_KEY_DOUBLES 254
/* The element position of an unwound value that is not an array. */
#define ELEM_WHOLE "4294967295"

/* What the select list holds for one key or metric. */
struct col {
    int at;                      /* first column */
};

/* TUNING: a request reads a handful of paths; 64 distinct ones is far
 * past what the validator's limits on keys and metrics allow. */
#define MAX_BINDINGS 64

/* A path read at the element or at the document: its facets are computed
 * once per row, joined as a tuple column bN (see bindings_sql). */
struct binding {
    const char *path;
    unsigned used;               /* facets read, by bit (enum ch_facet) */
};

struct aq {
    struct ch *ch;
    const struct agg_request *req;
    const struct ch_layout *layout;  /* the read's (struct ch_read) */
    struct buf sql;
    struct col *keys, *metrics;
    int ncols;
    bool push_having, push_sort;
    const char *valid;           /* SQL: the row is a real row */
    const char *ord, *ord_desc;  /* SQL: storage order, and reversed */
    struct binding bind[MAX_BINDINGS];
    int nbind;
};

/* --- values ------------------------------------------------------------ */

/* A facet of a path read at the document, as a column of its own
 * (bNfF, joined by ARRAY JOIN): keys and metrics read short column
 * references, and ClickHouse looks each path up once per row instead of
 * once per use (the conservative SQL of docs/clickhouse.md has no
 * aliases in expressions, but ARRAY JOIN may name its arrays). */
static void facet(struct aq *q, const struct agg_path *p, enum ch_facet f)
{
    bool at_elem = p->from_element && q->req->unwind;
    int n = 0;

    /* At the element: looked up where it is used (a lambda in ARRAY JOIN
     * cannot read the entry columns in ClickHouse 18.16). Above it: the
     * object with the element in place of the array, an entry of its own
     * (clickhouse_rows.c); a whole value unwound leaves it as it is. */
    if (at_elem) {
        ch_resolve_sql(&q->sql, p->path,
                       "if(" ELEM " = " ELEM_WHOLE ", 0, " ELEM ")",
                       strlen(q->req->unwind), f);
        return;
    }
    if (p->above_element && q->req->unwind) {
        struct buf suffix = BUF_INIT;
        struct buf at = BUF_INIT;
        buf_addc(&at, '@');
        buf_adds(&at, q->req->unwind);
        buf_adds(&suffix, "if(" ELEM " = " ELEM_WHOLE " OR " ELEM " = 0, '', ");
        ch_sql_string(&suffix, at.data, at.len);
        buf_adds(&suffix, ")");
        ch_resolve_sql_at(&q->sql, p->path,
                          "if(" ELEM " = " ELEM_WHOLE ", 0, " ELEM ")",
                          suffix.data, strlen(p->path) + 1, f);
        buf_release(&suffix);
        buf_release(&at);
        return;
    }

    /* Typed paths read their own columns. */
    const struct ch_typed *t = ch_layout_find(q->layout, p->path);
    if (t != NULL) {
        ch_typed_sql(&q->sql, t, f);
        return;
    }
    while (n < q->nbind && strcmp(q->bind[n].path, p->path) != 0)
        n++;
    if (n == q->nbind) {
        if (n == MAX_BINDINGS) {
            q->sql.oom = true;
            return;
        }
        q->bind[q->nbind++] = (struct binding){p->path, 0};
    }
    q->bind[n].used |= 1u << f;
    ch_sql_printf(&q->sql, "b%df%d", n, (int)f);
}

/* A facet's value, for a binding. */
static void binding_value(struct aq *q, const struct binding *bd,
                          enum ch_facet f)
{
    bool small = f == CHF_PRESENT || f == CHF_TYPE || f == CHF_FK;

    buf_adds(&q->sql, small ? "toUInt8(" : "");
    ch_resolve_sql(&q->sql, bd->path, "0", 0, f);
    buf_adds(&q->sql, small ? ")" : "");
}

static void skey_or_null(struct aq *q, const struct agg_path *p);

/* (type, hex(sort key), json): a value as the answer carries it; type 0
 * is missing, which reads (and sorts) as null. */
static void value_tuple(struct aq *q, const struct agg_path *p)
{
    buf_adds(&q->sql, "(toUInt8(");
    facet(q, p, CHF_TYPE);
    buf_adds(&q->sql, "), hex(");
    skey_or_null(q, p);
    buf_adds(&q->sql, "), ");
    facet(q, p, CHF_JSON);
    buf_adds(&q->sql, ")");
}

/* Present and not null. */
static void present_value(struct aq *q, const struct agg_path *p)
{
    buf_adds(&q->sql, "(");
    facet(q, p, CHF_TYPE);
    ch_sql_printf(&q->sql, " > %d)", CHT_NULL);
}

/* The sort key, missing as null's. */
static void skey_or_null(struct aq *q, const struct agg_path *p)
{
    buf_adds(&q->sql, "if(");
    facet(q, p, CHF_PRESENT);
    buf_adds(&q->sql, ", ");
    facet(q, p, CHF_SKEY);
    ch_sql_printf(&q->sql, ", '\\x%02x')", CHR_NULL);
}

/* --- keys -------------------------------------------------------------- */

/* Floor division of Int64 by a constant. The constant is an Int64 too:
 * with a small literal ClickHouse narrows the remainder's type (x % 60000
 * is an Int16, which wraps). */
static void floor_div(struct buf *b, const char *x, const char *m)
{
    ch_sql_printf(b, "(intDiv(%s, toInt64(%s)) - if(%s %% toInt64(%s) < 0, "
                     "1, 0))",
                  x, m, x, m);
}

/* The date facet as SQL text (it is used many times). */
static char *date_text(struct aq *q, const struct agg_path *p)
{
    struct buf saved = q->sql;
    char *out;

    buf_init(&q->sql);
    buf_adds(&q->sql, "(");
    facet(q, p, CHF_MS);
    buf_adds(&q->sql, ")");
    out = buf_detach(&q->sql, NULL);
    q->sql = saved;
    return out;
}

#define NO_DATE_SQL "toInt64(-9223372036854775808)"
#define CAL_OK "(%s >= 0 AND %s < 4294967296000)"

/* date_trunc: the start of the unit, in ms; no date: the null marker.
 * Calendar units use ClickHouse's calendar (dates 1970 to 2106). */
static void trunc_sql(struct aq *q, const struct agg_key *k)
{
    char *ms = date_text(q, &k->field);
    struct buf *b = &q->sql;
    static const char *const unit_ms[] = {
        [CLOCK_DAY] = "86400000", [CLOCK_HOUR] = "3600000",
        [CLOCK_MINUTE] = "60000", [CLOCK_SECOND] = "1000"};

    if (ms == NULL) {
        b->oom = true;
        return;
    }
    switch (k->unit) {
    case CLOCK_YEAR:
    case CLOCK_MONTH:
        ch_sql_printf(b, "if(" CAL_OK ", toInt64(toUInt16(%s(toDateTime("
                         "intDiv(%s, 1000), 'UTC')))) * 86400000, "
                         NO_DATE_SQL ")",
                      ms, ms,
                      k->unit == CLOCK_YEAR ? "toStartOfYear"
                                            : "toStartOfMonth",
                      ms);
        break;
    case CLOCK_WEEK:
        /* Days since 1970-01-01 (a Thursday) less the weekday from
         * Monday. */
        ch_sql_printf(b, "if(%s = " NO_DATE_SQL ", " NO_DATE_SQL ", (", ms);
        floor_div(b, ms, "86400000");
        buf_adds(b, " - ((");
        floor_div(b, ms, "86400000");
        buf_adds(b, " + 3) % toInt64(7) + 7) % toInt64(7)) * 86400000)");
        break;
    default:
        ch_sql_printf(b, "if(%s = " NO_DATE_SQL ", " NO_DATE_SQL ", ", ms);
        floor_div(b, ms, unit_ms[k->unit]);
        ch_sql_printf(b, " * %s)", unit_ms[k->unit]);
        break;
    }
    free(ms);
}

/* date_part: an integer; no date: the null marker. */
static void part_sql(struct aq *q, const struct agg_key *k)
{
    char *ms = date_text(q, &k->field);
    struct buf *b = &q->sql;
    static const char *const cal[] = {
        [CLOCK_YEAR] = "toYear", [CLOCK_MONTH] = "toMonth",
        [CLOCK_WEEK] = "toISOWeek", [CLOCK_DAY] = "toDayOfMonth",
        [CLOCK_DAY_OF_YEAR] = "toDayOfYear"};

    if (ms == NULL) {
        b->oom = true;
        return;
    }
    switch (k->unit) {
    case CLOCK_HOUR:
    case CLOCK_MINUTE:
    case CLOCK_SECOND:
        ch_sql_printf(b, "if(%s = " NO_DATE_SQL ", " NO_DATE_SQL ", "
                         "toInt64(intDiv(%s - ",
                      ms, ms);
        floor_div(b, ms, "86400000");
        ch_sql_printf(b, " * 86400000, %s)%s))",
                      k->unit == CLOCK_HOUR     ? "3600000"
                      : k->unit == CLOCK_MINUTE ? "60000"
                                                : "1000",
                      k->unit == CLOCK_HOUR ? "" : " % toInt64(60)");
        break;
    case CLOCK_DAY_OF_WEEK:
        ch_sql_printf(b, "if(%s = " NO_DATE_SQL ", " NO_DATE_SQL ", "
                         "toInt64(((((",
                      ms);
        floor_div(b, ms, "86400000");
        buf_adds(b, " + 3) % toInt64(7) + 7) % toInt64(7) + 1) % toInt64(7) "
                    "+ 1)))");
        break;
    default:
        ch_sql_printf(b, "if(" CAL_OK ", toInt64(%s(toDateTime(intDiv(%s, "
                         "1000), 'UTC'))), " NO_DATE_SQL ")",
                      ms, ms, cal[k->unit], ms);
        break;
    }
    free(ms);
}

static void range_sql(struct aq *q, const struct agg_key *k)
{
    struct buf *b = &q->sql;
    char *n;

    {
        struct buf saved = q->sql;
        buf_init(&q->sql);
        facet(q, &k->field, CHF_NUM);
        n = buf_detach(&q->sql, NULL);
        q->sql = saved;
    }
    if (n == NULL) {
        b->oom = true;
        return;
    }
    if (k->nbounds < 2) {
        ch_sql_cstring(b, k->default_label);
        free(n);
        return;
    }
    buf_adds(b, "multiIf(");
    for (int i = 0; i + 1 < k->nbounds; i++) {
        buf_adds(b, "(");
        facet(q, &k->field, CHF_TYPE);
        ch_sql_printf(b, " IN (%d, %d)) AND (%s) >= %.17g AND (%s) < %.17g, ",
                      CHT_INT, CHT_DOUBLE, n, k->bounds[i], n,
                      k->bounds[i + 1]);
        ch_sql_cstring(b, k->labels[i]);
        buf_adds(b, ", ");
    }
    ch_sql_cstring(b, k->default_label);
    buf_adds(b, ")");
    free(n);
}

/* The key's GROUP BY expression (also its sort expression). */
static void group_expr(struct aq *q, const struct agg_key *k)
{
    switch (k->kind) {
    case KEY_VALUE:
        skey_or_null(q, &k->field);
        return;
    case KEY_TRUNC:
        trunc_sql(q, k);
        return;
    case KEY_PART:
        part_sql(q, k);
        return;
    case KEY_RANGE:
        range_sql(q, k);
        return;
    }
}

/* The typed columns a path is read from, if any (as facet() decides). */
static const struct ch_typed *key_typed(const struct aq *q,
                                        const struct agg_path *p)
{
    if (q->req->unwind && (p->from_element || p->above_element))
        return NULL;
    return ch_layout_find(q->layout, p->path);
}

/* Whether a path's values are told by their sort keys alone. */
static bool typed_by_key(const struct aq *q, const struct agg_path *p)
{
    const struct ch_typed *t = key_typed(q, p);

    return t != NULL && ch_typed_key_decides(t);
}

/* The type code of a value read from a typed path's key alone. */
static int key_type_code(const struct aq *q, const struct agg_path *p)
{
    const struct ch_typed *t = key_typed(q, p);

    return t != NULL && t->held_double ? TYPE_FROM_KEY_DOUBLES : TYPE_FROM_KEY;
}

static void key_columns(struct aq *q, int i)
{
    const struct agg_key *k = &q->req->keys[i];

    q->keys[i].at = q->ncols;
    if (k->kind != KEY_VALUE) {
        group_expr(q, k);
        q->ncols++;
        return;
    }
    /* The key's sort key, and the type and JSON of its first row (equal
     * values may differ in form: 1 and 1.0). Where the key tells the
     * form (typed paths but numbers), the key alone. */
    buf_adds(&q->sql, "hex(");
    group_expr(q, k);
    if (typed_by_key(q, &k->field)) {
        ch_sql_printf(&q->sql, "), (toUInt8(%d), '')",
                      key_type_code(q, &k->field));
        q->ncols += 2;
        return;
    }
    ch_sql_printf(&q->sql, "), argMinIf((toUInt8(");
    facet(q, &k->field, CHF_TYPE);
    buf_adds(&q->sql, "), ");
    facet(q, &k->field, CHF_JSON);
    ch_sql_printf(&q->sql, "), %s, %s)", q->ord, q->valid);
    q->ncols += 2;
}

/* --- metrics ----------------------------------------------------------- */

/* The SQL of the condition "valid row" and more. */
static void cond_begin(struct aq *q)
{
    ch_sql_printf(&q->sql, "%s AND ", q->valid);
}

/* The condition that ends the groupArrayIf-style collectors (push,
 * add_to_set): the row is valid and the field present; closes the
 * collector, its sort and its map, and counts the column. */
static void collect_where_present(struct aq *q, const struct agg_path *p)
{
    cond_begin(q);
    facet(q, p, CHF_PRESENT);
    buf_adds(&q->sql, ")))");
    q->ncols++;
}

/* Text of a facet, for reuse. */
static char *facet_text(struct aq *q, const struct agg_path *p,
                        enum ch_facet f)
{
    struct buf saved = q->sql;
    char *out;

    buf_init(&q->sql);
    facet(q, p, f);
    out = buf_detach(&q->sql, NULL);
    q->sql = saved;
    return out;
}

/* sum and avg: 14 columns, joined into an exact sum in C (read_sum):
 * integers as high and low halves; doubles that fit 64.64 as four
 * 32-bit chunks per sign (stored with each value); loose doubles summed
 * as doubles; then how many loose, how many doubles, how many numbers. */
static void sum_columns(struct aq *q, const struct agg_metric *m)
{
    static const enum ch_facet chunks[] = {CHF_F3, CHF_F2, CHF_F1, CHF_F0};
    char *t = facet_text(q, &m->field, CHF_TYPE);
    char *i = facet_text(q, &m->field, CHF_INUM);
    char *fk = facet_text(q, &m->field, CHF_FK);
    struct buf *b = &q->sql;

    if (t == NULL || i == NULL || fk == NULL) {
        b->oom = true;
        goto out;
    }
    ch_sql_printf(b, "sumIf(bitShiftRight(%s, 32), %s AND %s = %d), "
                     "sumIf(bitAnd(%s, 4294967295), %s AND %s = %d), ",
                  i, q->valid, t, CHT_INT, i, q->valid, t, CHT_INT);
    const struct ch_typed *typed = key_typed(q, &m->field);
    if (typed != NULL && ch_typed_ints_only(typed)) {
        /* No doubles: their columns are zeros. */
        ch_sql_printf(b, "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
                         "countIf(%s AND %s = %d)",
                      q->valid, t, CHT_INT);
        goto out;
    }
    for (int sign = CHX_POSITIVE; sign <= CHX_NEGATIVE; sign++) {
        for (int c = 0; c < 4; c++) {
            buf_adds(b, "sumIf(toUInt64(");
            facet(q, &m->field, chunks[c]);
            ch_sql_printf(b, "), %s AND %s = %d), ", q->valid, fk, sign);
        }
    }
    buf_adds(b, "sumIf(");
    facet(q, &m->field, CHF_NUM);
    ch_sql_printf(b, ", %s AND %s = %d), countIf(%s AND %s = %d), "
                     "countIf(%s AND %s = %d), countIf(%s AND %s IN (%d, %d))",
                  q->valid, fk, CHX_LOOSE, q->valid, fk, CHX_LOOSE, q->valid,
                  t, CHT_DOUBLE, q->valid, t, CHT_INT, CHT_DOUBLE);
out:
    free(t);
    free(i);
    free(fk);
}

#define SUM_COLUMNS 14

static void metric_columns(struct aq *q, int j)
{
    const struct agg_metric *m = &q->req->metrics[j];
    struct buf *b = &q->sql;

    q->metrics[j].at = q->ncols;
    switch (m->fn) {
    case AGG_COUNT:
        if (m->field.path == NULL && !q->req->unwind) {
            buf_adds(b, "count()");
            q->ncols++;
            return;
        }
        buf_adds(b, "countIf(");
        if (m->field.path != NULL) {
            cond_begin(q);
            present_value(q, &m->field);
        } else {
            buf_adds(b, q->valid);
        }
        buf_adds(b, ")");
        q->ncols++;
        return;
    case AGG_COUNT_DISTINCT:
        buf_adds(b, "uniqExactIf(");
        facet(q, &m->field, CHF_SKEY);
        buf_adds(b, ", ");
        cond_begin(q);
        present_value(q, &m->field);
        buf_adds(b, ")");
        q->ncols++;
        return;
    case AGG_SUM:
    case AGG_AVG:
        sum_columns(q, m);
        q->ncols += SUM_COLUMNS;
        return;
    case AGG_MIN:
    case AGG_MAX:
        if (typed_by_key(q, &m->field)) {
            /* Equal keys are equal values: the key alone. */
            ch_sql_printf(b, "(toUInt8(%d), hex(%s(",
                          key_type_code(q, &m->field),
                          m->fn == AGG_MIN ? "minIf" : "maxIf");
            facet(q, &m->field, CHF_SKEY);
            buf_adds(b, ", ");
            cond_begin(q);
            present_value(q, &m->field);
            buf_adds(b, ")), '')");
            q->ncols++;
            return;
        }
        /* The least (greatest) value; of equal ones, the first. */
        buf_adds(b, m->fn == AGG_MIN ? "argMinIf(" : "argMaxIf(");
        value_tuple(q, &m->field);
        buf_adds(b, ", (");
        facet(q, &m->field, CHF_SKEY);
        ch_sql_printf(b, ", %s), ", m->fn == AGG_MIN ? q->ord : q->ord_desc);
        cond_begin(q);
        present_value(q, &m->field);
        buf_adds(b, ")");
        q->ncols++;
        return;
    case AGG_FIRST:
    case AGG_LAST:
        buf_adds(b, m->fn == AGG_FIRST ? "argMinIf(" : "argMaxIf(");
        value_tuple(q, &m->field);
        ch_sql_printf(b, ", %s, %s)", q->ord, q->valid);
        q->ncols++;
        return;
    case AGG_PUSH:
        /* Every present value, in storage order. */
        buf_adds(b, "arrayMap(x -> x.2, arraySort(x -> x.1, groupArrayIf((");
        ch_sql_printf(b, "%s, ", q->ord);
        value_tuple(q, &m->field);
        buf_adds(b, "), ");
        collect_where_present(q, &m->field);
        return;
    case AGG_ADD_TO_SET:
        if (typed_by_key(q, &m->field)) {
            /* Equal keys are equal values: the distinct keys alone, in
             * key order, shaped as the pairs below. */
            ch_sql_printf(b, "arrayMap(x -> (hex(x), (toUInt8(%d), hex(x), "
                             "'')), arraySort(groupUniqArrayIf(",
                          key_type_code(q, &m->field));
            facet(q, &m->field, CHF_SKEY);
            buf_adds(b, ", ");
            collect_where_present(q, &m->field);
            return;
        }
        /* Every present value by (sort key, storage order): the first of
         * equal ones is the one kept (done in C). */
        buf_adds(b, "arrayMap(x -> (hex(x.1), x.3), arraySort(groupArrayIf((");
        facet(q, &m->field, CHF_SKEY);
        ch_sql_printf(b, ", %s, ", q->ord);
        value_tuple(q, &m->field);
        buf_adds(b, "), ");
        collect_where_present(q, &m->field);
        return;
    default:
        buf_adds(b, "0");
        q->ncols++;
        return;
    }
}

/* --- having and sort in SQL -------------------------------------------- */

/* Whether a metric's value is exact in SQL (having and sort can run
 * there). */
static bool metric_in_sql(const struct agg_metric *m)
{
    return m->fn == AGG_COUNT || m->fn == AGG_COUNT_DISTINCT ||
           m->fn == AGG_MIN || m->fn == AGG_MAX || m->fn == AGG_FIRST ||
           m->fn == AGG_LAST;
}

static bool key_or_metric_in_sql(const struct agg_request *req, bool on_key,
                                 int index)
{
    return on_key || metric_in_sql(&req->metrics[index]);
}

/* A metric's aggregate again (for HAVING or ORDER BY), leaving the
 * column bookkeeping of the select list as it was. */
static void metric_again(struct aq *q, int index)
{
    int saved = q->ncols, at = q->metrics[index].at;

    metric_columns(q, index);
    q->ncols = saved;
    q->metrics[index].at = at;
}

/* The sortable SQL of a key or metric: keys by their group expression;
 * counts as integers; values by hex sort key (hex keeps byte order):
 * the value tuple's second member, '' when there is no value (below
 * every other, like null). */
static void order_expr(struct aq *q, bool on_key, int index)
{
    if (on_key) {
        group_expr(q, &q->req->keys[index]);
        return;
    }
    const struct agg_metric *m = &q->req->metrics[index];
    if (m->fn == AGG_COUNT || m->fn == AGG_COUNT_DISTINCT) {
        metric_again(q, index);
        return;
    }
    buf_adds(&q->sql, "tupleElement(");
    metric_again(q, index);
    buf_adds(&q->sql, ", 2)");
}

/* A having condition in SQL (having_in_sql): the value against the
 * operand, within a type class (numbers, strings), else only "ne" holds
 * (stage_having). */
static void having_expr(struct aq *q, const struct agg_having *h)
{
    static const char *const ops[] = {">", ">=", "<", "<=", "=", "!="};
    const struct agg_request *req = q->req;
    bool number = value_is_number(h->value.value_type);
    const char *other = h->op == CMP_NE ? "1" : "0";

    if (h->on_key && req->keys[h->index].kind == KEY_PART) {
        if (!number) {
            buf_adds(&q->sql, other);
            return;
        }
        buf_adds(&q->sql, "if(");
        group_expr(q, &req->keys[h->index]);
        ch_sql_printf(&q->sql, " = " NO_DATE_SQL ", %s, ", other);
        group_expr(q, &req->keys[h->index]);
        ch_sql_printf(&q->sql, " %s %.17g)", ops[h->op],
                      value_as_double(&h->value));
        return;
    }
    if (h->on_key) {
        /* A range label: a string. */
        if (number) {
            buf_adds(&q->sql, other);
            return;
        }
        group_expr(q, &req->keys[h->index]);
        ch_sql_printf(&q->sql, " %s ", ops[h->op]);
        ch_sql_string(&q->sql, h->value.value.v_utf8.str,
                      h->value.value.v_utf8.len);
        return;
    }
    /* A count. */
    if (!number) {
        buf_adds(&q->sql, other);
        return;
    }
    order_expr(q, false, h->index);
    ch_sql_printf(&q->sql, " %s %.17g", ops[h->op],
                  value_as_double(&h->value));
}

/* Having conditions ClickHouse runs: on integers and labels (counts,
 * date parts, range labels). Values that may be dates (which meet an ISO
 * operand as dates) are left to stage_having(). */
static bool having_in_sql(const struct agg_request *req,
                          const struct agg_having *h)
{
    if (h->on_key)
        return req->keys[h->index].kind == KEY_PART ||
               req->keys[h->index].kind == KEY_RANGE;
    return req->metrics[h->index].fn == AGG_COUNT ||
           req->metrics[h->index].fn == AGG_COUNT_DISTINCT;
}

static void plan_pushdown(struct aq *q)
{
    const struct agg_request *req = q->req;

    q->push_having = true;
    for (int i = 0; i < req->nhaving; i++)
        if (!having_in_sql(req, &req->having[i]))
            q->push_having = false;
    q->push_sort = q->push_having &&
                   (!req->has_sort ||
                    key_or_metric_in_sql(req, req->sort_on_key,
                                         req->sort_index));
}

/* --- the statement ----------------------------------------------------- */

/* The element positions of the unwound array: 1..n for an array reached
 * through objects only, ELEM_WHOLE for another value, none for null or
 * missing (stage_unwind's rules). */
static void unwind_positions(struct aq *q)
{
    struct buf *b = &q->sql;
    struct buf idx = BUF_INIT;

    struct buf at = BUF_INIT;

    buf_adds(&at, q->req->unwind);
    buf_adds(&at, "#0");
    buf_adds(&idx, "indexOf(val.h, ");
    ch_sql_name_hash(&idx, at.data, at.len);
    buf_adds(&idx, ")");
    buf_release(&at);
    ch_sql_printf(b, "if(%s = 0 OR val.crossed[%s] != 0, emptyArrayUInt32(), "
                     "multiIf("
                     "val.type[%s] = %d, emptyArrayUInt32(), "
                     "val.type[%s] = %d, arrayMap(x -> toUInt32(x + 1), "
                     "range(toUInt32(val.num[%s]))), [toUInt32(" ELEM_WHOLE
                     ")]))",
                  idx.data, idx.data, idx.data, CHT_NULL, idx.data, CHT_ARRAY,
                  idx.data);
    buf_release(&idx);
}

/* The ARRAY JOIN: the unwound element positions (LEFT: objects without
 * elements still count as matched) and, beside them, each binding (paths
 * read at the document): the same tuple for every element. Without
 * unwind, one-element arrays. */
static void bindings_sql(struct aq *q)
{
    struct buf *s = &q->sql;
    char *positions = NULL;

    if (q->req->unwind != NULL) {
        struct buf saved = q->sql;
        buf_init(&q->sql);
        unwind_positions(q);
        positions = buf_detach(&q->sql, NULL);
        q->sql = saved;
        if (positions == NULL) {
            s->oom = true;
            return;
        }
        ch_sql_printf(s, " LEFT ARRAY JOIN %s AS " ELEM, positions);
    } else if (q->nbind > 0) {
        buf_adds(s, " ARRAY JOIN ");
    }
    bool first = positions == NULL;
    for (int n = 0; n < q->nbind; n++) {
        for (int f = 0; f <= CHF_F0; f++) {
            if (!(q->bind[n].used & (1u << f)))
                continue;
            buf_adds(s, first ? "" : ", ");
            first = false;
            if (positions != NULL) {
                buf_adds(s, "arrayResize([");
                binding_value(q, &q->bind[n], (enum ch_facet)f);
                ch_sql_printf(s, "], length(%s), ", positions);
                binding_value(q, &q->bind[n], (enum ch_facet)f);
                buf_adds(s, ")");
            } else {
                buf_adds(s, "[");
                binding_value(q, &q->bind[n], (enum ch_facet)f);
                buf_adds(s, "]");
            }
            ch_sql_printf(s, " AS b%df%d", n, f);
        }
    }
    free(positions);
}

/* GROUP BY, HAVING, ORDER BY and LIMIT. */
static void tail_sql(struct aq *q)
{
    const struct agg_request *req = q->req;
    struct buf *s = &q->sql;

    buf_adds(s, " GROUP BY ");
    for (int i = 0; i < req->nkeys; i++) {
        if (i > 0)
            buf_adds(s, ", ");
        group_expr(q, &req->keys[i]);
    }
    /* Groups of padding rows only (objects without elements) go, and
     * the one row a GROUP BY on constants makes of no rows at all. */
    if (req->unwind)
        ch_sql_printf(s, " WITH TOTALS HAVING countIf(%s) > 0", q->valid);
    else
        buf_adds(s, " WITH TOTALS HAVING count() > 0");
    for (int i = 0; q->push_having && i < req->nhaving; i++) {
        buf_adds(s, " AND ");
        having_expr(q, &req->having[i]);
    }
    if (!q->push_sort)
        return;
    buf_adds(s, " ORDER BY ");
    if (req->has_sort) {
        order_expr(q, req->sort_on_key, req->sort_index);
        buf_adds(s, req->sort_desc ? " DESC, " : " ASC, ");
    }
    for (int i = 0; i < req->nkeys; i++) {
        if (i > 0)
            buf_adds(s, ", ");
        group_expr(q, &req->keys[i]);
    }
    if (req->limit > 0)
        ch_sql_printf(s, " LIMIT %lld", (long long)req->limit);
}

/* The statement. The select list and the tail come first (they name the
 * paths that become bindings), then FROM with the bindings. */
static int build_sql(struct aq *q, const struct catalog_bucket *b,
                     const struct ch_read *how, struct err *e)
{
    const struct agg_request *req = q->req;
    struct buf head = BUF_INIT, tail = BUF_INIT, where = BUF_INIT;
    struct err_path path = {0};

    for (int i = 0; i < req->nkeys; i++) {
        key_columns(q, i);
        buf_adds(&q->sql, ", ");
    }
    for (int j = 0; j < req->nmetrics; j++) {
        metric_columns(q, j);
        buf_adds(&q->sql, ", ");
    }
    ch_sql_printf(&q->sql, "%s%s%s, %s", req->unwind ? "countIf(" : "",
                  req->unwind ? q->valid : "count()", req->unwind ? ")" : "",
                  req->unwind ? "uniqExact(object_id)" : "count()");
    q->ncols += 2;
    head = q->sql;
    buf_init(&q->sql);
    tail_sql(q);
    tail = q->sql;
    buf_init(&q->sql);

    err_path_key(&path, "body");
    err_path_key(&path, "filters");
    int rc = ch_filter_sql(q->ch, req->filter, q->layout, &where, &path, e);

    buf_adds(&q->sql, "SELECT ");
    buf_add(&q->sql, head.data, head.len);
    buf_adds(&q->sql, " FROM ");
    ch_from(&q->sql, q->ch, b->id, how);
    bindings_sql(q);
    buf_adds(&q->sql, " WHERE " CH_LIVE " AND ");
    buf_add(&q->sql, where.data, where.len);
    buf_add(&q->sql, tail.data, tail.len);
    buf_adds(&q->sql, " FORMAT JSONCompact");
    if (rc == 0 && (q->sql.oom || head.oom || tail.oom || where.oom))
        rc = err_set(e, ERR_NOMEM, "out of memory");
    buf_release(&head);
    buf_release(&tail);
    buf_release(&where);
    return rc;
}

/* --- the answer -------------------------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

static int unhex(const char *s, size_t n, struct buf *out)
{
    if (n % 2)
        return ERR_CORRUPT;
    for (size_t i = 0; i < n; i += 2) {
        int a = hexval(s[i]), b = hexval(s[i + 1]);
        if (a < 0 || b < 0)
            return ERR_CORRUPT;
        buf_addc(out, (char)(a << 4 | b));
    }
    return 0;
}

/* Replaces the strings of src that key (the decoded sort key) says are
 * dates by those dates: JSON keeps number forms, keys keep dates. */
static void merge_dates(const bson_iter_t *json, const bson_iter_t *key,
                        bson_t *out, const char *name)
{
    bson_iter_t a, b;

    if (BSON_ITER_HOLDS_DATE_TIME(key)) {
        bson_append_date_time(out, name, -1, bson_iter_date_time(key));
        return;
    }
    bool doc = BSON_ITER_HOLDS_DOCUMENT(json);
    if (!(doc || BSON_ITER_HOLDS_ARRAY(json)) ||
        !(BSON_ITER_HOLDS_DOCUMENT(key) || BSON_ITER_HOLDS_ARRAY(key)) ||
        !bson_iter_recurse(json, &a) || !bson_iter_recurse(key, &b)) {
        bson_append_iter(out, name, -1, json);
        return;
    }
    bson_t child;
    if (doc)
        bson_append_document_begin(out, name, -1, &child);
    else
        bson_append_array_begin(out, name, -1, &child);
    while (bson_iter_next(&a)) {
        bool has = bson_iter_next(&b);
        if (has)
            merge_dates(&a, &b, &child, bson_iter_key(&a));
        else
            bson_append_iter(&child, bson_iter_key(&a), -1, &a);
    }
    if (doc)
        bson_append_document_end(out, &child);
    else
        bson_append_array_end(out, &child);
}

/* A value from (type, hex sort key, json) into the arena. */
/* The type of a typed path's value from its key's rank: numbers there
 * are integers, or doubles with TYPE_FROM_KEY_DOUBLES (key_decides
 * excludes a path that has held both). */
static int64_t type_from_rank(uint8_t rank, bool doubles)
{
    switch (rank) {
    case CHR_NULL:
        return CHT_NULL;
    case CHR_NUMBER:
        return doubles ? CHT_DOUBLE : CHT_INT;
    case CHR_STRING:
        return CHT_STRING;
    case CHR_BOOL:
        return CHT_BOOL;
    case CHR_DATE:
        return CHT_DATE;
    default:
        return CHT_OTHER;
    }
}

static int decode_value(struct agg_ctx *c, const bson_iter_t *tuple,
                        bson_value_t *out)
{
    bson_iter_t it;
    struct buf key = BUF_INIT, scratch = BUF_INIT;
    int64_t t = 0;
    uint32_t hexn = 0, jsonn = 0;
    const char *hex = "", *json = "";
    int rc = 0;

    if (!bson_iter_recurse(tuple, &it))
        return ERR_CORRUPT;
    if (bson_iter_next(&it))
        t = bson_iter_as_int64(&it);
    if (bson_iter_next(&it) && BSON_ITER_HOLDS_UTF8(&it))
        hex = bson_iter_utf8(&it, &hexn);
    if (bson_iter_next(&it) && BSON_ITER_HOLDS_UTF8(&it))
        json = bson_iter_utf8(&it, &jsonn);

    out->value_type = BSON_TYPE_NULL;
    if (t == 0 || hexn == 0)
        return 0;
    rc = unhex(hex, hexn, &key);
    if (rc == 0 && (t == TYPE_FROM_KEY || t == TYPE_FROM_KEY_DOUBLES))
        t = type_from_rank(key.len > 0 ? (uint8_t)key.data[0] : 0,
                           t == TYPE_FROM_KEY_DOUBLES);
    bson_value_t v;
    if (rc == 0)
        rc = ch_key_decode((const uint8_t *)key.data, key.len,
                           (enum ch_type)t, &scratch, &v);
    if (rc == 0 && jsonn > 0 && (t == CHT_OBJECT || t == CHT_ARRAY)) {
        /* The JSON keeps number forms; the key keeps dates. */
        struct buf parsed = BUF_INIT;
        struct json_opts opts = {.max_depth = JSON_WRITER_MAX_DEPTH,
                                 .wrap_key = "v"};
        struct json_error je;
        bson_t pj, holder, merged;
        bson_iter_t ji, ki;
        if (json_parse(json, jsonn, &opts, &parsed, &je) == 0) {
            bson_init_static(&pj, (const uint8_t *)parsed.data, parsed.len);
            bson_init(&holder);
            bson_append_value(&holder, "v", 1, &v);
            bson_init(&merged);
            if (bson_iter_init_find(&ji, &pj, "v") &&
                bson_iter_init_find(&ki, &holder, "v")) {
                merge_dates(&ji, &ki, &merged, "v");
                bson_iter_t mi;
                if (bson_iter_init_find(&mi, &merged, "v"))
                    rc = value_copy_to_arena(c->arena, bson_iter_value(&mi),
                                             out);
            }
            bson_destroy(&merged);
            bson_destroy(&holder);
            buf_release(&parsed);
            buf_release(&key);
            buf_release(&scratch);
            return rc;
        }
        buf_release(&parsed);
    }
    if (rc == 0)
        rc = value_copy_to_arena(c->arena, &v, out);
    buf_release(&key);
    buf_release(&scratch);
    return rc;
}

static int64_t as_int(const bson_iter_t *it)
{
    if (BSON_ITER_HOLDS_DOUBLE(it))
        return (int64_t)bson_iter_double(it);
    return bson_iter_as_int64(it);
}

/* The 14 sum columns into an exact sum (sum.h). */
static void read_sum(bson_iter_t *col, struct exact_sum *s, int64_t *n)
{
    int64_t v[SUM_COLUMNS];
    double loose = 0;

    memset(s, 0, sizeof(*s));
    for (int i = 0; i < SUM_COLUMNS; i++) {
        if (i == 10)
            loose = BSON_ITER_HOLDS_NULL(col) ? NAN : bson_iter_as_double(col);
        v[i] = as_int(col);
        if (i + 1 < SUM_COLUMNS)
            bson_iter_next(col);
    }
    s->ints = (__int128)v[0] * ((__int128)1 << 32) + (uint64_t)v[1];
    __int128 pos = 0, neg = 0;
    for (int k = 0; k < 4; k++) {
        pos = pos * ((__int128)1 << 32) + (uint64_t)v[2 + k];
        neg = neg * ((__int128)1 << 32) + (uint64_t)v[6 + k];
    }
    /* pos and neg were summed chunk by chunk: carries are in the chunk
     * sums themselves, which the shifts above account for. */
    s->fixed = pos - neg;
    s->has_loose = v[11] > 0;
    s->loose = s->has_loose ? loose : 0;
    s->has_double = v[12] > 0;
    *n = v[13];
}

static int metric_value(struct agg_ctx *c, const struct agg_metric *m,
                        bson_iter_t *col, bson_value_t *out)
{
    struct exact_sum s;
    int64_t n = 0;
    bson_iter_t arr;

    switch (m->fn) {
    case AGG_COUNT:
    case AGG_COUNT_DISTINCT:
        *out = (bson_value_t){.value_type = BSON_TYPE_INT64,
                              .value.v_int64 = as_int(col)};
        return 0;
    case AGG_SUM:
    case AGG_AVG:
        read_sum(col, &s, &n);
        if (m->fn == AGG_SUM) {
            exact_sum_value(&s, out);
        } else if (n == 0) {
            out->value_type = BSON_TYPE_NULL;
        } else {
            out->value_type = BSON_TYPE_DOUBLE;
            out->value.v_double = exact_sum_double(&s) / (double)n;
        }
        return 0;
    case AGG_PUSH:
    case AGG_ADD_TO_SET: {
        bson_t built;
        bson_iter_t prev_key = {0};
        const char *last = NULL;
        uint32_t lastn = 0;
        uint32_t idx = 0;
        bson_init(&built);
        if (bson_iter_recurse(col, &arr)) {
            while (bson_iter_next(&arr)) {
                bson_iter_t pair, tuple = arr;
                bson_value_t v;
                if (m->fn == AGG_ADD_TO_SET) {
                    /* (hex sort key, value): the first of equal keys. */
                    uint32_t kn = 0;
                    bson_iter_recurse(&arr, &pair);
                    bson_iter_next(&pair);
                    const char *k = bson_iter_utf8(&pair, &kn);
                    if (last != NULL && kn == lastn &&
                        memcmp(k, last, kn) == 0)
                        continue;
                    last = k, lastn = kn;
                    bson_iter_next(&pair);
                    tuple = pair;
                }
                int rc = decode_value(c, &tuple, &v);
                if (rc != 0) {
                    bson_destroy(&built);
                    return rc;
                }
                char key[16];
                snprintf(key, sizeof(key), "%u", idx++);
                bson_append_value(&built, key, -1, &v);
            }
        }
        (void)prev_key;
        uint8_t *data = arena_alloc(c->arena, built.len);
        if (data != NULL)
            memcpy(data, bson_get_data(&built), built.len);
        out->value_type = BSON_TYPE_ARRAY;
        out->value.v_doc.data = data;
        out->value.v_doc.data_len = built.len;
        bson_destroy(&built);
        return data ? 0 : ERR_NOMEM;
    }
    default:
        return decode_value(c, col, out);
    }
}

static int key_value(struct agg_ctx *c, const struct agg_key *k,
                     bson_iter_t *col, bson_value_t *out)
{
    if (k->kind == KEY_RANGE) {
        uint32_t n;
        const char *s = bson_iter_utf8(col, &n);
        out->value_type = BSON_TYPE_UTF8;
        out->value.v_utf8.str = arena_strndup(c->arena, s ? s : "", n);
        out->value.v_utf8.len = n;
        return out->value.v_utf8.str ? 0 : ERR_NOMEM;
    }
    if (k->kind == KEY_TRUNC || k->kind == KEY_PART) {
        int64_t v = as_int(col);
        if (v == INT64_MIN) {
            out->value_type = BSON_TYPE_NULL;
        } else if (k->kind == KEY_TRUNC) {
            out->value_type = BSON_TYPE_DATE_TIME;
            out->value.v_datetime = v;
        } else {
            out->value_type = BSON_TYPE_INT32;
            out->value.v_int32 = (int32_t)v;
        }
        return 0;
    }
    /* hex sort key, then (type, json) of the first row. */
    uint32_t hexn;
    const char *hex = bson_iter_utf8(col, &hexn);
    bson_iter_t form, f;
    bson_iter_next(col);
    form = *col;
    int64_t t = 0;
    uint32_t jsonn = 0;
    const char *json = "";
    if (bson_iter_recurse(&form, &f)) {
        if (bson_iter_next(&f))
            t = bson_iter_as_int64(&f);
        if (bson_iter_next(&f) && BSON_ITER_HOLDS_UTF8(&f))
            json = bson_iter_utf8(&f, &jsonn);
    }
    /* Build a (type, hex, json) tuple and decode it like other values. */
    bson_t tup, holder;
    bson_init(&tup);
    bson_append_int64(&tup, "0", 1, t == 0 ? CHT_NULL : t);
    bson_append_utf8(&tup, "1", 1, hex ? hex : "", (int)hexn);
    bson_append_utf8(&tup, "2", 1, json, (int)jsonn);
    bson_init(&holder);
    bson_append_array(&holder, "t", 1, &tup);
    bson_iter_t ti;
    bson_iter_init_find(&ti, &holder, "t");
    int rc = decode_value(c, &ti, out);
    bson_destroy(&holder);
    bson_destroy(&tup);
    return rc;
}

static int read_group(struct agg_ctx *c, const struct aq *q,
                      const bson_iter_t *row, struct agg_group **out)
{
    const struct agg_request *req = q->req;
    struct agg_group *g = arena_zalloc(c->arena, sizeof(*g));
    bson_iter_t col;
    int at = 0, rc = 0;

    if (g == NULL ||
        (g->keys = arena_zalloc(c->arena, (size_t)(req->nkeys + 1) *
                                              sizeof(*g->keys))) == NULL ||
        (g->out = arena_zalloc(c->arena, (size_t)(req->nmetrics + 1) *
                                             sizeof(*g->out))) == NULL)
        return ERR_NOMEM;
    if (!bson_iter_recurse(row, &col) || !bson_iter_next(&col))
        return ERR_CORRUPT;
    for (int i = 0; rc == 0 && i < req->nkeys; i++) {
        while (at < q->keys[i].at && bson_iter_next(&col))
            at++;
        rc = key_value(c, &req->keys[i], &col, &g->keys[i]);
        if (req->keys[i].kind == KEY_VALUE)
            at++;
    }
    for (int j = 0; rc == 0 && j < req->nmetrics; j++) {
        while (at < q->metrics[j].at && bson_iter_next(&col))
            at++;
        rc = metric_value(c, &req->metrics[j], &col, &g->out[j]);
        if (req->metrics[j].fn == AGG_SUM || req->metrics[j].fn == AGG_AVG)
            at += SUM_COLUMNS - 1;
    }
    *out = g;
    return rc;
}

static int read_answer(struct aq *q, struct agg_plan *plan,
                       const struct buf *ans, struct agg_result *res,
                       struct err *e)
{
    struct buf parsed = BUF_INIT;
    struct json_opts opts = {.max_depth = JSON_WRITER_MAX_DEPTH};
    struct json_error je;
    struct agg_ctx c = {.req = q->req, .lim = &plan->lim,
                        .arena = plan->arena, .e = e};
    bson_t doc;
    bson_iter_t it, rows, row;
    size_t n = 0;

    if (json_parse(ans->data ? ans->data : "", ans->len, &opts, &parsed,
                   &je) != 0) {
        buf_release(&parsed);
        return err_set(e, ERR_CORRUPT, "clickhouse's answer does not read: "
                       "%s at byte %zu", je.msg, je.offset);
    }
    bson_init_static(&doc, (const uint8_t *)parsed.data, parsed.len);
    if (bson_iter_init_find(&it, &doc, "data") && bson_iter_recurse(&it, &rows))
        while (bson_iter_next(&rows))
            n++;
    res->groups = arena_zalloc(plan->arena, (n + 1) * sizeof(*res->groups));
    if (res->groups == NULL) {
        buf_release(&parsed);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    int rc = 0;
    size_t k = 0;
    if (bson_iter_init_find(&it, &doc, "data") && bson_iter_recurse(&it, &rows))
        while (rc == 0 && bson_iter_next(&rows) &&
               bson_iter_recurse(&rows, &row) == true) {
            rc = read_group(&c, q, &rows, &res->groups[k]);
            if (rc == 0)
                k++;
        }
    (void)row;
    res->ngroups = k;
    res->groups_before_limit = k;
    if (bson_iter_init_find(&it, &doc, "rows_before_limit_at_least") &&
        q->push_sort && q->req->limit > 0)
        res->groups_before_limit = (size_t)bson_iter_as_int64(&it);
    /* The last total column counts the matched objects. */
    if (bson_iter_init_find(&it, &doc, "totals") &&
        bson_iter_recurse(&it, &row)) {
        bson_iter_t last = row;
        while (bson_iter_next(&row))
            last = row;
        res->matched = (uint64_t)as_int(&last);
    }
    bson_iter_t st;
    if (bson_iter_init_find(&it, &doc, "statistics") &&
        bson_iter_recurse(&it, &st) && bson_iter_find(&st, "rows_read"))
        res->scanned = (uint64_t)as_int(&st);
    buf_release(&parsed);
    if (rc != 0)
        return err_set(e, rc == ERR_NOMEM ? ERR_NOMEM : ERR_CORRUPT,
                       "clickhouse's groups do not read");
    return 0;
}

/* having, sort and limit here, when ClickHouse could not run them. */
static void finish_here(const struct aq *q, struct agg_result *res)
{
    const struct agg_request *req = q->req;

    if (!q->push_having)
        res->ngroups = stage_having(req, res->groups, res->ngroups);
    if (!q->push_sort) {
        stage_sort(req, res->groups, res->ngroups);
        res->groups_before_limit = res->ngroups;
        res->ngroups = stage_limit(req, res->ngroups);
    }
}

static void settings(const struct aq *q, const struct query_limits *lim,
                     struct ch_settings *s, char *groups, char *secs,
                     char *memory)
{
    ch_settings_add(s, "output_format_json_quote_64bit_integers", "0");
    ch_settings_add(s, "totals_mode", "before_having");
    /* TUNING: expressions over path entries are long (each key or metric
     * spells out its lookups); 16 MiB of SQL is far past any request the
     * validator lets through. */
    ch_settings_add(s, "max_query_size", "16777216");
    if (lim->max_groups > 0) {
        sprintf(groups, "%llu", (unsigned long long)lim->max_groups);
        ch_settings_add(s, "max_rows_to_group_by", groups);
        ch_settings_add(s, "group_by_overflow_mode", "throw");
    }
    if (lim->max_time_ms > 0) {
        sprintf(secs, "%llu",
                (unsigned long long)(lim->max_time_ms + 999) / 1000);
        ch_settings_add(s, "max_execution_time", secs);
    }
    /* TUNING: ClickHouse counts all memory of a query (hash tables,
     * blocks), not only collected values: four times the budget of
     * collected values, and at least 1 GiB, keeps ordinary queries
     * clear of the limit while stopping runaway ones. */
    if (lim->max_memory_bytes > 0) {
        uint64_t m = lim->max_memory_bytes * 4;
        sprintf(memory, "%llu",
                (unsigned long long)(m < (1ull << 30) ? 1ull << 30 : m));
        ch_settings_add(s, "max_memory_usage", memory);
    }
    /* TUNING: unwind repeats a row's entry arrays for each element (a
     * few KB a row, times the elements): blocks of 65536 rows made a
     * 200k-object unwind of blobs need over 1 GiB; 8192 rows keep a
     * block's copies to tens of MB, at little cost in speed. */
    if (q->req->unwind != NULL)
        ch_settings_add(s, "max_block_size", "8192");
}

int ch_aggregate(struct backend *be, const struct backend_req *r,
                 const struct catalog_bucket *b, struct agg_plan *plan,
                 struct agg_result **out, struct err *e)
{
    const struct agg_request *req = plan->req;
    struct aq q = {.ch = (struct ch *)be, .req = req};
    struct agg_result *res = arena_zalloc(plan->arena, sizeof(*res));
    struct buf ans = BUF_INIT;
    struct ch_settings s = {0};
    char groups[32], secs[32], memory[32];

    (void)r;
    q.keys = arena_zalloc(plan->arena, (size_t)(req->nkeys + 1) *
                                           sizeof(*q.keys));
    q.metrics = arena_zalloc(plan->arena, (size_t)(req->nmetrics + 1) *
                                              sizeof(*q.metrics));
    if (res == NULL || q.keys == NULL || q.metrics == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    q.valid = req->unwind ? "(" ELEM " != 0)" : "1";
    q.ord = req->unwind ? "(created, object_id, " ELEM ")"
                        : "(created, object_id)";
    q.ord_desc = req->unwind ? "(-created, rid, -toInt64(" ELEM "))"
                             : "(-created, rid)";
    plan_pushdown(&q);

    struct ch_read *how = arena_zalloc(plan->arena, sizeof(*how));
    if (how == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    int rc = ch_read_begin(q.ch, b->id, true, how, e);
    if (rc != 0)
        return rc;
    q.layout = &how->layout;
    rc = build_sql(&q, b, how, e);
    if (rc == 0) {
        settings(&q, &plan->lim, &s, groups, secs, memory);
        rc = ch_query(q.ch, NULL, q.sql.data, NULL, 0, &s, &ans, e);
    }
    ch_read_end(q.ch, how);
    if (rc == 0)
        rc = read_answer(&q, plan, &ans, res, e);
    if (rc == 0) {
        finish_here(&q, res);
        *out = res;
    }
    buf_release(&q.sql);
    buf_release(&ans);
    return rc;
}
