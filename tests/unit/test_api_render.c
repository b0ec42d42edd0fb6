/* parkfeed-api's JSON (GeoJSON, NGSI-LD, districts, problems) byte for byte, and its HTTP
 * details: ETags and If-None-Match, Accept-Encoding, Accept, times, clients, rate limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "httpx.h"
#include "render.h"
#include "snapshot.h"

#define COLLECTION_START "{\"type\":\"FeatureCollection\",\"features\":[{"

/* 2023-06-19T00:00:05.5Z */
#define T0 (1687132805LL * 1000000 + 500000)

static struct api_snapshot *sample(void)
{
	static const struct snap_lot_row lots[] = {
		{.id = "JZ-SY-002",
		 .name = "山阳区 \"政务中心\"停车场",
		 .district = "山阳区",
		 .address = "焦作市山阳区人民路1号",
		 .status = "open",
		 .has_pos = true,
		 .lon = 113.2418,
		 .lat = 35.2159,
		 .has_data = true,
		 .has_free = true,
		 .has_occupied = true,
		 .free = 70,
		 .total = 320,
		 .occupied = 250,
		 .observed_us = T0,
		 .freshness = API_ONLINE},
		{.id = "JZ-SY-001",
		 .name = NULL,
		 .district = NULL,
		 .has_pos = false,
		 .freshness = API_OFFLINE},
		{.id = "JZ-WX-001",
		 .name = "温县停车场",
		 .district = "温县",
		 .has_pos = true,
		 .lon = 113.081,
		 .lat = 34.941,
		 .has_data = true,
		 .has_free = true,
		 .free = 0,
		 .total = 50,
		 .status = "closed",
		 .observed_us = T0,
		 .freshness = API_STALE},
	};
	static const struct snap_district_row districts[] = {
		{.name = "温县", .lots = 1, .lots_reporting = 1, .lots_stale = 1},
		{.name = NULL, .lots = 1, .lots_offline = 1},
		{.name = "山阳区",
		 .lots = 1,
		 .lots_reporting = 1,
		 .lots_online = 1,
		 .has_spaces = true,
		 .free = 70,
		 .total = 320},
	};
	struct snap_meta meta = {.taken_us = T0};
	struct api_snapshot *s = snap__build(lots, 3, districts, 3, &meta);

	assert_non_null(s);
	return s;
}

static char *render_str(struct pf_buf *b)
{
	assert_false(b->oom);
	return b->p;
}

static void test_snapshot(void **state)
{
	struct api_snapshot *s = sample();

	(void)state;
	assert_int_equal(s->n_lots, 3);
	assert_string_equal(s->lots[0].id, "JZ-SY-001"); /* sorted */
	assert_non_null(snap__find(s, "JZ-WX-001"));
	assert_null(snap__find(s, "JZ-XX-001"));
	assert_false(s->has_pos[0]);
	assert_true(s->has_pos[1]);
	assert_string_equal(s->districts[0].name, "山阳区");
	assert_null(s->districts[2].name); /* unknown last */
	assert_non_null(snap__district(s, NULL));
	assert_non_null(snap__district(s, "温县"));
	assert_null(snap__district(s, "孟州市"));
	rc__unref(&s->rc);
}

static void test_features(void **state)
{
	struct api_snapshot *s = sample();
	const struct api_lot *l = snap__find(s, "JZ-SY-002");
	size_t idx[] = {1, 0};
	double dist[] = {12.345, 1234.56};
	struct pf_buf b;

	(void)state;
	pf_buf_init(&b);
	render__feature(&b, l, API_CRS_WGS84, -1);
	assert_string_equal(
		render_str(&b),
		"{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[113.2418,"
		"35.2159]},\"properties\":{\"id\":\"JZ-SY-002\",\"name\":\"山阳区 \\\"政务中心\\\"停车场\","
		"\"district\":\"山阳区\",\"address\":\"焦作市山阳区人民路1号\",\"free\":70,\"total\":320,"
		"\"status\":\"open\",\"observed_at\":\"2023-06-19T00:00:05.500Z\",\"freshness\":"
		"\"online\"}}");
	pf_buf_free(&b);
	render__feature(&b, l, API_CRS_GCJ02, 5.0);
	assert_non_null(strstr(render_str(&b), "\"coordinates\":[113.2481648,35.2153883]"));
	assert_non_null(strstr(render_str(&b), "\"distance_m\":5.0}"));
	pf_buf_free(&b);
	render__feature(&b, snap__find(s, "JZ-SY-001"), API_CRS_BD09, -1);
	assert_string_equal(
		render_str(&b),
		"{\"type\":\"Feature\",\"geometry\":null,\"properties\":{\"id\":\"JZ-SY-"
		"001\",\"name\":null,\"district\":null,\"address\":null,\"free\":null,"
		"\"total\":null,\"status\":null,\"observed_at\":null,\"freshness\":"
		"\"offline\"}}");
	pf_buf_free(&b);
	render__collection(&b, s, idx, dist, 2, API_CRS_WGS84);
	assert_true(strncmp(render_str(&b), COLLECTION_START, strlen(COLLECTION_START)) == 0);
	assert_non_null(strstr(b.p, "\"distance_m\":12.3}"));
	assert_non_null(strstr(b.p, "\"distance_m\":1234.6}}]}"));
	pf_buf_free(&b);
	render__collection(&b, s, idx, NULL, 0, API_CRS_WGS84);
	assert_string_equal(render_str(&b), "{\"type\":\"FeatureCollection\",\"features\":[]}");
	pf_buf_free(&b);
	rc__unref(&s->rc);
}

static void test_districts_and_entities(void **state)
{
	struct api_snapshot *s = sample();
	const struct api_lot *l = snap__find(s, "JZ-SY-002");
	struct pf_buf b;

	(void)state;
	pf_buf_init(&b);
	render__districts(&b, s);
	assert_string_equal(
		render_str(&b),
		"[{\"district\":\"山阳区\",\"lots\":1,\"lots_reporting\":1,\"lots_online\":1,"
		"\"lots_stale\":0,\"lots_offline\":0,\"free\":70,\"total\":320},{\"district\":\"温县\","
		"\"lots\":1,\"lots_reporting\":1,\"lots_online\":0,\"lots_stale\":1,\"lots_offline\":0,"
		"\"free\":null,\"total\":null},{\"district\":null,\"lots\":1,\"lots_reporting\":0,"
		"\"lots_online\":0,\"lots_stale\":0,\"lots_offline\":1,\"free\":null,\"total\":null}]");
	pf_buf_free(&b);
	render__entity(&b, l, true, false);
	assert_string_equal(
		render_str(&b),
		"{\"id\":\"urn:ngsi-ld:OffStreetParking:JZ-SY-002\",\"type\":\"OffStreetParking\","
		"\"name\":\"山阳区 \\\"政务中心\\\"停车场\",\"availableSpotNumber\":70,"
		"\"totalSpotNumber\":320,\"occupiedSpotNumber\":250,\"occupancyModified\":\"2023-06-"
		"19T00:00:05.500Z\",\"status\":[\"open\"],\"location\":{\"type\":\"Point\","
		"\"coordinates\":[113.2418,35.2159]},\"address\":{\"streetAddress\":\"焦作市山阳区人民路"
		"1号\"},\"areaServed\":\"山阳区\"}");
	pf_buf_free(&b);
	render__entity(&b, l, false, true);
	assert_non_null(strstr(render_str(&b),
			       "\"availableSpotNumber\":{\"type\":\"Property\",\"value\":70,"
			       "\"observedAt\":\"2023-06-19T00:00:05.500Z\"}"));
	assert_non_null(strstr(b.p, "\"location\":{\"type\":\"GeoProperty\",\"value\":{\"type\":"
				    "\"Point\",\"coordinates\":[113.2418,35.2159]}}"));
	assert_non_null(strstr(b.p,
			       "\"occupancyModified\":{\"type\":\"Property\",\"value\":{"
			       "\"@type\":\"DateTime\",\"@value\":\"2023-06-19T00:00:05.500Z\"}}"));
	assert_non_null(strstr(b.p, "\"@context\":[\"" NGSI_CONTEXT_PARKING "\",\""));
	pf_buf_free(&b);
	/* A lot without data or position: only what is known. */
	render__entity(&b, snap__find(s, "JZ-SY-001"), true, false);
	assert_string_equal(render_str(&b), "{\"id\":\"urn:ngsi-ld:OffStreetParking:JZ-SY-001\","
					    "\"type\":\"OffStreetParking\"}");
	pf_buf_free(&b);
	render__problem(&b, 400, NULL, "Bad Request", "limit \"x\" is not a whole number");
	assert_string_equal(render_str(&b),
			    "{\"type\":\"about:blank\",\"title\":\"Bad Request\",\"status\":400,"
			    "\"detail\":\"limit \\\"x\\\" is not a whole number\"}");
	pf_buf_free(&b);
	render__config(&b, "", "© OSM", "gcj02", "1.0");
	assert_string_equal(render_str(&b), "{\"tile_url\":null,\"tile_attribution\":\"© OSM\","
					    "\"tile_crs\":\"gcj02\",\"version\":\"1.0\"}");
	pf_buf_free(&b);
	rc__unref(&s->rc);
}

static void test_etags(void **state)
{
	char a[24], b[24], gz[28];

	(void)state;
	http__etag("hello", 5, a);
	http__etag("hello", 5, b);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), 18);
	http__etag("hellO", 5, b);
	assert_string_not_equal(a, b);
	http__etag_gz(a, gz);
	assert_int_equal(strlen(gz), 21);
	assert_true(strcmp(gz + 17, "-gz\"") == 0);
	assert_true(http__etag_match(a, a));
	assert_true(http__etag_match(gz, a));
	assert_true(http__etag_match(a, gz));
	assert_true(http__etag_match("*", a));
	char list[80];
	snprintf(list, sizeof(list), "\"x\", W/%s , \"y\"", a);
	assert_true(http__etag_match(list, a));
	assert_false(http__etag_match("\"x\", \"y\"", a));
	assert_false(http__etag_match("", a));
	assert_false(http__etag_match(NULL, a));
	assert_false(http__etag_match(b, a));
}

static void test_negotiation(void **state)
{
	(void)state;
	assert_true(http__accepts_gzip("gzip"));
	assert_true(http__accepts_gzip("br, gzip, deflate"));
	assert_true(http__accepts_gzip("GZIP;q=0.5"));
	assert_true(http__accepts_gzip("*"));
	assert_false(http__accepts_gzip("gzip;q=0"));
	assert_false(http__accepts_gzip("identity"));
	assert_false(http__accepts_gzip("deflate, br"));
	assert_false(http__accepts_gzip(NULL));
	assert_true(http__wants_ld_json("application/ld+json"));
	assert_true(http__wants_ld_json("application/ld+json, application/json;q=0.5"));
	assert_false(http__wants_ld_json("application/json"));
	assert_false(http__wants_ld_json("*/*"));
	assert_false(http__wants_ld_json(NULL));
}

static void test_times_and_bodies(void **state)
{
	struct api_body *b;
	char t[32], *big;
	size_t n = 4096;

	(void)state;
	http__time(T0, t);
	assert_string_equal(t, "2023-06-19T00:00:05.500Z");
	http__time(1687132805LL * 1000000, t);
	assert_string_equal(t, "2023-06-19T00:00:05Z");
	http__time(1687132805LL * 1000000 + 123456, t);
	assert_string_equal(t, "2023-06-19T00:00:05.123456Z");
	big = malloc(n);
	assert_non_null(big);
	memset(big, 'a', n);
	b = http__body(big, n, true);
	assert_non_null(b);
	assert_non_null(b->gz);
	assert_true(b->gz_len < n);
	/* gzip's magic, and a body that decompresses to the original */
	assert_true((unsigned char)b->gz[0] == 0x1f && (unsigned char)b->gz[1] == 0x8b);
	rc__unref(&b->rc);
	b = http__body(strdup("{}"), 2, true);
	assert_null(b->gz); /* too small to be worth it */
	rc__unref(&b->rc);
	/* one answer's body: compressed only when a client asks, and only while nobody shares it */
	big = malloc(n);
	assert_non_null(big);
	memset(big, 'b', n);
	b = http__body(big, n, false);
	assert_null(b->gz);
	rc__ref(&b->rc);
	http__body_gzip_own(b);
	assert_null(b->gz);
	rc__unref(&b->rc);
	http__body_gzip_own(b);
	assert_non_null(b->gz);
	rc__unref(&b->rc);
}

static void test_clients(void **state)
{
	struct http_proxies p;
	unsigned char peer[16], key[16];
	char who[64], why[128];

	(void)state;
	assert_int_equal(http__parse_proxies("", &p, why, sizeof(why)), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(
		http__parse_proxies("127.0.0.1, 10.0.0.0/8,::1,fd00::/8", &p, why, sizeof(why)), 0);
	assert_int_equal(p.n, 4);
	assert_int_equal(http__parse_proxies("10.0.0.0/33", &p, why, sizeof(why)), -EINVAL);
	assert_int_equal(http__parse_proxies("example.org", &p, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "is not an IPv4 or IPv6 address"));
	assert_int_equal(http__parse_proxies("127.0.0.1, 10.0.0.0/8", &p, why, sizeof(why)), 0);

	/* Not from a proxy: the peer, whatever X-Forwarded-For says. */
	assert_true(http__parse_addr("192.0.2.7", 9, peer));
	http__client(peer, "198.51.100.1", &p, key, who, sizeof(who));
	assert_string_equal(who, "192.0.2.7");
	/* From a proxy: the right-most address no trusted proxy added. */
	assert_true(http__parse_addr("127.0.0.1", 9, peer));
	http__client(peer, "203.0.113.9, 198.51.100.1, 10.1.2.3", &p, key, who, sizeof(who));
	assert_string_equal(who, "198.51.100.1");
	http__client(peer, "10.0.0.1, 10.1.2.3", &p, key, who, sizeof(who));
	assert_string_equal(who, "10.0.0.1");
	http__client(peer, "garbage, 10.1.2.3", &p, key, who, sizeof(who));
	assert_string_equal(who, "10.1.2.3");
	http__client(peer, NULL, &p, key, who, sizeof(who));
	assert_string_equal(who, "127.0.0.1");
	/* IPv6 clients count per /64. */
	unsigned char k1[16], k2[16];
	assert_true(http__parse_addr("2001:db8::1", 11, peer));
	http__client(peer, NULL, &p, k1, who, sizeof(who));
	assert_true(http__parse_addr("2001:db8::ffff:2", 16, peer));
	http__client(peer, NULL, &p, k2, who, sizeof(who));
	assert_memory_equal(k1, k2, 16);
}

static void test_rate_limit(void **state)
{
	struct rate_limiter *r = rate__new(64);
	unsigned char a[16] = {1}, b[16] = {2}, c[16] = {3};
	int64_t t = 1000000;

	(void)state;
	assert_non_null(r);
	/* a burst of 5, then 2 per second */
	for (int i = 0; i < 5; i++)
		assert_int_equal(rate__take(r, a, 2, 5, t), 0);
	assert_int_equal(rate__take(r, a, 2, 5, t), 1);
	assert_int_equal(rate__take(r, b, 2, 5, t), 0); /* another client is not affected */
	assert_int_equal(rate__take(r, a, 2, 5, t + 500000), 0);
	assert_true(rate__take(r, a, 2, 5, t + 500000) >= 1);
	/* a slow rate tells how long to wait */
	assert_int_equal(rate__take(r, c, 0.1, 1, t), 0);
	assert_int_equal(rate__take(r, c, 0.1, 1, t), 10);
	/* many clients: bounded table, no failure */
	for (int i = 0; i < 10000; i++) {
		unsigned char k[16] = {[15] = 0xee};

		memcpy(k, &i, sizeof(i));
		assert_int_equal(rate__take(r, k, 2, 5, t), 0);
	}
	rate__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_districts_and_entities),
		cmocka_unit_test(test_etags),
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_times_and_bodies),
		cmocka_unit_test(test_clients),
		cmocka_unit_test(test_rate_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
