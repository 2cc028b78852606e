/*
 * clock.h - time sources and the date arithmetic of the contract.
 *
 * A date is an int64 count of milliseconds since 1970-01-01T00:00:00Z
 * (BSON's date), proleptic Gregorian calendar, always UTC. Every function
 * here is total over the years 0000-9999 that ISO 8601 strings can name.
 */
#ifndef TALLY_BASE_CLOCK_H
#define TALLY_BASE_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLOCK_RFC3339_LEN 24 /* "2024-03-04T00:00:00.000Z" */

int64_t clock_now_ms(void);      /* wall clock */
int64_t clock_mono_ns(void);     /* monotonic, for durations */

/* Writes the RFC 3339 UTC form with milliseconds and a NUL into out,
 * which must hold at least 32 bytes. Returns the length written. */
size_t clock_format_ms(int64_t ms, char *out);

/* Parses an ISO 8601 date or date-time (n bytes, not NUL-terminated):
 *   YYYY-MM-DD
 *   YYYY-MM-DD(T| )hh:mm[:ss[.fff...]][Z|(+|-)hh[:]mm|(+|-)hh]
 * A time without a zone is UTC; fractions past milliseconds are dropped.
 * Returns true and sets *ms when s is such a date, false otherwise. */
bool clock_parse_iso8601(const char *s, size_t n, int64_t *ms);

enum clock_unit {
    CLOCK_YEAR,
    CLOCK_MONTH,
    CLOCK_WEEK,        /* ISO: weeks start on Monday, week 1 holds a Thursday */
    CLOCK_DAY,
    CLOCK_HOUR,
    CLOCK_MINUTE,
    CLOCK_SECOND,
    CLOCK_DAY_OF_WEEK, /* date_part only: 1 = Sunday .. 7 = Saturday */
    CLOCK_DAY_OF_YEAR, /* date_part only: 1 .. 366 */
    CLOCK_UNIT_COUNT
};

/* Name as used on the wire ("dayOfWeek"); -1 for an unknown name. */
int clock_unit_parse(const char *name, size_t n);
const char *clock_unit_name(enum clock_unit unit);

/* The start of the unit that holds ms (unit: YEAR..SECOND). */
int64_t clock_trunc(int64_t ms, enum clock_unit unit);

/* The calendar component named by unit (every unit). */
int clock_part(int64_t ms, enum clock_unit unit);

/* Calendar helpers, exposed for tests and the column cache. */
int64_t clock_days_from_civil(int64_t y, int m, int d);
void clock_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
