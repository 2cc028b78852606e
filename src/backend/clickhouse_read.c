/*
 * clickhouse_read.c - reading objects back: one object, the objects a
 * write needs to see, and objects/list.
 *
 * Every read is a SELECT ... FINAL over the Distributed table with
 * is_deleted = 0 in WHERE, so that it sees the latest version of each
 * object and nothing deleted (WHERE runs after FINAL's merge; PREWHERE,
 * which would run before it, is never used). Lists leave FINAL out
 * while the bucket holds no superseded live row (clickhouse_final.c). Rows come back in
 * RowBinary; the stored JSON (doc) is read with Tally's JSON reader,
 * and created_at / updated_at become dates again, so that a document read
 * back is the document that was stored.
 *
 * Lists: the natural order (the embedded store's insertion order) is
 * (created, object_id) here, which is also the tie-breaker of a sorted
 * list; the cursor carries the sort value and that pair.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/clickhouse.h"
#include "base/clock.h"
#include "json/json.h"
#include "query/filter_internal.h"

/* --- RowBinary answers ------------------------------------------------- */

uint64_t ch_rb_varint(struct ch_rb *r)
{
    uint64_t v = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = true;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

const char *ch_rb_string(struct ch_rb *r, size_t *n)
{
    uint64_t len = ch_rb_varint(r);

    if (r->bad || (uint64_t)(r->end - r->p) < len) {
        r->bad = true;
        *n = 0;
        return "";
    }
    const char *s = (const char *)r->p;
    r->p += len;
    *n = (size_t)len;
    return s;
}

uint64_t ch_rb_le(struct ch_rb *r, int bytes)
{
    uint64_t v = 0;

    if ((size_t)(r->end - r->p) < (size_t)bytes) {
        r->bad = true;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    return v;
}

/* --- documents --------------------------------------------------------- */

int ch_doc_from_json(const char *json, size_t n, bson_t *doc, struct err *e)
{
    struct buf parsed = BUF_INIT;
    struct json_error je;
    bson_t src;
    bson_iter_t it;

    int rc = json_parse(json, n, NULL, &parsed, &je);
    if (rc != 0) {
        buf_release(&parsed);
        return err_set(e, ERR_CORRUPT, "a stored document in clickhouse "
                       "does not read back: %s", je.msg);
    }
    bson_init_static(&src, (const uint8_t *)parsed.data, parsed.len);
    bson_iter_init(&it, &src);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        int64_t ms;
        uint32_t len;
        if ((strcmp(k, "created_at") == 0 || strcmp(k, "updated_at") == 0) &&
            BSON_ITER_HOLDS_UTF8(&it)) {
            const char *s = bson_iter_utf8(&it, &len);
            if (clock_parse_iso8601(s, len, &ms)) {
                bson_append_date_time(doc, k, -1, ms);
                continue;
            }
        }
        bson_append_iter(doc, k, -1, &it);
    }
    buf_release(&parsed);
    return 0;
}

/* The same, appended to out as BSON bytes. */
static int doc_from_json(const char *json, size_t n, struct buf *out,
                         struct err *e)
{
    bson_t doc;

    bson_init(&doc);
    int rc = ch_doc_from_json(json, n, &doc, e);
    if (rc == 0)
        buf_add(out, bson_get_data(&doc), doc.len);
    bson_destroy(&doc);
    if (rc == 0 && out->oom)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    return rc;
}

int ch_fetch_objects(struct ch *ch, const char *bucket_id,
                     const char *const *ids, size_t n, struct buf *out,
                     size_t *offsets, bool *found, struct err *e)
{
    struct buf sql = BUF_INIT, ans = BUF_INIT;

    buf_adds(&sql, "SELECT object_id, doc FROM ");
    ch_table_dist(&sql, ch, bucket_id);
    buf_adds(&sql, " FINAL WHERE " CH_LIVE " AND object_id IN (");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_adds(&sql, ", ");
        ch_sql_cstring(&sql, ids[i]);
        found[i] = false;
    }
    buf_adds(&sql, ") FORMAT RowBinary");
    int rc = sql.oom ? err_set(e, ERR_NOMEM, "out of memory")
                     : ch_query(ch, NULL, sql.data, NULL, 0, NULL, &ans, e);

    struct ch_rb r = {(const uint8_t *)ans.data,
                   (const uint8_t *)ans.data + ans.len, false};
    while (rc == 0 && r.p < r.end) {
        size_t idn, docn;
        const char *id = ch_rb_string(&r, &idn);
        const char *doc = ch_rb_string(&r, &docn);
        if (r.bad) {
            rc = err_set(e, ERR_CORRUPT, "clickhouse answered rows that do "
                         "not read");
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (found[i] || strlen(ids[i]) != idn ||
                memcmp(ids[i], id, idn) != 0)
                continue;
            offsets[i] = out->len;
            found[i] = true;
            rc = doc_from_json(doc, docn, out, e);
            break;
        }
    }
    buf_release(&sql);
    buf_release(&ans);
    return rc;
}

int ch_object_get(struct backend *be, const struct backend_req *r,
                  const char *object_id, bson_t *out, struct err *e)
{
    struct ch *ch = (struct ch *)be;
    struct catalog_bucket b;
    struct buf docs = BUF_INIT;
    size_t offset = 0;
    bool found = false;

    int rc = backend_find_bucket(r->rd, r, &b, e);
    if (rc == 0)
        rc = ch_fetch_objects(ch, b.id, &object_id, 1, &docs, &offset, &found,
                              e);
    if (rc == 0 && !found)
        rc = err_set(e, ERR_NOT_FOUND, "object \"%.100s\" not found in "
                     "bucket %s", object_id, b.name);
    if (rc == 0) {
        bson_t view;
        uint32_t len;
        memcpy(&len, docs.data + offset, 4);
        bson_init_static(&view, (const uint8_t *)docs.data + offset, len);
        bson_copy_to(&view, out);
    }
    buf_release(&docs);
    return rc;
}

/* --- lists ------------------------------------------------------------- */

struct list_mem {
    struct buf docs;             /* BSON documents, one after the other */
    struct buf scratch;          /* a sort value being decoded */
    struct backend_row *rows;
    size_t *doc_at;
};

static void list_release(struct backend_list *l)
{
    struct list_mem *m = l->owned;

    if (m == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (m->rows[i].has_key)
            bson_value_destroy(&m->rows[i].key);
    buf_release(&m->docs);
    buf_release(&m->scratch);
    free(m->rows);
    free(m->doc_at);
    free(m);
    l->owned = NULL;
}

/* The tie-breaker of a row: created (ms, order-preserving) then the
 * object id. */
static void make_tie(struct backend_row *row, int64_t created,
                     const char *id, size_t n)
{
    uint64_t u = (uint64_t)created ^ 0x8000000000000000ULL;

    for (int i = 7; i >= 0; i--, u >>= 8)
        row->tie[i] = (unsigned char)(u & 0xff);
    if (n > BACKEND_TIE_MAX - 8)
        n = BACKEND_TIE_MAX - 8;
    memcpy(row->tie + 8, id, n);
    row->tie_len = 8 + n;
}

/* WHERE: live, filtered, searched. */
static int list_where(struct ch *ch, const struct backend_list *l,
                      const struct ch_layout *layout, struct buf *sql,
                      struct err *e)
{
    struct err_path path = {0};

    err_path_key(&path, "body");
    err_path_key(&path, "filters");
    buf_adds(sql, " WHERE " CH_LIVE " AND ");
    int rc = ch_filter_sql(ch, l->filter, layout, sql, &path, e);
    if (rc == 0 && l->search != NULL && l->search[0] != '\0') {
        buf_adds(sql, " AND ");
        ch_search_sql(sql, l->search);
    }
    return rc;
}

/* A facet of the sort field: its typed columns, or its entries. */
static void sort_facet(const struct backend_list *l,
                       const struct ch_layout *layout, struct buf *sql,
                       enum ch_facet f)
{
    const struct ch_typed *t = ch_layout_find(layout, l->sort_field);

    if (t != NULL)
        ch_typed_sql(sql, t, f);
    else
        ch_resolve_sql(sql, l->sort_field, "0", 0, f);
}

/* A missing sort value sorts as null: its key is the null key. */
static void sort_key_sql(const struct backend_list *l,
                         const struct ch_layout *layout, struct buf *sql)
{
    buf_adds(sql, "if(");
    sort_facet(l, layout, sql, CHF_PRESENT);
    buf_adds(sql, ", ");
    sort_facet(l, layout, sql, CHF_SKEY);
    ch_sql_printf(sql, ", '\\x%02x')", CHR_NULL);
}

/* After the cursor: (sort key in the asked direction, created, id). */
static void after_cursor(const struct backend_list *l,
                         const struct ch_layout *layout, struct buf *sql)
{
    struct buf k = BUF_INIT;
    int64_t created = 0;
    uint64_t u = 0;

    if (!l->has_cursor || l->cursor_tie_len < 8)
        return;
    for (int i = 0; i < 8; i++)
        u = u << 8 | l->cursor_tie[i];
    created = (int64_t)(u ^ 0x8000000000000000ULL);

    struct buf tie = BUF_INIT;
    buf_addf(&tie, "(created > %lld OR (created = %lld AND object_id > ",
             (long long)created, (long long)created);
    ch_sql_string(&tie, (const char *)l->cursor_tie + 8,
                  l->cursor_tie_len - 8);
    buf_adds(&tie, "))");

    buf_adds(sql, " AND ");
    if (l->sort_field == NULL || !l->cursor_has_value) {
        buf_add(sql, tie.data, tie.len);
    } else {
        ch_key_encode(&k, l->cursor_value);
        buf_adds(sql, "(");
        sort_key_sql(l, layout, sql);
        buf_adds(sql, l->sort_desc ? " < " : " > ");
        ch_sql_bytes(sql, k.data, k.len);
        buf_adds(sql, " OR (");
        sort_key_sql(l, layout, sql);
        buf_adds(sql, " = ");
        ch_sql_bytes(sql, k.data, k.len);
        buf_adds(sql, " AND ");
        buf_add(sql, tie.data, tie.len);
        buf_adds(sql, "))");
    }
    buf_release(&k);
    buf_release(&tie);
}

static int page_sql(struct ch *ch, const struct catalog_bucket *b,
                    const struct backend_list *l, const struct ch_read *how,
                    struct buf *sql, struct err *e)
{
    const struct ch_layout *layout = &how->layout;

    buf_adds(sql, "SELECT doc, created, object_id, ");
    if (l->sort_field != NULL) {
        sort_facet(l, layout, sql, CHF_TYPE);
        buf_adds(sql, ", ");
        sort_key_sql(l, layout, sql);
    } else {
        buf_adds(sql, "toUInt8(0), ''");
    }
    buf_adds(sql, " FROM ");
    ch_from(sql, ch, b->id, how);
    int rc = list_where(ch, l, &how->layout, sql, e);
    if (rc != 0)
        return rc;
    after_cursor(l, &how->layout, sql);
    buf_adds(sql, " ORDER BY ");
    if (l->sort_field != NULL) {
        sort_key_sql(l, layout, sql);
        buf_adds(sql, l->sort_desc ? " DESC, " : " ASC, ");
    }
    ch_sql_printf(sql, "created, object_id LIMIT %llu",
                  (unsigned long long)(l->limit + 1));
    if (!l->has_cursor && l->offset > 0)
        ch_sql_printf(sql, " OFFSET %llu", (unsigned long long)l->offset);
    buf_adds(sql, " FORMAT RowBinary");
    return sql->oom ? err_set(e, ERR_NOMEM, "out of memory") : 0;
}

static int read_page(struct list_mem *m, struct backend_list *l,
                     const struct buf *ans, struct err *e)
{
    struct ch_rb r = {(const uint8_t *)ans->data,
                   (const uint8_t *)ans->data + ans->len, false};
    size_t cap = l->limit + 1;

    m->rows = calloc(cap, sizeof(*m->rows));
    m->doc_at = calloc(cap, sizeof(*m->doc_at));
    if (m->rows == NULL || m->doc_at == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    while (r.p < r.end && l->n < cap) {
        size_t docn, idn, keyn;
        struct backend_row *row = &m->rows[l->n];
        const char *doc = ch_rb_string(&r, &docn);
        int64_t created = (int64_t)ch_rb_le(&r, 8);
        const char *id = ch_rb_string(&r, &idn);
        enum ch_type t = (enum ch_type)ch_rb_le(&r, 1);
        const char *key = ch_rb_string(&r, &keyn);
        if (r.bad)
            return err_set(e, ERR_CORRUPT, "clickhouse answered rows that "
                           "do not read");
        m->doc_at[l->n] = m->docs.len;
        int rc = doc_from_json(doc, docn, &m->docs, e);
        if (rc != 0)
            return rc;
        make_tie(row, created, id, idn);
        row->key.value_type = BSON_TYPE_NULL;
        if (l->sort_field != NULL && keyn > 0) {
            bson_value_t v;
            buf_reset(&m->scratch);
            if (ch_key_decode((const uint8_t *)key, keyn, t, &m->scratch,
                              &v) != 0)
                return err_set(e, ERR_CORRUPT, "a sort key from clickhouse "
                               "does not read");
            bson_value_copy(&v, &row->key);
            row->has_key = true;
        }
        l->n++;
    }
    /* Documents and decoded keys are in place: point the rows at them. */
    for (size_t i = 0; i < l->n; i++) {
        uint32_t len;
        memcpy(&len, m->docs.data + m->doc_at[i], 4);
        m->rows[i].doc = (const uint8_t *)m->docs.data + m->doc_at[i];
        m->rows[i].len = len;
    }
    return 0;
}

/* include_total: the matched count, blobs and statuses (in the order of
 * their first object). As in the embedded store, an unsorted list counts
 * from its cursor on (the embedded scan starts there). */
static int list_stats(struct ch *ch, const struct catalog_bucket *b,
                      struct backend_list *l, const struct ch_read *how,
                      struct err *e)
{
    struct buf sql = BUF_INIT, ans = BUF_INIT;

    buf_adds(&sql, "SELECT status, count(), sum(if(");
    ch_resolve_sql(&sql, "blobs", "0", 0, CHF_TYPE);
    ch_sql_printf(&sql, " = %d, toUInt64(", CHT_ARRAY);
    ch_resolve_sql(&sql, "blobs", "0", 0, CHF_NUM);
    buf_adds(&sql, "), 0)), min((created, object_id)) AS first FROM ");
    ch_from(&sql, ch, b->id, how);
    int rc = list_where(ch, l, &how->layout, &sql, e);
    if (rc != 0) {
        buf_release(&sql);
        return rc;
    }
    if (l->sort_field == NULL)
        after_cursor(l, &how->layout, &sql);
    buf_adds(&sql, " GROUP BY status ORDER BY first FORMAT RowBinary");
    rc = ch_query(ch, NULL, sql.data, NULL, 0, NULL, &ans, e);

    struct ch_rb r = {(const uint8_t *)ans.data,
                   (const uint8_t *)ans.data + ans.len, false};
    struct backend_list_stats *st = &l->stats;
    while (rc == 0 && r.p < r.end) {
        size_t n, idn;
        const char *status = ch_rb_string(&r, &n);
        uint64_t count = ch_rb_le(&r, 8), blobs = ch_rb_le(&r, 8);
        ch_rb_le(&r, 8);
        ch_rb_string(&r, &idn);
        if (r.bad) {
            rc = err_set(e, ERR_CORRUPT, "clickhouse answered rows that do "
                         "not read");
            break;
        }
        st->matched += count;
        st->blobs += blobs;
        if (st->nstatus < 16 && n > 0) {
            struct backend_status_count *sc = &st->statuses[st->nstatus++];
            snprintf(sc->name, sizeof(sc->name), "%.*s", (int)n, status);
            sc->n = count;
        }
    }
    buf_release(&sql);
    buf_release(&ans);
    return rc;
}

int ch_object_list(struct backend *be, const struct backend_req *r,
                   const struct catalog_bucket *b, struct backend_list *l,
                   struct err *e)
{
    struct ch *ch = (struct ch *)be;
    struct list_mem *m = calloc(1, sizeof(*m));
    struct buf sql = BUF_INIT, ans = BUF_INIT;
    struct ch_read *how = malloc(sizeof(*how));

    (void)r;
    if (m == NULL || how == NULL) {
        free(m);
        free(how);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    l->owned = m;
    l->release = list_release;
    int rc = ch_read_begin(ch, b->id, true, how, e);
    if (rc == 0) {
        rc = page_sql(ch, b, l, how, &sql, e);
        if (rc == 0)
            rc = ch_query(ch, NULL, sql.data, NULL, 0, NULL, &ans, e);
        if (rc == 0)
            rc = read_page(m, l, &ans, e);
        if (rc == 0 && l->include_total)
            rc = list_stats(ch, b, l, how, e);
        ch_read_end(ch, how);
    }
    free(how);
    l->rows = m->rows;
    buf_release(&sql);
    buf_release(&ans);
    return rc;
}
