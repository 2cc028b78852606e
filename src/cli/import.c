/*
 * import.c - `tally import`: an NDJSON file into a bucket without the
 * server, with a progress line on a terminal and one summary line.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "store/importer.h"

static const char usage[] =
    "tally import [--data DIR] --namespace NS --bucket B [--policy P] "
    "FILE.ndjson\n"
    "  the namespace and bucket are created when missing";

/* TUNING: 1 MiB reads: large enough that read() costs nothing next to
 * parsing, small enough to keep the progress line lively. */
#define READ_CHUNK (1u << 20)
#define REJECTS_SHOWN 20

struct import_opts {
    const char *data, *ns, *bucket, *policy, *file;
};

static int parse(int argc, char **argv, struct import_opts *o)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},
        {"namespace", required_argument, 0, 'n'},
        {"bucket", required_argument, 0, 'b'},
        {"policy", required_argument, 0, 'p'},
        {0, 0, 0, 0}};
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'd')
            o->data = optarg;
        else if (opt == 'n')
            o->ns = optarg;
        else if (opt == 'b')
            o->bucket = optarg;
        else if (opt == 'p')
            o->policy = optarg;
        else
            return -1;
    }
    if (optind != argc - 1 || o->ns == NULL || o->bucket == NULL)
        return -1;
    o->file = argv[optind];
    return 0;
}

static void progress(const struct importer_stats *s, uint64_t total,
                     int64_t start_ns)
{
    double secs = (double)(clock_mono_ns() - start_ns) / 1e9;
    double rate = secs > 0 ? (double)s->imported / secs : 0;
    double frac = total ? (double)s->bytes / (double)total : 0;
    double eta = frac > 0 ? secs / frac - secs : 0;
    int width = 30, filled = (int)(frac * width);

    fprintf(stderr, "\r[%.*s%*s] %5.1f%% %llu objects, %.0f/s, ETA %.0fs ",
            filled, "##############################", width - filled, "",
            frac * 100, (unsigned long long)s->imported, rate, eta);
}

static int feed_file(struct importer *im, int fd, uint64_t total,
                     struct err *e)
{
    char *chunk = malloc(READ_CHUNK);
    bool tty = isatty(STDERR_FILENO);
    int64_t start = clock_mono_ns(), last = 0;
    ssize_t n;
    int rc = 0;

    if (chunk == NULL)
        return err_set(e, ERR_NOMEM, "out of memory");
    while (rc == 0 && (n = read(fd, chunk, READ_CHUNK)) > 0) {
        rc = importer_feed(im, chunk, (size_t)n, e);
        if (tty && clock_mono_ns() - last > 200000000) {
            progress(importer_stats(im), total, start);
            last = clock_mono_ns();
        }
    }
    if (rc == 0 && n < 0)
        rc = err_set(e, ERR_IO, "cannot read the input file");
    if (rc == 0)
        rc = importer_finish(im, e);
    if (tty) {
        progress(importer_stats(im), total, start);
        fputc('\n', stderr);
    }
    free(chunk);
    return rc;
}

static void report(struct importer *im, double secs, const char *file)
{
    const struct importer_stats *s = importer_stats(im);
    size_t n;
    const struct importer_reject *r = importer_rejects(im, &n);

    for (size_t i = 0; i < n && i < REJECTS_SHOWN; i++)
        fprintf(stderr, "%s:%llu: %s\n", file, (unsigned long long)r[i].line,
                r[i].error);
    if (n > REJECTS_SHOWN)
        fprintf(stderr, "... and %zu more rejected lines\n",
                n - REJECTS_SHOWN);
    printf("imported %llu objects, rejected %llu lines, in %.2f s "
           "(%.0f objects/s, %.1f MB/s)\n",
           (unsigned long long)s->imported, (unsigned long long)s->rejected,
           secs, secs > 0 ? (double)s->imported / secs : 0,
           secs > 0 ? (double)s->bytes / secs / 1e6 : 0);
}

static int run(struct store *s, struct import_opts *o, int fd, uint64_t total)
{
    struct importer *im = NULL;
    struct err e;
    char ns_id[32];
    struct importer_config cfg = {
        .max_object_bytes = API_DEFAULT_MAX_OBJECT_BYTES,
        .max_rejects = 0,
        .json_max_depth = 64};
    int64_t start = clock_mono_ns();

    err_init(&e);
    int rc = cli_find_bucket(s, o->ns, o->bucket, true, ns_id, &e);
    if (rc == 0)
        rc = importer_new(s, ns_id, o->bucket, o->policy, &cfg, &im, &e);
    if (rc == 0)
        rc = feed_file(im, fd, total, &e);
    if (im != NULL)
        report(im, (double)(clock_mono_ns() - start) / 1e9, o->file);
    if (rc != 0)
        cli_fail(&e);
    importer_free(im);
    err_release(&e);
    return rc != 0;
}

int cli_import(int argc, char **argv)
{
    struct import_opts o = {.data = "./data"};
    struct store *s;
    struct stat st;

    if (cli_wants_help(argc, argv, usage))
        return 0;

    if (parse(argc, argv, &o) != 0)
        return cli_usage(usage);
    int fd = strcmp(o.file, "-") == 0 ? STDIN_FILENO
                                      : open(o.file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "tally: cannot open %s\n", o.file);
        return 1;
    }
    uint64_t total = fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
                         ? (uint64_t)st.st_size
                         : 0;
    struct store_config cfg = {.bulk = true};
    int rc = cli_open_store(o.data, &cfg, &s);
    if (rc == 0) {
        rc = run(s, &o, fd, total);
        store_close(s);
    }
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}
