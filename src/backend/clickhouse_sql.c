/*
 * clickhouse_sql.c - SQL text for ClickHouse.
 *
 * ClickHouse 18.16 has no query parameters, so every value from a
 * request or a document reaches SQL through ch_sql_string() (or
 * ch_sql_bytes() for binary sort keys): the literal is quoted, and every
 * byte that could end it, start an escape or fail to print is written as
 * a \xHH escape. Bytes of UTF-8 characters (0x80 and up) pass as they
 * are: they cannot end a literal. Identifiers come from the server's own
 * ids and configuration, and are back-quoted all the same.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend/clickhouse.h"

static const char hexdigits[] = "0123456789abcdef";

static void hex_escape(struct buf *out, unsigned char c)
{
    char esc[4] = {'\\', 'x', hexdigits[c >> 4], hexdigits[c & 15]};
    buf_add(out, esc, 4);
}

/* Bytes that pass into a literal as they are: printable ASCII other than
 * the quote and the backslash, and every byte of a multi-byte UTF-8
 * character. */
static bool plain(unsigned char c)
{
    return (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\' && c != '`') ||
           c >= 0x80;
}

void ch_sql_string(struct buf *out, const char *s, size_t n)
{
    size_t run = 0;

    buf_add(out, "'", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (plain(c)) {
            run++;
            continue;
        }
        buf_add(out, s + i - run, run);
        run = 0;
        hex_escape(out, c);
    }
    buf_add(out, s + n - run, run);
    buf_add(out, "'", 1);
}

void ch_sql_cstring(struct buf *out, const char *s)
{
    ch_sql_string(out, s, strlen(s));
}

void ch_sql_bytes(struct buf *out, const void *p, size_t n)
{
    const unsigned char *b = p;

    buf_add(out, "'", 1);
    for (size_t i = 0; i < n; i++)
        hex_escape(out, b[i]);
    buf_add(out, "'", 1);
}

void ch_sql_ident(struct buf *out, const char *s)
{
    buf_add(out, "`", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (plain(c))
            buf_add(out, s, 1);
        else
            hex_escape(out, c);
    }
    buf_add(out, "`", 1);
}

void ch_sql_printf(struct buf *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(out, fmt, ap);
    va_end(ap);
}

/* RE2 reads a backslash before any punctuation as that character, and
 * letters, digits and _ stand for themselves: escaping every other ASCII
 * byte makes the text literal. */
void ch_regex_escape(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool word = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                    (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
        if (c < 0x20 || c == 0x7f)
            buf_addf(out, "\\x%02x", c);
        else if (!word)
            buf_addf(out, "\\%c", c);
        else
            buf_addc(out, (char)c);
    }
}

static void table_name(struct buf *out, const struct ch *ch,
                       const char *bucket_id, const char *suffix)
{
    char name[160];

    snprintf(name, sizeof(name), "objects_%s%s", bucket_id, suffix);
    ch_sql_ident(out, ch->db);
    buf_add(out, ".", 1);
    ch_sql_ident(out, name);
}

void ch_table_local(struct buf *out, const struct ch *ch, const char *bucket_id)
{
    table_name(out, ch, bucket_id, "_local");
}

void ch_table_dist(struct buf *out, const struct ch *ch, const char *bucket_id)
{
    table_name(out, ch, bucket_id, "");
}
