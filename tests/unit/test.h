/*
 * test.h - the unit test harness.
 *
 *   TEST(json_rejects_trailing_comma) {
 *       CHECK(parse("[1,]") != 0);
 *       CHECK_INT(count, 3);
 *       CHECK_STR(buf.data, "[1,2]");
 *   }
 *
 * Tests register themselves; tests/unit/main.c runs them all (or those
 * whose name contains argv[1]) and ends with "N passed, M failed". A
 * failed CHECK records the failure and the test goes on, so one run shows
 * every broken expectation. Under the sanitizer build, leaks fail the run.
 */
#ifndef TALLY_TEST_H
#define TALLY_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_ctx {
    const char *name;
    int failures;
};

typedef void (*test_fn)(struct test_ctx *t);

void test_register(const char *name, const char *file, test_fn fn);
bool test_check(struct test_ctx *t, bool ok, const char *expr,
                const char *file, int line);
bool test_check_int(struct test_ctx *t, long long got, long long want,
                    const char *expr, const char *file, int line);
bool test_check_str(struct test_ctx *t, const char *got, const char *want,
                    const char *expr, const char *file, int line);
/* Path of a file under the shared folder (../shared relative to the
 * repository), or NULL when TALLY_SHARED and ../shared are missing. */
const char *test_shared_path(const char *rel, char *out, size_t cap);

#define TEST(name)                                                             \
    static void name(struct test_ctx *tctx);                                      \
    __attribute__((constructor)) static void name##_register(void)             \
    {                                                                          \
        test_register(#name, __FILE__, name);                                  \
    }                                                                          \
    static void name(__attribute__((unused)) struct test_ctx *tctx)

#define CHECK(cond) test_check(tctx, (cond), #cond, __FILE__, __LINE__)
#define CHECK_INT(got, want)                                                   \
    test_check_int(tctx, (long long)(got), (long long)(want), #got, __FILE__,     \
                   __LINE__)
#define CHECK_STR(got, want)                                                   \
    test_check_str(tctx, (got), (want), #got, __FILE__, __LINE__)

#endif
