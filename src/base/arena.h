/*
 * arena.h - a region allocator: many small allocations, freed at once.
 *
 * One arena per request (or per query) holds everything that lives as
 * long as the request does; arena_release() frees it all. Allocations are
 * 16-byte aligned. A failed allocation returns NULL and leaves the arena
 * usable.
 */
#ifndef TALLY_BASE_ARENA_H
#define TALLY_BASE_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head;
    size_t used;       /* bytes handed out, for memory accounting */
    size_t reserved;   /* bytes obtained from malloc */
};

void arena_init(struct arena *a);
void arena_release(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);

#endif
