/*
 * json.h - Tally's JSON reader (JSON text -> BSON) and writer (BSON and
 * values -> JSON text).
 *
 * Reader. Strict RFC 8259: one value, optional surrounding whitespace,
 * nothing after it; strings must be valid UTF-8 with no raw control
 * characters and no lone surrogate escapes; numbers follow the JSON
 * grammar. It appends BSON straight to a buffer, without building a tree:
 *   - object -> document, array -> array (keys "0", "1", ...)
 *   - integer literal (no fraction, no exponent) that fits in int64 ->
 *     int32 when it fits, else int64; any other number -> double,
 *     correctly rounded; a number too large for a double is an error
 *   - strings, true, false, null -> their BSON types
 *   - a key that occurs twice in one object: the last value wins (what a
 *     JavaScript or Python client would have meant)
 *   - a key containing U+0000 is an error (BSON keys are C strings)
 * Nesting deeper than opts->max_depth is an error. Every error reports
 * the byte offset where the text stopped making sense.
 *
 * Writer. Appends JSON to a struct buf. Dates become RFC 3339 UTC strings
 * with milliseconds (null outside the years 0000-9999); doubles use the
 * shortest form that reads back to the same double, with ".0" kept on
 * integral values so that clients see a float; NaN and infinities become
 * null. Output is always valid UTF-8: an invalid byte from a damaged
 * document is written as U+FFFD.
 */
#ifndef TALLY_JSON_JSON_H
#define TALLY_JSON_JSON_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define JSON_DEFAULT_MAX_DEPTH 64
/* TUNING: the reader recurses once per level (two small frames); 256
 * levels stay far below any thread stack, and a document this deep still
 * fits, inside a response envelope, under JSON_WRITER_MAX_DEPTH. */
#define JSON_MAX_DEPTH_LIMIT 256
#define JSON_WRITER_MAX_DEPTH 512

struct json_opts {
    int max_depth;          /* 0 means JSON_DEFAULT_MAX_DEPTH; larger than
                               JSON_MAX_DEPTH_LIMIT means that limit */
    const char *wrap_key;   /* NULL: the text must be an object; else any
                               value, appended as {wrap_key: value} */
};

struct json_error {
    size_t offset;          /* byte offset of the problem in the text */
    char msg[160];          /* lowercase, e.g. "expected ':' after key" */
};

/* Parses text[0..n) and appends one BSON document to out. Returns 0, or
 * ERR_BAD_REQUEST with *je filled, or ERR_NOMEM. On failure out is
 * truncated back to its length at entry. The document starts at the old
 * out->len, so a caller can parse many documents into one buffer. */
int json_parse(const char *text, size_t n, const struct json_opts *opts,
               struct buf *out, struct json_error *je);

/* Shortest text that strtod() reads back as d, written into out (at
 * least 32 bytes). With keep_point, an integral value gets ".0" ("3.0");
 * without, it does not ("3"). Not for NaN or infinities. Returns the
 * length. */
size_t json_format_double(double d, char *out, bool keep_point);

/* The streaming writer. Keys and values are written in order; the writer
 * adds commas and colons. Misuse (a value where a key is due, unbalanced
 * ends, nesting past JSON_WRITER_MAX_DEPTH) is a bug, reported by BUG(). */
struct jw {
    struct buf *out;
    int depth;
    bool key_due[JSON_WRITER_MAX_DEPTH + 1];  /* inside an object */
    bool first[JSON_WRITER_MAX_DEPTH + 1];    /* nothing written yet */
    bool after_key;
};

void jw_init(struct jw *w, struct buf *out);
void jw_object_begin(struct jw *w);
void jw_object_end(struct jw *w);
void jw_array_begin(struct jw *w);
void jw_array_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_keyn(struct jw *w, const char *key, size_t n);
void jw_string(struct jw *w, const char *s);
void jw_stringn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, int64_t v);
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
void jw_date(struct jw *w, int64_t ms);
/* A pre-encoded JSON value, copied as is. */
void jw_raw(struct jw *w, const char *json, size_t n);
/* Any BSON value at the iterator; documents and arrays recursively. */
void jw_bson_value(struct jw *w, const bson_iter_t *it);
/* A whole BSON document as a JSON object. */
void jw_bson_document(struct jw *w, const bson_t *doc);

/* Escaped, quoted JSON string of s[0..n) appended to out. */
void json_write_string(struct buf *out, const char *s, size_t n);

#endif
