/*
 * stage_unwind.c - the unwind stage, and how a row reads a field.
 *
 * MongoDB's $unwind without options: an array gives one row per element;
 * a missing field, null or an empty array gives none; any other value
 * gives one row holding that value. The path is followed through objects
 * only (an array on the way means the field is missing), as MongoDB does.
 * Without `unwind`, each object is one row.
 */
#include <string.h>

#include "query/agg_internal.h"

int agg_row_resolve(const struct agg_row *row, const struct agg_path *p,
                    struct buf *scratch, bson_value_t *out, bool *built)
{
    size_t before = scratch->len;
    int rc;

    *built = false;
    if (p->from_element && row->has_element) {
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
