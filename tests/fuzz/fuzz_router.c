/*
 * fuzz_router.c - the router on its own: http_router_match() and
 * http_router_allowed() over the real route table, at a far higher rate
 * than the whole server (fuzz_http) can take inputs.
 *
 * The input is "METHOD PATH": the bytes before the first space are the
 * method, the rest the path (NUL-terminated copies, as libmicrohttpd
 * hands them over). Properties: a match names a route of that method
 * whose pattern has as many {params} as were returned, every param is a
 * non-empty segment inside the path buffer with no '/', and a 405 (path
 * known under another method) always has an Allow list.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "fuzz_common.h"
#include "http/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_params(const char *pattern)
{
    int n = 0;

    for (const char *p = pattern; *p != '\0'; p++)
        n += *p == '{';
    return n;
}

static void check_match(const struct http_route *routes, int r,
                        const char *method, const char *path, size_t len,
                        const char **params, int nparams)
{
    FUZZ_ASSERT(strcmp(routes[r].method, method) == 0,
                "route %d matched under method %s", r, method);
    FUZZ_ASSERT(nparams == count_params(routes[r].pattern), "%d params for %s",
                nparams, routes[r].pattern);
    for (int i = 0; i < nparams; i++) {
        FUZZ_ASSERT(params[i] >= path && params[i] < path + len,
                    "param %d outside the path", i);
        FUZZ_ASSERT(params[i][0] != '\0' && strchr(params[i], '/') == NULL,
                    "param %d is \"%s\"", i, params[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nroutes;
    const struct http_route *routes = api_routes(&nroutes);
    const uint8_t *space = memchr(data, ' ', size);
    size_t mlen = space ? (size_t)(space - data) : size;
    size_t plen = space ? size - mlen - 1 : 0;
    char *method = strndup((const char *)data, mlen);
    char *path = strndup(space ? (const char *)space + 1 : "", plen);
    char *original = strdup(path);
    const char *params[HTTP_MAX_PARAMS];
    int nparams = -1;
    bool mismatch = true;

    FUZZ_ASSERT(method && path && original, "out of memory");
    size_t len = strlen(path);
    int r = http_router_match(routes, nroutes, method, path, params, &nparams,
                              &mismatch);
    FUZZ_ASSERT(r >= -1 && r < (int)nroutes, "route %d", r);
    if (r >= 0)
        check_match(routes, r, method, path, len, params, nparams);
    const char *allowed = http_router_allowed(routes, nroutes, original);
    if (r < 0 && mismatch)
        FUZZ_ASSERT(allowed[0] != '\0' || len >= 2047,
                    "405 without an Allow list for %s", original);
    free(method);
    free(path);
    free(original);
    return 0;
}
