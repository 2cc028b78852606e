/*
 * clickhouse_rows.c - a stored document as a row of its bucket's table.
 *
 * Besides the system columns and the document itself (doc, the JSON that
 * GET returns), a row describes every path of the document twice, in two
 * Nested columns, so that one SELECT can answer any filter, key or
 * metric with the contract's rules (docs/clickhouse.md, "layout"):
 *
 *   val   what a path resolves to as a group key or a metric reads it
 *         (value_resolve: through an array, the array of what its
 *         elements hold), one entry per path of the document, and one
 *         per path below each element of every array that can be unwound;
 *         at = "path#position" (the element's position from 1, 0 for the
 *         document), so that a lookup is one indexOf();
 *   cand  what a filter tests at a path (the filter walk of filter.c):
 *         every value at the end of the path (reached by a member name,
 *         step 1, or by an array position such as "tags.0", step 2) and
 *         the elements of those that are arrays (step 0). Objects have
 *         an id (their offset in the document, plus one; the document
 *         is 1), each member reached by name says in which object (up),
 *         and walk says whether the filter walk goes on into the value:
 *         so SQL can tell where a path goes missing, which null
 *         operators need. chain lists the ids of the array elements the
 *         walk went through, for $elemMatch.
 *
 * Values are compared by their sort key (skey): a byte string whose
 * order is the contract's order of values (null < numbers < strings <
 * objects < arrays < booleans < dates; numbers by value, 1 and 1.0
 * equal; strings by bytes; containers member by member), so equality,
 * order, grouping and distinct counts are plain comparisons of strings in
 * SQL. A number's key is the largest double at or below it and the
 * integer remainder, exact for every int64. Arrays and objects also keep
 * their JSON (json), which is where numbers inside them keep their
 * integer or float form.
 */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "backend/clickhouse.h"
#include "base/clock.h"
#include "json/json.h"
#include "query/value.h"

const char CH_INSERT_COLUMNS[] =
    "object_id, rid, bucket_id, version, is_deleted, status, key_prefix, "
    "created, created_at, updated, updated_at, size, doc, strs, "
    "val.at, val.h, val.crossed, val.type, val.skey, val.json, "
    "val.num, val.inum, val.ms, val.fk, val.f3, val.f2, val.f1, val.f0, "
    "cand.path, cand.h, cand.step, cand.type, cand.skey, cand.num, cand.id, "
    "cand.up, cand.walk, cand.chain";

/* --- sort keys --------------------------------------------------------- */

enum ch_type ch_type_of(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
        return CHT_NULL;
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
        return CHT_INT;
    case BSON_TYPE_DOUBLE:
        return CHT_DOUBLE;
    case BSON_TYPE_UTF8:
        return CHT_STRING;
    case BSON_TYPE_DOCUMENT:
        return CHT_OBJECT;
    case BSON_TYPE_ARRAY:
        return CHT_ARRAY;
    case BSON_TYPE_BOOL:
        return CHT_BOOL;
    case BSON_TYPE_DATE_TIME:
        return CHT_DATE;
    default:
        return CHT_OTHER;
    }
}

static void put_be64(struct buf *out, uint64_t v)
{
    unsigned char b[8];

    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)(v & 0xff);
    buf_add(out, b, 8);
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Doubles in an order that memcmp keeps: flip the sign bit of positives,
 * every bit of negatives. */
static uint64_t double_bits(double d)
{
    uint64_t u;

    if (d == 0)
        d = 0; /* -0.0 equals 0.0 */
    memcpy(&u, &d, 8);
    return (u & 0x8000000000000000ULL) ? ~u : u ^ 0x8000000000000000ULL;
}

static double bits_double(uint64_t u)
{
    double d;

    u = (u & 0x8000000000000000ULL) ? u ^ 0x8000000000000000ULL : ~u;
    memcpy(&d, &u, 8);
    return d;
}

/* An integer as (largest double <= i, i - that double). */
static void split_int(int64_t i, double *d, uint16_t *rest)
{
    double x = (double)i;

    /* (double)i rounds to nearest; step down when it rounded up. The
     * comparison is done in long double, exact for every int64. */
    if ((long double)x > (long double)i)
        x = nextafter(x, -INFINITY);
    *d = x;
    *rest = (uint16_t)(i - (int64_t)x);
}

static void encode_number(struct buf *out, const bson_value_t *v)
{
    unsigned char rest[2] = {0, 0};
    double d;

    if (v->value_type == BSON_TYPE_DOUBLE) {
        d = v->value.v_double;
        if (isnan(d)) {
            put_be64(out, 0); /* below every other number */
            buf_add(out, rest, 2);
            return;
        }
    } else {
        uint16_t r;
        split_int(v->value_type == BSON_TYPE_INT32 ? v->value.v_int32
                                                   : v->value.v_int64,
                  &d, &r);
        rest[0] = (unsigned char)(r >> 8);
        rest[1] = (unsigned char)(r & 0xff);
    }
    put_be64(out, double_bits(d));
    buf_add(out, rest, 2);
}

/* Inside a container a string must end where it ends: 0x00 is written
 * 0x00 0xff and the string closes with 0x00 0x00, which keeps the order
 * (a prefix sorts first). */
static void encode_nested_string(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_addc(out, s[i]);
        if (s[i] == '\0')
            buf_addc(out, (char)0xff);
    }
    buf_add(out, "\0\0", 2);
}

static void encode(struct buf *out, const bson_value_t *v, bool nested);

static uint8_t rank_of(const bson_value_t *v);

/* Objects: member by member in value_compare's (MongoDB's) order: the
 * type of the value, then the key, then the value; arrays: element by
 * element; both end with 0x00, below every member's first byte (a
 * rank). */
static void encode_container(struct buf *out, const bson_value_t *v)
{
    bson_t doc;
    bson_iter_t it;
    bool object = v->value_type == BSON_TYPE_DOCUMENT;

    if (bson_init_static(&doc, v->value.v_doc.data, v->value.v_doc.data_len) &&
        bson_iter_init(&it, &doc)) {
        while (bson_iter_next(&it)) {
            if (object) {
                buf_addc(out, (char)rank_of(bson_iter_value(&it)));
                encode_nested_string(out, bson_iter_key(&it),
                                     bson_iter_key_len(&it));
            }
            encode(out, bson_iter_value(&it), true);
        }
    }
    buf_addc(out, '\0');
}

static uint8_t rank_of(const bson_value_t *v)
{
    static const uint8_t ranks[] = {
        [CHT_NULL] = CHR_NULL,     [CHT_INT] = CHR_NUMBER,
        [CHT_DOUBLE] = CHR_NUMBER, [CHT_STRING] = CHR_STRING,
        [CHT_OBJECT] = CHR_OBJECT, [CHT_ARRAY] = CHR_ARRAY,
        [CHT_BOOL] = CHR_BOOL,     [CHT_DATE] = CHR_DATE,
        [CHT_OTHER] = CHR_OTHER};

    return ranks[ch_type_of(v)];
}

static void encode(struct buf *out, const bson_value_t *v, bool nested)
{
    switch (ch_type_of(v)) {
    case CHT_NULL:
        buf_addc(out, CHR_NULL);
        return;
    case CHT_INT:
    case CHT_DOUBLE:
        buf_addc(out, CHR_NUMBER);
        encode_number(out, v);
        return;
    case CHT_STRING:
        buf_addc(out, CHR_STRING);
        if (nested)
            encode_nested_string(out, v->value.v_utf8.str,
                                 v->value.v_utf8.len);
        else
            buf_add(out, v->value.v_utf8.str, v->value.v_utf8.len);
        return;
    case CHT_OBJECT:
        buf_addc(out, CHR_OBJECT);
        encode_container(out, v);
        return;
    case CHT_ARRAY:
        buf_addc(out, CHR_ARRAY);
        encode_container(out, v);
        return;
    case CHT_BOOL:
        buf_addc(out, CHR_BOOL);
        buf_addc(out, v->value.v_bool ? 1 : 0);
        return;
    case CHT_DATE:
        buf_addc(out, CHR_DATE);
        put_be64(out, (uint64_t)v->value.v_datetime ^ 0x8000000000000000ULL);
        return;
    default:
        buf_addc(out, CHR_OTHER);
        buf_addc(out, (char)v->value_type);
        return;
    }
}

void ch_key_encode(struct buf *out, const bson_value_t *v)
{
    encode(out, v, false);
}

/* --- decoding keys ----------------------------------------------------- */

struct reader {
    const uint8_t *p, *end;
};

static bool need(const struct reader *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static int decode_into(struct reader *r, bson_t *parent, const char *key,
                       bool nested);

/* A number from its key: an int64 when it is integral and fits (or the
 * entry says it is an integer), else a double. */
static void append_number(bson_t *parent, const char *key, double d,
                          uint16_t rest, bool as_int)
{
    if (rest != 0 || (as_int && d >= -9223372036854775808.0 &&
                      d < 9223372036854775808.0)) {
        /* As the JSON reader stores integers: int32 when it fits. */
        int64_t i = (int64_t)d + rest;
        if (i >= INT32_MIN && i <= INT32_MAX)
            bson_append_int32(parent, key, -1, (int32_t)i);
        else
            bson_append_int64(parent, key, -1, i);
        return;
    }
    bson_append_double(parent, key, -1, d);
}

static int read_nested_string(struct reader *r, struct buf *s)
{
    for (;;) {
        if (!need(r, 1))
            return ERR_CORRUPT;
        uint8_t c = *r->p++;
        if (c != 0) {
            buf_addc(s, (char)c);
            continue;
        }
        if (!need(r, 1))
            return ERR_CORRUPT;
        c = *r->p++;
        if (c == 0)
            return 0;
        if (c != 0xff)
            return ERR_CORRUPT;
        buf_addc(s, '\0');
    }
}

static int decode_container(struct reader *r, bson_t *parent, const char *key,
                            bool object)
{
    bson_t child;
    struct buf name = BUF_INIT;
    int rc = 0;

    if (object)
        bson_append_document_begin(parent, key, -1, &child);
    else
        bson_append_array_begin(parent, key, -1, &child);
    for (uint32_t i = 0; rc == 0; i++) {
        if (!need(r, 1)) {
            rc = ERR_CORRUPT;
            break;
        }
        if (*r->p == 0) {
            r->p++;
            break;
        }
        /* An object's member: its value's rank and its key, then the
         * value (decoded under a placeholder, then moved under its
         * name). */
        bson_t tmp;
        bson_iter_t it;
        buf_reset(&name);
        if (object) {
            r->p++;
            rc = read_nested_string(r, &name);
        }
        bson_init(&tmp);
        if (rc == 0)
            rc = decode_into(r, &tmp, "v", true);
        if (rc == 0 && bson_iter_init_find(&it, &tmp, "v")) {
            char idx[16];
            snprintf(idx, sizeof(idx), "%u", i);
            bson_append_value(&child, object ? (name.data ? name.data : "")
                                             : idx,
                              -1, bson_iter_value(&it));
        }
        bson_destroy(&tmp);
    }
    if (object)
        bson_append_document_end(parent, &child);
    else
        bson_append_array_end(parent, &child);
    buf_release(&name);
    return rc;
}

static int decode_into(struct reader *r, bson_t *parent, const char *key,
                       bool nested)
{
    if (!need(r, 1))
        return ERR_CORRUPT;
    uint8_t rank = *r->p++;

    switch (rank) {
    case CHR_NULL:
        bson_append_null(parent, key, -1);
        return 0;
    case CHR_NUMBER: {
        if (!need(r, 10))
            return ERR_CORRUPT;
        uint64_t u = get_be64(r->p);
        uint16_t rest = (uint16_t)(r->p[8] << 8 | r->p[9]);
        r->p += 10;
        double d = u == 0 ? NAN : bits_double(u);
        append_number(parent, key, d, rest,
                      d == floor(d) && fabs(d) < 9007199254740992.0);
        return 0;
    }
    case CHR_STRING: {
        if (!nested) {
            bson_append_utf8(parent, key, -1, (const char *)r->p,
                             (int)(r->end - r->p));
            r->p = r->end;
            return 0;
        }
        struct buf s = BUF_INIT;
        int rc = read_nested_string(r, &s);
        if (rc == 0)
            bson_append_utf8(parent, key, -1, s.data ? s.data : "",
                             (int)s.len);
        buf_release(&s);
        return rc;
    }
    case CHR_OBJECT:
    case CHR_ARRAY:
        return decode_container(r, parent, key, rank == CHR_OBJECT);
    case CHR_BOOL:
        if (!need(r, 1))
            return ERR_CORRUPT;
        bson_append_bool(parent, key, -1, *r->p++ != 0);
        return 0;
    case CHR_DATE:
        if (!need(r, 8))
            return ERR_CORRUPT;
        bson_append_date_time(parent, key, -1,
                              (int64_t)(get_be64(r->p) ^
                                        0x8000000000000000ULL));
        r->p += 8;
        return 0;
    default:
        return ERR_CORRUPT;
    }
}

int ch_key_decode(const uint8_t *k, size_t n, enum ch_type t,
                  struct buf *scratch, bson_value_t *out)
{
    struct reader r = {k, k + n};
    bson_t holder;
    bson_iter_t it;

    /* Top-level numbers keep the integer or float form the entry's type
     * recorded. */
    if (n == 11 && k[0] == CHR_NUMBER && (t == CHT_INT || t == CHT_DOUBLE)) {
        uint64_t u = get_be64(k + 1);
        uint16_t rest = (uint16_t)(k[9] << 8 | k[10]);
        double d = u == 0 ? NAN : bits_double(u);
        if (t == CHT_INT) {
            int64_t i = (int64_t)d + rest;
            if (i >= INT32_MIN && i <= INT32_MAX) {
                out->value_type = BSON_TYPE_INT32;
                out->value.v_int32 = (int32_t)i;
            } else {
                out->value_type = BSON_TYPE_INT64;
                out->value.v_int64 = i;
            }
        } else {
            out->value_type = BSON_TYPE_DOUBLE;
            out->value.v_double = d;
        }
        return 0;
    }
    bson_init(&holder);
    int rc = decode_into(&r, &holder, "v", false);
    if (rc == 0 && r.p != r.end)
        rc = ERR_CORRUPT;
    if (rc == 0 && bson_iter_init_find(&it, &holder, "v")) {
        /* Keep the bytes: a document with the value, 8-aligned. */
        size_t at = (scratch->len + 7) & ~(size_t)7;
        if (buf_reserve(scratch, at - scratch->len + holder.len) != 0) {
            rc = ERR_NOMEM;
        } else {
            scratch->len = at;
            buf_add(scratch, bson_get_data(&holder), holder.len);
            bson_t kept;
            bson_init_static(&kept, (const uint8_t *)scratch->data + at,
                             holder.len);
            bson_iter_init_find(&it, &kept, "v");
            *out = *bson_iter_value(&it);
        }
    } else if (rc == 0) {
        rc = ERR_CORRUPT;
    }
    bson_destroy(&holder);
    return rc;
}

int64_t ch_date_of(const bson_value_t *v)
{
    int64_t ms;

    if (v->value_type == BSON_TYPE_DATE_TIME)
        return v->value.v_datetime;
    if (v->value_type == BSON_TYPE_UTF8 &&
        clock_parse_iso8601(v->value.v_utf8.str, v->value.v_utf8.len, &ms))
        return ms;
    return CH_NO_DATE;
}

/* --- RowBinary --------------------------------------------------------- */

static void put_varint(struct buf *out, uint64_t v)
{
    do {
        unsigned char b = v & 0x7f;
        v >>= 7;
        if (v)
            b |= 0x80;
        buf_addc(out, (char)b);
    } while (v);
}

static void put_le(struct buf *out, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++, v >>= 8)
        buf_addc(out, (char)(v & 0xff));
}

static void put_string(struct buf *out, const char *s, size_t n)
{
    put_varint(out, n);
    buf_add(out, s, n);
}

static void put_double(struct buf *out, double d)
{
    uint64_t u;

    memcpy(&u, &d, 8);
    put_le(out, u, 8);
}

/* DateTime holds seconds from 1970 to 2106: ms outside are clamped (the
 * exact time lives in the Int64 ms column beside it). */
static void put_datetime(struct buf *out, int64_t ms)
{
    int64_t s = ms < 0 ? 0 : ms / 1000;

    put_le(out, (uint64_t)(s > 4294967295LL ? 4294967295LL : s), 4);
}

/* --- path entries ------------------------------------------------------ */

uint64_t ch_name_hash(const char *s, size_t n)
{
    static const unsigned char key[crypto_shorthash_siphash24_KEYBYTES];
    unsigned char h[crypto_shorthash_siphash24_BYTES];
    uint64_t x = 0;

    crypto_shorthash_siphash24(h, (const unsigned char *)s, n, key);
    for (int i = 7; i >= 0; i--)
        x = x << 8 | h[i];
    return x;
}

void ch_sql_name_hash(struct buf *out, const char *s, size_t n)
{
    ch_sql_printf(out, "toUInt64(%llu)",
                  (unsigned long long)ch_name_hash(s, n));
}

struct val_entry {
    size_t path, path_len;       /* in rows.text */
    size_t unwound, unwound_len; /* the unwound path, for an ancestor */
    size_t key, key_len, json, json_len;
    uint32_t elem;
    uint8_t crossed, type;
    double num;
    int64_t inum, ms;
    uint8_t fk;                  /* enum ch_fixed */
    uint32_t f[4];               /* |x| * 2^64 in 32-bit chunks, high first */
};

struct cand_entry {
    size_t path, path_len, key, key_len, chain, chain_len;
    uint8_t step, type, walk;
    double num;
    uint32_t id, up;
};

struct rows {
    const bson_t *doc;
    struct buf text;             /* paths, keys, JSON, chains */
    struct val_entry *vals;
    size_t nvals, cap_vals;
    struct cand_entry *cands;
    size_t ncands, cap_cands;
    struct buf scratch;          /* value_resolve's built arrays */
    struct buf paths;            /* collected name paths, NUL-separated */
    int oom;
};

static size_t add_text(struct rows *rw, const void *p, size_t n)
{
    size_t at = rw->text.len;

    buf_add(&rw->text, p, n);
    return at;
}

static double num_of(const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_ARRAY) {
        bson_t d;
        bson_iter_t it;
        double n = 0;
        if (bson_init_static(&d, v->value.v_doc.data, v->value.v_doc.data_len) &&
            bson_iter_init(&it, &d))
            while (bson_iter_next(&it))
                n++;
        return n;
    }
    return value_is_number(v->value_type) ? value_as_double(v) : 0;
}

/* A double as sum.c adds it: exactly, as |x| * 2^64 in 32-bit chunks,
 * when that is an integer below 2^125 (sum.c's 64.64 range); otherwise
 * loose. */
static void fixed_parts(double x, uint8_t *kind, uint32_t f[4])
{
    double ax = fabs(x);

    memset(f, 0, 4 * sizeof(*f));
    if (!isfinite(x) || ax >= 2305843009213693952.0 ||
        ax * 18446744073709551616.0 != floor(ax * 18446744073709551616.0)) {
        *kind = CHX_LOOSE;
        return;
    }
    unsigned __int128 v = (unsigned __int128)(ax * 18446744073709551616.0);
    for (int i = 3; i >= 0; i--, v >>= 32)
        f[i] = (uint32_t)(v & 0xffffffffu);
    *kind = x < 0 ? CHX_NEGATIVE : CHX_POSITIVE;
}

/* The facets of a value, as a val entry or a typed path holds them. */
static void value_facets(struct rows *rw, struct val_entry *en,
                         const bson_value_t *v)
{
    en->type = (uint8_t)ch_type_of(v);
    en->key = rw->text.len;
    ch_key_encode(&rw->text, v);
    en->key_len = rw->text.len - en->key;
    if (en->type == CHT_OBJECT || en->type == CHT_ARRAY) {
        struct jw w;
        en->json = rw->text.len;
        jw_init(&w, &rw->text);
        value_write_json(&w, v);
        en->json_len = rw->text.len - en->json;
    }
    en->num = num_of(v);
    if (en->type == CHT_INT)
        en->inum = v->value_type == BSON_TYPE_INT32 ? v->value.v_int32
                                                    : v->value.v_int64;
    if (en->type == CHT_DOUBLE)
        fixed_parts(v->value.v_double, &en->fk, en->f);
    en->ms = ch_date_of(v);
}

static void add_val(struct rows *rw, const char *path, size_t plen,
                    uint32_t elem, bool crossed, const bson_value_t *v)
{
    if (rw->nvals == rw->cap_vals) {
        size_t cap = rw->cap_vals ? rw->cap_vals * 2 : 64;
        struct val_entry *p = realloc(rw->vals, cap * sizeof(*p));
        if (p == NULL) {
            rw->oom = 1;
            return;
        }
        rw->vals = p;
        rw->cap_vals = cap;
    }
    struct val_entry *en = &rw->vals[rw->nvals++];
    memset(en, 0, sizeof(*en));
    en->path = add_text(rw, path, plen);
    en->path_len = plen;
    en->elem = elem;
    en->crossed = crossed;
    value_facets(rw, en, v);
}

/* The typed columns of the layout: each path's facets at the document
 * (what its val entry at the document holds), and the kinds found. */
static void put_typed(struct buf *out, struct rows *rw, const bson_iter_t *root,
                      const struct ch_layout *layout, uint8_t *kinds)
{
    for (int i = 0; layout != NULL && i < layout->ntyped; i++) {
        struct val_entry en;
        bson_value_t v;
        bool present;

        memset(&en, 0, sizeof(en));
        en.ms = CH_NO_DATE;
        buf_reset(&rw->scratch);
        present = value_resolve_iter(root, layout->typed[i].path, &rw->scratch,
                                     &v) == 0;
        if (present)
            value_facets(rw, &en, &v);
        if (present && kinds != NULL)
            kinds[i] |= en.type == CHT_ARRAY || en.type == CHT_OBJECT
                            ? CHK_CONTAINER
                        : en.type == CHT_INT    ? CHK_INT
                        : en.type == CHT_DOUBLE ? CHK_DOUBLE
                                                : 0;
        put_le(out, present, 1);
        put_le(out, present ? en.type : 0, 1);
        put_string(out, present ? rw->text.data + en.key : "",
                   present ? en.key_len : 0);
        put_string(out, present ? rw->text.data + en.json : "",
                   present ? en.json_len : 0);
        put_double(out, en.num);
        put_le(out, (uint64_t)en.inum, 8);
        put_le(out, (uint64_t)en.ms, 8);
        put_le(out, en.fk, 1);
        for (int c = 0; c < 4; c++)
            put_le(out, en.f[c], 4);
    }
}

void ch_metadata_names(const bson_t *doc,
                       void (*fn)(void *arg, const char *name), void *arg)
{
    bson_iter_t it, md;

    if (bson_iter_init_find(&it, doc, "metadata") &&
        BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &md))
        while (bson_iter_next(&md))
            fn(arg, bson_iter_key(&md));
}

/* The steps of the filter walk (cand.step). */
enum cand_step { STEP_ELEMENT = 0, STEP_MEMBER = 1, STEP_INDEX = 2 };

struct walk {
    struct rows *rw;
    const uint8_t *base;         /* the document's bytes: ids are offsets */
    struct buf path;
    struct buf chain;
};

/* An object's id: its offset in the document plus one (the document is
 * 1), the same by whichever route the walk reaches it; 0 for other
 * values. */
static uint32_t node_id(const struct walk *w, const bson_value_t *v)
{
    if (v->value_type != BSON_TYPE_DOCUMENT)
        return 0;
    return (uint32_t)(v->value.v_doc.data - w->base) + 1;
}

static void add_cand(struct walk *w, enum cand_step step,
                     const bson_value_t *v, uint32_t up, bool walked)
{
    struct rows *rw = w->rw;

    if (rw->ncands == rw->cap_cands) {
        size_t cap = rw->cap_cands ? rw->cap_cands * 2 : 64;
        struct cand_entry *p = realloc(rw->cands, cap * sizeof(*p));
        if (p == NULL) {
            rw->oom = 1;
            return;
        }
        rw->cands = p;
        rw->cap_cands = cap;
    }
    struct cand_entry *en = &rw->cands[rw->ncands++];
    memset(en, 0, sizeof(*en));
    en->path = add_text(rw, w->path.data, w->path.len);
    en->path_len = w->path.len;
    en->step = (uint8_t)step;
    en->type = (uint8_t)ch_type_of(v);
    en->key = rw->text.len;
    ch_key_encode(&rw->text, v);
    en->key_len = rw->text.len - en->key;
    en->num = num_of(v);
    en->id = node_id(w, v);
    en->up = up;
    en->walk = walked && v->value_type == BSON_TYPE_DOCUMENT;
    en->chain = add_text(rw, w->chain.data ? w->chain.data : "",
                         w->chain.len);
    en->chain_len = w->chain.len;
}

/* --- cand: the filter walk --------------------------------------------- */

static void walk_doc(struct walk *w, const bson_iter_t *doc, uint32_t id);
static void walk_array(struct walk *w, const bson_iter_t *arr);

/* The value at the end of the current path, and its elements (which the
 * walk goes into only when the array was reached by name). */
static void emit_end(struct walk *w, const bson_iter_t *it,
                     enum cand_step step, uint32_t up)
{
    bson_iter_t el;

    add_cand(w, step, bson_iter_value((bson_iter_t *)it), up, true);
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &el))
        return;
    while (bson_iter_next(&el))
        add_cand(w, STEP_ELEMENT, bson_iter_value(&el), 0,
                 step == STEP_MEMBER);
}

static void walk_doc(struct walk *w, const bson_iter_t *doc, uint32_t id)
{
    bson_iter_t m;
    size_t at = w->path.len;

    if (!bson_iter_recurse(doc, &m))
        return;
    while (bson_iter_next(&m)) {
        if (at > 0)
            buf_addc(&w->path, '.');
        buf_add(&w->path, bson_iter_key(&m), bson_iter_key_len(&m));
        /* A value reached by a member name: end here, or walk on. */
        emit_end(w, &m, STEP_MEMBER, id);
        if (BSON_ITER_HOLDS_DOCUMENT(&m))
            walk_doc(w, &m, node_id(w, bson_iter_value(&m)));
        else if (BSON_ITER_HOLDS_ARRAY(&m))
            walk_array(w, &m);
        buf_truncate(&w->path, at);
    }
}

/* An array on the way: each element by its position (the element ends
 * the path or, when it is an object, the walk goes on into it), and
 * objects also by the next member name. */
static void walk_array(struct walk *w, const bson_iter_t *arr)
{
    bson_iter_t el;
    size_t at = w->path.len, chain_at = w->chain.len;

    if (!bson_iter_recurse(arr, &el))
        return;
    while (bson_iter_next(&el)) {
        uint32_t id = node_id(w, bson_iter_value(&el));
        if (id != 0) {
            if (w->chain.len == 0)
                buf_addc(&w->chain, '/');
            buf_addf(&w->chain, "%u/", id);
        }
        buf_addc(&w->path, '.');
        buf_add(&w->path, bson_iter_key(&el), bson_iter_key_len(&el));
        emit_end(w, &el, STEP_INDEX, 0);
        if (id != 0)
            walk_doc(w, &el, id);
        buf_truncate(&w->path, at);
        if (id != 0)
            walk_doc(w, &el, id);
        buf_truncate(&w->chain, chain_at);
    }
}

/* --- val: paths as keys and metrics read them -------------------------- */

/* Every name path below a value: members of objects, walking through
 * arrays into their objects as value_resolve does (arrays in arrays are
 * not walked). */
static void collect_paths(struct buf *paths, struct buf *prefix,
                          const bson_iter_t *it)
{
    bson_iter_t m;
    size_t at = prefix->len;

    if (BSON_ITER_HOLDS_ARRAY(it) && bson_iter_recurse(it, &m)) {
        while (bson_iter_next(&m))
            if (BSON_ITER_HOLDS_DOCUMENT(&m))
                collect_paths(paths, prefix, &m);
        return;
    }
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &m))
        return;
    while (bson_iter_next(&m)) {
        if (at > 0)
            buf_addc(prefix, '.');
        buf_add(prefix, bson_iter_key(&m), bson_iter_key_len(&m));
        buf_add(paths, prefix->data, prefix->len + 1); /* with its NUL */
        collect_paths(paths, prefix, &m);
        buf_truncate(prefix, at);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct paths in a NUL-separated list, sorted. The caller frees
 * the array (the strings point into paths). */
static const char **distinct_paths(const struct buf *paths, size_t *n)
{
    size_t count = 0;

    for (size_t i = 0; i < paths->len; i++)
        count += paths->data[i] == '\0';
    const char **list = malloc((count ? count : 1) * sizeof(*list));
    if (list == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < paths->len; i += strlen(paths->data + i) + 1)
        list[k++] = paths->data + i;
    qsort(list, k, sizeof(*list), cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(list[u - 1], list[i]) != 0)
            list[u++] = list[i];
    *n = u;
    return list;
}

/* Whether path goes through an array before its end (then value_resolve
 * builds an array of what the elements hold). */
static bool crosses_array(const bson_iter_t *root, const char *path)
{
    bson_iter_t it = *root, child;
    const char *dot;

    while ((dot = strchr(path, '.')) != NULL) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &child) ||
            !bson_iter_find_w_len(&child, path, (int)(dot - path)))
            return BSON_ITER_HOLDS_ARRAY(&it);
        it = child;
        path = dot + 1;
    }
    return BSON_ITER_HOLDS_ARRAY(&it);
}

/* One val entry per path below root (for the document, elem 0; for an
 * element of an unwindable array, its position). */
static void add_vals_below(struct rows *rw, const bson_iter_t *root,
                           const char *prefix, size_t prefix_len,
                           uint32_t elem)
{
    struct buf paths = BUF_INIT, path = BUF_INIT, full = BUF_INIT;
    size_t n = 0;

    collect_paths(&paths, &path, root);
    const char **list = distinct_paths(&paths, &n);
    if (list == NULL) {
        rw->oom = 1;
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        bson_value_t v;
        buf_reset(&rw->scratch);
        if (value_resolve_iter(root, list[i], &rw->scratch, &v) != 0)
            continue;
        buf_reset(&full);
        if (prefix_len > 0) {
            buf_add(&full, prefix, prefix_len);
            buf_addc(&full, '.');
        }
        buf_adds(&full, list[i]);
        add_val(rw, full.data, full.len, elem, crosses_array(root, list[i]),
                &v);
    }
    free(list);
    buf_release(&paths);
    buf_release(&path);
    buf_release(&full);
}

/* Copies the object doc into out with the member at path `down`
 * (objects all the way) replaced by the element. */
static void copy_with_element(const bson_value_t *doc, const char *down,
                              size_t n, const bson_value_t *element,
                              bson_t *out)
{
    bson_iter_t it;
    const char *dot = memchr(down, '.', n);
    size_t klen = dot ? (size_t)(dot - down) : n;

    if (!bson_iter_init_from_data(&it, doc->value.v_doc.data,
                                  doc->value.v_doc.data_len))
        return;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (bson_iter_key_len(&it) != klen || memcmp(key, down, klen) != 0) {
            bson_append_iter(out, key, -1, &it);
        } else if (dot == NULL) {
            bson_append_value(out, key, -1, element);
        } else {
            bson_t child;
            bson_append_document_begin(out, key, -1, &child);
            copy_with_element(bson_iter_value(&it), dot + 1,
                              n - klen - 1, element, &child);
            bson_append_document_end(out, &child);
        }
    }
}

/* A path above an unwound one reads the object with the element in place
 * of the array (MongoDB's $unwind): for each element, an entry for each
 * object on the way, at "ancestor#position@unwound". */
static void add_ancestors(struct rows *rw, const bson_iter_t *root,
                          const char *path, size_t n, uint32_t elem,
                          const bson_value_t *element)
{
    for (size_t end = 0; end < n; end++) {
        if (path[end] != '.')
            continue;
        char *ancestor = strndup(path, end);
        bson_value_t v;
        if (ancestor == NULL) {
            rw->oom = 1;
            return;
        }
        buf_reset(&rw->scratch);
        if (value_resolve_iter(root, ancestor, &rw->scratch, &v) == 0 &&
            v.value_type == BSON_TYPE_DOCUMENT) {
            bson_t copy;
            bson_iter_t it;
            bson_init(&copy);
            bson_t holder;
            bson_init(&holder);
            bson_append_document_begin(&holder, "v", 1, &copy);
            copy_with_element(&v, path + end + 1, n - end - 1, element, &copy);
            bson_append_document_end(&holder, &copy);
            if (bson_iter_init_find(&it, &holder, "v")) {
                add_val(rw, ancestor, end, elem, false, bson_iter_value(&it));
                if (!rw->oom) {
                    struct val_entry *en = &rw->vals[rw->nvals - 1];
                    en->unwound = add_text(rw, path, n);
                    en->unwound_len = n;
                }
            }
            bson_destroy(&holder);
        }
        free(ancestor);
    }
}

/* Arrays that unwind can reach (through objects only): an entry for each
 * element, and for each path below it and above it. */
static void add_elements(struct rows *rw, const bson_iter_t *root,
                         const bson_iter_t *doc, struct buf *path)
{
    bson_iter_t m, el;
    size_t at = path->len;

    if (!bson_iter_recurse(doc, &m))
        return;
    while (bson_iter_next(&m)) {
        if (at > 0)
            buf_addc(path, '.');
        buf_add(path, bson_iter_key(&m), bson_iter_key_len(&m));
        if (BSON_ITER_HOLDS_DOCUMENT(&m)) {
            add_elements(rw, root, &m, path);
        } else if (BSON_ITER_HOLDS_ARRAY(&m) && bson_iter_recurse(&m, &el)) {
            for (uint32_t i = 1; bson_iter_next(&el); i++) {
                add_val(rw, path->data, path->len, i, false,
                        bson_iter_value(&el));
                if (BSON_ITER_HOLDS_DOCUMENT(&el) ||
                    BSON_ITER_HOLDS_ARRAY(&el))
                    add_vals_below(rw, &el, path->data, path->len, i);
                add_ancestors(rw, root, path->data, path->len, i,
                              bson_iter_value(&el));
            }
        }
        buf_truncate(path, at);
    }
}

/* --- strings, for search ----------------------------------------------- */

static void collect_strings(const bson_iter_t *it, struct buf *out,
                            uint64_t *count)
{
    bson_iter_t child;

    if (BSON_ITER_HOLDS_UTF8(it)) {
        uint32_t n;
        const char *s = bson_iter_utf8(it, &n);
        put_string(out, s, n);
        (*count)++;
        return;
    }
    if ((BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) &&
        bson_iter_recurse(it, &child))
        while (bson_iter_next(&child))
            collect_strings(&child, out, count);
}

/* --- the row ----------------------------------------------------------- */

static const char *doc_string(const bson_t *doc, const char *key, size_t *n)
{
    bson_iter_t it;
    uint32_t len = 0;

    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
        return NULL;
    const char *s = bson_iter_utf8(&it, &len);
    *n = len;
    return s;
}

static int64_t doc_date(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DATE_TIME(&it))
        return bson_iter_date_time(&it);
    return 0;
}

static void put_doc_string(struct buf *out, const bson_t *doc,
                           const char *key)
{
    size_t n = 0;
    const char *s = doc_string(doc, key, &n);

    put_string(out, s ? s : "", s ? n : 0);
}

/* An entry's name: "path#elem", "@unwound" after it for an ancestor. */
static void val_name(struct buf *b, const struct rows *rw,
                     const struct val_entry *v)
{
    const char *t = rw->text.data;

    buf_reset(b);
    buf_add(b, t + v->path, v->path_len);
    buf_addf(b, "#%u", v->elem);
    if (v->unwound_len > 0) {
        buf_addc(b, '@');
        buf_add(b, t + v->unwound, v->unwound_len);
    }
}

static void put_vals(struct buf *out, const struct rows *rw)
{
    const struct val_entry *v = rw->vals;
    const char *t = rw->text.data;
    size_t n = rw->nvals;
    struct buf name = BUF_INIT;

    put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        val_name(&name, rw, &v[i]);
        put_string(out, name.data ? name.data : "", name.len);
    }
    put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        val_name(&name, rw, &v[i]);
        put_le(out, ch_name_hash(name.data ? name.data : "", name.len), 8);
    }
    if (name.oom)
        out->oom = true;
    buf_release(&name);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, v[i].crossed, 1);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, v[i].type, 1);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_string(out, t + v[i].key, v[i].key_len);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_string(out, t + v[i].json, v[i].json_len);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_double(out, v[i].num);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, (uint64_t)v[i].inum, 8);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, (uint64_t)v[i].ms, 8);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, v[i].fk, 1);
    for (int c = 0; c < 4; c++) {
        put_varint(out, n);
        for (size_t i = 0; i < n; i++)
            put_le(out, v[i].f[c], 4);
    }
}

static void put_cands(struct buf *out, const struct rows *rw)
{
    const struct cand_entry *c = rw->cands;
    const char *t = rw->text.data;
    size_t n = rw->ncands;

    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_string(out, t + c[i].path, c[i].path_len);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, ch_name_hash(t + c[i].path, c[i].path_len), 8);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, c[i].step, 1);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, c[i].type, 1);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_string(out, t + c[i].key, c[i].key_len);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_double(out, c[i].num);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, c[i].id, 4);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, c[i].up, 4);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_le(out, c[i].walk, 1);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_string(out, t + c[i].chain, c[i].chain_len);
}

/* rid: the object_id with every byte inverted and 0xff after it, so that
 * ids sort the other way round (ids hold no 0x00): the order of "max"
 * among equal values (first in storage order) in ClickHouse's argMax. */
static void put_reversed_id(struct buf *out, const bson_t *doc)
{
    size_t n = 0;
    const char *s = doc_string(doc, "object_id", &n);
    struct buf r = BUF_INIT;

    for (size_t i = 0; s != NULL && i < n; i++)
        buf_addc(&r, (char)(255 - (unsigned char)s[i]));
    buf_addc(&r, (char)0xff);
    put_string(out, r.data, r.len);
    buf_release(&r);
}

static void put_system(struct buf *out, const bson_t *doc, uint64_t version,
                       bool deleted)
{
    size_t n = 0;
    const char *prefix = doc_string(doc, "key_prefix", &n);
    int64_t created = doc_date(doc, "created_at");
    int64_t updated = doc_date(doc, "updated_at");

    put_doc_string(out, doc, "object_id");
    put_reversed_id(out, doc);
    put_doc_string(out, doc, "bucket_id");
    put_le(out, version, 8);
    put_le(out, deleted ? 1 : 0, 1);
    put_doc_string(out, doc, "status");
    put_le(out, prefix == NULL, 1);
    if (prefix != NULL)
        put_string(out, prefix, n);
    put_le(out, (uint64_t)created, 8);
    put_datetime(out, created);
    put_le(out, (uint64_t)updated, 8);
    put_datetime(out, updated);
    put_le(out, doc->len, 4);
}

static void rows_release(struct rows *rw)
{
    buf_release(&rw->text);
    buf_release(&rw->scratch);
    buf_release(&rw->paths);
    free(rw->vals);
    free(rw->cands);
}

int ch_row_encode(const bson_t *doc, const struct ch_layout *layout,
                  uint64_t version, bool deleted, uint8_t *kinds,
                  struct buf *out, struct err *e)
{
    struct rows rw = {.doc = doc};
    struct walk w = {.rw = &rw};
    struct buf json = BUF_INIT, strs = BUF_INIT, path = BUF_INIT;
    bson_t wrap;
    bson_iter_t root;
    uint64_t nstrs = 0;
    struct jw jw;

    /* The document as a value, so that walks can start from an iterator. */
    bson_init(&wrap);
    bson_append_document(&wrap, "d", 1, doc);
    bson_iter_init_find(&root, &wrap, "d");

    w.base = bson_iter_value(&root)->value.v_doc.data;
    walk_doc(&w, &root, 1);
    add_vals_below(&rw, &root, "", 0, 0);
    add_elements(&rw, &root, &root, &path);
    collect_strings(&root, &strs, &nstrs);
    jw_init(&jw, &json);
    jw_bson_document(&jw, doc);

    put_system(out, doc, version, deleted);
    put_string(out, json.data ? json.data : "", json.len);
    put_varint(out, nstrs);
    buf_add(out, strs.data, strs.len);
    put_vals(out, &rw);
    put_cands(out, &rw);
    put_typed(out, &rw, &root, layout, kinds);

    int rc = rw.oom || rw.text.oom || json.oom || strs.oom || out->oom ||
             w.path.oom || w.chain.oom;
    buf_release(&w.path);
    buf_release(&w.chain);
    buf_release(&json);
    buf_release(&strs);
    buf_release(&path);
    bson_destroy(&wrap);
    rows_release(&rw);
    return rc ? err_set(e, ERR_NOMEM, "out of memory encoding a row") : 0;
}
