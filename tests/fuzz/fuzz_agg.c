/*
 * fuzz_agg.c - the aggregation request path, as the API runs it:
 * json_parse -> agg_parse -> agg_plan -> agg_execute -> agg_encode, over
 * a real store holding a bucket of ~50 varied objects.
 *
 * The input is the request body. Limits are small so that an input that
 * asks for much work stops at a limit quickly; reaching one is a normal
 * answer. Properties checked beyond "no crash": a failure carries a code
 * or problems; a success encodes to valid JSON within max_response_bytes.
 */
#include <string.h>

#include "base/arena.h"
#include "fuzz_common.h"
#include "json/json.h"
#include "query/agg.h"

/* TUNING: a few groups more than the samples can make with one key, a
 * little memory, and a short time: every input finishes in milliseconds
 * and every limit is reachable. */
static const struct query_limits limits = {
    .max_groups = 40,
    .max_memory_bytes = 64 << 10,
    .max_response_bytes = 256 << 10,
    .max_time_ms = 2000,
};

static struct store *store;
static char ns_id[IDS_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;

    fuzz_quiet();
    store = fuzz_store_open();
    fuzz_bucket_create(store, FUZZ_NAMESPACE, FUZZ_BUCKET, fuzz_sample_schema,
                       ns_id);
    fuzz_import_all(store, ns_id, FUZZ_BUCKET, fuzz_sample_ndjson());
    return 0;
}

static void check_response(const struct buf *out)
{
    struct buf bson = BUF_INIT;
    struct json_opts opts = {.max_depth = 600};
    struct json_error je;

    FUZZ_ASSERT(out->len <= limits.max_response_bytes,
                "response of %zu bytes passed the limit", out->len);
    int rc = json_parse(out->data, out->len, &opts, &bson, &je);
    FUZZ_ASSERT(rc == 0, "response is not JSON (%s at %zu): %.*s", je.msg,
                je.offset, (int)out->len, out->data);
    buf_release(&bson);
}

static int run_request(const bson_t *body, struct store_txn *t,
                       const struct catalog_bucket *b, struct buf *out,
                       struct err *e)
{
    struct arena arena;
    struct agg_request *req = NULL;
    struct agg_plan *plan = NULL;
    struct agg_result *res = NULL;

    arena_init(&arena);
    int rc = agg_parse(body, &b->record, &arena, &req, e);
    if (rc == 0)
        rc = agg_plan(req, &limits, &arena, &plan, e);
    if (rc == 0)
        rc = agg_execute(plan, t, b->num, &res, e);
    if (rc == 0)
        rc = agg_encode(plan, res, 1.5, out, e);
    agg_result_free(res);
    agg_request_release(req);
    arena_release(&arena);
    return rc;
}

static void aggregate(const bson_t *body)
{
    struct store_txn t;
    struct catalog_bucket b;
    struct buf out = BUF_INIT;
    struct err e;

    err_init(&e);
    FUZZ_ASSERT(store_read_begin(store, &t, &e) == 0, "read: %s", e.msg);
    FUZZ_ASSERT(fuzz_bucket_find(&t, ns_id, FUZZ_BUCKET, &b) == 0,
                "sample bucket gone");
    int rc = run_request(body, &t, &b, &out, &e);
    if (rc != 0)
        FUZZ_ASSERT(e.code != ERR_OK || e.problem_count > 0,
                    "failed (%d) without a reason", rc);
    else
        check_response(&out);
    store_read_end(&t);
    buf_release(&out);
    err_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out = BUF_INIT;
    struct json_opts opts = {0};
    struct json_error je;
    bson_t body;

    if (json_parse((const char *)data, size, &opts, &out, &je) == 0) {
        FUZZ_ASSERT(bson_init_static(&body, (const uint8_t *)out.data, out.len),
                    "parsed BSON does not read back");
        aggregate(&body);
    }
    buf_release(&out);
    return 0;
}
