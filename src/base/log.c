#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/utf8.h"

enum log_level log_threshold = LOG_INFO;
bool log_access_enabled = false;

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};

int log_level_parse(const char *name)
{
    for (int i = LOG_DEBUG; i <= LOG_OFF; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* Formats into one buffer and writes it with one call, so that lines from
 * different threads never interleave. */
static void emit(FILE *out, const char *head, const char *fmt, va_list ap)
{
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s", head);

    if (fmt != NULL && fmt[0] != '\0' && n < (int)sizeof(line) - 2) {
        line[n++] = ' ';
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        n = m < 0 ? n : n + m;
    }
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, out);
    fflush(out);
}

void log_write(enum log_level level, const char *msg, const char *fmt, ...)
{
    char stamp[32], head[512], quoted[400];

    clock_format_ms(clock_now_ms(), stamp);
    snprintf(head, sizeof(head), "%s level=%s msg=%s", stamp,
             level_names[level], log_quote(quoted, sizeof(quoted), msg,
                                           strlen(msg)));
    va_list ap;
    va_start(ap, fmt);
    emit(stderr, head, fmt, ap);
    va_end(ap);
}

void log_access(const char *fmt, ...)
{
    char stamp[32];

    if (!log_access_enabled)
        return;
    clock_format_ms(clock_now_ms(), stamp);
    va_list ap;
    va_start(ap, fmt);
    emit(stdout, stamp, fmt, ap);
    va_end(ap);
}

const char *log_quote(char *out, size_t cap, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    if (cap < 8) {
        if (cap > 0)
            out[0] = '\0';
        return out;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        char esc[8];
        size_t elen = 0, step = 1;
        unsigned c = p[i];

        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, elen = 2;
        } else if (c >= 0x20 && c < 0x7F) {
            esc[0] = (char)c, elen = 1;
        } else if (c >= 0x80 && (step = utf8_sequence_len(p + i, n - i)) > 0) {
            memcpy(esc, p + i, step), elen = step;
        } else {
            step = 1;
            elen = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
        }
        if (o + elen + 5 > cap) {
            memcpy(out + o, "...", 3), o += 3;
            break;
        }
        memcpy(out + o, esc, elen), o += elen;
        i += step - 1;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

_Noreturn void log_bug(const char *file, int line, const char *fmt, ...)
{
    char head[256];

    snprintf(head, sizeof(head), "BUG at %s:%d:", file, line);
    va_list ap;
    va_start(ap, fmt);
    emit(stderr, head, fmt, ap);
    va_end(ap);
    abort();
}
