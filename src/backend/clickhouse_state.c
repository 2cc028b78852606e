/*
 * clickhouse_state.c - what Tally knows of each bucket's table: its layout
 * (which paths have columns of their own: clickhouse_schema.c), and
 * whether reads may leave FINAL out.
 *
 * FINAL. A ReplacingMergeTree keeps every version of an object until a
 * merge collapses them; FINAL collapses them at read time, which
 * ClickHouse 18.16 does in one stream over every part (5-8x the time of
 * the same read without it, measured). FINAL only matters while some
 * live row is superseded by a later row of the same object (an update,
 * or a delete's tombstone); a row that follows a tombstone (an object
 * created again) is harmless, since reads skip tombstones.
 *
 * Tally is the only writer (one front-end per cluster), so it knows when
 * that happens: a write that supersedes a live row marks the bucket
 * "dirty" before its insert is sent. A dirty bucket is read with FINAL
 * until a check finds that merges have collapsed every superseded row:
 *
 *   count() WHERE is_deleted = 0  =  count() FINAL WHERE is_deleted = 0
 *
 * (every live row of FINAL is a live row without it; equal counts mean no
 * other live rows). The check runs under the write lock, so no insert
 * lands in between, at most every CH_CHECK_EVERY_MS per bucket, and once
 * for a bucket first read since start (nothing is persisted: the check
 * is the truth).
 *
 * Layouts are read from ClickHouse once per bucket and process, then kept
 * up to date by the writes that add columns (Tally is the only one).
 *
 * Reads hold the read side of shape_rw from the moment they decide (FINAL
 * or not, which columns) until their query has answered; marking a
 * bucket dirty, or recording a new kind of value at a typed path, takes
 * the write side, so that no read that decided otherwise is still
 * running (or not yet started in ClickHouse) when the rows land.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/clickhouse.h"

/* TUNING: a dirty bucket is checked again at most this often: the check
 * reads the table twice (once with FINAL), about what one aggregation
 * with FINAL costs, so once a minute is noise next to the queries it
 * spares when merges have caught up. */
#define CH_CHECK_EVERY_MS 60000

struct ch_bucket {
    char bucket_id[IDS_MAX];
    bool clean;
    int64_t checked_ms;          /* monotonic; 0: never */
    bool has_layout;
    struct ch_layout layout;
    struct ch_bucket *next;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ch_state_init(struct ch *ch)
{
    pthread_rwlockattr_t a;

    pthread_mutex_init(&ch->state_mu, NULL);
    pthread_rwlockattr_init(&a);
    /* A writer waiting to mark a bucket dirty must not starve behind a
     * steady stream of readers. */
    pthread_rwlockattr_setkind_np(&a,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ch->shape_rw, &a);
    pthread_rwlockattr_destroy(&a);
    ch->buckets = NULL;
}

void ch_state_free(struct ch *ch)
{
    struct ch_bucket *f = ch->buckets;

    while (f != NULL) {
        struct ch_bucket *next = f->next;
        free(f);
        f = next;
    }
    ch->buckets = NULL;
    pthread_rwlock_destroy(&ch->shape_rw);
    pthread_mutex_destroy(&ch->state_mu);
}

/* The state of a bucket, created (dirty, never checked, no layout) when
 * missing; NULL when out of memory. Under state_mu. */
static struct ch_bucket *state(struct ch *ch, const char *bucket_id)
{
    struct ch_bucket *f;

    for (f = ch->buckets; f != NULL; f = f->next)
        if (strcmp(f->bucket_id, bucket_id) == 0)
            return f;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    snprintf(f->bucket_id, sizeof(f->bucket_id), "%s", bucket_id);
    f->next = ch->buckets;
    ch->buckets = f;
    return f;
}

/* Live rows of the table, with FINAL or without; -1 on failure. */
static long long live_rows(struct ch *ch, const char *bucket_id, bool final)
{
    struct buf sql = BUF_INIT, ans = BUF_INIT;
    struct err e;
    long long n = -1;

    err_init(&e);
    buf_adds(&sql, "SELECT count() FROM ");
    ch_table_dist(&sql, ch, bucket_id);
    buf_adds(&sql, final ? " FINAL" : "");
    buf_adds(&sql, " WHERE " CH_LIVE " FORMAT TabSeparated");
    if (!sql.oom && ch_query(ch, NULL, sql.data, NULL, 0, NULL, &ans, &e) == 0 &&
        ans.data != NULL)
        n = strtoll(ans.data, NULL, 10);
    err_release(&e);
    buf_release(&sql);
    buf_release(&ans);
    return n;
}

/* Whether it is time to check the bucket, and if so notes the attempt.
 * Under state_mu. */
static bool due(struct ch_bucket *f, int64_t now)
{
    if (f->clean || (f->checked_ms != 0 &&
                     now - f->checked_ms < CH_CHECK_EVERY_MS))
        return false;
    f->checked_ms = now;
    return true;
}

/* The check, under the write lock (no insert in between). A failed
 * count leaves the bucket dirty: FINAL is always right. */
static void check(struct ch *ch, const char *bucket_id)
{
    pthread_mutex_lock(&ch->write_mu);
    long long plain = live_rows(ch, bucket_id, false);
    long long final = plain >= 0 ? live_rows(ch, bucket_id, true) : -1;
    pthread_mutex_lock(&ch->state_mu);
    struct ch_bucket *f = state(ch, bucket_id);
    if (f != NULL && plain >= 0 && plain == final)
        f->clean = true;
    pthread_mutex_unlock(&ch->state_mu);
    pthread_mutex_unlock(&ch->write_mu);
}

/* Loads the bucket's layout when it is not known yet (outside the locks:
 * it is a query). */
static int known_layout(struct ch *ch, const char *bucket_id, struct err *e)
{
    pthread_mutex_lock(&ch->state_mu);
    struct ch_bucket *f = state(ch, bucket_id);
    bool known = f != NULL && f->has_layout;
    pthread_mutex_unlock(&ch->state_mu);
    if (f == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    if (known)
        return 0;

    struct ch_layout *l = malloc(sizeof(*l));
    if (l == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    int rc = ch_schema_layout(ch, bucket_id, l, e);
    if (rc == 0) {
        pthread_mutex_lock(&ch->state_mu);
        f = state(ch, bucket_id);
        if (f != NULL && !f->has_layout) {
            f->layout = *l;
            f->has_layout = true;
        }
        pthread_mutex_unlock(&ch->state_mu);
    }
    free(l);
    return rc;
}

int ch_read_begin(struct ch *ch, const char *bucket_id, bool may_check,
                  struct ch_read *r, struct err *e)
{
    int rc = known_layout(ch, bucket_id, e);

    r->locked = false;
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&ch->state_mu);
    struct ch_bucket *f = state(ch, bucket_id);
    bool run = f != NULL && may_check && due(f, mono_ms());
    pthread_mutex_unlock(&ch->state_mu);
    if (run)
        check(ch, bucket_id);

    pthread_rwlock_rdlock(&ch->shape_rw);
    pthread_mutex_lock(&ch->state_mu);
    f = state(ch, bucket_id);
    r->final = f == NULL || !f->clean;
    if (f != NULL && f->has_layout)
        r->layout = f->layout;
    else
        r->layout.ntyped = 0;
    pthread_mutex_unlock(&ch->state_mu);
    r->locked = true;
    return 0;
}

void ch_read_end(struct ch *ch, struct ch_read *r)
{
    if (r->locked)
        pthread_rwlock_unlock(&ch->shape_rw);
    r->locked = false;
}

void ch_from(struct buf *sql, struct ch *ch, const char *bucket_id,
             const struct ch_read *r)
{
    ch_table_dist(sql, ch, bucket_id);
    if (r->final)
        buf_adds(sql, " FINAL");
}

int ch_write_layout(struct ch *ch, const char *bucket_id,
                    struct ch_layout *out, struct err *e)
{
    int rc = known_layout(ch, bucket_id, e);

    if (rc != 0)
        return rc;
    pthread_mutex_lock(&ch->state_mu);
    struct ch_bucket *f = state(ch, bucket_id);
    if (f != NULL && f->has_layout)
        *out = f->layout;
    else
        rc = err_set(e, ERR_NOMEM, "out of memory");
    pthread_mutex_unlock(&ch->state_mu);
    return rc;
}

void ch_write_publish(struct ch *ch, const char *bucket_id,
                      const struct ch_layout *l, bool markers)
{
    /* New paths change no read's meaning (no row holds them yet); new
     * markers do: wait for the reads that decided without them. */
    if (markers)
        pthread_rwlock_wrlock(&ch->shape_rw);
    pthread_mutex_lock(&ch->state_mu);
    struct ch_bucket *f = state(ch, bucket_id);
    if (f != NULL) {
        f->layout = *l;
        f->has_layout = true;
    }
    pthread_mutex_unlock(&ch->state_mu);
    if (markers)
        pthread_rwlock_unlock(&ch->shape_rw);
}

void ch_final_supersede(struct ch *ch, const char *bucket_id)
{
    pthread_mutex_lock(&ch->state_mu);
    struct ch_bucket *f = state(ch, bucket_id);
    bool clean = f == NULL || f->clean;
    pthread_mutex_unlock(&ch->state_mu);
    if (!clean)
        return;
    /* Wait for the reads that saw the bucket clean. */
    pthread_rwlock_wrlock(&ch->shape_rw);
    pthread_mutex_lock(&ch->state_mu);
    f = state(ch, bucket_id);
    if (f != NULL) {
        f->clean = false;
        f->checked_ms = mono_ms();
    }
    pthread_mutex_unlock(&ch->state_mu);
    pthread_rwlock_unlock(&ch->shape_rw);
}

void ch_state_forget(struct ch *ch, const char *bucket_id)
{
    pthread_rwlock_wrlock(&ch->shape_rw);
    pthread_mutex_lock(&ch->state_mu);
    for (struct ch_bucket **p = &ch->buckets; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->bucket_id, bucket_id) == 0) {
            struct ch_bucket *gone = *p;
            *p = gone->next;
            free(gone);
            break;
        }
    }
    pthread_mutex_unlock(&ch->state_mu);
    pthread_rwlock_unlock(&ch->shape_rw);
}
