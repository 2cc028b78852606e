/*
 * filter_internal.h - the compiled form of a filter, shared by the
 * compiler and evaluator (filter.c) and the MongoDB writer
 * (filter_mongo.c). Private to src/query/.
 */
#ifndef TALLY_QUERY_FILTER_INTERNAL_H
#define TALLY_QUERY_FILTER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <bson/bson.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"

enum fop {
    OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE, OP_IN, OP_NIN, OP_EXISTS,
    OP_REGEX, OP_SIZE, OP_ALL, OP_ELEM_MATCH, OP_CONTAINS, OP_STARTS,
    OP_ENDS, OP_IS_NULL
};

enum fkind { FN_AND, FN_OR, FN_NOR, FN_PRED };

struct operand {
    bson_value_t v;          /* a view into the request */
    bool has_date;           /* v is an ISO 8601 string: its date */
    int64_t date_ms;
    pcre2_code *re;          /* regex, or caseless literal match */
};

struct fnode {
    enum fkind kind;
    struct fnode **kids;
    int nkids;

    /* FN_PRED */
    const char *path;
    const char **comps;
    int ncomps;
    enum fop op;
    struct operand *ops;
    int nops;
    bool flag;               /* $exists / is_null argument */
    int64_t size;            /* $size argument */
    const char *regex_src, *regex_opts;
    bool fold;               /* condition lists: caseless strings */
    bool path_is_date;       /* for the MongoDB form */
    struct fnode *sub;       /* $elemMatch: the query on each element */
    bool sub_on_value;       /* $elemMatch with operators: on the element */
};

struct filter {
    struct fnode *root;
    const bson_t *bucket;
    pcre2_code **regexes;    /* for filter_release */
    int nregex, cap_regex;
    struct arena *arena;
    _Atomic bool failed;
};

/* The verdict of predicate n for an object whose path ends on the single
 * non-array value v (NULL: the path is missing): what the column path
 * needs to agree with the row path. */
bool filter_pred_scalar(const struct filter *f, const struct fnode *n,
                        const bson_value_t *v);

#endif
