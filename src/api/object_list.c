/*
 * object_list.c - POST /v1/buckets/{bucket}/objects/list.
 *
 * The request (filters, sort, search, select, pagination) is read here;
 * the backend finds the page (backend_object_list), in its natural order
 * or sorted, with a tie-breaker that the cursor carries; the answer
 * projects the selected paths.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "api/paging.h"
#include "query/filter.h"

struct list_req {
    struct page_params page;
    const char *search;
    const char *sort_field;
    bool sort_desc;
    bson_iter_t select;
    bool has_select;
    struct filter *filter;
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
                      const struct backend_row *r)
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

static void write_stats(struct jw *w, const struct backend_list_stats *st)
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
                   const struct backend_row *rows, size_t n,
                   const struct backend_list_stats *st)
{
    struct jw w;
    char cursor[512] = "";
    size_t shown = n > lr->page.limit ? lr->page.limit : n;

    if (n > lr->page.limit && shown > 0)
        page_cursor_encode(lr->sort_field ? &rows[shown - 1].key : NULL,
                           rows[shown - 1].tie, rows[shown - 1].tie_len,
                           cursor, sizeof(cursor));
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

static void fill_list(const struct list_req *lr, const struct catalog_bucket *b,
                      struct backend_list *l)
{
    memset(l, 0, sizeof(*l));
    l->limit = lr->page.limit;
    l->offset = lr->page.offset;
    l->include_total = lr->page.include_total;
    l->has_cursor = lr->page.has_cursor;
    l->cursor_has_value = lr->page.after.has_value;
    l->cursor_value = &lr->page.after.value;
    l->cursor_tie = lr->page.after.tie;
    l->cursor_tie_len = lr->page.after.tie_len;
    l->search = lr->search;
    l->sort_field = lr->sort_field;
    l->sort_desc = lr->sort_desc;
    l->filter = lr->filter;
    l->bucket = &b->record;
}

void api_object_list(const struct http_request *req,
                     struct http_response *resp)
{
    struct api_ctx c;
    struct catalog_bucket b;
    struct list_req lr;
    struct backend_list l = {0};
    struct arena arena;

    arena_init(&arena);
    memset(&lr, 0, sizeof(lr));
    if (api_begin(&c, req, resp, API_NEED_NAMESPACE | API_NEED_BODY) != 0)
        goto out;
    int rc = api_find_bucket(&c, &c.rd, req->params[0], &b);
    if (rc == 0)
        rc = read_request(&c, &b, &arena, &lr);
    if (rc == 0) {
        struct backend_req br = api_backend_req(&c);
        fill_list(&lr, &b, &l);
        rc = backend_object_list(api.backend, &br, &b, &l, &c.err);
    }
    if (rc != 0) {
        api_fail(&c, rc);
        goto out;
    }
    answer(&c, &lr, l.rows, l.n, lr.page.include_total ? &l.stats : NULL);
out:
    backend_list_release(&l);
    page_params_release(&lr.page);
    filter_release(lr.filter);
    arena_release(&arena);
    api_end(&c);
}
