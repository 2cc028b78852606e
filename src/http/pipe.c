/*
 * pipe.c - a streamed request body, handed from the I/O thread to the
 * workers piece by piece.
 *
 * The I/O thread copies each piece of body into a small ring and returns
 * at once; a drain job on the worker queue feeds the pieces, in order, to
 * the route's stream handler (an import parses and writes them). When the
 * ring is full the connection is suspended, so the client is slowed by
 * TCP back-pressure instead of the I/O thread waiting; the drain job
 * resumes it when there is room again. At most one drain job runs per
 * body, and it never waits: it takes what is there and leaves, so a slow
 * client holds no worker.
 *
 * Suspending and resuming both happen under the pipe's mutex, so that a
 * resume can never come before the suspend it answers.
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

/* TUNING: four pieces of at most one read buffer each: enough for the
 * drain job to stay busy while the next piece arrives, and a bound on
 * the memory one import holds. */
#define PIPE_PIECES 4

struct piece {
    char *data;
    size_t n;
};

struct http_pipe {
    pthread_mutex_t mu;
    pthread_cond_t idle;
    struct MHD_Connection *mhd;
    const struct http_stream_ops *ops;
    void *state;
    struct http_response *resp;
    bool *resp_ready;
    struct workq *q;
    struct piece ring[PIPE_PIECES];
    int head, count;
    bool eof;            /* the whole body has arrived */
    bool finished;       /* end() or abort() ran: state is gone */
    bool draining;       /* a drain job is queued or running */
    bool suspended;      /* the connection waits for us */
    bool cancelled;      /* the client went away */
};

static void drain(void *arg);

/* Called with the mutex held. */
static void wake_io(struct http_pipe *p)
{
    if (p->suspended) {
        p->suspended = false;
        MHD_resume_connection(p->mhd);
    }
}

static void schedule(struct http_pipe *p)
{
    if (p->draining || p->finished)
        return;
    p->draining = true;
    if (workq_submit(p->q, drain, p) != 0) {
        /* No room on the queue: answer busy rather than hang. */
        p->draining = false;
        p->ops->abort(p->state);
        p->finished = true;
        http_reply_errorf(p->resp, ERR_UNAVAILABLE,
                          "server busy: no worker free to read the body "
                          "(limit max_queue); retry later");
        *p->resp_ready = true;
        wake_io(p);
    }
}

static void finish(struct http_pipe *p)
{
    pthread_mutex_unlock(&p->mu);
    p->ops->end(p->state, p->resp);
    pthread_mutex_lock(&p->mu);
    p->finished = true;
    *p->resp_ready = true;
}

static void drain(void *arg)
{
    struct http_pipe *p = arg;

    pthread_mutex_lock(&p->mu);
    while (!p->finished && !p->cancelled && p->count > 0) {
        struct piece pc = p->ring[p->head];
        p->head = (p->head + 1) % PIPE_PIECES;
        p->count--;
        wake_io(p); /* there is room again */
        pthread_mutex_unlock(&p->mu);

        int rc = p->ops->data(p->state, pc.data, pc.n);
        free(pc.data);

        pthread_mutex_lock(&p->mu);
        if (rc != 0 && !p->cancelled)
            finish(p);
    }
    if (!p->finished && !p->cancelled && p->eof)
        finish(p);
    if (p->finished)
        wake_io(p);
    p->draining = false;
    pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->mu);
}

int http_pipe_start(struct MHD_Connection *mhd,
                    const struct http_stream_ops *ops, void *state,
                    struct http_response *resp, bool *resp_ready,
                    struct workq *q, struct http_pipe **out)
{
    struct http_pipe *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (p == NULL)
        return ERR_NOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->mhd = mhd;
    p->ops = ops;
    p->state = state;
    p->resp = resp;
    p->resp_ready = resp_ready;
    p->q = q;
    *out = p;
    return 0;
}

size_t http_pipe_offer(struct http_pipe *p, const char *data, size_t n)
{
    size_t taken = n;

    pthread_mutex_lock(&p->mu);
    if (p->finished) {
        /* Answered already (an error): the rest of the body is dropped. */
    } else if (p->count == PIPE_PIECES) {
        MHD_suspend_connection(p->mhd);
        p->suspended = true;
        taken = 0;
    } else {
        char *copy = malloc(n);
        if (copy == NULL) {
            MHD_suspend_connection(p->mhd);
            p->suspended = true;
            taken = 0;
            schedule(p);
        } else {
            memcpy(copy, data, n);
            int tail = (p->head + p->count) % PIPE_PIECES;
            p->ring[tail] = (struct piece){copy, n};
            p->count++;
            schedule(p);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return taken;
}

bool http_pipe_finish(struct http_pipe *p)
{
    bool done;

    pthread_mutex_lock(&p->mu);
    p->eof = true;
    done = p->finished;
    if (!done) {
        MHD_suspend_connection(p->mhd);
        p->suspended = true;
        if (!p->draining)
            schedule(p);
    }
    pthread_mutex_unlock(&p->mu);
    return done;
}

void http_pipe_free(struct http_pipe *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->cancelled = true;
    while (p->draining)
        pthread_cond_wait(&p->idle, &p->mu);
    if (!p->finished)
        p->ops->abort(p->state);
    while (p->count > 0) {
        free(p->ring[p->head].data);
        p->head = (p->head + 1) % PIPE_PIECES;
        p->count--;
    }
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
