/*
 * Request targets and query strings, from the raw bytes a client sent. Pure: no I/O, no
 * allocation; everything lands in caller-provided structs of fixed size, so any input is
 * either parsed or refused with a sentence saying what is wrong (fuzz/fuzz_query.c).
 */
#include "query.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_ledger.h"

#define URN_PREFIX "urn:ngsi-ld:OffStreetParking:"

static int fail(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode s[0..len) into out (room for len + 1 bytes); '+' is a space when plus_space.
 * The result must be UTF-8 without control characters (NUL included). Returns its length or -1.
 */
static long decode(const char *s, size_t len, bool plus_space, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return pf_utf8_valid(out, o) ? (long)o : -1;
}

bool query__valid_lot_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n >= 1 && n <= 64;
}

const char *query__urn_lot_id(const char *urn)
{
	size_t n = strlen(URN_PREFIX);

	if (strncmp(urn, URN_PREFIX, n) != 0 || !query__valid_lot_id(urn + n))
		return NULL;
	return urn + n;
}

/* A path segment that becomes the route's parameter. */
static int take_param(struct api_target *t, const char *seg, size_t len, const char *what,
		      char *why, size_t whylen)
{
	if (len >= sizeof(t->param))
		return fail(why, whylen, "the %s in the path is longer than %zu bytes", what,
			    sizeof(t->param) - 1);
	if (decode(seg, len, false, t->param) < 0)
		return fail(why, whylen,
			    "the %s in the path is not valid percent-encoded UTF-8 text", what);
	if (!t->param[0])
		return fail(why, whylen, "the %s in the path is empty", what);
	return 0;
}

static bool seg_is(const char *seg, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(seg, word, len) == 0;
}

/* The path is dir itself or below it. */
static bool under(const char *path, size_t len, const char *dir)
{
	size_t n = strlen(dir);

	return len >= n && memcmp(path, dir, n) == 0 && (len == n || path[n] == '/');
}

/* /v1/... after "/v1/": lots, lots/{id}, lots/{id}/history, districts, ..., progress. */
static int route_v1(struct api_target *t, const char *p, size_t len, char *why, size_t whylen)
{
	const char *seg[4];
	size_t seglen[4], n = 0, i = 0;

	while (n < 4) {
		const char *slash = memchr(p + i, '/', len - i);
		size_t end = slash ? (size_t)(slash - p) : len;

		seg[n] = p + i;
		seglen[n++] = end - i;
		if (!slash)
			break;
		i = end + 1;
		if (n == 4)
			return 0; /* too deep: R_NOT_FOUND */
	}
	if (n == 1 && seg_is(seg[0], seglen[0], "lots"))
		t->route = R_LOTS;
	else if (n == 1 && seg_is(seg[0], seglen[0], "districts"))
		t->route = R_DISTRICTS;
	else if (n == 1 && seg_is(seg[0], seglen[0], "progress"))
		t->route = R_PROGRESS;
	else if (n == 1 && seg_is(seg[0], seglen[0], "config"))
		t->route = R_CONFIG;
	else if (n == 2 && seg_is(seg[0], seglen[0], "lots") && seglen[1])
		t->route = R_LOT;
	else if (n == 3 && seg_is(seg[0], seglen[0], "lots") && seglen[1] &&
		 seg_is(seg[2], seglen[2], "history"))
		t->route = R_LOT_HISTORY;
	else if (n == 3 && seg_is(seg[0], seglen[0], "districts") && seglen[1] &&
		 seg_is(seg[2], seglen[2], "history"))
		t->route = R_DISTRICT_HISTORY;
	else
		return 0;
	if (t->route == R_LOT || t->route == R_LOT_HISTORY) {
		if (take_param(t, seg[1], seglen[1], "lot id", why, whylen) < 0)
			return -EINVAL;
		if (!query__valid_lot_id(t->param))
			return fail(why, whylen,
				    "\"%s\" is not a lot id (1 to 64 of A-Z a-z 0-9 . _ -)",
				    t->param);
	} else if (t->route == R_DISTRICT_HISTORY) {
		return take_param(t, seg[1], seglen[1], "district", why, whylen);
	}
	return 0;
}

int query__route(const char *uri, size_t len, struct api_target *t, char *why, size_t whylen)
{
	const char *q = memchr(uri, '?', len);
	size_t plen = q ? (size_t)(q - uri) : len;

	memset(t, 0, sizeof(*t));
	t->query = q ? q + 1 : uri + len;
	t->query_len = q ? len - plen - 1 : 0;
	if (plen == 0 || uri[0] != '/')
		return fail(why, whylen, "the request target must be a path starting with /");
	if (plen == 1) {
		t->route = R_INDEX;
	} else if (seg_is(uri, plen, "/ledger")) {
		t->route = R_LEDGER_PAGE;
	} else if (seg_is(uri, plen, "/healthz")) {
		t->route = R_HEALTHZ;
	} else if (plen > 4 && memcmp(uri, "/v1/", 4) == 0) {
		return route_v1(t, uri + 4, plen - 4, why, whylen);
	} else if (seg_is(uri, plen, "/ngsi-ld/v1/entities")) {
		t->route = R_NGSI_ENTITIES;
	} else if (plen > 21 && memcmp(uri, "/ngsi-ld/v1/entities/", 21) == 0) {
		if (memchr(uri + 21, '/', plen - 21))
			return 0;
		t->route = R_NGSI_ENTITY;
		return take_param(t, uri + 21, plen - 21, "entity id", why, whylen);
	} else if (!under(uri, plen, "/v1") && !under(uri, plen, "/ngsi-ld")) {
		t->route = R_STATIC;
		return take_param(t, uri + 1, plen - 1, "file name", why, whylen);
	}
	return 0;
}

int query__parse(struct query *q, const char *qs, size_t len, char *why, size_t whylen)
{
	size_t used = 0, i = 0;

	q->n = 0;
	if (len > QUERY_MAX_LEN)
		return fail(why, whylen, "the query string is longer than %d bytes", QUERY_MAX_LEN);
	while (i < len) {
		const char *amp = memchr(qs + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - qs) : len;
		const char *eq = memchr(qs + i, '=', end - i);
		size_t klen = eq ? (size_t)(eq - qs) - i : end - i;
		long kd, vd;

		if (end > i) {
			if (q->n == QUERY_MAX_PAIRS)
				return fail(why, whylen, "more than %d query parameters",
					    QUERY_MAX_PAIRS);
			kd = decode(qs + i, klen, true, q->buf + used);
			if (kd < 0)
				return fail(why, whylen,
					    "a parameter name is not valid percent-encoded UTF-8");
			if (kd == 0)
				return fail(why, whylen, "a parameter has no name (\"=value\")");
			q->p[q->n].key = q->buf + used;
			used += (size_t)kd + 1;
			vd = eq ? decode(eq + 1, end - i - klen - 1, true, q->buf + used) : 0;
			if (!eq)
				q->buf[used] = '\0';
			if (vd < 0)
				return fail(why, whylen,
					    "the value of %s is not valid percent-encoded UTF-8",
					    q->p[q->n].key);
			q->p[q->n++].val = q->buf + used;
			used += (size_t)vd + 1;
		}
		i = end + 1;
	}
	return 0;
}

/* ---- parameter values ------------------------------------------------------------------ */

/* Whole decimal number in [lo, hi]: digits only (a leading '-' allowed), no blanks or '+'. */
static bool parse_int(const char *s, long lo, long hi, long *out)
{
	const char *p = s + (*s == '-');
	char *end;
	long v;

	if (*p < '0' || *p > '9' || strlen(p) > 12)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* -?digits[.digits]: what a map or a form sends; no exponent, hex, inf or nan. */
static bool parse_decimal(const char *s, size_t len, double *out)
{
	char buf[40];
	size_t i = 0;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[i] == '-')
		i++;
	if (buf[i] < '0' || buf[i] > '9')
		return false;
	while (buf[i] >= '0' && buf[i] <= '9')
		i++;
	if (buf[i] == '.') {
		i++;
		if (buf[i] < '0' || buf[i] > '9')
			return false;
		while (buf[i] >= '0' && buf[i] <= '9')
			i++;
	}
	if (buf[i])
		return false;
	*out = strtod(buf, NULL);
	return isfinite(*out);
}

static bool valid_date(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	long y, m, d;
	char part[5];

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	memcpy(part, s, 4);
	part[4] = '\0';
	if (!parse_int(part, 2000, 2100, &y))
		return false;
	memcpy(part, s + 5, 2);
	part[2] = '\0';
	if (part[0] == '-' || !parse_int(part, 1, 12, &m))
		return false;
	memcpy(part, s + 8, 2);
	if (part[0] == '-' || !parse_int(part, 1, mdays[m - 1], &d))
		return false;
	return !(m == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0)));
}

/* Every key of q is among allowed (NULL-terminated) and appears once. */
static int check_keys(const struct query *q, const char *const *allowed, const char *endpoint,
		      char *why, size_t whylen)
{
	char list[160] = "";

	for (size_t i = 0; i < q->n; i++) {
		bool known = false;

		for (size_t j = 0; j < i; j++)
			if (strcmp(q->p[i].key, q->p[j].key) == 0)
				return fail(why, whylen, "parameter %s given twice", q->p[i].key);
		for (size_t a = 0; allowed[a]; a++)
			known |= strcmp(q->p[i].key, allowed[a]) == 0;
		if (known)
			continue;
		for (size_t a = 0; allowed[a]; a++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 a ? ", " : "", allowed[a]);
		if (!allowed[0])
			return fail(why, whylen, "unknown parameter %.64s: %s takes no parameters",
				    q->p[i].key, endpoint);
		return fail(why, whylen, "unknown parameter %.64s for %s (allowed: %s)",
			    q->p[i].key, endpoint, list);
	}
	return 0;
}

static const char *get(const struct query *q, const char *key)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->p[i].key, key) == 0)
			return q->p[i].val;
	return NULL;
}

int query__none(const struct query *q, char *why, size_t whylen)
{
	static const char *const none[] = {NULL};

	return check_keys(q, none, "this endpoint", why, whylen);
}

/* near=LON,LAT in the request's crs, back to WGS-84. */
static int parse_near(const char *v, struct lots_params *p, char *why, size_t whylen)
{
	const char *comma = strchr(v, ',');
	double lon, lat;

	if (!comma || !parse_decimal(v, (size_t)(comma - v), &lon) ||
	    !parse_decimal(comma + 1, strlen(comma + 1), &lat))
		return fail(why, whylen,
			    "near \"%.64s\" is not LON,LAT in decimal degrees (e.g. "
			    "near=113.2418,35.2159)",
			    v);
	if (lon < -180 || lon > 180 || lat < -90 || lat > 90)
		return fail(why, whylen,
			    "near \"%.64s\" is out of range (longitude -180..180, latitude "
			    "-90..90; the order is LON,LAT)",
			    v);
	crs__to_wgs84(p->crs, lon, lat, &p->near_lon, &p->near_lat);
	p->near = true;
	return 0;
}

int query__lots(const struct query *q, bool one_lot, struct lots_params *p, char *why,
		size_t whylen)
{
	static const char *const list_keys[] = {"district", "near", "limit", "radius", "crs", NULL};
	static const char *const one_keys[] = {"crs", NULL};
	const char *v;
	long n;
	int rc;

	memset(p, 0, sizeof(*p));
	p->limit = LOTS_LIMIT_DEFAULT;
	rc = check_keys(q, one_lot ? one_keys : list_keys, one_lot ? "/v1/lots/{id}" : "/v1/lots",
			why, whylen);
	if (rc < 0)
		return rc;
	if ((v = get(q, "crs"))) {
		int c = crs__parse(v);

		if (c < 0)
			return fail(why, whylen, "crs \"%.32s\" is not wgs84, gcj02 or bd09", v);
		p->crs = (enum api_crs)c;
	}
	if ((v = get(q, "district"))) {
		if (!v[0] || strlen(v) > 100)
			return fail(why, whylen, "district must be 1 to 100 bytes of text");
		p->district = v;
	}
	if ((v = get(q, "near")) && parse_near(v, p, why, whylen) < 0)
		return -EINVAL;
	if ((v = get(q, "limit"))) {
		if (!p->near)
			return fail(why, whylen,
				    "limit applies to near queries (add near=LON,LAT)");
		if (!parse_int(v, 1, LOTS_LIMIT_MAX, &n))
			return fail(why, whylen, "limit \"%.32s\" is not a whole number 1..%d", v,
				    LOTS_LIMIT_MAX);
		p->limit = (int)n;
	}
	if ((v = get(q, "radius"))) {
		if (!p->near)
			return fail(why, whylen,
				    "radius applies to near queries (add near=LON,LAT)");
		if (!parse_decimal(v, strlen(v), &p->radius_m) || p->radius_m <= 0 ||
		    p->radius_m > LOTS_RADIUS_MAX_M)
			return fail(why, whylen,
				    "radius \"%.32s\" is not a distance in metres, more than 0 and "
				    "at most %.0f",
				    v, LOTS_RADIUS_MAX_M);
	}
	return 0;
}

/* options / format: keyValues (or its newer name simplified) or normalized. */
static int parse_options(const char *v, const char *name, bool *kv, char *why, size_t whylen)
{
	char item[32];

	for (const char *s = v;;) {
		size_t n = strcspn(s, ",");

		if (n == 0 || n >= sizeof(item))
			return fail(why, whylen, "%s \"%.64s\" has an empty or unknown item", name,
				    v);
		memcpy(item, s, n);
		item[n] = '\0';
		if (strcmp(item, "keyValues") == 0 || strcmp(item, "simplified") == 0)
			*kv = true;
		else if (strcmp(item, "normalized") != 0)
			return fail(why, whylen,
				    "%s \"%.32s\" is not supported here (allowed: keyValues, "
				    "simplified, normalized)",
				    name, item);
		if (!s[n])
			return 0;
		s += n + 1;
	}
}

static int parse_ids(const char *v, struct ngsi_params *p, char *why, size_t whylen)
{
	for (const char *s = v;;) {
		size_t n = strcspn(s, ",");

		if (n == 0)
			return fail(why, whylen, "id has an empty item");
		if (p->n_ids == NGSI_IDS_MAX)
			return fail(why, whylen, "id names more than %d entities", NGSI_IDS_MAX);
		p->ids[p->n_ids].s = s;
		p->ids[p->n_ids++].len = n;
		if (!s[n])
			return 0;
		s += n + 1;
	}
}

int query__ngsi(const struct query *q, bool list, struct ngsi_params *p, char *why, size_t whylen)
{
	static const char *const list_keys[] = {"type",	  "options", "format", "limit",
						"offset", "count",   "id",     NULL};
	static const char *const one_keys[] = {"options", "format", "type", NULL};
	const char *v;
	long n;
	int rc;

	memset(p, 0, sizeof(*p));
	p->limit = NGSI_LIMIT_DEFAULT;
	p->type_ok = true;
	rc = check_keys(q, list ? list_keys : one_keys,
			list ? "/ngsi-ld/v1/entities" : "/ngsi-ld/v1/entities/{id}", why, whylen);
	if (rc < 0)
		return rc;
	if ((v = get(q, "options")) && parse_options(v, "options", &p->key_values, why, whylen) < 0)
		return -EINVAL;
	if ((v = get(q, "format")) && parse_options(v, "format", &p->key_values, why, whylen) < 0)
		return -EINVAL;
	v = get(q, "type");
	if (list && !v)
		return fail(why, whylen,
			    "a query for entities needs type (type=OffStreetParking is what this "
			    "server holds)");
	if (v) {
		/* A list of types matches when one of them is ours (short name or full IRI). */
		p->type_ok = false;
		for (const char *s = v; *s;) {
			size_t len = strcspn(s, ",|");

			if (seg_is(s, len, "OffStreetParking") ||
			    seg_is(s, len,
				   "https://smartdatamodels.org/dataModel.Parking/"
				   "OffStreetParking"))
				p->type_ok = true;
			s += len + (s[len] != '\0');
		}
	}
	if ((v = get(q, "count"))) {
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return fail(why, whylen, "count \"%.32s\" is not true or false", v);
		p->count = strcmp(v, "true") == 0;
	}
	if ((v = get(q, "limit"))) {
		if (!parse_int(v, 0, NGSI_LIMIT_MAX, &n))
			return fail(why, whylen, "limit \"%.32s\" is not a whole number 0..%d", v,
				    NGSI_LIMIT_MAX);
		if (n == 0 && !p->count)
			return fail(why, whylen, "limit=0 is only allowed with count=true");
		p->limit = (int)n;
	}
	if ((v = get(q, "offset"))) {
		if (!parse_int(v, 0, NGSI_OFFSET_MAX, &n))
			return fail(why, whylen, "offset \"%.32s\" is not a whole number 0..%d", v,
				    NGSI_OFFSET_MAX);
		p->offset = (int)n;
	}
	if ((v = get(q, "id")) && parse_ids(v, p, why, whylen) < 0)
		return -EINVAL;
	p->ids_raw = v;
	return 0;
}

int query__progress(const struct query *q, struct progress_params *p, char *why, size_t whylen)
{
	static const char *const keys[] = {"year", "as_of", NULL};
	const char *v;
	long n;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = check_keys(q, keys, "/v1/progress", why, whylen);
	if (rc < 0)
		return rc;
	v = get(q, "year");
	if (!v)
		return fail(why, whylen, "year is required (e.g. year=2023)");
	if (!parse_int(v, 2000, 2100, &n))
		return fail(why, whylen, "year \"%.32s\" is not a year 2000..2100", v);
	p->year = (int)n;
	if ((v = get(q, "as_of"))) {
		if (!valid_date(v))
			return fail(why, whylen, "as_of \"%.32s\" is not a date YYYY-MM-DD", v);
		memcpy(p->as_of, v, 11);
	}
	return 0;
}

int query__history(const struct query *q, struct history_params *p, char *why, size_t whylen)
{
	static const char *const keys[] = {"hours", "bucket", NULL};
	const char *v;
	long n;
	int rc;

	p->hours = HISTORY_HOURS_DEFAULT;
	p->bucket_minutes = HISTORY_BUCKET_DEFAULT;
	rc = check_keys(q, keys, "history", why, whylen);
	if (rc < 0)
		return rc;
	if ((v = get(q, "hours"))) {
		if (!parse_int(v, 1, HISTORY_HOURS_MAX, &n))
			return fail(why, whylen, "hours \"%.32s\" is not a whole number 1..%d", v,
				    HISTORY_HOURS_MAX);
		p->hours = (int)n;
	}
	if ((v = get(q, "bucket"))) {
		if (!parse_int(v, 5, 60, &n) ||
		    !(n == 5 || n == 10 || n == 15 || n == 20 || n == 30 || n == 60))
			return fail(why, whylen,
				    "bucket \"%.32s\" is not 5, 10, 15, 20, 30 or 60 (minutes)", v);
		p->bucket_minutes = (int)n;
	}
	return 0;
}
