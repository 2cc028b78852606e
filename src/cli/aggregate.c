/*
 * aggregate.c - `tally aggregate`: one aggregation request from a file,
 * answered on stdout as the server would answer it. It reads the store
 * without locking it, so it runs beside a server.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "json/json.h"
#include "query/agg.h"
#include "store/catalog.h"

static const char usage[] =
    "tally aggregate [--data DIR] --namespace NS --bucket B REQUEST.json";

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct buf b = BUF_INIT;
    char chunk[65536];
    size_t n;

    if (f == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(&b, chunk, n);
    if (f != stdin)
        fclose(f);
    if (b.oom) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, len);
}

static int run_request(struct store *s, const char *ns, const char *bucket,
                       const bson_t *body, struct buf *out, struct err *e)
{
    struct store_txn t;
    struct catalog_ns n;
    struct catalog_bucket b;
    struct arena arena;
    struct agg_request *req = NULL;
    struct agg_plan *plan = NULL;
    struct agg_result *res = NULL;
    struct query_limits lim = {QUERY_DEFAULT_MAX_GROUPS,
                               QUERY_DEFAULT_MAX_MEMORY,
                               QUERY_DEFAULT_MAX_RESPONSE, 0};
    int64_t start = clock_mono_ns();

    arena_init(&arena);
    int rc = store_read_begin(s, &t, e);
    if (rc != 0)
        return rc;
    rc = catalog_ns_find(&t, ns, strlen(ns), &n, e);
    if (rc == 0)
        rc = catalog_bucket_find(&t, n.id, bucket, strlen(bucket), &b, e);
    if (rc == ERR_NOT_FOUND)
        err_set(e, rc, "namespace or bucket not found");
    if (rc == 0)
        rc = agg_parse(body, &b.record, &arena, &req, e);
    if (rc == 0)
        rc = agg_plan(req, &lim, &arena, &plan, e);
    if (rc == 0)
        rc = agg_execute(plan, &t, b.num, &res, e);
    if (rc == 0)
        rc = agg_encode(plan, res, (double)(clock_mono_ns() - start) / 1e6,
                        out, e);
    agg_result_free(res);
    agg_request_release(req);
    store_read_end(&t);
    arena_release(&arena);
    return rc;
}

static void print_problems(const struct err *e)
{
    char line[2048];

    err_describe(e, line, sizeof(line));
    fprintf(stderr, "tally: invalid request: %s\n", line);
}

int cli_aggregate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},
        {"namespace", required_argument, 0, 'n'},
        {"bucket", required_argument, 0, 'b'},
        {0, 0, 0, 0}};
    const char *data = "./data", *ns = NULL, *bucket = NULL;
    struct store_config cfg = {.read_only = true};
    int opt;

    if (cli_wants_help(argc, argv, usage))
        return 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'd')
            data = optarg;
        else if (opt == 'n')
            ns = optarg;
        else if (opt == 'b')
            bucket = optarg;
        else
            return cli_usage(usage);
    }
    if (optind != argc - 1 || ns == NULL || bucket == NULL)
        return cli_usage(usage);

    size_t len;
    char *text = read_file(argv[optind], &len);
    if (text == NULL) {
        fprintf(stderr, "tally: cannot read %s\n", argv[optind]);
        return 1;
    }

    struct buf bson = BUF_INIT, out = BUF_INIT;
    struct json_error je;
    struct err e;
    struct store *s = NULL;
    bson_t body;
    int rc = 1;

    err_init(&e);
    if (json_parse(text, len, NULL, &bson, &je) != 0) {
        fprintf(stderr, "tally: %s is not valid JSON: %s at byte %zu\n",
                argv[optind], je.msg, je.offset);
    } else if (cli_open_store(data, &cfg, &s) == 0) {
        bson_init_static(&body, (const uint8_t *)bson.data, bson.len);
        rc = run_request(s, ns, bucket, &body, &out, &e);
        if (rc == ERR_VALIDATION)
            print_problems(&e);
        else if (rc != 0)
            cli_fail(&e);
        else
            printf("%s\n", out.data);
        rc = rc != 0;
    }
    store_close(s);
    err_release(&e);
    buf_release(&bson);
    buf_release(&out);
    free(text);
    return rc;
}
