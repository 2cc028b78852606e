/*
 * workq.h - a fixed set of threads taking jobs from a bounded queue.
 *
 * The HTTP front runs handlers on one; the query engine runs its
 * partitions on another (never the same one: a job that waits for jobs
 * of its own queue could wait forever).
 */
#ifndef TALLY_BASE_WORKQ_H
#define TALLY_BASE_WORKQ_H

#include <stddef.h>

typedef void (*workq_fn)(void *arg);

struct workq;

/* Starts threads; max_queue bounds the jobs waiting (0 = unbounded). */
int workq_start(unsigned threads, size_t max_queue, const char *name,
                struct workq **out);
/* Queues a job: 0, or ERR_UNAVAILABLE when the queue is full or stopping. */
int workq_submit(struct workq *q, workq_fn fn, void *arg);
/* Runs the queued jobs, then joins the threads and frees q. */
void workq_stop(struct workq *q);
unsigned workq_threads(const struct workq *q);
size_t workq_queued(struct workq *q);

/* Runs fn(arg_i) for i in [0, n) on q and waits for all of them; the
 * calling thread takes part. Used for data-parallel work. */
void workq_run_all(struct workq *q, size_t n, void (*fn)(void *ctx, size_t i),
                   void *ctx);

#endif
