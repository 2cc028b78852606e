/*
 * check.c - `tally check`: the store's integrity check, printed. Exit
 * status 0 when the store is sound, 1 when problems were found or the
 * store cannot be read.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "store/check.h"

static const char usage[] = "tally check [--data DIR]";

static void print_problem(void *ctx, const char *line)
{
    (void)ctx;
    printf("problem: %s\n", line);
}

int cli_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'}, {0, 0, 0, 0}};
    const char *data = "./data";
    struct store_config cfg = {.read_only = true};
    struct check_counts counts;
    struct store *s;
    struct err e;
    int opt;

    if (cli_wants_help(argc, argv, usage))
        return 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'd')
            return cli_usage(usage);
        data = optarg;
    }
    if (optind != argc)
        return cli_usage(usage);
    if (cli_open_store(data, &cfg, &s) != 0)
        return 1;

    err_init(&e);
    int rc = check_store(s, print_problem, NULL, &counts, &e);
    store_close(s);
    if (rc != 0)
        return cli_fail(&e);
    printf("checked %llu buckets, %llu objects, %llu index entries: %llu "
           "problems\n",
           (unsigned long long)counts.buckets,
           (unsigned long long)counts.objects,
           (unsigned long long)counts.index_entries,
           (unsigned long long)counts.problems);
    return counts.problems > 0;
}
