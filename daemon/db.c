/*
 * The PostgreSQL side: libpq without a single blocking call. Connects with PQconnectPoll,
 * then stays in pipeline mode: each transaction is a few prepared statement calls and a
 * Sync, and several can be in flight. The Sync's result is the durable point.
 *
 * The connection is a state machine (enum pf_db_state in db.h); set_state() is the only
 * place a state changes. A failure noticed anywhere closes the connection at once (FAILED),
 * and what was in flight is reported from the loop afterwards, so no caller ever sees a
 * callback from inside its own call.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db.h"
#include "pf_log.h"
#include "pf_version.h"
#include "sockwatch.h"

#define BACKOFF_MIN_MS 250

/* The first reconnect delay; a test hook (tests make it short), nothing configures it. */
int db__backoff_min_ms = BACKOFF_MIN_MS;

static const struct {
	const char *name;
	int nparams;
	const char *sql;
} stmts[PF_INGEST__N] = {
	[PF_INGEST_OCCUPANCY] = {"pf_occupancy", 9,
				 "SELECT parking.ingest_occupancy($1::text[], $2::bigint[], "
				 "$3::bigint[], $4::int[], $5::int[], $6::int[], $7::text[], "
				 "$8::bigint[], $9::text[])"},
	[PF_INGEST_STATUS] = {"pf_status", 8,
			      "SELECT parking.ingest_status($1::text[], $2::bigint[], "
			      "$3::boolean[], $4::text[], $5::text[], $6::text[], $7::boolean[], "
			      "$8::boolean[])"},
	[PF_INGEST_REJECTED] =
		{"pf_rejected", 7,
		 "SELECT parking.ingest_rejected($1::bigint[], $2::text[], $3::text[], "
		 "$4::text[], $5::text[], $6::bytea[], $7::int[])"},
};
#define FRESHNESS_STMT "pf_freshness"
#define FRESHNESS_SQL "SELECT online, stale, offline FROM parking.freshness_counts()"
static const struct {
	const char *name, *sql;
} feed_stmts[PF_DB_FEED__N] = {
	[PF_DB_FEED_LOTS] =
		{"pf_feed_lots",
		 "SELECT lot_id, name, district, address, lon, lat, free, total, "
		 "occupied, status, observed_us, changes FROM parking.feed_lots($1::text[])"},
	[PF_DB_FEED_DISTRICTS] =
		{"pf_feed_districts",
		 "SELECT district, lots, lots_reporting, lots_online, lots_stale, "
		 "lots_offline, free, total FROM parking.feed_districts($1::text[])"},
};
#define N_PREPARED (PF_INGEST__N + 1 + PF_DB_FEED__N)

static const char *const state_names[PF_DB__NSTATES] = {
	[PF_DB_IDLE] = "idle",		 [PF_DB_CONNECTING] = "connecting",
	[PF_DB_PREPARING] = "preparing", [PF_DB_READY] = "ready",
	[PF_DB_FAILED] = "failed",	 [PF_DB_BACKOFF] = "backoff",
	[PF_DB_STOPPED] = "stopped",
};

/* allowed[from] has bit `to` set for each transition the diagram in db.h shows. */
#define BIT(s) (1u << (s))
/* Read only by assert(): unused where NDEBUG is defined (release builds). */
static const unsigned allowed[PF_DB__NSTATES] __attribute__((unused)) = {
	[PF_DB_IDLE] = BIT(PF_DB_CONNECTING) | BIT(PF_DB_FAILED) | BIT(PF_DB_STOPPED),
	[PF_DB_CONNECTING] = BIT(PF_DB_PREPARING) | BIT(PF_DB_FAILED) | BIT(PF_DB_STOPPED),
	[PF_DB_PREPARING] = BIT(PF_DB_READY) | BIT(PF_DB_FAILED) | BIT(PF_DB_STOPPED),
	[PF_DB_READY] = BIT(PF_DB_FAILED) | BIT(PF_DB_STOPPED),
	[PF_DB_FAILED] = BIT(PF_DB_BACKOFF) | BIT(PF_DB_STOPPED),
	[PF_DB_BACKOFF] = BIT(PF_DB_CONNECTING) | BIT(PF_DB_FAILED) | BIT(PF_DB_STOPPED),
	[PF_DB_STOPPED] = 0,
};

static void set_state(struct pf_db *db, enum pf_db_state to)
{
	assert(allowed[db->state] & BIT(to));
	pf_debug("postgres: %s -> %s", state_names[db->state], state_names[to]);
	db->state = to;
}

const char *pf_db_state_name(enum pf_db_state s)
{
	return s < PF_DB__NSTATES ? state_names[s] : "?";
}

static void sync_poll(struct pf_db *db);
static void lose(struct pf_db *db, const char *why);

/* ---- handles ---- */

static void on_closed(uv_handle_t *h)
{
	struct pf_db *db = h->data;

	if (db->stopped_cb && --db->closing == 0)
		db->stopped_cb(db);
}

static void on_poll_closed(struct pf_sockwatch *w)
{
	struct pf_db *db = w->data;

	if (db->stopped_cb && --db->closing == 0)
		db->stopped_cb(db);
}

static void close_poll(struct pf_db *db)
{
	struct pf_sockwatch *w = db->poll;

	if (!w)
		return;
	db->poll = NULL;
	if (db->stopped_cb)
		db->closing++;
	pf_sockwatch_close(w, on_poll_closed);
}

static void close_conn(struct pf_db *db)
{
	close_poll(db);
	if (db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->want_write = false;
}

/* A failing dependency is logged once per change of cause, not per retry. */
static void note_error(struct pf_db *db, const char *what, const char *detail)
{
	bool same = strcmp(db->last_error, detail) == 0;

	pf_log(same ? PF_LOG_DEBUG : PF_LOG_WARNING,
	       "postgres: %s: %s; retrying with backoff (messages are kept in the spool)", what,
	       detail);
	snprintf(db->last_error, sizeof(db->last_error), "%s", detail);
}

/* libpq messages end in a newline and may span lines: keep the first line. */
static void first_line(char *dst, size_t cap, const char *src)
{
	size_t n = strcspn(src ? src : "", "\n");

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/* ---- losing the connection, and reporting it from the loop ---- */

static void on_retry(uv_timer_t *t);

static void schedule_retry(struct pf_db *db)
{
	int cap = db->cfg->postgres.reconnect_max * 1000;
	int delay;

	set_state(db, PF_DB_BACKOFF);
	db->backoff_ms = db->backoff_ms ? db->backoff_ms * 2 : db__backoff_min_ms;
	if (db->backoff_ms > cap)
		db->backoff_ms = cap;
	delay = db->backoff_ms / 2 + (int)(random() % (db->backoff_ms / 2 + 1));
	uv_timer_start(&db->retry_timer, on_retry, (uint64_t)delay, 0);
}

/* Take the oldest slot off the FIFO. */
static void pop(struct pf_db *db, enum db__kind *kind, void **tag, struct pf_db_result *res)
{
	int i = db->head;

	*kind = db->fifo[i].kind;
	*tag = db->fifo[i].tag;
	*res = db->fifo[i].res;
	db->head = (db->head + 1) % DB__SLOTS;
	db->count--;
	db->kinds[*kind]--;
	if (*kind == DB__INGEST)
		db->ingest--;
}

/* A feed question leaves the FIFO unanswered (failed, or lost): its asker hears so. */
static void tell_unanswered(pf_db_rows_fn cb, void *ctx, bool told)
{
	if (cb && !told)
		cb(ctx, NULL);
}

/* FAILED, on the next loop iteration: every transaction in flight has an unknown fate (the
 * caller resends; the ingest functions are idempotent). Then back off and reconnect. */
static void on_report(uv_timer_t *t)
{
	struct pf_db *db = t->data;
	bool was_ready = db->was_ready;

	if (db->state != PF_DB_FAILED)
		return;
	while (db->count > 0) {
		enum db__kind kind;
		struct pf_db_result res;
		pf_db_rows_fn rows_cb = db->fifo[db->head].rows_cb;
		void *rows_ctx = db->fifo[db->head].rows_ctx, *tag;
		bool told = db->fifo[db->head].told;

		pop(db, &kind, &tag, &res);
		if (kind == DB__FEED_LOTS || kind == DB__FEED_DISTRICTS) {
			tell_unanswered(rows_cb, rows_ctx, told);
			if (db->state != PF_DB_FAILED)
				return; /* stopped from the callback */
		}
		if (kind != DB__INGEST)
			continue;
		res.outcome = PF_DB_LOST;
		snprintf(res.message, sizeof(res.message), "%s", db->lost_why);
		db->cb.on_done(db->ctx, tag, &res);
		if (db->state != PF_DB_FAILED)
			return; /* stopped from the callback */
	}
	db->was_ready = false;
	schedule_retry(db);
	if (was_ready && db->cb.on_state)
		db->cb.on_state(db->ctx, false);
}

/* The one way out of a connection: close it now, report later. */
static void lose(struct pf_db *db, const char *why)
{
	char line[256];

	first_line(line, sizeof(line), why);
	if (db->state == PF_DB_FAILED || db->state == PF_DB_STOPPED)
		return;
	db->was_ready = db->state == PF_DB_READY;
	note_error(db, db->was_ready ? "connection lost" : "cannot connect", line);
	snprintf(db->lost_why, sizeof(db->lost_why), "%s", line);
	set_state(db, PF_DB_FAILED);
	close_conn(db);
	uv_timer_stop(&db->connect_timer);
	uv_timer_start(&db->report_timer, on_report, 0, 0);
}

/* ---- connection ---- */

static void on_connect_timeout(uv_timer_t *t)
{
	struct pf_db *db = t->data;

	if (db->state == PF_DB_CONNECTING || db->state == PF_DB_PREPARING)
		lose(db, "timed out ([postgres] connect_timeout)");
}

static void begin_connect(struct pf_db *db)
{
	/* Ours come after the conninfo's keywords (expand_dbname) and so override them: the
	 * password, a default application name, and UTF-8, which every text column and the
	 * daemon's records are in (a database in another encoding converts). */
	const char *keys[5] = {"dbname", "fallback_application_name", "client_encoding", NULL,
			       NULL};
	const char *vals[5] = {db->cfg->postgres.conninfo, "parkfeedd", "UTF8", NULL, NULL};
	char err[256];
	char *pw = NULL;

	set_state(db, PF_DB_CONNECTING);
	if (db->cfg->postgres.password_file[0]) {
		pw = pf_config_read_secret(db->cfg->postgres.password_file, err, sizeof(err));
		if (!pw) {
			lose(db, err);
			return;
		}
		keys[3] = "password";
		vals[3] = pw;
	}
	/* Host names in the conninfo are resolved by libpq with a blocking call: use hostaddr=
	 * or an address in host= (documented in parkfeed.conf). */
	db->conn = PQconnectStartParams(keys, vals, 1);
	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD) {
		lose(db, db->conn ? PQerrorMessage(db->conn) : "out of memory");
		return;
	}
	db->want_write = true; /* PQconnectPoll starts as if it had said POLLING_WRITING */
	uv_timer_start(&db->connect_timer, on_connect_timeout,
		       (uint64_t)db->cfg->postgres.connect_timeout * 1000, 0);
	sync_poll(db);
}

static void on_retry(uv_timer_t *t)
{
	struct pf_db *db = t->data;

	if (db->state == PF_DB_BACKOFF)
		begin_connect(db);
}

/*
 * Notices of the ingest functions. A warning with SQLSTATE 01PF1 is parking.ingest_limits
 * refusing messages of unknown lots ("lot limit: refused N ..."): counted and logged, rate
 * limited since a flood repeats it per batch. Other warnings are logged; the rest is chatter.
 */
static void notice_receiver(void *arg, const PGresult *r)
{
	struct pf_db *db = arg;
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
	char line[256];
	unsigned long long n;

	first_line(line, sizeof(line), msg ? msg : "");
	if (code && strcmp(code, "01PF1") == 0) {
		if (sscanf(line, "lot limit: refused %llu", &n) == 1)
			db->lot_limit_refused += n;
		pf_log_limited(PF_LOG_WARNING, "lot_limit", "postgres: %s (%s)", line,
			       hint ? hint : "see parkfeedctl limits");
	} else if (sev && strcmp(sev, "WARNING") == 0) {
		pf_log_limited(PF_LOG_WARNING, "pg_warning", "postgres: %s", line);
	} else {
		pf_debug("postgres: %s", line);
	}
}

/* Returns false when the connection was lost meanwhile. */
static bool start_prepare(struct pf_db *db)
{
	const char *prefix = db->cfg->mqtt.topic_prefix;
	bool ok;

	PQsetNoticeReceiver(db->conn, notice_receiver, db);
	ok = PQsetnonblocking(db->conn, 1) == 0 && PQenterPipelineMode(db->conn) == 1;
	/* The ingest functions name the topic of a message they refuse (lot_limit) after it. */
	ok = ok && PQsendQueryParams(db->conn,
				     "SELECT set_config('parkfeed.topic_prefix', $1, "
				     "false)",
				     1, NULL, &prefix, NULL, NULL, 0);
	/* Which schema this is: the statements below are this build's, so only its version
	 * will do (checked in prepared_result; a mismatch fails before any ingest). */
	ok = ok && PQsendQueryParams(db->conn, "SELECT parking.schema_version()", 0, NULL, NULL,
				     NULL, NULL, 0);
	for (int i = 0; ok && i < PF_INGEST__N; i++)
		ok = PQsendPrepare(db->conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
	ok = ok && PQsendPrepare(db->conn, FRESHNESS_STMT, FRESHNESS_SQL, 0, NULL);
	for (int i = 0; ok && i < PF_DB_FEED__N; i++)
		ok = PQsendPrepare(db->conn, feed_stmts[i].name, feed_stmts[i].sql, 1, NULL);
	ok = ok && PQpipelineSync(db->conn);
	if (!ok) {
		lose(db, PQerrorMessage(db->conn));
		return false;
	}
	set_state(db, PF_DB_PREPARING);
	db->prepare_pending = N_PREPARED;
	db->prepare_results = 0;
	db->want_write = true;
	return true;
}

static void connect_step(struct pf_db *db)
{
	switch (PQconnectPoll(db->conn)) {
	case PGRES_POLLING_READING:
		db->want_write = false;
		break;
	case PGRES_POLLING_WRITING:
		db->want_write = true;
		break;
	case PGRES_POLLING_OK:
		start_prepare(db);
		break;
	case PGRES_POLLING_FAILED:
	default:
		lose(db, PQerrorMessage(db->conn));
		break;
	}
}

/* ---- results ---- */

static enum pf_db_outcome classify(const char *sqlstate)
{
	/* Class 22 data exception, 23 integrity violation, 54 program limit: the data itself
	 * is refused and retrying it unchanged can never succeed. Anything else (privileges,
	 * missing functions, shutdown, resources) is a condition that can be fixed. */
	if (sqlstate && (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
			 strncmp(sqlstate, "54", 2) == 0))
		return PF_DB_POISON;
	return PF_DB_TRANSIENT;
}

/* The answer of parking.schema_version(): 0, or -1 with the connection given up. */
static int check_schema(struct pf_db *db, PGresult *r)
{
	const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	long v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	if (v == PF_SCHEMA_VERSION) {
		db->schema_problem[0] = '\0';
		return 0;
	}
	if (v > PF_SCHEMA_VERSION)
		snprintf(db->schema_problem, sizeof(db->schema_problem),
			 "the database schema is at version %ld, newer than this parkfeedd (%s) "
			 "knows (%d): upgrade parkfeedd",
			 v, PF_VERSION, PF_SCHEMA_VERSION);
	else if (v >= 0 || (code && (strcmp(code, "42883") == 0 || strcmp(code, "3F000") == 0 ||
				     strcmp(code, "42P01") == 0)))
		snprintf(db->schema_problem, sizeof(db->schema_problem),
			 "the database schema is at version %s, this parkfeedd needs %d: run "
			 "parkfeedctl migrate",
			 v >= 0 ? PQgetvalue(r, 0, 0) : "6 or older", PF_SCHEMA_VERSION);
	else
		return 1; /* another error: reported as such */
	lose(db, db->schema_problem);
	return -1;
}

static void prepared_result(struct pf_db *db, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_PIPELINE_SYNC) {
		if (db->prepare_pending > 0)
			return; /* an error was reported already */
		set_state(db, PF_DB_READY);
		db->backoff_ms = 0;
		db->connects++;
		uv_timer_stop(&db->connect_timer);
		if (db->last_error[0] || db->connects == 1)
			pf_notice(
				"postgres: connected (server %d, pipeline mode, schema version %d)",
				PQserverVersion(db->conn), PF_SCHEMA_VERSION);
		db->last_error[0] = '\0';
		if (db->cb.on_state)
			db->cb.on_state(db->ctx, true);
		return;
	}
	if (db->prepare_results++ == 1 && check_schema(db, r) <= 0)
		return;
	if (st == PGRES_COMMAND_OK) {
		db->prepare_pending--;
		return;
	}
	if (st == PGRES_FATAL_ERROR) {
		char line[160], msg[256];

		first_line(line, sizeof(line), PQresultErrorMessage(r));
		snprintf(msg, sizeof(msg),
			 "%s (has `parkfeedctl migrate` been run, and is the login role granted "
			 "parkfeed_ingest?)",
			 line);
		lose(db, msg);
	}
}

/* The Sync of the head transaction has come back: it is over. */
static void finish_head(struct pf_db *db)
{
	enum db__kind kind;
	struct pf_db_result res;
	pf_db_rows_fn rows_cb = db->fifo[db->head].rows_cb;
	void *rows_ctx = db->fifo[db->head].rows_ctx, *tag;
	bool told = db->fifo[db->head].told;

	pop(db, &kind, &tag, &res);
	if (kind == DB__INGEST)
		db->cb.on_done(db->ctx, tag, &res);
	else if (kind == DB__FEED_LOTS || kind == DB__FEED_DISTRICTS)
		tell_unanswered(rows_cb, rows_ctx, told);
}

/* A feed question's rows, or its error (logged; the asker hears at the Sync). */
static void feed_result(struct pf_db *db, int slot, PGresult *r)
{
	struct pf_db_rows rows = {.res = r, .n = PQntuples(r)};
	char line[200];

	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		db->fifo[slot].told = true;
		db->fifo[slot].rows_cb(db->fifo[slot].rows_ctx, &rows);
		return;
	}
	if (PQresultStatus(r) == PGRES_PIPELINE_ABORTED)
		return;
	first_line(line, sizeof(line), PQresultErrorMessage(r));
	pf_log_limited(PF_LOG_WARNING, "feed-query",
		       "postgres: the live feed's question failed: %s", line);
}

const char *pf_db_cell(const struct pf_db_rows *rows, int row, int col)
{
	const PGresult *r = (const PGresult *)rows->res;

	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* One result of the transaction at the head of the FIFO. */
static void query_result(struct pf_db *db, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);
	int slot = db->head;
	struct pf_db_result *res = &db->fifo[slot].res;
	int q;

	if (st == PGRES_PIPELINE_SYNC) {
		finish_head(db);
		return;
	}
	q = db->fifo[slot].answered++;
	if (db->fifo[slot].kind == DB__FEED_LOTS || db->fifo[slot].kind == DB__FEED_DISTRICTS) {
		feed_result(db, slot, r);
		return;
	}
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		if (db->fifo[slot].kind == DB__FRESHNESS) {
			int64_t counts[3];

			if (PQntuples(r) != 1 || PQnfields(r) != 3 || !db->cb.on_freshness)
				return;
			for (int i = 0; i < 3; i++)
				counts[i] = strtoll(PQgetvalue(r, 0, i), NULL, 10);
			db->cb.on_freshness(db->ctx, counts);
			return;
		}
		if (q < PF_INGEST__N && db->fifo[slot].calls[q] == PF_INGEST_OCCUPANCY &&
		    PQntuples(r) == 1 && PQnfields(r) == 1 && !PQgetisnull(r, 0, 0))
			res->inserted += strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		return;
	}
	if (st == PGRES_PIPELINE_ABORTED || res->outcome != PF_DB_OK)
		return; /* the first error is the one that matters */
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	snprintf(res->sqlstate, sizeof(res->sqlstate), "%s", state ? state : "");
	/* The primary message alone: PQresultErrorMessage adds "ERROR:  " and context lines. */
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	first_line(res->message, sizeof(res->message), primary ? primary : PQresultErrorMessage(r));
	res->outcome = classify(state);
}

/* Hand out every result that has arrived. A callback may send (and so lose the connection):
 * the state is checked again after each one. */
static void drain_results(struct pf_db *db)
{
	int nulls = 0;

	while (db->conn && !PQisBusy(db->conn)) {
		enum pf_db_state before = db->state;
		bool expecting =
			db->state == PF_DB_PREPARING || (db->state == PF_DB_READY && db->count > 0);
		PGresult *r;

		if (!expecting)
			break;
		r = PQgetResult(db->conn);
		if (!r) {
			/* End of one query's results in pipeline mode; two in a row means
			 * nothing more has arrived yet. */
			if (++nulls > 1)
				break;
			continue;
		}
		nulls = 0;
		if (before == PF_DB_PREPARING)
			prepared_result(db, r);
		else
			query_result(db, r);
		PQclear(r);
		if (db->state != PF_DB_READY && db->state != PF_DB_PREPARING)
			return; /* lost (or stopped) meanwhile */
		if (PQstatus(db->conn) == CONNECTION_BAD) {
			lose(db, PQerrorMessage(db->conn));
			return;
		}
	}
}

/* ---- I/O ---- */

/* Returns false when the connection was lost. */
static bool do_flush(struct pf_db *db)
{
	int rc = PQflush(db->conn);

	if (rc < 0) {
		lose(db, PQerrorMessage(db->conn));
		return false;
	}
	db->want_write = rc == 1;
	return true;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct pf_sockwatch *w = h->data;
	struct pf_db *db = w->data;

	/* status < 0: libuv has stopped the handle because the socket has an error (it says
	 * EBADF for any POLLERR, whatever the error: its text would mislead). */
	if (status < 0)
		pf_sockwatch_stopped(w);
	if (status < 0 && db->state != PF_DB_CONNECTING) {
		/* Read what arrived before the error, so the server's own words reach the log,
		 * then give the connection up: a TCP socket in error never recovers. */
		if (db->conn && db->state == PF_DB_READY && PQconsumeInput(db->conn))
			drain_results(db);
		if (db->conn)
			lose(db, PQstatus(db->conn) == CONNECTION_BAD
					 ? PQerrorMessage(db->conn)
					 : "the connection's socket reported an error (reset or "
					   "unreachable)");
		return;
	}
	if (db->state == PF_DB_CONNECTING) {
		/* also after an error: PQconnectPoll reads the socket's error and says what it
		 * was (refused, unreachable), or tries the server's next address */
		connect_step(db);
		if (db->state == PF_DB_PREPARING && do_flush(db))
			sync_poll(db);
		else if (db->state == PF_DB_CONNECTING)
			sync_poll(db);
		return;
	}
	if ((events & UV_READABLE) && db->conn) {
		if (!PQconsumeInput(db->conn)) {
			lose(db, PQerrorMessage(db->conn));
			return;
		}
		drain_results(db);
	}
	/* Flush while writable, and read meanwhile: the server may be blocked on its own
	 * output until we read (libpq docs, "Asynchronous Command Processing"). */
	if (db->conn && db->want_write && (events & UV_WRITABLE) && !do_flush(db))
		return;
	if (db->conn)
		sync_poll(db);
}

static void sync_poll(struct pf_db *db)
{
	int fd = db->conn ? PQsocket(db->conn) : -1;
	int events, rc;

	/* PQconnectPoll may replace the socket, even by one with the same number. */
	if (db->poll && (fd < 0 || !pf_sockwatch_same(db->poll, fd, db->state == PF_DB_CONNECTING)))
		close_poll(db);
	if (fd < 0 || db->stopped_cb)
		return;
	if (!db->poll) {
		db->poll = pf_sockwatch_open(db->loop, fd, db);
		if (!db->poll) {
			char why[128];

			snprintf(why, sizeof(why), "cannot watch the connection's socket: %s",
				 strerror(errno));
			lose(db, why);
			return;
		}
	}
	events = db->want_write ? UV_WRITABLE : 0;
	if (db->state != PF_DB_CONNECTING || !db->want_write)
		events |= UV_READABLE;
	rc = pf_sockwatch_set(db->poll, events, on_poll);
	if (rc < 0) {
		char why[128];

		snprintf(why, sizeof(why), "cannot watch the connection's socket: %s",
			 uv_strerror(rc));
		lose(db, why);
	}
}

/* ---- public verbs ---- */

int pf_db_init(struct pf_db *db, uv_loop_t *loop, const struct pf_config *cfg,
	       const struct pf_db_callbacks *cb, void *ctx)
{
	uv_timer_t *timers[] = {&db->retry_timer, &db->connect_timer, &db->report_timer};

	memset(db, 0, sizeof(*db));
	db->loop = loop;
	db->cfg = cfg;
	db->cb = *cb;
	db->ctx = ctx;
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		if (uv_timer_init(loop, timers[i]) != 0)
			return -ENOMEM;
		timers[i]->data = db;
	}
	return 0;
}

void pf_db_start(struct pf_db *db)
{
	begin_connect(db);
}

bool pf_db_ready(const struct pf_db *db)
{
	return db->state == PF_DB_READY;
}

int pf_db_inflight(const struct pf_db *db)
{
	return db->ingest;
}

static int push(struct pf_db *db, enum db__kind kind, void *tag)
{
	int slot = (db->head + db->count) % DB__SLOTS;

	memset(&db->fifo[slot], 0, sizeof(db->fifo[slot]));
	db->fifo[slot].kind = kind;
	db->fifo[slot].tag = tag;
	db->count++;
	db->kinds[kind]++;
	if (kind == DB__INGEST)
		db->ingest++;
	return slot;
}

int pf_db_send(struct pf_db *db, const struct pf_ingest_query *q, int nq, void *tag)
{
	int slot;

	if (nq < 1 || nq > PF_INGEST__N)
		return -EINVAL;
	if (db->state != PF_DB_READY || db->ingest >= PF_DB_MAX_INFLIGHT ||
	    db->ingest >= db->cfg->ingest.pipeline_depth)
		return -EAGAIN;
	for (int i = 0; i < nq; i++) {
		const struct pf_ingest_query *qq = &q[i];

		if (!PQsendQueryPrepared(db->conn, stmts[qq->call].name, stmts[qq->call].nparams,
					 qq->params, NULL, NULL, 0)) {
			lose(db, PQerrorMessage(db->conn));
			return -EIO;
		}
	}
	if (!PQpipelineSync(db->conn)) {
		lose(db, PQerrorMessage(db->conn));
		return -EIO;
	}
	/* From here the transaction may commit: it is in flight, whatever happens next. */
	slot = push(db, DB__INGEST, tag);
	for (int i = 0; i < nq; i++)
		db->fifo[slot].calls[i] = q[i].call;
	if (do_flush(db))
		sync_poll(db);
	return 0;
}

int pf_db_ask_freshness(struct pf_db *db)
{
	if (db->state != PF_DB_READY || db->kinds[DB__FRESHNESS] > 0)
		return -EAGAIN;
	if (!PQsendQueryPrepared(db->conn, FRESHNESS_STMT, 0, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(db->conn)) {
		lose(db, PQerrorMessage(db->conn));
		return -EIO;
	}
	push(db, DB__FRESHNESS, NULL);
	if (do_flush(db))
		sync_poll(db);
	return 0;
}

int pf_db_ask_feed(struct pf_db *db, enum pf_db_feed which, const char *param, pf_db_rows_fn cb,
		   void *ctx)
{
	enum db__kind kind = which == PF_DB_FEED_LOTS ? DB__FEED_LOTS : DB__FEED_DISTRICTS;
	int slot;

	if (db->state != PF_DB_READY || db->kinds[kind] > 0)
		return -EAGAIN;
	if (!PQsendQueryPrepared(db->conn, feed_stmts[which].name, 1, &param, NULL, NULL, 0) ||
	    !PQpipelineSync(db->conn)) {
		lose(db, PQerrorMessage(db->conn));
		return -EIO;
	}
	slot = push(db, kind, NULL);
	db->fifo[slot].rows_cb = cb;
	db->fifo[slot].rows_ctx = ctx;
	if (do_flush(db))
		sync_poll(db);
	return 0;
}

void pf_db_reset(struct pf_db *db, const char *why)
{
	if (db->state == PF_DB_CONNECTING || db->state == PF_DB_PREPARING ||
	    db->state == PF_DB_READY)
		lose(db, why);
}

void pf_db_stop(struct pf_db *db, void (*cb)(struct pf_db *db))
{
	uv_timer_t *timers[] = {&db->retry_timer, &db->connect_timer, &db->report_timer};

	db->stopped_cb = cb;
	db->closing = (int)(sizeof(timers) / sizeof(timers[0]));
	db->head = db->count = db->ingest = 0;
	memset(db->kinds, 0, sizeof(db->kinds));
	close_poll(db);
	close_conn(db);
	if (db->state != PF_DB_STOPPED)
		set_state(db, PF_DB_STOPPED);
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		uv_close((uv_handle_t *)timers[i], on_closed);
}
