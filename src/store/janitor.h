/*
 * janitor.h - background removal of deleted buckets' objects.
 *
 * Deleting a bucket (or a namespace) removes its records at once, so
 * nothing of it is visible; its objects are then removed by this thread
 * in writes of bounded size, so that a delete of millions of objects
 * neither holds the writer for long nor outgrows one transaction.
 * Started by the server; resumes unfinished work after a restart.
 */
#ifndef TALLY_STORE_JANITOR_H
#define TALLY_STORE_JANITOR_H

#include "store/store.h"

int janitor_start(struct store *s);
void janitor_wake(void);
void janitor_stop(void);

#endif
