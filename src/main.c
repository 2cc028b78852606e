/*
 * main.c - the tally command: picks the subcommand (src/cli/).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: tally COMMAND [options]\n"
    "  serve      serve the HTTP API over the data folder\n"
    "  key        create, list or revoke API keys\n"
    "  import     load an NDJSON file into a bucket\n"
    "  aggregate  answer an aggregation request from a file\n"
    "  check      verify the store's integrity\n"
    "Run `tally COMMAND --help` for a command's options.\n";

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {
        {"serve", cli_serve},         {"key", cli_key},
        {"import", cli_import},       {"aggregate", cli_aggregate},
        {"check", cli_check},
    };

    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fputs(usage, stderr);
    return 2;
}
