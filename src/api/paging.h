/*
 * paging.h - the pagination of list endpoints.
 *
 * ?limit= (1-1000), ?offset= (0-10000), ?cursor=, ?include_total= as
 * upstream. A cursor is opaque to clients: the base64url form of a small
 * BSON document holding the last row's sort value and a tie-breaker (the
 * row's id or insertion sequence), so that following cursors continues
 * after that row whatever was written in the meantime.
 */
#ifndef TALLY_API_PAGING_H
#define TALLY_API_PAGING_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/internal.h"

#define PAGE_TIE_MAX BACKEND_TIE_MAX

struct page_pos {
    bool has_value;
    bson_value_t value;          /* owned copy; bson_value_destroy'd */
    unsigned char tie[PAGE_TIE_MAX];
    size_t tie_len;
};

struct page_params {
    uint64_t limit, offset;
    bool include_total;
    bool has_cursor;
    struct page_pos after;
};

/* Reads the query parameters (and, for bucket lists, body limit/offset
 * as fallbacks). 0, or a problem in c->err. */
int page_params_read(struct api_ctx *c, uint64_t default_limit,
                     struct page_params *p);
void page_params_release(struct page_params *p);

/* base64url cursor for a row; out must hold 512 bytes. */
void page_cursor_encode(const bson_value_t *value, const void *tie,
                        size_t tie_len, char *out, size_t cap);

/* Compares a row (value, tie) with the cursor position: > 0 when the row
 * comes after it in ascending order. */
int page_pos_compare(const struct page_pos *pos, const bson_value_t *value,
                     const void *tie, size_t tie_len);

/* Writes "pagination": {...}; total < 0 means unknown. */
void page_write(struct jw *w, const struct page_params *p, int64_t total,
                const char *next_cursor);

#endif
