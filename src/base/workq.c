#include "base/workq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

struct job {
    workq_fn fn;
    void *arg;
    struct job *next;
};

struct workq {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct job *head, *tail;
    size_t queued, max_queue;
    bool stopping;
    unsigned nthreads;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    struct workq *q = arg;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->head == NULL && !q->stopping)
            pthread_cond_wait(&q->wake, &q->mu);
        if (q->head == NULL)
            break;
        struct job *j = q->head;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->queued--;
        pthread_mutex_unlock(&q->mu);

        j->fn(j->arg);
        free(j);

        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int workq_start(unsigned threads, size_t max_queue, const char *name,
                struct workq **out)
{
    struct workq *q = calloc(1, sizeof(*q));

    *out = NULL;
    if (q == NULL || (q->threads = calloc(threads, sizeof(pthread_t))) == NULL) {
        free(q);
        return ERR_NOMEM;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->wake, NULL);
    q->max_queue = max_queue;
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&q->threads[i], NULL, worker_main, q) != 0)
            break;
        pthread_setname_np(q->threads[i], name);
        q->nthreads++;
    }
    if (q->nthreads == 0) {
        workq_stop(q);
        return ERR_IO;
    }
    *out = q;
    return 0;
}

int workq_submit(struct workq *q, workq_fn fn, void *arg)
{
    struct job *j = malloc(sizeof(*j));

    if (j == NULL)
        return ERR_NOMEM;
    *j = (struct job){fn, arg, NULL};
    pthread_mutex_lock(&q->mu);
    if (q->stopping || (q->max_queue && q->queued >= q->max_queue)) {
        pthread_mutex_unlock(&q->mu);
        free(j);
        return ERR_UNAVAILABLE;
    }
    if (q->tail != NULL)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->queued++;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void workq_stop(struct workq *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->mu);
    for (unsigned i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->mu);
    free(q->threads);
    free(q);
}

unsigned workq_threads(const struct workq *q)
{
    return q->nthreads;
}

size_t workq_queued(struct workq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->queued;
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* --- fork/join --------------------------------------------------------- */

struct run_all {
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n;
    size_t next;        /* next index to claim */
    size_t finished;
    pthread_mutex_t mu;
    pthread_cond_t done;
};

/* Claims indexes until none is left; every participant runs this. */
static void run_all_claim(struct run_all *r)
{
    for (;;) {
        pthread_mutex_lock(&r->mu);
        size_t i = r->next < r->n ? r->next++ : r->n;
        pthread_mutex_unlock(&r->mu);
        if (i == r->n)
            return;
        r->fn(r->ctx, i);
        pthread_mutex_lock(&r->mu);
        if (++r->finished == r->n)
            pthread_cond_broadcast(&r->done);
        pthread_mutex_unlock(&r->mu);
    }
}

struct run_all_ref {
    struct run_all *r;
    pthread_mutex_t *gone_mu;
    size_t *helpers_left;
    pthread_cond_t *gone;
};

static void run_all_helper(void *arg)
{
    struct run_all_ref *ref = arg;

    run_all_claim(ref->r);
    pthread_mutex_lock(ref->gone_mu);
    if (--*ref->helpers_left == 0)
        pthread_cond_signal(ref->gone);
    pthread_mutex_unlock(ref->gone_mu);
}

void workq_run_all(struct workq *q, size_t n, void (*fn)(void *ctx, size_t i),
                   void *ctx)
{
    struct run_all r = {.fn = fn, .ctx = ctx, .n = n};
    pthread_mutex_t gone_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t gone = PTHREAD_COND_INITIALIZER;
    size_t helpers_left = 0;
    struct run_all_ref ref = {&r, &gone_mu, &helpers_left, &gone};

    if (n == 0)
        return;
    /* The caller takes a share too: n - 1 helpers at most. */
    size_t helpers = q ? (q->nthreads < n - 1 ? q->nthreads : n - 1) : 0;

    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.done, NULL);
    for (size_t i = 0; i < helpers; i++) {
        pthread_mutex_lock(&gone_mu);
        helpers_left++;
        pthread_mutex_unlock(&gone_mu);
        if (workq_submit(q, run_all_helper, &ref) != 0) {
            pthread_mutex_lock(&gone_mu);
            helpers_left--;
            pthread_mutex_unlock(&gone_mu);
        }
    }
    run_all_claim(&r);

    /* Wait for the work, then for every helper to let go of r. */
    pthread_mutex_lock(&r.mu);
    while (r.finished < r.n)
        pthread_cond_wait(&r.done, &r.mu);
    pthread_mutex_unlock(&r.mu);
    pthread_mutex_lock(&gone_mu);
    while (helpers_left > 0)
        pthread_cond_wait(&gone, &gone_mu);
    pthread_mutex_unlock(&gone_mu);
    pthread_cond_destroy(&r.done);
    pthread_mutex_destroy(&r.mu);
}
