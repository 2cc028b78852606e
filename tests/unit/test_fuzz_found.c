/*
 * test_fuzz_found.c - unit tests for the defects the fuzz targets found
 * (docs/reliability.md, "Fuzzing"), each over a real store in a scratch
 * folder. Under the sanitizer build (make asan) each failed before its
 * fix; the plain build checks the answers.
 */
#include <stdlib.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/ids.h"
#include "cli/cli.h"
#include "json/json.h"
#include "query/agg.h"
#include "store/catalog.h"
#include "store/importer.h"
#include "test.h"

struct scratch {
    char dir[64];
    struct store *store;
    char ns_id[IDS_MAX];
};

/* A store with namespace "ns" and an empty bucket "b". */
static bool scratch_open(struct scratch *s)
{
    struct err e;

    snprintf(s->dir, sizeof(s->dir), "/tmp/tally-unit-XXXXXX");
    if (mkdtemp(s->dir) == NULL || ids_init() != 0)
        return false;
    err_init(&e);
    bool ok = store_open(s->dir, NULL, &s->store, &e) == 0 &&
              cli_find_bucket(s->store, "ns", "b", true, s->ns_id, &e) == 0;
    err_release(&e);
    return ok;
}

static void scratch_close(struct scratch *s)
{
    static const char *const files[] = {"data.mdb", "lock.mdb", "tally.lock",
                                        "key-hash.secret"};
    char path[128];

    if (s->store != NULL)
        store_close(s->store);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", s->dir, files[i]);
        unlink(path);
    }
    rmdir(s->dir);
}

static int import_text(struct scratch *s, const char *text,
                       struct importer **out)
{
    struct importer_config cfg = {
        .max_object_bytes = 1 << 20, .max_rejects = 0, .json_max_depth = 64};
    struct err e;

    err_init(&e);
    int rc = importer_new(s->store, s->ns_id, "b", NULL, &cfg, out, &e);
    if (rc == 0)
        rc = importer_feed(*out, text, strlen(text), &e);
    if (rc == 0)
        rc = importer_finish(*out, &e);
    err_release(&e);
    return rc;
}

TEST(importer_without_rejects_lists_none)
{
    struct scratch s = {0};
    struct importer *im = NULL;
    size_t n = 99;

    CHECK(scratch_open(&s));
    CHECK_INT(import_text(&s, "{\"metadata\": {}}\n{\"a\": 1}\n", &im), 0);
    const struct importer_reject *r = importer_rejects(im, &n);
    CHECK_INT(n, 0);
    CHECK(r == NULL);
    CHECK_INT(importer_stats(im)->imported, 2);
    importer_free(im);
    scratch_close(&s);
}

static int count_ns(void *ctx, const struct catalog_ns *ns)
{
    (void)ns;
    ++*(int *)ctx;
    return 0;
}

TEST(catalog_walk_without_prefix_sees_every_namespace)
{
    struct scratch s = {0};
    struct store_txn t;
    struct err e;
    int n = 0;

    err_init(&e);
    CHECK(scratch_open(&s));
    CHECK_INT(store_read_begin(s.store, &t, &e), 0);
    CHECK_INT(catalog_ns_each(&t, count_ns, &n, &e), 0);
    store_read_end(&t);
    CHECK_INT(n, 1);
    err_release(&e);
    scratch_close(&s);
}

/* Runs the aggregation request (JSON) over bucket "b" into out. */
static int aggregate(struct scratch *s, const char *json, struct buf *out)
{
    static const struct query_limits lim = {100, 1 << 20, 1 << 20, 10000};
    struct buf body = BUF_INIT;
    struct json_error je;
    struct arena arena;
    struct store_txn t;
    struct catalog_bucket b;
    struct agg_request *req = NULL;
    struct agg_plan *plan = NULL;
    struct agg_result *res = NULL;
    struct err e;
    bson_t doc;

    arena_init(&arena);
    err_init(&e);
    int rc = json_parse(json, strlen(json), NULL, &body, &je);
    if (rc == 0 &&
        !bson_init_static(&doc, (const uint8_t *)body.data, body.len))
        rc = ERR_INTERNAL;
    if (rc == 0)
        rc = store_read_begin(s->store, &t, &e);
    if (rc != 0)
        return rc;
    rc = catalog_bucket_find(&t, s->ns_id, "b", 1, &b, &e);
    if (rc == 0)
        rc = agg_parse(&doc, &b.record, &arena, &req, &e);
    if (rc == 0)
        rc = agg_plan(req, &lim, &arena, &plan, &e);
    if (rc == 0)
        rc = agg_execute(plan, &t, b.num, &res, &e);
    if (rc == 0)
        rc = agg_encode(plan, res, 0, out, &e);
    store_read_end(&t);
    agg_result_free(res);
    agg_request_release(req);
    arena_release(&arena);
    buf_release(&body);
    err_release(&e);
    return rc;
}

TEST(aggregation_without_groups_sorts_nothing)
{
    struct scratch s = {0};
    struct importer *im = NULL;
    struct buf out = BUF_INIT;

    CHECK(scratch_open(&s));
    CHECK_INT(import_text(&s, "{\"metadata\": {\"tags\": [\"x\"]}}\n", &im), 0);
    importer_free(im);
    /* Unwinding a field no object has leaves no row, hence no group. */
    CHECK_INT(aggregate(&s,
                        "{\"group_by\": [{\"field\": \"metadata.tags\"}], "
                        "\"unwind\": \"metadata.missing\", \"aggregations\": "
                        "[{\"function\": \"count\", \"alias\": \"n\"}], "
                        "\"sort_by\": \"n\"}",
                        &out),
              0);
    CHECK(out.data != NULL && strstr(out.data, "\"results\":[]") != NULL);
    CHECK(out.data != NULL && strstr(out.data, "\"total_groups\":0") != NULL);
    buf_release(&out);
    scratch_close(&s);
}
