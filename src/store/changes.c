#include "store/changes.h"

#include <stdlib.h>

void changes_init(struct store_changes *c)
{
    c->items = NULL;
    c->count = c->cap = 0;
}

void changes_release(struct store_changes *c)
{
    free(c->items);
    changes_init(c);
}

int changes_add(struct store_changes *c, const struct store_change *change)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct store_change *p = realloc(c->items, cap * sizeof(*p));
        if (p == NULL)
            return ERR_NOMEM;
        c->items = p;
        c->cap = cap;
    }
    c->items[c->count++] = *change;
    return 0;
}

size_t changes_mark(const struct store_changes *c)
{
    return c->count;
}

void changes_rewind(struct store_changes *c, size_t mark)
{
    if (mark < c->count)
        c->count = mark;
}
