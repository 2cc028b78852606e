/*
 * ccdict.c - the string dictionary of a cached column.
 *
 * Codes are handed out in order of first appearance and never change, so
 * a cell can hold a code and every version of the column shares one
 * dictionary. Entries live in fixed segments that never move: a reader
 * reads the string of any code it holds without a lock. Inserting (by the
 * thread that builds or updates the bucket's columns) and finding a code
 * by its string (by a query compiling a filter) take the mutex.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/ccdict.h"

/* TUNING: 64K entries per segment and 4096 segments: 268M strings per
 * column, 32 KiB of segment pointers per dictionary. */
#define SEG_BITS 16
#define SEG_SIZE (1u << SEG_BITS)
#define MAX_SEGS 4096
/* TUNING: strings are copied into 256 KiB blocks (fewer mallocs than one
 * per string, little waste for a small column). */
#define TEXT_BLOCK (256u << 10)

struct dict_entry {
    const char *s;
    uint32_t len;
    uint32_t hash;
};

struct text_block {
    struct text_block *next;
    size_t used, cap;
    char data[];
};

struct cc_dict {
    pthread_mutex_t mu;
    _Atomic uint64_t n;
    struct dict_entry *segs[MAX_SEGS];
    uint32_t *slots;         /* code + 1; 0 is empty */
    uint64_t nslots;
    struct text_block *text;
    _Atomic uint64_t bytes;
};

static uint32_t hash_string(const char *s, uint32_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;

    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return (uint32_t)(h ^ (h >> 32));
}

struct cc_dict *ccdict_new(void)
{
    struct cc_dict *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    pthread_mutex_init(&d->mu, NULL);
    d->bytes = sizeof(*d);
    return d;
}

void ccdict_free(struct cc_dict *d)
{
    if (d == NULL)
        return;
    for (int i = 0; i < MAX_SEGS && d->segs[i] != NULL; i++)
        free(d->segs[i]);
    for (struct text_block *b = d->text, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(d->slots);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

uint64_t ccdict_bytes(struct cc_dict *d)
{
    return atomic_load(&d->bytes);
}

const char *cc_dict_string(const struct cc_dict *d, uint64_t code,
                           uint32_t *len)
{
    const struct dict_entry *e = &d->segs[code >> SEG_BITS][code & (SEG_SIZE - 1)];
    *len = e->len;
    return e->s;
}

uint64_t cc_dict_size(struct cc_dict *d)
{
    return atomic_load_explicit(&d->n, memory_order_acquire);
}

/* The slot holding s, or the empty slot where it would go. */
static uint64_t probe(const struct cc_dict *d, const char *s, uint32_t len,
                      uint32_t h)
{
    uint64_t at = h & (d->nslots - 1);

    for (; d->slots[at] != 0; at = (at + 1) & (d->nslots - 1)) {
        uint64_t code = d->slots[at] - 1;
        const struct dict_entry *e =
            &d->segs[code >> SEG_BITS][code & (SEG_SIZE - 1)];
        if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0)
            return at;
    }
    return at;
}

int64_t cc_dict_find(struct cc_dict *d, const char *s, uint32_t len)
{
    int64_t code = -1;

    pthread_mutex_lock(&d->mu);
    if (d->nslots > 0) {
        uint64_t at = probe(d, s, len, hash_string(s, len));
        if (d->slots[at] != 0)
            code = (int64_t)d->slots[at] - 1;
    }
    pthread_mutex_unlock(&d->mu);
    return code;
}

static int grow_slots(struct cc_dict *d)
{
    uint64_t nslots = d->nslots ? d->nslots * 2 : 1024;
    uint32_t *slots = calloc(nslots, sizeof(*slots));
    uint64_t n = atomic_load(&d->n);

    if (slots == NULL)
        return -1;
    for (uint64_t code = 0; code < n; code++) {
        uint32_t h = d->segs[code >> SEG_BITS][code & (SEG_SIZE - 1)].hash;
        uint64_t at = h & (nslots - 1);
        while (slots[at] != 0)
            at = (at + 1) & (nslots - 1);
        slots[at] = (uint32_t)code + 1;
    }
    atomic_fetch_add(&d->bytes, (nslots - d->nslots) * sizeof(*slots));
    free(d->slots);
    d->slots = slots;
    d->nslots = nslots;
    return 0;
}

static const char *copy_text(struct cc_dict *d, const char *s, uint32_t len)
{
    struct text_block *b = d->text;

    if (b == NULL || b->cap - b->used < (size_t)len + 1) {
        size_t cap = len + 1 > TEXT_BLOCK ? (size_t)len + 1 : TEXT_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = d->text;
        d->text = b;
        atomic_fetch_add(&d->bytes, sizeof(*b) + cap);
    }
    char *out = b->data + b->used;
    memcpy(out, s, len);
    out[len] = '\0';
    b->used += (size_t)len + 1;
    return out;
}

static int64_t insert(struct cc_dict *d, const char *s, uint32_t len,
                      uint32_t h, uint64_t at)
{
    uint64_t code = atomic_load(&d->n);
    uint64_t seg = code >> SEG_BITS;

    if (seg >= MAX_SEGS || code >= UINT32_MAX - 1)
        return -1;
    if (d->segs[seg] == NULL) {
        d->segs[seg] = malloc(SEG_SIZE * sizeof(struct dict_entry));
        if (d->segs[seg] == NULL)
            return -1;
        atomic_fetch_add(&d->bytes, SEG_SIZE * sizeof(struct dict_entry));
    }
    const char *copy = copy_text(d, s, len);
    if (copy == NULL)
        return -1;
    d->segs[seg][code & (SEG_SIZE - 1)] = (struct dict_entry){copy, len, h};
    d->slots[at] = (uint32_t)code + 1;
    atomic_store_explicit(&d->n, code + 1, memory_order_release);
    return (int64_t)code;
}

int64_t ccdict_intern(struct cc_dict *d, const char *s, uint32_t len)
{
    uint32_t h = hash_string(s, len);
    int64_t code;

    pthread_mutex_lock(&d->mu);
    if ((atomic_load(&d->n) + 1) * 2 > d->nslots && grow_slots(d) != 0) {
        pthread_mutex_unlock(&d->mu);
        return -1;
    }
    uint64_t at = probe(d, s, len, h);
    code = d->slots[at] != 0 ? (int64_t)d->slots[at] - 1
                             : insert(d, s, len, h, at);
    pthread_mutex_unlock(&d->mu);
    return code;
}
