#include "agg_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/clock.h"
#include "json/json.h"
#include "query/agg.h"
#include "store/catalog.h"
#include "store/importer.h"

struct setup {
    struct agg_fixture *fx;
    const bson_t *schema;
};

static int create_bucket(struct store_txn *t, void *arg, struct err *e)
{
    struct setup *s = arg;
    bson_t ns, b, child;
    char bid[IDS_MAX];
    int64_t now = clock_now_ms();

    ids_generate("ns_", s->fx->ns_id);
    bson_init(&ns);
    BSON_APPEND_UTF8(&ns, "namespace_id", s->fx->ns_id);
    BSON_APPEND_UTF8(&ns, "namespace_name", "n");
    BSON_APPEND_DATE_TIME(&ns, "created_at", now);
    BSON_APPEND_DATE_TIME(&ns, "updated_at", now);
    int rc = catalog_ns_insert(t, &ns, e);
    bson_destroy(&ns);
    if (rc != 0)
        return rc;

    ids_generate("bkt_", bid);
    bson_init(&b);
    BSON_APPEND_UTF8(&b, "bucket_id", bid);
    BSON_APPEND_UTF8(&b, "bucket_name", "b");
    BSON_APPEND_DOCUMENT_BEGIN(&b, "bucket_schema", &child);
    BSON_APPEND_DOCUMENT(&child, "properties", s->schema);
    bson_append_document_end(&b, &child);
    BSON_APPEND_NULL(&b, "unique_key");
    BSON_APPEND_DOCUMENT_BEGIN(&b, "metadata", &child);
    bson_append_document_end(&b, &child);
    BSON_APPEND_UTF8(&b, "status", "ACTIVE");
    BSON_APPEND_BOOL(&b, "is_locked", false);
    BSON_APPEND_DATE_TIME(&b, "created_at", now);
    BSON_APPEND_DATE_TIME(&b, "updated_at", now);
    rc = catalog_bucket_insert(t, s->fx->ns_id, &b, NULL, e);
    bson_destroy(&b);
    return rc;
}

/* JSON text into a BSON document in out (which the caller releases). */
static bool parse(const char *json, struct buf *out, bson_t *doc)
{
    struct json_error je;

    if (json_parse(json, strlen(json), NULL, out, &je) != 0) {
        printf("    fixture: bad JSON (%s at %zu): %s\n", je.msg, je.offset,
               json);
        return false;
    }
    return bson_init_static(doc, (const uint8_t *)out->data, out->len);
}

bool agg_fixture_open(struct agg_fixture *fx, const char *schema_properties)
{
    struct store_config cfg = {.max_size_bytes = (uint64_t)1 << 30,
                               .max_readers = 16};
    struct buf text = BUF_INIT;
    bson_t schema;
    struct err e;

    memset(fx, 0, sizeof(*fx));
    fx->limits = (struct query_limits){QUERY_DEFAULT_MAX_GROUPS,
                                       QUERY_DEFAULT_MAX_MEMORY,
                                       QUERY_DEFAULT_MAX_RESPONSE, 0};
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/tally-unit-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return false;
    err_init(&e);
    if (store_open(fx->dir, &cfg, &fx->store, &e) == 0 &&
        parse(schema_properties, &text, &schema)) {
        struct setup s = {fx, &schema};
        fx->ok = store_write(fx->store, create_bucket, &s, &e) == 0;
    }
    if (!fx->ok)
        printf("    fixture: %s\n", e.msg);
    buf_release(&text);
    err_release(&e);
    return fx->ok;
}

bool agg_fixture_import(struct agg_fixture *fx, const char *ndjson)
{
    struct importer_config cfg = {.max_object_bytes = 1 << 20,
                                  .max_rejects = 0,
                                  .json_max_depth = 64};
    struct importer *im = NULL;
    struct err e;

    if (!fx->ok)
        return false;
    err_init(&e);
    int rc = importer_new(fx->store, fx->ns_id, "b", NULL, &cfg, &im, &e);
    if (rc == 0)
        rc = importer_feed(im, ndjson, strlen(ndjson), &e);
    if (rc == 0)
        rc = importer_finish(im, &e);
    if (rc == 0 && importer_stats(im)->rejected > 0) {
        size_t n;
        const struct importer_reject *r = importer_rejects(im, &n);
        printf("    fixture: line %llu rejected: %s\n",
               (unsigned long long)r[0].line, r[0].error);
        rc = ERR_VALIDATION;
    } else if (rc != 0) {
        printf("    fixture: import failed: %s\n", e.msg);
    }
    importer_free(im);
    err_release(&e);
    fx->ok = rc == 0;
    return fx->ok;
}

static int run(struct agg_fixture *fx, const bson_t *body, struct buf *out,
               struct err *e)
{
    struct store_txn t;
    struct catalog_bucket b;
    struct arena arena;
    struct agg_request *req = NULL;
    struct agg_plan *plan = NULL;
    struct agg_result *res = NULL;

    int rc = store_read_begin(fx->store, &t, e);
    if (rc != 0)
        return rc;
    arena_init(&arena);
    rc = catalog_bucket_find(&t, fx->ns_id, "b", 1, &b, e);
    if (rc == 0)
        rc = agg_parse(body, &b.record, &arena, &req, e);
    if (rc == 0)
        rc = agg_plan(req, &fx->limits, &arena, &plan, e);
    if (rc == 0)
        rc = agg_execute(plan, &t, b.num, &res, e);
    if (rc == 0)
        rc = agg_encode(plan, res, 0.0, out, e);
    agg_result_free(res);
    agg_request_release(req);
    fx->arena_used = arena.used;
    arena_release(&arena);
    store_read_end(&t);
    return rc;
}

char *agg_fixture_run(struct agg_fixture *fx, const char *request,
                      struct err *e)
{
    struct buf text = BUF_INIT, out = BUF_INIT;
    bson_t body;
    char *answer = NULL;

    if (!fx->ok) {
        err_set(e, ERR_INTERNAL, "fixture not ready");
        return NULL;
    }
    if (!parse(request, &text, &body)) {
        err_set(e, ERR_BAD_REQUEST, "request is not JSON");
    } else if (run(fx, &body, &out, e) == 0) {
        size_t n;
        answer = buf_detach(&out, &n);
    }
    buf_release(&text);
    buf_release(&out);
    return answer;
}

char *agg_fixture_results(const char *answer)
{
    const char *start = answer ? strstr(answer, "\"results\":") : NULL;
    const char *end = start ? strstr(start, ",\"total_groups\"") : NULL;

    if (start == NULL || end == NULL)
        return strdup("");
    start += strlen("\"results\":");
    return strndup(start, (size_t)(end - start));
}

bool agg_fixture_has_problem(const struct err *e, const char *loc)
{
    for (size_t i = 0; i < e->problem_count; i++) {
        char text[512] = "";
        size_t n = 0;
        for (int j = 0; j < e->problems[i].loc_len && n < 400; j++) {
            const struct err_loc_part *p = &e->problems[i].loc[j];
            n += (size_t)(p->is_index
                              ? snprintf(text + n, sizeof(text) - n, "%s%ld",
                                         j ? "." : "", p->index)
                              : snprintf(text + n, sizeof(text) - n, "%s%s",
                                         j ? "." : "", p->key));
        }
        if (strcmp(text, loc) == 0)
            return true;
    }
    return false;
}

void agg_fixture_close(struct agg_fixture *fx)
{
    char cmd[128];

    store_close(fx->store);
    fx->store = NULL;
    if (fx->dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
            printf("    fixture: could not remove %s\n", fx->dir);
    }
}
