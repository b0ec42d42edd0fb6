/* Time zones read from the tz database's TZif files (RFC 8536), including the POSIX TZ footer. */

/*
 * Hand-written because glibc has no per-zone API: localtime_r() and mktime() consult the
 * process-wide TZ, and switching it with setenv()+tzset() is not thread-safe and would change
 * every other module's idea of local time. A zone here is an immutable value.
 *
 * Debian ships "fat" TZif files whose transition tables end in 2037; slim files end much
 * earlier. Either way, instants after the last transition follow the footer's POSIX TZ rule
 * (e.g. "CET-1CEST,M3.5.0,M10.5.0/3"), so the rule is implemented, not just the table.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pf_tz.h"

#define DAY 86400
#define TZ_FILE_MAX (1 << 20) /* real TZif files are a few KiB */
#define TZ_NAME_MAX 255
#define TZ_TIME_MAX (INT64_C(1) << 59) /* clamp: keeps calendar arithmetic free of overflow */
#define TZ_HDR_LEN 44

struct tz_type {
	int32_t utoff; /* seconds east of UTC */
	bool isdst;
};

/* When a POSIX rule switches: a date form and the local wall time of day of the switch. */
struct rule_date {
	char form;	      /* 'J' (Jn, 1..365, no Feb 29), 'D' (n, 0..365), 'M' */
	int month, week, day; /* 'M': Mm.w.d; 'J'/'D': day only */
	int32_t secs;	      /* may be negative or past 24h (RFC 8536 3.3.1) */
};

struct tz_rule {
	int32_t std_off;
	int32_t dst_off;
	bool has_dst;
	struct rule_date start, end; /* start of DST in standard time, end in DST */
};

struct pf_tz {
	size_t n_trans;
	int64_t *trans;	     /* UTC seconds, strictly ascending */
	uint8_t *trans_type; /* types[] index in force from trans[i] on */
	size_t n_types;
	struct tz_type types[256];
	bool has_rule; /* footer present: governs instants after trans[] */
	struct tz_rule rule;
};

struct tzif_hdr {
	char version; /* 0, '2', '3', '4' */
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

int64_t pf_days_from_civil(int64_t year, unsigned month, unsigned day)
{
	int64_t y = year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

void pf_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*day = doy - (153 * mp + 2) / 5 + 1;
	*month = mp < 10 ? mp + 3 : mp - 9;
	*year = (int64_t)yoe + era * 400 + (*month <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t year_of(int64_t secs)
{
	int64_t y;
	unsigned m, d;

	pf_civil_from_days(floor_div(secs, DAY), &y, &m, &d);
	return y;
}

/* ---- POSIX TZ rule (the TZif footer) ---- */

/* A zone abbreviation: 3+ letters, or <...> of alphanumerics and signs. */
static const char *parse_abbr(const char *s)
{
	const char *p = s;

	if (*p == '<') {
		for (p++; *p && *p != '>'; p++)
			if (!(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z') &&
			    !(*p >= '0' && *p <= '9') && *p != '+' && *p != '-')
				return NULL;
		return *p == '>' && p - s >= 4 ? p + 1 : NULL;
	}
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p - s >= 3 ? p : NULL;
}

static const char *parse_uint(const char *s, int max, int *out)
{
	int v = 0;

	if (*s < '0' || *s > '9')
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (*s - '0');
		if (v > max)
			return NULL;
	}
	*out = v;
	return s;
}

/* [+-]hh[:mm[:ss]] -> signed seconds; hours up to max_h. */
static const char *parse_hms(const char *s, int max_h, int32_t *out)
{
	int sign = 1, h, m = 0, sec = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (!(s = parse_uint(s, max_h, &h)))
		return NULL;
	if (*s == ':' && !(s = parse_uint(s + 1, 59, &m)))
		return NULL;
	if (*s == ':' && !(s = parse_uint(s + 1, 59, &sec)))
		return NULL;
	*out = sign * (h * 3600 + m * 60 + sec);
	return s;
}

static const char *parse_date(const char *s, struct rule_date *d)
{
	d->secs = 2 * 3600;
	if (*s == 'M') {
		d->form = 'M';
		if (!(s = parse_uint(s + 1, 12, &d->month)) || d->month < 1 || *s != '.')
			return NULL;
		if (!(s = parse_uint(s + 1, 5, &d->week)) || d->week < 1 || *s != '.')
			return NULL;
		if (!(s = parse_uint(s + 1, 6, &d->day)))
			return NULL;
	} else if (*s == 'J') {
		d->form = 'J';
		if (!(s = parse_uint(s + 1, 365, &d->day)) || d->day < 1)
			return NULL;
	} else {
		d->form = 'D';
		if (!(s = parse_uint(s, 365, &d->day)))
			return NULL;
	}
	if (*s == '/')
		s = parse_hms(s + 1, 167, &d->secs);
	return s;
}

/* std offset [dst [offset] [,start[/time],end[/time]]]; POSIX offsets count west. */
static int parse_rule(const char *s, struct tz_rule *r)
{
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (!(s = parse_abbr(s)) || !(s = parse_hms(s, 24, &off)))
		return -1;
	r->std_off = -off;
	if (*s == '\0')
		return 0;
	if (!(s = parse_abbr(s)))
		return -1;
	r->has_dst = true;
	r->dst_off = r->std_off + 3600;
	if (*s != ',' && *s != '\0') {
		if (!(s = parse_hms(s, 24, &off)))
			return -1;
		r->dst_off = -off;
	}
	if (*s == '\0') /* POSIX leaves the default to the implementation; glibc uses US rules */
		s = ",M3.2.0,M11.1.0";
	if (*s != ',' || !(s = parse_date(s + 1, &r->start)))
		return -1;
	if (*s != ',' || !(s = parse_date(s + 1, &r->end)))
		return -1;
	return *s == '\0' ? 0 : -1;
}

static int64_t rule_day(const struct rule_date *d, int64_t year)
{
	int64_t jan1 = pf_days_from_civil(year, 1, 1);
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t first;
	int dow, mday, len;

	if (d->form == 'J')
		return jan1 + d->day - 1 + (is_leap(year) && d->day >= 60);
	if (d->form == 'D')
		return jan1 + d->day;
	first = pf_days_from_civil(year, (unsigned)d->month, 1);
	dow = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
	len = (int)mdays[d->month - 1] + (d->month == 2 && is_leap(year));
	mday = 1 + (d->day - dow + 7) % 7 + (d->week - 1) * 7;
	while (mday > len)
		mday -= 7;
	return first + mday - 1;
}

static void rule_switches(const struct tz_rule *r, int64_t year, int64_t *start, int64_t *end)
{
	*start = rule_day(&r->start, year) * DAY + r->start.secs - r->std_off;
	*end = rule_day(&r->end, year) * DAY + r->end.secs - r->dst_off;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
	int64_t start, end;
	bool dst;

	if (!r->has_dst)
		return r->std_off;
	rule_switches(r, year_of(t + r->std_off), &start, &end);
	if (start < end)
		dst = t >= start && t < end;
	else /* southern hemisphere, or Europe/Dublin's negative DST: the year starts in DST */
		dst = t < end || t >= start;
	return dst ? r->dst_off : r->std_off;
}

static int64_t rule_next(const struct tz_rule *r, int64_t t)
{
	int64_t best = INT64_MAX, year = year_of(t + r->std_off), start, end;

	if (!r->has_dst)
		return INT64_MAX;
	for (int64_t y = year - 1; y <= year + 1; y++) {
		rule_switches(r, y, &start, &end);
		if (start > t && start < best)
			best = start;
		if (end > t && end < best)
			best = end;
	}
	return best;
}

/* ---- lookups ---- */

static int64_t clamp_time(int64_t t)
{
	return t < -TZ_TIME_MAX ? -TZ_TIME_MAX : t > TZ_TIME_MAX ? TZ_TIME_MAX : t;
}

/* Index of the last transition at or before t; requires trans[0] <= t. */
static size_t trans_index(const struct pf_tz *tz, int64_t t)
{
	size_t lo = 0, hi = tz->n_trans;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static bool after_table(const struct pf_tz *tz, int64_t t)
{
	return tz->n_trans == 0 || t >= tz->trans[tz->n_trans - 1];
}

int32_t pf_tz_offset_at(const struct pf_tz *tz, int64_t utc_seconds)
{
	int64_t t = clamp_time(utc_seconds);

	if (after_table(tz, t) && tz->has_rule)
		return rule_offset(&tz->rule, t);
	if (tz->n_trans == 0 || t < tz->trans[0]) /* RFC 8536: before the first, type 0 */
		return tz->types[0].utoff;
	return tz->types[tz->trans_type[trans_index(tz, t)]].utoff;
}

/* The first instant after t at which the offset may change, or INT64_MAX. */
static int64_t next_change(const struct pf_tz *tz, int64_t t)
{
	if (!after_table(tz, t)) {
		if (t < tz->trans[0])
			return tz->trans[0];
		return tz->trans[trans_index(tz, t) + 1];
	}
	return tz->has_rule ? rule_next(&tz->rule, t) : INT64_MAX;
}

/*
 * Walk the offset periods that can contain wall time L (offsets stay within +-26 h) in time
 * order: the first period where L - offset falls inside is the earliest valid instant. If none
 * does, L is in a gap, which is detected where L overshoots one period and undershoots the next.
 */
int64_t pf_tz_local_to_utc(const struct pf_tz *tz, int64_t local_seconds)
{
	const int64_t window = 27 * 3600;
	int64_t L = clamp_time(local_seconds), t = L - window, gap = 0;
	bool in_gap = false;

	for (int i = 0; i < 32 && t <= L + window; i++) {
		int32_t off = pf_tz_offset_at(tz, t);
		int64_t next = next_change(tz, t), cand = L - off;

		if (cand >= t && cand < next)
			return cand;
		if (!in_gap && cand >= next && next != INT64_MAX &&
		    L - pf_tz_offset_at(tz, next) < next) {
			gap = cand;
			in_gap = true;
		}
		if (next == INT64_MAX)
			break;
		t = next;
	}
	return in_gap ? gap : L - pf_tz_offset_at(tz, L);
}

/* ---- loading ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int parse_hdr(const uint8_t *p, size_t len, struct tzif_hdr *h)
{
	if (len < TZ_HDR_LEN || memcmp(p, "TZif", 4) != 0)
		return -1;
	h->version = (char)p[4];
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	return 0;
}

static uint64_t data_len(const struct tzif_hdr *h, unsigned tsize)
{
	return (uint64_t)h->timecnt * (tsize + 1) + (uint64_t)h->typecnt * 6 + h->charcnt +
	       (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int bad(char *err, size_t errlen, const char *path, const char *what)
{
	snprintf(err, errlen, "%s: not a valid TZif file (%s)", path, what);
	return -EBADMSG;
}

/* The data block after a header; times are tsize (4 or 8) bytes. */
static int load_data(struct pf_tz *tz, const struct tzif_hdr *h, const uint8_t *p, unsigned tsize,
		     const char *path, char *err, size_t errlen)
{
	const uint8_t *idx = p + (size_t)h->timecnt * tsize, *ty = idx + h->timecnt;

	if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0)
		return bad(err, errlen, path, "type or abbreviation count");
	if ((h->isstdcnt && h->isstdcnt != h->typecnt) || (h->isutcnt && h->isutcnt != h->typecnt))
		return bad(err, errlen, path, "indicator counts");
	if (h->leapcnt) {
		snprintf(err, errlen,
			 "%s: zone counts leap seconds; use the zone without the "
			 "\"right/\" prefix",
			 path);
		return -EINVAL;
	}
	tz->n_types = h->typecnt;
	for (size_t i = 0; i < h->typecnt; i++, ty += 6) {
		int32_t off = (int32_t)be32(ty);

		if (off < -89999 || off > 93599 || ty[4] > 1 || ty[5] >= h->charcnt)
			return bad(err, errlen, path, "time type");
		tz->types[i] = (struct tz_type){.utoff = off, .isdst = ty[4]};
	}
	tz->n_trans = h->timecnt;
	if (!h->timecnt)
		return 0;
	tz->trans = malloc(h->timecnt * sizeof(*tz->trans));
	tz->trans_type = malloc(h->timecnt);
	if (!tz->trans || !tz->trans_type) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->timecnt; i++) {
		tz->trans[i] = tsize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
		tz->trans_type[i] = idx[i];
		if (idx[i] >= h->typecnt || (i && tz->trans[i] <= tz->trans[i - 1]))
			return bad(err, errlen, path, "transitions");
	}
	return 0;
}

static int load_footer(struct pf_tz *tz, const uint8_t *p, size_t len, const char *path, char *err,
		       size_t errlen)
{
	char rule[256];
	const uint8_t *nl;

	if (len < 2 || p[0] != '\n' || !(nl = memchr(p + 1, '\n', len - 1)))
		return bad(err, errlen, path, "footer");
	if ((size_t)(nl - p - 1) >= sizeof(rule))
		return bad(err, errlen, path, "footer too long");
	memcpy(rule, p + 1, (size_t)(nl - p - 1));
	rule[nl - p - 1] = '\0';
	if (rule[0] == '\0')
		return 0; /* no rule: the last transition's type stays in force */
	if (memchr(rule, '\0', (size_t)(nl - p - 1)) || parse_rule(rule, &tz->rule) < 0) {
		snprintf(err, errlen, "%s: unsupported TZ rule \"%.100s\"", path, rule);
		return -EBADMSG;
	}
	tz->has_rule = true;
	return 0;
}

/* Version 1 files have only 32-bit data; later ones repeat it with 64-bit times and a footer. */
static int parse_tzif(struct pf_tz *tz, const uint8_t *p, size_t len, const char *path, char *err,
		      size_t errlen)
{
	struct tzif_hdr h;
	uint64_t n;
	int rc;

	if (parse_hdr(p, len, &h) < 0)
		return bad(err, errlen, path, "no TZif header");
	n = data_len(&h, 4);
	if (n > len - TZ_HDR_LEN)
		return bad(err, errlen, path, "truncated");
	if (h.version == '\0')
		return load_data(tz, &h, p + TZ_HDR_LEN, 4, path, err, errlen);
	p += TZ_HDR_LEN + n;
	len -= TZ_HDR_LEN + n;
	if (parse_hdr(p, len, &h) < 0 || h.version == '\0')
		return bad(err, errlen, path, "no second header");
	n = data_len(&h, 8);
	if (n > len - TZ_HDR_LEN)
		return bad(err, errlen, path, "truncated");
	rc = load_data(tz, &h, p + TZ_HDR_LEN, 8, path, err, errlen);
	if (rc < 0)
		return rc;
	return load_footer(tz, p + TZ_HDR_LEN + n, len - TZ_HDR_LEN - n, path, err, errlen);
}

/* A zone name is a relative path of ordinary components: nothing that can leave the tz dir. */
static int check_name(const char *name, char *err, size_t errlen)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > TZ_NAME_MAX) {
		snprintf(err, errlen, "time zone name must be 1..%d characters, like Asia/Shanghai",
			 TZ_NAME_MAX);
		return -EINVAL;
	}
	for (const char *c = name; *c; c++) {
		bool starts = c == name || c[-1] == '/';

		if (*c == '/' ? starts || c[1] == '\0' : starts && *c == '.') {
			snprintf(err, errlen,
				 "time zone \"%.*s\" must be a zone name like "
				 "Asia/Shanghai, not a path",
				 64, name);
			return -EINVAL;
		}
		if (!(*c >= 'A' && *c <= 'Z') && !(*c >= 'a' && *c <= 'z') &&
		    !(*c >= '0' && *c <= '9') && !strchr("/_+-.", *c)) {
			snprintf(err, errlen,
				 "time zone \"%.*s\": invalid character (zone names use "
				 "letters, digits and /_+-.)",
				 64, name);
			return -EINVAL;
		}
	}
	if (strstr(name, "..")) {
		snprintf(err, errlen, "time zone \"%.*s\" must not contain \"..\"", 64, name);
		return -EINVAL;
	}
	return 0;
}

static int read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path,
			 rc == -ENOENT ? "unknown time zone (no such file)" : strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX) {
		snprintf(err, errlen, "%s: not a time zone file", path);
		rc = -EINVAL;
		goto out;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size &&
	       (n = read(fd, *buf + got, (size_t)st.st_size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(*buf);
			*buf = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	*len = got;
out:
	close(fd);
	return rc;
}

int pf_tz_load(const char *name, struct pf_tz **out, char *errbuf, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	struct pf_tz *tz;
	int rc;

	*out = NULL;
	if ((rc = check_name(name, errbuf, errlen)) < 0)
		return rc;
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		snprintf(errbuf, errlen, "time zone path too long");
		return -ENAMETOOLONG;
	}
	if ((rc = read_file(path, &buf, &len, errbuf, errlen)) < 0)
		return rc;
	tz = calloc(1, sizeof(*tz));
	if (!tz) {
		free(buf);
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = parse_tzif(tz, buf, len, path, errbuf, errlen);
	free(buf);
	if (rc < 0) {
		pf_tz_free(tz);
		return rc;
	}
	*out = tz;
	return 0;
}

void pf_tz_free(struct pf_tz *tz)
{
	if (!tz)
		return;
	free(tz->trans);
	free(tz->trans_type);
	free(tz);
}
