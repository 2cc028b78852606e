/*
 * check.h - the store's integrity check (`tally check`).
 *
 * In one read snapshot: every object parses as BSON and has an
 * object_id; every object is in the id index under its own id, and every
 * id index and unique-key entry points at an existing object; each
 * bucket's running totals (object count, bytes) match its objects; every
 * object belongs to a live bucket or to one being purged; every catalog
 * name index entry points at its record. Reads only: safe beside a
 * running server.
 */
#ifndef TALLY_STORE_CHECK_H
#define TALLY_STORE_CHECK_H

#include <stdint.h>

#include "store/store.h"

/* Called once per problem found, with a one-line description. */
typedef void (*check_report_fn)(void *ctx, const char *problem);

struct check_counts {
    uint64_t buckets, objects, index_entries, problems;
};

/* 0 when the check ran (problems are counted and reported, not returned),
 * or an error that stopped it. */
int check_store(struct store *s, check_report_fn report, void *ctx,
                struct check_counts *counts, struct err *e);

#endif
