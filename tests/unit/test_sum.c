#include <math.h>

#include "query/sum.h"
#include "test.h"

TEST(exact_sum_does_not_depend_on_order)
{
    const double terms[] = {0.1, 1e15, 0.2, -1e15, 0.3, 7.0, -0.6};
    struct exact_sum forward = {0}, backward = {0};

    for (int i = 0; i < 7; i++) {
        exact_sum_add_double(&forward, terms[i]);
        exact_sum_add_double(&backward, terms[6 - i]);
    }
    CHECK(exact_sum_double(&forward) == exact_sum_double(&backward));
}

TEST(exact_sum_keeps_fixed_point_intact_when_it_would_overflow)
{
    /* 2^61 fits fixed point (2^125); the fourth term would pass 2^127 and
     * goes apart instead, leaving the fixed part as it was. */
    struct exact_sum s = {0};
    double two61 = ldexp(1.0, 61);

    for (int i = 0; i < 8; i++)
        exact_sum_add_double(&s, two61);
    CHECK(exact_sum_double(&s) == ldexp(1.0, 64));
    CHECK(s.has_loose);
}

TEST(exact_sum_merge_of_overflowing_parts)
{
    struct exact_sum a = {0}, b = {0};
    double two61 = ldexp(1.0, 61);

    for (int i = 0; i < 3; i++) {
        exact_sum_add_double(&a, two61);
        exact_sum_add_double(&b, two61);
    }
    exact_sum_merge(&a, &b);
    CHECK(exact_sum_double(&a) == 6 * two61);
}

TEST(exact_sum_of_integers_stays_an_integer_until_it_leaves_64_bits)
{
    struct exact_sum s = {0};
    bson_value_t v;

    exact_sum_add_int(&s, INT64_MAX);
    exact_sum_add_int(&s, -5);
    exact_sum_value(&s, &v);
    CHECK_INT(v.value_type, BSON_TYPE_INT64);
    CHECK_INT(v.value.v_int64, INT64_MAX - 5);
    exact_sum_add_int(&s, INT64_MAX);
    exact_sum_value(&s, &v);
    CHECK_INT(v.value_type, BSON_TYPE_DOUBLE);
    CHECK(v.value.v_double == ldexp(1.0, 64)); /* 2^64 - 7, rounded */
}
