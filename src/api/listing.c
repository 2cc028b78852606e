#include "api/listing.h"

#include <stdlib.h>
#include <string.h>

#include "api/paging.h"
#include "query/value.h"

struct list_order {
    const char *field;
    bool desc;
};

struct sorted_row {
    struct list_row *row;
    bson_value_t key;     /* null when the field is missing */
};

static bool contains(const char *hay, const char *needle, bool case_sensitive)
{
    return case_sensitive ? strstr(hay, needle) != NULL
                          : strcasestr(hay, needle) != NULL;
}

static bool filters_match(const bson_t *record, const bson_t *body)
{
    bson_iter_t f, it, member;

    if (!api_field(body, "filters", &f) || !BSON_ITER_HOLDS_DOCUMENT(&f) ||
        !bson_iter_recurse(&f, &it))
        return true;
    while (bson_iter_next(&it)) {
        if (!bson_iter_init_find(&member, record, bson_iter_key(&it)) ||
            !value_equal(bson_iter_value(&member), bson_iter_value(&it)))
            return false;
    }
    return true;
}

static void read_order(const bson_t *body, struct list_order *o)
{
    bson_iter_t s, it;

    o->field = "created_at";
    o->desc = false;
    if (!api_field(body, "sort", &s) || !BSON_ITER_HOLDS_DOCUMENT(&s))
        return;
    if (bson_iter_recurse(&s, &it) && bson_iter_find(&it, "field") &&
        BSON_ITER_HOLDS_UTF8(&it))
        o->field = bson_iter_utf8(&it, NULL);
    if (bson_iter_recurse(&s, &it) && bson_iter_find(&it, "direction") &&
        BSON_ITER_HOLDS_UTF8(&it))
        o->desc = strcmp(bson_iter_utf8(&it, NULL), "desc") == 0;
}

static int cmp_rows(const void *a, const void *b, void *desc)
{
    const struct sorted_row *x = a, *y = b;
    int c = value_compare(&x->key, &y->key);

    if (c == 0)
        c = strcmp(x->row->id, y->row->id);
    return *(bool *)desc ? -c : c;
}

static void sort_key(const struct list_row *row, const char *field,
                     bson_value_t *out)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, row->record, field))
        *out = *bson_iter_value(&it);
    else
        out->value_type = BSON_TYPE_NULL;
}

/* The first row after the cursor (or the offset). */
static size_t first_row(const struct page_params *p, struct sorted_row *rows,
                        size_t n, bool desc)
{
    if (!p->has_cursor)
        return p->offset < n ? p->offset : n;
    for (size_t i = 0; i < n; i++) {
        int c = page_pos_compare(&p->after, &rows[i].key, rows[i].row->id,
                                 strlen(rows[i].row->id));
        if (desc ? c < 0 : c > 0)
            return i;
    }
    return n;
}

static void write_page(struct api_ctx *c, struct page_params *p,
                       struct sorted_row *rows, size_t n, bool desc,
                       list_write_fn write)
{
    struct jw w;
    size_t start = first_row(p, rows, n, desc);
    size_t end = start + p->limit < n ? start + p->limit : n;
    char cursor[512] = "";

    if (end < n && end > start)
        page_cursor_encode(&rows[end - 1].key, rows[end - 1].row->id,
                           strlen(rows[end - 1].row->id), cursor,
                           sizeof(cursor));
    jw_init(&w, &c->resp->body);
    jw_object_begin(&w);
    jw_key(&w, "results");
    jw_array_begin(&w);
    for (size_t i = start; i < end; i++)
        write(&w, &c->rd, rows[i].row->item);
    jw_array_end(&w);
    jw_key(&w, "total_count");
    jw_int(&w, (int64_t)n);
    page_write(&w, p, (int64_t)n, cursor);
    jw_key(&w, "stats");
    jw_null(&w);
    jw_object_end(&w);
    http_reply_json(c->resp, 200);
}

void list_answer(struct api_ctx *c, struct list_row *rows, size_t n,
                 list_write_fn write)
{
    struct page_params p;
    struct list_order order;
    bson_iter_t it;
    const char *search = NULL;
    bool case_sensitive = false;

    if (page_params_read(c, 100, &p) != 0) {
        page_params_release(&p);
        api_fail(c, ERR_VALIDATION);
        return;
    }
    if (api_field(&c->body, "search", &it) && BSON_ITER_HOLDS_UTF8(&it))
        search = bson_iter_utf8(&it, NULL);
    if (api_field(&c->body, "case_sensitive", &it) && BSON_ITER_HOLDS_BOOL(&it))
        case_sensitive = bson_iter_bool(&it);
    read_order(&c->body, &order);

    struct sorted_row *sorted = calloc(n ? n : 1, sizeof(*sorted));
    size_t kept = 0;
    if (sorted == NULL) {
        page_params_release(&p);
        api_fail(c, ERR_NOMEM);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (search != NULL && !contains(rows[i].name, search, case_sensitive))
            continue;
        if (!filters_match(rows[i].record, &c->body))
            continue;
        sorted[kept].row = &rows[i];
        sort_key(&rows[i], order.field, &sorted[kept].key);
        kept++;
    }
    qsort_r(sorted, kept, sizeof(*sorted), cmp_rows, &order.desc);
    write_page(c, &p, sorted, kept, order.desc, write);
    free(sorted);
    page_params_release(&p);
}
