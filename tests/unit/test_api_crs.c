/* parkfeed-api's coordinate systems against gcoord's (tests/data/crs/reference.csv), the
 * inverses by round trip, and great-circle distances and nearest selection by brute force. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "geo.h"

#define REF_EPS 1e-9 /* degrees: both compute the same formula in doubles */

struct ref {
	char name[32];
	double wlon, wlat, glon, glat, blon, blat;
};

static size_t load_refs(struct ref *out, size_t max)
{
	FILE *f = fopen(PF_TESTDATA_DIR "/crs/reference.csv", "r");
	char line[256];
	size_t n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) && n < max) {
		struct ref *r = &out[n];

		if (line[0] == '#' || strncmp(line, "name,", 5) == 0)
			continue;
		assert_int_equal(sscanf(line, "%31[^,],%lf,%lf,%lf,%lf,%lf,%lf", r->name, &r->wlon,
					&r->wlat, &r->glon, &r->glat, &r->blon, &r->blat),
				 7);
		n++;
	}
	fclose(f);
	return n;
}

static void test_forward_matches_reference(void **state)
{
	struct ref refs[64];
	size_t n = load_refs(refs, 64);
	double lon, lat;

	(void)state;
	assert_true(n >= 20);
	for (size_t i = 0; i < n; i++) {
		const struct ref *r = &refs[i];

		crs__wgs84_to_gcj02(r->wlon, r->wlat, &lon, &lat);
		if (fabs(lon - r->glon) > REF_EPS || fabs(lat - r->glat) > REF_EPS)
			fail_msg("%s: gcj02 %.10f,%.10f, reference %.10f,%.10f", r->name, lon, lat,
				 r->glon, r->glat);
		crs__gcj02_to_bd09(r->glon, r->glat, &lon, &lat);
		if (fabs(lon - r->blon) > REF_EPS || fabs(lat - r->blat) > REF_EPS)
			fail_msg("%s: bd09 %.10f,%.10f, reference %.10f,%.10f", r->name, lon, lat,
				 r->blon, r->blat);
		crs__from_wgs84(API_CRS_BD09, r->wlon, r->wlat, &lon, &lat);
		assert_true(fabs(lon - r->blon) < REF_EPS && fabs(lat - r->blat) < REF_EPS);
		crs__from_wgs84(API_CRS_WGS84, r->wlon, r->wlat, &lon, &lat);
		assert_true(lon == r->wlon && lat == r->wlat);
	}
}

/* The inverses: what they give converts forward to the input within 1e-9 degrees (0.1 mm),
 * and lands on the reference's WGS-84 point within 1e-8 degrees (1 mm). */
static void test_inverse_round_trip(void **state)
{
	struct ref refs[64];
	size_t n = load_refs(refs, 64);
	double lon, lat, flon, flat;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const struct ref *r = &refs[i];

		crs__to_wgs84(API_CRS_GCJ02, r->glon, r->glat, &lon, &lat);
		crs__wgs84_to_gcj02(lon, lat, &flon, &flat);
		assert_true(fabs(flon - r->glon) < 1e-9 && fabs(flat - r->glat) < 1e-9);
		assert_true(fabs(lon - r->wlon) < 1e-8 && fabs(lat - r->wlat) < 1e-8);
		crs__to_wgs84(API_CRS_BD09, r->blon, r->blat, &lon, &lat);
		if (fabs(lon - r->wlon) > 1e-8 || fabs(lat - r->wlat) > 1e-8)
			fail_msg("%s: bd09 back to %.10f,%.10f, expected %.10f,%.10f", r->name, lon,
				 lat, r->wlon, r->wlat);
	}
	/* A grid over the city, its counties and beyond. */
	for (double x = 112.0; x <= 114.0; x += 0.05)
		for (double y = 34.5; y <= 35.8; y += 0.05) {
			crs__from_wgs84(API_CRS_BD09, x, y, &flon, &flat);
			crs__to_wgs84(API_CRS_BD09, flon, flat, &lon, &lat);
			assert_true(fabs(lon - x) < 1e-8 && fabs(lat - y) < 1e-8);
		}
}

static void test_out_of_china(void **state)
{
	double lon, lat;

	(void)state;
	assert_true(crs__out_of_china(139.69, 35.69)); /* Tokyo */
	assert_true(crs__out_of_china(-0.13, 51.5));
	assert_false(crs__out_of_china(113.24, 35.22));
	crs__wgs84_to_gcj02(139.69, 35.69, &lon, &lat);
	assert_true(lon == 139.69 && lat == 35.69);
	crs__gcj02_to_wgs84(-0.13, 51.5, &lon, &lat);
	assert_true(lon == -0.13 && lat == 51.5);
	assert_int_equal(crs__parse("gcj02"), API_CRS_GCJ02);
	assert_int_equal(crs__parse("bd09"), API_CRS_BD09);
	assert_int_equal(crs__parse("wgs84"), API_CRS_WGS84);
	assert_int_equal(crs__parse("WGS84"), -1);
	assert_int_equal(crs__parse(""), -1);
}

static void test_distances(void **state)
{
	double a[3], b[3];

	(void)state;
	/* One degree of latitude on the mean sphere: R * pi / 180. */
	assert_true(fabs(geo__haversine_m(113.0, 35.0, 113.0, 36.0) - 111195.08) < 0.01);
	geo__unit(113.0, 35.0, a);
	geo__unit(113.0, 36.0, b);
	assert_true(fabs(geo__distance_m(a, b) - 111195.08) < 0.01);
	/* Near points: the vector form agrees with haversine to a millimetre. */
	geo__unit(113.2418, 35.2159, a);
	geo__unit(113.24181, 35.21591, b);
	assert_true(fabs(geo__distance_m(a, b) -
			 geo__haversine_m(113.2418, 35.2159, 113.24181, 35.21591)) < 0.001);
	/* Antipodes. */
	geo__unit(0, 0, a);
	geo__unit(180, 0, b);
	assert_true(fabs(geo__distance_m(a, b) - M_PI * GEO_EARTH_RADIUS_M) < 0.01);
}

static uint64_t rnd_state = 88172645463325252ULL;
static double rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (double)(rnd_state >> 11) * 0x1.0p-53;
}

static int cmp_dist(const void *x, const void *y)
{
	const struct geo_hit *a = x, *b = y;

	return a->distance_m < b->distance_m ? -1 : a->distance_m > b->distance_m;
}

static void test_nearest_against_brute_force(void **state)
{
	enum { N = 3000 };
	static double vec[N][3], lon[N], lat[N];
	static bool has[N];
	static struct geo_hit all[N];
	struct geo_hit hits[100];
	double q[3];

	(void)state;
	for (int i = 0; i < N; i++) {
		lon[i] = 112.5 + 1.2 * rnd();
		lat[i] = 34.8 + 0.6 * rnd();
		has[i] = i % 7 != 0; /* some lots have no position */
		geo__unit(lon[i], lat[i], vec[i]);
	}
	for (int t = 0; t < 50; t++) {
		double qlon = 112.4 + 1.4 * rnd(), qlat = 34.7 + 0.8 * rnd();
		size_t k = 1 + (size_t)(rnd() * 100), m = 0, n;
		double radius = t % 3 == 0 ? 2000 + 20000 * rnd() : 0;

		geo__unit(qlon, qlat, q);
		for (int i = 0; i < N; i++)
			if (has[i]) {
				all[m].index = (size_t)i;
				all[m++].distance_m = geo__haversine_m(qlon, qlat, lon[i], lat[i]);
			}
		qsort(all, m, sizeof(*all), cmp_dist);
		while (radius > 0 && m > 0 && all[m - 1].distance_m > radius)
			m--;
		n = geo__nearest((const double(*)[3])vec, has, N, q, k, radius, hits);
		assert_int_equal(n, k < m ? k : m);
		for (size_t i = 0; i < n; i++) {
			assert_true(fabs(hits[i].distance_m - all[i].distance_m) < 0.01);
			assert_true(has[hits[i].index]);
			if (i)
				assert_true(hits[i - 1].distance_m <= hits[i].distance_m);
		}
	}
	assert_int_equal(geo__nearest((const double(*)[3])vec, has, N, q, 0, 0, hits), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_matches_reference),
		cmocka_unit_test(test_inverse_round_trip),
		cmocka_unit_test(test_out_of_china),
		cmocka_unit_test(test_distances),
		cmocka_unit_test(test_nearest_against_brute_force),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
