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

#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

static const char *const freshness_names[] = {"online", "stale", "offline"};

static int to_buf(const char *s, size_t n, void *data)
{
	pf_buf_add(data, s, n);
	return 0;
}

/* Append j (and drop it). A NULL j means an allocation failed: the buffer says so. */
static void emit(struct pf_buf *out, json_t *j)
{
	if (!j || json_dump_callback(j, to_buf, out, DUMP_FLAGS) != 0)
		out->oom = true;
	json_decref(j);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static double round_to(double v, double unit)
{
	return round(v / unit) * unit;
}

static json_t *point(double lon, double lat)
{
	return json_pack("{s:s, s:[f, f]}", "type", "Point", "coordinates", round_to(lon, 1e-7),
			 round_to(lat, 1e-7));
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
		geometry = point(lon, lat);
	}
	return json_pack("{s:s, s:o, s:o}", "type", "Feature", "geometry", geometry, "properties",
			 lot_properties(l, distance_m));
}

void render__feature(struct pf_buf *out, const struct api_lot *l, enum api_crs crs,
		     double distance_m)
{
	emit(out, feature(l, crs, distance_m));
}

void render__collection(struct pf_buf *out, const struct api_snapshot *s, const size_t *idx,
			const double *dist, size_t n, enum api_crs crs)
{
	/* Feature by feature: one small object at a time, whatever the number of lots. */
	pf_buf_puts(out, "{\"type\":\"FeatureCollection\",\"features\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			pf_buf_puts(out, ",");
		emit(out, feature(&s->lots[idx[i]], crs, dist ? dist[i] : -1));
	}
	pf_buf_puts(out, "]}");
}

void render__districts(struct pf_buf *out, const struct api_snapshot *s)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < s->n_districts; i++) {
		const struct api_district *d = &s->districts[i];

		json_array_append_new(
			a, json_pack("{s:o, s:i, s:i, s:i, s:i, s:i, s:o, s:o}", "district",
				     str_or_null(d->name), "lots", d->lots, "lots_reporting",
				     d->lots_reporting, "lots_online", d->lots_online, "lots_stale",
				     d->lots_stale, "lots_offline", d->lots_offline, "free",
				     d->has_spaces ? json_integer(d->free) : json_null(), "total",
				     d->has_spaces ? json_integer(d->total) : json_null()));
	}
	emit(out, a);
}

static const char *entity_status(const char *status)
{
	/* The data model's status values: open, closed, full (and more parkfeed never sees). */
	return status && (strcmp(status, "open") == 0 || strcmp(status, "closed") == 0 ||
			  strcmp(status, "full") == 0)
		       ? status
		       : NULL;
}

/* keyValues: plain values. */
static json_t *entity_kv(const struct api_lot *l, json_t *e)
{
	char t[32];
	const char *st = entity_status(l->status);

	if (l->name)
		json_object_set_new(e, "name", json_string(l->name));
	if (l->has_data) {
		http__time(l->observed_us, t);
		if (l->has_free)
			json_object_set_new(e, "availableSpotNumber", json_integer(l->free));
		json_object_set_new(e, "totalSpotNumber", json_integer(l->total));
		if (l->has_occupied)
			json_object_set_new(e, "occupiedSpotNumber", json_integer(l->occupied));
		json_object_set_new(e, "occupancyModified", json_string(t));
		if (st)
			json_object_set_new(e, "status", json_pack("[s]", st));
	}
	if (l->has_pos)
		json_object_set_new(e, "location", point(l->lon, l->lat));
	if (l->address)
		json_object_set_new(e, "address", json_pack("{s:s}", "streetAddress", l->address));
	if (l->district)
		json_object_set_new(e, "areaServed", json_string(l->district));
	return e;
}

static json_t *prop(json_t *value)
{
	return json_pack("{s:s, s:o}", "type", "Property", "value", value);
}

/* A count, with observedAt: when the controller counted it. */
static json_t *observed(json_int_t v, const char *at)
{
	return json_pack("{s:s, s:I, s:s}", "type", "Property", "value", v, "observedAt", at);
}

/* Normalized: every attribute a Property (or GeoProperty) object. */
static json_t *entity_normalized(const struct api_lot *l, json_t *e)
{
	char t[32];
	const char *st = entity_status(l->status);

	if (l->name)
		json_object_set_new(e, "name", prop(json_string(l->name)));
	if (l->has_data) {
		http__time(l->observed_us, t);
		if (l->has_free)
			json_object_set_new(e, "availableSpotNumber", observed(l->free, t));
		json_object_set_new(e, "totalSpotNumber", observed(l->total, t));
		if (l->has_occupied)
			json_object_set_new(e, "occupiedSpotNumber", observed(l->occupied, t));
		json_object_set_new(
			e, "occupancyModified",
			prop(json_pack("{s:s, s:s}", "@type", "DateTime", "@value", t)));
		if (st)
			json_object_set_new(e, "status", prop(json_pack("[s]", st)));
	}
	if (l->has_pos)
		json_object_set_new(e, "location",
				    json_pack("{s:s, s:o}", "type", "GeoProperty", "value",
					      point(l->lon, l->lat)));
	if (l->address)
		json_object_set_new(e, "address",
				    prop(json_pack("{s:s}", "streetAddress", l->address)));
	if (l->district)
		json_object_set_new(e, "areaServed", prop(json_string(l->district)));
	return e;
}

void render__entity(struct pf_buf *out, const struct api_lot *l, bool key_values, bool ld)
{
	char id[sizeof(NGSI_URN_PREFIX) + 64];
	json_t *e;

	snprintf(id, sizeof(id), "%s%s", NGSI_URN_PREFIX, l->id);
	e = json_pack("{s:s, s:s}", "id", id, "type", NGSI_TYPE);
	if (!e) {
		out->oom = true;
		return;
	}
	e = key_values ? entity_kv(l, e) : entity_normalized(l, e);
	if (ld)
		json_object_set_new(e, "@context",
				    json_pack("[s, s]", NGSI_CONTEXT_PARKING, NGSI_CONTEXT_CORE));
	emit(out, e);
}

void render__problem(struct pf_buf *out, int status, const char *type, const char *title,
		     const char *detail)
{
	emit(out, json_pack("{s:s, s:s, s:i, s:s}", "type", type ? type : "about:blank", "title",
			    title, "status", status, "detail", detail));
}

void render__config(struct pf_buf *out, const char *tile_url, const char *tile_attribution,
		    const char *tile_crs, const char *version)
{
	emit(out, json_pack("{s:o, s:o, s:s, s:s}", "tile_url",
			    tile_url[0] ? json_string(tile_url) : json_null(), "tile_attribution",
			    tile_attribution[0] ? json_string(tile_attribution) : json_null(),
			    "tile_crs", tile_crs, "version", version));
}
