#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/log.h"
#include "store/changes.h"

/* 2: objects carry a CRC-32C after their BSON bytes. */
#define STORE_FORMAT 2
#define SECRET_BYTES 32

/* TUNING: a group of this many writes shares one commit (one fsync). Big
 * enough to absorb a burst from 64 connections, small enough that one
 * transaction's dirty pages stay far below LMDB's per-transaction cap. */
#define WRITE_GROUP_MAX 64

static const char *const db_names[STORE_DB_COUNT] = {
    [STORE_DB_META] = "meta",
    [STORE_DB_NAMESPACES] = "namespaces",
    [STORE_DB_NS_NAMES] = "ns_names",
    [STORE_DB_BUCKETS] = "buckets",
    [STORE_DB_BUCKET_NAMES] = "bucket_names",
    [STORE_DB_BUCKET_NUMS] = "bucket_nums",
    [STORE_DB_BUCKET_STATS] = "bucket_stats",
    [STORE_DB_KEYS] = "keys",
    [STORE_DB_KEY_HASHES] = "key_hashes",
    [STORE_DB_OBJECTS] = "objects",
    [STORE_DB_OBJECT_IDS] = "object_ids",
    [STORE_DB_UNIQUE] = "unique",
    [STORE_DB_PURGE] = "purge",
};

#define write_req store_pending

struct store {
    char *dir;
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    uint64_t max_size;
    int lock_fd;
    bool read_only;
    unsigned char secret[SECRET_BYTES];

    pthread_t writer;
    bool writer_started;
    pthread_mutex_t mu;
    pthread_cond_t wake;      /* the writer waits for work */
    pthread_cond_t finished;  /* writers wait for their commit */
    struct write_req *queue_head, *queue_tail;
    bool stopping;

    store_observer_fn observer;
    void *observer_ctx;
    _Atomic uint64_t commits, writes;
};

/* LMDB reports a write cut short by a full disk as EIO: tell the two
 * apart by the space left. */
static bool disk_nearly_full(const char *dir)
{
    struct statvfs st;

    /* TUNING: less than 1 MiB left cannot hold a commit of any size. */
    return dir != NULL && statvfs(dir, &st) == 0 &&
           (uint64_t)st.f_bavail * st.f_frsize < (1u << 20);
}

static int store_fail_in(const char *dir, int rc, const char *what,
                         struct err *e)
{
    if ((rc == EIO || rc == ENOSPC) && (rc == ENOSPC || disk_nearly_full(dir)))
        return err_set(e, ERR_FULL,
                       "%s: the disk is full; free space on the data "
                       "folder's file system",
                       what);
    return store_fail(rc, what, e);
}

int store_fail(int rc, const char *what, struct err *e)
{
    switch (rc) {
    case MDB_NOTFOUND:
        return err_set(e, ERR_NOT_FOUND, "%s: not found", what);
    case MDB_MAP_FULL:
        return err_set(e, ERR_FULL,
                       "%s: the store is full (limit max_store_size); "
                       "restart with a larger --max-store-size",
                       what);
    case MDB_TXN_FULL:
        return err_set(e, ERR_LIMIT,
                       "%s: too many changes for one transaction", what);
    case MDB_READERS_FULL:
        return err_set(e, ERR_UNAVAILABLE,
                       "%s: too many concurrent readers (limit "
                       "max_readers)",
                       what);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return err_set(e, ERR_CORRUPT, "%s: the store is damaged: %s", what,
                       mdb_strerror(rc));
    default:
        return err_set(e, ERR_IO, "%s: %s", what, mdb_strerror(rc));
    }
}

/* --- opening ----------------------------------------------------------- */

/* The folder holds other people's data: refuse one that others may write
 * to, since they could replace the store or the key secret. */
static int check_folder(const char *dir, bool create, struct err *e)
{
    struct stat st;

    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || !create)
            return err_set(e, ERR_IO, "data folder %s: %s", dir,
                           strerror(errno));
        if (mkdir(dir, 0700) != 0 || stat(dir, &st) != 0)
            return err_set(e, ERR_IO, "cannot create data folder %s: %s",
                           dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return err_set(e, ERR_IO, "data folder %s is not a folder", dir);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return err_set(e, ERR_FORBIDDEN,
                       "data folder %s may be written by other users "
                       "(mode %04o); run: chmod go-w %s",
                       dir, (unsigned)(st.st_mode & 07777), dir);
    return 0;
}

static int take_folder_lock(struct store *s, struct err *e)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/tally.lock", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return err_set(e, ERR_IO, "cannot open %s: %s", path,
                       strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char owner[32] = "";
        ssize_t n = pread(s->lock_fd, owner, sizeof(owner) - 1, 0);
        owner[n > 0 ? n : 0] = '\0';
        owner[strcspn(owner, "\n")] = '\0';
        return err_set(e, ERR_UNAVAILABLE,
                       "data folder %s is in use by another tally process "
                       "(pid %s); stop it first",
                       s->dir, owner[0] ? owner : "unknown");
    }

    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) != 0 ||
        pwrite(s->lock_fd, pid, (size_t)n, 0) != n)
        LOG_WARN("cannot record pid in lock file", "path=%s", path);
    return 0;
}

static int read_secret(int fd, unsigned char *secret, const char *path,
                       struct err *e)
{
    unsigned char tmp[SECRET_BYTES + 1];
    ssize_t n = read(fd, tmp, sizeof(tmp));

    memcpy(secret, tmp, SECRET_BYTES);
    sodium_memzero(tmp, sizeof(tmp));
    if (n != SECRET_BYTES)
        return err_set(e, ERR_CORRUPT,
                       "%s should hold %d bytes and holds %zd; restore it "
                       "from a backup (existing API keys depend on it)",
                       path, SECRET_BYTES, n);
    return 0;
}

static int write_secret(int fd, unsigned char *secret, const char *path,
                        struct err *e)
{
    randombytes_buf(secret, SECRET_BYTES);
    if (write(fd, secret, SECRET_BYTES) != SECRET_BYTES || fsync(fd) != 0)
        return err_set(e, ERR_IO, "cannot write %s: %s", path,
                       strerror(errno));
    return 0;
}

/* Loads the API key hashing secret, creating it on first use. */
static int load_secret(struct store *s, struct err *e)
{
    char path[4096];
    int rc;

    snprintf(path, sizeof(path), "%s/key-hash.secret", s->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        rc = read_secret(fd, s->secret, path, e);
        close(fd);
        return rc;
    }
    if (errno != ENOENT || s->read_only)
        return err_set(e, ERR_IO, "cannot open %s: %s", path,
                       strerror(errno));

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot create %s: %s", path,
                       strerror(errno));
    rc = write_secret(fd, s->secret, path, e);
    close(fd);
    return rc;
}

/* A data file shorter than the pages its meta page claims would make reads
 * fault deep inside a query: check it once, at open. */
static int check_file_length(struct store *s, struct err *e)
{
    MDB_envinfo info;
    MDB_stat st;
    struct stat fs;
    char path[4096];

    snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
    if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 ||
        stat(path, &fs) != 0)
        return err_set(e, ERR_IO, "cannot inspect %s", path);

    uint64_t need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    if ((uint64_t)fs.st_size < need)
        return err_set(e, ERR_CORRUPT,
                       "%s is truncated: %" PRIu64 " bytes, its pages need %"
                       PRIu64 "; restore it from a backup",
                       path, (uint64_t)fs.st_size, need);
    return 0;
}

static int open_env(struct store *s, const struct store_config *cfg,
                    struct err *e)
{
    int rc = mdb_env_create(&s->env);
    if (rc != 0)
        return store_fail(rc, "creating the store environment", e);

    mdb_env_set_maxdbs(s->env, STORE_DB_COUNT);
    mdb_env_set_maxreaders(s->env, cfg->max_readers
                                       ? cfg->max_readers
                                       : STORE_DEFAULT_MAX_READERS);
    rc = mdb_env_set_mapsize(s->env, (size_t)s->max_size);
    if (rc != 0)
        return store_fail(rc, "setting max_store_size", e);

    unsigned flags = MDB_NOTLS | (s->read_only ? MDB_RDONLY : 0) |
                     (cfg->bulk ? MDB_NOMETASYNC : 0);
    rc = mdb_env_open(s->env, s->dir, flags, 0600);
    if (rc != 0) {
        char what[4200];
        snprintf(what, sizeof(what), "opening the store in %s", s->dir);
        return store_fail(rc, what, e);
    }

    int dead = 0;
    mdb_reader_check(s->env, &dead);
    return check_file_length(s, e);
}

static int check_format(struct store_txn *t, struct err *e)
{
    MDB_val v;
    uint32_t format = STORE_FORMAT;
    int rc = store_get(t, STORE_DB_META, "format", 6, &v, e);

    if (rc == ERR_NOT_FOUND && t->writable) {
        err_release(e);
        return store_put(t, STORE_DB_META, "format", 6, &format,
                         sizeof(format), 0, e);
    }
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof(format) || memcmp(v.mv_data, &format, 4) != 0)
        return err_set(e, ERR_CORRUPT,
                       "the store in %s has an unknown format; it was "
                       "written by another version of tally",
                       store_dir(t->store));
    return 0;
}

static int open_databases(struct store *s, struct err *e)
{
    MDB_txn *txn;
    unsigned flags = s->read_only ? MDB_RDONLY : 0;
    int rc = mdb_txn_begin(s->env, NULL, flags, &txn);

    if (rc != 0)
        return store_fail(rc, "opening the store's databases", e);
    for (int i = 0; i < STORE_DB_COUNT && rc == 0; i++)
        rc = mdb_dbi_open(txn, db_names[i], s->read_only ? 0 : MDB_CREATE,
                          &s->dbi[i]);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return store_fail(rc, "opening the store's databases", e);
    }

    struct store_txn t = {.store = s, .txn = txn, .writable = !s->read_only};
    rc = check_format(&t, e);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    return rc != 0 ? store_fail(rc, "opening the store's databases", e) : 0;
}

static void *writer_main(void *arg);

int store_open(const char *dir, const struct store_config *cfg,
               struct store **out, struct err *e)
{
    struct store_config defaults = {0};
    struct store *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (cfg == NULL)
        cfg = &defaults;
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        return err_set(e, ERR_NOMEM, "out of memory opening the store");
    }
    s->lock_fd = -1;
    s->read_only = cfg->read_only;
    s->max_size = cfg->max_size_bytes ? cfg->max_size_bytes
                                      : STORE_DEFAULT_MAX_SIZE;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->finished, NULL);

    rc = check_folder(dir, !s->read_only, e);
    if (rc == 0 && !s->read_only && !cfg->shared)
        rc = take_folder_lock(s, e);
    if (rc == 0)
        rc = load_secret(s, e);
    if (rc == 0)
        rc = open_env(s, cfg, e);
    if (rc == 0)
        rc = open_databases(s, e);
    if (rc == 0 && !s->read_only) {
        rc = pthread_create(&s->writer, NULL, writer_main, s);
        if (rc != 0)
            rc = err_set(e, ERR_IO, "cannot start the writer thread");
        s->writer_started = rc == 0;
    }
    if (rc != 0) {
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    if (s->writer_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->writer, NULL);
    }
    if (s->env != NULL) {
        if (!s->read_only)
            mdb_env_sync(s->env, 1);
        mdb_env_close(s->env);
    }
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    sodium_memzero(s->secret, sizeof(s->secret));
    pthread_cond_destroy(&s->finished);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s->dir);
    free(s);
}

const char *store_dir(const struct store *s)
{
    return s->dir;
}

MDB_dbi store_dbi(const struct store *s, enum store_db db)
{
    return s->dbi[db];
}

const unsigned char *store_key_secret(const struct store *s)
{
    return s->secret;
}

void store_set_observer(struct store *s, store_observer_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->mu);
    s->observer = fn;
    s->observer_ctx = ctx;
    pthread_mutex_unlock(&s->mu);
}

/* --- reading ----------------------------------------------------------- */

int store_read_begin(struct store *s, struct store_txn *t, struct err *e)
{
    *t = (struct store_txn){.store = s};
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
    return rc != 0 ? store_fail(rc, "opening a read snapshot", e) : 0;
}

void store_read_end(struct store_txn *t)
{
    if (t->txn != NULL)
        mdb_txn_abort(t->txn);
    t->txn = NULL;
}

int store_get(struct store_txn *t, enum store_db db, const void *key,
              size_t klen, MDB_val *val, struct err *e)
{
    MDB_val k = {klen, (void *)key};
    int rc = mdb_get(t->txn, t->store->dbi[db], &k, val);

    if (rc == MDB_NOTFOUND)
        return ERR_NOT_FOUND;
    return rc != 0 ? store_fail(rc, db_names[db], e) : 0;
}

int store_put(struct store_txn *t, enum store_db db, const void *key,
              size_t klen, const void *val, size_t vlen, unsigned flags,
              struct err *e)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_put(t->txn, t->store->dbi[db], &k, &v, flags);

    if (rc == MDB_KEYEXIST)
        return ERR_CONFLICT;
    if (rc == MDB_BAD_VALSIZE)
        return err_set(e, ERR_BAD_REQUEST, "%s: key too long", db_names[db]);
    return rc != 0 ? store_fail(rc, db_names[db], e) : 0;
}

int store_put_reserve(struct store_txn *t, enum store_db db, const void *key,
                      size_t klen, size_t vlen, unsigned flags, void **out,
                      struct err *e)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, NULL};
    int rc = mdb_put(t->txn, t->store->dbi[db], &k, &v, flags | MDB_RESERVE);

    if (rc == MDB_KEYEXIST)
        return ERR_CONFLICT;
    if (rc != 0)
        return store_fail(rc, db_names[db], e);
    *out = v.mv_data;
    return 0;
}

int store_del(struct store_txn *t, enum store_db db, const void *key,
              size_t klen, struct err *e)
{
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del(t->txn, t->store->dbi[db], &k, NULL);

    if (rc == MDB_NOTFOUND)
        return ERR_NOT_FOUND;
    return rc != 0 ? store_fail(rc, db_names[db], e) : 0;
}

/* --- writing ----------------------------------------------------------- */

int store_write_submit(struct store *s, store_write_fn fn, void *ctx,
                       struct err *e, struct store_pending *p)
{
    *p = (struct store_pending){.fn = fn, .ctx = ctx, .e = e};
    if (s->read_only) {
        p->done = true;
        return p->rc = err_set(e, ERR_INTERNAL, "the store is read-only");
    }

    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        p->done = true;
        return p->rc = err_set(e, ERR_UNAVAILABLE, "the store is closing");
    }
    if (s->queue_tail != NULL)
        s->queue_tail->next = p;
    else
        s->queue_head = p;
    s->queue_tail = p;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int store_write_wait(struct store *s, struct store_pending *p)
{
    pthread_mutex_lock(&s->mu);
    while (!p->done)
        pthread_cond_wait(&s->finished, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return p->rc;
}

int store_write(struct store *s, store_write_fn fn, void *ctx, struct err *e)
{
    struct store_pending p;

    if (store_write_submit(s, fn, ctx, e, &p) != 0)
        return p.rc;
    return store_write_wait(s, &p);
}

int store_note_change(struct store_txn *t, const struct store_change *c)
{
    if (t->changes == NULL)
        return 0;
    return changes_add(t->changes, c);
}

int store_nested(struct store_txn *t, store_write_fn fn, void *ctx,
                 struct err *e)
{
    MDB_txn *child;
    size_t mark = t->changes ? changes_mark(t->changes) : 0;
    int rc = mdb_txn_begin(t->store->env, t->txn, 0, &child);

    if (rc != 0)
        return store_fail(rc, "starting a nested write", e);
    struct store_txn nested = {t->store, child, true, t->changes};
    rc = fn(&nested, ctx, e);
    if (rc == 0) {
        int mrc = mdb_txn_commit(child);
        if (mrc != 0)
            rc = store_fail_in(t->store->dir, mrc, "committing a nested write",
                               e);
    } else {
        mdb_txn_abort(child);
    }
    if (rc != 0 && t->changes != NULL)
        changes_rewind(t->changes, mark);
    return rc;
}

/* Runs one request in a transaction nested in the group's, so that a
 * failure undoes only this request's changes. */
static void run_one(struct store *s, MDB_txn *group, struct write_req *r,
                    struct store_changes *changes)
{
    /* Without an observer (tally import, tally check) nobody reads the
     * changes: none are collected. */
    struct store_txn t = {s, group, true, s->observer ? changes : NULL};
    r->rc = store_nested(&t, r->fn, r->ctx, r->e);
}

/* One group: a transaction, each request nested in it, one commit. */
static void run_group(struct store *s, struct write_req *batch)
{
    struct store_changes changes;
    MDB_txn *txn;
    struct err commit_err;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);

    changes_init(&changes);
    err_init(&commit_err);
    for (struct write_req *r = batch; r != NULL; r = r->next) {
        if (rc != 0)
            r->rc = store_fail(rc, "starting a write", r->e);
        else
            run_one(s, txn, r, &changes);
    }
    if (rc != 0)
        goto out;

    size_t txn_id = mdb_txn_id(txn);
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        LOG_ERROR("commit failed", "error=\"%s\"", mdb_strerror(rc));
        for (struct write_req *r = batch; r != NULL; r = r->next)
            if (r->rc == 0)
                r->rc = store_fail_in(s->dir, rc, "committing a write", r->e);
        goto out;
    }
    atomic_fetch_add(&s->commits, 1);
    /* Every commit, even one that changed no object, tells the observer
     * how far the store has come. */
    if (s->observer != NULL)
        s->observer(s->observer_ctx, changes.items, changes.count, txn_id);
out:
    changes_release(&changes);
}

static struct write_req *take_group(struct store *s)
{
    struct write_req *head = s->queue_head, *last = head;
    int n = 1;

    while (last->next != NULL && n < WRITE_GROUP_MAX) {
        last = last->next;
        n++;
    }
    s->queue_head = last->next;
    if (s->queue_head == NULL)
        s->queue_tail = NULL;
    last->next = NULL;
    atomic_fetch_add(&s->writes, (uint64_t)n);
    return head;
}

static void *writer_main(void *arg)
{
    struct store *s = arg;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->queue_head == NULL && !s->stopping)
            pthread_cond_wait(&s->wake, &s->mu);
        if (s->queue_head == NULL)
            break;
        struct write_req *batch = take_group(s);
        pthread_mutex_unlock(&s->mu);

        run_group(s, batch);

        pthread_mutex_lock(&s->mu);
        for (struct write_req *r = batch, *next; r != NULL; r = next) {
            next = r->next;
            r->done = true;
        }
        pthread_cond_broadcast(&s->finished);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

void store_usage(struct store *s, struct store_usage *u)
{
    MDB_envinfo info;
    MDB_stat st;
    struct stat fs;
    char path[4096];

    memset(u, 0, sizeof(*u));
    snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
    if (stat(path, &fs) == 0)
        u->file_bytes = (uint64_t)fs.st_size;
    if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0)
        u->used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    u->max_bytes = s->max_size;
    u->commits = atomic_load(&s->commits);
    u->writes = atomic_load(&s->writes);
}
