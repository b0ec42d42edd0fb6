/*
 * The endpoints. Lots, districts and NGSI-LD entities come from the current snapshot (no
 * database on the request path); the ledger and the curves from the database through dbq.
 * Every refusal is a problem saying what was wrong.
 */
#include "endpoints.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpx.h"
#include "pf_ledger.h"
#include "pf_version.h"
#include "refresh.h"
#include "render.h"

#define NGSI_ERR "https://uri.etsi.org/ngsi-ld/errors/"
#define CST_OFFSET_S (8 * 3600) /* Asia/Shanghai: UTC+8, no daylight saving since 1991 */

static const char *status_title(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

static const char *ngsi_type(int status)
{
	switch (status) {
	case 400:
		return NGSI_ERR "BadRequestData";
	case 404:
		return NGSI_ERR "ResourceNotFound";
	default:
		return NULL;
	}
}

void ep__clear(struct answer *a)
{
	if (a->body)
		rc__unref(&a->body->rc);
	a->body = NULL;
}

static void set_body(struct answer *a, int status, const char *type, struct pf_buf *b)
{
	ep__clear(a);
	a->body = http__body_from_buf(b, false);
	if (!a->body) {
		ep__problem(a, 503, false, "out of memory rendering the answer; try again");
		return;
	}
	a->status = status;
	a->type = type;
}

void ep__problem(struct answer *a, int status, bool ngsi, const char *detail)
{
	struct pf_buf b;

	ep__clear(a);
	pf_buf_init(&b);
	render__problem(&b, status, ngsi ? ngsi_type(status) : NULL, status_title(status), detail);
	a->body = http__body_from_buf(&b, false);
	a->status = a->body ? status : 500;
	a->type = TYPE_PROBLEM;
	a->cache = CACHE_NONE;
}

/* No snapshot yet: 503, with why as /healthz would say it. */
static bool need_snapshot(const struct ep_request *r, struct answer *a, bool ngsi)
{
	struct refresh_status st;
	char detail[400];

	if (r->snap)
		return true;
	refresh__status(r->app->refresh, &st);
	snprintf(detail, sizeof(detail), "no data yet: %s", st.problem);
	ep__problem(a, 503, ngsi, detail);
	a->retry_after = 5;
	return false;
}

static bool parse(const struct api_target *t, struct query *q, struct answer *a, bool ngsi)
{
	char why[256];

	if (query__parse(q, t->query, t->query_len, why, sizeof(why)) == 0)
		return true;
	ep__problem(a, 400, ngsi, why);
	return false;
}

/* A parameter check's outcome: true to go on, else a 400 answer saying why. */
static bool checked(int rc, const char *why, struct answer *a, bool ngsi)
{
	if (rc == 0)
		return true;
	ep__problem(a, 400, ngsi, why);
	return false;
}

/* ---- /v1/lots ------------------------------------------------------------------------- */

/* GET /v1/lots for a crs: rendered once per snapshot, kept with it. */
static struct api_body *full_collection(struct api_snapshot *s, enum api_crs crs)
{
	struct api_body *b;

	pthread_mutex_lock(&s->lock);
	if (!s->full[crs]) {
		size_t *idx = malloc((s->n_lots ? s->n_lots : 1) * sizeof(*idx));
		struct pf_buf out;
		size_t n = 0;

		pf_buf_init(&out);
		if (idx) {
			for (size_t i = 0; i < s->n_lots; i++)
				if (s->has_pos[i])
					idx[n++] = i;
			render__collection(&out, s, idx, NULL, n, crs);
			s->full[crs] = http__body_from_buf(&out, true);
		}
		free(idx);
	}
	b = s->full[crs];
	if (b)
		rc__ref(&b->rc);
	pthread_mutex_unlock(&s->lock);
	return b;
}

static bool in_district(const struct api_lot *l, const char *district)
{
	return !district || (l->district && strcmp(l->district, district) == 0);
}

static void lots_near(const struct api_snapshot *s, const struct lots_params *p, struct pf_buf *out)
{
	bool *has = malloc((s->n_lots ? s->n_lots : 1) * sizeof(*has));
	struct geo_hit hits[LOTS_LIMIT_MAX];
	size_t idx[LOTS_LIMIT_MAX], n;
	double dist[LOTS_LIMIT_MAX], q[3];

	if (!has) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < s->n_lots; i++)
		has[i] = s->has_pos[i] && in_district(&s->lots[i], p->district);
	geo__unit(p->near_lon, p->near_lat, q);
	n = geo__nearest((const double(*)[3])s->vec, has, s->n_lots, q, (size_t)p->limit,
			 p->radius_m, hits);
	free(has);
	for (size_t i = 0; i < n; i++) {
		idx[i] = hits[i].index;
		dist[i] = hits[i].distance_m;
	}
	render__collection(out, s, idx, dist, n, p->crs);
}

static void lots_of_district(const struct api_snapshot *s, const struct lots_params *p,
			     struct pf_buf *out)
{
	size_t *idx = malloc((s->n_lots ? s->n_lots : 1) * sizeof(*idx)), n = 0;

	if (!idx) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < s->n_lots; i++)
		if (s->has_pos[i] && in_district(&s->lots[i], p->district))
			idx[n++] = i;
	render__collection(out, s, idx, NULL, n, p->crs);
	free(idx);
}

static void ep_lots(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	struct query q;
	struct lots_params p;
	struct pf_buf out;
	char why[256];

	if (!parse(t, &q, a, false) ||
	    !checked(query__lots(&q, false, &p, why, sizeof(why)), why, a, false))
		return;
	if (!need_snapshot(r, a, false))
		return;
	if (!p.near && !p.district) {
		a->body = full_collection(r->snap, p.crs);
		a->status = a->body ? 200 : 503;
		a->type = TYPE_GEOJSON;
		if (!a->body)
			ep__problem(a, 503, false, "out of memory rendering the lots; try again");
		return;
	}
	pf_buf_init(&out);
	if (p.near)
		lots_near(r->snap, &p, &out);
	else
		lots_of_district(r->snap, &p, &out);
	set_body(a, 200, TYPE_GEOJSON, &out);
}

/* The lot named by the path, or a 404 answer. */
static const struct api_lot *find_lot(const struct ep_request *r, const char *id, struct answer *a,
				      bool ngsi)
{
	const struct api_lot *l = snap__find(r->snap, id);
	char detail[160];

	if (!l) {
		snprintf(detail, sizeof(detail),
			 "no lot %.64s (see /v1/lots for the lots there are)", id);
		ep__problem(a, 404, ngsi, detail);
	}
	return l;
}

static void ep_lot(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	const struct api_lot *l;
	struct query q;
	struct lots_params p;
	struct pf_buf out;
	char why[256];

	if (!parse(t, &q, a, false) ||
	    !checked(query__lots(&q, true, &p, why, sizeof(why)), why, a, false))
		return;
	if (!need_snapshot(r, a, false) || !(l = find_lot(r, t->param, a, false)))
		return;
	pf_buf_init(&out);
	render__feature(&out, l, p.crs, -1);
	set_body(a, 200, TYPE_GEOJSON, &out);
}

static void ep_districts(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	struct query q;
	struct pf_buf out;
	char why[256];

	if (!parse(t, &q, a, false) || !checked(query__none(&q, why, sizeof(why)), why, a, false))
		return;
	if (!need_snapshot(r, a, false))
		return;
	pf_buf_init(&out);
	render__districts(&out, r->snap);
	set_body(a, 200, TYPE_JSON, &out);
}

/* ---- answers from the database ---------------------------------------------------------- */

static void ask_db(const struct ep_request *r, const struct dbq_key *key, struct answer *a)
{
	int rc = dbq__ask(r->app->dbq, key, r->settings->cfg.api.query_cache, r->waiter);

	if (rc == 1) {
		a->pending = true;
	} else if (rc == 0) {
		ep__finish_pending(r, a);
	} else {
		ep__problem(a, 503, false,
			    "too many different questions are waiting for the database; retry");
		a->retry_after = 1;
	}
}

void ep__finish_pending(const struct ep_request *r, struct answer *a)
{
	struct dbq_waiter *w = r->waiter;

	a->pending = false;
	if (w->status == 200 && w->body) {
		ep__clear(a);
		a->body = w->body; /* the waiter's reference */
		w->body = NULL;
		a->status = 200;
		a->type = TYPE_JSON;
		return;
	}
	ep__problem(a, 503, false,
		    "the database did not answer; try again shortly (data from the snapshot, "
		    "/v1/lots and /v1/districts, is still served)");
	a->retry_after = 5;
}

/* Today in Asia/Shanghai. */
static void today(char out[11])
{
	time_t now = time(NULL) + CST_OFFSET_S;
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static void ep_progress(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	struct dbq_key key = {.kind = DBQ_PROGRESS};
	struct progress_params p;
	struct query q;
	char why[256];

	if (!parse(t, &q, a, false) ||
	    !checked(query__progress(&q, &p, why, sizeof(why)), why, a, false))
		return;
	key.year = p.year;
	if (p.as_of[0])
		memcpy(key.as_of, p.as_of, sizeof(key.as_of));
	else
		today(key.as_of);
	ask_db(r, &key, a);
}

static void ep_history(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	bool lot = t->route == R_LOT_HISTORY;
	struct dbq_key key = {.kind = lot ? DBQ_LOT_CURVE : DBQ_DISTRICT_CURVE};
	struct history_params p;
	struct query q;
	char why[320];

	if (!parse(t, &q, a, false) ||
	    !checked(query__history(&q, &p, why, sizeof(why)), why, a, false))
		return;
	if (!need_snapshot(r, a, false))
		return;
	if (lot && !find_lot(r, t->param, a, false))
		return;
	if (!lot && !snap__district(r->snap, t->param)) {
		snprintf(why, sizeof(why),
			 "no district %.128s (see /v1/districts for the districts there are)",
			 t->param);
		ep__problem(a, 404, false, why);
		return;
	}
	snprintf(key.subject, sizeof(key.subject), "%s", t->param);
	key.hours = p.hours;
	key.bucket_minutes = p.bucket_minutes;
	ask_db(r, &key, a);
}

/* ---- NGSI-LD ---------------------------------------------------------------------------- */

static bool id_wanted(const struct ngsi_params *p, const char *lot_id)
{
	size_t plen = strlen(NGSI_URN_PREFIX), llen = strlen(lot_id);

	if (!p->n_ids)
		return true;
	for (size_t i = 0; i < p->n_ids; i++)
		if (p->ids[i].len == plen + llen &&
		    memcmp(p->ids[i].s, NGSI_URN_PREFIX, plen) == 0 &&
		    memcmp(p->ids[i].s + plen, lot_id, llen) == 0)
			return true;
	return false;
}

/* A page of the same query at offset, as a relative URL (everything but offset as asked). */
static size_t page_url(char *out, size_t len, const struct ngsi_params *p, int offset)
{
	size_t n = (size_t)snprintf(
		out, len, "/ngsi-ld/v1/entities?type=OffStreetParking&offset=%d&limit=%d%s%s",
		offset, p->limit, p->key_values ? "&options=keyValues" : "",
		p->count ? "&count=true" : "");

	if (p->ids_raw && n < len) {
		n += (size_t)snprintf(out + n, len - n, "&id=");
		/* Percent-encode all but what an NGSI-LD id list needs as it is. */
		for (const unsigned char *s = (const unsigned char *)p->ids_raw; *s && n + 4 < len;
		     s++) {
			if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			    (*s >= '0' && *s <= '9') || strchr(":,._-~", *s))
				out[n++] = (char)*s;
			else
				n += (size_t)snprintf(out + n, len - n, "%%%02X", *s);
		}
		out[n < len ? n : len - 1] = '\0';
	}
	return n;
}

/* Append ", <url>; rel=..." to a's Link if it fits whole; a link cut short would mislead. */
static void add_link(struct answer *a, const char *url, size_t url_len, const char *rel)
{
	size_t n = strlen(a->link);
	int w;

	if (url_len >= 1000)
		return;
	w = snprintf(a->link + n, sizeof(a->link) - n, "%s<%s>; rel=\"%s\"", n ? ", " : "", url,
		     rel);
	if (w < 0 || (size_t)w >= sizeof(a->link) - n)
		a->link[n] = '\0';
}

/* Link: the JSON-LD context (plain JSON answers) and the next and previous pages (left out
 * when an id list makes them too long: page with offset then). */
static void ngsi_links(struct answer *a, const struct ngsi_params *p, size_t matched, bool ld)
{
	char url[1000];
	size_t n;

	if (!ld)
		snprintf(a->link, sizeof(a->link),
			 "<%s>; rel=\"http://www.w3.org/ns/json-ld#context\"; "
			 "type=\"application/ld+json\"",
			 NGSI_CONTEXT_PARKING);
	if (p->limit > 0 && (size_t)p->offset + (size_t)p->limit < matched) {
		n = page_url(url, sizeof(url), p, p->offset + p->limit);
		add_link(a, url, n, "next");
	}
	if (p->limit > 0 && p->offset > 0) {
		n = page_url(url, sizeof(url), p, p->offset > p->limit ? p->offset - p->limit : 0);
		add_link(a, url, n, "prev");
	}
}

static void ep_entities(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	bool ld = http__wants_ld_json(r->accept);
	struct ngsi_params p;
	struct query q;
	struct pf_buf out;
	size_t matched = 0, shown = 0;
	char why[256];

	if (!parse(t, &q, a, true) ||
	    !checked(query__ngsi(&q, true, &p, why, sizeof(why)), why, a, true))
		return;
	if (!need_snapshot(r, a, true))
		return;
	pf_buf_init(&out);
	pf_buf_puts(&out, "[");
	for (size_t i = 0; p.type_ok && i < r->snap->n_lots; i++) {
		const struct api_lot *l = &r->snap->lots[i];

		if (!id_wanted(&p, l->id))
			continue;
		if (matched >= (size_t)p.offset && shown < (size_t)p.limit) {
			if (shown++)
				pf_buf_puts(&out, ",");
			render__entity(&out, l, p.key_values, ld);
		}
		matched++;
	}
	pf_buf_puts(&out, "]");
	set_body(a, 200, ld ? TYPE_LD_JSON : TYPE_JSON, &out);
	a->vary_accept = true;
	a->results_count = p.count ? (long long)matched : -1;
	ngsi_links(a, &p, matched, ld);
}

static void ep_entity(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	bool ld = http__wants_ld_json(r->accept);
	const struct api_lot *l;
	struct ngsi_params p;
	struct query q;
	struct pf_buf out;
	const char *lot_id;
	char why[256];

	if (!parse(t, &q, a, true) ||
	    !checked(query__ngsi(&q, false, &p, why, sizeof(why)), why, a, true))
		return;
	if (!strchr(t->param, ':')) {
		ep__problem(
			a, 400, true,
			"the entity id is not a URI (ids are urn:ngsi-ld:OffStreetParking:<lot_id>)");
		return;
	}
	if (!need_snapshot(r, a, true))
		return;
	lot_id = query__urn_lot_id(t->param);
	if (!p.type_ok || !lot_id || !(l = snap__find(r->snap, lot_id))) {
		snprintf(why, sizeof(why), "no entity %.160s", t->param);
		ep__problem(a, 404, true, why);
		return;
	}
	pf_buf_init(&out);
	render__entity(&out, l, p.key_values, ld);
	set_body(a, 200, ld ? TYPE_LD_JSON : TYPE_JSON, &out);
	a->vary_accept = true;
	if (!ld)
		snprintf(a->link, sizeof(a->link),
			 "<%s>; rel=\"http://www.w3.org/ns/json-ld#context\"; "
			 "type=\"application/ld+json\"",
			 NGSI_CONTEXT_PARKING);
}

/* ---- the rest ----------------------------------------------------------------------------- */

static void ep_config(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	const struct api_config *c = &r->settings->cfg;
	struct query q;
	struct pf_buf out;
	char why[256];

	if (!parse(t, &q, a, false) || !checked(query__none(&q, why, sizeof(why)), why, a, false))
		return;
	pf_buf_init(&out);
	render__config(&out, c->web.tile_url, c->web.tile_attribution, crs__name(c->web.tile_crs),
		       PF_VERSION);
	set_body(a, 200, TYPE_JSON, &out);
}

/* 200 when the data is fresh (and a standby not too far behind), else 503 saying why. */
static void ep_healthz(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	const struct api_config *c = &r->settings->cfg;
	struct refresh_status st;
	struct pf_buf out;
	double age;
	int status = 200;

	refresh__status(r->app->refresh, &st);
	pf_buf_init(&out);
	age = st.last_ok_mono_us ? (double)(app__mono_us() - st.last_ok_mono_us) / 1e6 : -1;
	if (!r->snap || age < 0) {
		status = 503;
		pf_buf_printf(&out, "no data yet: %s\n", st.problem);
	} else if (age > c->api.max_staleness) {
		status = 503;
		pf_buf_printf(&out, "data is %.1f s old (max_staleness %d s): %s\n", age,
			      c->api.max_staleness, st.problem[0] ? st.problem : "not read since");
	} else if (st.standby && c->api.max_replica_lag > 0 &&
		   (st.replay_lag_s < 0 || st.replay_lag_s > c->api.max_replica_lag)) {
		status = 503;
		pf_buf_printf(&out,
			      "the standby lags %.1f s behind its primary (max_replica_lag %d s)\n",
			      st.replay_lag_s, c->api.max_replica_lag);
	} else {
		pf_buf_printf(&out, "ok: %zu lots, data %.1f s old, database %s", r->snap->n_lots,
			      age, st.standby ? "standby" : "primary");
		if (st.standby)
			pf_buf_printf(&out, " (replay lag %.1f s)", st.replay_lag_s);
		pf_buf_puts(&out, "\n");
	}
	set_body(a, status, "text/plain; charset=utf-8", &out);
	a->cache = CACHE_NONE;
}

static void ep_static(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	const char *path = t->route == R_INDEX	       ? "index.html"
			   : t->route == R_LEDGER_PAGE ? "ledger.html"
						       : t->param;
	const struct web_file *f = r->web ? web__find(r->web, path) : NULL;
	struct query q;
	char why[256];

	/* A page may carry a query for its own scripts; a file takes none. */
	if (!parse(t, &q, a, false))
		return;
	if (!f) {
		ep__problem(a, 404, false,
			    t->route == R_STATIC ? "no such path"
						 : "the web page is not installed on this server");
		return;
	}
	if (t->route == R_STATIC && query__none(&q, why, sizeof(why)) < 0) {
		ep__problem(a, 400, false, why);
		return;
	}
	a->status = 200;
	a->type = f->type;
	a->body = f->body;
	rc__ref(&a->body->rc);
	a->cache = CACHE_REVALIDATE;
	a->page = strncmp(f->type, "text/html", 9) == 0;
}

typedef void endpoint(const struct ep_request *r, const struct api_target *t, struct answer *a);

static endpoint *const endpoints[] = {
	[R_INDEX] = ep_static,
	[R_LEDGER_PAGE] = ep_static,
	[R_STATIC] = ep_static,
	[R_HEALTHZ] = ep_healthz,
	[R_CONFIG] = ep_config,
	[R_LOTS] = ep_lots,
	[R_LOT] = ep_lot,
	[R_LOT_HISTORY] = ep_history,
	[R_DISTRICTS] = ep_districts,
	[R_DISTRICT_HISTORY] = ep_history,
	[R_PROGRESS] = ep_progress,
	[R_NGSI_ENTITIES] = ep_entities,
	[R_NGSI_ENTITY] = ep_entity,
};

void ep__answer(const struct ep_request *r, const struct api_target *t, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	a->results_count = -1;
	if ((size_t)t->route < sizeof(endpoints) / sizeof(endpoints[0]) && endpoints[t->route])
		endpoints[t->route](r, t, a);
	else
		ep__problem(a, 404, false,
			    "no such endpoint (see /v1/lots, /v1/districts, /v1/progress, "
			    "/ngsi-ld/v1/entities)");
}
