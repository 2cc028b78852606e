#include "api/paging.h"

#include <sodium.h>
#include <string.h>

#include "query/value.h"

#define CURSOR_MAX 512

static int decode_cursor(const char *s, struct page_pos *pos)
{
    unsigned char bin[CURSOR_MAX];
    size_t len;
    bson_t doc;
    bson_iter_t it;

    memset(pos, 0, sizeof(*pos));
    if (strlen(s) >= CURSOR_MAX ||
        sodium_base642bin(bin, sizeof(bin), s, strlen(s), NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        !bson_init_static(&doc, bin, len) || !bson_validate(&doc, 0, NULL))
        return ERR_BAD_REQUEST;

    if (bson_iter_init_find(&it, &doc, "t") && BSON_ITER_HOLDS_BINARY(&it)) {
        const uint8_t *tie;
        uint32_t tlen;
        bson_subtype_t sub;
        bson_iter_binary(&it, &sub, &tlen, &tie);
        if (tlen > PAGE_TIE_MAX)
            return ERR_BAD_REQUEST;
        memcpy(pos->tie, tie, tlen);
        pos->tie_len = tlen;
    } else {
        return ERR_BAD_REQUEST;
    }
    if (bson_iter_init_find(&it, &doc, "v")) {
        bson_value_copy(bson_iter_value(&it), &pos->value);
        pos->has_value = true;
    }
    return 0;
}

/* Bucket lists also take limit and offset in the body, as upstream. */
static void body_fallback(struct api_ctx *c, const char *name, uint64_t *v)
{
    bson_iter_t it;

    if (http_query(c->req, name) == NULL && api_field(&c->body, name, &it) &&
        (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)) &&
        bson_iter_as_int64(&it) >= 0)
        *v = (uint64_t)bson_iter_as_int64(&it);
}

int page_params_read(struct api_ctx *c, uint64_t default_limit,
                     struct page_params *p)
{
    const char *cursor = http_query(c->req, "cursor");
    struct err_path path = {0};

    memset(p, 0, sizeof(*p));
    api_query_uint(c, "limit", 1, 1000, default_limit, &p->limit);
    api_query_uint(c, "offset", 0, 10000, 0, &p->offset);
    body_fallback(c, "limit", &p->limit);
    body_fallback(c, "offset", &p->offset);
    if (p->limit < 1 || p->limit > 1000 || p->offset > 10000) {
        err_path_key(&path, "body");
        err_problem(&c->err, &path, "limit", "value_error",
                    "limit must be 1 to 1000 and offset 0 to 10000");
    }
    p->include_total = api_query_bool(c, "include_total");
    if (cursor != NULL && cursor[0] != '\0') {
        if (decode_cursor(cursor, &p->after) != 0) {
            path.len = 0;
            err_path_key(&path, "query");
            err_problem(&c->err, &path, "cursor", "value_error",
                        "cursor is not one this server handed out");
        }
        p->has_cursor = true;
    }
    return c->err.code;
}

void page_params_release(struct page_params *p)
{
    if (p->after.has_value)
        bson_value_destroy(&p->after.value);
    p->after.has_value = false;
}

void page_cursor_encode(const bson_value_t *value, const void *tie,
                        size_t tie_len, char *out, size_t cap)
{
    bson_t doc;

    bson_init(&doc);
    if (value != NULL)
        bson_append_value(&doc, "v", 1, value);
    bson_append_binary(&doc, "t", 1, BSON_SUBTYPE_BINARY, tie,
                       (uint32_t)tie_len);
    if (sodium_base64_encoded_len(doc.len,
                                  sodium_base64_VARIANT_URLSAFE_NO_PADDING) >
        cap)
        out[0] = '\0';
    else
        sodium_bin2base64(out, cap, bson_get_data(&doc), doc.len,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    bson_destroy(&doc);
}

int page_pos_compare(const struct page_pos *pos, const bson_value_t *value,
                     const void *tie, size_t tie_len)
{
    if (pos->has_value && value != NULL) {
        int c = value_compare(value, &pos->value);
        if (c != 0)
            return c;
    }
    size_t n = tie_len < pos->tie_len ? tie_len : pos->tie_len;
    int c = memcmp(tie, pos->tie, n);
    if (c != 0)
        return c;
    return (tie_len > pos->tie_len) - (tie_len < pos->tie_len);
}

void page_write(struct jw *w, const struct page_params *p, int64_t total,
                const char *next_cursor)
{
    jw_key(w, "pagination");
    jw_object_begin(w);
    jw_key(w, "total");
    if (total >= 0)
        jw_int(w, total);
    else
        jw_null(w);
    jw_key(w, "page");
    jw_int(w, (int64_t)(p->offset / p->limit + 1));
    jw_key(w, "page_size");
    jw_int(w, (int64_t)p->limit);
    jw_key(w, "total_pages");
    if (total >= 0)
        jw_int(w, (total + (int64_t)p->limit - 1) / (int64_t)p->limit);
    else
        jw_null(w);
    jw_key(w, "next_page");
    jw_null(w);
    jw_key(w, "previous_page");
    jw_null(w);
    jw_key(w, "next_cursor");
    if (next_cursor != NULL && next_cursor[0] != '\0')
        jw_string(w, next_cursor);
    else
        jw_null(w);
    jw_object_end(w);
}
