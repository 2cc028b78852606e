/*
 * stage_unwind.c - the unwind stage, and how a row reads a field.
 *
 * MongoDB's $unwind without options: an array gives one row per element;
 * a missing field, null or an empty array gives none; any other value
 * gives one row holding that value. The path is followed through objects
 * only (an array on the way means the field is missing), as MongoDB does.
 * Without `unwind`, each object is one row. A row reads a path above the
 * unwound one from a copy of the object with the element in place of the
 * array, as MongoDB's $unwind leaves it.
 */
#include <string.h>

#include "query/agg_internal.h"

/* Copies the document doc into out with the member at path `down`
 * (objects all the way, as the unwind stage followed them) replaced by
 * the element. */
static void copy_with_element(const bson_value_t *doc, const char *down,
                              const bson_iter_t *element, bson_t *out)
{
    bson_iter_t it;
    const char *dot = strchr(down, '.');
    size_t klen = dot ? (size_t)(dot - down) : strlen(down);

    if (!bson_iter_init_from_data(&it, doc->value.v_doc.data,
                                  doc->value.v_doc.data_len))
        return;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strlen(key) != klen || memcmp(key, down, klen) != 0) {
            bson_append_iter(out, key, -1, &it);
        } else if (dot == NULL) {
            bson_append_value(out, key, -1,
                              bson_iter_value((bson_iter_t *)element));
        } else {
            bson_t child;
            bson_append_document_begin(out, key, -1, &child);
            copy_with_element(bson_iter_value(&it), dot + 1, element, &child);
            bson_append_document_end(out, &child);
        }
    }
}

/* A path above the unwound one: its document with the element in place
 * of the array, built in scratch. */
static int resolve_above(const struct agg_row *row, const struct agg_path *p,
                         struct buf *scratch, bson_value_t *out)
{
    bson_value_t v;
    bson_t copy;
    int rc = value_resolve(row->doc, row->len, p->path, scratch, &v);

    if (rc != 0 || v.value_type != BSON_TYPE_DOCUMENT) {
        if (rc == 0)
            *out = v;
        return rc;
    }
    bson_init(&copy);
    copy_with_element(&v, p->down, &row->element, &copy);
    size_t at = (scratch->len + 7) & ~(size_t)7;
    if (buf_reserve(scratch, at - scratch->len + copy.len) != 0) {
        bson_destroy(&copy);
        return ERR_NOMEM;
    }
    scratch->len = at;
    buf_add(scratch, bson_get_data(&copy), copy.len);
    out->value_type = BSON_TYPE_DOCUMENT;
    out->value.v_doc.data = (uint8_t *)scratch->data + at;
    out->value.v_doc.data_len = copy.len;
    bson_destroy(&copy);
    return 0;
}

int agg_row_resolve(const struct agg_row *row, const struct agg_path *p,
                    struct buf *scratch, bson_value_t *out, bool *built)
{
    size_t before = scratch->len;
    int rc;

    *built = false;
    if (p->above_element && row->has_element) {
        rc = resolve_above(row, p, scratch, out);
    } else if (p->from_element && row->has_element) {
        if (p->rest[0] == '\0') {
            *out = *bson_iter_value((bson_iter_t *)&row->element);
            return 0;
        }
        rc = value_resolve_iter(&row->element, p->rest, scratch, out);
    } else {
        rc = value_resolve(row->doc, row->len, p->path, scratch, out);
    }
    *built = rc == 0 && scratch->len != before;
    return rc;
}

/* The value at path, following objects only. */
static bool find_value(const uint8_t *doc, size_t len, const char *path,
                       bson_iter_t *out)
{
    bson_iter_t it;
    const char *dot = strchr(path, '.');

    if (!bson_iter_init_from_data(&it, doc, len))
        return false;
    if (dot == NULL)
        return bson_iter_find(&it, path) && (*out = it, true);
    while (dot != NULL) {
        bson_iter_t child;
        if (!bson_iter_find_w_len(&it, path, (int)(dot - path)) ||
            !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &child))
            return false;
        it = child;
        path = dot + 1;
        dot = strchr(path, '.');
    }
    return bson_iter_find(&it, path) && (*out = it, true);
}

int stage_unwind(const struct agg_request *req, const uint8_t *doc,
                 size_t len, struct buf *scratch, agg_emit_fn emit,
                 void *ctx)
{
    struct agg_row row = {.doc = doc, .len = len};
    bson_iter_t at;

    (void)scratch;
    if (req->unwind == NULL)
        return emit(ctx, &row);
    if (!find_value(doc, len, req->unwind, &at) || BSON_ITER_HOLDS_NULL(&at))
        return 0;

    row.has_element = true;
    if (!BSON_ITER_HOLDS_ARRAY(&at)) {
        row.element = at;
        return emit(ctx, &row);
    }
    bson_iter_recurse(&at, &row.element);
    while (bson_iter_next(&row.element)) {
        int rc = emit(ctx, &row);
        if (rc != 0)
            return rc;
    }
    return 0;
}
