/*
 * fuzz_filter.c - the filter compiler and evaluator, both dialects.
 *
 * The input is the JSON of a `filters` value (any value: what is not an
 * object must be refused, not crash). A filter that compiles is matched
 * against the sample documents (read back from a real store, so they hold
 * dates, ids and blobs as stored) and written as a MongoDB query, which
 * must be valid JSON. A compile failure must come with problems or an
 * error code, never silently.
 */
#include <string.h>

#include "fuzz_common.h"
#include "json/json.h"
#include "query/filter.h"

static bson_t *bucket;
static struct fuzz_docs docs;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char ns_id[IDS_MAX];
    (void)argc, (void)argv;

    fuzz_quiet();
    struct store *s = fuzz_store_open();
    fuzz_bucket_create(s, FUZZ_NAMESPACE, FUZZ_BUCKET, fuzz_sample_schema,
                       ns_id);
    fuzz_import_all(s, ns_id, FUZZ_BUCKET, fuzz_sample_ndjson());
    bucket = fuzz_bucket_record(s, ns_id, FUZZ_BUCKET);
    fuzz_bucket_docs(s, ns_id, FUZZ_BUCKET, &docs);
    FUZZ_ASSERT(docs.n >= 40, "only %zu sample documents", docs.n);
    /* The store stays open: closing it would only cost time. */
    return 0;
}

static void check_mongo_text(const struct filter *f)
{
    struct buf text = BUF_INIT, bson = BUF_INIT;
    struct jw w;
    struct json_opts opts = {.max_depth = 600, .wrap_key = "q"};
    struct json_error je;

    jw_init(&w, &text);
    filter_write_mongo(f, &w);
    FUZZ_ASSERT(!text.oom, "out of memory");
    int rc = json_parse(text.data, text.len, &opts, &bson, &je);
    FUZZ_ASSERT(rc == 0, "MongoDB query is not JSON (%s at %zu): %.*s", je.msg,
                je.offset, (int)text.len, text.data);
    buf_release(&text);
    buf_release(&bson);
}

static void run_filter(const bson_t *body)
{
    struct arena arena;
    struct filter *f = NULL;
    struct err e;
    struct err_path path = {0};
    bson_iter_t it;

    arena_init(&arena);
    err_init(&e);
    err_path_key(&path, "body");
    err_path_key(&path, "filters");
    FUZZ_ASSERT(bson_iter_init_find(&it, body, "filters"), "no filters key");

    int rc = filter_compile(&it, bucket, &arena, &f, &path, &e);
    if (rc != 0) {
        FUZZ_ASSERT(f == NULL, "failed compile returned a filter");
        FUZZ_ASSERT(e.problem_count > 0 || e.code != ERR_OK,
                    "compile failed (%d) without a reason", rc);
    } else {
        for (size_t i = 0; i < docs.n; i++)
            filter_match(f, docs.data[i], docs.len[i]);
        (void)filter_failed(f);
        check_mongo_text(f);
    }
    filter_release(f);
    err_release(&e);
    arena_release(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out = BUF_INIT;
    struct json_opts opts = {.wrap_key = "filters"};
    struct json_error je;
    bson_t body;

    if (json_parse((const char *)data, size, &opts, &out, &je) == 0) {
        FUZZ_ASSERT(bson_init_static(&body, (const uint8_t *)out.data, out.len),
                    "parsed BSON does not read back");
        run_filter(&body);
    }
    buf_release(&out);
    return 0;
}
