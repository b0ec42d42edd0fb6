/*
 * The JSON the API answers with, built with jansson from a snapshot's lots. Coordinates are
 * rounded to 1e-7 degrees (about 1 cm) and distances to 0.1 m, then printed with ten
 * significant digits, so the same snapshot always gives the same bytes (and ETag).
 */
#include "render.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "httpx.h"
#include "pf_avail.h"

static const char *const freshness_names[] = {"online", "stale", "offline"};

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static double round_to(double v, double unit)
{
	return round(v / unit) * unit;
}

static json_t *lot_properties(const struct api_lot *l, double distance_m)
{
	char t[32];
	json_t *p;

	if (l->has_data)
		http__time(l->observed_us, t);
	p = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "id", l->id, "name",
		      str_or_null(l->name), "district", str_or_null(l->district), "address",
		      str_or_null(l->address), "free",
		      l->has_data && l->has_free ? json_integer(l->free) : json_null(), "total",
		      l->has_data ? json_integer(l->total) : json_null(), "status",
		      str_or_null(l->has_data ? l->status : NULL), "observed_at",
		      l->has_data ? json_string(t) : json_null(), "freshness",
		      freshness_names[l->freshness]);
	if (p && distance_m >= 0)
		json_object_set_new(p, "distance_m", json_real(round_to(distance_m, 0.1)));
	return p;
}

static json_t *feature(const struct api_lot *l, enum api_crs crs, double distance_m)
{
	double lon, lat;
	json_t *geometry = json_null();

	if (l->has_pos) {
		crs__from_wgs84(crs, l->lon, l->lat, &lon, &lat);
		geometry = pf_avail_point(lon, lat);
	}
	return json_pack("{s:s, s:o, s:o}", "type", "Feature", "geometry", geometry, "properties",
			 lot_properties(l, distance_m));
}

void render__feature(struct pf_buf *out, const struct api_lot *l, enum api_crs crs,
		     double distance_m)
{
	pf_avail_emit(out, feature(l, crs, distance_m));
}

void render__collection(struct pf_buf *out, const struct api_snapshot *s, const size_t *idx,
			const double *dist, size_t n, enum api_crs crs)
{
	/* Feature by feature: one small object at a time, whatever the number of lots. */
	pf_buf_puts(out, "{\"type\":\"FeatureCollection\",\"features\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			pf_buf_puts(out, ",");
		pf_avail_emit(out, feature(&s->lots[idx[i]], crs, dist ? dist[i] : -1));
	}
	pf_buf_puts(out, "]}");
}

void render__districts(struct pf_buf *out, const struct api_snapshot *s)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < s->n_districts; i++) {
		const struct api_district *d = &s->districts[i];
		struct pf_avail_district ad = {
			.name = d->name,
			.lots = d->lots,
			.lots_reporting = d->lots_reporting,
			.lots_online = d->lots_online,
			.lots_stale = d->lots_stale,
			.lots_offline = d->lots_offline,
			.has_spaces = d->has_spaces,
			.free = d->free,
			.total = d->total,
		};

		json_array_append_new(a, pf_avail_district_json(&ad));
	}
	pf_avail_emit(out, a);
}

/* The entity of a lot is the feed's too: pf_avail_entity renders both. */
void render__entity(struct pf_buf *out, const struct api_lot *l, bool key_values, bool ld)
{
	struct pf_avail_lot al = {
		.id = l->id,
		.name = l->name,
		.district = l->district,
		.address = l->address,
		.status = l->status,
		.lon = l->lon,
		.lat = l->lat,
		.has_pos = l->has_pos,
		.has_data = l->has_data,
		.has_free = l->has_free,
		.has_occupied = l->has_occupied,
		.free = l->free,
		.total = l->total,
		.occupied = l->occupied,
		.observed_us = l->observed_us,
	};

	pf_avail_entity(out, &al, key_values, ld);
}

void render__problem(struct pf_buf *out, int status, const char *type, const char *title,
		     const char *detail)
{
	pf_avail_emit(out, json_pack("{s:s, s:s, s:i, s:s}", "type", type ? type : "about:blank",
				     "title", title, "status", status, "detail", detail));
}

void render__config(struct pf_buf *out, const char *tile_url, const char *tile_attribution,
		    const char *tile_crs, const char *version)
{
	pf_avail_emit(out,
		      json_pack("{s:o, s:o, s:s, s:s}", "tile_url",
				tile_url[0] ? json_string(tile_url) : json_null(),
				"tile_attribution",
				tile_attribution[0] ? json_string(tile_attribution) : json_null(),
				"tile_crs", tile_crs, "version", version));
}
