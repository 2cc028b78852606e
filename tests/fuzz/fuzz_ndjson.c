/*
 * fuzz_ndjson.c - NDJSON import framing: the importer fed in pieces of
 * random sizes, into a real store.
 *
 * The piece sizes come from a generator seeded by a hash of the input, so
 * one input always splits the same way and a mutation of the bytes also
 * changes where lines are cut. Limits are small (line length, rejects,
 * depth) so that every stopping rule is reachable. Properties checked:
 *   - after a finished import, lines == imported + rejected, and the
 *     reject list holds `rejected` entries in line order, each with a
 *     line number and a reason;
 *   - after a stopped import, imported + rejected <= lines;
 *   - bytes counts every byte fed;
 *   - the bucket's object count grew by exactly `imported`.
 * The bucket is deleted, purged and made again every RESET_EVERY inputs
 * so that the store does not grow without bound. (A new bucket per input
 * would make every input reproduce alone, but costs three more commits
 * per input, which under ASan cut the rate by four.)
 */
#include <string.h>

#include "fuzz_common.h"
#include "store/catalog.h"
#include "store/importer.h"

static const struct importer_config config = {
    .max_object_bytes = 2048, .max_rejects = 20, .json_max_depth = 16};

/* TUNING: a few hundred inputs make a bucket of at most a few thousand
 * objects, and the reset costs under 1% of the run. */
#define RESET_EVERY 500

static struct store *store;
static char ns_id[IDS_MAX];
static unsigned runs;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;

    fuzz_quiet();
    store = fuzz_store_open();
    fuzz_bucket_create(store, FUZZ_NAMESPACE, FUZZ_BUCKET, fuzz_sample_schema,
                       ns_id);
    return 0;
}

static uint64_t object_count(void)
{
    struct store_txn t;
    struct catalog_bucket b;
    struct catalog_bucket_stats st;
    struct err e;

    err_init(&e);
    FUZZ_ASSERT(store_read_begin(store, &t, &e) == 0, "read: %s", e.msg);
    FUZZ_ASSERT(fuzz_bucket_find(&t, ns_id, FUZZ_BUCKET, &b) == 0,
                "bucket gone");
    FUZZ_ASSERT(catalog_stats_get(&t, b.num, &st, &e) == 0, "stats: %s", e.msg);
    store_read_end(&t);
    err_release(&e);
    return st.object_count;
}

static uint64_t seed_of(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ULL;
    return h | 1;
}

/* A piece of 0..256 bytes, small sizes more often than large. */
static size_t next_piece(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    *state = x;
    return (size_t)((x >> 8) % ((1u << (x % 9)) + 1));
}

static void check_rejects(struct importer *im, const struct importer_stats *st)
{
    size_t n;
    const struct importer_reject *r = importer_rejects(im, &n);

    FUZZ_ASSERT(n == st->rejected, "%zu rejects listed, %llu counted", n,
                (unsigned long long)st->rejected);
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(r[i].line >= 1 && r[i].error && r[i].error[0] &&
                        r[i].type && r[i].type[0],
                    "reject %zu incomplete", i);
        FUZZ_ASSERT(i == 0 || r[i - 1].line < r[i].line,
                    "rejects out of line order at %zu (line %llu twice?)", i,
                    (unsigned long long)r[i].line);
    }
}

static void import(const uint8_t *data, size_t size)
{
    struct importer *im = NULL;
    struct err e;
    uint64_t state = seed_of(data, size);
    uint64_t before = object_count();
    size_t at = 0;

    err_init(&e);
    int rc = importer_new(store, ns_id, FUZZ_BUCKET, NULL, &config, &im, &e);
    FUZZ_ASSERT(rc == 0, "importer_new: %s", e.msg);
    while (rc == 0 && at < size) {
        size_t n = next_piece(&state);
        n = n > size - at ? size - at : n;
        rc = importer_feed(im, (const char *)data + at, n, &e);
        at += n;
    }
    bool finished = rc == 0;
    if (finished)
        rc = importer_finish(im, &e);
    FUZZ_ASSERT(rc == 0 || rc == ERR_LIMIT, "import failed: %d %s", rc, e.msg);

    const struct importer_stats *st = importer_stats(im);
    FUZZ_ASSERT(st->bytes == at, "bytes %llu, fed %zu",
                (unsigned long long)st->bytes, at);
    if (rc == 0)
        FUZZ_ASSERT(st->lines == st->imported + st->rejected,
                    "lines %llu != imported %llu + rejected %llu",
                    (unsigned long long)st->lines,
                    (unsigned long long)st->imported,
                    (unsigned long long)st->rejected);
    else
        FUZZ_ASSERT(st->imported + st->rejected <= st->lines,
                    "more outcomes than lines");
    check_rejects(im, st);
    FUZZ_ASSERT(object_count() == before + st->imported,
                "bucket grew by %llu, imported %llu",
                (unsigned long long)(object_count() - before),
                (unsigned long long)st->imported);
    importer_free(im);
    err_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (++runs % RESET_EVERY == 0) {
        fuzz_bucket_delete(store, ns_id, FUZZ_BUCKET);
        fuzz_bucket_create(store, FUZZ_NAMESPACE, FUZZ_BUCKET,
                           fuzz_sample_schema, ns_id);
    }
    import(data, size);
    return 0;
}
