/*
 * buf.h - a growable byte buffer (the project's string builder).
 *
 * Invariants: data is NULL or points to cap bytes; len < cap whenever
 * data is not NULL, and data[len] == '\0', so the contents can always be
 * read as a C string. A buffer whose allocation failed is "sticky": it
 * keeps its contents, sets oom, and ignores later appends, so a writer can
 * append many pieces and check once at the end.
 *
 * Ownership: buf_init() takes nothing; buf_release() frees the storage;
 * buf_detach() hands the storage to the caller (who frees it with free())
 * and leaves the buffer empty.
 */
#ifndef TALLY_BASE_BUF_H
#define TALLY_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
};

#define BUF_INIT {NULL, 0, 0, false}

void buf_init(struct buf *b);
void buf_release(struct buf *b);
char *buf_detach(struct buf *b, size_t *len);
void buf_reset(struct buf *b);

/* Makes room for n more bytes; 0 on success, ERR_NOMEM (sticky) else. */
int buf_reserve(struct buf *b, size_t n);

void buf_add(struct buf *b, const void *p, size_t n);
void buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
void buf_truncate(struct buf *b, size_t len);

static inline void buf_addc(struct buf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return;
    }
    buf_add(b, &c, 1);
}

static inline void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

#endif
