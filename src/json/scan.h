/*
 * scan.h - private to src/json: finding the run of "plain" string bytes,
 * those a JSON string holds as they are in both directions: printable
 * ASCII other than '"' and '\\'. Everything else (quote, backslash,
 * control characters, bytes of multi-byte UTF-8) ends a run, and the
 * caller handles it one character at a time.
 *
 * Most strings in a document are short ASCII runs, so the scan looks at 16
 * bytes per step with SSE2 (part of every x86-64), or 8 bytes per step in
 * a portable word-at-a-time form elsewhere. Define TALLY_JSON_PORTABLE to
 * build the portable form on x86-64 too (the tests do, to cover it).
 */
#ifndef TALLY_JSON_SCAN_H
#define TALLY_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && !defined(TALLY_JSON_PORTABLE)
#include <emmintrin.h>
#define JSON_SCAN_SSE2 1
#endif

static inline int json_byte_is_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#ifdef JSON_SCAN_SSE2
/* Bit i set when byte i of v is not plain. Signed compare: bytes >= 0x80
 * are negative, so "less than 0x20" catches them with the controls. */
static inline unsigned json_scan_mask16(__m128i v)
{
    __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    __m128i low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));

    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(quote, backslash), low));
}
#else
/* Nonzero when some byte of the 8 in w is not plain. The subtraction
 * tricks may flag a byte above a truly flagged one, never a plain word. */
static inline uint64_t json_scan_word_special(uint64_t w)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    const uint64_t highs = UINT64_C(0x8080808080808080);
    uint64_t quote = w ^ (ones * '"');
    uint64_t backslash = w ^ (ones * '\\');
    uint64_t zero_quote = (quote - ones) & ~quote;
    uint64_t zero_backslash = (backslash - ones) & ~backslash;
    uint64_t below_space = (w - ones * 0x20) & ~w;

    return (zero_quote | zero_backslash | below_space | w) & highs;
}
#endif

/* Length of the run of plain bytes at p (p <= end). When copy is not
 * NULL the run is also copied there; copy must then have room for the
 * run plus 16 bytes, which the vector loop may overwrite. */
static inline size_t json_scan_plain(const unsigned char *p,
                                     const unsigned char *end, char *copy)
{
    const unsigned char *start = p;

#ifdef JSON_SCAN_SSE2
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        if (copy != NULL)
            _mm_storeu_si128((__m128i *)(void *)(copy + (p - start)), v);
        unsigned mask = json_scan_mask16(v);
        if (mask != 0)
            return (size_t)(p - start) + (size_t)__builtin_ctz(mask);
        p += 16;
    }
#else
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (json_scan_word_special(w) != 0)
            break;
        if (copy != NULL)
            memcpy(copy + (p - start), &w, 8);
        p += 8;
    }
#endif
    while (p < end && json_byte_is_plain(*p)) {
        if (copy != NULL)
            copy[p - start] = (char)*p;
        p++;
    }
    return (size_t)(p - start);
}

#endif
