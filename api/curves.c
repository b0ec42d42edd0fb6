/*
 * The ledger as `parkfeedctl progress --format json` prints it (the same ranking and rendering
 * code, pfledger), and the curves of the last hours for a lot or a district, from the reader
 * functions of migration 009.
 */
#include "curves.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apidb.h"
#include "httpx.h"
#include "pf_ledger.h"
#include "pf_log.h"

static PGresult *ask(PGconn *conn, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	char why[512];

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	apidb__describe(res, why, sizeof(why));
	pf_log_limited(PF_LOG_WARNING, "dbq-query", "queries: %s failed: %s", sql, why);
	PQclear(res);
	return NULL;
}

static int progress(PGconn *conn, const struct dbq_key *key, struct api_body **body)
{
	char year[16];
	const char *p[2] = {year, key->as_of};
	struct pf_ledger l = {.year = key->year, .as_of = key->as_of};
	struct pf_buf out;
	PGresult *res;
	int status = 503;

	snprintf(year, sizeof(year), "%d", key->year);
	res = ask(conn,
		  "SELECT district, target, completed FROM parking.progress($1::int, $2::date)", 2,
		  p);
	if (!res)
		return 503;
	l.nrows = (size_t)PQntuples(res);
	l.rows = calloc(l.nrows + 1, sizeof(*l.rows));
	pf_buf_init(&out);
	if (l.rows) {
		for (size_t i = 0; i < l.nrows; i++) {
			l.rows[i].district = PQgetvalue(res, (int)i, 0);
			l.rows[i].target = atoll(PQgetvalue(res, (int)i, 1));
			l.rows[i].completed = atoll(PQgetvalue(res, (int)i, 2));
		}
		if (pf_ledger_rank(&l) == 0) {
			pf_ledger_render(&out, &l, PF_LEDGER_JSON, PF_LEDGER_EN);
			*body = http__body_from_buf(&out, true);
			status = *body ? 200 : 503;
		}
	}
	if (status != 200) {
		pf_buf_free(&out);
		pf_warn("queries: out of memory rendering the ledger");
	}
	free(l.rows);
	PQclear(res);
	return status;
}

static json_t *num_or_null(const PGresult *res, int i, int j, bool integer)
{
	const char *v;

	if (PQgetisnull(res, i, j))
		return json_null();
	v = PQgetvalue(res, i, j);
	return integer ? json_integer(strtoll(v, NULL, 10)) : json_real(strtod(v, NULL));
}

/* Column names of the JSON buckets after "start", and which are whole numbers. */
static const char *const lot_cols[] = {"samples",  "free_avg",	"free_min",
				       "free_max", "total_avg", "occupancy_pct"};
static const bool lot_int[] = {true, false, true, true, false, false};
static const char *const district_cols[] = {"lots", "samples", "free", "total", "occupancy_pct"};
static const bool district_int[] = {true, true, false, false, false};

static int curve(PGconn *conn, const struct dbq_key *key, struct api_body **body)
{
	bool lot = key->kind == DBQ_LOT_CURVE;
	const char *const *cols = lot ? lot_cols : district_cols;
	const bool *integer = lot ? lot_int : district_int;
	int ncols = lot ? 6 : 5;
	char hours[16], bucket[16], t[32];
	const char *p[3] = {key->subject, hours, bucket};
	json_t *doc, *buckets;
	struct pf_buf out;
	PGresult *res;

	snprintf(hours, sizeof(hours), "%d", key->hours);
	snprintf(bucket, sizeof(bucket), "%d", key->bucket_minutes);
	res = ask(conn,
		  lot ? "SELECT (extract(epoch FROM bucket_start) * 1000000)::int8, samples, "
			"free_avg, free_min, free_max, total_avg, occupancy_pct FROM "
			"parking.lot_occupancy_curve($1, $2::int, $3::int)"
		      : "SELECT (extract(epoch FROM bucket_start) * 1000000)::int8, lots, samples, "
			"free, total, occupancy_pct FROM "
			"parking.district_occupancy_curve($1, $2::int, $3::int)",
		  3, p);
	if (!res)
		return 503;
	buckets = json_array();
	for (int i = 0; buckets && i < PQntuples(res); i++) {
		json_t *b;

		http__time(strtoll(PQgetvalue(res, i, 0), NULL, 10), t);
		b = json_pack("{s:s}", "start", t);
		for (int c = 0; b && c < ncols; c++)
			json_object_set_new(b, cols[c], num_or_null(res, i, c + 1, integer[c]));
		json_array_append_new(buckets, b);
	}
	PQclear(res);
	doc = json_pack("{s:s, s:i, s:i, s:o}", lot ? "lot_id" : "district", key->subject, "hours",
			key->hours, "bucket_minutes", key->bucket_minutes, "buckets", buckets);
	pf_buf_init(&out);
	if (doc) {
		char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10));

		if (s) {
			pf_buf_puts(&out, s);
			free(s);
		}
	}
	json_decref(doc);
	*body = http__body_from_buf(&out, true);
	if (!*body) {
		pf_buf_free(&out);
		pf_warn("queries: out of memory rendering a curve");
		return 503;
	}
	return 200;
}

int curves__run(PGconn *conn, const struct dbq_key *key, struct api_body **body)
{
	*body = NULL;
	return key->kind == DBQ_PROGRESS ? progress(conn, key, body) : curve(conn, key, body);
}
