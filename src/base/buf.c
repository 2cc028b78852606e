#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"

void buf_init(struct buf *b)
{
    *b = (struct buf)BUF_INIT;
}

void buf_release(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *data = b->data;

    if (len != NULL)
        *len = b->len;
    buf_init(b);
    return data;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data != NULL)
        b->data[0] = '\0';
}

int buf_reserve(struct buf *b, size_t n)
{
    if (b->oom)
        return ERR_NOMEM;
    if (b->len + n < b->cap)
        return 0;

    size_t cap = b->cap ? b->cap : 64;
    while (cap <= b->len + n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return ERR_NOMEM;
        }
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        b->oom = true;
        return ERR_NOMEM;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0)
        return;

    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)n;
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void buf_truncate(struct buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}
