/*
 * utf8.h - UTF-8 validation (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF) and encoding.
 */
#ifndef TALLY_BASE_UTF8_H
#define TALLY_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (2-4) of the valid multi-byte sequence at s, reading at most n
 * bytes; 0 when s does not start a valid sequence. ASCII is not handled
 * here: callers test for c < 0x80 first. */
size_t utf8_sequence_len(const unsigned char *s, size_t n);

/* True when all n bytes of s are valid UTF-8. */
bool utf8_valid(const char *s, size_t n);

/* Encodes code point cp (not a surrogate, <= 0x10FFFF) into out; returns
 * the number of bytes written (1-4). */
size_t utf8_encode(uint32_t cp, char out[4]);

#endif
