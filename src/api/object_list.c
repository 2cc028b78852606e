/*
 * object_list.c - POST /v1/buckets/{bucket}/objects/list.
 *
 * One pass over the bucket in insertion order, in one snapshot. Without
 * sort, the page is the next `limit` matching objects after the cursor
 * (their insertion sequence), so the scan stops early. With sort, the
 * scan keeps the best offset+limit+1 rows in a heap ordered by (value,
 * sequence) and the cursor is that pair. include_total counts every
 * match (and fills stats), which reads the whole bucket.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "api/paging.h"
#include "query/filter.h"
#include "query/value.h"
#include "store/objects.h"

struct list_req {
    struct page_params page;
    const char *search;
    const char *sort_field;
    bool sort_desc;
    bson_iter_t select;
    bool has_select;
    struct filter *filter;
};

struct row {
    uint64_t seq;
    const uint8_t *doc;
    size_t len;
    bson_value_t key;        /* owned copy when sorting */
};

struct list_stats {
    uint64_t matched, blobs;
    struct status_count {
        char name[32];
        uint64_t n;
    } statuses[16];
    int nstatus;
};

/* --- request ----------------------------------------------------------- */

static void read_sort(struct api_ctx *c, struct list_req *lr)
{
    bson_iter_t s, it;
    struct err_path p = {0};

    if (!api_field(&c->body, "sort", &s))
        return;
    err_path_key(&p, "body");
    if (!BSON_ITER_HOLDS_DOCUMENT(&s) || !bson_iter_recurse(&s, &it) ||
        !bson_iter_find(&it, "field") || !BSON_ITER_HOLDS_UTF8(&it)) {
        err_problem(&c->err, &p, "sort", "value_error",
                    "sort must be {\"field\": ..., \"direction\": asc|desc}");
        return;
    }
    lr->sort_field = bson_iter_utf8(&it, NULL);
    if (bson_iter_recurse(&s, &it) && bson_iter_find(&it, "direction") &&
        BSON_ITER_HOLDS_UTF8(&it)) {
        const char *d = bson_iter_utf8(&it, NULL);
        lr->sort_desc = strcmp(d, "desc") == 0;
        if (!lr->sort_desc && strcmp(d, "asc") != 0)
            err_problem(&c->err, &p, "sort", "enum",
                        "sort.direction must be asc or desc");
    }
}

static int read_request(struct api_ctx *c, const struct catalog_bucket *b,
                        struct arena *arena, struct list_req *lr)
{
    bson_iter_t it;

    memset(lr, 0, sizeof(*lr));
    page_params_read(c, 100, &lr->page);
    lr->search = api_field_string(&c->body, "search", false, &c->err);
    read_sort(c, lr);
    lr->has_select = api_field_is(&c->body, "select", BSON_TYPE_ARRAY,
                                  "an array of field paths", false,
                                  &lr->select, &c->err);
    if (api_field(&c->body, "filters", &it)) {
        struct err_path p = {0};
        err_path_key(&p, "body");
        err_path_key(&p, "filters");
        filter_compile(&it, &b->record, arena, &lr->filter, &p, &c->err);
    }
    return c->err.code;
}

/* --- matching ---------------------------------------------------------- */

static bool string_contains(const bson_iter_t *it, const char *needle);

static bool any_string_contains(bson_iter_t *it, const char *needle)
{
    while (bson_iter_next(it))
        if (string_contains(it, needle))
            return true;
    return false;
}

/* Any string anywhere in the value, case-insensitively. */
static bool string_contains(const bson_iter_t *it, const char *needle)
{
    bson_iter_t child;

    if (BSON_ITER_HOLDS_UTF8(it))
        return strcasestr(bson_iter_utf8(it, NULL), needle) != NULL;
    if ((BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) &&
        bson_iter_recurse(it, &child))
        return any_string_contains(&child, needle);
    return false;
}

static bool row_matches(const struct list_req *lr, const uint8_t *doc,
                        size_t len)
{
    bson_iter_t it;

    if (lr->filter != NULL && !filter_match(lr->filter, doc, len))
        return false;
    if (lr->search == NULL || lr->search[0] == '\0')
        return true;
    return bson_iter_init_from_data(&it, doc, len) &&
           any_string_contains(&it, lr->search);
}

static void count_stats(struct list_stats *st, const uint8_t *doc, size_t len)
{
    bson_iter_t it, arr;

    st->matched++;
    if (bson_iter_init_from_data(&it, doc, len) &&
        bson_iter_find(&it, "blobs") && bson_iter_recurse(&it, &arr))
        while (bson_iter_next(&arr))
            st->blobs++;
    if (!bson_iter_init_from_data(&it, doc, len) ||
        !bson_iter_find(&it, "status") || !BSON_ITER_HOLDS_UTF8(&it))
        return;

    const char *s = bson_iter_utf8(&it, NULL);
    for (int i = 0; i < st->nstatus; i++) {
        if (strcmp(st->statuses[i].name, s) == 0) {
            st->statuses[i].n++;
            return;
        }
    }
    if (st->nstatus < 16) {
        snprintf(st->statuses[st->nstatus].name, 32, "%s", s);
        st->statuses[st->nstatus++].n = 1;
    }
}

/* --- the sorted case: a bounded heap ----------------------------------- */

struct heap {
    struct row *rows;
    size_t n, cap;
    bool desc;
};

/* Row order: by key (direction as asked), then by sequence ascending. */
static int row_order(const struct row *a, const struct row *b, bool desc)
{
    int c = value_compare(&a->key, &b->key);
    if (desc)
        c = -c;
    if (c != 0)
        return c;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* A max-heap on row_order: the root is the row that would be dropped. */
static void sift_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < h->n && row_order(&h->rows[l], &h->rows[top], h->desc) > 0)
            top = l;
        if (r < h->n && row_order(&h->rows[r], &h->rows[top], h->desc) > 0)
            top = r;
        if (top == i)
            return;
        struct row tmp = h->rows[i];
        h->rows[i] = h->rows[top];
        h->rows[top] = tmp;
        i = top;
    }
}

static void sift_up(struct heap *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (row_order(&h->rows[i], &h->rows[parent], h->desc) <= 0)
            return;
        struct row tmp = h->rows[i];
        h->rows[i] = h->rows[parent];
        h->rows[parent] = tmp;
        i = parent;
    }
}

static void heap_offer(struct heap *h, struct row *r)
{
    if (h->n < h->cap) {
        bson_value_copy(&r->key, &h->rows[h->n].key);
        h->rows[h->n] = (struct row){r->seq, r->doc, r->len,
                                     h->rows[h->n].key};
        sift_up(h, h->n++);
        return;
    }
    if (row_order(r, &h->rows[0], h->desc) >= 0)
        return;
    bson_value_destroy(&h->rows[0].key);
    bson_value_copy(&r->key, &h->rows[0].key);
    h->rows[0].seq = r->seq, h->rows[0].doc = r->doc, h->rows[0].len = r->len;
    sift_down(h, 0);
}

static int cmp_asc(const void *a, const void *b, void *desc)
{
    return row_order(a, b, *(bool *)desc);
}

/* --- the scan ---------------------------------------------------------- */

struct scan_out {
    struct row *rows;      /* the page (+1 to know whether more follow) */
    size_t n;
    struct heap heap;
    struct list_stats stats;
    struct buf scratch;
};

/* Whether a row comes after the cursor in the list's order: by sort key
 * (in the asked direction), then by insertion sequence. Unsorted lists
 * start their scan after the cursor's sequence instead. */
static bool after_cursor(const struct list_req *lr, const struct row *r)
{
    const struct page_pos *pos = &lr->page.after;

    if (!lr->page.has_cursor || lr->sort_field == NULL)
        return true;
    int c = pos->has_value ? value_compare(&r->key, &pos->value) : 0;
    if (lr->sort_desc)
        c = -c;
    if (c != 0)
        return c > 0;
    return pos->tie_len == 8 && r->seq > store_get_be64(pos->tie);
}

static void row_key(const struct list_req *lr, struct scan_out *out,
                    struct row *r)
{
    buf_reset(&out->scratch);
    if (value_resolve(r->doc, r->len, lr->sort_field, &out->scratch,
                      &r->key) != 0)
        r->key.value_type = BSON_TYPE_NULL;
}

static int scan(struct api_ctx *c, const struct catalog_bucket *b,
                struct list_req *lr, struct scan_out *out)
{
    struct objects_scan sc;
    uint64_t skipped = 0, from = 0;
    struct row r;

    if (lr->page.has_cursor && !lr->sort_field &&
        lr->page.after.tie_len == 8)
        from = store_get_be64(lr->page.after.tie) + 1;
    int rc = objects_scan_open(&c->rd, b->num, from, &sc, &c->err);
    while (rc == 0) {
        rc = objects_scan_next(&sc, &r.seq, &r.doc, &r.len, &c->err);
        if (rc != 0 || !row_matches(lr, r.doc, r.len))
            continue;
        if (lr->page.include_total)
            count_stats(&out->stats, r.doc, r.len);
        if (lr->sort_field != NULL) {
            row_key(lr, out, &r);
            if (after_cursor(lr, &r))
                heap_offer(&out->heap, &r);
        } else if (out->n < lr->page.limit + 1) {
            if (!lr->page.has_cursor && skipped < lr->page.offset)
                skipped++;
            else
                out->rows[out->n++] = r;
        } else if (!lr->page.include_total) {
            break;
        }
    }
    objects_scan_close(&sc);
    if (rc == ERR_NOT_FOUND)
        rc = 0;
    if (rc == 0 && filter_failed(lr->filter))
        rc = err_set(&c->err, ERR_LIMIT,
                     "a regular expression in filters hit its match limit "
                     "(too much backtracking); simplify the pattern");
    return rc;
}

/* --- the answer -------------------------------------------------------- */

static bool selected(const bson_iter_t *select, const char *path)
{
    bson_iter_t it = *select;
    size_t n = strlen(path);

    bson_iter_recurse(select, &it);
    while (bson_iter_next(&it)) {
        if (!BSON_ITER_HOLDS_UTF8(&it))
            continue;
        const char *s = bson_iter_utf8(&it, NULL);
        if (strcmp(s, path) == 0 ||
            (strncmp(s, path, n) == 0 && s[n] == '.'))
            return true;
    }
    return false;
}

/* Writes only the selected paths (and the ids), keeping nesting. */
static void write_projected(struct jw *w, bson_iter_t *it,
                            const bson_iter_t *select, char *path, size_t plen)
{
    jw_object_begin(w);
    while (bson_iter_next(it)) {
        const char *k = bson_iter_key(it);
        size_t klen = strlen(k);
        if (plen + klen + 2 > 512)
            continue;
        if (plen)
            path[plen] = '.';
        memcpy(path + plen + (plen ? 1 : 0), k, klen + 1);
        size_t sub = plen + (plen ? 1 : 0) + klen;

        bool whole = plen == 0 && (strcmp(k, "object_id") == 0 ||
                                   strcmp(k, "bucket_id") == 0);
        bson_iter_t child;
        if (!whole && !selected(select, path)) {
            path[plen] = '\0';
            continue;
        }
        jw_key(w, k);
        bool exact = whole;
        bson_iter_t s;
        bson_iter_recurse(select, &s);
        while (!exact && bson_iter_next(&s))
            exact = BSON_ITER_HOLDS_UTF8(&s) &&
                    strcmp(bson_iter_utf8(&s, NULL), path) == 0;
        if (!exact && BSON_ITER_HOLDS_DOCUMENT(it) &&
            bson_iter_recurse(it, &child))
            write_projected(w, &child, select, path, sub);
        else
            jw_bson_value(w, it);
        path[plen] = '\0';
    }
    jw_object_end(w);
}

static void write_row(struct jw *w, const struct list_req *lr,
                      const struct row *r)
{
    bson_t doc;
    bson_iter_t it;
    char path[512] = "";

    if (!lr->has_select) {
        bson_init_static(&doc, r->doc, r->len);
        jw_bson_document(w, &doc);
        return;
    }
    bson_iter_init_from_data(&it, r->doc, r->len);
    write_projected(w, &it, &lr->select, path, 0);
}

static void write_stats(struct jw *w, const struct list_stats *st)
{
    jw_key(w, "stats");
    jw_object_begin(w);
    jw_key(w, "total_objects");
    jw_int(w, (int64_t)st->matched);
    jw_key(w, "total_blobs");
    jw_int(w, (int64_t)st->blobs);
    jw_key(w, "avg_blobs_per_object");
    jw_double(w, st->matched ? (double)st->blobs / (double)st->matched : 0.0);
    jw_key(w, "objects_by_status");
    jw_object_begin(w);
    for (int i = 0; i < st->nstatus; i++) {
        jw_key(w, st->statuses[i].name);
        jw_int(w, (int64_t)st->statuses[i].n);
    }
    jw_object_end(w);
    jw_object_end(w);
}

/* The page; stats (and the total) only when include_total asked for
 * them. */
static void answer(struct api_ctx *c, const struct list_req *lr,
                   struct row *rows, size_t n, const struct list_stats *st)
{
    struct jw w;
    char cursor[512] = "";
    size_t shown = n > lr->page.limit ? lr->page.limit : n;

    if (n > lr->page.limit && shown > 0) {
        unsigned char tie[8];
        store_be64(tie, rows[shown - 1].seq);
        page_cursor_encode(lr->sort_field ? &rows[shown - 1].key : NULL, tie,
                           8, cursor, sizeof(cursor));
    }
    jw_init(&w, &c->resp->body);
    jw_object_begin(&w);
    jw_key(&w, "results");
    jw_array_begin(&w);
    for (size_t i = 0; i < shown; i++)
        write_row(&w, lr, &rows[i]);
    jw_array_end(&w);
    page_write(&w, &lr->page, st ? (int64_t)st->matched : -1, cursor);
    if (st != NULL)
        write_stats(&w, st);
    jw_object_end(&w);
    http_reply_json(c->resp, 200);
}

void api_object_list(const struct http_request *req,
                     struct http_response *resp)
{
    struct api_ctx c;
    struct catalog_bucket b;
    struct list_req lr;
    struct scan_out out = {0};
    struct arena arena;

    arena_init(&arena);
    memset(&lr, 0, sizeof(lr));
    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) != 0)
        goto out;
    int rc = api_find_bucket(&c, &c.rd, req->params[0], &b);
    if (rc == 0)
        rc = read_request(&c, &b, &arena, &lr);
    if (rc == 0) {
        size_t cap = lr.page.offset + lr.page.limit + 1;
        out.rows = calloc(cap, sizeof(*out.rows));
        out.heap = (struct heap){calloc(cap, sizeof(struct row)), 0, cap,
                                 lr.sort_desc};
        rc = out.rows && out.heap.rows ? 0 : ERR_NOMEM;
    }
    if (rc == 0)
        rc = scan(&c, &b, &lr, &out);
    if (rc != 0) {
        api_fail(&c, rc);
        goto out;
    }

    struct row *rows = out.rows;
    size_t n = out.n;
    if (lr.sort_field != NULL) {
        qsort_r(out.heap.rows, out.heap.n, sizeof(struct row), cmp_asc,
                &lr.sort_desc);
        size_t skip = lr.page.has_cursor ? 0 : lr.page.offset;
        rows = out.heap.rows + (skip < out.heap.n ? skip : out.heap.n);
        n = out.heap.n - (size_t)(rows - out.heap.rows);
    }
    answer(&c, &lr, rows, n, lr.page.include_total ? &out.stats : NULL);
out:
    for (size_t i = 0; i < out.heap.n; i++)
        bson_value_destroy(&out.heap.rows[i].key);
    free(out.heap.rows);
    free(out.rows);
    buf_release(&out.scratch);
    page_params_release(&lr.page);
    filter_release(lr.filter);
    arena_release(&arena);
    api_end(&c);
}
