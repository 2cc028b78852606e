#include "backend/internal.h"

int backend_clickhouse_new(struct store *s, const char *url,
                           const struct query_limits *lim,
                           struct backend **out, struct err *e)
{
    (void)s, (void)url, (void)lim;
    *out = NULL;
    return err_set(e, ERR_BAD_REQUEST, "clickhouse backend not built yet");
}
