/*
 * filter.h - the filter compiler shared by objects/list and aggregate.
 *
 * Two dialects, chosen by the top-level keys (aggregation.md, filters):
 *  - condition lists: {"AND": [...], "OR": [...], "NOT": [...],
 *    "case_sensitive": bool}, elements {field, operator, value} or nested
 *    lists;
 *  - query documents (MongoDB): {"path": value, "path": {"$op": ...},
 *    "$and": [...], ...}.
 * Both compile to one tree of predicates evaluated on stored documents
 * (BSON), with MongoDB's path rule: a path through an array tries every
 * element, and a field holding an array matches when the array or any
 * element does.
 *
 * Compilation reports every problem at once (unknown operator, operand of
 * the wrong type, invalid or oversized regular expression) under the
 * given location. A compiled filter is immutable and may be evaluated by
 * several threads at once. Regular expressions run with PCRE2 match
 * limits; a match that hits them marks the filter failed (sticky), and
 * the request reports it instead of a wrong answer.
 */
#ifndef TALLY_QUERY_FILTER_H
#define TALLY_QUERY_FILTER_H

#include <bson/bson.h>
#include <stdbool.h>

#include "base/arena.h"
#include "base/err.h"
#include "json/json.h"

struct filter;

/* TUNING: a pattern of 4 KiB is far past any practical filter; a match
 * limit of one million steps stops catastrophic backtracking within
 * milliseconds. */
#define FILTER_REGEX_MAX_BYTES 4096
#define FILTER_REGEX_MATCH_LIMIT 1000000
#define FILTER_MAX_DEPTH 32

/* Compiles the filter at `filters` (a BSON document value). bucket is
 * the bucket record: its schema says which fields hold dates, for the
 * equivalent MongoDB query. Memory comes from arena (which must outlive
 * the filter) except PCRE2 code, freed by filter_release(). *out is NULL
 * for an empty filter (everything matches). */
int filter_compile(const bson_iter_t *filters, const bson_t *bucket,
                   struct arena *arena, struct filter **out,
                   struct err_path *path, struct err *e);
void filter_release(struct filter *f);

bool filter_match(const struct filter *f, const uint8_t *doc, size_t len);

/* True when a regular expression hit its match limit during a match. */
bool filter_failed(const struct filter *f);

/* Writes the equivalent MongoDB query document. */
void filter_write_mongo(const struct filter *f, struct jw *w);

/* True when path names a date field of the bucket (created_at,
 * updated_at, or a date/datetime field of its schema). */
bool filter_path_is_date(const bson_t *bucket, const char *path);

#endif
