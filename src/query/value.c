#include "query/value.h"

#include <math.h>
#include <string.h>

#include "base/err.h"

enum value_rank value_rank(bson_type_t t)
{
    switch (t) {
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
        return VALUE_RANK_NULL;
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128:
        return VALUE_RANK_NUMBER;
    case BSON_TYPE_UTF8:
    case BSON_TYPE_SYMBOL:
        return VALUE_RANK_STRING;
    case BSON_TYPE_DOCUMENT:
        return VALUE_RANK_OBJECT;
    case BSON_TYPE_ARRAY:
        return VALUE_RANK_ARRAY;
    case BSON_TYPE_BOOL:
        return VALUE_RANK_BOOL;
    case BSON_TYPE_DATE_TIME:
        return VALUE_RANK_DATE;
    default:
        return VALUE_RANK_OTHER;
    }
}

bool value_is_number(bson_type_t t)
{
    return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 ||
           t == BSON_TYPE_DOUBLE;
}

static int64_t as_int(const bson_value_t *v)
{
    return v->value_type == BSON_TYPE_INT32 ? v->value.v_int32
                                            : v->value.v_int64;
}

double value_as_double(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_INT32:
        return v->value.v_int32;
    case BSON_TYPE_INT64:
        return (double)v->value.v_int64;
    case BSON_TYPE_DOUBLE:
        return v->value.v_double;
    default:
        return 0;
    }
}

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

/* An integer against a double, exactly: a double beyond int64's range is
 * beyond every integer; inside it, compare the integral parts first. */
static int cmp_int_double(int64_t i, double d)
{
    if (isnan(d))
        return 1;
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;

    double fl = floor(d);
    int64_t di = (int64_t)fl;
    if (i != di)
        return cmp_i64(i, di);
    return fl < d ? -1 : 0;
}

static int cmp_numbers(const bson_value_t *a, const bson_value_t *b)
{
    bool ad = a->value_type == BSON_TYPE_DOUBLE;
    bool bd = b->value_type == BSON_TYPE_DOUBLE;

    if (!ad && !bd)
        return cmp_i64(as_int(a), as_int(b));
    if (ad && bd) {
        double x = a->value.v_double, y = b->value.v_double;
        if (isnan(x) || isnan(y))
            return isnan(x) - isnan(y) ? (isnan(x) ? -1 : 1) : 0;
        return (x > y) - (x < y);
    }
    if (ad)
        return -cmp_int_double(as_int(b), a->value.v_double);
    return cmp_int_double(as_int(a), b->value.v_double);
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return (alen > blen) - (alen < blen);
}

static void view_doc(const bson_value_t *v, bson_t *out)
{
    if (!bson_init_static(out, v->value.v_doc.data, v->value.v_doc.data_len))
        bson_init(out);
}

/* Objects: member by member, as MongoDB compares them: the type of the
 * values first, then the key, then the value. Arrays: element by
 * element. */
static int cmp_containers(const bson_value_t *a, const bson_value_t *b,
                          bool compare_keys)
{
    bson_t da, db;
    bson_iter_t ia, ib;

    view_doc(a, &da);
    view_doc(b, &db);
    bson_iter_init(&ia, &da);
    bson_iter_init(&ib, &db);
    for (;;) {
        bool na = bson_iter_next(&ia), nb = bson_iter_next(&ib);
        if (!na || !nb)
            return na - nb;
        enum value_rank ra = value_rank(bson_iter_type(&ia));
        enum value_rank rb = value_rank(bson_iter_type(&ib));
        if (ra != rb)
            return ra < rb ? -1 : 1;
        int c = 0;
        if (compare_keys)
            c = strcmp(bson_iter_key(&ia), bson_iter_key(&ib));
        if (c == 0)
            c = value_compare(bson_iter_value(&ia), bson_iter_value(&ib));
        if (c != 0)
            return c < 0 ? -1 : 1;
    }
}

static int cmp_same_rank(const bson_value_t *a, const bson_value_t *b,
                         enum value_rank rank)
{
    switch (rank) {
    case VALUE_RANK_NULL:
        return 0;
    case VALUE_RANK_NUMBER:
        return cmp_numbers(a, b);
    case VALUE_RANK_STRING:
        return cmp_bytes(a->value.v_utf8.str, a->value.v_utf8.len,
                         b->value.v_utf8.str, b->value.v_utf8.len);
    case VALUE_RANK_OBJECT:
        return cmp_containers(a, b, true);
    case VALUE_RANK_ARRAY:
        return cmp_containers(a, b, false);
    case VALUE_RANK_BOOL:
        return (int)a->value.v_bool - (int)b->value.v_bool;
    case VALUE_RANK_DATE:
        return cmp_i64(a->value.v_datetime, b->value.v_datetime);
    default:
        return (int)a->value_type - (int)b->value_type;
    }
}

int value_compare(const bson_value_t *a, const bson_value_t *b)
{
    enum value_rank ra = value_rank(a->value_type);
    enum value_rank rb = value_rank(b->value_type);

    if (ra != rb)
        return ra < rb ? -1 : 1;
    return cmp_same_rank(a, b, ra);
}

bool value_equal(const bson_value_t *a, const bson_value_t *b)
{
    return value_compare(a, b) == 0;
}

/* --- hashing ----------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t hash_number(const bson_value_t *v)
{
    double d = value_as_double(v);

    /* Integral values hash as integers so that 1 and 1.0 agree, past a
     * double's exact range too: a double equal to an int64 is that int64
     * exactly. */
    if (v->value_type != BSON_TYPE_DOUBLE) {
        int64_t i = as_int(v);
        if (i > -(1LL << 53) && i < (1LL << 53))
            return mix(2, (uint64_t)i);
        return mix(3, (uint64_t)i);
    }
    if (isnan(d))
        return mix(2, 0x7ff8);
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
        return mix(2, (uint64_t)(int64_t)d);
    if (d == floor(d) && d >= -9223372036854775808.0 &&
        d < 9223372036854775808.0)
        return mix(3, (uint64_t)(int64_t)d);
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return mix(4, bits);
}

uint64_t value_hash(const bson_value_t *v)
{
    switch (value_rank(v->value_type)) {
    case VALUE_RANK_NULL:
        return 1;
    case VALUE_RANK_NUMBER:
        return hash_number(v);
    case VALUE_RANK_STRING:
        return hash_bytes(5, v->value.v_utf8.str, v->value.v_utf8.len);
    case VALUE_RANK_BOOL:
        return mix(6, v->value.v_bool);
    case VALUE_RANK_DATE:
        return mix(7, (uint64_t)v->value.v_datetime);
    case VALUE_RANK_OBJECT:
    case VALUE_RANK_ARRAY: {
        bson_t d;
        bson_iter_t it;
        uint64_t h = (uint64_t)value_rank(v->value_type);
        view_doc(v, &d);
        bson_iter_init(&it, &d);
        while (bson_iter_next(&it)) {
            if (v->value_type == BSON_TYPE_DOCUMENT)
                h = hash_bytes(h, bson_iter_key(&it), strlen(bson_iter_key(&it)));
            h = mix(h, value_hash(bson_iter_value(&it)));
        }
        return h;
    }
    default:
        return mix(9, v->value_type);
    }
}

/* --- paths ------------------------------------------------------------- */

static int resolve_members(bson_iter_t *it, const char *path,
                           struct buf *scratch, bson_value_t *out);

/* Appends the raw bytes of an array built from the walk of every element
 * of arr, returning its view in scratch. */
static int resolve_array(const bson_iter_t *arr, const char *rest,
                         struct buf *scratch, bson_value_t *out)
{
    bson_iter_t it;
    bson_t built;
    uint32_t idx = 0;

    bson_init(&built);
    bson_iter_recurse(arr, &it);
    while (bson_iter_next(&it)) {
        bson_value_t v;
        size_t mark = scratch->len;
        int rc;

        /* Only objects continue the walk: MongoDB drops every other
         * element, nested arrays included. */
        bson_iter_t members;
        if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &members))
            rc = resolve_members(&members, rest, scratch, &v);
        else
            continue;
        if (rc == 0) {
            char key[16];
            const char *k;
            size_t klen = bson_uint32_to_string(idx++, &k, key, sizeof(key));
            value_append(&built, k, klen, &v);
        }
        buf_truncate(scratch, mark);
    }

    /* Arrays are stored as documents with keys "0", "1", ... */
    size_t at = (scratch->len + 7) & ~(size_t)7;
    if (buf_reserve(scratch, at - scratch->len + built.len) != 0) {
        bson_destroy(&built);
        return ERR_NOMEM;
    }
    scratch->len = at;
    buf_add(scratch, bson_get_data(&built), built.len);
    out->value_type = BSON_TYPE_ARRAY;
    out->value.v_doc.data = (uint8_t *)scratch->data + at;
    out->value.v_doc.data_len = built.len;
    bson_destroy(&built);
    return 0;
}

/* it is a fresh iterator over a document's members; path is relative to
 * that document. */
static int resolve_members(bson_iter_t *it, const char *path,
                           struct buf *scratch, bson_value_t *out)
{
    const char *dot = strchr(path, '.');
    size_t klen = dot ? (size_t)(dot - path) : strlen(path);

    for (;;) {
        if (!bson_iter_next(it))
            return ERR_NOT_FOUND;
        if (bson_iter_key_len(it) == klen &&
            memcmp(bson_iter_key(it), path, klen) == 0)
            break;
    }
    if (dot == NULL) {
        *out = *bson_iter_value(it);
        return 0;
    }

    bson_iter_t members;
    if (BSON_ITER_HOLDS_DOCUMENT(it) && bson_iter_recurse(it, &members))
        return resolve_members(&members, dot + 1, scratch, out);
    if (BSON_ITER_HOLDS_ARRAY(it))
        return resolve_array(it, dot + 1, scratch, out);
    return ERR_NOT_FOUND;
}

int value_resolve_iter(const bson_iter_t *root, const char *path,
                       struct buf *scratch, bson_value_t *out)
{
    bson_iter_t members;

    if (BSON_ITER_HOLDS_ARRAY(root))
        return resolve_array(root, path, scratch, out);
    if (!BSON_ITER_HOLDS_DOCUMENT(root) || !bson_iter_recurse(root, &members))
        return ERR_NOT_FOUND;
    return resolve_members(&members, path, scratch, out);
}

int value_resolve(const uint8_t *doc, size_t len, const char *path,
                  struct buf *scratch, bson_value_t *out)
{
    bson_iter_t members;

    if (!bson_iter_init_from_data(&members, doc, len))
        return ERR_NOT_FOUND;
    return resolve_members(&members, path, scratch, out);
}

bool value_append(bson_t *doc, const char *key, size_t klen,
                  const bson_value_t *v)
{
    return bson_append_value(doc, key, (int)klen, v);
}

void value_write_json(struct jw *w, const bson_value_t *v)
{
    bson_t tmp;
    bson_iter_t it;

    bson_init(&tmp);
    if (bson_append_value(&tmp, "v", 1, v) && bson_iter_init_find(&it, &tmp, "v"))
        jw_bson_value(w, &it);
    else
        jw_null(w);
    bson_destroy(&tmp);
}

int value_copy_to_arena(struct arena *a, const bson_value_t *v,
                        bson_value_t *out)
{
    *out = *v;
    if (v->value_type == BSON_TYPE_UTF8) {
        out->value.v_utf8.str = arena_strndup(a, v->value.v_utf8.str,
                                              v->value.v_utf8.len);
        return out->value.v_utf8.str ? 0 : ERR_NOMEM;
    }
    if (v->value_type == BSON_TYPE_DOCUMENT ||
        v->value_type == BSON_TYPE_ARRAY) {
        uint8_t *d = arena_alloc(a, v->value.v_doc.data_len);
        if (d == NULL)
            return ERR_NOMEM;
        memcpy(d, v->value.v_doc.data, v->value.v_doc.data_len);
        out->value.v_doc.data = d;
    }
    return 0;
}

size_t value_size(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_UTF8:
        return sizeof(*v) + v->value.v_utf8.len;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY:
        return sizeof(*v) + v->value.v_doc.data_len;
    default:
        return sizeof(*v);
    }
}
