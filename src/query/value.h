/*
 * value.h - values as the contract sees them: order, equality, field
 * paths.
 *
 * Values are BSON values (bson_value_t views: no allocation, pointers
 * into the document). The order across types is MongoDB's:
 *   null < numbers < strings < objects < arrays < booleans < dates
 * (anything else a JSON client cannot send sorts after dates, by type).
 * Numbers compare by value whatever their width (1 == 1.0); NaN sorts
 * below every other number. Strings compare by bytes. Objects compare
 * member by member (type of the value, then key, then value, as MongoDB
 * does), arrays element by element; a prefix sorts first.
 *
 * "Missing" is not a value: a path that does not resolve yields none, and
 * each caller decides what missing means (null in a group key, skipped by
 * sum, not matched by $eq, ...).
 */
#ifndef TALLY_QUERY_VALUE_H
#define TALLY_QUERY_VALUE_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "json/json.h"

enum value_rank {
    VALUE_RANK_NULL = 1,
    VALUE_RANK_NUMBER,
    VALUE_RANK_STRING,
    VALUE_RANK_OBJECT,
    VALUE_RANK_ARRAY,
    VALUE_RANK_BOOL,
    VALUE_RANK_DATE,
    VALUE_RANK_OTHER
};

enum value_rank value_rank(bson_type_t t);
bool value_is_number(bson_type_t t);

/* Negative, zero or positive, in the contract's total order. */
int value_compare(const bson_value_t *a, const bson_value_t *b);
bool value_equal(const bson_value_t *a, const bson_value_t *b);

/* Number as a double (0 for non-numbers). */
double value_as_double(const bson_value_t *v);

/* A hash consistent with value_equal (equal values hash alike: 1 and 1.0
 * too). */
uint64_t value_hash(const bson_value_t *v);

/* Resolves a dotted path in a document with MongoDB's expression rule:
 * through an object, take the member; through an array, map over its
 * elements (objects continue the walk; other elements, nested arrays
 * too, drop out, as do objects without the member), which yields an
 * array.
 *   0  and *out set: a value (a view, or an array built in scratch)
 *   ERR_NOT_FOUND:   the path is missing
 * Arrays built here are appended to scratch and point into it: the caller
 * resets scratch when the value is no longer needed. A pointer into
 * scratch is only valid until the next append (the buffer may move), so
 * values from two resolutions must not be held at once unless scratch is
 * reserved large enough first. */
int value_resolve(const uint8_t *doc, size_t len, const char *path,
                  struct buf *scratch, bson_value_t *out);

/* Like value_resolve but on an iterator over a document value. */
int value_resolve_iter(const bson_iter_t *root, const char *path,
                       struct buf *scratch, bson_value_t *out);

/* Writes v as JSON. */
void value_write_json(struct jw *w, const bson_value_t *v);

/* Copies the bytes v points to (strings, documents, arrays) into a, so
 * that out outlives v's source. 0 or ERR_NOMEM. */
int value_copy_to_arena(struct arena *a, const bson_value_t *v,
                        bson_value_t *out);

/* Bytes v holds, for memory accounting. */
size_t value_size(const bson_value_t *v);

/* Appends v to doc under key (copying it). */
bool value_append(bson_t *doc, const char *key, size_t klen,
                  const bson_value_t *v);

#endif
