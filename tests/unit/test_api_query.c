/* parkfeed-api's request targets and query strings: routes, decoding, every parameter's
 * checks, and a table of bad inputs with the sentence each one must get. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "query.h"

static int route(const char *uri, struct api_target *t, char *why)
{
	return query__route(uri, strlen(uri), t, why, 256);
}

static void test_routes(void **state)
{
	static const struct {
		const char *uri;
		enum api_route route;
		const char *param;
	} cases[] = {
		{"/", R_INDEX, ""},
		{"/ledger", R_LEDGER_PAGE, ""},
		{"/healthz", R_HEALTHZ, ""},
		{"/v1/config", R_CONFIG, ""},
		{"/v1/lots", R_LOTS, ""},
		{"/v1/lots?near=1,2", R_LOTS, ""},
		{"/v1/lots/JZ-SY-001", R_LOT, "JZ-SY-001"},
		{"/v1/lots/JZ-SY-001/history", R_LOT_HISTORY, "JZ-SY-001"},
		{"/v1/districts", R_DISTRICTS, ""},
		{"/v1/districts/%E5%B1%B1%E9%98%B3%E5%8C%BA/history", R_DISTRICT_HISTORY, "山阳区"},
		{"/v1/progress?year=2023", R_PROGRESS, ""},
		{"/ngsi-ld/v1/entities?type=OffStreetParking", R_NGSI_ENTITIES, ""},
		{"/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:A-1", R_NGSI_ENTITY,
		 "urn:ngsi-ld:OffStreetParking:A-1"},
		{"/app.js", R_STATIC, "app.js"},
		{"/js/map.js", R_STATIC, "js/map.js"},
		{"/v1", R_NOT_FOUND, ""},
		{"/v1/", R_NOT_FOUND, ""},
		{"/v1/lots/", R_NOT_FOUND, ""},
		{"/v1/lots/A/history/x", R_NOT_FOUND, ""},
		{"/v1/nothing", R_NOT_FOUND, ""},
		{"/ngsi-ld/v1/types", R_NOT_FOUND, ""},
		{"/ngsi-ld/v1/entities/a/b", R_NOT_FOUND, ""},
		{"/v2/lots", R_STATIC, "v2/lots"},
	};
	struct api_target t;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (route(cases[i].uri, &t, why) != 0)
			fail_msg("%s: refused: %s", cases[i].uri, why);
		if (t.route != cases[i].route)
			fail_msg("%s: route %d, expected %d", cases[i].uri, t.route,
				 cases[i].route);
		assert_string_equal(t.param, cases[i].param);
	}
	assert_int_equal(route("/v1/lots?crs=gcj02&x", &t, why), 0);
	assert_int_equal(t.query_len, strlen("crs=gcj02&x"));
	assert_memory_equal(t.query, "crs=gcj02&x", t.query_len);
}

static void test_route_refusals(void **state)
{
	static const struct {
		const char *uri, *why;
	} cases[] = {
		{"", "must be a path starting with /"},
		{"v1/lots", "must be a path starting with /"},
		{"*", "must be a path starting with /"},
		{"/v1/lots/bad%20id", "\"bad id\" is not a lot id"},
		{"/v1/lots/%ZZ", "not valid percent-encoded UTF-8"},
		{"/v1/lots/a%00b", "not valid percent-encoded UTF-8"},
		{"/v1/lots/%ff", "not valid percent-encoded UTF-8"},
		{"/v1/lots/%e5%b1", "not valid percent-encoded UTF-8"},
		{"/v1/lots/x%", "not valid percent-encoded UTF-8"},
		{"/v1/lots/x%4", "not valid percent-encoded UTF-8"},
		{"/v1/lots/"
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		 "is not a lot id"},
		{"/ngsi-ld/v1/entities/%", "not valid percent-encoded UTF-8"},
	};
	struct api_target t;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (route(cases[i].uri, &t, why) != -EINVAL)
			fail_msg("%s: accepted", cases[i].uri);
		if (!strstr(why, cases[i].why))
			fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].uri, why, cases[i].why);
	}
}

static int parse(const char *qs, struct query *q, char *why)
{
	return query__parse(q, qs, strlen(qs), why, 256);
}

static void test_parse(void **state)
{
	struct query q;
	char why[256];

	(void)state;
	assert_int_equal(parse("a=1&b=x+y&c=%E5%B1%B1&d&&e=", &q, why), 0);
	assert_int_equal(q.n, 5);
	assert_string_equal(q.p[0].key, "a");
	assert_string_equal(q.p[0].val, "1");
	assert_string_equal(q.p[1].val, "x y");
	assert_string_equal(q.p[2].val, "山");
	assert_string_equal(q.p[3].key, "d");
	assert_string_equal(q.p[3].val, "");
	assert_string_equal(q.p[4].val, "");
	assert_int_equal(parse("", &q, why), 0);
	assert_int_equal(q.n, 0);
	assert_int_equal(parse("=1", &q, why), -EINVAL);
	assert_non_null(strstr(why, "has no name"));
	assert_int_equal(parse("a=%0a", &q, why), -EINVAL);
	assert_int_equal(parse("a=%7f", &q, why), -EINVAL);
	assert_int_equal(parse("a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14&o=15&"
			       "p=16&q=17",
			       &q, why),
			 -EINVAL);
	assert_non_null(strstr(why, "more than 16 query parameters"));
}

static int lots(const char *qs, bool one, struct lots_params *p, char *why)
{
	static struct query q; /* p's strings point into it */

	if (query__parse(&q, qs, strlen(qs), why, 256) < 0)
		return -1;
	return query__lots(&q, one, p, why, 256);
}

static void test_lots_params(void **state)
{
	struct lots_params p;
	char why[256];

	(void)state;
	assert_int_equal(lots("", false, &p, why), 0);
	assert_false(p.near);
	assert_null(p.district);
	assert_int_equal(p.crs, API_CRS_WGS84);
	assert_int_equal(
		lots("near=113.2418,35.2159&limit=5&radius=1500.5&crs=wgs84", false, &p, why), 0);
	assert_true(p.near);
	assert_true(p.near_lon == 113.2418 && p.near_lat == 35.2159);
	assert_int_equal(p.limit, 5);
	assert_true(p.radius_m == 1500.5);
	assert_int_equal(lots("near=113.2418,35.2159", false, &p, why), 0);
	assert_int_equal(p.limit, LOTS_LIMIT_DEFAULT);
	assert_int_equal(lots("district=%E5%B1%B1%E9%98%B3%E5%8C%BA", false, &p, why), 0);
	assert_string_equal(p.district, "山阳区");
	/* near in gcj02 comes back as WGS-84 */
	assert_int_equal(lots("crs=gcj02&near=113.2481647712,35.2153882801", false, &p, why), 0);
	assert_true(fabs(p.near_lon - 113.2418) < 1e-8 && fabs(p.near_lat - 35.2159) < 1e-8);
	assert_int_equal(lots("crs=bd09", true, &p, why), 0);
	assert_int_equal(p.crs, API_CRS_BD09);
}

static void test_bad_inputs(void **state)
{
	static const struct {
		const char *qs;
		bool one_lot;
		const char *why;
	} cases[] = {
		{"near=113.2", false, "is not LON,LAT in decimal degrees"},
		{"near=113.2,", false, "is not LON,LAT"},
		{"near=,35", false, "is not LON,LAT"},
		{"near=a,b", false, "is not LON,LAT"},
		{"near=1e2,35", false, "is not LON,LAT"},
		{"near=0x10,35", false, "is not LON,LAT"},
		{"near=inf,35", false, "is not LON,LAT"},
		{"near=nan,nan", false, "is not LON,LAT"},
		{"near=113.2,35.2,1", false, "is not LON,LAT"},
		{"near=+113.2,35.2", false, "is not LON,LAT"},
		{"near=113.2, 35.2", false, "is not LON,LAT"},
		{"near=181,35", false, "is out of range"},
		{"near=113,-90.5", false, "is out of range"},
		{"near=35.2,113.2", false,
		 "is out of range (longitude -180..180, latitude -90..90"},
		{"near=113,35&limit=0", false, "limit \"0\" is not a whole number 1..100"},
		{"near=113,35&limit=101", false, "1..100"},
		{"near=113,35&limit=-1", false, "1..100"},
		{"near=113,35&limit=5.5", false, "1..100"},
		{"near=113,35&limit=99999999999999999999", false, "1..100"},
		{"limit=5", false, "limit applies to near queries"},
		{"radius=5", false, "radius applies to near queries"},
		{"near=113,35&radius=0", false, "radius \"0\" is not a distance in metres"},
		{"near=113,35&radius=-5", false, "is not a distance in metres"},
		{"near=113,35&radius=100001", false, "at most 100000"},
		{"near=113,35&radius=1e3", false, "is not a distance"},
		{"crs=WGS84", false, "crs \"WGS84\" is not wgs84, gcj02 or bd09"},
		{"crs=", false, "is not wgs84, gcj02 or bd09"},
		{"district=", false, "district must be 1 to 100 bytes"},
		{"foo=1", false,
		 "unknown parameter foo for /v1/lots (allowed: district, near, limit, "
		 "radius, crs)"},
		{"crs=wgs84&crs=gcj02", false, "parameter crs given twice"},
		{"near=113,35", true, "unknown parameter near for /v1/lots/{id} (allowed: crs)"},
		{"district=%ZZ", false, "not valid percent-encoded UTF-8"},
	};
	struct lots_params p;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (lots(cases[i].qs, cases[i].one_lot, &p, why) == 0)
			fail_msg("%s: accepted", cases[i].qs);
		if (!strstr(why, cases[i].why))
			fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].qs, why, cases[i].why);
	}
}

static int ngsi(const char *qs, bool list, struct ngsi_params *p, char *why)
{
	static struct query q; /* p's strings point into it */

	if (query__parse(&q, qs, strlen(qs), why, 256) < 0)
		return -1;
	return query__ngsi(&q, list, p, why, 256);
}

static void test_ngsi_params(void **state)
{
	struct ngsi_params p;
	char why[256];

	(void)state;
	assert_int_equal(ngsi("type=OffStreetParking", true, &p, why), 0);
	assert_true(p.type_ok);
	assert_false(p.key_values);
	assert_int_equal(p.limit, NGSI_LIMIT_DEFAULT);
	assert_int_equal(p.offset, 0);
	assert_int_equal(ngsi("type=OffStreetParking&options=keyValues&limit=1000&offset=40&count="
			      "true",
			      true, &p, why),
			 0);
	assert_true(p.key_values && p.count);
	assert_int_equal(p.limit, 1000);
	assert_int_equal(p.offset, 40);
	assert_int_equal(ngsi("type=Vehicle,OffStreetParking&format=simplified", true, &p, why), 0);
	assert_true(p.type_ok && p.key_values);
	assert_int_equal(ngsi("type=https://smartdatamodels.org/dataModel.Parking/OffStreetParking",
			      true, &p, why),
			 0);
	assert_true(p.type_ok);
	assert_int_equal(ngsi("type=Vehicle", true, &p, why), 0);
	assert_false(p.type_ok);
	assert_int_equal(ngsi("type=OffStreetParking&count=true&limit=0", true, &p, why), 0);
	assert_int_equal(ngsi("type=OffStreetParking&id=urn:a,urn:b", true, &p, why), 0);
	assert_int_equal(p.n_ids, 2);
	assert_int_equal(p.ids[1].len, 5);
	assert_memory_equal(p.ids[1].s, "urn:b", 5);
	assert_int_equal(ngsi("options=keyValues", false, &p, why), 0);
	assert_true(p.key_values);
	assert_int_equal(ngsi("", false, &p, why), 0);

	assert_int_equal(ngsi("", true, &p, why), -EINVAL);
	assert_non_null(strstr(why, "needs type"));
	assert_int_equal(ngsi("type=OffStreetParking&limit=1001", true, &p, why), -EINVAL);
	assert_non_null(strstr(why, "0..1000"));
	assert_int_equal(ngsi("type=OffStreetParking&limit=0", true, &p, why), -EINVAL);
	assert_non_null(strstr(why, "only allowed with count=true"));
	assert_int_equal(ngsi("type=OffStreetParking&offset=-1", true, &p, why), -EINVAL);
	assert_int_equal(ngsi("type=OffStreetParking&options=sysAttrs", true, &p, why), -EINVAL);
	assert_non_null(strstr(why, "sysAttrs\" is not supported here"));
	assert_int_equal(ngsi("type=OffStreetParking&count=yes", true, &p, why), -EINVAL);
	assert_int_equal(ngsi("type=OffStreetParking&q=free>0", true, &p, why), -EINVAL);
	assert_non_null(strstr(why, "unknown parameter q"));
	assert_int_equal(ngsi("type=OffStreetParking&id=a,,b", true, &p, why), -EINVAL);
	assert_int_equal(ngsi("limit=5", false, &p, why), -EINVAL);
}

static void test_progress_and_history(void **state)
{
	struct progress_params pp;
	struct history_params hp;
	struct query q;
	char why[256];

	(void)state;
	assert_int_equal(parse("year=2023&as_of=2023-06-30", &q, why), 0);
	assert_int_equal(query__progress(&q, &pp, why, sizeof(why)), 0);
	assert_int_equal(pp.year, 2023);
	assert_string_equal(pp.as_of, "2023-06-30");
	assert_int_equal(parse("year=2024&as_of=2024-02-29", &q, why), 0);
	assert_int_equal(query__progress(&q, &pp, why, sizeof(why)), 0);
	assert_int_equal(parse("year=2023&as_of=2023-02-29", &q, why), 0);
	assert_int_equal(query__progress(&q, &pp, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "as_of \"2023-02-29\" is not a date YYYY-MM-DD"));
	assert_int_equal(parse("as_of=2023-06-30", &q, why), 0);
	assert_int_equal(query__progress(&q, &pp, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "year is required"));
	assert_int_equal(parse("year=1999", &q, why), 0);
	assert_int_equal(query__progress(&q, &pp, why, sizeof(why)), -EINVAL);
	assert_int_equal(parse("year=2023&as_of=2023-6-30", &q, why), 0);
	assert_int_equal(query__progress(&q, &pp, why, sizeof(why)), -EINVAL);
	assert_int_equal(parse("year=2023&as_of=2023-06--1", &q, why), 0);
	assert_int_equal(query__progress(&q, &pp, why, sizeof(why)), -EINVAL);

	assert_int_equal(parse("", &q, why), 0);
	assert_int_equal(query__history(&q, &hp, why, sizeof(why)), 0);
	assert_int_equal(hp.hours, 24);
	assert_int_equal(hp.bucket_minutes, 15);
	assert_int_equal(parse("hours=48&bucket=60", &q, why), 0);
	assert_int_equal(query__history(&q, &hp, why, sizeof(why)), 0);
	assert_int_equal(parse("hours=49", &q, why), 0);
	assert_int_equal(query__history(&q, &hp, why, sizeof(why)), -EINVAL);
	assert_int_equal(parse("bucket=6", &q, why), 0);
	assert_int_equal(query__history(&q, &hp, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "5, 10, 15, 20, 30 or 60"));
	assert_int_equal(parse("x=1", &q, why), 0);
	assert_int_equal(query__none(&q, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "takes no parameters"));
}

static void test_ids(void **state)
{
	(void)state;
	assert_true(query__valid_lot_id("JZ-SY-001"));
	assert_true(query__valid_lot_id("a.b_c-D9"));
	assert_false(query__valid_lot_id(""));
	assert_false(query__valid_lot_id("a b"));
	assert_false(query__valid_lot_id("山"));
	assert_string_equal(query__urn_lot_id("urn:ngsi-ld:OffStreetParking:JZ-SY-001"),
			    "JZ-SY-001");
	assert_null(query__urn_lot_id("urn:ngsi-ld:OffStreetParking:"));
	assert_null(query__urn_lot_id("urn:ngsi-ld:Vehicle:JZ-SY-001"));
	assert_null(query__urn_lot_id("JZ-SY-001"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_route_refusals),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_lots_params),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_ngsi_params),
		cmocka_unit_test(test_progress_and_history),
		cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
