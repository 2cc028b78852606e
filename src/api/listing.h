/*
 * listing.h - the lists of namespaces and of buckets: search, simple
 * filters, sort and pagination over catalog records.
 *
 * Catalogs are small (one record per namespace or bucket), so a list
 * reads them all from the snapshot, filters and sorts in memory, and
 * answers one page. Search matches the record's name as a substring
 * (case-insensitive unless case_sensitive); filters keep records whose
 * top-level members equal the given values; sort takes {field,
 * direction} (default created_at ascending), ties by id.
 */
#ifndef TALLY_API_LISTING_H
#define TALLY_API_LISTING_H

#include "api/internal.h"

struct list_row {
    const bson_t *record;
    const char *id;
    const char *name;
    void *item;              /* the kind's own view, for the writer */
};

typedef void (*list_write_fn)(struct jw *w, struct store_txn *t, void *item);

/* Answers the list request in c from rows (which it reorders). */
void list_answer(struct api_ctx *c, struct list_row *rows, size_t n,
                 list_write_fn write);

#endif
