/* The JSON of a lot (FIWARE OffStreetParking) and of a district, for parkfeed-api and the feed. */
#include "pf_avail.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

static int to_buf(const char *s, size_t n, void *data)
{
	pf_buf_add(data, s, n);
	return 0;
}

void pf_avail_emit(struct pf_buf *out, json_t *j)
{
	if (!j || json_dump_callback(j, to_buf, out, DUMP_FLAGS) != 0)
		out->oom = true;
	json_decref(j);
}

void pf_avail_time(int64_t us, char buf[32])
{
	time_t s = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
	int64_t frac = us - (int64_t)s * 1000000;
	struct tm tm;
	size_t n;

	gmtime_r(&s, &tm);
	n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac == 0)
		snprintf(buf + n, 32 - n, "Z");
	else if (frac % 1000 == 0)
		snprintf(buf + n, 32 - n, ".%03dZ", (int)(frac / 1000));
	else
		snprintf(buf + n, 32 - n, ".%06dZ", (int)frac);
}

static double round_to(double v, double unit)
{
	return round(v / unit) * unit;
}

json_t *pf_avail_point(double lon, double lat)
{
	return json_pack("{s:s, s:[f, f]}", "type", "Point", "coordinates", round_to(lon, 1e-7),
			 round_to(lat, 1e-7));
}

json_t *pf_avail_district_json(const struct pf_avail_district *d)
{
	return json_pack("{s:o, s:i, s:i, s:i, s:i, s:i, s:o, s:o}", "district",
			 d->name ? json_string(d->name) : json_null(), "lots", d->lots,
			 "lots_reporting", d->lots_reporting, "lots_online", d->lots_online,
			 "lots_stale", d->lots_stale, "lots_offline", d->lots_offline, "free",
			 d->has_spaces ? json_integer(d->free) : json_null(), "total",
			 d->has_spaces ? json_integer(d->total) : json_null());
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
static json_t *entity_kv(const struct pf_avail_lot *l, json_t *e)
{
	char t[32];
	const char *st = entity_status(l->status);

	if (l->name)
		json_object_set_new(e, "name", json_string(l->name));
	if (l->has_data) {
		pf_avail_time(l->observed_us, t);
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
		json_object_set_new(e, "location", pf_avail_point(l->lon, l->lat));
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
static json_t *entity_normalized(const struct pf_avail_lot *l, json_t *e)
{
	char t[32];
	const char *st = entity_status(l->status);

	if (l->name)
		json_object_set_new(e, "name", prop(json_string(l->name)));
	if (l->has_data) {
		pf_avail_time(l->observed_us, t);
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
					      pf_avail_point(l->lon, l->lat)));
	if (l->address)
		json_object_set_new(e, "address",
				    prop(json_pack("{s:s}", "streetAddress", l->address)));
	if (l->district)
		json_object_set_new(e, "areaServed", prop(json_string(l->district)));
	return e;
}

void pf_avail_entity(struct pf_buf *out, const struct pf_avail_lot *l, bool key_values, bool ld)
{
	char id[sizeof(PF_NGSI_URN_PREFIX) + 64];
	json_t *e;

	snprintf(id, sizeof(id), "%s%s", PF_NGSI_URN_PREFIX, l->id);
	e = json_pack("{s:s, s:s}", "id", id, "type", PF_NGSI_TYPE);
	if (!e) {
		out->oom = true;
		return;
	}
	e = key_values ? entity_kv(l, e) : entity_normalized(l, e);
	if (ld)
		json_object_set_new(
			e, "@context",
			json_pack("[s, s]", PF_NGSI_CONTEXT_PARKING, PF_NGSI_CONTEXT_CORE));
	pf_avail_emit(out, e);
}
