/*
 * WGS-84 <-> GCJ-02 <-> BD-09, for the map SDKs navigation apps in China use.
 *
 * GCJ-02 is WGS-84 shifted by a published, deliberately irregular offset (the "eviltransform"
 * formula, on the Krasovsky 1940 ellipsoid); AMap and Tencent maps draw in it. BD-09 is Baidu's
 * further rotation and shift of GCJ-02. Both are given as forward formulas only; outside
 * China's rectangle the maps use WGS-84 and nothing is shifted. The inverses here iterate the
 * forward formula (fixed point: w <- w - (f(w) - target)); the offset changes slowly with
 * position, so each step gains about four orders of magnitude and a few steps reach 1e-9 degrees.
 */
#include <math.h>
#include <string.h>

#include "geo.h"

#define KRASOVSKY_A 6378245.0
#define KRASOVSKY_EE 0.00669342162296594323
#define BD_X_PI (M_PI * 3000.0 / 180.0)
#define INVERSE_EPS 1e-10
#define INVERSE_STEPS 30

static const char *const names[API_CRS__N] = {"wgs84", "gcj02", "bd09"};

int crs__parse(const char *s)
{
	for (int i = 0; i < API_CRS__N; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

const char *crs__name(enum api_crs c)
{
	return names[c];
}

bool crs__out_of_china(double lon, double lat)
{
	return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

static double shift_lat(double x, double y)
{
	double r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(fabs(x));

	r += (20.0 * sin(6.0 * x * M_PI) + 20.0 * sin(2.0 * x * M_PI)) * 2.0 / 3.0;
	r += (20.0 * sin(y * M_PI) + 40.0 * sin(y / 3.0 * M_PI)) * 2.0 / 3.0;
	r += (160.0 * sin(y / 12.0 * M_PI) + 320.0 * sin(y * M_PI / 30.0)) * 2.0 / 3.0;
	return r;
}

static double shift_lon(double x, double y)
{
	double r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(fabs(x));

	r += (20.0 * sin(6.0 * x * M_PI) + 20.0 * sin(2.0 * x * M_PI)) * 2.0 / 3.0;
	r += (20.0 * sin(x * M_PI) + 40.0 * sin(x / 3.0 * M_PI)) * 2.0 / 3.0;
	r += (150.0 * sin(x / 12.0 * M_PI) + 300.0 * sin(x / 30.0 * M_PI)) * 2.0 / 3.0;
	return r;
}

void crs__wgs84_to_gcj02(double lon, double lat, double *out_lon, double *out_lat)
{
	double dlat, dlon, rad, magic, sq;

	if (crs__out_of_china(lon, lat)) {
		*out_lon = lon;
		*out_lat = lat;
		return;
	}
	dlat = shift_lat(lon - 105.0, lat - 35.0);
	dlon = shift_lon(lon - 105.0, lat - 35.0);
	rad = lat / 180.0 * M_PI;
	magic = sin(rad);
	magic = 1 - KRASOVSKY_EE * magic * magic;
	sq = sqrt(magic);
	dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sq) * M_PI);
	dlon = (dlon * 180.0) / (KRASOVSKY_A / sq * cos(rad) * M_PI);
	*out_lon = lon + dlon;
	*out_lat = lat + dlat;
}

void crs__gcj02_to_bd09(double lon, double lat, double *out_lon, double *out_lat)
{
	double z = sqrt(lon * lon + lat * lat) + 0.00002 * sin(lat * BD_X_PI);
	double theta = atan2(lat, lon) + 0.000003 * cos(lon * BD_X_PI);

	*out_lon = z * cos(theta) + 0.0065;
	*out_lat = z * sin(theta) + 0.006;
}

/* Solve forward(w) = target for w, starting from the target itself. */
static void invert(void (*forward)(double, double, double *, double *), double lon, double lat,
		   double *out_lon, double *out_lat)
{
	double wlon = lon, wlat = lat, flon, flat;

	for (int i = 0; i < INVERSE_STEPS; i++) {
		forward(wlon, wlat, &flon, &flat);
		wlon -= flon - lon;
		wlat -= flat - lat;
		if (fabs(flon - lon) < INVERSE_EPS && fabs(flat - lat) < INVERSE_EPS)
			break;
	}
	*out_lon = wlon;
	*out_lat = wlat;
}

void crs__gcj02_to_wgs84(double lon, double lat, double *out_lon, double *out_lat)
{
	invert(crs__wgs84_to_gcj02, lon, lat, out_lon, out_lat);
}

void crs__bd09_to_gcj02(double lon, double lat, double *out_lon, double *out_lat)
{
	invert(crs__gcj02_to_bd09, lon, lat, out_lon, out_lat);
}

void crs__from_wgs84(enum api_crs c, double lon, double lat, double *out_lon, double *out_lat)
{
	double glon, glat;

	switch (c) {
	case API_CRS_GCJ02:
		crs__wgs84_to_gcj02(lon, lat, out_lon, out_lat);
		return;
	case API_CRS_BD09:
		crs__wgs84_to_gcj02(lon, lat, &glon, &glat);
		crs__gcj02_to_bd09(glon, glat, out_lon, out_lat);
		return;
	default:
		*out_lon = lon;
		*out_lat = lat;
	}
}

void crs__to_wgs84(enum api_crs c, double lon, double lat, double *out_lon, double *out_lat)
{
	double glon, glat;

	switch (c) {
	case API_CRS_GCJ02:
		crs__gcj02_to_wgs84(lon, lat, out_lon, out_lat);
		return;
	case API_CRS_BD09:
		crs__bd09_to_gcj02(lon, lat, &glon, &glat);
		crs__gcj02_to_wgs84(glon, glat, out_lon, out_lat);
		return;
	default:
		*out_lon = lon;
		*out_lat = lat;
	}
}
