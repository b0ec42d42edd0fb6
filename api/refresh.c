/*
 * The refresher. One thread, one connection: reads positions, latest states and district
 * counts in one read-only REPEATABLE READ transaction (a consistent picture, also on a hot
 * standby), builds a snapshot and swaps it in. Identical rows keep the current snapshot, so its
 * rendered bodies and ETags stay. Errors reconnect with an exponential backoff capped at
 * [postgres] reconnect_max; the libpq text goes to the log, never to a client.
 */
#include "refresh.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pf_log.h"
#include "snapshot.h"

#define LOTS_SQL                                                                                   \
	"SELECT lot_id, name, district, address, lon, lat, free, total, occupied, status, "        \
	"(extract(epoch FROM observed_at) * 1000000)::int8, freshness FROM parking.lot_map"
#define DISTRICTS_SQL                                                                              \
	"SELECT district, lots, lots_reporting, lots_online, lots_stale, lots_offline, free, "     \
	"total FROM parking.district_overview"
#define STATE_SQL                                                                                  \
	"SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN CASE WHEN "                \
	"pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 ELSE extract(epoch FROM "     \
	"now() - pg_last_xact_replay_timestamp()) END END"

struct refresh {
	struct app *app;
	char *password;
	pthread_t thread;
	pthread_mutex_t lock; /* status, stop, kick */
	pthread_cond_t wake;
	bool stop, kick;
	struct refresh_status st;
	PGconn *conn;
	int backoff_s;
	uint64_t digest; /* of the current snapshot's rows */
};

static void set_problem(struct refresh *r, enum apidb_error e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_problem(struct refresh *r, enum apidb_error e, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->lock);
	r->st.error = e;
	va_start(ap, fmt);
	vsnprintf(r->st.problem, sizeof(r->st.problem), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&r->lock);
}

/* FNV-1a over every cell and a separator: equal rows, equal digest. */
static uint64_t digest_result(uint64_t h, const PGresult *res)
{
	for (int i = 0; i < PQntuples(res); i++)
		for (int j = 0; j < PQnfields(res); j++) {
			const unsigned char *v = (const unsigned char *)PQgetvalue(res, i, j);
			int n = PQgetlength(res, i, j);

			for (int k = 0; k < n; k++)
				h = (h ^ v[k]) * 1099511628211ULL;
			h = (h ^ (PQgetisnull(res, i, j) ? 0x100 : 0x1f)) * 1099511628211ULL;
		}
	return h;
}

static const char *cell(const PGresult *res, int i, int j)
{
	return PQgetisnull(res, i, j) ? NULL : PQgetvalue(res, i, j);
}

static enum api_freshness freshness(const char *s)
{
	if (s && strcmp(s, "online") == 0)
		return API_ONLINE;
	if (s && strcmp(s, "stale") == 0)
		return API_STALE;
	return API_OFFLINE;
}

static void lot_row(const PGresult *res, int i, struct snap_lot_row *l)
{
	memset(l, 0, sizeof(*l));
	l->id = PQgetvalue(res, i, 0);
	l->name = cell(res, i, 1);
	l->district = cell(res, i, 2);
	l->address = cell(res, i, 3);
	l->has_pos = cell(res, i, 4) && cell(res, i, 5);
	if (l->has_pos) {
		l->lon = strtod(PQgetvalue(res, i, 4), NULL);
		l->lat = strtod(PQgetvalue(res, i, 5), NULL);
	}
	l->has_data = cell(res, i, 7) && cell(res, i, 10);
	if (l->has_data) {
		l->has_free = cell(res, i, 6) != NULL;
		l->free = l->has_free ? atoi(PQgetvalue(res, i, 6)) : 0;
		l->total = atoi(PQgetvalue(res, i, 7));
		l->has_occupied = cell(res, i, 8) != NULL;
		l->occupied = l->has_occupied ? atoi(PQgetvalue(res, i, 8)) : 0;
		l->status = cell(res, i, 9);
		l->observed_us = strtoll(PQgetvalue(res, i, 10), NULL, 10);
	}
	l->freshness = freshness(cell(res, i, 11));
}

static void district_row(const PGresult *res, int i, struct snap_district_row *d)
{
	d->name = cell(res, i, 0);
	d->lots = atoi(PQgetvalue(res, i, 1));
	d->lots_reporting = atoi(PQgetvalue(res, i, 2));
	d->lots_online = atoi(PQgetvalue(res, i, 3));
	d->lots_stale = atoi(PQgetvalue(res, i, 4));
	d->lots_offline = atoi(PQgetvalue(res, i, 5));
	d->has_spaces = cell(res, i, 6) && cell(res, i, 7);
	d->free = d->has_spaces ? strtoll(PQgetvalue(res, i, 6), NULL, 10) : 0;
	d->total = d->has_spaces ? strtoll(PQgetvalue(res, i, 7), NULL, 10) : 0;
}

/* Build from the two results and make current; -ENOMEM on failure. */
static int install(struct refresh *r, const PGresult *lots, const PGresult *districts,
		   const struct snap_meta *meta)
{
	size_t nl = (size_t)PQntuples(lots), nd = (size_t)PQntuples(districts);
	struct snap_lot_row *lr = calloc(nl ? nl : 1, sizeof(*lr));
	struct snap_district_row *dr = calloc(nd ? nd : 1, sizeof(*dr));
	struct api_snapshot *s = NULL;

	if (lr && dr) {
		for (size_t i = 0; i < nl; i++)
			lot_row(lots, (int)i, &lr[i]);
		for (size_t i = 0; i < nd; i++)
			district_row(districts, (int)i, &dr[i]);
		s = snap__build(lr, nl, dr, nd, meta);
	}
	free(lr);
	free(dr);
	if (!s)
		return -ENOMEM;
	rc__put(&r->app->snapshots, &s->rc);
	return 0;
}

static PGresult *query(struct refresh *r, const char *sql, ExecStatusType want)
{
	PGresult *res = PQexec(r->conn, sql);
	char why[512];

	if (PQresultStatus(res) == want)
		return res;
	apidb__describe(res, why, sizeof(why));
	pf_log_limited(PF_LOG_WARNING, "refresh-query", "refresh: reading the lots failed: %s",
		       why);
	set_problem(r, APIDB_QUERY, "reading the lots failed (see the log)");
	PQclear(res);
	return NULL;
}

/* One read of everything. 0, or -1 after a failure (the connection may be gone). */
static int read_once(struct refresh *r)
{
	PGresult *state = NULL, *lots = NULL, *districts = NULL, *end;
	struct snap_meta meta = {.taken_us = app__real_us(), .replay_lag_s = -1};
	int rc = -1;

	end = query(r, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK);
	if (!end)
		return -1;
	PQclear(end);
	if (!(state = query(r, STATE_SQL, PGRES_TUPLES_OK)) ||
	    !(lots = query(r, LOTS_SQL, PGRES_TUPLES_OK)) ||
	    !(districts = query(r, DISTRICTS_SQL, PGRES_TUPLES_OK)))
		goto out;
	meta.standby = strcmp(PQgetvalue(state, 0, 0), "t") == 0;
	if (meta.standby && !PQgetisnull(state, 0, 1))
		meta.replay_lag_s = strtod(PQgetvalue(state, 0, 1), NULL);
	meta.schema_version = r->st.schema_version;
	meta.digest = digest_result(digest_result(1469598103934665603ULL, lots), districts);
	if (meta.digest != r->digest || !r->digest) {
		if (install(r, lots, districts, &meta) < 0) {
			set_problem(r, APIDB_QUERY, "out of memory building the snapshot");
			goto out;
		}
		r->digest = meta.digest;
	}
	pthread_mutex_lock(&r->lock);
	r->st.last_ok_mono_us = app__mono_us();
	r->st.error = APIDB_OK;
	r->st.problem[0] = '\0';
	r->st.standby = meta.standby;
	r->st.replay_lag_s = meta.replay_lag_s;
	pthread_mutex_unlock(&r->lock);
	rc = 0;
out:
	PQclear(state);
	PQclear(lots);
	PQclear(districts);
	PQclear(PQexec(r->conn, rc == 0 ? "COMMIT" : "ROLLBACK"));
	return rc;
}

static void disconnect(struct refresh *r)
{
	PQfinish(r->conn);
	r->conn = NULL;
}

/* Connect and check the schema. 0, or -1 with the problem recorded and logged. */
static int connect_db(struct refresh *r, const struct api_config *cfg)
{
	char why[768];
	int version;
	enum apidb_error e;

	r->conn = apidb__connect(cfg, r->password, "parkfeed-api", why, sizeof(why));
	if (!r->conn) {
		pf_log_limited(PF_LOG_WARNING, "refresh-connect",
			       "refresh: cannot connect to the database: %s", why);
		set_problem(r, APIDB_UNREACHABLE, "the database is unreachable (see the log)");
		return -1;
	}
	e = apidb__check_schema(r->conn, &version, why, sizeof(why));
	if (e != APIDB_OK) {
		pf_log_limited(PF_LOG_ERR, "refresh-schema", "refresh: %s", why);
		if (e == APIDB_SCHEMA_OLD)
			set_problem(r, e, "%s", why);
		else
			set_problem(r, e, "reading the schema version failed (see the log)");
		disconnect(r);
		return -1;
	}
	pthread_mutex_lock(&r->lock);
	r->st.schema_version = version;
	pthread_mutex_unlock(&r->lock);
	pf_notice("refresh: connected to the database (schema version %d)", version);
	return 0;
}

/* Sleep ms, or less when stopped or kicked. Returns true when stopping. */
static bool wait_ms(struct refresh *r, int ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->stop && !r->kick && pthread_cond_timedwait(&r->wake, &r->lock, &ts) != ETIMEDOUT)
		;
	r->kick = false;
	stop = r->stop;
	pthread_mutex_unlock(&r->lock);
	return stop;
}

static void *run(void *arg)
{
	struct refresh *r = arg;

	for (;;) {
		struct api_settings *s = app__settings(r->app);
		int sleep_ms = s->cfg.api.refresh_ms;

		pthread_mutex_lock(&r->lock);
		r->st.heartbeat_mono_us = app__mono_us();
		pthread_mutex_unlock(&r->lock);
		if (!r->conn && connect_db(r, &s->cfg) < 0) {
			r->backoff_s = r->backoff_s ? r->backoff_s * 2 : 1;
			if (r->backoff_s > s->cfg.postgres.reconnect_max)
				r->backoff_s = s->cfg.postgres.reconnect_max;
			sleep_ms = r->backoff_s * 1000;
		} else if (r->conn && read_once(r) < 0) {
			if (PQstatus(r->conn) != CONNECTION_OK) {
				pf_warn("refresh: the database connection is lost; reconnecting");
				disconnect(r);
				set_problem(r, APIDB_UNREACHABLE,
					    "the database is unreachable (see the log)");
			}
		} else {
			r->backoff_s = 0;
		}
		app__settings_unref(s);
		if (wait_ms(r, sleep_ms))
			break;
	}
	disconnect(r);
	return NULL;
}

int refresh__start(struct refresh **out, struct app *app, const char *password)
{
	struct refresh *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;
	int rc;

	if (!r)
		return -ENOMEM;
	r->app = app;
	if (password && !(r->password = strdup(password))) {
		free(r);
		return -ENOMEM;
	}
	snprintf(r->st.problem, sizeof(r->st.problem), "starting: the database was not read yet");
	r->st.error = APIDB_UNREACHABLE;
	r->st.replay_lag_s = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&r->thread, NULL, run, r);
	if (rc != 0) {
		pthread_cond_destroy(&r->wake);
		pthread_mutex_destroy(&r->lock);
		free(r->password);
		free(r);
		return -rc;
	}
	*out = r;
	return 0;
}

void refresh__status(struct refresh *r, struct refresh_status *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->st;
	pthread_mutex_unlock(&r->lock);
}

void refresh__kick(struct refresh *r)
{
	pthread_mutex_lock(&r->lock);
	r->kick = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

void refresh__stop(struct refresh *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	if (r->password)
		explicit_bzero(r->password, strlen(r->password));
	free(r->password);
	free(r);
}
