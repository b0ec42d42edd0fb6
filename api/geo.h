/* Coordinates: the Chinese map systems (crs.c) and great-circle distances (geo.c). */
#ifndef API_GEO_H
#define API_GEO_H

#include <stdbool.h>
#include <stddef.h>

enum api_crs {
	API_CRS_WGS84 = 0, /* GPS, OpenStreetMap; what parkfeed stores */
	API_CRS_GCJ02,	   /* China's "Mars" coordinates: AMap, Tencent, Google in China */
	API_CRS_BD09,	   /* Baidu */
	API_CRS__N
};

#define GEO_EARTH_RADIUS_M 6371008.8 /* mean radius (IUGG), as haversine distances use */

/* "wgs84", "gcj02", "bd09" -> the enum; -1 for anything else. */
int crs__parse(const char *s);
const char *crs__name(enum api_crs c);

/* True outside the rectangle the conversions apply to (they leave such points as they are). */
bool crs__out_of_china(double lon, double lat);
/* Forward conversions, the published formulas (see crs.c). */
void crs__wgs84_to_gcj02(double lon, double lat, double *out_lon, double *out_lat);
void crs__gcj02_to_bd09(double lon, double lat, double *out_lon, double *out_lat);
/* Inverses by fixed-point iteration of the forward formula: the result, converted forward,
 * lands within 1e-9 degrees (about 0.1 mm) of the input. */
void crs__gcj02_to_wgs84(double lon, double lat, double *out_lon, double *out_lat);
void crs__bd09_to_gcj02(double lon, double lat, double *out_lon, double *out_lat);
/* WGS-84 to and from any system. */
void crs__from_wgs84(enum api_crs c, double lon, double lat, double *out_lon, double *out_lat);
void crs__to_wgs84(enum api_crs c, double lon, double lat, double *out_lon, double *out_lat);

/* Unit vector of a WGS-84 point (x, y, z on the unit sphere). */
void geo__unit(double lon, double lat, double v[3]);
/* Great-circle distance in metres between two unit vectors (exact for any two points). */
double geo__distance_m(const double a[3], const double b[3]);
/* The same from degrees (haversine), for tests and callers without vectors. */
double geo__haversine_m(double lon1, double lat1, double lon2, double lat2);

struct geo_hit {
	size_t index;	   /* into the candidates */
	double distance_m; /* from the query point */
};

/*
 * The k nearest of n candidate unit vectors to q (those with has[i] false skipped), within
 * radius_m when > 0, nearest first (ties by index). Writes at most k hits; returns how many.
 */
size_t geo__nearest(const double (*vec)[3], const bool *has, size_t n, const double q[3], size_t k,
		    double radius_m, struct geo_hit *out);

#endif
