/*
 * log.h - one line per event, to stderr, for an operator to act on.
 *
 * A line reads:
 *   2026-12-03T13:41:46.123Z level=warn msg="store nearly full" used=97%
 * The message is short and lowercase; facts follow as key=value pairs.
 * Anything that came from a client goes through log_quote(), which
 * escapes quotes, control bytes and invalid UTF-8, so a hostile value can
 * neither forge a line nor break a log parser.
 *
 * LOG_* macros check the level before formatting anything, so a disabled
 * debug line costs one comparison. The access log (one line per HTTP
 * request) has its own stream and switch: see log_access().
 */
#ifndef TALLY_BASE_LOG_H
#define TALLY_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

extern enum log_level log_threshold;
extern bool log_access_enabled;

/* Parses "debug", "info", "warn", "error", "off"; -1 if unknown. */
int log_level_parse(const char *name);

void log_write(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The access log: one line per request on stdout, when enabled. */
void log_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes s (n bytes) as a double-quoted, escaped token into out (size
 * cap, always NUL-terminated, truncated with "..." when too long).
 * Returns out, so it can be an argument of a LOG_ call. */
const char *log_quote(char *out, size_t cap, const char *s, size_t n);

#define LOG_AT(lvl, msg, ...)                                                  \
    do {                                                                       \
        if ((lvl) >= log_threshold)                                            \
            log_write((lvl), (msg), __VA_ARGS__);                              \
    } while (0)

#define LOG_DEBUG(msg, ...) LOG_AT(LOG_DEBUG, msg, __VA_ARGS__)
#define LOG_INFO(msg, ...) LOG_AT(LOG_INFO, msg, __VA_ARGS__)
#define LOG_WARN(msg, ...) LOG_AT(LOG_WARN, msg, __VA_ARGS__)
#define LOG_ERROR(msg, ...) LOG_AT(LOG_ERROR, msg, __VA_ARGS__)

/* Reports a broken invariant and aborts: a bug, never an input error. */
#define BUG(...) log_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void log_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
