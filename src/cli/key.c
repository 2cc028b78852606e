/*
 * key.c - `tally key create|list|revoke`: API keys, managed beside a
 * running server (keys are not cached by it).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "json/json.h"
#include "store/catalog.h"

static const char usage[] =
    "tally key create [--data DIR] [--namespace NAME ...] [--label TEXT]\n"
    "       tally key list [--data DIR]\n"
    "       tally key revoke [--data DIR] KEY_ID";

#define MAX_NAMESPACES 64

struct key_opts {
    const char *data, *label;
    char *namespaces[MAX_NAMESPACES];
    int n;
};

static int parse(int argc, char **argv, struct key_opts *o)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},
        {"namespace", required_argument, 0, 'n'},
        {"label", required_argument, 0, 'l'},
        {0, 0, 0, 0}};
    int opt;

    optind = 2;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'd')
            o->data = optarg;
        else if (opt == 'l')
            o->label = optarg;
        else if (opt == 'n' && o->n < MAX_NAMESPACES)
            o->namespaces[o->n++] = optarg;
        else
            return -1;
    }
    return 0;
}

static int key_create(struct store *s, struct key_opts *o)
{
    char key[64], id[32];
    struct err e;

    err_init(&e);
    if (cli_create_key(s, o->namespaces, o->n, o->label, key, id, &e) != 0)
        return cli_fail(&e);
    fprintf(stderr, "created API key %s for %s; it is shown once:\n", id,
            o->n ? "the given namespaces" : "every namespace");
    printf("%s\n", key);
    return 0;
}

static int print_key(void *ctx, const struct catalog_key *k)
{
    struct buf out = BUF_INIT;
    struct jw w;
    bson_iter_t it;
    (void)ctx;

    jw_init(&w, &out);
    jw_object_begin(&w);
    bson_iter_init(&it, &k->record);
    while (bson_iter_next(&it)) {
        if (strcmp(bson_iter_key(&it), CATALOG_INTERNAL_HASH) == 0)
            continue;
        jw_key(&w, bson_iter_key(&it));
        jw_bson_value(&w, &it);
    }
    jw_object_end(&w);
    printf("%s\n", out.data ? out.data : "{}");
    buf_release(&out);
    return 0;
}

static int key_list(struct store *s)
{
    struct store_txn t;
    struct err e;

    err_init(&e);
    int rc = store_read_begin(s, &t, &e);
    if (rc == 0) {
        rc = catalog_key_each(&t, print_key, NULL, &e);
        store_read_end(&t);
    }
    return rc != 0 ? cli_fail(&e) : 0;
}

static int revoke_write(struct store_txn *t, void *arg, struct err *e)
{
    const char *id = arg;
    struct catalog_key k;
    bson_t rec;

    int rc = catalog_key_find_id(t, id, &k, e);
    if (rc == ERR_NOT_FOUND)
        return err_set(e, ERR_NOT_FOUND, "no API key %s", id);
    if (rc != 0)
        return rc;
    bson_init(&rec);
    bson_copy_to_excluding_noinit(&k.record, &rec, "revoked_at", NULL);
    BSON_APPEND_DATE_TIME(&rec, "revoked_at", clock_now_ms());
    rc = catalog_key_update(t, &k, &rec, e);
    bson_destroy(&rec);
    return rc;
}

static int key_revoke(struct store *s, const char *id)
{
    struct err e;

    err_init(&e);
    if (store_write(s, revoke_write, (void *)id, &e) != 0)
        return cli_fail(&e);
    fprintf(stderr, "revoked API key %s\n", id);
    return 0;
}

int cli_key(int argc, char **argv)
{
    struct key_opts o = {.data = "./data"};
    struct store_config cfg = {.shared = true};
    struct store *s;

    if (cli_wants_help(argc, argv, usage))
        return 0;

    if (argc < 2 || parse(argc, argv, &o) != 0)
        return cli_usage(usage);
    const char *cmd = argv[1];
    bool is_revoke = strcmp(cmd, "revoke") == 0;
    if ((is_revoke && optind != argc - 1) || (!is_revoke && optind != argc))
        return cli_usage(usage);
    if (strcmp(cmd, "create") && strcmp(cmd, "list") && !is_revoke)
        return cli_usage(usage);

    if (cli_open_store(o.data, &cfg, &s) != 0)
        return 1;
    int rc = !strcmp(cmd, "create") ? key_create(s, &o)
             : !strcmp(cmd, "list") ? key_list(s)
                                    : key_revoke(s, argv[optind]);
    store_close(s);
    return rc;
}
