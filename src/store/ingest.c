#include "store/ingest.h"

#include <string.h>

#include "store/document.h"

int ingest_policy_parse(const char *name)
{
    static const char *const names[] = {"insert", "update", "upsert"};

    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0)
            return INGEST_INSERT + i;
    return -1;
}

static bool has_unique_key(const struct catalog_bucket *b, bson_iter_t *uk)
{
    return bson_iter_init_find(uk, &b->record, "unique_key") &&
           BSON_ITER_HOLDS_DOCUMENT(uk);
}

int ingest_policy_for(const struct catalog_bucket *b, const char *requested,
                      enum ingest_policy *out, struct err *e)
{
    bson_iter_t uk, it;
    const char *name = requested;

    *out = INGEST_NONE;
    if (!has_unique_key(b, &uk))
        return 0;
    if (name == NULL && bson_iter_recurse(&uk, &it) &&
        bson_iter_find(&it, "default_policy") && BSON_ITER_HOLDS_UTF8(&it))
        name = bson_iter_utf8(&it, NULL);
    if (name == NULL)
        return err_set(e, ERR_BAD_REQUEST,
                       "bucket %s has a unique key and no default_policy: "
                       "add ?policy=insert, update or upsert",
                       b->name);

    int p = ingest_policy_parse(name);
    if (p < 0)
        return err_set(e, ERR_BAD_REQUEST,
                       "policy \"%.40s\" is not insert, update or upsert", name);
    *out = (enum ingest_policy)p;
    return 0;
}

int ingest_check_size(const bson_t *doc, uint64_t max, struct err *e)
{
    if (max > 0 && doc->len > max)
        return err_set(e, ERR_TOO_LARGE,
                       "object is %u bytes stored, over max_object_bytes "
                       "(%llu); store less per object or raise "
                       "--max-object-bytes",
                       doc->len, (unsigned long long)max);
    return 0;
}

static int build(const struct catalog_bucket *b, const struct ingest_req *r,
                 const bson_t *previous, bson_t *doc, struct err *e)
{
    struct document_input in = {.body = r->body,
                                .previous = previous,
                                .restore = r->restore,
                                .now_ms = r->now_ms};
    int rc = document_build(b, &in, doc, e);
    if (rc != 0)
        return rc;
    rc = ingest_check_size(doc, r->max_object_bytes, e);
    if (rc != 0)
        bson_destroy(doc);
    return rc;
}

/* Replaces the object holding the same unique key (seq), keeping its id,
 * creation time and, unless the body sets one, its status. */
static int update_existing(struct store_txn *t, const struct catalog_bucket *b,
                           struct objects_bucket *ob,
                           const struct ingest_req *r, uint64_t seq,
                           bson_t *stored, struct err *e)
{
    bson_t old, previous, doc;

    int rc = objects_get(t, ob->num, seq, &old, e);
    if (rc != 0)
        return rc;
    bson_copy_to(&old, &previous); /* the view dies with the first write */
    rc = build(b, r, &previous, &doc, e);
    if (rc == 0) {
        rc = objects_replace(t, ob, seq, &previous, &doc, r->now_ms, e);
        if (rc == 0 && stored != NULL)
            bson_copy_to(&doc, stored);
        bson_destroy(&doc);
    }
    bson_destroy(&previous);
    return rc;
}

int ingest_object(struct store_txn *t, const struct catalog_bucket *b,
                  struct objects_bucket *ob, const struct ingest_req *r,
                  bson_t *stored, struct err *e)
{
    bson_t doc;
    uint64_t seq;

    int rc = build(b, r, NULL, &doc, e);
    if (rc != 0)
        return rc;

    if (r->policy == INGEST_UPDATE || r->policy == INGEST_UPSERT) {
        rc = objects_find_unique(t, ob, &doc, &seq, e);
        if (rc == 0) {
            bson_destroy(&doc);
            return update_existing(t, b, ob, r, seq, stored, e);
        }
        if (rc != ERR_NOT_FOUND)
            goto out;
        if (r->policy == INGEST_UPDATE) {
            rc = err_set(e, ERR_NOT_FOUND,
                         "no object with this unique key to update "
                         "(policy=update)");
            goto out;
        }
    }
    rc = objects_insert(t, ob, &doc, r->now_ms, NULL, e);
    if (rc == 0 && stored != NULL)
        bson_copy_to(&doc, stored);
out:
    bson_destroy(&doc);
    return rc;
}

int ingest_built(struct store_txn *t, struct objects_bucket *ob,
                 const bson_t *doc, int64_t now_ms, struct err *e)
{
    return objects_insert(t, ob, doc, now_ms, NULL, e);
}
