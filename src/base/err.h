/*
 * err.h - the one error convention of Tally.
 *
 * Every fallible function returns an int: 0 (ERR_OK) on success, one of
 * the enum err_code values otherwise, with results through out-parameters.
 * A function that can fail for a reason worth telling the user also takes
 * a struct err *, fills it and returns the same code, in one statement:
 *
 *     return err_set(e, ERR_NOT_FOUND, "bucket \"%s\" not found", name);
 *
 * A struct err may also collect validation problems (the FastAPI 422
 * shape): each has a location path, a lowercase message and a type
 * string. Validators add every problem they see and return
 * ERR_VALIDATION once at the end, so that the client hears about all
 * of them at once.
 *
 * Invariants:
 *  - err->code == ERR_OK  <=>  nothing has been reported.
 *  - The first err_set() wins: later calls keep the first message, so deep
 *    code can fail and callers can add context without clobbering it.
 *  - err_release() frees the problem list; a struct err on the stack must
 *    be released when problems may have been added.
 */
#ifndef TALLY_BASE_ERR_H
#define TALLY_BASE_ERR_H

#include <stddef.h>

enum err_code {
    ERR_OK = 0,
    ERR_NOMEM,        /* allocation failed                          500 */
    ERR_BAD_REQUEST,  /* malformed request (bad JSON, bad param)    400 */
    ERR_VALIDATION,   /* well-formed but invalid: see problems      422 */
    ERR_AUTH,         /* missing or unknown API key                 401 */
    ERR_FORBIDDEN,    /* key may not use this namespace             403 */
    ERR_NOT_FOUND,    /*                                            404 */
    ERR_METHOD,       /* route exists, method does not              405 */
    ERR_CONFLICT,     /* unique name or key already taken           409 */
    ERR_TOO_LARGE,    /* body over the configured limit             413 */
    ERR_LIMIT,        /* a configured work limit was reached        400 */
    ERR_TIMEOUT,      /* a configured time limit was reached        503 */
    ERR_UNAVAILABLE,  /* shutting down, overloaded                  503 */
    ERR_FULL,         /* the store or its disk is full              507 */
    ERR_IO,           /* the operating system refused               500 */
    ERR_CORRUPT,      /* stored data does not parse                 500 */
    ERR_INTERNAL,     /* a broken invariant, never the user's fault 500 */
    ERR_CODE_COUNT
};

#define ERR_MSG_MAX 320
#define ERR_LOC_MAX 12

/* One component of a location while it is being built: a key (borrowed,
 * valid while the validator runs) or, when key is NULL, an array index. */
struct err_path_part {
    const char *key;
    long index;
};

/* The same component once recorded in a problem: owned copies. */
struct err_loc_part {
    char key[96];
    long index;
    int is_index;
};

struct err_problem {
    struct err_loc_part loc[ERR_LOC_MAX];
    int loc_len;
    char msg[ERR_MSG_MAX];
    char type[48];
};

struct err {
    enum err_code code;
    char msg[ERR_MSG_MAX];
    char detail_field[64];    /* optional: names the offending field */
    struct err_problem *problems;
    size_t problem_count;
    size_t problem_cap;
};

/* A location path being built while validating a request. */
struct err_path {
    struct err_path_part parts[ERR_LOC_MAX];
    int len;
};

void err_init(struct err *e);
void err_release(struct err *e);

/* Records code and message unless an error is already recorded.
 * Returns the recorded code, so a caller can `return err_set(...)`. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds one validation problem at path + (optional) extra key. Sets
 * e->code to ERR_VALIDATION. Returns ERR_VALIDATION. When the problem
 * list cannot grow, the error degrades to ERR_NOMEM. */
int err_problem(struct err *e, const struct err_path *path, const char *key,
                const char *type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Path helpers: push returns the previous length to restore with pop. */
int err_path_key(struct err_path *p, const char *key);
int err_path_index(struct err_path *p, long index);
void err_path_pop(struct err_path *p, int saved_len);

/* One line for the error: its message, or its problems as
 * "metadata.size: must be of type integer; ...". */
void err_describe(const struct err *e, char *out, size_t cap);

/* HTTP status and upstream error type name for a code. */
int err_http_status(enum err_code code);
const char *err_type_name(enum err_code code);
const char *err_code_name(enum err_code code);

#endif
