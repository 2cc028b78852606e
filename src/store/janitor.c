#include "store/janitor.h"

#include <pthread.h>
#include <stdbool.h>

#include "base/log.h"
#include "store/catalog.h"

/* TUNING: 20k keys per write keeps a purge transaction to a few
 * megabytes of dirty pages and well under 100 ms on this machine. */
#define PURGE_KEYS_PER_WRITE 20000

static struct {
    struct store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool started, stopping, pending;
} jan = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static int purge_write(struct store_txn *t, void *arg, struct err *e)
{
    return catalog_purge_step(t, PURGE_KEYS_PER_WRITE, arg, e);
}

static void purge_all(void)
{
    bool more = true;
    struct err e;

    while (more) {
        err_init(&e);
        more = false;
        if (store_write(jan.store, purge_write, &more, &e) != 0) {
            LOG_WARN("purge of deleted buckets failed", "error=\"%s\"", e.msg);
            more = false;
        }
        err_release(&e);
        pthread_mutex_lock(&jan.mu);
        if (jan.stopping)
            more = false;
        pthread_mutex_unlock(&jan.mu);
    }
}

static void *janitor_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&jan.mu);
    while (!jan.stopping) {
        if (!jan.pending) {
            pthread_cond_wait(&jan.wake, &jan.mu);
            continue;
        }
        jan.pending = false;
        pthread_mutex_unlock(&jan.mu);
        purge_all();
        pthread_mutex_lock(&jan.mu);
    }
    pthread_mutex_unlock(&jan.mu);
    return NULL;
}

int janitor_start(struct store *s)
{
    jan.store = s;
    jan.stopping = false;
    jan.pending = true; /* finish what a previous run left */
    if (pthread_create(&jan.thread, NULL, janitor_main, NULL) != 0)
        return ERR_IO;
    jan.started = true;
    return 0;
}

void janitor_wake(void)
{
    pthread_mutex_lock(&jan.mu);
    jan.pending = true;
    pthread_cond_signal(&jan.wake);
    pthread_mutex_unlock(&jan.mu);
}

void janitor_stop(void)
{
    if (!jan.started)
        return;
    pthread_mutex_lock(&jan.mu);
    jan.stopping = true;
    pthread_cond_signal(&jan.wake);
    pthread_mutex_unlock(&jan.mu);
    pthread_join(jan.thread, NULL);
    jan.started = false;
}
