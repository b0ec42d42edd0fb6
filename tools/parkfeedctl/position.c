/* Lot positions: strict decimal degrees, and the warning for a point outside Jiaozuo. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int ctl__parse_degrees(const char *s, double limit, double *out)
{
	const char *p = s;
	char *end;
	double v;

	/* -?digits[.digits]: no exponent, hex, inf, nan, blanks or '+'; what a ledger writes. */
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || v < -limit || v > limit)
		return -1;
	*out = v;
	return 0;
}

bool ctl__outside_city(double lon, double lat)
{
	return lon < CTL_CITY_LON_MIN || lon > CTL_CITY_LON_MAX || lat < CTL_CITY_LAT_MIN ||
	       lat > CTL_CITY_LAT_MAX;
}

void ctl__city_warning(char *buf, size_t len, double lon, double lat)
{
	snprintf(buf, len, "position %.6f,%.6f is outside Jiaozuo (lon %.1f..%.1f, lat %.1f..%.1f)",
		 lon, lat, CTL_CITY_LON_MIN, CTL_CITY_LON_MAX, CTL_CITY_LAT_MIN, CTL_CITY_LAT_MAX);
}
