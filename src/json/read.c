/*
 * read.c - the JSON reader: text in, BSON out, in one pass.
 *
 * The reader descends recursively, one call per nesting level, and writes
 * each element as soon as it is read. BSON puts an element's type byte
 * before its key, but the type is known only once the value has been
 * read: each element reserves its type byte and patches it afterwards. A
 * document's length is patched when its closing bracket arrives.
 *
 * Output room. A string decodes to at most as many bytes as its text, so
 * before a string the reader makes room for the rest of the input plus
 * SCAN_SLACK; the scanner then copies without checking again. Other
 * writes are small and covered by ELEMENT_ROOM, reserved per element.
 *
 * Duplicate keys. Every key read in an object is remembered (signature,
 * offset, length) on a stack shared by the open objects. While an object
 * is small, each new key is compared with the earlier ones; a larger
 * object is checked once at its end, by sorting, so that a hostile object
 * with many keys costs n log n, not n^2. An object that holds a duplicate
 * is rebuilt at its end: each key stays where it first appeared, with the
 * value it was given last.
 */
#include "json/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/utf8.h"
#include "json/number.h"
#include "json/scan.h"

/* TUNING: the largest write that is not a string: type byte, an array
 * index key (10 digits and a NUL), an 8-byte value or a document header;
 * rounded up to a power of two. */
#define ELEMENT_ROOM 32

/* TUNING: the scanner's 16-byte stores may run 16 bytes past the decoded
 * text; the rest covers the string's NUL and its length prefix. */
#define SCAN_SLACK 32

/* TUNING: up to this many keys, a new key is compared with every earlier
 * key of its object (cheap 64-bit signature compares); measured documents
 * have 5 to 15 keys per object. Larger objects are sorted once. */
#define LINEAR_KEYS 32

/* TUNING: the key stack lives on the C stack up to this many entries
 * (2 KB), enough for the open objects of ordinary documents. */
#define KEYS_INLINE 64

#define NOT_A_DUPLICATE UINT32_MAX

/* One key of an open object. */
struct key_entry {
    uint64_t sig;      /* cheap function of the key's bytes */
    size_t off;        /* of the key's first byte in the output */
    uint32_t len;      /* without the NUL */
    uint32_t order;    /* position in its object */
    uint32_t winner;   /* rebuild: order of the element to keep here */
};

struct reader {
    const char *text;
    const char *p;             /* next byte to read */
    const char *end;
    struct buf *out;
    struct json_error *je;
    int depth;
    int max_depth;
    struct key_entry *keys;    /* keys_inline, or owned heap storage */
    size_t key_count;
    size_t key_cap;
    struct key_entry keys_inline[KEYS_INLINE];
};

static int read_value(struct reader *r, size_t type_at);

/* ---- errors and output ------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int
fail(struct reader *r, const char *at, const char *fmt, ...)
{
    va_list ap;

    r->je->offset = (size_t)(at - r->text);
    va_start(ap, fmt);
    vsnprintf(r->je->msg, sizeof r->je->msg, fmt, ap);
    va_end(ap);
    return ERR_BAD_REQUEST;
}

/* Fails with msg, or with "unexpected end of input" when the text ran out
 * (which is then the real problem). */
static int fail_expected(struct reader *r, const char *msg)
{
    if (r->p == r->end)
        return fail(r, r->p, "unexpected end of input");
    return fail(r, r->p, "%s", msg);
}

static int out_of_memory(struct reader *r)
{
    r->je->offset = (size_t)(r->p - r->text);
    snprintf(r->je->msg, sizeof r->je->msg, "out of memory");
    return ERR_NOMEM;
}

/* Makes room for n more output bytes. */
static inline int reserve(struct reader *r, size_t n)
{
    if (r->out->cap - r->out->len > n)
        return 0;
    return buf_reserve(r->out, n) == 0 ? 0 : out_of_memory(r);
}

static inline void put_le32(char *o, uint32_t v)
{
    o[0] = (char)v;
    o[1] = (char)(v >> 8);
    o[2] = (char)(v >> 16);
    o[3] = (char)(v >> 24);
}

static inline void put_le64(char *o, uint64_t v)
{
    put_le32(o, (uint32_t)v);
    put_le32(o + 4, (uint32_t)(v >> 32));
}

static inline void set_type(struct reader *r, size_t type_at, bson_type_t t)
{
    r->out->data[type_at] = (char)t;
}

static inline void skip_whitespace(struct reader *r)
{
    const char *p = r->p;

    while (p < r->end &&
           (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    r->p = p;
}

static inline bool next_is(struct reader *r, char c)
{
    return r->p < r->end && *r->p == c;
}

/* ---- strings ---------------------------------------------------------- */

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The code unit of "\uXXXX" at p, or -1 when it is not one. */
static long utf16_escape(const unsigned char *p, const unsigned char *end)
{
    long v = 0;

    if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    for (int i = 2; i < 6; i++) {
        int h = hex_digit(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Decodes "\uXXXX" (or a surrogate pair of them) at *pp into *oo. */
static int read_unicode_escape(struct reader *r, const unsigned char **pp,
                               char **oo, bool *has_nul)
{
    const unsigned char *p = *pp;
    const unsigned char *end = (const unsigned char *)r->end;
    long cp = utf16_escape(p, end);

    if (cp < 0)
        return fail(r, (const char *)p, "invalid \\u escape");
    size_t used = 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(r, (const char *)p, "lone low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long low = utf16_escape(p + 6, end);
        if (low < 0xDC00 || low > 0xDFFF)
            return fail(r, (const char *)p,
                        "high surrogate not followed by a low surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        used = 12;
    }

    if (cp == 0)
        *has_nul = true;
    *oo += utf8_encode((uint32_t)cp, *oo);
    *pp = p + used;
    return 0;
}

/* Decodes the escape sequence at *pp (a backslash) into *oo. */
static int read_escape(struct reader *r, const unsigned char **pp, char **oo,
                       bool *has_nul)
{
    const unsigned char *p = *pp;
    char c;

    if ((const char *)p + 1 == r->end)
        return fail(r, r->end, "unexpected end of input");
    switch (p[1]) {
    case '"':  c = '"'; break;
    case '\\': c = '\\'; break;
    case '/':  c = '/'; break;
    case 'b':  c = '\b'; break;
    case 'f':  c = '\f'; break;
    case 'n':  c = '\n'; break;
    case 'r':  c = '\r'; break;
    case 't':  c = '\t'; break;
    case 'u':  return read_unicode_escape(r, pp, oo, has_nul);
    default:   return fail(r, (const char *)p, "invalid escape sequence");
    }
    *(*oo)++ = c;
    *pp = p + 2;
    return 0;
}

/* Copies one UTF-8 character (first byte >= 0x80) from *pp to *oo. */
static int read_utf8_char(struct reader *r, const unsigned char **pp,
                          char **oo)
{
    const unsigned char *p = *pp;
    size_t n = utf8_sequence_len(p, (size_t)((const unsigned char *)r->end - p));

    if (n == 0)
        return fail(r, (const char *)p, "invalid utf-8 in string");
    memcpy(*oo, p, n);
    *oo += n;
    *pp = p + n;
    return 0;
}

/* Decodes the string whose opening quote is at r->p into the output (no
 * NUL added) and leaves r->p past the closing quote. *has_nul tells
 * whether the text escaped a U+0000. */
static int read_chars(struct reader *r, bool *has_nul)
{
    const unsigned char *p = (const unsigned char *)r->p + 1;
    const unsigned char *end = (const unsigned char *)r->end;
    int rc = reserve(r, (size_t)(end - p) + SCAN_SLACK);
    if (rc != 0)
        return rc;

    char *o = r->out->data + r->out->len;
    *has_nul = false;
    for (;;) {
        size_t n = json_scan_plain(p, end, o);
        p += n;
        o += n;
        if (p == end)
            return fail(r, r->end, "unterminated string");
        if (*p == '"')
            break;
        if (*p == '\\')
            rc = read_escape(r, &p, &o, has_nul);
        else if (*p < 0x20)
            rc = fail(r, (const char *)p, "control character in string");
        else
            rc = read_utf8_char(r, &p, &o);
        if (rc != 0)
            return rc;
    }

    r->out->len = (size_t)(o - r->out->data);
    r->p = (const char *)p + 1;
    return 0;
}

/* A string value: int32 length (with the NUL), bytes, NUL. */
static int read_string(struct reader *r)
{
    size_t len_at = r->out->len;
    const char *start = r->p;
    bool has_nul;

    r->out->len += 4;
    int rc = read_chars(r, &has_nul);
    if (rc != 0)
        return rc;

    r->out->data[r->out->len++] = '\0';
    size_t size = r->out->len - len_at - 4;
    if (size > INT32_MAX)
        return fail(r, start, "string too long");
    put_le32(r->out->data + len_at, (uint32_t)size);
    return 0;
}

/* ---- duplicate keys --------------------------------------------------- */

static uint64_t key_signature(const char *key, size_t n)
{
    uint64_t head = 0, tail = 0;

    if (n >= 8) {
        memcpy(&head, key, 8);
        memcpy(&tail, key + n - 8, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            head = head << 8 | (unsigned char)key[i];
    }
    /* TUNING: an odd multiplier mixes the tail's bytes across the word so
     * that head and tail do not cancel; the value is 2^64 / phi. */
    return (head ^ (tail * UINT64_C(0x9E3779B97F4A7C15))) + n;
}

static int grow_keys(struct reader *r)
{
    size_t cap = r->key_cap * 2;
    struct key_entry *keys;

    if (r->keys == r->keys_inline) {
        keys = malloc(cap * sizeof *keys);
        if (keys != NULL)
            memcpy(keys, r->keys, r->key_count * sizeof *keys);
    } else {
        keys = realloc(r->keys, cap * sizeof *keys);
    }
    if (keys == NULL)
        return out_of_memory(r);
    r->keys = keys;
    r->key_cap = cap;
    return 0;
}

static bool same_key(const struct reader *r, const struct key_entry *a,
                     const struct key_entry *b)
{
    return a->sig == b->sig && a->len == b->len &&
           memcmp(r->out->data + a->off, r->out->data + b->off, a->len) == 0;
}

/* Pushes the key just written at off onto the key stack of the object
 * whose keys start at base; sets *dup when a small object already has it. */
static int remember_key(struct reader *r, size_t base, size_t off,
                        size_t len, bool *dup)
{
    if (r->key_count == r->key_cap) {
        int rc = grow_keys(r);
        if (rc != 0)
            return rc;
    }

    size_t order = r->key_count - base;
    struct key_entry *e = &r->keys[r->key_count++];
    *e = (struct key_entry){
        .sig = key_signature(r->out->data + off, len),
        .off = off,
        .len = (uint32_t)len,
        .order = (uint32_t)order,
    };
    if (order < LINEAR_KEYS) {
        for (struct key_entry *k = &r->keys[base]; k < e; k++) {
            if (same_key(r, k, e)) {
                *dup = true;
                break;
            }
        }
    }
    return 0;
}

static int compare_by_name(const void *a, const void *b, void *data)
{
    const struct key_entry *x = a, *y = b;
    const char *base = data;

    if (x->sig != y->sig)
        return x->sig < y->sig ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int c = memcmp(base + x->off, base + y->off, x->len);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int compare_by_order(const void *a, const void *b, void *data)
{
    const struct key_entry *x = a, *y = b;

    (void)data;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* With keys sorted by name, marks in each group of equal keys the first
 * one to keep the value of the last, the others to go. Returns whether
 * any key occurred twice. */
static bool mark_winners(const struct reader *r, struct key_entry *keys,
                         size_t n)
{
    bool dup = false;

    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && same_key(r, &keys[i], &keys[j]))
            keys[j++].winner = NOT_A_DUPLICATE;
        keys[i].winner = keys[j - 1].order;
        dup |= j - i > 1;
        i = j;
    }
    return dup;
}

/* Rewrites the elements of the object whose first element is at body
 * (keys sorted by order, winners marked): the new body is built past the
 * output's end, then moved into place. */
static int rebuild_object(struct reader *r, size_t body, struct key_entry *keys,
                          size_t n)
{
    size_t body_end = r->out->len;
    int rc = reserve(r, body_end - body);
    if (rc != 0)
        return rc;

    char *data = r->out->data;
    size_t o = body_end;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].winner == NOT_A_DUPLICATE)
            continue;
        size_t w = keys[i].winner;
        size_t from = keys[w].off - 1;
        size_t to = w + 1 < n ? keys[w + 1].off - 1 : body_end;
        memcpy(data + o, data + from, to - from);
        o += to - from;
    }

    memmove(data + body, data + body_end, o - body_end);
    r->out->len = body + (o - body_end);
    return 0;
}

/* Called when an object's members are all read: drops duplicate keys if
 * the object may hold some. */
static int settle_keys(struct reader *r, size_t start, size_t base, bool dup)
{
    struct key_entry *keys = &r->keys[base];
    size_t n = r->key_count - base;

    if (!dup && n <= LINEAR_KEYS)
        return 0;

    qsort_r(keys, n, sizeof *keys, compare_by_name, r->out->data);
    if (!mark_winners(r, keys, n))
        return 0;
    qsort_r(keys, n, sizeof *keys, compare_by_order, NULL);
    return rebuild_object(r, start + 4, keys, n);
}

/* ---- containers ------------------------------------------------------- */

/* Enters the object or array whose bracket is at r->p and writes the
 * room for its length. */
static int enter(struct reader *r)
{
    if (r->depth >= r->max_depth)
        return fail(r, r->p,
                    "nesting deeper than %d levels (server option "
                    "--max-json-depth)",
                    r->max_depth);
    r->depth++;
    r->p++;
    r->out->len += 4;
    skip_whitespace(r);
    return 0;
}

/* Ends the document that starts at start: trailing NUL, length. */
static int close_document(struct reader *r, size_t start)
{
    int rc = reserve(r, 1);
    if (rc != 0)
        return rc;

    r->out->data[r->out->len++] = '\0';
    size_t size = r->out->len - start;
    if (size > INT32_MAX)
        return fail(r, r->p, "document too large");
    put_le32(r->out->data + start, (uint32_t)size);
    return 0;
}

/* Leaves the object or array that starts at start, past its bracket. */
static int leave(struct reader *r, size_t start)
{
    r->p++;
    r->depth--;
    return close_document(r, start);
}

/* One "key": value member of the object whose keys start at base. */
static int read_member(struct reader *r, size_t base, bool *dup)
{
    const char *key_start = r->p;
    bool has_nul;

    if (!next_is(r, '"'))
        return fail_expected(r, "expected a string key");
    int rc = reserve(r, 1);
    if (rc != 0)
        return rc;
    size_t type_at = r->out->len++;
    rc = read_chars(r, &has_nul);
    if (rc != 0)
        return rc;
    if (has_nul)
        return fail(r, key_start, "object key contains u+0000");

    size_t key_len = r->out->len - type_at - 1;
    r->out->data[r->out->len++] = '\0';
    rc = remember_key(r, base, type_at + 1, key_len, dup);
    if (rc != 0)
        return rc;

    skip_whitespace(r);
    if (!next_is(r, ':'))
        return fail_expected(r, "expected ':' after an object key");
    r->p++;
    skip_whitespace(r);
    return read_value(r, type_at);
}

static int read_object(struct reader *r)
{
    size_t start = r->out->len;
    size_t base = r->key_count;
    bool dup = false;

    int rc = enter(r);
    if (rc == 0 && next_is(r, '}'))
        return leave(r, start);
    while (rc == 0) {
        rc = read_member(r, base, &dup);
        if (rc != 0)
            break;
        skip_whitespace(r);
        if (next_is(r, ',')) {
            r->p++;
            skip_whitespace(r);
        } else if (next_is(r, '}')) {
            rc = settle_keys(r, start, base, dup);
            r->key_count = base;
            return rc != 0 ? rc : leave(r, start);
        } else {
            rc = fail_expected(r, "expected ',' or '}' after an object member");
        }
    }
    return rc;
}

/* Writes the key of array element i ("0", "1", ...) and its NUL. */
static void put_index_key(struct reader *r, uint32_t i)
{
    char digits[10];
    size_t n = 0;
    char *o = r->out->data + r->out->len;

    do {
        digits[n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i != 0);
    for (size_t k = 0; k < n; k++)
        o[k] = digits[n - 1 - k];
    o[n] = '\0';
    r->out->len += n + 1;
}

static int read_array(struct reader *r)
{
    size_t start = r->out->len;

    int rc = enter(r);
    if (rc == 0 && next_is(r, ']'))
        return leave(r, start);
    for (uint32_t i = 0; rc == 0; i++) {
        rc = reserve(r, ELEMENT_ROOM);
        if (rc != 0)
            break;
        size_t element_at = r->out->len++;
        put_index_key(r, i);
        rc = read_value(r, element_at);
        if (rc != 0)
            break;
        skip_whitespace(r);
        if (next_is(r, ',')) {
            r->p++;
            skip_whitespace(r);
        } else if (next_is(r, ']')) {
            return leave(r, start);
        } else {
            rc = fail_expected(r, "expected ',' or ']' after an array element");
        }
    }
    return rc;
}

/* ---- scalars ---------------------------------------------------------- */

static int read_literal(struct reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return fail(r, r->p, "invalid literal");
    r->p += n;
    return 0;
}

static int read_bool(struct reader *r, bool v)
{
    r->out->data[r->out->len++] = v;
    return v ? read_literal(r, "true", 4) : read_literal(r, "false", 5);
}

static int read_number(struct reader *r, size_t type_at)
{
    struct json_number num;
    const char *stop, *msg;
    int rc = json_number_read(r->p, r->end, r->out, &num, &stop, &msg);

    if (rc == ERR_BAD_REQUEST)
        return fail(r, stop, "%s", msg);
    if (rc != 0)
        return out_of_memory(r);
    r->p = stop;

    char *o = r->out->data + r->out->len;
    if (num.is_int && num.i >= INT32_MIN && num.i <= INT32_MAX) {
        set_type(r, type_at, BSON_TYPE_INT32);
        put_le32(o, (uint32_t)num.i);
        r->out->len += 4;
    } else if (num.is_int) {
        set_type(r, type_at, BSON_TYPE_INT64);
        put_le64(o, (uint64_t)num.i);
        r->out->len += 8;
    } else {
        uint64_t bits;
        memcpy(&bits, &num.d, sizeof bits);
        set_type(r, type_at, BSON_TYPE_DOUBLE);
        put_le64(o, bits);
        r->out->len += 8;
    }
    return 0;
}

/* Reads the value at r->p (whitespace skipped), patching its type into
 * the byte at type_at. */
static int read_value(struct reader *r, size_t type_at)
{
    if (r->p == r->end)
        return fail(r, r->p, "unexpected end of input");
    int rc = reserve(r, ELEMENT_ROOM);
    if (rc != 0)
        return rc;

    switch (*r->p) {
    case '"':
        set_type(r, type_at, BSON_TYPE_UTF8);
        return read_string(r);
    case '{':
        set_type(r, type_at, BSON_TYPE_DOCUMENT);
        return read_object(r);
    case '[':
        set_type(r, type_at, BSON_TYPE_ARRAY);
        return read_array(r);
    case 't':
    case 'f':
        set_type(r, type_at, BSON_TYPE_BOOL);
        return read_bool(r, *r->p == 't');
    case 'n':
        set_type(r, type_at, BSON_TYPE_NULL);
        return read_literal(r, "null", 4);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return read_number(r, type_at);
    default:
        return fail(r, r->p, "expected a value");
    }
}

/* ---- top level -------------------------------------------------------- */

/* The text must be one object; it becomes the document itself. */
static int read_top_object(struct reader *r)
{
    skip_whitespace(r);
    if (!next_is(r, '{'))
        return fail_expected(r, "expected a json object");
    return read_object(r);
}

/* Any value, written as the document {wrap_key: value}. */
static int read_wrapped(struct reader *r, const char *wrap_key)
{
    size_t key_len = strlen(wrap_key);
    int rc = reserve(r, 4 + 1 + key_len + 1 + ELEMENT_ROOM);
    if (rc != 0)
        return rc;

    size_t start = r->out->len;
    size_t type_at = start + 4;
    memcpy(r->out->data + type_at + 1, wrap_key, key_len + 1);
    r->out->len = type_at + 1 + key_len + 1;

    skip_whitespace(r);
    rc = read_value(r, type_at);
    return rc != 0 ? rc : close_document(r, start);
}

static void reader_init(struct reader *r, const char *text, size_t n,
                        const struct json_opts *opts, struct buf *out,
                        struct json_error *je)
{
    int depth = opts != NULL ? opts->max_depth : 0;

    r->text = text;
    r->p = text;
    r->end = text + n;
    r->out = out;
    r->je = je;
    r->depth = 0;
    r->max_depth = depth <= 0 ? JSON_DEFAULT_MAX_DEPTH
                 : depth > JSON_MAX_DEPTH_LIMIT ? JSON_MAX_DEPTH_LIMIT
                 : depth;
    r->keys = r->keys_inline;
    r->key_count = 0;
    r->key_cap = KEYS_INLINE;
}

static void reader_release(struct reader *r)
{
    if (r->keys != r->keys_inline)
        free(r->keys);
}

/* TUNING: BSON is about as long as compact JSON text (keys lose their
 * quotes, short strings gain a length); reserving the text's length plus
 * a little avoids regrowth for ordinary documents. */
#define INITIAL_ROOM(n) ((n) + 64)

int json_parse(const char *text, size_t n, const struct json_opts *opts,
               struct buf *out, struct json_error *je)
{
    struct json_error unused;
    struct reader r;
    size_t entry_len = out->len;
    const char *wrap_key = opts != NULL ? opts->wrap_key : NULL;

    if (out->oom)
        return ERR_NOMEM;
    if (text == NULL)
        text = "";
    reader_init(&r, text, n, opts, out, je != NULL ? je : &unused);

    int rc = reserve(&r, INITIAL_ROOM(n));
    if (rc == 0)
        rc = wrap_key != NULL ? read_wrapped(&r, wrap_key)
                              : read_top_object(&r);
    if (rc == 0) {
        skip_whitespace(&r);
        if (r.p != r.end)
            rc = fail(&r, r.p, "unexpected text after the json value");
    }
    reader_release(&r);

    if (rc != 0) {
        out->oom = false;
        out->len = entry_len;
    }
    if (out->data != NULL)
        out->data[out->len] = '\0';
    return rc;
}
