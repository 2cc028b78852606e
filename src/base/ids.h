/*
 * ids.h - identifiers and secrets made from the operating system's
 * random source (libsodium's randombytes, seeded from getrandom).
 *
 * Identifiers are a prefix ("ns_", "bkt_", "obj_", "blob_", "key_") and
 * IDS_RANDOM_CHARS base-62 characters (about 119 bits), uniformly drawn.
 * API keys are "sk_" and the base-62 form of 32 random bytes.
 */
#ifndef TALLY_BASE_IDS_H
#define TALLY_BASE_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define IDS_RANDOM_CHARS 20
#define IDS_MAX 32          /* longest identifier with its NUL */
#define IDS_KEY_MAX 64      /* longest API key with its NUL */

/* Initialises the random source; 0 on success. Call once at start. */
int ids_init(void);

/* Writes prefix + random characters + NUL into out (IDS_MAX bytes). */
void ids_generate(const char *prefix, char out[IDS_MAX]);

/* Writes a new secret API key into out (IDS_KEY_MAX bytes). */
void ids_generate_key(char out[IDS_KEY_MAX]);

/* True when s (n bytes) is prefix followed by 1..IDS_MAX base-62 chars. */
bool ids_has_form(const char *s, size_t n, const char *prefix);

#endif
