/* The normalizer: one MQTT message (topic + payload bytes) -> an occupancy, status or reject. */

/*
 * JSON is parsed by jansson: it implements RFC 8259 strictly (no comments, trailing commas,
 * NaN), validates UTF-8 itself, reports numeric overflow as its own error code (so 1e400 is
 * out_of_range, not json_syntax), can refuse duplicate keys, and has been maintained in Debian
 * for well over a decade. A pre-pass bounds nesting before jansson's recursive parser runs.
 *
 * Nothing here allocates except jansson's tree, and every input ends in a filled record.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_normalize.h"
#include "pf_utf8.h"

#define TOTAL_MAX 100000
#define TS_MS_MAX INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */
#define TS_US_MAX (TS_MS_MAX * 1000 + 999)
#define QUOTE_MAX 64 /* bytes of an offending string quoted */

struct ctx {
	const struct pf_norm_config *cfg;
	struct pf_record *out;
	char lot_id[PF_LOT_ID_MAX + 1]; /* "" until the topic parsed */
};

static const char *const field_names[PF_F__COUNT] = {
	[PF_F_TS] = "ts",     [PF_F_TOTAL] = "total",
	[PF_F_FREE] = "free", [PF_F_OCCUPIED] = "occupied",
	[PF_F_SEQ] = "seq",   [PF_F_STATUS] = "status",
};

int pf_field_from_name(const char *name)
{
	for (int f = 0; f < PF_F__COUNT; f++)
		if (strcmp(name, field_names[f]) == 0)
			return f;
	return -1;
}

/* ---- text ---- */

/* Longest prefix of at most max bytes that does not cut a UTF-8 sequence. */
static size_t clip_utf8(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((uint8_t)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive (ASCII) comparison of s[0..n) with the NUL-terminated word. */
static bool ieq(const char *s, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n && word[i]; i++)
		if (ascii_lower(s[i]) != ascii_lower(word[i]))
			return false;
	return i == n && word[i] == '\0';
}

static bool json_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool lot_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* ---- rejects ---- */

static int reject(struct ctx *c, enum pf_reject_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Turn the record into a reject; returns -1 so callers can `return reject(...)`. */
static int reject(struct ctx *c, enum pf_reject_reason reason, const char *fmt, ...)
{
	struct pf_reject *r = &c->out->u.reject;
	va_list ap;

	c->out->kind = PF_REC_REJECT;
	memset(r, 0, sizeof(*r));
	r->reason = reason;
	memcpy(r->lot_id, c->lot_id, sizeof(r->lot_id));
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	/* A one-line text column an operator's terminal shows: no controls, no broken UTF-8. */
	pf_utf8_sanitize(r->detail, strlen(r->detail));
	return -1;
}

/* A JSON value as an operator would want to see it in a detail. */
static const char *describe(const json_t *v, char *buf, size_t cap)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING: {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v), k = clip_utf8(s, n, QUOTE_MAX);

		snprintf(buf, cap, "the string \"%.*s%s\"", (int)k, s, k < n ? "..." : "");
		return buf;
	}
	case JSON_INTEGER:
		snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	case JSON_REAL:
		snprintf(buf, cap, "%.15g", json_real_value(v));
		return buf;
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	default:
		return "null";
	}
}

/* UTC microseconds as RFC 3339, for details. */
static const char *format_time(int64_t us, char *buf, size_t cap)
{
	int64_t secs = us / 1000000 - (us % 1000000 < 0), y;
	int64_t sod = secs % 86400 + (secs % 86400 < 0 ? 86400 : 0), frac = us - secs * 1000000;
	unsigned m, d;

	pf_civil_from_days((secs - sod) / 86400, &y, &m, &d);
	snprintf(buf, cap, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d", y, m, d, (int)(sod / 3600),
		 (int)(sod / 60 % 60), (int)(sod % 60));
	if (frac)
		snprintf(buf + strlen(buf), cap - strlen(buf), ".%06d", (int)frac);
	snprintf(buf + strlen(buf), cap - strlen(buf), "Z");
	return buf;
}

/* ---- topic ---- */

static int parse_topic(const char *prefix, const char *topic, size_t len, size_t max_len,
		       enum pf_topic_kind *kind, char lot_id[PF_LOT_ID_MAX + 1], const char **why)
{
	size_t plen = prefix ? strlen(prefix) : 0, n, rest;
	const char *lot = topic + plen + (plen > 0), *slash, *end = topic + len;

	*why = "topic is longer than max_topic_len";
	if (len > max_len)
		return -1;
	*why = "topic does not start with the configured prefix";
	if (len < plen + 1 || (plen && (memcmp(topic, prefix, plen) != 0 || topic[plen] != '/')))
		return -1;
	*why = "topic has no \"/occupancy\" or \"/status\" level after the lot id";
	if (!(slash = memchr(lot, '/', (size_t)(end - lot))))
		return -1;
	n = (size_t)(slash - lot);
	*why = "lot id must be 1..64 characters of A-Z a-z 0-9 . _ -";
	if (n == 0 || n > PF_LOT_ID_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!lot_char(lot[i]))
			return -1;
	rest = (size_t)(end - slash - 1);
	*why = "last topic level must be \"occupancy\" or \"status\"";
	if (rest == 9 && memcmp(slash + 1, "occupancy", 9) == 0)
		*kind = PF_TOPIC_OCCUPANCY;
	else if (rest == 6 && memcmp(slash + 1, "status", 6) == 0)
		*kind = PF_TOPIC_STATUS;
	else
		return -1;
	memcpy(lot_id, lot, n);
	lot_id[n] = '\0';
	return 0;
}

int pf_topic_parse(const char *prefix, const char *topic, size_t topic_len, size_t max_len,
		   enum pf_topic_kind *kind, char lot_id[PF_LOT_ID_MAX + 1])
{
	const char *why;

	if (!topic)
		return -1;
	return parse_topic(prefix, topic, topic_len, max_len, kind, lot_id, &why);
}

/* ---- timestamps ---- */

static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return mdays[m - 1] + (m == 2 && leap);
}

/* "YYYY-MM-DD?HH:MM:SS" with ? one of T t space, calendar-checked -> wall seconds. */
static bool parse_wall(const char *s, int64_t *wall, int *sec)
{
	int y, mo, d, h, mi;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    *sec > 60)
		return false;
	*wall = pf_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60;
	return true;
}

/* 1..9 fraction digits after the '.', truncated to microseconds. */
static size_t parse_frac(const char *s, size_t len, int *us)
{
	size_t n = 0;

	*us = 0;
	for (; n < len && s[n] >= '0' && s[n] <= '9'; n++)
		if (n < 6)
			*us = *us * 10 + (s[n] - '0');
	if (n == 0 || n > 9)
		return 0;
	for (size_t k = n; k < 6; k++)
		*us *= 10;
	return n;
}

int pf_parse_timestamp(const char *s, size_t len, const struct pf_tz *tz, int64_t *out_us)
{
	int64_t wall, secs;
	int sec, us = 0, oh, om;
	size_t i = 19, n;

	if (!s || len < 19 || !parse_wall(s, &wall, &sec))
		return -1;
	if (i < len && s[i] == '.') {
		if ((n = parse_frac(s + i + 1, len - i - 1, &us)) == 0)
			return -1;
		i += 1 + n;
	}
	if (sec == 60) { /* a leap second: the last representable instant before the next minute */
		sec = 59;
		us = 999999;
	}
	wall += sec;
	if (i == len)
		secs = tz ? pf_tz_local_to_utc(tz, wall) : wall; /* no offset: local time */
	else if (len - i == 1 && (s[i] == 'Z' || s[i] == 'z'))
		secs = wall;
	else if (len - i == 6 && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &oh) &&
		 s[i + 3] == ':' && digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59)
		secs = wall - (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	else
		return -1;
	*out_us = secs * 1000000 + us;
	return 0;
}

/* ---- typed field access ---- */

/* A JSON integer, or a real with an integral value (some encoders write 320.0). */
static int want_int(struct ctx *c, const char *name, const json_t *v, int64_t *out)
{
	char buf[QUOTE_MAX + 32];
	double d;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_real(v))
		return reject(c, PF_REJ_BAD_TYPE, "\"%s\" is %s but must be an integer", name,
			      describe(v, buf, sizeof(buf)));
	d = json_real_value(v);
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return reject(c, PF_REJ_OUT_OF_RANGE,
			      "\"%s\" is %.15g, far outside any valid value", name, d);
	if ((double)(int64_t)d != d)
		return reject(c, PF_REJ_BAD_TYPE, "\"%s\" is %.15g but must be an integer", name,
			      d);
	*out = (int64_t)d;
	return 0;
}

static int want_range(struct ctx *c, const char *name, int64_t v, int64_t lo, int64_t hi,
		      const char *what)
{
	if (v >= lo && v <= hi)
		return 0;
	return reject(c, PF_REJ_OUT_OF_RANGE,
		      "\"%s\" is %" PRId64 " but must be within %" PRId64 "..%" PRId64 "%s", name,
		      v, lo, hi, what);
}

static int want_count(struct ctx *c, const char *name, const json_t *v, int64_t lo, int64_t hi,
		      const char *what, int64_t *out)
{
	if (want_int(c, name, v, out) < 0)
		return -1;
	return want_range(c, name, *out, lo, hi, what);
}

/* The count fields of either shape, already unwrapped from NGSI-LD Properties. */
struct counts {
	const json_t *total, *free, *occupied;
	const char *total_name, *free_name, *occupied_name;
};

static int take_counts(struct ctx *c, const struct counts *k, struct pf_observation *o)
{
	int64_t total, fr = -1, oc = -1;

	if (!k->total)
		return reject(c, PF_REJ_MISSING_FIELD,
			      "\"%s\" is missing; it is required (spaces in service, 0..%d)",
			      k->total_name, TOTAL_MAX);
	if (!k->free && !k->occupied)
		return reject(c, PF_REJ_MISSING_FIELD,
			      "neither \"%s\" nor \"%s\" is present; at least one is required",
			      k->free_name, k->occupied_name);
	if (want_count(c, k->total_name, k->total, 0, TOTAL_MAX, "", &total) < 0 ||
	    (k->free && want_count(c, k->free_name, k->free, 0, total, " (total)", &fr) < 0) ||
	    (k->occupied &&
	     want_count(c, k->occupied_name, k->occupied, 0, total, " (total)", &oc) < 0))
		return -1;
	if (fr >= 0 && oc >= 0 && fr + oc > total)
		return reject(c, PF_REJ_INCONSISTENT_COUNTS,
			      "\"%s\" %" PRId64 " + \"%s\" %" PRId64 " = %" PRId64
			      " exceeds \"%s\" %" PRId64 "; their sum must not exceed it",
			      k->free_name, fr, k->occupied_name, oc, fr + oc, k->total_name,
			      total);
	o->total = (int32_t)total;
	o->free = (int32_t)(fr >= 0 ? fr : total - oc);
	o->occupied = (int32_t)(oc >= 0 ? oc : total - fr);
	return 0;
}

static int check_future(struct ctx *c, const char *name, int64_t us)
{
	int64_t ahead, skew = c->cfg->clock_skew_us;
	char when[40];

	if (__builtin_sub_overflow(us, c->out->received_at, &ahead))
		ahead = INT64_MAX;
	if (ahead <= skew)
		return 0;
	return reject(c, PF_REJ_FUTURE_TS,
		      "\"%s\" %s is %" PRId64 ".%06" PRId64 " s ahead of the receive time; "
		      "at most %" PRId64 ".%06" PRId64 " s (clock_skew) is allowed",
		      name, format_time(us, when, sizeof(when)), ahead / 1000000, ahead % 1000000,
		      skew / 1000000, skew % 1000000);
}

/* Opt-in: a controller replaying a long buffer after an outage is legitimate, so off by default. */
static int check_age(struct ctx *c, const char *name, int64_t us)
{
	int64_t behind, max = c->cfg->max_age_us;
	char when[40];

	if (max <= 0 || __builtin_sub_overflow(c->out->received_at, us, &behind) || behind <= max)
		return 0;
	return reject(c, PF_REJ_TOO_OLD,
		      "\"%s\" %s is %" PRId64 " s older than the receive time; at most %" PRId64
		      " s (max_age) is allowed",
		      name, format_time(us, when, sizeof(when)), behind / 1000000, max / 1000000);
}

/* A timestamp value: an RFC 3339 / local-time string, or epoch milliseconds. */
static int take_ts(struct ctx *c, const char *name, const json_t *v, int64_t *us)
{
	char buf[QUOTE_MAX + 32];
	int64_t ms;

	if (json_is_string(v)) {
		if (pf_parse_timestamp(json_string_value(v), json_string_length(v), c->cfg->tz,
				       us) < 0)
			return reject(
				c, PF_REJ_BAD_TYPE,
				"\"%s\" is %s but must be RFC 3339 (2023-06-19T08:00:05+08:00), "
				"\"YYYY-MM-DD HH:MM:SS\" local time, or epoch milliseconds",
				name, describe(v, buf, sizeof(buf)));
		if (*us < 0 || *us > TS_US_MAX)
			return reject(c, PF_REJ_OUT_OF_RANGE,
				      "\"%s\" is %s but must lie within 1970..9999", name,
				      describe(v, buf, sizeof(buf)));
	} else if (json_is_number(v)) {
		if (want_int(c, name, v, &ms) < 0)
			return -1;
		if (ms < 0 || ms > TS_MS_MAX)
			return reject(c, PF_REJ_OUT_OF_RANGE,
				      "\"%s\" is %" PRId64 " but epoch milliseconds must be within "
				      "0..%" PRId64 " (1970..9999)",
				      name, ms, TS_MS_MAX);
		*us = ms * 1000;
	} else {
		return reject(c, PF_REJ_BAD_TYPE,
			      "\"%s\" is %s but must be an RFC 3339 string or epoch milliseconds",
			      name, describe(v, buf, sizeof(buf)));
	}
	return check_future(c, name, *us) < 0 ? -1 : check_age(c, name, *us);
}

static int take_lot_status(struct ctx *c, const char *name, const json_t *v, enum pf_lot_status *st)
{
	char buf[QUOTE_MAX + 32];
	const char *s;
	size_t n;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return reject(c, PF_REJ_BAD_TYPE, "\"%s\" is %s but must be a string", name,
			      describe(v, buf, sizeof(buf)));
	s = json_string_value(v);
	n = json_string_length(v);
	if (ieq(s, n, "open"))
		*st = PF_LOT_OPEN;
	else if (ieq(s, n, "closed"))
		*st = PF_LOT_CLOSED;
	else if (ieq(s, n, "full"))
		*st = PF_LOT_FULL;
	else
		return reject(c, PF_REJ_OUT_OF_RANGE,
			      "\"%s\" is %s but must be open, closed or full", name,
			      describe(v, buf, sizeof(buf)));
	return 0;
}

/* The lot itself, or a URN ("urn:ngsi-ld:OffStreetParking:<lot>") whose last segment it is. */
static bool names_lot(const char *id, size_t n, const char *lot)
{
	size_t ln = strlen(lot), i = n;

	if (n == ln && memcmp(id, lot, n) == 0)
		return true;
	if (n < 4 || !ieq(id, 4, "urn:"))
		return false;
	while (i > 0 && id[i - 1] != ':')
		i--;
	return n - i == ln && memcmp(id + i, lot, ln) == 0;
}

/* The topic's lot id is authoritative; a payload naming another lot is someone's mistake. */
static int check_ids(struct ctx *c, const json_t *root)
{
	static const char *const keys[] = {"lot_id", "id"};
	char buf[QUOTE_MAX + 32];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const json_t *v = json_object_get(root, keys[i]);

		if (json_is_string(v) &&
		    !names_lot(json_string_value(v), json_string_length(v), c->lot_id))
			return reject(c, PF_REJ_ID_MISMATCH,
				      "payload \"%s\" is %s but the topic names lot \"%s\"",
				      keys[i], describe(v, buf, sizeof(buf)), c->lot_id);
	}
	return 0;
}

/* ---- native (and vendor-aliased) occupancy ---- */

struct fields {
	json_t *v[PF_F__COUNT];
	const char *name[PF_F__COUNT]; /* the name found, for details */
	bool via_alias;
};

/* Native names first; then one pass over the aliases, in configuration order. */
static void find_fields(const struct pf_norm_config *cfg, json_t *root, struct fields *f)
{
	bool missing = false;

	for (int i = 0; i < PF_F__COUNT; i++) {
		f->name[i] = field_names[i];
		f->v[i] = json_object_get(root, field_names[i]);
		missing |= !f->v[i];
	}
	f->via_alias = false;
	for (size_t i = 0; missing && i < cfg->n_aliases; i++) {
		const struct pf_alias *a = &cfg->aliases[i];
		json_t *v;

		if ((unsigned)a->field >= PF_F__COUNT || f->v[a->field] ||
		    !(v = json_object_get(root, a->vendor_name)))
			continue;
		f->v[a->field] = v;
		f->name[a->field] = a->vendor_name;
		f->via_alias = true;
	}
}

static int native_obs(struct ctx *c, json_t *root, struct pf_observation *o)
{
	struct fields f;
	struct counts k;

	find_fields(c->cfg, root, &f);
	k = (struct counts){f.v[PF_F_TOTAL],	f.v[PF_F_FREE],	   f.v[PF_F_OCCUPIED],
			    f.name[PF_F_TOTAL], f.name[PF_F_FREE], f.name[PF_F_OCCUPIED]};
	if (!f.v[PF_F_TS])
		return reject(c, PF_REJ_MISSING_FIELD,
			      "\"ts\" is missing; it is required (RFC 3339 or epoch milliseconds)");
	if (take_ts(c, f.name[PF_F_TS], f.v[PF_F_TS], &o->observed_at) < 0 ||
	    take_counts(c, &k, o) < 0)
		return -1;
	if (f.v[PF_F_SEQ]) {
		if (want_int(c, f.name[PF_F_SEQ], f.v[PF_F_SEQ], &o->seq) < 0)
			return -1;
		o->has_seq = true;
	}
	if (take_lot_status(c, f.name[PF_F_STATUS], f.v[PF_F_STATUS], &o->status) < 0)
		return -1;
	o->format = f.via_alias ? PF_FMT_VENDOR : PF_FMT_NATIVE;
	return 0;
}

/* ---- FIWARE OffStreetParking (keyValues and NGSI-LD normalized) ---- */

static const char *const fiware_counts[] = {"availableSpotNumber", "occupiedSpotNumber",
					    "totalSpotNumber"};
/* After the count Properties' observedAt, in order of preference. */
static const char *const fiware_times[] = {"observationDateTime", "occupancyModified",
					   "dateModified", "modifiedAt"};

/* A Property's value in normalized form, the value itself in keyValues. */
static int fiware_count(struct ctx *c, const char *name, const json_t *v, const json_t **out,
			bool *normalized)
{
	*out = v;
	if (!json_is_object(v))
		return 0;
	*normalized = true;
	if (!(*out = json_object_get(v, "value")))
		return reject(c, PF_REJ_BAD_TYPE,
			      "\"%s\" is an object without \"value\"; expected a number or an "
			      "NGSI-LD Property",
			      name);
	return 0;
}

/* Unwrap a Property ({"value": ...}) and a typed literal ({"@type": "DateTime", "@value"}). */
static const json_t *time_literal(const json_t *v)
{
	if (json_is_object(v) && !json_object_get(v, "@value"))
		v = json_object_get(v, "value");
	if (json_is_object(v))
		v = json_object_get(v, "@value");
	return v;
}

/* NGSI-LD times are DateTime strings; epoch numbers are a native-format convenience only. */
static int fiware_ts(struct ctx *c, const char *name, const json_t *v, int64_t *us)
{
	char buf[QUOTE_MAX + 32];

	if (!json_is_string(v))
		return reject(c, PF_REJ_BAD_TYPE,
			      "\"%s\" is %s but must be a DateTime string or "
			      "{\"@type\": \"DateTime\", \"@value\": \"...\"}",
			      name,
			      v ? describe(v, buf, sizeof(buf)) : "an object without a time value");
	return take_ts(c, name, v, us);
}

static int fiware_time(struct ctx *c, json_t *root, json_t *const props[3], int64_t *us)
{
	char name[64];
	const json_t *v;

	for (size_t i = 0; i < 3; i++) {
		if (json_is_object(props[i]) && (v = json_object_get(props[i], "observedAt"))) {
			snprintf(name, sizeof(name), "%s.observedAt", fiware_counts[i]);
			return fiware_ts(c, name, v, us);
		}
	}
	for (size_t i = 0; i < sizeof(fiware_times) / sizeof(fiware_times[0]); i++)
		if ((v = json_object_get(root, fiware_times[i])) != NULL)
			return fiware_ts(c, fiware_times[i], time_literal(v), us);
	return reject(c, PF_REJ_MISSING_FIELD,
		      "no observation time: none of observedAt, observationDateTime, "
		      "occupancyModified, dateModified, modifiedAt is present");
}

/* status[] lists conditions; the most restrictive one wins. */
static int fiware_status(struct ctx *c, json_t *root, enum pf_lot_status *st)
{
	char buf[QUOTE_MAX + 32];
	json_t *v = json_object_get(root, "status"), *e;
	size_t i, n;
	bool closed = false, full = false, open = false;

	if (json_is_object(v))
		v = json_object_get(v, "value");
	if (!v)
		return 0;
	if (!json_is_array(v) && !json_is_string(v))
		return reject(c, PF_REJ_BAD_TYPE,
			      "\"status\" is %s but must be an array of strings",
			      describe(v, buf, sizeof(buf)));
	n = json_is_array(v) ? json_array_size(v) : 1;
	for (i = 0; i < n; i++) {
		const char *s;
		size_t len;

		e = json_is_array(v) ? json_array_get(v, i) : v;
		if (!json_is_string(e))
			continue;
		s = json_string_value(e);
		len = json_string_length(e);
		closed |= ieq(s, len, "closed");
		full |= ieq(s, len, "full");
		open |= ieq(s, len, "open") || ieq(s, len, "spacesavailable");
	}
	*st = closed ? PF_LOT_CLOSED : full ? PF_LOT_FULL : open ? PF_LOT_OPEN : PF_LOT_STATUS_NONE;
	return 0;
}

static int fiware_obs(struct ctx *c, json_t *root, json_t *const props[3], struct pf_observation *o)
{
	const json_t *val[3] = {NULL, NULL, NULL};
	bool normalized = false;
	struct counts k;

	for (size_t i = 0; i < 3; i++)
		if (props[i] &&
		    fiware_count(c, fiware_counts[i], props[i], &val[i], &normalized) < 0)
			return -1;
	k = (struct counts){val[2],	      val[0],		val[1],
			    fiware_counts[2], fiware_counts[0], fiware_counts[1]};
	if (take_counts(c, &k, o) < 0 || fiware_time(c, root, props, &o->observed_at) < 0 ||
	    fiware_status(c, root, &o->status) < 0)
		return -1;
	o->format = normalized ? PF_FMT_NGSI_LD : PF_FMT_FIWARE_KV;
	return 0;
}

/* ---- payload-level steps ---- */

enum scan_result { SCAN_OK, SCAN_EMPTY, SCAN_BAD_UTF8, SCAN_TOO_DEEP };

/* One pass: strict UTF-8 everywhere, bracket depth outside strings, and "is it blank". */
static enum scan_result scan(const uint8_t *p, size_t n, int max_depth, size_t *at)
{
	bool in_str = false, esc = false, blank = true;
	int depth = 0;
	size_t i = 0, k;

	while (i < n) {
		uint8_t b = p[i];

		*at = i;
		if (b >= 0x80) {
			if ((k = pf_utf8_seq(p + i, n - i)) == 0)
				return SCAN_BAD_UTF8;
			i += k;
			blank = esc = false;
			continue;
		}
		i++;
		if (in_str) {
			if (esc)
				esc = false;
			else if (b == '\\')
				esc = true;
			else if (b == '"')
				in_str = false;
			continue;
		}
		if (json_space(b))
			continue;
		blank = false;
		if (b == '"')
			in_str = true;
		else if ((b == '[' || b == '{') && ++depth > max_depth)
			return SCAN_TOO_DEEP;
		else if ((b == ']' || b == '}') && depth > 0)
			depth--;
	}
	return blank ? SCAN_EMPTY : SCAN_OK;
}

static int precheck(struct ctx *c, const uint8_t *p, size_t n)
{
	size_t at = 0;

	switch (scan(p, n, c->cfg->max_depth, &at)) {
	case SCAN_EMPTY:
		return reject(c, PF_REJ_JSON_SYNTAX, "empty payload; expected a JSON object");
	case SCAN_BAD_UTF8:
		return reject(c, PF_REJ_BAD_UTF8,
			      "invalid UTF-8 at byte %zu; payloads must be UTF-8", at);
	case SCAN_TOO_DEEP:
		return reject(c, PF_REJ_TOO_DEEP, "JSON nested deeper than %d levels (byte %zu)",
			      c->cfg->max_depth, at);
	default:
		return 0;
	}
}

/*
 * jansson mallocs every value, string and hash table of a tree, and a message's tree is
 * dropped as soon as it is read: a per-thread bump arena, rewound before each parse, takes
 * that off malloc and free (a tenth of the daemon's CPU went to them in a drain profile).
 * What does not fit goes to malloc; free() tells the two apart by address. Elsewhere in the
 * process jansson only builds a message and frees it within one call on the same thread (the
 * live feed, avail.c), which a rewind never interrupts. Sanitizer builds keep plain malloc so
 * that ASan still sees every block jansson hands out.
 */
#if defined(__SANITIZE_ADDRESS__)
#define PF_JSON_ARENA 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PF_JSON_ARENA 0
#endif
#endif
#ifndef PF_JSON_ARENA
#define PF_JSON_ARENA 1
#endif

#if PF_JSON_ARENA
#define ARENA_BYTES (128 * 1024)

static __thread struct {
	unsigned char *base; /* ARENA_BYTES, allocated on first use; kept for the thread's life */
	size_t used;
} arena;

static void *arena_malloc(size_t n)
{
	size_t need = (n + 15) & ~(size_t)15; /* malloc's alignment */

	if (arena.base && n <= ARENA_BYTES && need <= ARENA_BYTES - arena.used) {
		void *p = arena.base + arena.used;
		arena.used += need;
		return p;
	}
	return malloc(n);
}

static void arena_free(void *p)
{
	if (arena.base && (unsigned char *)p >= arena.base &&
	    (unsigned char *)p < arena.base + ARENA_BYTES)
		return; /* reclaimed all at once by the next rewind */
	free(p);
}

static bool arena_installed;

void pf_normalize_use_arena(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
	arena_installed = true;
}

/* Only between two messages: no tree of the previous one may be alive. */
static void arena_rewind(void)
{
	if (!arena_installed)
		return;
	if (!arena.base)
		arena.base = malloc(ARENA_BYTES); /* NULL: everything goes to malloc */
	arena.used = 0;
}
#else
void pf_normalize_use_arena(void)
{
}

static void arena_rewind(void)
{
}
#endif

static json_t *parse_json(struct ctx *c, const uint8_t *p, size_t n)
{
	json_error_t err;
	json_t *root;

	arena_rewind();
	root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);

	if (root)
		return root;
	if (json_error_code(&err) == json_error_numeric_overflow)
		reject(c, PF_REJ_OUT_OF_RANGE, "number too large at line %d column %d (%s)",
		       err.line, err.column, err.text);
	else if (json_error_code(&err) == json_error_duplicate_key)
		reject(c, PF_REJ_JSON_SYNTAX, "duplicate key makes the payload ambiguous (%s)",
		       err.text);
	else
		reject(c, PF_REJ_JSON_SYNTAX, "invalid JSON at line %d column %d: %s", err.line,
		       err.column, err.text);
	return NULL;
}

static void occupancy(struct ctx *c, const uint8_t *p, size_t n)
{
	struct pf_observation o = {.status = PF_LOT_STATUS_NONE};
	char buf[QUOTE_MAX + 32];
	json_t *root = parse_json(c, p, n), *props[3], *type;
	int rc;

	if (!root)
		return;
	if (!json_is_object(root)) {
		reject(c, PF_REJ_NOT_OBJECT, "payload is %s; expected a JSON object",
		       describe(root, buf, sizeof(buf)));
		goto out;
	}
	if (check_ids(c, root) < 0)
		goto out;
	for (size_t i = 0; i < 3; i++)
		props[i] = json_object_get(root, fiware_counts[i]);
	type = json_object_get(root, "type");
	if (props[0] || props[1] || props[2] ||
	    (json_is_string(type) && strcmp(json_string_value(type), "OffStreetParking") == 0))
		rc = fiware_obs(c, root, props, &o);
	else
		rc = native_obs(c, root, &o);
	if (rc == 0) {
		memcpy(o.lot_id, c->lot_id, sizeof(o.lot_id));
		c->out->kind = PF_REC_OCCUPANCY;
		c->out->u.obs = o;
	}
out:
	json_decref(root);
}

/* ---- status ---- */

/* "online"/"offline"/"true"/"false"/"1"/"0", surrounding whitespace ignored: 1, 0 or -1. */
static int online_word(const char *s, size_t n)
{
	while (n > 0 && json_space((uint8_t)*s)) {
		s++;
		n--;
	}
	while (n > 0 && json_space((uint8_t)s[n - 1]))
		n--;
	if (ieq(s, n, "online") || ieq(s, n, "true") || ieq(s, n, "1"))
		return 1;
	if (ieq(s, n, "offline") || ieq(s, n, "false") || ieq(s, n, "0"))
		return 0;
	return -1;
}

static int status_string(struct ctx *c, json_t *root, const char *name,
			 char dst[PF_STATUS_FIELD_MAX])
{
	char buf[QUOTE_MAX + 32];
	json_t *v = json_object_get(root, name);
	size_t n;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return reject(c, PF_REJ_BAD_TYPE, "\"%s\" is %s but must be a string", name,
			      describe(v, buf, sizeof(buf)));
	n = json_string_length(v);
	if (n >= PF_STATUS_FIELD_MAX)
		return reject(c, PF_REJ_OUT_OF_RANGE,
			      "\"%s\" is %zu bytes long; at most %d allowed", name, n,
			      PF_STATUS_FIELD_MAX - 1);
	/* Controller text reaches operators' terminals: its control characters (and an
	 * embedded \u0000, which would cut the string short) become '?' as in details. */
	memcpy(dst, json_string_value(v), n);
	pf_utf8_sanitize(dst, n);
	return 0;
}

static int status_online(struct ctx *c, json_t *root, int *online)
{
	char buf[QUOTE_MAX + 32];
	json_t *v;

	if ((v = json_object_get(root, "online")) != NULL) {
		if (!json_is_boolean(v))
			return reject(c, PF_REJ_BAD_TYPE,
				      "\"online\" is %s but must be true or false",
				      describe(v, buf, sizeof(buf)));
		*online = json_is_true(v);
	} else if ((v = json_object_get(root, "status")) != NULL) {
		if (!json_is_string(v))
			return reject(c, PF_REJ_BAD_TYPE,
				      "\"status\" is %s but must be \"online\" or \"offline\"",
				      describe(v, buf, sizeof(buf)));
		if (ieq(json_string_value(v), json_string_length(v), "online"))
			*online = 1;
		else if (ieq(json_string_value(v), json_string_length(v), "offline"))
			*online = 0;
		else
			return reject(c, PF_REJ_OUT_OF_RANGE,
				      "\"status\" is %s but must be \"online\" or \"offline\"",
				      describe(v, buf, sizeof(buf)));
	}
	return 0;
}

static bool compliant(const struct pf_norm_config *cfg, const char *protocol)
{
	size_t n = strlen(protocol);

	for (size_t i = 0; n > 0 && i < cfg->n_compliant; i++)
		if (ieq(protocol, n, cfg->compliant_protocols[i]))
			return true;
	return false;
}

static int status_object(struct ctx *c, json_t *root, struct pf_status_report *s)
{
	if (check_ids(c, root) < 0 || status_online(c, root, &s->online) < 0 ||
	    status_string(c, root, "system", s->system) < 0 ||
	    status_string(c, root, "version", s->version) < 0 ||
	    status_string(c, root, "protocol", s->protocol) < 0)
		return -1;
	s->compliant = compliant(c->cfg, s->protocol);
	return 0;
}

static void set_status(struct ctx *c, const struct pf_status_report *s)
{
	c->out->kind = PF_REC_STATUS;
	c->out->u.status = *s;
	memcpy(c->out->u.status.lot_id, c->lot_id, sizeof(c->lot_id));
}

static void status(struct ctx *c, const uint8_t *p, size_t n)
{
	struct pf_status_report s = {.online = -1};
	char buf[QUOTE_MAX + 32];
	json_t *root;

	/* Plain-text wills ("offline") are common; "true"/"1" are also valid JSON, same meaning. */
	if ((s.online = online_word((const char *)p, n)) >= 0) {
		set_status(c, &s);
		return;
	}
	if (!(root = parse_json(c, p, n)))
		return;
	if (json_is_object(root)) {
		if (status_object(c, root, &s) == 0)
			set_status(c, &s);
	} else if (json_is_string(root)) {
		if ((s.online = online_word(json_string_value(root), json_string_length(root))) >=
		    0)
			set_status(c, &s);
		else
			reject(c, PF_REJ_OUT_OF_RANGE,
			       "status payload is %s; expected online, offline, true, false, 1, 0 "
			       "or a JSON object",
			       describe(root, buf, sizeof(buf)));
	} else {
		reject(c, PF_REJ_NOT_OBJECT,
		       "status payload is %s; expected a JSON object or online/offline",
		       describe(root, buf, sizeof(buf)));
	}
	json_decref(root);
}

/* ---- entry point ---- */

static void init_record(struct pf_record *out, const char *topic, size_t tlen,
			const uint8_t *payload, size_t len, int64_t received_at)
{
	memset(out, 0, sizeof(*out));
	out->received_at = received_at;
	out->topic = topic;
	out->topic_len = clip_utf8(topic, tlen, PF_TOPIC_MAX);
	out->payload = payload;
	out->payload_len = len < PF_REJECT_PAYLOAD_MAX ? len : PF_REJECT_PAYLOAD_MAX;
	out->payload_full_len = len < UINT32_MAX ? (uint32_t)len : UINT32_MAX;
}

void pf_normalize(const struct pf_norm_config *cfg, const char *topic, const uint8_t *payload,
		  size_t len, int64_t received_at, struct pf_record *out)
{
	struct ctx c = {.cfg = cfg, .out = out};
	const char *prefix = cfg->topic_prefix ? cfg->topic_prefix : "", *why;
	enum pf_topic_kind kind;

	if (!topic)
		topic = "";
	if (!payload)
		len = 0;
	init_record(out, topic, strlen(topic), payload, len, received_at);
	if (parse_topic(prefix, topic, strlen(topic), cfg->max_topic_len, &kind, c.lot_id, &why)) {
		reject(&c, PF_REJ_BAD_TOPIC,
		       "%s; expected \"%.64s/<lot_id>/occupancy\" or "
		       "\"%.64s/<lot_id>/status\"",
		       why, prefix, prefix);
		return;
	}
	if (len > cfg->max_payload) {
		reject(&c, PF_REJ_PAYLOAD_TOO_LARGE, "payload is %zu bytes; max_payload is %zu",
		       len, cfg->max_payload);
		return;
	}
	if (precheck(&c, payload, len) < 0)
		return;
	if (kind == PF_TOPIC_STATUS)
		status(&c, payload, len);
	else
		occupancy(&c, payload, len);
}
