/*
 * stage_match.c - the match stage: `filters` against whole objects, before
 * any unwinding (a filter on blobs.type keeps an object when any blob
 * matches, and then every blob of it is unwound).
 */
#include "query/agg_internal.h"

bool stage_match(const struct agg_request *req, const uint8_t *doc,
                 size_t len)
{
    return req->filter == NULL || filter_match(req->filter, doc, len);
}
