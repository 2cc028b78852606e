/*
 * limits.h - the limits that protect the server from one aggregation.
 *
 * Each is configurable (tally serve --agg-max-groups ...); a request that
 * would pass one stops with an error naming it, never with a truncated
 * answer.
 */
#ifndef TALLY_QUERY_LIMITS_H
#define TALLY_QUERY_LIMITS_H

#include <stdint.h>

struct query_limits {
    uint64_t max_groups;          /* groups held at once */
    uint64_t max_memory_bytes;    /* push / add_to_set / count_distinct */
    uint64_t max_response_bytes;  /* encoded answer */
    uint64_t max_time_ms;         /* run time of one request */
};

/* TUNING: a million groups is past any dashboard and still a few hundred
 * megabytes at most; 256 MiB of collected values and a 64 MiB answer keep
 * one request from starving the others on a 24 GiB machine; 30 s is
 * longer than any benchmark query on 10M objects. */
#define QUERY_DEFAULT_MAX_GROUPS 1000000
#define QUERY_DEFAULT_MAX_MEMORY ((uint64_t)256 << 20)
#define QUERY_DEFAULT_MAX_RESPONSE ((uint64_t)64 << 20)
#define QUERY_DEFAULT_MAX_TIME_MS 30000

#endif
