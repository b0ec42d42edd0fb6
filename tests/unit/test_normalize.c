/* Unit tests for daemon/normalize.c: every payload shape, timestamp form and reject reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pf_normalize.h"

#ifndef PF_TESTDATA_DIR
#define PF_TESTDATA_DIR "tests/data"
#endif

#define SEC INT64_C(1000000)
#define NOW_S INT64_C(1687133400) /* 2023-06-19T00:10:00Z, the receive time */
#define NOW (NOW_S * SEC)
#define TS_S INT64_C(1687132805) /* 2023-06-19T00:00:05Z = 08:00:05+08:00 */
#define LOT "qinyang-P001"
#define TOPIC "parking/" LOT "/occupancy"
#define STATUS "parking/" LOT "/status"

static struct pf_tz *shanghai, *berlin;

static const struct pf_alias aliases[] = {
	{"remain_parking_space", PF_F_FREE},
	{"RemainingSpaces", PF_F_FREE},
	{"total_parking_space", PF_F_TOTAL},
	{"TotalSpaces", PF_F_TOTAL},
	{"updateTime", PF_F_TS},
	{"serial", PF_F_SEQ},
	{"state", PF_F_STATUS},
};

static const char *const protocols[] = {"parkfeed/1", "GB/T 29745-2013"};

static struct pf_norm_config cfg;

static int setup(void **state)
{
	char err[256];

	if (pf_tz_load("Asia/Shanghai", &shanghai, err, sizeof(err)) ||
	    pf_tz_load("Europe/Berlin", &berlin, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	cfg = (struct pf_norm_config){
		.topic_prefix = "parking",
		.max_payload = 65536,
		.clock_skew_us = 300 * SEC,
		.tz = shanghai,
		.max_depth = 32,
		.max_topic_len = 256,
		.aliases = aliases,
		.n_aliases = sizeof(aliases) / sizeof(aliases[0]),
		.compliant_protocols = protocols,
		.n_compliant = sizeof(protocols) / sizeof(protocols[0]),
	};
	return 0;
}

static int teardown(void **state)
{
	pf_tz_free(shanghai);
	pf_tz_free(berlin);
	return 0;
}

/*
 * Normalize a copy of exactly len bytes (so ASan sees any read past the payload), then check
 * that the record is one the spool accepts.
 */
static void run_n(const struct pf_norm_config *c, const char *topic, const char *payload,
		  size_t len, int64_t received_at, struct pf_record *out)
{
	uint8_t *copy = malloc(len ? len : 1), buf[PF_RECORD_MAX];
	struct pf_record back;
	int n;

	memcpy(copy, payload, len);
	pf_normalize(c, topic, copy, len, received_at, out);
	assert_ptr_equal(out->payload, copy);
	assert_int_equal(out->payload_full_len, len);
	assert_int_equal(out->payload_len,
			 len < PF_REJECT_PAYLOAD_MAX ? len : PF_REJECT_PAYLOAD_MAX);
	n = pf_record_encode(out, buf, sizeof(buf));
	if (n <= 0)
		fail_msg("record does not encode (%d)", n);
	assert_int_equal(pf_record_decode(&back, buf, (size_t)n), 0);
	free(copy);
	out->payload = NULL; /* freed */
}

/* Table payloads write JSON with ' for " to stay readable. */
static size_t unquote(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in);

	assert_true(n < cap);
	for (size_t i = 0; i <= n; i++)
		out[i] = in[i] == '\'' ? '"' : in[i];
	return n;
}

static void run(const char *topic, const char *payload, struct pf_record *out)
{
	static char buf[8192];
	size_t n = unquote(payload, buf, sizeof(buf));

	run_n(&cfg, topic, buf, n, NOW, out);
}

static const char *describe_record(const struct pf_record *r)
{
	static char buf[512];

	if (r->kind == PF_REC_REJECT)
		snprintf(buf, sizeof(buf), "reject %s: %s",
			 pf_reject_reason_name(r->u.reject.reason), r->u.reject.detail);
	else
		snprintf(buf, sizeof(buf), "kind %d", r->kind);
	return buf;
}

/* ---- topics ---- */

static void test_topics(void **state)
{
	char sixty_four[65], sixty_five[66], long_topic[300];
	static const struct {
		const char *prefix, *topic;
		int kind; /* 0: bad_topic */
		const char *lot;
	} cases[] = {
		{"parking", "parking/" LOT "/occupancy", PF_TOPIC_OCCUPANCY, LOT},
		{"parking", "parking/" LOT "/status", PF_TOPIC_STATUS, LOT},
		{"parking", "parking/a.b_c-D9/status", PF_TOPIC_STATUS, "a.b_c-D9"},
		{"city/jiaozuo/parking", "city/jiaozuo/parking/x/occupancy", PF_TOPIC_OCCUPANCY,
		 "x"},
		{"parking", "parkin/x/occupancy", 0, NULL},
		{"parking", "parkingx/x/occupancy", 0, NULL},
		{"parking", "other/x/occupancy", 0, NULL},
		{"parking", "/parking/x/occupancy", 0, NULL},
		{"parking", "parking/lot 1/occupancy", 0, NULL},
		{"parking", "parking/lot+/occupancy", 0, NULL},
		{"parking", "parking/停车场/occupancy", 0, NULL},
		{"parking", "parking//occupancy", 0, NULL},
		{"parking", "parking/x", 0, NULL},
		{"parking", "parking/x/", 0, NULL},
		{"parking", "parking/x/occupancy/extra", 0, NULL},
		{"parking", "parking/x/y/occupancy", 0, NULL},
		{"parking", "parking/x/Occupancy", 0, NULL},
		{"parking", "parking/x/occupancy2", 0, NULL},
		{"parking", "parking", 0, NULL},
		{"parking", "", 0, NULL},
	};
	enum pf_topic_kind kind;
	char lot[PF_LOT_ID_MAX + 1];
	struct pf_record r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = pf_topic_parse(cases[i].prefix, cases[i].topic, strlen(cases[i].topic),
					256, &kind, lot);

		if (cases[i].kind == 0) {
			if (rc != -1)
				fail_msg("accepted %s", cases[i].topic);
			run(cases[i].topic, "{}", &r);
			assert_int_equal(r.kind, PF_REC_REJECT);
			assert_int_equal(r.u.reject.reason, PF_REJ_BAD_TOPIC);
			assert_string_equal(r.u.reject.lot_id, "");
			continue;
		}
		if (rc != 0)
			fail_msg("refused %s", cases[i].topic);
		assert_int_equal(kind, cases[i].kind);
		assert_string_equal(lot, cases[i].lot);
	}

	memset(sixty_four, 'L', 64);
	sixty_four[64] = '\0';
	memset(sixty_five, 'L', 65);
	sixty_five[65] = '\0';
	snprintf(long_topic, sizeof(long_topic), "parking/%s/occupancy", sixty_four);
	assert_int_equal(pf_topic_parse("parking", long_topic, strlen(long_topic), 256, &kind, lot),
			 0);
	assert_string_equal(lot, sixty_four);
	snprintf(long_topic, sizeof(long_topic), "parking/%s/occupancy", sixty_five);
	assert_int_equal(pf_topic_parse("parking", long_topic, strlen(long_topic), 256, &kind, lot),
			 -1);
	/* max_len: exactly at the limit is fine, one over is not */
	assert_int_equal(pf_topic_parse("parking", TOPIC, strlen(TOPIC), strlen(TOPIC), &kind, lot),
			 0);
	assert_int_equal(
		pf_topic_parse("parking", TOPIC, strlen(TOPIC), strlen(TOPIC) - 1, &kind, lot), -1);
	/* topic_len is honoured: the bytes after it are not part of the topic */
	assert_int_equal(pf_topic_parse("parking", TOPIC "/extra", strlen(TOPIC), 256, &kind, lot),
			 0);
}

static void test_topic_too_long(void **state)
{
	struct pf_norm_config c = cfg;
	char prefix[300], topic[700];
	struct pf_record r;

	/* prefix padded so the topic is exactly max_topic_len (256) bytes */
	memset(prefix, 'p', 256 - strlen("/" LOT "/status"));
	prefix[256 - strlen("/" LOT "/status")] = '\0';
	c.topic_prefix = prefix;
	snprintf(topic, sizeof(topic), "%s/" LOT "/status", prefix);
	assert_int_equal(strlen(topic), 256);
	run_n(&c, topic, "online", 6, NOW, &r);
	assert_int_equal(r.kind, PF_REC_STATUS);

	c.max_topic_len = 255;
	run_n(&c, topic, "online", 6, NOW, &r);
	assert_int_equal(r.kind, PF_REC_REJECT);
	assert_int_equal(r.u.reject.reason, PF_REJ_BAD_TOPIC);
	assert_non_null(strstr(r.u.reject.detail, "max_topic_len"));

	/* a topic beyond what a reject can carry is clipped, still a valid spool record */
	memset(topic, 'x', 650);
	memcpy(topic + 600, "/é", 3);
	topic[650] = '\0';
	run_n(&cfg, topic, "{}", 2, NOW, &r);
	assert_int_equal(r.u.reject.reason, PF_REJ_BAD_TOPIC);
	assert_ptr_equal(r.topic, topic);
	assert_true(r.topic_len <= PF_TOPIC_MAX);
}

/* ---- timestamps ---- */

enum zone { UTC_NONE, SHANGHAI, BERLIN };

static void test_timestamps(void **state)
{
	static const struct {
		const char *s;
		enum zone zone;
		int ok;
		int64_t secs;
		int32_t us;
	} cases[] = {
		/* RFC 3339 with an offset: the zone does not matter */
		{"2023-06-19T00:00:05Z", SHANGHAI, 1, TS_S, 0},
		{"2023-06-19T00:00:05z", SHANGHAI, 1, TS_S, 0},
		{"2023-06-19t00:00:05Z", SHANGHAI, 1, TS_S, 0},
		{"2023-06-19 00:00:05Z", SHANGHAI, 1, TS_S, 0},
		{"2023-06-19T08:00:05+08:00", BERLIN, 1, TS_S, 0},
		{"2023-06-18T18:30:05-05:30", SHANGHAI, 1, TS_S, 0},
		{"2023-06-19T00:00:05-00:00", SHANGHAI, 1, TS_S, 0},
		{"2023-06-19T23:59:05+23:59", SHANGHAI, 1, TS_S, 0},
		{"2023-06-19T00:00:05.1Z", SHANGHAI, 1, TS_S, 100000},
		{"2023-06-19T00:00:05.12Z", SHANGHAI, 1, TS_S, 120000},
		{"2023-06-19T00:00:05.123Z", SHANGHAI, 1, TS_S, 123000},
		{"2023-06-19T00:00:05.1234Z", SHANGHAI, 1, TS_S, 123400},
		{"2023-06-19T00:00:05.12345Z", SHANGHAI, 1, TS_S, 123450},
		{"2023-06-19T00:00:05.123456Z", SHANGHAI, 1, TS_S, 123456},
		{"2023-06-19T00:00:05.1234567Z", SHANGHAI, 1, TS_S, 123456},
		{"2023-06-19T00:00:05.12345678Z", SHANGHAI, 1, TS_S, 123456},
		{"2023-06-19T08:00:05.123456789+08:00", SHANGHAI, 1, TS_S, 123456},
		{"2016-12-31T23:59:60Z", SHANGHAI, 1, 1483228799, 999999}, /* leap second */
		{"2024-02-29T00:00:00Z", SHANGHAI, 1, 1709164800, 0},
		{"2000-02-29T00:00:00Z", SHANGHAI, 1, 951782400, 0},
		{"1970-01-01T00:00:00Z", SHANGHAI, 1, 0, 0},
		{"1969-12-31T23:59:59Z", SHANGHAI, 1, -1, 0}, /* parses; the caller refuses it */
		/* no offset: local time in the configured zone */
		{"2023-06-19 08:00:05", SHANGHAI, 1, TS_S, 0},
		{"2023-06-19T08:00:05", SHANGHAI, 1, TS_S, 0},
		{"2023-06-19 08:00:05.5", SHANGHAI, 1, TS_S, 500000},
		{"1988-07-01 12:00:00", SHANGHAI, 1, 583729200, 0}, /* China's DST years */
		{"2023-06-19 02:00:05", BERLIN, 1, TS_S, 0},	    /* CEST */
		{"2024-01-15 12:00:00", BERLIN, 1, 1705316400, 0},  /* CET */
		{"2024-03-31 02:30:00", BERLIN, 1, 1711848600, 0},  /* gap: offset before */
		{"2024-10-27 02:30:00", BERLIN, 1, 1729989000, 0},  /* overlap: earlier */
		{"2024-10-27 03:30:00", BERLIN, 1, 1729996200, 0},
		{"2100-07-01 12:00:00", BERLIN, 1, 4118119200, 0}, /* past the table */
		{"2023-06-19 00:00:05", UTC_NONE, 1, TS_S, 0},
		/* malformed or impossible */
		{"", SHANGHAI, 0, 0, 0},
		{"2023-06-19", SHANGHAI, 0, 0, 0},
		{"2023-06-19T00:00", SHANGHAI, 0, 0, 0},
		{"2023-06-19T00:00:05.Z", SHANGHAI, 0, 0, 0},
		{"2023-06-19T00:00:05.1234567890Z", SHANGHAI, 0, 0, 0},
		{"2023-06-19T00:00:05ZZ", SHANGHAI, 0, 0, 0},
		{"2023-06-19T00:00:05 ", SHANGHAI, 0, 0, 0},
		{" 2023-06-19T00:00:05Z", SHANGHAI, 0, 0, 0},
		{"2023-06-19T00:00:05+0800", SHANGHAI, 0, 0, 0},
		{"2023-06-19T00:00:05+08", SHANGHAI, 0, 0, 0},
		{"2023-06-19T00:00:05+24:00", SHANGHAI, 0, 0, 0},
		{"2023-06-19T00:00:05+08:60", SHANGHAI, 0, 0, 0},
		{"2023-06-19_00:00:05Z", SHANGHAI, 0, 0, 0},
		{"2023-6-19T00:00:05Z", SHANGHAI, 0, 0, 0},
		{"2023-02-29T00:00:00Z", SHANGHAI, 0, 0, 0},
		{"1900-02-29T00:00:00Z", SHANGHAI, 0, 0, 0},
		{"2023-04-31T00:00:00Z", SHANGHAI, 0, 0, 0},
		{"2023-13-01T00:00:00Z", SHANGHAI, 0, 0, 0},
		{"2023-00-01T00:00:00Z", SHANGHAI, 0, 0, 0},
		{"2023-06-00T00:00:00Z", SHANGHAI, 0, 0, 0},
		{"2023-06-19T24:00:00Z", SHANGHAI, 0, 0, 0},
		{"2023-06-19T23:60:00Z", SHANGHAI, 0, 0, 0},
		{"2023-06-19T23:59:61Z", SHANGHAI, 0, 0, 0},
		{"+2023-06-19T00:00:05Z", SHANGHAI, 0, 0, 0},
		{"1687132805", SHANGHAI, 0, 0, 0},
	};
	const struct pf_tz *zones[] = {[UTC_NONE] = NULL, [SHANGHAI] = shanghai, [BERLIN] = berlin};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].s);
		char *copy = malloc(len + 1);
		int64_t us = 0;
		int rc;

		memcpy(copy, cases[i].s, len); /* no terminator: the length is all there is */
		rc = pf_parse_timestamp(copy, len, zones[cases[i].zone], &us);
		free(copy);
		if (cases[i].ok && rc != 0)
			fail_msg("refused \"%s\"", cases[i].s);
		if (!cases[i].ok && rc == 0)
			fail_msg("accepted \"%s\"", cases[i].s);
		if (cases[i].ok && us != cases[i].secs * SEC + cases[i].us)
			fail_msg("\"%s\": %lld, expected %lld", cases[i].s, (long long)us,
				 (long long)(cases[i].secs * SEC + cases[i].us));
	}
}

/* ---- accepted occupancy ---- */

struct ok_case {
	const char *what, *payload;
	int64_t secs;
	int32_t us;
	int32_t total, free, occupied;
	enum pf_format format;
	enum pf_lot_status status;
	bool has_seq;
	int64_t seq;
};

#define TS "'ts':'2023-06-19T08:00:05+08:00'"

static const struct ok_case ok_cases[] = {
	{"the contract's example",
	 "{" TS ",'total':320,'free':70,'occupied':250,'seq':12345,'status':'open'}", TS_S, 0, 320,
	 70, 250, PF_FMT_NATIVE, PF_LOT_OPEN, true, 12345},
	{"occupied derived", "{" TS ",'total':320,'free':70}", TS_S, 0, 320, 70, 250, PF_FMT_NATIVE,
	 0, false, 0},
	{"free derived", "{" TS ",'total':320,'occupied':250}", TS_S, 0, 320, 70, 250,
	 PF_FMT_NATIVE, 0, false, 0},
	{"spaces out of service", "{" TS ",'total':320,'free':60,'occupied':250}", TS_S, 0, 320, 60,
	 250, PF_FMT_NATIVE, 0, false, 0},
	{"free + occupied == total", "{" TS ",'total':320,'free':70,'occupied':250}", TS_S, 0, 320,
	 70, 250, PF_FMT_NATIVE, 0, false, 0},
	{"free == total", "{" TS ",'total':320,'free':320}", TS_S, 0, 320, 320, 0, PF_FMT_NATIVE, 0,
	 false, 0},
	{"occupied == total", "{" TS ",'total':320,'occupied':320}", TS_S, 0, 320, 0, 320,
	 PF_FMT_NATIVE, 0, false, 0},
	{"an empty lot", "{" TS ",'total':0,'free':0,'occupied':0,'status':'closed'}", TS_S, 0, 0,
	 0, 0, PF_FMT_NATIVE, PF_LOT_CLOSED, false, 0},
	{"total at its maximum", "{" TS ",'total':100000,'free':100000}", TS_S, 0, 100000, 100000,
	 0, PF_FMT_NATIVE, 0, false, 0},
	{"integral reals", "{" TS ",'total':320.0,'free':7e1,'seq':-0.0}", TS_S, 0, 320, 70, 250,
	 PF_FMT_NATIVE, 0, true, 0},
	{"status is case-insensitive", "{" TS ",'total':1,'free':0,'status':'FULL'}", TS_S, 0, 1, 0,
	 1, PF_FMT_NATIVE, PF_LOT_FULL, false, 0},
	{"seq spans int64", "{" TS ",'total':1,'free':0,'seq':-9223372036854775808}", TS_S, 0, 1, 0,
	 1, PF_FMT_NATIVE, 0, true, INT64_MIN},
	{"seq max", "{" TS ",'total':1,'free':0,'seq':9223372036854775807}", TS_S, 0, 1, 0, 1,
	 PF_FMT_NATIVE, 0, true, INT64_MAX},
	{"unknown fields ignored",
	 "{" TS ",'total':320,'free':70,'vendor':{'x':[1,2,{'y':null}]},'note':'停车'}", TS_S, 0,
	 320, 70, 250, PF_FMT_NATIVE, 0, false, 0},
	{"matching lot_id", "{'lot_id':'" LOT "'," TS ",'total':320,'free':70}", TS_S, 0, 320, 70,
	 250, PF_FMT_NATIVE, 0, false, 0},
	{"matching URN id",
	 "{'id':'urn:ngsi-ld:OffStreetParking:" LOT "'," TS ",'total':320,"
	 "'free':70}",
	 TS_S, 0, 320, 70, 250, PF_FMT_NATIVE, 0, false, 0},
	{"numeric id ignored", "{'id':42," TS ",'total':320,'free':70}", TS_S, 0, 320, 70, 250,
	 PF_FMT_NATIVE, 0, false, 0},
	/* timestamp forms */
	{"ts Z", "{'ts':'2023-06-19T00:00:05Z','total':1,'free':1}", TS_S, 0, 1, 1, 0,
	 PF_FMT_NATIVE, 0, false, 0},
	{"ts -05:30", "{'ts':'2023-06-18T18:30:05-05:30','total':1,'free':1}", TS_S, 0, 1, 1, 0,
	 PF_FMT_NATIVE, 0, false, 0},
	{"ts 9 fraction digits", "{'ts':'2023-06-19T00:00:05.987654321Z','total':1,'free':1}", TS_S,
	 987654, 1, 1, 0, PF_FMT_NATIVE, 0, false, 0},
	{"ts local Shanghai", "{'ts':'2023-06-19 08:00:05','total':1,'free':1}", TS_S, 0, 1, 1, 0,
	 PF_FMT_NATIVE, 0, false, 0},
	{"ts epoch ms", "{'ts':1687132805123,'total':1,'free':1}", TS_S, 123000, 1, 1, 0,
	 PF_FMT_NATIVE, 0, false, 0},
	{"ts epoch ms as a real", "{'ts':1687132805000.0,'total':1,'free':1}", TS_S, 0, 1, 1, 0,
	 PF_FMT_NATIVE, 0, false, 0},
	{"ts epoch 0", "{'ts':0,'total':1,'free':1}", 0, 0, 1, 1, 0, PF_FMT_NATIVE, 0, false, 0},
	/* vendor aliases */
	{"remain_parking_space / total_parking_space",
	 "{" TS ",'total_parking_space':320,'remain_parking_space':70}", TS_S, 0, 320, 70, 250,
	 PF_FMT_VENDOR, 0, false, 0},
	{"RemainingSpaces / TotalSpaces", "{" TS ",'TotalSpaces':320,'RemainingSpaces':70}", TS_S,
	 0, 320, 70, 250, PF_FMT_VENDOR, 0, false, 0},
	{"every field aliased",
	 "{'updateTime':'2023-06-19 08:00:05','TotalSpaces':320,"
	 "'RemainingSpaces':70,'serial':7,'state':'open'}",
	 TS_S, 0, 320, 70, 250, PF_FMT_VENDOR, PF_LOT_OPEN, true, 7},
	{"native name wins over an alias",
	 "{" TS ",'total':320,'TotalSpaces':999,'free':70,'RemainingSpaces':1}", TS_S, 0, 320, 70,
	 250, PF_FMT_NATIVE, 0, false, 0},
	{"first alias in configuration order wins",
	 "{" TS ",'total':320,'RemainingSpaces':1,'remain_parking_space':70}", TS_S, 0, 320, 70,
	 250, PF_FMT_VENDOR, 0, false, 0},
	/* FIWARE keyValues */
	{"keyValues, typed literal",
	 "{'id':'" LOT "','type':'OffStreetParking',"
	 "'totalSpotNumber':320,'availableSpotNumber':70,'occupiedSpotNumber':250,"
	 "'observationDateTime':{'@type':'DateTime','@value':'2023-06-19T00:00:05Z'},"
	 "'status':['spacesAvailable']}",
	 TS_S, 0, 320, 70, 250, PF_FMT_FIWARE_KV, PF_LOT_OPEN, false, 0},
	{"keyValues without type, derived occupied, dateModified",
	 "{'totalSpotNumber':320,'availableSpotNumber':70,'dateModified':'2023-06-19T00:00:05Z',"
	 "'status':['open','full']}",
	 TS_S, 0, 320, 70, 250, PF_FMT_FIWARE_KV, PF_LOT_FULL, false, 0},
	{"keyValues occupancyModified before dateModified, closed wins",
	 "{'type':'OffStreetParking','totalSpotNumber':320,'occupiedSpotNumber':250,"
	 "'occupancyModified':'2023-06-19 08:00:05','dateModified':'2000-01-01T00:00:00Z',"
	 "'status':['full','closed']}",
	 TS_S, 0, 320, 70, 250, PF_FMT_FIWARE_KV, PF_LOT_CLOSED, false, 0},
	/* NGSI-LD normalized */
	{"normalized, observedAt on occupiedSpotNumber",
	 "{'id':'urn:ngsi-ld:OffStreetParking:" LOT "','type':'OffStreetParking',"
	 "'availableSpotNumber':{'type':'Property','value':70},"
	 "'occupiedSpotNumber':{'type':'Property','value':250,'observedAt':'2023-06-19T00:00:05Z'},"
	 "'totalSpotNumber':{'type':'Property','value':320},"
	 "'observationDateTime':{'type':'Property','value':'2000-01-01T00:00:00Z'}}",
	 TS_S, 0, 320, 70, 250, PF_FMT_NGSI_LD, 0, false, 0},
	{"normalized, local typed literal in a Property, status Property",
	 "{'id':'urn:ngsi-ld:OffStreetParking:" LOT "','type':'OffStreetParking',"
	 "'availableSpotNumber':{'type':'Property','value':70},"
	 "'totalSpotNumber':{'type':'Property','value':320},"
	 "'observationDateTime':{'type':'Property','value':{'@type':'DateTime',"
	 "'@value':'2023-06-19T08:00:05'}},'status':{'type':'Property','value':['closed']}}",
	 TS_S, 0, 320, 70, 250, PF_FMT_NGSI_LD, PF_LOT_CLOSED, false, 0},
	{"normalized, modifiedAt as the last resort",
	 "{'id':'" LOT "','type':'OffStreetParking',"
	 "'occupiedSpotNumber':{'type':'Property','value':250},"
	 "'totalSpotNumber':{'type':'Property','value':320},'modifiedAt':'2023-06-19T00:00:05Z'}",
	 TS_S, 0, 320, 70, 250, PF_FMT_NGSI_LD, 0, false, 0},
	{"normalized, integral real count, fractional observedAt",
	 "{'type':'OffStreetParking','availableSpotNumber':{'type':'Property','value':70.0,"
	 "'observedAt':'2023-06-19T08:00:05.250+08:00'},'totalSpotNumber':{'value':320}}",
	 TS_S, 250000, 320, 70, 250, PF_FMT_NGSI_LD, 0, false, 0},
};

static void test_accepted(void **state)
{
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct pf_record r;

		run(TOPIC, c->payload, &r);
		if (r.kind != PF_REC_OCCUPANCY)
			fail_msg("%s: %s", c->what, describe_record(&r));
		assert_string_equal(r.u.obs.lot_id, LOT);
		if (r.u.obs.observed_at != c->secs * SEC + c->us)
			fail_msg("%s: observed_at %lld", c->what, (long long)r.u.obs.observed_at);
		if (r.u.obs.total != c->total || r.u.obs.free != c->free ||
		    r.u.obs.occupied != c->occupied)
			fail_msg("%s: %d/%d/%d", c->what, r.u.obs.total, r.u.obs.free,
				 r.u.obs.occupied);
		if (r.u.obs.format != c->format || r.u.obs.status != c->status)
			fail_msg("%s: format %d status %d", c->what, r.u.obs.format,
				 r.u.obs.status);
		assert_int_equal(r.u.obs.has_seq, c->has_seq);
		assert_int_equal(r.u.obs.seq, c->seq);
		assert_int_equal(r.received_at, NOW);
		assert_ptr_equal(r.topic, TOPIC);
	}
}

static void test_local_zone_berlin(void **state)
{
	struct pf_norm_config c = cfg;
	static const struct {
		const char *ts;
		int64_t secs;
	} cases[] = {
		{"2024-01-15 12:00:00", 1705316400}, /* CET */
		{"2024-07-01 12:00:00", 1719828000}, /* CEST */
		{"2024-03-31 02:30:00", 1711848600}, /* in the spring gap */
		{"2024-10-27 02:30:00", 1729989000}, /* in the autumn overlap */
	};
	char payload[128];
	struct pf_record r;

	c.tz = berlin;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(payload, sizeof(payload),
				 "{\"ts\":\"%s\",\"total\":10,\"free\":3}", cases[i].ts);

		run_n(&c, TOPIC, payload, (size_t)n, (cases[i].secs + 60) * SEC, &r);
		assert_int_equal(r.kind, PF_REC_OCCUPANCY);
		assert_int_equal(r.u.obs.observed_at, cases[i].secs * SEC);
	}
}

/* The data model's own published examples, unchanged. */
static char *read_file(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf = malloc(1 << 16);

	snprintf(path, sizeof(path), "%s/fiware/%s", PF_TESTDATA_DIR, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

static void test_fiware_examples(void **state)
{
	static const struct {
		const char *file;
		int64_t secs;
		enum pf_format format;
	} cases[] = {
		{"OffStreetParking-example.json", 1537502400, PF_FMT_FIWARE_KV}, /* 04:00Z */
		{"OffStreetParking-example-normalized.jsonld", 1537531200,
		 PF_FMT_NGSI_LD}, /* 12:00Z */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *buf = read_file(cases[i].file, &len);
		struct pf_record r;

		run_n(&cfg, "parking/porto-ParkingLot-23889/occupancy", buf, len, NOW, &r);
		if (r.kind != PF_REC_OCCUPANCY)
			fail_msg("%s: %s", cases[i].file, describe_record(&r));
		assert_string_equal(r.u.obs.lot_id, "porto-ParkingLot-23889");
		assert_int_equal(r.u.obs.total, 414);
		assert_int_equal(r.u.obs.free, 132);
		assert_int_equal(r.u.obs.occupied, 282);
		assert_int_equal(r.u.obs.observed_at, cases[i].secs * SEC);
		assert_int_equal(r.u.obs.format, cases[i].format);
		assert_false(r.u.obs.has_seq);

		/* the entity id names its lot: any other topic is a mismatch */
		run_n(&cfg, "parking/porto-ParkingLot-1/occupancy", buf, len, NOW, &r);
		assert_int_equal(r.kind, PF_REC_REJECT);
		assert_int_equal(r.u.reject.reason, PF_REJ_ID_MISMATCH);
		free(buf);
	}
}

/* ---- rejects ---- */

struct bad_case {
	const char *payload;
	enum pf_reject_reason reason;
	const char *detail; /* a substring the detail must contain, or NULL */
};

static const struct bad_case bad_cases[] = {
	/* bad_utf8 */
	{"{'ts':'\xc0\xaf'}", PF_REJ_BAD_UTF8, "byte 7"},     /* overlong '/' */
	{"{'ts':'\xe0\x80\xaf'}", PF_REJ_BAD_UTF8, NULL},     /* overlong, 3 bytes */
	{"{'ts':'\xf0\x80\x80\xaf'}", PF_REJ_BAD_UTF8, NULL}, /* overlong, 4 bytes */
	{"{'ts':'\xed\xa0\x80'}", PF_REJ_BAD_UTF8, NULL},     /* surrogate U+D800 */
	{"{'ts':'\xed\xbf\xbf'}", PF_REJ_BAD_UTF8, NULL},     /* surrogate U+DFFF */
	{"{'ts':'\xf4\x90\x80\x80'}", PF_REJ_BAD_UTF8, NULL}, /* U+110000 */
	{"{'ts':'\xe6\x97'}", PF_REJ_BAD_UTF8, NULL},	      /* truncated sequence */
	{"{'ts':1}\xe6\x97", PF_REJ_BAD_UTF8, NULL},	      /* truncated at the end */
	{"{'ts':'\xff'}", PF_REJ_BAD_UTF8, NULL},
	{"{'ts':'\x80'}", PF_REJ_BAD_UTF8, NULL},		  /* lone continuation */
	{"{'ts':'\xf8\x88\x80\x80\x80'}", PF_REJ_BAD_UTF8, NULL}, /* 5-byte form */
	{"\xef\xbb\xbf{}", PF_REJ_JSON_SYNTAX, NULL},		  /* a BOM is not JSON */
	/* json_syntax */
	{"", PF_REJ_JSON_SYNTAX, "empty payload"},
	{" \r\n\t ", PF_REJ_JSON_SYNTAX, "empty payload"},
	{"{", PF_REJ_JSON_SYNTAX, "invalid JSON"},
	{"{'ts':}", PF_REJ_JSON_SYNTAX, NULL},
	{"{ts:1}", PF_REJ_JSON_SYNTAX, NULL},
	{"{'total':1,}", PF_REJ_JSON_SYNTAX, NULL},
	{"{} {}", PF_REJ_JSON_SYNTAX, NULL},
	{"{'total':NaN}", PF_REJ_JSON_SYNTAX, NULL},
	{"{'total':1} // comment", PF_REJ_JSON_SYNTAX, NULL},
	{"{'ts':'a\\u0000b'}", PF_REJ_JSON_SYNTAX, NULL},
	{"{" TS ",'total':320,'free':70,'free':71}", PF_REJ_JSON_SYNTAX, "duplicate"},
	/* not_object */
	{"[]", PF_REJ_NOT_OBJECT, "an array"},
	{"'x'", PF_REJ_NOT_OBJECT, "the string \"x\""},
	{"42", PF_REJ_NOT_OBJECT, "42"},
	{"null", PF_REJ_NOT_OBJECT, "null"},
	{"true", PF_REJ_NOT_OBJECT, "true"},
	/* missing_field */
	{"{'total':320,'free':70}", PF_REJ_MISSING_FIELD, "\"ts\" is missing"},
	{"{" TS ",'free':70}", PF_REJ_MISSING_FIELD, "\"total\" is missing"},
	{"{" TS ",'total':320}", PF_REJ_MISSING_FIELD, "neither \"free\" nor \"occupied\""},
	{"{}", PF_REJ_MISSING_FIELD, NULL},
	{"{'type':'OffStreetParking','observationDateTime':'2023-06-19T00:00:05Z'}",
	 PF_REJ_MISSING_FIELD, "totalSpotNumber"},
	{"{'type':'OffStreetParking','totalSpotNumber':3,'observationDateTime':'2023-06-19"
	 "T00:00:05Z'}",
	 PF_REJ_MISSING_FIELD, "availableSpotNumber"},
	{"{'totalSpotNumber':3,'availableSpotNumber':1}", PF_REJ_MISSING_FIELD,
	 "no observation time"},
	/* bad_type */
	{"{" TS ",'total':'320','free':70}", PF_REJ_BAD_TYPE, "\"total\" is the string \"320\""},
	{"{" TS ",'total':320.5,'free':70}", PF_REJ_BAD_TYPE, "\"total\" is 320.5"},
	{"{" TS ",'total':320,'free':true}", PF_REJ_BAD_TYPE, "\"free\" is true"},
	{"{" TS ",'total':320,'occupied':null}", PF_REJ_BAD_TYPE, "\"occupied\" is null"},
	{"{" TS ",'total':320,'free':[70]}", PF_REJ_BAD_TYPE, "an array"},
	{"{" TS ",'total':320,'free':70,'seq':'1'}", PF_REJ_BAD_TYPE, "\"seq\""},
	{"{" TS ",'total':320,'free':70,'seq':1.5}", PF_REJ_BAD_TYPE, "\"seq\""},
	{"{" TS ",'total':320,'free':70,'status':1}", PF_REJ_BAD_TYPE, "\"status\""},
	{"{'ts':true,'total':320,'free':70}", PF_REJ_BAD_TYPE, "\"ts\" is true"},
	{"{'ts':{},'total':320,'free':70}", PF_REJ_BAD_TYPE, "\"ts\" is an object"},
	{"{'ts':'yesterday','total':320,'free':70}", PF_REJ_BAD_TYPE, "\"yesterday\""},
	{"{'ts':'2023-02-29T00:00:00Z','total':320,'free':70}", PF_REJ_BAD_TYPE, "2023-02-29"},
	{"{'ts':1687132805000.5,'total':320,'free':70}", PF_REJ_BAD_TYPE, "integer"},
	{"{'TotalSpaces':'x'," TS ",'free':1}", PF_REJ_BAD_TYPE, "\"TotalSpaces\""},
	{"{'type':'OffStreetParking','totalSpotNumber':{'type':'Property'},"
	 "'availableSpotNumber':1}",
	 PF_REJ_BAD_TYPE, "without \"value\""},
	{"{'totalSpotNumber':3,'availableSpotNumber':1,'occupancyModified':5}", PF_REJ_BAD_TYPE,
	 "occupancyModified"},
	{"{'totalSpotNumber':3,'availableSpotNumber':1,'observationDateTime':{'type':'Property'}}",
	 PF_REJ_BAD_TYPE, "observationDateTime"},
	{"{'totalSpotNumber':3,'availableSpotNumber':1,'dateModified':'2023-06-19T00:00:05Z',"
	 "'status':5}",
	 PF_REJ_BAD_TYPE, "\"status\""},
	/* out_of_range */
	{"{" TS ",'total':100001,'free':0}", PF_REJ_OUT_OF_RANGE, "within 0..100000"},
	{"{" TS ",'total':-1,'free':0}", PF_REJ_OUT_OF_RANGE, "\"total\" is -1"},
	{"{" TS ",'total':320,'free':420}", PF_REJ_OUT_OF_RANGE,
	 "\"free\" is 420 but must be within 0..320 (total)"},
	{"{" TS ",'total':320,'free':321}", PF_REJ_OUT_OF_RANGE, "0..320"},
	{"{" TS ",'total':320,'occupied':321}", PF_REJ_OUT_OF_RANGE, "\"occupied\" is 321"},
	{"{" TS ",'total':320,'free':-1}", PF_REJ_OUT_OF_RANGE, NULL},
	{"{" TS ",'TotalSpaces':320,'RemainingSpaces':321}", PF_REJ_OUT_OF_RANGE,
	 "\"RemainingSpaces\" is 321"},
	{"{" TS ",'total':1e400,'free':0}", PF_REJ_OUT_OF_RANGE, "too large"},
	{"{" TS ",'total':99999999999999999999,'free':0}", PF_REJ_OUT_OF_RANGE, "too large"},
	{"{" TS ",'total':320,'free':0,'seq':-99999999999999999999}", PF_REJ_OUT_OF_RANGE, NULL},
	{"{" TS ",'total':1e300,'free':0}", PF_REJ_OUT_OF_RANGE, "far outside"},
	{"{" TS ",'total':320,'free':0,'seq':1e19}", PF_REJ_OUT_OF_RANGE, "\"seq\""},
	{"{" TS ",'total':320,'free':70,'status':'maybe'}", PF_REJ_OUT_OF_RANGE,
	 "open, closed or full"},
	{"{'ts':-1,'total':320,'free':70}", PF_REJ_OUT_OF_RANGE, "epoch milliseconds"},
	{"{'ts':253402300800000,'total':320,'free':70}", PF_REJ_OUT_OF_RANGE, NULL},
	{"{'ts':'1969-12-31T23:59:59Z','total':320,'free':70}", PF_REJ_OUT_OF_RANGE, "1970"},
	{"{'ts':'1970-01-01T07:59:59+08:00','total':320,'free':70}", PF_REJ_OUT_OF_RANGE, NULL},
	{"{'totalSpotNumber':100001,'availableSpotNumber':1}", PF_REJ_OUT_OF_RANGE,
	 "\"totalSpotNumber\""},
	/* inconsistent_counts */
	{"{" TS ",'total':320,'free':71,'occupied':250}", PF_REJ_INCONSISTENT_COUNTS,
	 "\"free\" 71 + \"occupied\" 250 = 321 exceeds \"total\" 320"},
	{"{'totalSpotNumber':3,'availableSpotNumber':2,'occupiedSpotNumber':2,"
	 "'dateModified':'2023-06-19T00:00:05Z'}",
	 PF_REJ_INCONSISTENT_COUNTS, NULL},
	/* future_ts: receive time is 2023-06-19T00:10:00Z */
	{"{'ts':'2023-06-19T00:16:00Z','total':320,'free':70}", PF_REJ_FUTURE_TS,
	 "360.000000 s ahead"},
	{"{'ts':'2100-01-01T00:00:00Z','total':320,'free':70}", PF_REJ_FUTURE_TS,
	 "2100-01-01T00:00:00Z"},
	{"{'totalSpotNumber':3,'availableSpotNumber':{'value':1,'observedAt':'2030-01-01T00:00:00Z'"
	 "}}",
	 PF_REJ_FUTURE_TS, "availableSpotNumber.observedAt"},
	/* id_mismatch */
	{"{'lot_id':'other'," TS ",'total':320,'free':70}", PF_REJ_ID_MISMATCH, "\"other\""},
	{"{'id':'urn:ngsi-ld:OffStreetParking:other'," TS ",'total':1,'free':1}",
	 PF_REJ_ID_MISMATCH, NULL},
	{"{'id':'x:" LOT "'," TS ",'total':1,'free':1}", PF_REJ_ID_MISMATCH, NULL},
	{"{'id':'" LOT "x'," TS ",'total':1,'free':1}", PF_REJ_ID_MISMATCH, NULL},
	{"{'lot_id':'" LOT "','id':'other'," TS ",'total':1,'free':1}", PF_REJ_ID_MISMATCH, NULL},
	{"{'id':'porto','type':'OffStreetParking','totalSpotNumber':3,'availableSpotNumber':1}",
	 PF_REJ_ID_MISMATCH, NULL},
};

static void check_reject(const struct pf_record *r, const char *what, enum pf_reject_reason reason,
			 const char *detail)
{
	if (r->kind != PF_REC_REJECT || r->u.reject.reason != reason)
		fail_msg("%s: expected %s, got %s", what, pf_reject_reason_name(reason),
			 describe_record(r));
	if (detail && !strstr(r->u.reject.detail, detail))
		fail_msg("%s: detail \"%s\" lacks \"%s\"", what, r->u.reject.detail, detail);
	assert_true(strlen(r->u.reject.detail) > 10);
}

static void test_rejects(void **state)
{
	bool seen[PF_REJ__COUNT] = {false};

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct pf_record r;

		run(TOPIC, c->payload, &r);
		check_reject(&r, c->payload, c->reason, c->detail);
		assert_string_equal(r.u.reject.lot_id, LOT);
		assert_ptr_equal(r.topic, TOPIC);
		assert_int_equal(r.topic_len, strlen(TOPIC));
		seen[c->reason] = true;
	}
	for (int reason = PF_REJ_BAD_UTF8; reason <= PF_REJ_ID_MISMATCH; reason++)
		if (reason != PF_REJ_BAD_TOPIC && !seen[reason])
			fail_msg("no case for %s",
				 pf_reject_reason_name((enum pf_reject_reason)reason));
}

/* ---- limits and their boundaries ---- */

static void test_payload_limit(void **state)
{
	struct pf_norm_config c = cfg;
	char payload[80];
	struct pf_record r;
	int n = snprintf(payload, sizeof(payload), "{\"ts\":0,\"total\":1,\"free\":1}");

	c.max_payload = 64;
	memset(payload + n, ' ', sizeof(payload) - (size_t)n);
	run_n(&c, TOPIC, payload, 64, NOW, &r);
	assert_int_equal(r.kind, PF_REC_OCCUPANCY);
	run_n(&c, TOPIC, payload, 65, NOW, &r);
	check_reject(&r, "65 bytes", PF_REJ_PAYLOAD_TOO_LARGE, "65 bytes");
	/* unparsed: even bytes that are not UTF-8 are judged by size alone */
	memset(payload, 0xFF, sizeof(payload));
	run_n(&c, TOPIC, payload, sizeof(payload), NOW, &r);
	check_reject(&r, "oversized garbage", PF_REJ_PAYLOAD_TOO_LARGE, NULL);
}

/* "{'ts':0,'total':1,'free':1,'x':" + depth-1 arrays around 0 + "}" has nesting `depth`. */
static size_t nested(char *buf, int depth, const char *open, const char *close)
{
	size_t n = (size_t)sprintf(buf, "{\"ts\":0,\"total\":1,\"free\":1,\"x\":");

	for (int i = 1; i < depth; i++)
		n += (size_t)sprintf(buf + n, "%s", open);
	n += (size_t)sprintf(buf + n, "0");
	for (int i = 1; i < depth; i++)
		n += (size_t)sprintf(buf + n, "%s", close);
	n += (size_t)sprintf(buf + n, "}");
	return n;
}

static void test_depth_limit(void **state)
{
	char buf[8192];
	struct pf_record r;

	run_n(&cfg, TOPIC, buf, nested(buf, 32, "[", "]"), NOW, &r);
	assert_int_equal(r.kind, PF_REC_OCCUPANCY);
	run_n(&cfg, TOPIC, buf, nested(buf, 33, "[", "]"), NOW, &r);
	check_reject(&r, "33 levels", PF_REJ_TOO_DEEP, "deeper than 32");
	run_n(&cfg, TOPIC, buf, nested(buf, 33, "{\"a\":", "}"), NOW, &r);
	check_reject(&r, "33 object levels", PF_REJ_TOO_DEEP, NULL);
	run_n(&cfg, TOPIC, buf, nested(buf, 2000, "[", "]"), NOW, &r);
	check_reject(&r, "2000 levels", PF_REJ_TOO_DEEP, NULL);
	/* brackets inside strings, and escaped quotes, are not nesting */
	run_n(&cfg, TOPIC, buf,
	      nested(buf, 2, "[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[\",", "]"), NOW, &r);
	assert_int_equal(r.kind, PF_REC_OCCUPANCY);
	/* unbalanced closers cannot buy extra depth */
	run_n(&cfg, TOPIC, "]]]]", 4, NOW, &r);
	check_reject(&r, "closers", PF_REJ_JSON_SYNTAX, NULL);
}

static void test_clock_skew(void **state)
{
	struct pf_record r;
	/* receive time 00:10:00Z, skew 300 s: 00:15:00.000000Z is the last accepted instant */
	run(TOPIC, "{'ts':'2023-06-19T00:15:00Z','total':1,'free':1}", &r);
	assert_int_equal(r.kind, PF_REC_OCCUPANCY);
	run(TOPIC, "{'ts':'2023-06-19T00:15:00.000001Z','total':1,'free':1}", &r);
	check_reject(&r, "1 us over", PF_REJ_FUTURE_TS, "300.000001 s ahead");
	run(TOPIC, "{'ts':1687133700000,'total':1,'free':1}", &r);
	assert_int_equal(r.kind, PF_REC_OCCUPANCY);
	run(TOPIC, "{'ts':1687133700001,'total':1,'free':1}", &r);
	check_reject(&r, "1 ms over", PF_REJ_FUTURE_TS, NULL);
	/* the past is fine, however far */
	run(TOPIC, "{'ts':'1970-01-01T00:00:00Z','total':1,'free':1}", &r);
	assert_int_equal(r.kind, PF_REC_OCCUPANCY);
}

/* ---- status messages ---- */

struct status_case {
	const char *payload;
	enum pf_reject_reason reason; /* PF_REJ_NONE: accepted */
	int online;
	const char *system, *protocol;
	bool compliant;
};

static const struct status_case status_cases[] = {
	{"{'online':true,'system':'ParkMaster 停车','version':'3.2','protocol':'parkfeed/1'}",
	 PF_REJ_NONE, 1, "ParkMaster 停车", "parkfeed/1", true},
	{"{'online':false}", PF_REJ_NONE, 0, "", "", false},
	{"{'status':'offline','protocol':'vendor-x/2'}", PF_REJ_NONE, 0, "", "vendor-x/2", false},
	{"{'status':'Online'}", PF_REJ_NONE, 1, "", "", false},
	{"{'protocol':'PARKFEED/1'}", PF_REJ_NONE, -1, "", "PARKFEED/1", true},
	{"{'protocol':'gb/t 29745-2013','system':'x','unknown':[1]}", PF_REJ_NONE, -1, "x",
	 "gb/t 29745-2013", true},
	{"{'protocol':'parkfeed/1.1'}", PF_REJ_NONE, -1, "", "parkfeed/1.1", false},
	{"{'lot_id':'" LOT "','online':true}", PF_REJ_NONE, 1, "", "", false},
	{"online", PF_REJ_NONE, 1, "", "", false},
	{"offline", PF_REJ_NONE, 0, "", "", false},
	{" OffLine \r\n", PF_REJ_NONE, 0, "", "", false},
	{"true", PF_REJ_NONE, 1, "", "", false},
	{"false", PF_REJ_NONE, 0, "", "", false},
	{"1", PF_REJ_NONE, 1, "", "", false},
	{"0", PF_REJ_NONE, 0, "", "", false},
	{"'offline'", PF_REJ_NONE, 0, "", "", false},
	{"' online '", PF_REJ_NONE, 1, "", "", false},
	{"{'online':'yes'}", PF_REJ_BAD_TYPE, 0, NULL, NULL, false},
	{"{'online':1}", PF_REJ_BAD_TYPE, 0, NULL, NULL, false},
	{"{'status':'maybe'}", PF_REJ_OUT_OF_RANGE, 0, NULL, NULL, false},
	{"{'status':true}", PF_REJ_BAD_TYPE, 0, NULL, NULL, false},
	{"{'system':5}", PF_REJ_BAD_TYPE, 0, NULL, NULL, false},
	{"{'protocol':null}", PF_REJ_BAD_TYPE, 0, NULL, NULL, false},
	{"{'lot_id':'other','online':true}", PF_REJ_ID_MISMATCH, 0, NULL, NULL, false},
	{"maybe", PF_REJ_JSON_SYNTAX, 0, NULL, NULL, false},
	{"'maybe'", PF_REJ_OUT_OF_RANGE, 0, NULL, NULL, false},
	{"2", PF_REJ_NOT_OBJECT, 0, NULL, NULL, false},
	{"[true]", PF_REJ_NOT_OBJECT, 0, NULL, NULL, false},
	{"null", PF_REJ_NOT_OBJECT, 0, NULL, NULL, false},
	{"", PF_REJ_JSON_SYNTAX, 0, NULL, NULL, false},
	{"{'online':true,'online':false}", PF_REJ_JSON_SYNTAX, 0, NULL, NULL, false},
	{"{'system':'\xed\xa0\x80'}", PF_REJ_BAD_UTF8, 0, NULL, NULL, false},
};

static void test_status(void **state)
{
	char payload[512], field[PF_STATUS_FIELD_MAX + 1];
	struct pf_record r;
	int n;

	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		const struct status_case *c = &status_cases[i];

		run(STATUS, c->payload, &r);
		if (c->reason != PF_REJ_NONE) {
			check_reject(&r, c->payload, c->reason, NULL);
			continue;
		}
		if (r.kind != PF_REC_STATUS)
			fail_msg("%s: %s", c->payload, describe_record(&r));
		assert_string_equal(r.u.status.lot_id, LOT);
		assert_int_equal(r.u.status.online, c->online);
		assert_string_equal(r.u.status.system, c->system);
		assert_string_equal(r.u.status.protocol, c->protocol);
		assert_int_equal(r.u.status.compliant, c->compliant);
	}

	/* field length boundary: PF_STATUS_FIELD_MAX - 1 bytes fit, one more does not */
	memset(field, 'v', sizeof(field));
	field[PF_STATUS_FIELD_MAX - 1] = '\0';
	n = snprintf(payload, sizeof(payload), "{\"version\":\"%s\"}", field);
	run_n(&cfg, STATUS, payload, (size_t)n, NOW, &r);
	assert_int_equal(r.kind, PF_REC_STATUS);
	assert_string_equal(r.u.status.version, field);
	field[PF_STATUS_FIELD_MAX - 1] = 'v';
	field[PF_STATUS_FIELD_MAX] = '\0';
	n = snprintf(payload, sizeof(payload), "{\"version\":\"%s\"}", field);
	run_n(&cfg, STATUS, payload, (size_t)n, NOW, &r);
	check_reject(&r, "long version", PF_REJ_OUT_OF_RANGE, "\"version\" is 128 bytes");

	/* no compliant protocols configured: nothing is compliant */
	struct pf_norm_config c = cfg;
	c.n_compliant = 0;
	c.compliant_protocols = NULL;
	run_n(&c, STATUS, "{\"protocol\":\"parkfeed/1\"}", 25, NOW, &r);
	assert_int_equal(r.kind, PF_REC_STATUS);
	assert_false(r.u.status.compliant);
}

/* [ingest] max_age, opt-in: older observations are too_old; 0 takes any past. */
static void test_max_age(void **state)
{
	struct pf_norm_config c = cfg;
	struct pf_record r;
	char p[160];
	int n;

	c.max_age_us = 3600 * SEC;
	/* receive time 00:10:00Z: 2023-06-18T23:10:00Z is the oldest instant accepted */
	n = snprintf(p, sizeof(p), "{\"ts\":\"2023-06-18T23:10:00Z\",\"total\":9,\"free\":1}");
	run_n(&c, TOPIC, p, (size_t)n, NOW, &r);
	assert_int_equal(r.kind, PF_REC_OCCUPANCY);
	n = snprintf(p, sizeof(p), "{\"ts\":\"2023-06-18T23:09:59Z\",\"total\":9,\"free\":1}");
	run_n(&c, TOPIC, p, (size_t)n, NOW, &r);
	check_reject(&r, "1 s too old", PF_REJ_TOO_OLD,
		     "\"ts\" 2023-06-18T23:09:59Z is 3601 s older than the receive time; at most "
		     "3600 s (max_age) is allowed");
	assert_string_equal(pf_reject_reason_name(r.u.reject.reason), "too_old");
	/* epoch milliseconds and FIWARE times alike */
	n = snprintf(p, sizeof(p), "{\"ts\":0,\"total\":9,\"free\":1}");
	run_n(&c, TOPIC, p, (size_t)n, NOW, &r);
	check_reject(&r, "epoch 0", PF_REJ_TOO_OLD, "1970-01-01T00:00:00Z");
	n = snprintf(p, sizeof(p),
		     "{\"type\":\"OffStreetParking\",\"totalSpotNumber\":9,"
		     "\"availableSpotNumber\":1,\"observationDateTime\":\"2020-01-01T00:00:00Z\"}");
	run_n(&c, TOPIC, p, (size_t)n, NOW, &r);
	check_reject(&r, "FIWARE", PF_REJ_TOO_OLD, "\"observationDateTime\"");
	/* the future is still clock_skew's */
	n = snprintf(p, sizeof(p), "{\"ts\":\"2023-06-19T01:00:00Z\",\"total\":9,\"free\":1}");
	run_n(&c, TOPIC, p, (size_t)n, NOW, &r);
	check_reject(&r, "future", PF_REJ_FUTURE_TS, NULL);
	/* off: a replay of a year-old buffer is taken */
	c.max_age_us = 0;
	n = snprintf(p, sizeof(p), "{\"ts\":\"2022-06-19T00:00:00Z\",\"total\":9,\"free\":1}");
	run_n(&c, TOPIC, p, (size_t)n, NOW, &r);
	assert_int_equal(r.kind, PF_REC_OCCUPANCY);
}

/*
 * A controller's text reaches operators' terminals: terminal escapes (C0, DEL, C1) in status
 * strings are replaced like those in reject details (jansson itself refuses \u0000).
 */
static void test_hostile_text(void **state)
{
	struct pf_record r;

	run(STATUS,
	    "{'online': true, 'system': '\\u001b]0;PWNED\\u0007\\u001b[2K\\u001b[1Aok', "
	    "'version': '1.0\\u009b31m\\u007f', 'protocol': 'parkfeed/1\\u0085x'}",
	    &r);
	if (r.kind != PF_REC_STATUS)
		fail_msg("hostile status: %s", describe_record(&r));
	assert_string_equal(r.u.status.system, "?]0;PWNED??[2K?[1Aok");
	assert_string_equal(r.u.status.version, "1.0?31m?");
	assert_string_equal(r.u.status.protocol, "parkfeed/1?x");
	assert_false(r.u.status.compliant);

	/* CJK and other printable text is kept as it is */
	run(STATUS, "{'system': '停车场管理系统 V2', 'version': '2.0\\u00a0β'}", &r);
	assert_int_equal(r.kind, PF_REC_STATUS);
	assert_string_equal(r.u.status.system, "停车场管理系统 V2");
	assert_string_equal(r.u.status.version, "2.0\xc2\xa0β");

	/* a quoted payload string in a detail: C1 masked too */
	run(TOPIC, "{'ts': '\\u009b2J\\u001b[31m', 'total': 1, 'free': 1}", &r);
	check_reject(&r, "C1 in a quoted value", PF_REJ_BAD_TYPE, "\"?2J?[31m\"");
}

/* ---- what a reject carries ---- */

static void test_reject_record(void **state)
{
	char *big = malloc(5000);
	struct pf_record r;
	char payload[256];
	int n;

	/* payload kept up to PF_REJECT_PAYLOAD_MAX, with its full length */
	big[0] = '[';
	for (size_t i = 1; i < 4999; i += 2)
		memcpy(big + i, "1,", 2);
	big[4997] = '1';
	big[4998] = ']';
	big[4999] = ' ';
	run_n(&cfg, TOPIC, big, 5000, NOW, &r);
	check_reject(&r, "big array", PF_REJ_NOT_OBJECT, NULL);
	assert_int_equal(r.payload_full_len, 5000);
	free(big);

	/* the offending string is quoted clipped at a character boundary, control bytes masked */
	n = snprintf(payload, sizeof(payload), "{\"ts\":\"%s\\n%s\",\"total\":1,\"free\":1}",
		     "停车停车停车停车停车停车停车停车停车停车停车停", "x");
	run_n(&cfg, TOPIC, payload, (size_t)n, NOW, &r);
	check_reject(&r, "CJK ts", PF_REJ_BAD_TYPE, "...\"");
	assert_null(strchr(r.u.reject.detail, '\n'));
	n = snprintf(payload, sizeof(payload),
		     "{\"ts\":\"bad\\u0001\\ttime\",\"total\":1,\"free\":1}");
	run_n(&cfg, TOPIC, payload, (size_t)n, NOW, &r);
	check_reject(&r, "control bytes", PF_REJ_BAD_TYPE, "\"bad??time\"");

	/* a NULL topic or payload is a reject, not a crash */
	pf_normalize(&cfg, NULL, NULL, 0, NOW, &r);
	check_reject(&r, "NULL topic", PF_REJ_BAD_TOPIC, NULL);
	pf_normalize(&cfg, TOPIC, NULL, 0, NOW, &r);
	check_reject(&r, "NULL payload", PF_REJ_JSON_SYNTAX, "empty");
}

/* Tiny deterministic generator: the test must behave the same on every run. */
static uint64_t rng_state = 0x2545F4914F6CDD1Du;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Mutated table payloads on both topic kinds: whatever comes out is a complete record that
 * the spool accepts (run_n checks), and nothing reads outside the payload (ASan).
 */
static void test_mutations(void **state)
{
	static const char bytes[] = "{}[]\",:0123456789.eE+-tfnul \\\x80\xc3\xa9\xff";
	const size_t n_ok = sizeof(ok_cases) / sizeof(ok_cases[0]);
	char buf[8192];
	struct pf_record r;

	for (int iter = 0; iter < 20000; iter++) {
		size_t n = unquote(ok_cases[rng() % n_ok].payload, buf, sizeof(buf));

		for (int k = 1 + (int)(rng() % 4); k > 0 && n > 0; k--) {
			size_t at = rng() % n;

			if (rng() % 4 == 0)
				n = at; /* truncate */
			else
				buf[at] = bytes[rng() % (sizeof(bytes) - 1)];
		}
		run_n(&cfg, iter % 8 ? TOPIC : STATUS, buf, n, NOW, &r);
		assert_true(r.kind == PF_REC_OCCUPANCY || r.kind == PF_REC_STATUS ||
			    r.kind == PF_REC_REJECT);
	}
}

static void test_field_names(void **state)
{
	assert_int_equal(pf_field_from_name("ts"), PF_F_TS);
	assert_int_equal(pf_field_from_name("total"), PF_F_TOTAL);
	assert_int_equal(pf_field_from_name("free"), PF_F_FREE);
	assert_int_equal(pf_field_from_name("occupied"), PF_F_OCCUPIED);
	assert_int_equal(pf_field_from_name("seq"), PF_F_SEQ);
	assert_int_equal(pf_field_from_name("status"), PF_F_STATUS);
	assert_int_equal(pf_field_from_name("Total"), -1);
	assert_int_equal(pf_field_from_name(""), -1);
	assert_int_equal(pf_field_from_name("lot_id"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_names),	cmocka_unit_test(test_topics),
		cmocka_unit_test(test_topic_too_long),	cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_accepted),	cmocka_unit_test(test_local_zone_berlin),
		cmocka_unit_test(test_fiware_examples), cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_payload_limit),	cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_clock_skew),	cmocka_unit_test(test_status),
		cmocka_unit_test(test_reject_record),	cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_hostile_text),	cmocka_unit_test(test_max_age),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
