#include <stdio.h>
#include <string.h>

#include "http/internal.h"

#define MAX_SEGMENTS 12

static int split(char *path, char **segs)
{
    int n = 0;
    char *p = path;

    while (*p == '/')
        p++;
    while (*p != '\0' && n < MAX_SEGMENTS) {
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return *p == '\0' || n < MAX_SEGMENTS ? n : -1;
}

/* Compares a pattern with the split path, collecting {param} segments. */
static bool pattern_matches(const char *pattern, char **segs, int nsegs,
                            const char **params, int *nparams)
{
    const char *p = pattern + 1;
    int i = 0;

    *nparams = 0;
    while (*p != '\0') {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i >= nsegs)
            return false;
        if (p[0] == '{') {
            if (segs[i][0] == '\0' || *nparams >= HTTP_MAX_PARAMS)
                return false;
            params[(*nparams)++] = segs[i];
        } else if (strlen(segs[i]) != len || memcmp(segs[i], p, len) != 0) {
            return false;
        }
        i++;
        p += len + (end != NULL);
    }
    return i == nsegs;
}

int http_router_match(const struct http_route *routes, size_t n,
                      const char *method, char *path, const char **params,
                      int *param_count, bool *method_mismatch)
{
    char *segs[MAX_SEGMENTS];
    const char *found[HTTP_MAX_PARAMS];
    int nfound;
    int nsegs = split(path, segs);

    *method_mismatch = false;
    if (nsegs < 0)
        return -1;
    for (size_t r = 0; r < n; r++) {
        if (!pattern_matches(routes[r].pattern, segs, nsegs, found, &nfound))
            continue;
        if (strcmp(routes[r].method, method) != 0) {
            *method_mismatch = true;
            continue;
        }
        memcpy(params, found, sizeof(found[0]) * (size_t)nfound);
        *param_count = nfound;
        return (int)r;
    }
    return -1;
}

const char *http_router_allowed(const struct http_route *routes, size_t n,
                                const char *path)
{
    static _Thread_local char allowed[128];
    char copy[2048], *segs[MAX_SEGMENTS];
    const char *params[HTTP_MAX_PARAMS];
    int nparams;

    snprintf(copy, sizeof(copy), "%s", path);
    int nsegs = split(copy, segs);
    allowed[0] = '\0';
    for (size_t r = 0; r < n && nsegs >= 0; r++) {
        if (!pattern_matches(routes[r].pattern, segs, nsegs, params, &nparams))
            continue;
        size_t len = strlen(allowed);
        snprintf(allowed + len, sizeof(allowed) - len, "%s%s",
                 len ? ", " : "", routes[r].method);
    }
    return allowed;
}
