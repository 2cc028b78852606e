/*
 * test_jsontestsuite.c - the JSON reader against the JSONTestSuite parsing
 * cases (shared/reference/jsontestsuite/test_parsing): every y_ file must
 * parse, every n_ file must be rejected, and the i_ files (left to the
 * implementation by RFC 8259) must neither crash nor corrupt the output.
 *
 * Every case is parsed with a wrap_key, so that top-level scalars and
 * arrays are judged as JSON rather than rejected for not being objects.
 */
#include <dirent.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/utf8.h"
#include "json/json.h"
#include "test.h"

/* TUNING: the suite holds 95 y_, 188 n_ and 35 i_ files; these floors sit
 * a little under, so that a missing or emptied folder fails the test. */
#define MIN_Y_FILES 90
#define MIN_N_FILES 180
#define MIN_I_FILES 30

/* TUNING: deep enough for y_structure_nested_arrays-like cases but far
 * below the 100000-level n_ cases, which must stop at the limit. */
#define SUITE_MAX_DEPTH 200

/* Valid JSON that Tally rejects by design (json.h): BSON keys are C
 * strings, so a key cannot hold U+0000. Such a case must fail with this
 * message, nothing else. */
static const struct {
    const char *name;
    const char *msg;
} y_rejected_by_design[] = {
    {"y_object_escaped_null_in_key.json", "object key contains u+0000"},
};

struct suite_case {
    char name[256];
    struct buf text;
};

struct suite {
    struct suite_case *cases;
    size_t count;
};

static int by_case_name(const void *a, const void *b)
{
    const struct suite_case *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static bool read_whole_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;

    if (f == NULL)
        return false;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_add(out, chunk, n);
    bool ok = !ferror(f) && !out->oom;
    fclose(f);
    return ok;
}

/* Loads, sorted by name, the files whose names start with prefix
 * ("y_", "n_", "i_"). Returns false when the folder cannot be read. */
static bool suite_load(const char *prefix, struct suite *s)
{
    char dir_path[1024], path[1400];
    size_t cap = 0;

    s->cases = NULL;
    s->count = 0;
    if (test_shared_path("reference/jsontestsuite/test_parsing", dir_path,
                         sizeof dir_path) == NULL) {
        printf("    jsontestsuite not found at %s\n", dir_path);
        return false;
    }
    DIR *dir = opendir(dir_path);
    if (dir == NULL)
        return false;

    bool ok = true;
    struct dirent *entry;
    while (ok && (entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (strncmp(entry->d_name, prefix, strlen(prefix)) != 0 || len < 5 ||
            strcmp(entry->d_name + len - 5, ".json") != 0)
            continue;
        if (s->count == cap) {
            cap = cap ? cap * 2 : 64;
            struct suite_case *grown = realloc(s->cases, cap * sizeof *grown);
            if (grown == NULL) {
                ok = false;
                break;
            }
            s->cases = grown;
        }
        struct suite_case *c = &s->cases[s->count++];
        snprintf(c->name, sizeof c->name, "%s", entry->d_name);
        buf_init(&c->text);
        snprintf(path, sizeof path, "%s/%s", dir_path, entry->d_name);
        ok = read_whole_file(path, &c->text);
    }
    closedir(dir);
    if (s->count > 0)
        qsort(s->cases, s->count, sizeof *s->cases, by_case_name);
    return ok;
}

static void suite_release(struct suite *s)
{
    for (size_t i = 0; i < s->count; i++)
        buf_release(&s->cases[i].text);
    free(s->cases);
}

/* Parses one case into out, after a prefix that must survive either way;
 * returns json_parse's result. */
static int parse_case(const struct suite_case *c, struct buf *out,
                      struct json_error *je)
{
    const struct json_opts opts = {.max_depth = SUITE_MAX_DEPTH,
                                   .wrap_key = "v"};
    static const char prefix[] = "prefix";

    buf_reset(out);
    buf_add(out, prefix, sizeof prefix - 1);
    int rc = json_parse(c->text.data ? c->text.data : "", c->text.len, &opts,
                        out, je);
    if (out->len < sizeof prefix - 1 ||
        memcmp(out->data, prefix, sizeof prefix - 1) != 0) {
        printf("    %s: the bytes before the document changed\n", c->name);
        return -1;
    }
    return rc;
}

/* What an accepted case produced: one valid BSON document, right after the
 * prefix, whose JSON form reads back to the same bytes. */
static bool accepted_output_is_sound(const struct suite_case *c,
                                     const struct buf *out)
{
    const size_t at = 6;
    bson_t doc, again_doc;
    struct buf json = BUF_INIT, again = BUF_INIT;
    struct jw w;
    struct json_error je;
    bool ok = false;

    if (!bson_init_static(&doc, (const uint8_t *)out->data + at,
                          out->len - at) ||
        !bson_validate(&doc, BSON_VALIDATE_NONE, NULL)) {
        printf("    %s: output is not a valid bson document\n", c->name);
        return false;
    }
    jw_init(&w, &json);
    jw_bson_document(&w, &doc);
    if (!utf8_valid(json.data, json.len)) {
        printf("    %s: written json is not utf-8\n", c->name);
    } else if (json_parse(json.data, json.len, NULL, &again, &je) != 0) {
        printf("    %s: written json does not read back: %s\n", c->name,
               je.msg);
    } else if (!bson_init_static(&again_doc, (const uint8_t *)again.data,
                                 again.len) ||
               !bson_equal(&doc, &again_doc) || again.len != doc.len) {
        printf("    %s: round trip changed the document\n", c->name);
    } else {
        ok = true;
    }
    buf_release(&json);
    buf_release(&again);
    return ok;
}

/* The message a y_ case must be rejected with, or NULL when it must
 * parse. */
static const char *y_rejection(const char *name)
{
    size_t n = sizeof y_rejected_by_design / sizeof y_rejected_by_design[0];

    for (size_t i = 0; i < n; i++)
        if (strcmp(y_rejected_by_design[i].name, name) == 0)
            return y_rejected_by_design[i].msg;
    return NULL;
}

TEST(jsontestsuite_accepts_every_y_case)
{
    struct suite s;
    struct buf out = BUF_INIT;
    struct json_error je;
    int failures = 0;

    CHECK(suite_load("y_", &s));
    for (size_t i = 0; i < s.count; i++) {
        const char *by_design = y_rejection(s.cases[i].name);
        int rc = parse_case(&s.cases[i], &out, &je);
        if (by_design != NULL) {
            if (rc != ERR_BAD_REQUEST || strcmp(je.msg, by_design) != 0) {
                printf("    %s: not rejected with \"%s\"\n", s.cases[i].name,
                       by_design);
                failures++;
            }
        } else if (rc != 0) {
            printf("    %s: rejected: %s at byte %zu\n", s.cases[i].name,
                   je.msg, je.offset);
            failures++;
        } else if (!accepted_output_is_sound(&s.cases[i], &out)) {
            failures++;
        }
    }
    CHECK_INT(failures, 0);
    if (!CHECK(s.count >= MIN_Y_FILES))
        printf("    found %zu y_ files\n", s.count);
    suite_release(&s);
    buf_release(&out);
}

TEST(jsontestsuite_rejects_every_n_case)
{
    struct suite s;
    struct buf out = BUF_INIT;
    struct json_error je;
    int failures = 0;

    CHECK(suite_load("n_", &s));
    for (size_t i = 0; i < s.count; i++) {
        const struct suite_case *c = &s.cases[i];
        je = (struct json_error){0};
        int rc = parse_case(c, &out, &je);
        if (rc != ERR_BAD_REQUEST) {
            printf("    %s: %s\n", c->name,
                   rc == 0 ? "accepted" : "failed without a parse error");
            failures++;
        } else if (out.len != 6 || je.offset > c->text.len ||
                   je.msg[0] == '\0') {
            printf("    %s: rejected, but output length %zu, offset %zu of "
                   "%zu, message \"%s\"\n",
                   c->name, out.len, je.offset, c->text.len, je.msg);
            failures++;
        }
    }
    CHECK_INT(failures, 0);
    if (!CHECK(s.count >= MIN_N_FILES))
        printf("    found %zu n_ files\n", s.count);
    suite_release(&s);
    buf_release(&out);
}

/* Either answer is right; a crash, a sanitizer report, an error other
 * than a parse error, or an accepted case whose output is unsound is not. */
TEST(jsontestsuite_survives_every_i_case)
{
    struct suite s;
    struct buf out = BUF_INIT;
    struct json_error je;
    int failures = 0;

    CHECK(suite_load("i_", &s));
    for (size_t i = 0; i < s.count; i++) {
        const struct suite_case *c = &s.cases[i];
        int rc = parse_case(c, &out, &je);
        if (rc == 0) {
            if (!accepted_output_is_sound(c, &out))
                failures++;
        } else if (rc != ERR_BAD_REQUEST || out.len != 6) {
            printf("    %s: failed with %d, output length %zu\n", c->name, rc,
                   out.len);
            failures++;
        }
    }
    CHECK_INT(failures, 0);
    if (!CHECK(s.count >= MIN_I_FILES))
        printf("    found %zu i_ files\n", s.count);
    suite_release(&s);
    buf_release(&out);
}
