/*
 * fuzz_json.c - the JSON reader (json_parse) and the writer that turns
 * its BSON back into text.
 *
 * Each input is parsed three ways: as an object with the default depth,
 * as any value under a wrap key, and with a small max_depth. Properties
 * checked beyond "no crash":
 *   - on failure the output buffer is back at its length on entry, and
 *     the error offset lies within the text;
 *   - on success the BSON is valid, starts where the buffer ended, and
 *     writing it with jw_bson_document() then parsing that text gives the
 *     same bytes again;
 * plus json_format_double() on the input's first 8 bytes read as a
 * double: strtod() must read the text back to the same bits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "json/json.h"

/* A few bytes the parser must leave alone in front of its document. */
static const char prefix[] = "\x05\x00\x00\x00";

/* TUNING: the writer allows 512 levels; 600 covers any document the
 * reader could have accepted, wrapped or not. */
#define REREAD_MAX_DEPTH 600

static void check_round_trip(const char *bson, size_t len)
{
    bson_t doc;
    struct buf text = BUF_INIT, again = BUF_INIT;
    struct jw w;
    struct json_opts opts = {.max_depth = REREAD_MAX_DEPTH};
    struct json_error je;

    FUZZ_ASSERT(bson_init_static(&doc, (const uint8_t *)bson, len),
                "parsed BSON does not read back");
    FUZZ_ASSERT(bson_validate(&doc, BSON_VALIDATE_NONE, NULL),
                "parsed BSON is not valid");
    jw_init(&w, &text);
    jw_bson_document(&w, &doc);
    FUZZ_ASSERT(!text.oom, "out of memory writing");

    int rc = json_parse(text.data, text.len, &opts, &again, &je);
    FUZZ_ASSERT(rc == 0, "written JSON does not parse: %s at %zu: %.*s", je.msg,
                je.offset, (int)text.len, text.data);
    FUZZ_ASSERT(again.len == len && memcmp(again.data, bson, len) == 0,
                "round trip changed the document: %.*s", (int)text.len,
                text.data);
    buf_release(&text);
    buf_release(&again);
}

static void parse_one(const char *text, size_t n, const struct json_opts *opts)
{
    struct buf out = BUF_INIT;
    struct json_error je;
    size_t start = sizeof(prefix) - 1;

    buf_add(&out, prefix, start);
    int rc = json_parse(text, n, opts, &out, &je);
    FUZZ_ASSERT(rc == 0 || rc == ERR_BAD_REQUEST, "unexpected code %d", rc);
    FUZZ_ASSERT(memcmp(out.data, prefix, start) == 0,
                "the parser changed bytes before its document");
    if (rc != 0) {
        FUZZ_ASSERT(out.len == start, "failed parse left %zu bytes",
                    out.len - start);
        FUZZ_ASSERT(je.offset <= n, "error offset %zu past the text (%zu)",
                    je.offset, n);
        FUZZ_ASSERT(je.msg[0] != '\0', "error without a message");
    } else {
        check_round_trip(out.data + start, out.len - start);
    }
    buf_release(&out);
}

static void check_double(const uint8_t *data, size_t size)
{
    double d, back;
    char text[64];

    if (size < sizeof(d))
        return;
    memcpy(&d, data, sizeof(d));
    if (!isfinite(d))
        return;
    for (int keep = 0; keep < 2; keep++) {
        size_t n = json_format_double(d, text, keep);
        FUZZ_ASSERT(n > 0 && n < 32, "length %zu", n);
        text[n] = '\0';
        back = strtod(text, NULL);
        FUZZ_ASSERT(memcmp(&back, &d, sizeof(d)) == 0,
                    "%s does not read back as %.17g", text, d);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct json_opts plain = {0};
    struct json_opts wrapped = {.wrap_key = "value"};
    struct json_opts shallow = {.max_depth = 3};

    parse_one(text, size, &plain);
    parse_one(text, size, &wrapped);
    parse_one(text, size, &shallow);
    check_double(data, size);
    return 0;
}
