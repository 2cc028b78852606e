#include "store/blobs.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ids.h"
#include "base/utf8.h"

static const char *const file_types[] = {"text",  "image", "audio",
                                         "video", "pdf",   "excel"};
static const char *const json_types[] = {"string", "number", "integer",
                                         "float",  "boolean", "object",
                                         "array",  "date",   "datetime"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

bool blobs_is_file_type(const char *type)
{
    for (size_t i = 0; i < COUNT(file_types); i++)
        if (strcmp(type, file_types[i]) == 0)
            return true;
    return false;
}

bool blobs_is_known_type(const char *type)
{
    for (size_t i = 0; i < COUNT(json_types); i++)
        if (strcmp(type, json_types[i]) == 0)
            return true;
    return blobs_is_file_type(type);
}

/* --- inline data ------------------------------------------------------- */

struct magic {
    size_t offset;
    const char *bytes;
    size_t len;
    const char *mime;
};

/* Signatures of the file kinds the schema's file types cover. */
static const struct magic magics[] = {
    {0, "\x89PNG\r\n\x1a\n", 8, "image/png"},
    {0, "\xff\xd8\xff", 3, "image/jpeg"},
    {0, "GIF8", 4, "image/gif"},
    {8, "WEBP", 4, "image/webp"},
    {8, "WAVE", 4, "audio/wav"},
    {0, "%PDF-", 5, "application/pdf"},
    {0, "ID3", 3, "audio/mpeg"},
    {0, "OggS", 4, "audio/ogg"},
    {0, "fLaC", 4, "audio/flac"},
    {4, "ftyp", 4, "video/mp4"},
    {0, "\x1a\x45\xdf\xa3", 4, "video/webm"},
    {0, "PK\x03\x04", 4, "application/zip"},
    {0, "\xd0\xcf\x11\xe0", 4, "application/vnd.ms-excel"},
};

static const char *sniff_mime(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < COUNT(magics); i++) {
        const struct magic *m = &magics[i];
        if (n >= m->offset + m->len &&
            memcmp(p + m->offset, m->bytes, m->len) == 0)
            return m->mime;
    }
    return utf8_valid((const char *)p, n) ? "text/plain"
                                          : "application/octet-stream";
}

static bool looks_like_url(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n < 32 ? n : 32);
    return colon != NULL && (size_t)(colon - s) + 2 < n && colon[1] == '/' &&
           colon[2] == '/';
}

/* Decodes standard base64 with padding; NULL when s is not base64. */
static unsigned char *decode_base64(const char *s, size_t n, size_t *len)
{
    size_t cap = n / 4 * 3 + 3;
    unsigned char *bin;

    if (n < 4 || n % 4 != 0 || (bin = malloc(cap)) == NULL)
        return NULL;
    if (sodium_base642bin(bin, cap, s, n, NULL, len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(bin);
        return NULL;
    }
    return bin;
}

static void hex_sha256(const unsigned char *p, size_t n, char out[65])
{
    unsigned char digest[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(digest, p, n);
    sodium_bin2hex(out, 65, digest, sizeof(digest));
}

/* "data:[mime][;base64],payload": only the base64 form is decoded; the
 * declared MIME type wins over sniffing. */
static bool data_uri_facts(const char *s, size_t n, uint64_t *size,
                           char mime[96], char sha[65])
{
    const char *comma = memchr(s, ',', n);
    if (comma == NULL)
        return false;

    size_t head = (size_t)(comma - s) - 5;
    const char *b64 = head >= 7 ? s + 5 + head - 7 : NULL;
    if (b64 == NULL || memcmp(b64, ";base64", 7) != 0)
        return false;

    size_t len;
    unsigned char *bin = decode_base64(comma + 1, n - (size_t)(comma + 1 - s),
                                       &len);
    if (bin == NULL)
        return false;
    size_t mlen = head - 7;
    if (mlen > 0 && mlen < 96)
        snprintf(mime, 96, "%.*s", (int)mlen, s + 5);
    else
        snprintf(mime, 96, "%s", sniff_mime(bin, len));
    *size = len;
    hex_sha256(bin, len, sha);
    free(bin);
    return true;
}

bool blobs_inline_facts(const char *s, size_t n, uint64_t *size,
                        char mime[96], char sha256_hex[65])
{
    if (n > 5 && memcmp(s, "data:", 5) == 0)
        return data_uri_facts(s, n, size, mime, sha256_hex);
    if (looks_like_url(s, n))
        return false;

    size_t len;
    unsigned char *bin = decode_base64(s, n, &len);
    if (bin == NULL)
        return false;
    *size = len;
    snprintf(mime, 96, "%s", sniff_mime(bin, len));
    hex_sha256(bin, len, sha256_hex);
    free(bin);
    return true;
}

/* --- records ----------------------------------------------------------- */

struct blob_fields {
    bson_iter_t property, type, key_prefix, blob_id, properties, metadata,
        data, details;
    bool has_property, has_type, has_key_prefix, has_blob_id, has_properties,
        has_metadata, has_data, has_details;
};

static void collect(const bson_iter_t *blob, struct blob_fields *f)
{
    bson_iter_t it;

    memset(f, 0, sizeof(*f));
    bson_iter_recurse(blob, &it);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
#define TAKE(name)                                                             \
    if (strcmp(k, #name) == 0) {                                               \
        f->name = it;                                                          \
        f->has_##name = true;                                                  \
        continue;                                                              \
    }
        TAKE(property)
        TAKE(type)
        TAKE(key_prefix)
        TAKE(blob_id)
        TAKE(properties)
        TAKE(metadata)
        TAKE(data)
        TAKE(details)
#undef TAKE
    }
}

static void check_fields(const struct blob_fields *f, struct err_path *path,
                         struct err *e)
{
    uint32_t len = 0;

    if (!f->has_property || !BSON_ITER_HOLDS_UTF8(&f->property))
        err_problem(e, path, "property", "missing",
                    "property is required and must be a string");
    else if (bson_iter_utf8(&f->property, &len), len == 0 || len > 100)
        err_problem(e, path, "property", "value_error",
                    "property must be 1 to 100 characters long");

    /* Any non-empty type is kept: dumps carry kinds beyond the schema's
     * (such as "json"); the bucket schema checks the ones it declares. */
    if (!f->has_type || !BSON_ITER_HOLDS_UTF8(&f->type) ||
        bson_iter_utf8(&f->type, NULL)[0] == '\0')
        err_problem(e, path, "type", "missing",
                    "type is required and must be a non-empty string");

    if (f->has_key_prefix && !BSON_ITER_HOLDS_UTF8(&f->key_prefix) &&
        !BSON_ITER_HOLDS_NULL(&f->key_prefix))
        err_problem(e, path, "key_prefix", "type_error",
                    "key_prefix must be a string or null");
    if (f->has_metadata && !BSON_ITER_HOLDS_DOCUMENT(&f->metadata) &&
        !BSON_ITER_HOLDS_NULL(&f->metadata))
        err_problem(e, path, "metadata", "type_error",
                    "metadata must be an object or null");
    if (f->has_properties && !BSON_ITER_HOLDS_DOCUMENT(&f->properties))
        err_problem(e, path, "properties", "type_error",
                    "properties must be an object");
    if (f->has_details && !BSON_ITER_HOLDS_DOCUMENT(&f->details))
        err_problem(e, path, "details", "type_error",
                    "details must be an object");
}

static void append_members(bson_t *out, const bson_iter_t *doc)
{
    bson_iter_t it;

    if (!BSON_ITER_HOLDS_DOCUMENT(doc) || !bson_iter_recurse(doc, &it))
        return;
    while (bson_iter_next(&it))
        bson_append_iter(out, bson_iter_key(&it), -1, &it);
}

static void append_properties(bson_t *blob, const struct blob_fields *f)
{
    bson_t props;

    bson_append_document_begin(blob, "properties", -1, &props);
    if (f->has_properties)
        append_members(&props, &f->properties);
    if (f->has_metadata)
        append_members(&props, &f->metadata);
    if (f->has_data && BSON_ITER_HOLDS_DOCUMENT(&f->data))
        append_members(&props, &f->data);
    else if (f->has_data && !BSON_ITER_HOLDS_NULL(&f->data))
        bson_append_iter(&props, "data", 4, &f->data);
    bson_append_document_end(blob, &props);
}

static void append_details(bson_t *blob, const struct blob_fields *f)
{
    bson_t details;
    bson_iter_t it;
    uint64_t size = 0;
    char mime[96], sha[65];
    bool facts = false;

    if (f->has_data && BSON_ITER_HOLDS_UTF8(&f->data)) {
        uint32_t n;
        const char *s = bson_iter_utf8(&f->data, &n);
        facts = blobs_inline_facts(s, n, &size, mime, sha);
    }

    bson_append_document_begin(blob, "details", -1, &details);
    if (f->has_details && bson_iter_recurse(&f->details, &it)) {
        while (bson_iter_next(&it)) {
            const char *k = bson_iter_key(&it);
            if (facts && (strcmp(k, "size_bytes") == 0 ||
                          strcmp(k, "mime_type") == 0 ||
                          strcmp(k, "hash") == 0))
                continue;
            bson_append_iter(&details, k, -1, &it);
        }
    }
    if (facts) {
        BSON_APPEND_INT64(&details, "size_bytes", (int64_t)size);
        BSON_APPEND_UTF8(&details, "mime_type", mime);
        BSON_APPEND_UTF8(&details, "hash", sha);
    }
    bson_append_document_end(blob, &details);
}

static void append_blob_id(bson_t *blob, const struct blob_fields *f)
{
    char id[IDS_MAX];
    uint32_t n = 0;
    const char *given = f->has_blob_id && BSON_ITER_HOLDS_UTF8(&f->blob_id)
                            ? bson_iter_utf8(&f->blob_id, &n)
                            : NULL;

    if (given != NULL && ids_has_form(given, n, "blob_")) {
        bson_append_utf8(blob, "blob_id", 7, given, (int)n);
        return;
    }
    ids_generate("blob_", id);
    BSON_APPEND_UTF8(blob, "blob_id", id);
}

int blobs_build(const bson_iter_t *it, struct err_path *path, bson_t *out,
                const char *key, struct err *e)
{
    struct blob_fields f;
    bson_t blob;
    size_t before = e->problem_count;

    if (!BSON_ITER_HOLDS_DOCUMENT(it))
        return err_problem(e, path, NULL, "type_error",
                           "a blob must be an object");
    collect(it, &f);
    check_fields(&f, path, e);
    if (e->problem_count != before || e->code == ERR_NOMEM)
        return e->code;

    bson_append_document_begin(out, key, -1, &blob);
    append_blob_id(&blob, &f);
    bson_append_iter(&blob, "property", 8, &f.property);
    if (f.has_key_prefix && BSON_ITER_HOLDS_UTF8(&f.key_prefix))
        bson_append_iter(&blob, "key_prefix", 10, &f.key_prefix);
    bson_append_iter(&blob, "type", 4, &f.type);
    append_properties(&blob, &f);
    append_details(&blob, &f);
    bson_append_document_end(out, &blob);
    return 0;
}
