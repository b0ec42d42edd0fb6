/* Time zones from the system tz database (TZif files), without touching the process's TZ. */
#ifndef PF_TZ_H
#define PF_TZ_H

#include <stddef.h>
#include <stdint.h>

struct pf_tz; /* opaque, immutable once loaded */

/*
 * Load zone `name` (e.g. "Asia/Shanghai") from $TZDIR or /usr/share/zoneinfo.
 * Returns 0, or a negative errno with a message in errbuf saying what to fix.
 */
__attribute__((warn_unused_result)) int pf_tz_load(const char *name, struct pf_tz **out,
						   char *errbuf, size_t errlen);
void pf_tz_free(struct pf_tz *tz);

/*
 * Wall-clock seconds (as if UTC: days since epoch * 86400 + seconds of day) in this zone
 * -> UTC seconds. Ambiguous times (clocks set back) take the earlier instant; times in a gap
 * (clocks set forward) take the offset in force before the gap, as mktime(3) does.
 */
int64_t pf_tz_local_to_utc(const struct pf_tz *tz, int64_t local_seconds);

/* UTC seconds -> offset from UTC in seconds at that instant. */
int32_t pf_tz_offset_at(const struct pf_tz *tz, int64_t utc_seconds);

/* Proleptic Gregorian calendar: days since 1970-01-01 <-> year, month 1..12, day 1..31. */
int64_t pf_days_from_civil(int64_t year, unsigned month, unsigned day);
void pf_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day);

#endif
