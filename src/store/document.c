#include "store/document.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/ids.h"
#include "base/utf8.h"
#include "store/blobs.h"

static const char *const statuses[] = {
    "PENDING", "IN_PROGRESS", "PROCESSING", "COMPLETED",
    "COMPLETED_WITH_ERRORS", "FAILED", "CANCELED", "UNKNOWN",
    "SKIPPED", "DRAFT", "ACTIVE", "ARCHIVED", "SUSPENDED"};

/* Request-only switches of the upstream API that mean nothing here and
 * are not stored. */
static const char *const dropped[] = {"skip_duplicates", "canonicalize_source",
                                      "force_remirror"};

/* Members the builder writes itself, in this order. */
static const char *const system_fields[] = {
    "object_id", "bucket_id", "key_prefix", "status",
    "created_at", "updated_at", "metadata", "blobs"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

bool document_status_valid(const char *s)
{
    return in_list(s, statuses, COUNT(statuses));
}

static bool find(const bson_t *doc, const char *key, bson_iter_t *it)
{
    return doc != NULL && bson_iter_init_find(it, doc, key);
}

static bool spec_str(const bson_iter_t *spec, const char *key,
                     const char **out)
{
    bson_iter_t it;

    if (!bson_iter_recurse(spec, &it) || !bson_iter_find(&it, key) ||
        !BSON_ITER_HOLDS_UTF8(&it))
        return false;
    *out = bson_iter_utf8(&it, NULL);
    return true;
}

static bool spec_flag(const bson_iter_t *spec, const char *key)
{
    bson_iter_t it;

    return bson_iter_recurse(spec, &it) && bson_iter_find(&it, key) &&
           BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
}

static bool spec_child(const bson_iter_t *spec, const char *key,
                       bson_iter_t *out)
{
    return bson_iter_recurse(spec, out) && bson_iter_find(out, key) &&
           (BSON_ITER_HOLDS_DOCUMENT(out) || BSON_ITER_HOLDS_ARRAY(out));
}

/* --- schema values ----------------------------------------------------- */

static void append_checked(const bson_iter_t *spec, const bson_iter_t *val,
                           bson_t *out, const char *key,
                           struct err_path *path, struct err *e);

static bool is_number(const bson_iter_t *v)
{
    return BSON_ITER_HOLDS_INT32(v) || BSON_ITER_HOLDS_INT64(v) ||
           BSON_ITER_HOLDS_DOUBLE(v);
}

static void append_date(const bson_iter_t *val, bson_t *out, const char *key,
                        struct err_path *path, struct err *e)
{
    uint32_t n;
    int64_t ms;

    if (BSON_ITER_HOLDS_DATE_TIME(val)) {
        bson_append_date_time(out, key, -1, bson_iter_date_time(val));
        return;
    }
    const char *s = BSON_ITER_HOLDS_UTF8(val) ? bson_iter_utf8(val, &n) : NULL;
    if (s == NULL || !clock_parse_iso8601(s, n, &ms)) {
        err_problem(e, path, NULL, "date_error",
                    "must be an ISO 8601 date or date-time string");
        return;
    }
    bson_append_date_time(out, key, -1, ms);
}

static void append_integer(const bson_iter_t *val, bson_t *out,
                           const char *key, struct err_path *path,
                           struct err *e)
{
    if (BSON_ITER_HOLDS_INT32(val) || BSON_ITER_HOLDS_INT64(val)) {
        bson_append_iter(out, key, -1, val);
        return;
    }
    double d = BSON_ITER_HOLDS_DOUBLE(val) ? bson_iter_double(val) : NAN;
    if (d != floor(d) || fabs(d) >= 9.2e18) {
        err_problem(e, path, NULL, "int_type", "must be an integer");
        return;
    }
    bson_append_int64(out, key, -1, (int64_t)d);
}

static void append_object(const bson_iter_t *spec, const bson_iter_t *val,
                          bson_t *out, const char *key,
                          struct err_path *path, struct err *e);

static void append_array(const bson_iter_t *spec, const bson_iter_t *val,
                         bson_t *out, const char *key, struct err_path *path,
                         struct err *e)
{
    bson_iter_t items, it;
    bson_t arr;

    if (!BSON_ITER_HOLDS_ARRAY(val)) {
        err_problem(e, path, NULL, "list_type", "must be an array");
        return;
    }
    if (!spec_child(spec, "items", &items) ||
        !BSON_ITER_HOLDS_DOCUMENT(&items)) {
        bson_append_iter(out, key, -1, val);
        return;
    }
    bson_append_array_begin(out, key, -1, &arr);
    bson_iter_recurse(val, &it);
    for (long i = 0; bson_iter_next(&it); i++) {
        int saved = err_path_index(path, i);
        append_checked(&items, &it, &arr, bson_iter_key(&it), path, e);
        err_path_pop(path, saved);
    }
    bson_append_array_end(out, &arr);
}

static bool enum_allows(const bson_iter_t *spec, const bson_iter_t *val)
{
    bson_iter_t list, it;
    const bson_value_t *v = bson_iter_value((bson_iter_t *)val);

    if (!spec_child(spec, "enum", &list) || !BSON_ITER_HOLDS_ARRAY(&list))
        return true;
    bson_iter_recurse(&list, &it);
    while (bson_iter_next(&it)) {
        const bson_value_t *w = bson_iter_value(&it);
        if (v->value_type == BSON_TYPE_UTF8 && w->value_type == BSON_TYPE_UTF8 &&
            v->value.v_utf8.len == w->value.v_utf8.len &&
            memcmp(v->value.v_utf8.str, w->value.v_utf8.str,
                   v->value.v_utf8.len) == 0)
            return true;
        if (is_number(val) && is_number(&it) &&
            bson_iter_as_double(val) == bson_iter_as_double(&it))
            return true;
        if (v->value_type == BSON_TYPE_BOOL && w->value_type == BSON_TYPE_BOOL &&
            v->value.v_bool == w->value.v_bool)
            return true;
    }
    return false;
}

/* Appends val (checked against spec and converted where the type asks)
 * to out under key. */
static void append_checked(const bson_iter_t *spec, const bson_iter_t *val,
                           bson_t *out, const char *key,
                           struct err_path *path, struct err *e)
{
    const char *type = "";

    spec_str(spec, "type", &type);
    if (BSON_ITER_HOLDS_NULL(val)) {
        bson_append_null(out, key, -1);
        return;
    }
    if (!enum_allows(spec, val))
        err_problem(e, path, NULL, "enum", "must be one of the enum values");

    if (strcmp(type, "date") == 0 || strcmp(type, "datetime") == 0)
        append_date(val, out, key, path, e);
    else if (strcmp(type, "integer") == 0)
        append_integer(val, out, key, path, e);
    else if (strcmp(type, "object") == 0)
        append_object(spec, val, out, key, path, e);
    else if (strcmp(type, "array") == 0)
        append_array(spec, val, out, key, path, e);
    else {
        bool ok = strcmp(type, "string") == 0    ? BSON_ITER_HOLDS_UTF8(val)
                  : strcmp(type, "boolean") == 0 ? BSON_ITER_HOLDS_BOOL(val)
                  : strcmp(type, "number") == 0 || strcmp(type, "float") == 0
                      ? is_number(val)
                      : true;
        if (!ok)
            err_problem(e, path, NULL, "type_error", "must be of type %s",
                        type);
        bson_append_iter(out, key, -1, val);
    }
}

/* Checks the members of val (a document) against the field specs in props
 * (a document of name -> spec): declared members are checked, undeclared
 * ones kept as they are, and declared but absent required members
 * reported. File-typed specs are left to the blob check. */
static void append_members_checked(const bson_iter_t *props,
                                   const bson_iter_t *val, bson_t *out,
                                   struct err_path *path, struct err *e)
{
    bson_iter_t it, spec;

    if (val != NULL && bson_iter_recurse(val, &it)) {
        while (bson_iter_next(&it)) {
            const char *k = bson_iter_key(&it);
            const char *type = "";
            bool declared = bson_iter_recurse(props, &spec) &&
                            bson_iter_find(&spec, k) &&
                            BSON_ITER_HOLDS_DOCUMENT(&spec) &&
                            spec_str(&spec, "type", &type) &&
                            !blobs_is_file_type(type);
            int saved = err_path_key(path, k);
            if (declared)
                append_checked(&spec, &it, out, k, path, e);
            else
                bson_append_iter(out, k, -1, &it);
            err_path_pop(path, saved);
        }
    }

    bson_iter_recurse(props, &spec);
    while (bson_iter_next(&spec)) {
        const char *k = bson_iter_key(&spec), *type = "";
        bson_iter_t present, def;
        if (!BSON_ITER_HOLDS_DOCUMENT(&spec) ||
            !spec_str(&spec, "type", &type) || blobs_is_file_type(type))
            continue;
        bool has = val != NULL && bson_iter_recurse(val, &present) &&
                   bson_iter_find(&present, k);
        if (!has && bson_iter_recurse(&spec, &def) &&
            bson_iter_find(&def, "default") && !BSON_ITER_HOLDS_NULL(&def)) {
            int saved = err_path_key(path, k);
            append_checked(&spec, &def, out, k, path, e);
            err_path_pop(path, saved);
            continue;
        }
        if (spec_flag(&spec, "required") &&
            (!has || BSON_ITER_HOLDS_NULL(&present)))
            err_problem(e, path, k, "missing",
                        "field \"%s\" is required by the bucket schema", k);
    }
}

static void append_object(const bson_iter_t *spec, const bson_iter_t *val,
                          bson_t *out, const char *key,
                          struct err_path *path, struct err *e)
{
    bson_iter_t props;
    bson_t obj;

    if (!BSON_ITER_HOLDS_DOCUMENT(val)) {
        err_problem(e, path, NULL, "dict_type", "must be an object");
        return;
    }
    if (!spec_child(spec, "properties", &props) ||
        !BSON_ITER_HOLDS_DOCUMENT(&props)) {
        bson_append_iter(out, key, -1, val);
        return;
    }
    bson_append_document_begin(out, key, -1, &obj);
    append_members_checked(&props, val, &obj, path, e);
    bson_append_document_end(out, &obj);
}

/* --- the object -------------------------------------------------------- */

static bool schema_props(const struct catalog_bucket *b, bson_iter_t *props)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, &b->record, "bucket_schema") &&
           BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, props) &&
           bson_iter_find(props, "properties") &&
           BSON_ITER_HOLDS_DOCUMENT(props);
}

static void append_metadata(const struct catalog_bucket *b,
                            const bson_t *body, bson_t *out,
                            struct err_path *path, struct err *e)
{
    bson_iter_t meta, props;
    bson_t doc;
    bool has = find(body, "metadata", &meta) && !BSON_ITER_HOLDS_NULL(&meta);
    int saved = err_path_key(path, "metadata");

    if (has && !BSON_ITER_HOLDS_DOCUMENT(&meta)) {
        err_problem(e, path, NULL, "dict_type", "metadata must be an object");
        has = false;
    }
    if (!schema_props(b, &props)) {
        /* Nothing to check or convert: the client's object as it is. */
        if (has)
            bson_append_iter(out, "metadata", 8, &meta);
        else
            bson_append_document(out, "metadata", 8, &(bson_t)BSON_INITIALIZER);
        err_path_pop(path, saved);
        return;
    }
    bson_append_document_begin(out, "metadata", 8, &doc);
    append_members_checked(&props, has ? &meta : NULL, &doc, path, e);
    bson_append_document_end(out, &doc);
    err_path_pop(path, saved);
}

/* Declared file fields must match a blob's property and type. */
static void check_blob_fields(const struct catalog_bucket *b,
                              const bson_t *built, struct err_path *path,
                              struct err *e)
{
    bson_iter_t schema, props, blobs, blob;

    if (!schema_props(b, &schema) || !find(built, "blobs", &blobs) ||
        !bson_iter_recurse(&schema, &props))
        return;
    while (bson_iter_next(&props)) {
        const char *name = bson_iter_key(&props), *type = "", *t2, *p;
        bool found = false;
        if (!BSON_ITER_HOLDS_DOCUMENT(&props) ||
            !spec_str(&props, "type", &type) || !blobs_is_file_type(type))
            continue;
        bson_iter_recurse(&blobs, &blob);
        while (bson_iter_next(&blob)) {
            if (!spec_str(&blob, "property", &p) || strcmp(p, name) != 0)
                continue;
            found = true;
            if (spec_str(&blob, "type", &t2) && strcmp(t2, type) != 0)
                err_problem(e, path, "blobs", "type_error",
                            "blob \"%s\" must be of type %s, not %s", name,
                            type, t2);
        }
        if (!found && spec_flag(&props, "required"))
            err_problem(e, path, "blobs", "missing",
                        "a blob with property \"%s\" is required by the "
                        "bucket schema",
                        name);
    }
}

static void append_blobs(const bson_t *body, bson_t *out,
                         struct err_path *path, struct err *e)
{
    bson_iter_t blobs, it;
    bson_t arr;
    int saved = err_path_key(path, "blobs");
    bool has = find(body, "blobs", &blobs) && !BSON_ITER_HOLDS_NULL(&blobs);

    if (has && !BSON_ITER_HOLDS_ARRAY(&blobs)) {
        err_problem(e, path, NULL, "list_type", "blobs must be an array");
        has = false;
    }
    bson_append_array_begin(out, "blobs", 5, &arr);
    if (has && bson_iter_recurse(&blobs, &it)) {
        for (long i = 0; bson_iter_next(&it); i++) {
            char key[24];
            snprintf(key, sizeof(key), "%ld", i);
            int inner = err_path_index(path, i);
            blobs_build(&it, path, &arr, key, e);
            err_path_pop(path, inner);
        }
    }
    bson_append_array_end(out, &arr);
    err_path_pop(path, saved);
}

static void append_object_id(const struct document_input *in, bson_t *out,
                             struct err_path *path, struct err *e)
{
    bson_iter_t it;
    char id[IDS_MAX];
    uint32_t n;

    if (find(in->previous, "object_id", &it) && BSON_ITER_HOLDS_UTF8(&it)) {
        bson_append_iter(out, "object_id", 9, &it);
        return;
    }
    if (in->restore && find(in->body, "object_id", &it) &&
        !BSON_ITER_HOLDS_NULL(&it)) {
        const char *s = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &n)
                                                  : NULL;
        const char *bad = s ? catalog_name_problem(s, n, "\x01") : "";
        if (bad != NULL)
            err_problem(e, path, "object_id", "value_error",
                        "object_id must be a string that %s",
                        s ? bad : "is not empty");
        else
            bson_append_utf8(out, "object_id", 9, s, (int)n);
        return;
    }
    ids_generate("obj_", id);
    BSON_APPEND_UTF8(out, "object_id", id);
}

static void append_key_prefix(const struct document_input *in, bson_t *out,
                              struct err_path *path, struct err *e)
{
    bson_iter_t it;

    if (!find(in->body, "key_prefix", &it) || BSON_ITER_HOLDS_NULL(&it))
        return;
    if (!BSON_ITER_HOLDS_UTF8(&it))
        err_problem(e, path, "key_prefix", "string_type",
                    "key_prefix must be a string or null");
    else
        bson_append_iter(out, "key_prefix", 10, &it);
}

static void append_status(const struct document_input *in, bson_t *out,
                          struct err_path *path, struct err *e)
{
    bson_iter_t it;
    const char *status = "DRAFT";

    if (find(in->previous, "status", &it) && BSON_ITER_HOLDS_UTF8(&it))
        status = bson_iter_utf8(&it, NULL);
    if (find(in->body, "status", &it) && !BSON_ITER_HOLDS_NULL(&it)) {
        if (!BSON_ITER_HOLDS_UTF8(&it) ||
            !document_status_valid(bson_iter_utf8(&it, NULL)))
            err_problem(e, path, "status", "enum",
                        "status must be one of PENDING, IN_PROGRESS, "
                        "PROCESSING, COMPLETED, COMPLETED_WITH_ERRORS, "
                        "FAILED, CANCELED, UNKNOWN, SKIPPED, DRAFT, ACTIVE, "
                        "ARCHIVED, SUSPENDED");
        else
            status = bson_iter_utf8(&it, NULL);
    }
    BSON_APPEND_UTF8(out, "status", status);
}

/* created_at comes from the previous version, or from the body when
 * restoring, else now; updated_at from the body when restoring, else
 * now. */
static void append_times(const struct document_input *in, bson_t *out,
                         struct err_path *path, struct err *e)
{
    static const char *const keys[] = {"created_at", "updated_at"};

    for (int i = 0; i < 2; i++) {
        bson_iter_t it;
        int64_t ms = in->now_ms;
        uint32_t n;

        if (i == 0 && find(in->previous, keys[i], &it) &&
            BSON_ITER_HOLDS_DATE_TIME(&it))
            ms = bson_iter_date_time(&it);
        else if (in->restore && find(in->body, keys[i], &it) &&
                 !BSON_ITER_HOLDS_NULL(&it)) {
            const char *s = BSON_ITER_HOLDS_UTF8(&it)
                                ? bson_iter_utf8(&it, &n)
                                : NULL;
            if (s == NULL || !clock_parse_iso8601(s, n, &ms))
                err_problem(e, path, keys[i], "date_error",
                            "%s must be an ISO 8601 date-time string",
                            keys[i]);
        }
        bson_append_date_time(out, keys[i], -1, ms);
    }
}

static void append_others(const bson_t *body, bson_t *out)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, body))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (!in_list(k, system_fields, COUNT(system_fields)) &&
            !in_list(k, dropped, COUNT(dropped)))
            bson_append_iter(out, k, -1, &it);
    }
}

int document_build(const struct catalog_bucket *b,
                   const struct document_input *in, bson_t *out,
                   struct err *e)
{
    struct err_path path = {0};

    err_path_key(&path, "body");
    bson_init(out);
    append_object_id(in, out, &path, e);
    BSON_APPEND_UTF8(out, "bucket_id", b->id);
    append_key_prefix(in, out, &path, e);
    append_status(in, out, &path, e);
    append_times(in, out, &path, e);
    append_metadata(b, in->body, out, &path, e);
    append_blobs(in->body, out, &path, e);
    append_others(in->body, out);
    check_blob_fields(b, out, &path, e);

    if (e->code != ERR_OK) {
        bson_destroy(out);
        return e->code;
    }
    return 0;
}

/* --- merge patch ------------------------------------------------------- */

static void merge_into(bson_t *out, const bson_iter_t *target,
                       const bson_iter_t *patch);

static bool patch_member(const bson_iter_t *patch, const char *key,
                         bson_iter_t *out)
{
    return patch != NULL && bson_iter_recurse(patch, out) &&
           bson_iter_find(out, key);
}

/* Members of target, each replaced or merged by the patch's member of the
 * same name (null deletes), then the patch's new members. */
static void merge_into(bson_t *out, const bson_iter_t *target,
                       const bson_iter_t *patch)
{
    bson_iter_t it, p;

    if (target != NULL && bson_iter_recurse(target, &it)) {
        while (bson_iter_next(&it)) {
            const char *k = bson_iter_key(&it);
            if (!patch_member(patch, k, &p)) {
                bson_append_iter(out, k, -1, &it);
            } else if (BSON_ITER_HOLDS_DOCUMENT(&p) &&
                       BSON_ITER_HOLDS_DOCUMENT(&it)) {
                bson_t child;
                bson_append_document_begin(out, k, -1, &child);
                merge_into(&child, &it, &p);
                bson_append_document_end(out, &child);
            } else if (!BSON_ITER_HOLDS_NULL(&p)) {
                bson_append_iter(out, k, -1, &p);
            }
        }
    }
    if (patch == NULL || !bson_iter_recurse(patch, &p))
        return;
    while (bson_iter_next(&p)) {
        const char *k = bson_iter_key(&p);
        if (target != NULL && bson_iter_recurse(target, &it) &&
            bson_iter_find(&it, k))
            continue;
        if (BSON_ITER_HOLDS_DOCUMENT(&p)) {
            bson_t child;
            bson_append_document_begin(out, k, -1, &child);
            merge_into(&child, NULL, &p);
            bson_append_document_end(out, &child);
        } else if (!BSON_ITER_HOLDS_NULL(&p)) {
            bson_append_iter(out, k, -1, &p);
        }
    }
}

int document_merge_patch(const bson_t *target, const bson_t *patch,
                         bson_t *out)
{
    bson_t wrap_t, wrap_p;
    bson_iter_t t, p;

    /* Wrap both in one-member documents so that their top levels can be
     * walked like any nested member. */
    bson_init(&wrap_t);
    bson_init(&wrap_p);
    BSON_APPEND_DOCUMENT(&wrap_t, "d", target);
    BSON_APPEND_DOCUMENT(&wrap_p, "d", patch);
    bson_iter_init_find(&t, &wrap_t, "d");
    bson_iter_init_find(&p, &wrap_p, "d");
    bson_init(out);
    merge_into(out, &t, &p);
    bson_destroy(&wrap_t);
    bson_destroy(&wrap_p);
    return 0;
}

/* --- schema definitions ------------------------------------------------ */

static void check_field_spec(const bson_iter_t *spec, struct err_path *path,
                             struct err *e)
{
    const char *type;
    bson_iter_t child;

    if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
        err_problem(e, path, NULL, "dict_type",
                    "a field definition must be an object");
        return;
    }
    if (!spec_str(spec, "type", &type)) {
        err_problem(e, path, "type", "missing", "type is required");
        return;
    }
    if (!blobs_is_known_type(type))
        err_problem(e, path, "type", "enum", "unknown field type \"%s\"",
                    type);
    if (spec_child(spec, "properties", &child) &&
        BSON_ITER_HOLDS_DOCUMENT(&child)) {
        bson_iter_t it;
        int saved = err_path_key(path, "properties");
        bson_iter_recurse(&child, &it);
        while (bson_iter_next(&it)) {
            int inner = err_path_key(path, bson_iter_key(&it));
            check_field_spec(&it, path, e);
            err_path_pop(path, inner);
        }
        err_path_pop(path, saved);
    }
    if (spec_child(spec, "items", &child)) {
        int saved = err_path_key(path, "items");
        check_field_spec(&child, path, e);
        err_path_pop(path, saved);
    }
}

void document_check_schema(const bson_t *bucket_schema,
                           struct err_path *path, struct err *e)
{
    bson_iter_t props, it;

    if (!bson_iter_init_find(&props, bucket_schema, "properties") ||
        !BSON_ITER_HOLDS_DOCUMENT(&props)) {
        err_problem(e, path, "properties", "missing",
                    "bucket_schema.properties is required and must be an "
                    "object");
        return;
    }
    int saved = err_path_key(path, "properties");
    bson_iter_recurse(&props, &it);
    while (bson_iter_next(&it)) {
        int inner = err_path_key(path, bson_iter_key(&it));
        check_field_spec(&it, path, e);
        err_path_pop(path, inner);
    }
    err_path_pop(path, saved);
}
