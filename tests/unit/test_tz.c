/* Unit tests for daemon/tz.c: TZif loading, offsets, local->UTC, the POSIX footer rule. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pf_tz.h"

#define HOUR 3600

static struct pf_tz *load(const char *name)
{
	struct pf_tz *tz = NULL;
	char err[256] = "";
	int rc = pf_tz_load(name, &tz, err, sizeof(err));

	if (rc != 0)
		fail_msg("pf_tz_load(%s): %d %s", name, rc, err);
	return tz;
}

static int64_t wall(int y, unsigned mo, unsigned d, int h, int mi, int s)
{
	return pf_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static void test_civil_days(void **state)
{
	static const struct {
		int64_t y;
		unsigned m, d;
		int64_t days;
	} cases[] = {
		{1970, 1, 1, 0},	 {1969, 12, 31, -1},   {2000, 2, 29, 11016},
		{2000, 3, 1, 11017},	 {1900, 3, 1, -25508}, {2100, 3, 1, 47541},
		{9999, 12, 31, 2932896}, {1, 1, 1, -719162},   {2024, 12, 31, 20088},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t y;
		unsigned m, d;

		assert_int_equal(pf_days_from_civil(cases[i].y, cases[i].m, cases[i].d),
				 cases[i].days);
		pf_civil_from_days(cases[i].days, &y, &m, &d);
		assert_int_equal(y, cases[i].y);
		assert_int_equal(m, cases[i].m);
		assert_int_equal(d, cases[i].d);
	}
	/* every day from 1800 to 2300 round-trips and agrees with the C library */
	for (int64_t day = -62091; day < 120529; day++) {
		int64_t y;
		unsigned m, d;
		struct tm tm;
		time_t t = (time_t)(day * 86400);

		pf_civil_from_days(day, &y, &m, &d);
		assert_int_equal(pf_days_from_civil(y, m, d), day);
		gmtime_r(&t, &tm);
		assert_int_equal(y, tm.tm_year + 1900);
		assert_int_equal(m, (unsigned)tm.tm_mon + 1);
		assert_int_equal(d, (unsigned)tm.tm_mday);
	}
}

struct offset_case {
	const char *zone;
	int64_t utc;
	int32_t offset;
};

static void test_offsets(void **state)
{
	static const struct offset_case cases[] = {
		{"UTC", 0, 0},
		{"UTC", 4102444800, 0},
		{"Asia/Shanghai", 1687132805, 8 * HOUR},
		{"Asia/Shanghai", 515527199, 8 * HOUR},	 /* 1986-05-04 01:59:59 CST */
		{"Asia/Shanghai", 515527200, 9 * HOUR},	 /* 03:00:00 CDT: first DST year */
		{"Asia/Shanghai", 583729200, 9 * HOUR},	 /* 1988-07-01 */
		{"Asia/Shanghai", 631152000, 8 * HOUR},	 /* 1990-01-01 */
		{"Asia/Shanghai", 4118119200, 8 * HOUR}, /* 2100 */
		{"Europe/Berlin", 1705316400, 1 * HOUR},
		{"Europe/Berlin", 1719828000, 2 * HOUR},
		{"Europe/Berlin", 4109878799, 1 * HOUR}, /* 2100-03-28 00:59:59Z: from the footer */
		{"Europe/Berlin", 4109878800, 2 * HOUR},
		{"Europe/Berlin", 4128627599, 2 * HOUR}, /* 2100-10-31 */
		{"Europe/Berlin", 4128627600, 1 * HOUR},
		{"America/New_York", 4118119200, -4 * HOUR},
		{"America/New_York", 4102484400, -5 * HOUR},
		{"Europe/Dublin", 4118119200, 1 * HOUR}, /* negative DST in the footer */
		{"Europe/Dublin", 4102484400, 0},
		{"Australia/Sydney", 4102484400, 11 * HOUR}, /* southern hemisphere summer */
		{"Australia/Sydney", 4118119200, 10 * HOUR},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pf_tz *tz = load(cases[i].zone);
		int32_t got = pf_tz_offset_at(tz, cases[i].utc);

		if (got != cases[i].offset)
			fail_msg("%s at %lld: offset %d, expected %d", cases[i].zone,
				 (long long)cases[i].utc, got, cases[i].offset);
		pf_tz_free(tz);
	}
}

struct local_case {
	const char *zone;
	int y;
	unsigned mo, d;
	int h, mi;
	int64_t utc;
	const char *what;
};

static void test_local_to_utc(void **state)
{
	static const struct local_case cases[] = {
		{"UTC", 2023, 6, 19, 0, 0, 1687132800, "UTC is the identity"},
		{"Asia/Shanghai", 2023, 6, 19, 8, 0, 1687132800, "+08:00"},
		{"Asia/Shanghai", 1988, 7, 1, 12, 0, 583729200, "1988 DST, +09:00"},
		{"Asia/Shanghai", 1988, 4, 17, 2, 30, 577218600, "1988 gap: offset before"},
		{"Asia/Shanghai", 1988, 9, 11, 1, 30, 589912200, "1988 overlap: earlier"},
		{"Asia/Shanghai", 1990, 1, 1, 8, 0, 631152000, "after DST was abolished"},
		{"Europe/Berlin", 2024, 3, 31, 2, 30, 1711848600, "gap: offset before (CET)"},
		{"Europe/Berlin", 2024, 3, 31, 3, 30, 1711848600, "just after the gap (CEST)"},
		{"Europe/Berlin", 2024, 10, 27, 2, 30, 1729989000, "overlap: earlier (CEST)"},
		{"Europe/Berlin", 2024, 10, 27, 3, 30, 1729996200, "after the overlap (CET)"},
		{"Europe/Berlin", 2100, 7, 1, 12, 0, 4118119200, "2100 summer, footer"},
		{"Europe/Berlin", 2100, 3, 28, 2, 30, 4109880600, "2100 gap, footer"},
		{"Europe/Berlin", 2100, 10, 31, 2, 30, 4128625800, "2100 overlap, footer"},
		{"America/New_York", 2024, 3, 10, 2, 30, 1710055800, "gap: offset before (EST)"},
		{"America/New_York", 2024, 11, 3, 1, 30, 1730611800, "overlap: earlier (EDT)"},
		{"America/New_York", 2024, 11, 3, 2, 30, 1730619000, "after the overlap"},
		{"America/New_York", 2100, 3, 14, 2, 30, 4108692600, "2100 gap, footer"},
		{"America/New_York", 2100, 11, 7, 1, 30, 4129248600, "2100 overlap, footer"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct local_case *c = &cases[i];
		struct pf_tz *tz = load(c->zone);
		int64_t got = pf_tz_local_to_utc(tz, wall(c->y, c->mo, c->d, c->h, c->mi, 0));

		if (got != c->utc)
			fail_msg("%s %04d-%02u-%02u %02d:%02d (%s): %lld, expected %lld", c->zone,
				 c->y, c->mo, c->d, c->h, c->mi, c->what, (long long)got,
				 (long long)c->utc);
		pf_tz_free(tz);
	}
}

/* Every zone below agrees with the C library, sampled every ~2 days (odd step), 1900..2200. */
static void test_against_libc(void **state)
{
	static const char *const zones[] = {
		"Asia/Shanghai",    "Europe/Berlin", "America/New_York", "Europe/Dublin",
		"Australia/Sydney", "America/Nuuk",  "Pacific/Chatham",	 "Africa/Casablanca"};
	const char *old = getenv("TZ");
	char *saved = old ? strdup(old) : NULL;

	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		struct pf_tz *tz = load(zones[z]);

		setenv("TZ", zones[z], 1);
		tzset();
		for (int64_t t = -2208988800; t < 7258118400; t += 2 * 86400 + HOUR + 7 * 60 + 11) {
			time_t tt = (time_t)t;
			struct tm tm;
			int32_t off = pf_tz_offset_at(tz, t);
			int64_t back;

			localtime_r(&tt, &tm);
			if (off != tm.tm_gmtoff)
				fail_msg("%s at %lld: %d, libc says %ld", zones[z], (long long)t,
					 off, tm.tm_gmtoff);
			back = pf_tz_local_to_utc(tz, t + off);
			if (back > t || back + pf_tz_offset_at(tz, back) != t + off)
				fail_msg("%s: wall time of %lld maps back to %lld", zones[z],
					 (long long)t, (long long)back);
		}
		pf_tz_free(tz);
	}
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}

static void test_bad_names(void **state)
{
	static const struct {
		const char *name;
		int rc;
	} cases[] = {
		{"", -EINVAL},
		{"../etc/passwd", -EINVAL},
		{"Asia/../Europe/Berlin", -EINVAL},
		{"/etc/localtime", -EINVAL},
		{"Asia//Shanghai", -EINVAL},
		{"Asia/Shanghai/", -EINVAL},
		{"./UTC", -EINVAL},
		{".hidden", -EINVAL},
		{"Asia/Shang hai", -EINVAL},
		{"Mars/Olympus_Mons", -ENOENT},
		{"Asia", -EINVAL}, /* a directory */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pf_tz *tz = (struct pf_tz *)1;
		char err[256] = "";
		int rc = pf_tz_load(cases[i].name, &tz, err, sizeof(err));

		if (rc != cases[i].rc)
			fail_msg("\"%s\": %d (%s), expected %d", cases[i].name, rc, err,
				 cases[i].rc);
		assert_null(tz);
		assert_true(strlen(err) > 10);
	}
}

/* ---- hand-built TZif files under a private $TZDIR ---- */

struct tzdir {
	char path[64];
	char *old;
};

static void put32(uint8_t **p, uint32_t v)
{
	for (int i = 3; i >= 0; i--)
		*(*p)++ = (uint8_t)(v >> (8 * i));
}

/* A slim-style v2 file: no transitions, one type, everything from the footer. */
static size_t slim_tzif(uint8_t *buf, int32_t utoff, const char *abbr, const char *footer)
{
	uint8_t *p = buf;
	size_t alen = strlen(abbr) + 1;

	for (int part = 0; part < 2; part++) {
		memcpy(p, "TZif2", 5);
		memset(p + 5, 0, 15);
		p += 20;
		put32(&p, 0);		   /* isutcnt */
		put32(&p, 0);		   /* isstdcnt */
		put32(&p, 0);		   /* leapcnt */
		put32(&p, 0);		   /* timecnt */
		put32(&p, 1);		   /* typecnt */
		put32(&p, (uint32_t)alen); /* charcnt */
		put32(&p, (uint32_t)utoff);
		*p++ = 0;
		*p++ = 0;
		memcpy(p, abbr, alen);
		p += alen;
	}
	p += sprintf((char *)p, "\n%s\n", footer);
	return (size_t)(p - buf);
}

static void write_zone(const struct tzdir *d, const char *name, const uint8_t *buf, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int tzdir_setup(void **state)
{
	static struct tzdir d;
	const char *old = getenv("TZDIR");

	snprintf(d.path, sizeof(d.path), "/tmp/pf-test-tz-XXXXXX");
	if (!mkdtemp(d.path))
		return -1;
	d.old = old ? strdup(old) : NULL;
	setenv("TZDIR", d.path, 1);
	*state = &d;
	return 0;
}

static int tzdir_teardown(void **state)
{
	struct tzdir *d = *state;
	static const char *const names[] = {"Slim", "Bad", "Empty", "Cut", "Rule", "V1"};
	char path[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d->path, names[i]);
		unlink(path);
	}
	rmdir(d->path);
	if (d->old)
		setenv("TZDIR", d->old, 1);
	else
		unsetenv("TZDIR");
	free(d->old);
	return 0;
}

static void test_slim_footer_only(void **state)
{
	struct tzdir *d = *state;
	uint8_t buf[512];
	size_t n = slim_tzif(buf, 3600, "CET", "CET-1CEST,M3.5.0,M10.5.0/3");
	struct pf_tz *tz;

	write_zone(d, "Slim", buf, n);
	tz = load("Slim");
	assert_int_equal(pf_tz_offset_at(tz, 1705316400), HOUR);
	assert_int_equal(pf_tz_offset_at(tz, 1719828000), 2 * HOUR);
	assert_int_equal(pf_tz_offset_at(tz, 4109878799), HOUR);
	assert_int_equal(pf_tz_offset_at(tz, 4109878800), 2 * HOUR);
	assert_int_equal(pf_tz_local_to_utc(tz, wall(2024, 3, 31, 2, 30, 0)), 1711848600);
	assert_int_equal(pf_tz_local_to_utc(tz, wall(2024, 10, 27, 2, 30, 0)), 1729989000);
	pf_tz_free(tz);

	/* other rule forms: Jn and n dates, explicit DST offset, negative and >24 h times */
	n = slim_tzif(buf, -3 * HOUR, "<-03>", "<-03>3<-02>2,J60/-1,300/26");
	write_zone(d, "Rule", buf, n);
	tz = load("Rule");
	/* 2023: J60 = Mar 1 (-1 h = Feb 28 23:00 local); day 300 = Oct 28, 26:00 = Oct 29 02:00 */
	assert_int_equal(pf_tz_offset_at(tz, wall(2023, 2, 28, 23, 0, 0) + 3 * HOUR - 1),
			 -3 * HOUR);
	assert_int_equal(pf_tz_offset_at(tz, wall(2023, 2, 28, 23, 0, 0) + 3 * HOUR), -2 * HOUR);
	assert_int_equal(pf_tz_offset_at(tz, wall(2023, 10, 29, 2, 0, 0) + 2 * HOUR - 1),
			 -2 * HOUR);
	assert_int_equal(pf_tz_offset_at(tz, wall(2023, 10, 29, 2, 0, 0) + 2 * HOUR), -3 * HOUR);
	pf_tz_free(tz);
}

static void test_malformed_files(void **state)
{
	struct tzdir *d = *state;
	uint8_t buf[512], v1[128], *p = v1;
	size_t n = slim_tzif(buf, 3600, "CET", "CET-1CEST,M3.5.0,M10.5.0/3");
	struct pf_tz *tz = NULL;
	char err[256];

	/* every truncation of a valid file is refused, never read past */
	for (size_t cut = 0; cut < n; cut++) {
		write_zone(d, "Cut", buf, cut);
		assert_int_not_equal(pf_tz_load("Cut", &tz, err, sizeof(err)), 0);
		assert_null(tz);
	}
	write_zone(d, "Bad", (const uint8_t *)"not a zone file at all, just text\n", 34);
	assert_int_equal(pf_tz_load("Bad", &tz, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "TZif"));
	write_zone(d, "Empty", buf, 0);
	assert_int_equal(pf_tz_load("Empty", &tz, err, sizeof(err)), -EBADMSG);
	n = slim_tzif(buf, 3600, "CET", "CET-1CEST,M13.5.0,M10.5.0/3");
	write_zone(d, "Rule", buf, n);
	assert_int_equal(pf_tz_load("Rule", &tz, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "M13.5.0"));

	/* a version 1 file: 32-bit data only, no footer */
	memcpy(p, "TZif", 4);
	memset(p + 4, 0, 16);
	p += 20;
	put32(&p, 0);
	put32(&p, 0);
	put32(&p, 0);
	put32(&p, 1); /* one transition */
	put32(&p, 2);
	put32(&p, 4);
	put32(&p, 1000000000); /* 2001-09-09T01:46:40Z */
	*p++ = 1;
	put32(&p, 0);
	*p++ = 0;
	*p++ = 0;
	put32(&p, 5 * HOUR);
	*p++ = 0;
	*p++ = 0;
	memcpy(p, "AB\0", 4);
	p += 4;
	write_zone(d, "V1", v1, (size_t)(p - v1));
	tz = load("V1");
	assert_int_equal(pf_tz_offset_at(tz, 999999999), 0);
	assert_int_equal(pf_tz_offset_at(tz, 1000000000), 5 * HOUR);
	assert_int_equal(pf_tz_offset_at(tz, 4102444800), 5 * HOUR);
	pf_tz_free(tz);
}

static void test_tzdir_is_honoured(void **state)
{
	struct pf_tz *tz = NULL;
	char err[256];

	/* the private directory has no Asia/Shanghai */
	assert_int_equal(pf_tz_load("Asia/Shanghai", &tz, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "unknown time zone"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_civil_days),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_local_to_utc),
		cmocka_unit_test(test_against_libc),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test_setup_teardown(test_slim_footer_only, tzdir_setup, tzdir_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_files, tzdir_setup, tzdir_teardown),
		cmocka_unit_test_setup_teardown(test_tzdir_is_honoured, tzdir_setup,
						tzdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
