#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* TUNING: 64 KiB blocks keep malloc calls rare for a typical request while
 * a tiny request wastes little. Larger requests get a block of their own. */
#define ARENA_BLOCK 65536

struct arena_block {
    struct arena_block *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a)
{
    memset(a, 0, sizeof(*a));
}

void arena_release(struct arena *a)
{
    struct arena_block *b = a->head;

    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena_init(a);
}

static struct arena_block *block_new(struct arena *a, size_t n)
{
    size_t cap = n > ARENA_BLOCK / 2 ? n : ARENA_BLOCK;
    struct arena_block *b = malloc(sizeof(*b) + cap);

    if (b == NULL)
        return NULL;
    b->cap = cap;
    b->used = 0;
    a->reserved += cap;

    /* A big private block goes behind the head so that the head's free
     * space stays available for the small allocations that follow. */
    if (a->head != NULL && cap != ARENA_BLOCK) {
        b->next = a->head->next;
        a->head->next = b;
    } else {
        b->next = a->head;
        a->head = b;
    }
    return b;
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    struct arena_block *b = a->head;

    if (need < n)
        return NULL;
    if (b == NULL || b->cap - b->used < need) {
        b = block_new(a, need);
        if (b == NULL)
            return NULL;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used += need;
    return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}
