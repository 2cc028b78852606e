/*
 * cli.h - the command line: `tally serve`, `tally key`, `tally import`,
 * `tally aggregate`, `tally check`. main.c picks the command; each file
 * of src/cli/ runs one.
 */
#ifndef TALLY_CLI_CLI_H
#define TALLY_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

int cli_serve(int argc, char **argv);
int cli_key(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_aggregate(int argc, char **argv);
int cli_check(int argc, char **argv);

/* "64M", "1G", "4096": bytes; false when s is not a size. */
bool cli_parse_size(const char *s, uint64_t *out);
bool cli_parse_uint(const char *s, uint64_t *out);

/* Prints "tally: <message>" to stderr and returns exit status 1. */
int cli_fail(const struct err *e);
int cli_usage(const char *usage);
/* True when argv asks for help (-h or --help anywhere): the usage is then
 * printed on stdout. */
bool cli_wants_help(int argc, char **argv, const char *usage);

/* Opens the store in dir for a command, reporting failures. */
int cli_open_store(const char *dir, const struct store_config *cfg,
                   struct store **out);

/* The namespace (id or name) and bucket (id or name) of a command,
 * created when create is true and they do not exist. */
int cli_find_bucket(struct store *s, const char *ns, const char *bucket,
                    bool create, char ns_id[32], struct err *e);

/* Creates an API key for the given namespaces (none: every namespace);
 * writes the plain key into key (64 bytes) and its id into id. */
int cli_create_key(struct store *s, char **namespaces, int n,
                   const char *label, char key[64], char id[32],
                   struct err *e);

#endif
