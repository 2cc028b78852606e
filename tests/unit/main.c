#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ids.h"
#include "test.h"

#define TESTS_MAX 4096

struct test_entry {
    const char *name;
    const char *file;
    test_fn fn;
};

static struct test_entry tests[TESTS_MAX];
static int test_count;

void test_register(const char *name, const char *file, test_fn fn)
{
    if (test_count < TESTS_MAX)
        tests[test_count++] = (struct test_entry){name, file, fn};
}

bool test_check(struct test_ctx *t, bool ok, const char *expr,
                const char *file, int line)
{
    if (!ok) {
        t->failures++;
        printf("    %s:%d: CHECK(%s) failed\n", file, line, expr);
    }
    return ok;
}

bool test_check_int(struct test_ctx *t, long long got, long long want,
                    const char *expr, const char *file, int line)
{
    if (got != want) {
        t->failures++;
        printf("    %s:%d: %s is %lld, want %lld\n", file, line, expr, got,
               want);
    }
    return got == want;
}

bool test_check_str(struct test_ctx *t, const char *got, const char *want,
                    const char *expr, const char *file, int line)
{
    bool ok = got != NULL && want != NULL ? strcmp(got, want) == 0
                                          : got == want;
    if (!ok) {
        t->failures++;
        printf("    %s:%d: %s is \"%s\", want \"%s\"\n", file, line, expr,
               got ? got : "(null)", want ? want : "(null)");
    }
    return ok;
}

const char *test_shared_path(const char *rel, char *out, size_t cap)
{
    const char *root = getenv("TALLY_SHARED");

    snprintf(out, cap, "%s/%s", root ? root : "../shared", rel);
    return access(out, R_OK) == 0 ? out : NULL;
}

static int by_name(const void *a, const void *b)
{
    const struct test_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c != 0 ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;

    if (ids_init() != 0) {
        fprintf(stderr, "cannot initialise the random source\n");
        return 2;
    }
    qsort(tests, (size_t)test_count, sizeof(tests[0]), by_name);
    for (int i = 0; i < test_count; i++) {
        if (filter != NULL && strstr(tests[i].name, filter) == NULL)
            continue;
        struct test_ctx t = {.name = tests[i].name};
        tests[i].fn(&t);
        printf("%s %s\n", t.failures ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        if (t.failures)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
