#include "base/ids.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int ids_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

/* Uniform over 62 symbols: randombytes_uniform rejects the biased tail. */
static void random_chars(char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = base62[randombytes_uniform(62)];
}

void ids_generate(const char *prefix, char out[IDS_MAX])
{
    size_t plen = strlen(prefix);

    memcpy(out, prefix, plen);
    random_chars(out + plen, IDS_RANDOM_CHARS);
    out[plen + IDS_RANDOM_CHARS] = '\0';
}

/* Base-62 digits of a 32-byte big-endian number, by repeated division. */
static size_t base62_of_bytes(uint8_t num[32], char *out)
{
    char rev[64];
    size_t n = 0;
    bool nonzero = true;

    while (nonzero && n < sizeof(rev)) {
        unsigned rem = 0;
        nonzero = false;
        for (int i = 0; i < 32; i++) {
            unsigned cur = rem * 256 + num[i];
            num[i] = (uint8_t)(cur / 62);
            rem = cur % 62;
            nonzero |= num[i] != 0;
        }
        rev[n++] = base62[rem];
    }
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    return n;
}

void ids_generate_key(char out[IDS_KEY_MAX])
{
    uint8_t secret[32];

    randombytes_buf(secret, sizeof(secret));
    memcpy(out, "sk_", 3);
    size_t n = base62_of_bytes(secret, out + 3);
    out[3 + n] = '\0';
    sodium_memzero(secret, sizeof(secret));
}

static bool is_base62(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z');
}

bool ids_has_form(const char *s, size_t n, const char *prefix)
{
    size_t plen = strlen(prefix);

    if (n <= plen || n - plen > IDS_MAX || memcmp(s, prefix, plen) != 0)
        return false;
    for (size_t i = plen; i < n; i++)
        if (!is_base62((unsigned char)s[i]))
            return false;
    return true;
}
