/*
 * json_bench.c - throughput of the JSON reader and writer on an NDJSON
 * file (not a test; `make json-bench` runs it).
 *
 *   build/json_bench FILE.ndjson [PASSES]
 *
 * Reading: every line is parsed into one reused buffer (reset before each
 * line, as the importer does with its batch). Writing: every parsed
 * document is written back to JSON into one reused buffer. Each phase is
 * timed PASSES times on one thread and the best pass is reported, in MB/s
 * (10^6 bytes: of JSON text read, or of JSON text written) and in
 * documents per second. On a shared machine the wall clock also counts
 * time the thread spent waiting for a core, so the rate per second of the
 * thread's own CPU time is reported beside it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"

/* TUNING: five passes let the page cache and CPU frequency settle; the
 * best of them is the least disturbed by other load on the machine. */
#define DEFAULT_PASSES 5

struct line {
    size_t off;
    size_t len;
};

struct corpus {
    char *text;
    size_t size;
    struct line *lines;
    size_t count;
};

/* One pass's duration by both clocks, in seconds. */
struct timing {
    double wall;
    double cpu;
};

static double seconds_of(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timing timing_start(void)
{
    return (struct timing){seconds_of(CLOCK_MONOTONIC),
                           seconds_of(CLOCK_THREAD_CPUTIME_ID)};
}

static struct timing timing_since(struct timing start)
{
    struct timing now = timing_start();
    return (struct timing){now.wall - start.wall, now.cpu - start.cpu};
}

/* Keeps the best (shortest) of each clock over the passes. */
static void timing_keep_best(struct timing *best, struct timing t, int pass)
{
    if (pass == 0 || t.wall < best->wall)
        best->wall = t.wall;
    if (pass == 0 || t.cpu < best->cpu)
        best->cpu = t.cpu;
}

static int read_file(const char *path, struct corpus *c)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "json_bench: cannot open %s: %s\n", path,
                strerror(errno));
        return -1;
    }

    struct buf b = BUF_INIT;
    char chunk[1 << 16];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_add(&b, chunk, n);
    int bad = ferror(f) || b.oom;
    fclose(f);
    if (bad) {
        fprintf(stderr, "json_bench: cannot read %s\n", path);
        buf_release(&b);
        return -1;
    }
    c->text = buf_detach(&b, &c->size);
    return 0;
}

/* Splits the text into its non-empty lines. */
static int split_lines(struct corpus *c)
{
    size_t cap = 1024;

    c->lines = malloc(cap * sizeof *c->lines);
    c->count = 0;
    for (size_t at = 0; c->lines != NULL && at < c->size;) {
        const char *nl = memchr(c->text + at, '\n', c->size - at);
        size_t end = nl != NULL ? (size_t)(nl - c->text) : c->size;
        if (end > at) {
            if (c->count == cap) {
                cap *= 2;
                struct line *grown = realloc(c->lines, cap * sizeof *grown);
                if (grown == NULL) {
                    free(c->lines);
                    c->lines = NULL;
                    break;
                }
                c->lines = grown;
            }
            c->lines[c->count++] = (struct line){at, end - at};
        }
        at = end + 1;
    }
    if (c->lines == NULL) {
        fprintf(stderr, "json_bench: out of memory\n");
        return -1;
    }
    return 0;
}

/* One reading pass into *t; returns -1 when a line does not parse.
 * *bson_bytes gets the total BSON size, which the compiler cannot drop. */
static int parse_pass(const struct corpus *c, struct buf *out,
                      size_t *bson_bytes, struct timing *t)
{
    struct json_error je;
    size_t total = 0;
    struct timing start = timing_start();

    for (size_t i = 0; i < c->count; i++) {
        buf_reset(out);
        if (json_parse(c->text + c->lines[i].off, c->lines[i].len, NULL, out,
                       &je) != 0) {
            fprintf(stderr, "json_bench: line %zu: %s at byte %zu\n", i + 1,
                    je.msg, je.offset);
            return -1;
        }
        total += out->len;
    }
    *t = timing_since(start);
    *bson_bytes = total;
    return 0;
}

/* Parses every line into one buffer, one document after the other, and
 * records where each starts. */
static int parse_all(const struct corpus *c, struct buf *docs, size_t *starts)
{
    struct json_error je;

    for (size_t i = 0; i < c->count; i++) {
        starts[i] = docs->len;
        if (json_parse(c->text + c->lines[i].off, c->lines[i].len, NULL, docs,
                       &je) != 0) {
            fprintf(stderr, "json_bench: line %zu: %s\n", i + 1, je.msg);
            return -1;
        }
    }
    return 0;
}

/* One writing pass over the parsed documents; *json_bytes gets the total
 * JSON size. */
static struct timing write_pass(const struct buf *docs, const size_t *starts,
                                size_t count, struct buf *out,
                                size_t *json_bytes)
{
    size_t total = 0;
    struct timing start = timing_start();

    for (size_t i = 0; i < count; i++) {
        size_t end = i + 1 < count ? starts[i + 1] : docs->len;
        bson_t doc;
        struct jw w;
        bson_init_static(&doc, (const uint8_t *)docs->data + starts[i],
                         end - starts[i]);
        buf_reset(out);
        jw_init(&w, out);
        jw_bson_document(&w, &doc);
        total += out->len;
    }
    *json_bytes = total;
    return timing_since(start);
}

static void report(const char *phase, int passes, struct timing best,
                   double bytes, size_t count)
{
    printf("%s: best of %d: %.3f s, %.1f MB/s, %.0f objects/s "
           "(per CPU second: %.1f MB/s, %.0f objects/s)\n",
           phase, passes, best.wall, bytes / 1e6 / best.wall,
           (double)count / best.wall, bytes / 1e6 / best.cpu,
           (double)count / best.cpu);
}

static int bench_read(const struct corpus *c, int passes)
{
    struct buf out = BUF_INIT;
    struct timing best = {0, 0}, t;
    size_t bson_bytes = 0;

    for (int pass = 0; pass < passes; pass++) {
        if (parse_pass(c, &out, &bson_bytes, &t) != 0) {
            buf_release(&out);
            return -1;
        }
        timing_keep_best(&best, t, pass);
    }
    buf_release(&out);
    printf("parse: %zu documents, %.1f MB of JSON -> %.1f MB of BSON\n",
           c->count, (double)c->size / 1e6, (double)bson_bytes / 1e6);
    report("parse", passes, best, (double)c->size, c->count);
    return 0;
}

static int bench_write(const struct corpus *c, int passes)
{
    struct buf docs = BUF_INIT, out = BUF_INIT;
    size_t *starts = malloc(c->count * sizeof *starts);
    struct timing best = {0, 0};
    size_t json_bytes = 0;
    int rc = -1;

    if (starts != NULL && parse_all(c, &docs, starts) == 0) {
        for (int pass = 0; pass < passes; pass++)
            timing_keep_best(
                &best, write_pass(&docs, starts, c->count, &out, &json_bytes),
                pass);
        report("write", passes, best, (double)json_bytes, c->count);
        rc = 0;
    }
    free(starts);
    buf_release(&docs);
    buf_release(&out);
    return rc;
}

int main(int argc, char **argv)
{
    struct corpus c = {0};
    int passes = argc > 2 ? atoi(argv[2]) : DEFAULT_PASSES;

    if (argc < 2 || passes < 1) {
        fprintf(stderr, "usage: json_bench FILE.ndjson [PASSES]\n");
        return 2;
    }
    if (read_file(argv[1], &c) != 0 || split_lines(&c) != 0)
        return 1;

    int rc = bench_read(&c, passes);
    if (rc == 0)
        rc = bench_write(&c, passes);
    free(c.lines);
    free(c.text);
    return rc == 0 ? 0 : 1;
}
