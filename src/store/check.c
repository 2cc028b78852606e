#include "store/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store/catalog.h"
#include "store/objects.h"

struct checker {
    struct store_txn t;
    check_report_fn report;
    void *ctx;
    struct check_counts *counts;
    struct err *e;
};

static void problem(struct checker *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct checker *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    c->counts->problems++;
    c->report(c->ctx, line);
}

typedef int (*walk_fn)(struct checker *c, const MDB_val *k, const MDB_val *v);

static int walk(struct checker *c, enum store_db db, walk_fn fn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(c->t.txn, store_dbi(c->t.store, db), &cur);

    if (rc != 0)
        return store_fail(rc, "checking", c->e);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int out = fn(c, &k, &v);
        if (out != 0) {
            mdb_cursor_close(cur);
            return out;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : store_fail(rc, "checking", c->e);
}

static bool bucket_known(struct checker *c, uint32_t num, bool *purging)
{
    unsigned char key[4];
    MDB_val v;

    store_be32(key, num);
    *purging = store_get(&c->t, STORE_DB_PURGE, key, 4, &v, NULL) == 0;
    return store_get(&c->t, STORE_DB_BUCKET_NUMS, key, 4, &v, NULL) == 0;
}

/* --- per bucket -------------------------------------------------------- */

static int check_object(struct checker *c, uint32_t num, uint64_t seq,
                        const uint8_t *data, size_t len, uint64_t *bytes)
{
    bson_t doc;
    bson_iter_t it;
    uint64_t at;

    c->counts->objects++;
    *bytes += len;
    if (!bson_init_static(&doc, data, len) || !bson_validate(&doc, 0, NULL)) {
        problem(c, "bucket %u object %llu: does not parse as BSON", num,
                (unsigned long long)seq);
        return 0;
    }
    if (!bson_iter_init_find(&it, &doc, "object_id") ||
        !BSON_ITER_HOLDS_UTF8(&it)) {
        problem(c, "bucket %u object %llu: has no object_id", num,
                (unsigned long long)seq);
        return 0;
    }
    uint32_t idlen;
    const char *id = bson_iter_utf8(&it, &idlen);
    int rc = objects_find_id(&c->t, num, id, idlen, &at, c->e);
    if (rc == ERR_NOT_FOUND)
        problem(c, "bucket %u object %s: missing from the id index", num, id);
    else if (rc == 0 && at != seq)
        problem(c, "bucket %u object %s: the id index points elsewhere",
                num, id);
    return rc == ERR_NOT_FOUND ? 0 : rc;
}

static int check_bucket(struct checker *c, uint32_t num, const char *id)
{
    struct catalog_bucket_stats st;
    struct objects_scan sc;
    uint64_t seq, count = 0, bytes = 0;
    const uint8_t *data;
    size_t len;

    c->counts->buckets++;
    int rc = catalog_stats_get(&c->t, num, &st, c->e);
    if (rc == ERR_NOT_FOUND) {
        problem(c, "bucket %s: has no running totals", id);
        return 0;
    }
    if (rc == 0)
        rc = objects_scan_open(&c->t, num, 0, &sc, c->e);
    while (rc == 0) {
        rc = objects_scan_next(&sc, &seq, &data, &len, c->e);
        if (rc == ERR_CORRUPT) {
            /* A damaged object is a problem to report, not a stop. */
            problem(c, "bucket %s: %s", id, c->e->msg);
            err_release(c->e);
            count++;
            rc = 0;
            continue;
        }
        if (rc != 0)
            break;
        count++;
        if (seq >= st.next_seq)
            problem(c, "bucket %s: object sequence %llu is past next_seq",
                    id, (unsigned long long)seq);
        rc = check_object(c, num, seq, data, len, &bytes);
    }
    objects_scan_close(&sc);
    if (rc != ERR_NOT_FOUND)
        return rc;
    if (count != st.object_count || bytes != st.total_size_bytes)
        problem(c, "bucket %s: totals say %llu objects / %llu bytes, the "
                "store holds %llu / %llu", id,
                (unsigned long long)st.object_count,
                (unsigned long long)st.total_size_bytes,
                (unsigned long long)count, (unsigned long long)bytes);
    return 0;
}

static int each_bucket(struct checker *c, const MDB_val *k, const MDB_val *v)
{
    char id[64];

    if (k->mv_size != 4) {
        problem(c, "bucket number index: malformed key");
        return 0;
    }
    snprintf(id, sizeof(id), "%.*s", (int)v->mv_size, (char *)v->mv_data);
    uint32_t num = store_get_be32(k->mv_data);
    struct catalog_bucket b;
    int rc = catalog_bucket_by_num(&c->t, num, &b, c->e);
    if (rc == ERR_NOT_FOUND)
        problem(c, "bucket %s: number %u has no record", id, num);
    else if (rc == 0 && b.num != num)
        problem(c, "bucket %s: record says number %u, index says %u", id,
                b.num, num);
    return rc == ERR_NOT_FOUND ? 0 : (rc ? rc : check_bucket(c, num, id));
}

/* --- indexes ----------------------------------------------------------- */

static void check_points_at_object(struct checker *c, const char *what,
                                   uint32_t num, const MDB_val *v)
{
    bson_t doc;
    bool purging;

    if (v->mv_size != 8) {
        problem(c, "%s of bucket %u: malformed entry", what, num);
        return;
    }
    uint64_t seq = store_get_be64(v->mv_data);
    if (objects_get(&c->t, num, seq, &doc, NULL) == 0)
        return;
    if (!bucket_known(c, num, &purging) && purging)
        return; /* removal of a deleted bucket in progress */
    problem(c, "%s of bucket %u: points at missing object %llu", what, num,
            (unsigned long long)seq);
}

static int each_id_entry(struct checker *c, const MDB_val *k, const MDB_val *v)
{
    c->counts->index_entries++;
    if (k->mv_size < 5) {
        problem(c, "id index: malformed key");
        return 0;
    }
    check_points_at_object(c, "id index", store_get_be32(k->mv_data), v);
    return 0;
}

static int each_unique_entry(struct checker *c, const MDB_val *k,
                             const MDB_val *v)
{
    c->counts->index_entries++;
    if (k->mv_size != 36) {
        problem(c, "unique index: malformed key");
        return 0;
    }
    check_points_at_object(c, "unique index", store_get_be32(k->mv_data), v);
    return 0;
}

/* Objects of no bucket: neither live nor being purged. */
static int each_object_owner(struct checker *c, const MDB_val *k,
                             const MDB_val *v)
{
    bool purging;
    (void)v;

    if (k->mv_size != 12) {
        problem(c, "objects: malformed key");
        return 0;
    }
    uint32_t num = store_get_be32(k->mv_data);
    if (!bucket_known(c, num, &purging) && !purging)
        problem(c, "object %llu of bucket %u: the bucket does not exist",
                (unsigned long long)store_get_be64((uint8_t *)k->mv_data + 4),
                num);
    return 0;
}

static int each_ns_name(struct checker *c, const MDB_val *k, const MDB_val *v)
{
    struct catalog_ns ns;
    (void)k;
    int rc = catalog_ns_find(&c->t, v->mv_data, v->mv_size, &ns, c->e);
    if (rc == ERR_NOT_FOUND)
        problem(c, "namespace name %.*s: points at no namespace",
                (int)k->mv_size, (char *)k->mv_data);
    return rc == ERR_NOT_FOUND ? 0 : rc;
}

int check_store(struct store *s, check_report_fn report, void *ctx,
                struct check_counts *counts, struct err *e)
{
    struct checker c = {.report = report, .ctx = ctx, .counts = counts,
                        .e = e};

    memset(counts, 0, sizeof(*counts));
    int rc = store_read_begin(s, &c.t, e);
    if (rc != 0)
        return rc;
    rc = walk(&c, STORE_DB_BUCKET_NUMS, each_bucket);
    if (rc == 0)
        rc = walk(&c, STORE_DB_OBJECT_IDS, each_id_entry);
    if (rc == 0)
        rc = walk(&c, STORE_DB_UNIQUE, each_unique_entry);
    if (rc == 0)
        rc = walk(&c, STORE_DB_OBJECTS, each_object_owner);
    if (rc == 0)
        rc = walk(&c, STORE_DB_NS_NAMES, each_ns_name);
    store_read_end(&c.t);
    return rc;
}
