/*
 * ccdict.h - the string dictionary of a cached column (private to the
 * column cache; readers use cc_dict_* from colcache.h).
 */
#ifndef TALLY_STORE_CCDICT_H
#define TALLY_STORE_CCDICT_H

#include <stdint.h>

#include "store/colcache.h"

struct cc_dict *ccdict_new(void);
void ccdict_free(struct cc_dict *d);
/* The code of s, added when new; -1 when out of memory or codes. */
int64_t ccdict_intern(struct cc_dict *d, const char *s, uint32_t len);
uint64_t ccdict_bytes(struct cc_dict *d);

#endif
