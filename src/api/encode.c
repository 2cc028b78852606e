#include <string.h>

#include "api/internal.h"

static bool internal_key(const char *k)
{
    return strcmp(k, CATALOG_INTERNAL_NUM) == 0 ||
           strcmp(k, CATALOG_INTERNAL_NS) == 0 ||
           strcmp(k, CATALOG_INTERNAL_HASH) == 0;
}

/* The members of a record, without the server's internal ones, inside an
 * object the caller has opened (so it can add computed members). */
static void write_members(struct jw *w, const bson_t *record)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, record))
        return;
    while (bson_iter_next(&it)) {
        if (internal_key(bson_iter_key(&it)))
            continue;
        jw_key(w, bson_iter_key(&it));
        jw_bson_value(w, &it);
    }
}

void api_write_record(struct jw *w, const bson_t *record)
{
    jw_object_begin(w);
    write_members(w, record);
    jw_object_end(w);
}

struct ns_totals {
    uint64_t buckets, objects;
    struct store_txn *t;
};

static int add_bucket(void *ctx, const struct catalog_bucket *b)
{
    struct ns_totals *tot = ctx;
    struct catalog_bucket_stats st;
    struct err e;

    err_init(&e);
    tot->buckets++;
    if (catalog_stats_get(tot->t, b->num, &st, &e) == 0)
        tot->objects += st.object_count;
    err_release(&e);
    return 0;
}

void api_write_namespace(struct jw *w, struct store_txn *t,
                         const struct catalog_ns *ns)
{
    struct ns_totals tot = {.t = t};
    struct err e;

    err_init(&e);
    catalog_bucket_each(t, ns->id, add_bucket, &tot, &e);
    err_release(&e);

    jw_object_begin(w);
    write_members(w, &ns->record);
    jw_key(w, "bucket_count");
    jw_int(w, (int64_t)tot.buckets);
    jw_key(w, "object_count");
    jw_int(w, (int64_t)tot.objects);
    jw_object_end(w);
}

void api_write_bucket(struct jw *w, struct store_txn *t,
                      const struct catalog_bucket *b)
{
    struct catalog_bucket_stats st = {0};
    struct err e;

    err_init(&e);
    catalog_stats_get(t, b->num, &st, &e);
    err_release(&e);

    jw_object_begin(w);
    write_members(w, &b->record);
    jw_key(w, "object_count");
    jw_int(w, (int64_t)st.object_count);
    jw_key(w, "total_size_bytes");
    jw_int(w, (int64_t)st.total_size_bytes);
    jw_key(w, "last_upload_at");
    if (st.last_upload_ms != 0)
        jw_date(w, st.last_upload_ms);
    else
        jw_null(w);
    jw_object_end(w);
}

void api_reply_deleted(struct http_response *resp, const char *id_key,
                       const char *id, const char *message)
{
    struct jw w;

    jw_init(&w, &resp->body);
    jw_object_begin(&w);
    jw_key(&w, "success");
    jw_bool(&w, true);
    jw_key(&w, id_key);
    jw_string(&w, id);
    jw_key(&w, "message");
    jw_string(&w, message);
    jw_object_end(&w);
    http_reply_json(resp, 200);
}
