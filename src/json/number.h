/*
 * number.h - private to src/json: reading JSON numbers and writing
 * integers. (Writing doubles is public: json_format_double in json.h.)
 */
#ifndef TALLY_JSON_NUMBER_H
#define TALLY_JSON_NUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* A number as the reader stores it: an exact integer when the literal has
 * no fraction and no exponent and fits in int64, else a double. */
struct json_number {
    bool is_int;
    int64_t i;
    double d;
};

/* Reads the JSON number that starts at p (p < end). On success sets *num,
 * sets *stop just past the number and returns 0. On a malformed or
 * out-of-range number returns ERR_BAD_REQUEST with *stop at the offending
 * byte and *msg a static lowercase message. Numbers that need strtod() are
 * copied, NUL-terminated, into the spare capacity of scratch (its length
 * and contents stay as they were); growing it may fail with ERR_NOMEM. */
int json_number_read(const char *p, const char *end, struct buf *scratch,
                     struct json_number *num, const char **stop,
                     const char **msg);

/* Writes v in decimal into out (at least 21 bytes), no NUL; returns the
 * length. */
size_t json_format_int64(int64_t v, char *out);

#endif
