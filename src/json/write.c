/*
 * write.c - the JSON writer: the jw_* streaming API, JSON strings, and
 * BSON values as JSON.
 *
 * The writer keeps, per open level, whether it is an object and whether
 * anything has been written in it yet; that is all it needs to place
 * commas and colons and to catch misuse, which is a bug in the caller.
 *
 * BSON types without a JSON counterpart. Tally's own reader never stores
 * them, but a document restored from elsewhere might hold them; each one
 * is written so that a client still gets valid JSON with what it can use:
 *   binary            base64 string (RFC 4648, padded)
 *   ObjectId          24 lowercase hex digits
 *   decimal128        its exact decimal string ("1.10", "NaN"), as a
 *                     string so that no digit is lost to a double
 *   regex             "/pattern/options"
 *   code, symbol,
 *   code with scope   the code or symbol text (the scope is dropped)
 *   timestamp, undefined, DBPointer, min key, max key, and any type this
 *   libbson does not know: null
 * A date outside the years 0000-9999, which RFC 3339 cannot name, is null.
 * A document or array nested deeper than JSON_WRITER_MAX_DEPTH, or one
 * whose bytes do not parse, is written as null too: the data is damaged,
 * not the caller wrong, so the writer must not abort.
 */
#include "json/json.h"

#include <math.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/utf8.h"
#include "json/number.h"
#include "json/scan.h"

/* ---- strings ---------------------------------------------------------- */

static const char replacement_char[] = "\xEF\xBF\xBD"; /* U+FFFD */

static void write_escape(struct buf *out, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

    switch (c) {
    case '"':  buf_add(out, "\\\"", 2); return;
    case '\\': buf_add(out, "\\\\", 2); return;
    case '\b': buf_add(out, "\\b", 2); return;
    case '\f': buf_add(out, "\\f", 2); return;
    case '\n': buf_add(out, "\\n", 2); return;
    case '\r': buf_add(out, "\\r", 2); return;
    case '\t': buf_add(out, "\\t", 2); return;
    default:   buf_add(out, esc, sizeof esc); return;
    }
}

void json_write_string(struct buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + n;

    /* Plain text grows by the two quotes only: one reservation. */
    if (buf_reserve(out, n + 2) != 0)
        return;
    buf_addc(out, '"');
    while (p < end) {
        size_t plain = json_scan_plain(p, end, NULL);
        buf_add(out, p, plain);
        p += plain;
        if (p == end)
            break;
        if (*p < 0x80) {
            write_escape(out, *p++);
            continue;
        }
        size_t len = utf8_sequence_len(p, (size_t)(end - p));
        if (len != 0) {
            buf_add(out, p, len);
            p += len;
        } else {
            buf_add(out, replacement_char, 3);
            p++;
        }
    }
    buf_addc(out, '"');
}

/* ---- the streaming writer --------------------------------------------- */

/* The dates RFC 3339 can name: years 0000 to 9999, as milliseconds since
 * the epoch (0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z). */
#define RFC3339_FIRST_MS INT64_C(-62167219200000)
#define RFC3339_LAST_MS INT64_C(253402300799999)

void jw_init(struct jw *w, struct buf *out)
{
    w->out = out;
    w->depth = 0;
    w->key_due[0] = false;
    w->first[0] = true;
    w->after_key = false;
}

/* Writes what must precede a value at the current level: nothing after a
 * key, a comma between array elements. */
static void before_value(struct jw *w)
{
    int d = w->depth;

    if (w->key_due[d]) {
        if (!w->after_key)
            BUG("json writer: a value where a key is due");
        w->after_key = false;
        return;
    }
    if (!w->first[d]) {
        if (d == 0)
            BUG("json writer: a second top-level value");
        buf_addc(w->out, ',');
    }
    w->first[d] = false;
}

static void open_level(struct jw *w, char bracket, bool is_object)
{
    before_value(w);
    if (w->depth == JSON_WRITER_MAX_DEPTH)
        BUG("json writer: nesting deeper than %d", JSON_WRITER_MAX_DEPTH);
    buf_addc(w->out, bracket);
    w->depth++;
    w->key_due[w->depth] = is_object;
    w->first[w->depth] = true;
}

static void close_level(struct jw *w, char bracket, bool is_object)
{
    if (w->depth == 0 || w->key_due[w->depth] != is_object || w->after_key)
        BUG("json writer: unbalanced '%c'", bracket);
    buf_addc(w->out, bracket);
    w->depth--;
}

void jw_object_begin(struct jw *w)
{
    open_level(w, '{', true);
}

void jw_object_end(struct jw *w)
{
    close_level(w, '}', true);
}

void jw_array_begin(struct jw *w)
{
    open_level(w, '[', false);
}

void jw_array_end(struct jw *w)
{
    close_level(w, ']', false);
}

void jw_keyn(struct jw *w, const char *key, size_t n)
{
    int d = w->depth;

    if (!w->key_due[d] || w->after_key)
        BUG("json writer: a key outside an object or after a key");
    if (!w->first[d])
        buf_addc(w->out, ',');
    w->first[d] = false;
    json_write_string(w->out, key, n);
    buf_addc(w->out, ':');
    w->after_key = true;
}

void jw_key(struct jw *w, const char *key)
{
    jw_keyn(w, key, strlen(key));
}

void jw_stringn(struct jw *w, const char *s, size_t n)
{
    before_value(w);
    json_write_string(w->out, s, n);
}

void jw_string(struct jw *w, const char *s)
{
    jw_stringn(w, s, strlen(s));
}

void jw_raw(struct jw *w, const char *json, size_t n)
{
    before_value(w);
    buf_add(w->out, json, n);
}

void jw_int(struct jw *w, int64_t v)
{
    char text[24];

    jw_raw(w, text, json_format_int64(v, text));
}

void jw_double(struct jw *w, double v)
{
    char text[32];

    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    jw_raw(w, text, json_format_double(v, text, true));
}

void jw_bool(struct jw *w, bool v)
{
    if (v)
        jw_raw(w, "true", 4);
    else
        jw_raw(w, "false", 5);
}

void jw_null(struct jw *w)
{
    jw_raw(w, "null", 4);
}

void jw_date(struct jw *w, int64_t ms)
{
    char text[32];

    if (ms < RFC3339_FIRST_MS || ms > RFC3339_LAST_MS) {
        jw_null(w);
        return;
    }
    jw_stringn(w, text, clock_format_ms(ms, text));
}

/* ---- BSON values ------------------------------------------------------ */

static void write_base64(struct jw *w, const uint8_t *data, uint32_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct buf *out = w->out;

    before_value(w);
    buf_addc(out, '"');
    for (uint32_t i = 0; i < n; i += 3) {
        uint32_t left = n - i;
        uint32_t v = (uint32_t)data[i] << 16;
        if (left > 1)
            v |= (uint32_t)data[i + 1] << 8;
        if (left > 2)
            v |= data[i + 2];
        char quad[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63],
                        left > 1 ? alphabet[(v >> 6) & 63] : '=',
                        left > 2 ? alphabet[v & 63] : '='};
        buf_add(out, quad, 4);
    }
    buf_addc(out, '"');
}

static void write_regex(struct jw *w, const bson_iter_t *it)
{
    const char *options;
    const char *pattern = bson_iter_regex(it, &options);
    struct buf text = BUF_INIT;

    buf_addf(&text, "/%s/%s", pattern, options);
    jw_stringn(w, text.data != NULL ? text.data : "", text.len);
    buf_release(&text);
}

/* The types listed at the top of this file. */
static void write_exotic(struct jw *w, const bson_iter_t *it)
{
    const char *code;
    uint32_t n;

    switch (bson_iter_type(it)) {
    case BSON_TYPE_BINARY: {
        const uint8_t *data;
        bson_subtype_t subtype;
        bson_iter_binary(it, &subtype, &n, &data);
        write_base64(w, data, n);
        return;
    }
    case BSON_TYPE_OID: {
        char hex[25];
        bson_oid_to_string(bson_iter_oid(it), hex);
        jw_stringn(w, hex, 24);
        return;
    }
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t dec;
        char text[BSON_DECIMAL128_STRING];
        bson_iter_decimal128(it, &dec);
        bson_decimal128_to_string(&dec, text);
        jw_string(w, text);
        return;
    }
    case BSON_TYPE_REGEX:
        write_regex(w, it);
        return;
    /* The text first, then its length: the call sets n. */
    case BSON_TYPE_CODE:
        code = bson_iter_code(it, &n);
        jw_stringn(w, code, n);
        return;
    case BSON_TYPE_SYMBOL:
        code = bson_iter_symbol(it, &n);
        jw_stringn(w, code, n);
        return;
    case BSON_TYPE_CODEWSCOPE: {
        uint32_t scope_len;
        const uint8_t *scope;
        code = bson_iter_codewscope(it, &n, &scope_len, &scope);
        jw_stringn(w, code, n);
        return;
    }
    default:
        jw_null(w);
        return;
    }
}

/* A document or array as an object or array. */
static void write_container(struct jw *w, const bson_iter_t *it,
                            bool is_object)
{
    bson_iter_t child;

    if (w->depth == JSON_WRITER_MAX_DEPTH || !bson_iter_recurse(it, &child)) {
        jw_null(w);
        return;
    }
    open_level(w, is_object ? '{' : '[', is_object);
    while (bson_iter_next(&child)) {
        if (is_object)
            jw_keyn(w, bson_iter_key(&child), bson_iter_key_len(&child));
        jw_bson_value(w, &child);
    }
    close_level(w, is_object ? '}' : ']', is_object);
}

void jw_bson_value(struct jw *w, const bson_iter_t *it)
{
    uint32_t n;

    switch (bson_iter_type(it)) {
    case BSON_TYPE_DOUBLE:
        jw_double(w, bson_iter_double(it));
        return;
    case BSON_TYPE_UTF8: {
        const char *s = bson_iter_utf8(it, &n);
        jw_stringn(w, s, n);
        return;
    }
    case BSON_TYPE_DOCUMENT:
        write_container(w, it, true);
        return;
    case BSON_TYPE_ARRAY:
        write_container(w, it, false);
        return;
    case BSON_TYPE_BOOL:
        jw_bool(w, bson_iter_bool(it));
        return;
    case BSON_TYPE_NULL:
        jw_null(w);
        return;
    case BSON_TYPE_INT32:
        jw_int(w, bson_iter_int32(it));
        return;
    case BSON_TYPE_INT64:
        jw_int(w, bson_iter_int64(it));
        return;
    case BSON_TYPE_DATE_TIME:
        jw_date(w, bson_iter_date_time(it));
        return;
    default:
        write_exotic(w, it);
        return;
    }
}

void jw_bson_document(struct jw *w, const bson_t *doc)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, doc)) {
        jw_null(w);
        return;
    }
    jw_object_begin(w);
    while (bson_iter_next(&it)) {
        jw_keyn(w, bson_iter_key(&it), bson_iter_key_len(&it));
        jw_bson_value(w, &it);
    }
    jw_object_end(w);
}
