#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TUNING: a request rarely has more than a handful of problems; past this
 * many the client learns nothing new and the response only grows. */
#define ERR_PROBLEMS_MAX 200

struct err_code_info {
    int status;
    const char *type;
    const char *name;
};

static const struct err_code_info code_info[ERR_CODE_COUNT] = {
    [ERR_OK] = {200, "OK", "ok"},
    [ERR_NOMEM] = {500, "InternalServerError", "nomem"},
    [ERR_BAD_REQUEST] = {400, "BadRequestError", "bad_request"},
    [ERR_VALIDATION] = {422, "ValidationError", "validation"},
    [ERR_AUTH] = {401, "AuthenticationError", "auth"},
    [ERR_FORBIDDEN] = {403, "ForbiddenError", "forbidden"},
    [ERR_NOT_FOUND] = {404, "NotFoundError", "not_found"},
    [ERR_METHOD] = {405, "MethodNotAllowedError", "method"},
    [ERR_CONFLICT] = {409, "ConflictError", "conflict"},
    [ERR_TOO_LARGE] = {413, "PayloadTooLargeError", "too_large"},
    [ERR_LIMIT] = {400, "LimitExceededError", "limit"},
    [ERR_TIMEOUT] = {503, "TimeoutError", "timeout"},
    [ERR_UNAVAILABLE] = {503, "ServiceUnavailableError", "unavailable"},
    [ERR_FULL] = {507, "InsufficientStorageError", "full"},
    [ERR_IO] = {500, "InternalServerError", "io"},
    [ERR_CORRUPT] = {500, "InternalServerError", "corrupt"},
    [ERR_INTERNAL] = {500, "InternalServerError", "internal"},
};

void err_init(struct err *e)
{
    memset(e, 0, sizeof(*e));
}

void err_release(struct err *e)
{
    free(e->problems);
    err_init(e);
}

int err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
    if (e == NULL)
        return code;
    if (e->code != ERR_OK)
        return e->code;

    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

static struct err_problem *problem_append(struct err *e)
{
    if (e->problem_count == e->problem_cap) {
        size_t cap = e->problem_cap ? e->problem_cap * 2 : 4;
        struct err_problem *p = realloc(e->problems, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        e->problems = p;
        e->problem_cap = cap;
    }
    struct err_problem *pr = &e->problems[e->problem_count++];
    memset(pr, 0, sizeof(*pr));
    return pr;
}

static void loc_copy(struct err_problem *pr, const struct err_path *path,
                     const char *key)
{
    int n = path ? path->len : 0;

    for (int i = 0; i < n && pr->loc_len < ERR_LOC_MAX; i++) {
        struct err_loc_part *lp = &pr->loc[pr->loc_len++];
        if (path->parts[i].key == NULL) {
            lp->is_index = 1;
            lp->index = path->parts[i].index;
        } else {
            snprintf(lp->key, sizeof(lp->key), "%s", path->parts[i].key);
        }
    }
    if (key != NULL && pr->loc_len < ERR_LOC_MAX)
        snprintf(pr->loc[pr->loc_len++].key, sizeof(pr->loc[0].key), "%s",
                 key);
}

int err_problem(struct err *e, const struct err_path *path, const char *key,
                const char *type, const char *fmt, ...)
{
    if (e->code != ERR_OK && e->code != ERR_VALIDATION)
        return e->code;
    e->code = ERR_VALIDATION;
    if (e->problem_count >= ERR_PROBLEMS_MAX)
        return ERR_VALIDATION;

    struct err_problem *pr = problem_append(e);
    if (pr == NULL) {
        e->code = ERR_NOMEM;
        snprintf(e->msg, sizeof(e->msg), "out of memory while validating");
        return ERR_NOMEM;
    }
    loc_copy(pr, path, key);
    snprintf(pr->type, sizeof(pr->type), "%s", type);

    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pr->msg, sizeof(pr->msg), fmt, ap);
    va_end(ap);
    if (e->msg[0] == '\0')
        snprintf(e->msg, sizeof(e->msg), "%s", pr->msg);
    return ERR_VALIDATION;
}

int err_path_key(struct err_path *p, const char *key)
{
    int saved = p->len;
    if (p->len < ERR_LOC_MAX)
        p->parts[p->len++] = (struct err_path_part){.key = key};
    return saved;
}

int err_path_index(struct err_path *p, long index)
{
    int saved = p->len;
    if (p->len < ERR_LOC_MAX)
        p->parts[p->len++] = (struct err_path_part){.index = index};
    return saved;
}

void err_path_pop(struct err_path *p, int saved_len)
{
    p->len = saved_len;
}

int err_http_status(enum err_code code)
{
    if ((unsigned)code >= ERR_CODE_COUNT)
        return 500;
    return code_info[code].status;
}

const char *err_type_name(enum err_code code)
{
    if ((unsigned)code >= ERR_CODE_COUNT)
        return "InternalServerError";
    return code_info[code].type;
}

const char *err_code_name(enum err_code code)
{
    if ((unsigned)code >= ERR_CODE_COUNT)
        return "unknown";
    return code_info[code].name;
}

void err_describe(const struct err *e, char *out, size_t cap)
{
    size_t n = 0;

    if (cap == 0)
        return;
    out[0] = '\0';
    if (e->problem_count == 0) {
        snprintf(out, cap, "%s", e->msg);
        return;
    }
    for (size_t i = 0; i < e->problem_count && n + 1 < cap; i++) {
        const struct err_problem *p = &e->problems[i];
        n += (size_t)snprintf(out + n, cap - n, "%s", i ? "; " : "");
        /* The first location part is "body": the reader knows that. */
        for (int j = 1; j < p->loc_len && n + 1 < cap; j++) {
            if (p->loc[j].is_index)
                n += (size_t)snprintf(out + n, cap - n, "[%ld]",
                                      p->loc[j].index);
            else
                n += (size_t)snprintf(out + n, cap - n, "%s%s",
                                      j > 1 ? "." : "", p->loc[j].key);
        }
        if (n + 1 < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s%s",
                                  p->loc_len > 1 ? ": " : "", p->msg);
    }
}
