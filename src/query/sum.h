/*
 * sum.h - exact sums for sum and avg.
 *
 * Integers add exactly in 128 bits. Doubles add exactly too, as 128-bit
 * fixed-point numbers with 64 fractional bits: a double of magnitude up
 * to 2^62 whose last binary digit is worth at least 2^-64 (every decimal
 * value of ordinary data, such as 123.4 or 0.001) converts without loss.
 * An exact sum does not depend on the order of its terms, so the row path
 * and the column path, on one thread or two, give the same bits, and the
 * answer is the exact total rounded once.
 *
 * A value outside that range (1e-30, 1e80, NaN, infinities) is added to a
 * plain double kept apart, in the order met; only then can the result
 * depend on order, and it is still the exact part plus that double.
 */
#ifndef TALLY_QUERY_SUM_H
#define TALLY_QUERY_SUM_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

struct exact_sum {
    __int128 ints;           /* integer terms */
    __int128 fixed;          /* double terms, times 2^64 */
    double loose;            /* terms that do not fit fixed */
    bool has_double;         /* a double term was added */
    bool has_loose;
};

/* x * 2^64 as an exact 128-bit integer, when it is one (the terms that
 * go to fixed). */
bool exact_sum_to_fixed(double x, __int128 *out);

void exact_sum_add_int(struct exact_sum *s, int64_t v);
void exact_sum_add_double(struct exact_sum *s, double v);
void exact_sum_merge(struct exact_sum *into, const struct exact_sum *from);

/* The sum as the contract wants it: an integer while every term was an
 * integer and the total fits 64 bits, else a double. */
void exact_sum_value(const struct exact_sum *s, bson_value_t *out);
/* The sum as a double (for averages). */
double exact_sum_double(const struct exact_sum *s);

#endif
