/*
 * changes.h - the list of changes a write transaction made, handed to the
 * store's observer after the commit. Private to the store.
 */
#ifndef TALLY_STORE_CHANGES_H
#define TALLY_STORE_CHANGES_H

#include <stddef.h>

#include "store/store.h"

struct store_changes {
    struct store_change *items;
    size_t count, cap;
};

void changes_init(struct store_changes *c);
void changes_release(struct store_changes *c);
int changes_add(struct store_changes *c, const struct store_change *change);

/* A mark to rewind to when a nested write fails. */
size_t changes_mark(const struct store_changes *c);
void changes_rewind(struct store_changes *c, size_t mark);

#endif
