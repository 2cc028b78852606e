/*
 * clickhouse_final.c - when reads of a bucket's table may leave FINAL out.
 *
 * A ReplacingMergeTree keeps every version of an object until a merge
 * collapses them; FINAL collapses them at read time, which ClickHouse
 * 18.16 does in one stream over every part (the bench measured 5-8x the
 * time of the same read without it). FINAL only matters while some live
 * row is superseded by a later row of the same object (an update, or a
 * delete's tombstone); a row that follows a tombstone (an object created
 * again) is harmless, since reads skip tombstones (is_deleted = 0).
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
 * A read without FINAL holds the read side of final_rw from the moment it
 * sees the bucket clean until its query has answered; marking a bucket
 * dirty takes the write side, so that no read that decided on "clean"
 * is still running (or not yet started in ClickHouse) when the first
 * superseding row lands.
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

struct ch_final {
    char bucket_id[IDS_MAX];
    bool clean;
    int64_t checked_ms;          /* monotonic; 0: never */
    struct ch_final *next;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ch_final_init(struct ch *ch)
{
    pthread_rwlockattr_t a;

    pthread_mutex_init(&ch->final_mu, NULL);
    pthread_rwlockattr_init(&a);
    /* A writer waiting to mark a bucket dirty must not starve behind a
     * steady stream of readers. */
    pthread_rwlockattr_setkind_np(&a,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ch->final_rw, &a);
    pthread_rwlockattr_destroy(&a);
    ch->finals = NULL;
}

void ch_final_free(struct ch *ch)
{
    struct ch_final *f = ch->finals;

    while (f != NULL) {
        struct ch_final *next = f->next;
        free(f);
        f = next;
    }
    ch->finals = NULL;
    pthread_rwlock_destroy(&ch->final_rw);
    pthread_mutex_destroy(&ch->final_mu);
}

/* The state of a bucket, created (dirty, never checked) when missing;
 * NULL when out of memory. Under final_mu. */
static struct ch_final *state(struct ch *ch, const char *bucket_id)
{
    struct ch_final *f;

    for (f = ch->finals; f != NULL; f = f->next)
        if (strcmp(f->bucket_id, bucket_id) == 0)
            return f;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    snprintf(f->bucket_id, sizeof(f->bucket_id), "%s", bucket_id);
    f->next = ch->finals;
    ch->finals = f;
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
 * Under final_mu. */
static bool due(struct ch_final *f, int64_t now)
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
    pthread_mutex_lock(&ch->final_mu);
    struct ch_final *f = state(ch, bucket_id);
    if (f != NULL && plain >= 0 && plain == final)
        f->clean = true;
    pthread_mutex_unlock(&ch->final_mu);
    pthread_mutex_unlock(&ch->write_mu);
}

void ch_read_begin(struct ch *ch, const char *bucket_id, bool may_check,
                   struct ch_read *r)
{
    for (int pass = 0; pass < 2; pass++) {
        pthread_rwlock_rdlock(&ch->final_rw);
        pthread_mutex_lock(&ch->final_mu);
        struct ch_final *f = state(ch, bucket_id);
        bool clean = f != NULL && f->clean;
        bool run = !clean && pass == 0 && may_check && f != NULL &&
                   due(f, mono_ms());
        pthread_mutex_unlock(&ch->final_mu);
        if (clean) {
            r->final = false;
            r->locked = true;
            return;
        }
        pthread_rwlock_unlock(&ch->final_rw);
        if (!run)
            break;
        check(ch, bucket_id);
    }
    r->final = true;
    r->locked = false;
}

void ch_read_end(struct ch *ch, struct ch_read *r)
{
    if (r->locked)
        pthread_rwlock_unlock(&ch->final_rw);
    r->locked = false;
}

void ch_from(struct buf *sql, struct ch *ch, const char *bucket_id,
             const struct ch_read *r)
{
    ch_table_dist(sql, ch, bucket_id);
    if (r->final)
        buf_adds(sql, " FINAL");
}

void ch_final_supersede(struct ch *ch, const char *bucket_id)
{
    pthread_mutex_lock(&ch->final_mu);
    struct ch_final *f = state(ch, bucket_id);
    bool clean = f == NULL || f->clean;
    pthread_mutex_unlock(&ch->final_mu);
    if (!clean)
        return;
    /* Wait for the reads that saw the bucket clean. */
    pthread_rwlock_wrlock(&ch->final_rw);
    pthread_mutex_lock(&ch->final_mu);
    f = state(ch, bucket_id);
    if (f != NULL) {
        f->clean = false;
        f->checked_ms = mono_ms();
    }
    pthread_mutex_unlock(&ch->final_mu);
    pthread_rwlock_unlock(&ch->final_rw);
}

void ch_final_forget(struct ch *ch, const char *bucket_id)
{
    pthread_rwlock_wrlock(&ch->final_rw);
    pthread_mutex_lock(&ch->final_mu);
    for (struct ch_final **p = &ch->finals; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->bucket_id, bucket_id) == 0) {
            struct ch_final *gone = *p;
            *p = gone->next;
            free(gone);
            break;
        }
    }
    pthread_mutex_unlock(&ch->final_mu);
    pthread_rwlock_unlock(&ch->final_rw);
}
