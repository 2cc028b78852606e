#include "base/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_PER_SECOND 1000
#define MS_PER_MINUTE (60 * MS_PER_SECOND)
#define MS_PER_HOUR (60 * MS_PER_MINUTE)
#define MS_PER_DAY ((int64_t)24 * MS_PER_HOUR)

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. Works in 400-year
 * eras whose years start in March, so that the leap day is the last day of
 * the year and month lengths follow a fixed pattern. */
int64_t clock_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                         /* [0, 399] */
    int64_t mp = (m + 9) % 12;                           /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;            /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void clock_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

size_t clock_format_ms(int64_t ms, char *out)
{
    int64_t days = floor_div(ms, MS_PER_DAY);
    int64_t rem = ms - days * MS_PER_DAY;
    int64_t y;
    int m, d;

    clock_civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, 32, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     (long long)y, m, d, (int)(rem / MS_PER_HOUR),
                     (int)(rem / MS_PER_MINUTE % 60),
                     (int)(rem / MS_PER_SECOND % 60), (int)(rem % 1000));
    return n < 0 ? 0 : (size_t)n;
}

/* Reads exactly `digits` decimal digits at *p; false if any is missing. */
static bool read_digits(const char **p, const char *end, int digits, int *out)
{
    int v = 0;

    if (end - *p < digits)
        return false;
    for (int i = 0; i < digits; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += digits;
    *out = v;
    return true;
}

static bool accept(const char **p, const char *end, char c)
{
    if (*p < end && **p == c) {
        (*p)++;
        return true;
    }
    return false;
}

static int days_in_month(int64_t y, int m)
{
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : len[m - 1];
}

static bool parse_date(const char **p, const char *end, int64_t *days)
{
    int y, m, d;

    if (!read_digits(p, end, 4, &y) || !accept(p, end, '-') ||
        !read_digits(p, end, 2, &m) || !accept(p, end, '-') ||
        !read_digits(p, end, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return false;
    *days = clock_days_from_civil(y, m, d);
    return true;
}

/* hh:mm[:ss[.fff]] into milliseconds since midnight. */
static bool parse_time(const char **p, const char *end, int64_t *ms)
{
    int hh, mm, ss = 0, frac = 0;

    if (!read_digits(p, end, 2, &hh) || !accept(p, end, ':') ||
        !read_digits(p, end, 2, &mm) || hh > 23 || mm > 59)
        return false;
    if (accept(p, end, ':')) {
        if (!read_digits(p, end, 2, &ss) || ss > 59)
            return false;
        if (accept(p, end, '.') || accept(p, end, ',')) {
            int scale = 100, digits = 0;
            while (*p < end && **p >= '0' && **p <= '9') {
                frac += (**p - '0') * scale;
                scale /= 10;
                digits++;
                (*p)++;
            }
            if (digits == 0)
                return false;
        }
    }
    *ms = (int64_t)hh * MS_PER_HOUR + (int64_t)mm * MS_PER_MINUTE +
          (int64_t)ss * MS_PER_SECOND + frac;
    return true;
}

/* Z, +hh:mm, +hhmm, +hh (or -) into an offset in milliseconds. */
static bool parse_zone(const char **p, const char *end, int64_t *offset)
{
    int hh, mm = 0;

    *offset = 0;
    if (*p == end || accept(p, end, 'Z') || accept(p, end, 'z'))
        return true;

    int sign = accept(p, end, '+') ? 1 : accept(p, end, '-') ? -1 : 0;
    if (sign == 0 || !read_digits(p, end, 2, &hh) || hh > 23)
        return false;
    if (*p < end) {
        accept(p, end, ':');
        if (!read_digits(p, end, 2, &mm) || mm > 59)
            return false;
    }
    *offset = sign * ((int64_t)hh * MS_PER_HOUR + (int64_t)mm * MS_PER_MINUTE);
    return true;
}

bool clock_parse_iso8601(const char *s, size_t n, int64_t *ms)
{
    const char *p = s, *end = s + n;
    int64_t days, time_ms = 0, offset = 0;

    if (!parse_date(&p, end, &days))
        return false;
    if (p < end) {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return false;
        p++;
        if (!parse_time(&p, end, &time_ms) || !parse_zone(&p, end, &offset))
            return false;
    }
    if (p != end)
        return false;
    *ms = days * MS_PER_DAY + time_ms - offset;
    return true;
}

static const char *const unit_names[CLOCK_UNIT_COUNT] = {
    [CLOCK_YEAR] = "year",     [CLOCK_MONTH] = "month",
    [CLOCK_WEEK] = "week",     [CLOCK_DAY] = "day",
    [CLOCK_HOUR] = "hour",     [CLOCK_MINUTE] = "minute",
    [CLOCK_SECOND] = "second", [CLOCK_DAY_OF_WEEK] = "dayOfWeek",
    [CLOCK_DAY_OF_YEAR] = "dayOfYear",
};

int clock_unit_parse(const char *name, size_t n)
{
    for (int i = 0; i < CLOCK_UNIT_COUNT; i++)
        if (strlen(unit_names[i]) == n && memcmp(unit_names[i], name, n) == 0)
            return i;
    return -1;
}

const char *clock_unit_name(enum clock_unit unit)
{
    return unit < CLOCK_UNIT_COUNT ? unit_names[unit] : "?";
}

/* 0 = Monday .. 6 = Sunday; 1970-01-01 was a Thursday. */
static int weekday_monday0(int64_t days)
{
    return (int)((days % 7 + 7 + 3) % 7);
}

int64_t clock_trunc(int64_t ms, enum clock_unit unit)
{
    int64_t days = floor_div(ms, MS_PER_DAY), y;
    int m, d;

    switch (unit) {
    case CLOCK_YEAR:
        clock_civil_from_days(days, &y, &m, &d);
        return clock_days_from_civil(y, 1, 1) * MS_PER_DAY;
    case CLOCK_MONTH:
        clock_civil_from_days(days, &y, &m, &d);
        return clock_days_from_civil(y, m, 1) * MS_PER_DAY;
    case CLOCK_WEEK:
        return (days - weekday_monday0(days)) * MS_PER_DAY;
    case CLOCK_DAY:
        return days * MS_PER_DAY;
    case CLOCK_HOUR:
        return floor_div(ms, MS_PER_HOUR) * MS_PER_HOUR;
    case CLOCK_MINUTE:
        return floor_div(ms, MS_PER_MINUTE) * MS_PER_MINUTE;
    case CLOCK_SECOND:
        return floor_div(ms, MS_PER_SECOND) * MS_PER_SECOND;
    default:
        return ms;
    }
}

/* ISO 8601 week number: the week (Monday-based) that holds the Thursday
 * of the date's week belongs to the year of that Thursday. */
static int iso_week(int64_t days)
{
    int64_t thursday = days - weekday_monday0(days) + 3, y;
    int m, d;

    clock_civil_from_days(thursday, &y, &m, &d);
    return (int)((thursday - clock_days_from_civil(y, 1, 1)) / 7 + 1);
}

int clock_part(int64_t ms, enum clock_unit unit)
{
    int64_t days = floor_div(ms, MS_PER_DAY), y;
    int64_t rem = ms - days * MS_PER_DAY;
    int m, d;

    /* Time of day and weekday need no calendar. */
    switch (unit) {
    case CLOCK_HOUR:
        return (int)(rem / MS_PER_HOUR);
    case CLOCK_MINUTE:
        return (int)(rem / MS_PER_MINUTE % 60);
    case CLOCK_SECOND:
        return (int)(rem / MS_PER_SECOND % 60);
    case CLOCK_DAY_OF_WEEK:
        return (weekday_monday0(days) + 1) % 7 + 1;
    case CLOCK_WEEK:
        return iso_week(days);
    default:
        break;
    }

    clock_civil_from_days(days, &y, &m, &d);
    switch (unit) {
    case CLOCK_YEAR:
        return (int)y;
    case CLOCK_MONTH:
        return m;
    case CLOCK_DAY:
        return d;
    case CLOCK_DAY_OF_YEAR:
        return (int)(days - clock_days_from_civil(y, 1, 1) + 1);
    default:
        return 0;
    }
}
