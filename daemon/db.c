/*
 * The PostgreSQL side: libpq without a single blocking call. Connects with PQconnectPoll,
 * then stays in pipeline mode: each transaction is a few prepared statement calls and a
 * Sync, and several can be in flight. The Sync's result is the durable point.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db.h"
#include "pf_log.h"

#define BACKOFF_MIN_MS 250

struct db__poll {
	uv_poll_t handle;
	int fd;
	int events;
	struct pf_db *db;
};

static const struct {
	const char *name;
	int nparams;
	const char *sql;
} stmts[PF_DB__NSTMT] = {
	[PF_DB_OCCUPANCY] =
		{"pf_occupancy", 9,
		 "SELECT parking.ingest_occupancy($1::text[], $2::bigint[], $3::bigint[], "
		 "$4::int[], $5::int[], $6::int[], $7::text[], $8::bigint[], $9::text[])"},
	[PF_DB_STATUS] = {"pf_status", 7,
			  "SELECT parking.ingest_status($1::text[], $2::bigint[], $3::boolean[], "
			  "$4::text[], $5::text[], $6::text[], $7::boolean[])"},
	[PF_DB_REJECTED] = {"pf_rejected", 7,
			    "SELECT parking.ingest_rejected($1::bigint[], $2::text[], $3::text[], "
			    "$4::text[], $5::text[], $6::bytea[], $7::int[])"},
	[PF_DB_FRESHNESS] = {"pf_freshness", 0,
			     "SELECT online, stale, offline FROM parking.freshness_counts()"},
};

static void sync_poll(struct pf_db *db);
static void connection_lost(struct pf_db *db, const char *why);

/* ---- handles ---- */

static void on_closed(uv_handle_t *h)
{
	struct pf_db *db = h->data;

	if (db->stopped_cb && --db->closing == 0)
		db->stopped_cb(db);
}

static void on_poll_closed(uv_handle_t *h)
{
	struct db__poll *p = h->data;
	struct pf_db *db = p->db;

	free(p);
	if (db->stopped_cb && --db->closing == 0)
		db->stopped_cb(db);
}

static void close_poll(struct pf_db *db)
{
	struct db__poll *p = db->poll;

	if (!p)
		return;
	db->poll = NULL;
	uv_poll_stop(&p->handle);
	if (db->stopped_cb)
		db->closing++;
	uv_close((uv_handle_t *)&p->handle, on_poll_closed);
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

/* ---- connection ---- */

static void on_retry(uv_timer_t *t);
static void on_poll(uv_poll_t *h, int status, int events);

static void schedule_retry(struct pf_db *db)
{
	int cap = db->cfg->postgres.reconnect_max * 1000;
	int delay;

	close_poll(db);
	if (db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	uv_timer_stop(&db->connect_timer);
	if (db->stopped_cb)
		return;
	db->state = PF_DB_BACKOFF;
	db->backoff_ms = db->backoff_ms ? db->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (db->backoff_ms > cap)
		db->backoff_ms = cap;
	delay = db->backoff_ms / 2 + (int)(random() % (db->backoff_ms / 2 + 1));
	uv_timer_start(&db->retry_timer, on_retry, (uint64_t)delay, 0);
}

static void connect_failed(struct pf_db *db, const char *why)
{
	char line[256];

	first_line(line, sizeof(line), why);
	note_error(db, "cannot connect", line);
	schedule_retry(db);
}

static void on_connect_timeout(uv_timer_t *t)
{
	struct pf_db *db = t->data;

	if (db->state == PF_DB_CONNECTING || db->state == PF_DB_PREPARING)
		connect_failed(db, "timed out ([postgres] connect_timeout)");
}

static void begin_connect(struct pf_db *db)
{
	const char *keys[4] = {"dbname", "fallback_application_name", NULL, NULL};
	const char *vals[4] = {db->cfg->postgres.conninfo, "parkfeedd", NULL, NULL};
	char err[256];
	char *pw = NULL;

	if (db->cfg->postgres.password_file[0]) {
		pw = pf_config_read_secret(db->cfg->postgres.password_file, err, sizeof(err));
		if (!pw) {
			connect_failed(db, err);
			return;
		}
		keys[2] = "password";
		vals[2] = pw;
	}
	/* expand_dbname: the conninfo string supplies every keyword; ours come after and
	 * so override (only the password and a default application name). Host names in
	 * the conninfo are resolved by libpq with a blocking call: use hostaddr= or an
	 * address in host= (documented in parkfeed.conf). */
	db->conn = PQconnectStartParams(keys, vals, 1);
	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD) {
		connect_failed(db, db->conn ? PQerrorMessage(db->conn) : "out of memory");
		return;
	}
	db->state = PF_DB_CONNECTING;
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

static void start_prepare(struct pf_db *db)
{
	const char *prefix = db->cfg->mqtt.topic_prefix;

	PQsetNoticeReceiver(db->conn, notice_receiver, db);
	if (PQsetnonblocking(db->conn, 1) != 0 || PQenterPipelineMode(db->conn) != 1) {
		connect_failed(db, PQerrorMessage(db->conn));
		return;
	}
	/* The ingest functions name the topic of a message they refuse (lot_limit) after it. */
	if (!PQsendQueryParams(db->conn, "SELECT set_config('parkfeed.topic_prefix', $1, false)", 1,
			       NULL, &prefix, NULL, NULL, 0)) {
		connect_failed(db, PQerrorMessage(db->conn));
		return;
	}
	for (int i = 0; i < PF_DB__NSTMT; i++) {
		if (!PQsendPrepare(db->conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL)) {
			connect_failed(db, PQerrorMessage(db->conn));
			return;
		}
	}
	if (!PQpipelineSync(db->conn)) {
		connect_failed(db, PQerrorMessage(db->conn));
		return;
	}
	db->state = PF_DB_PREPARING;
	db->prepare_pending = PF_DB__NSTMT;
	db->want_write = true;
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
		connect_failed(db, PQerrorMessage(db->conn));
		return;
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

static void prepared_result(struct pf_db *db, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_PIPELINE_SYNC) {
		if (db->prepare_pending > 0)
			return; /* an error was reported already */
		db->state = PF_DB_READY;
		db->backoff_ms = 0;
		db->connects++;
		uv_timer_stop(&db->connect_timer);
		if (db->last_error[0] || db->connects == 1)
			pf_notice("postgres: connected (server %d, pipeline mode)",
				  PQserverVersion(db->conn));
		db->last_error[0] = '\0';
		if (db->cb.on_state)
			db->cb.on_state(db->ctx, true);
		return;
	}
	if (st == PGRES_COMMAND_OK) {
		db->prepare_pending--;
		return;
	}
	if (st == PGRES_FATAL_ERROR) {
		char line[160], msg[256];
		first_line(line, sizeof(line), PQresultErrorMessage(r));
		snprintf(msg, sizeof(msg),
			 "%s (has `parkfeedctl migrate` been run, and is the "
			 "login role granted parkfeed_ingest?)",
			 line);
		db->prepare_pending = -1;
		connect_failed(db, msg);
	}
}

static void finish_head(struct pf_db *db)
{
	int i = db->head;
	void *tag = db->fifo[i].tag;
	struct pf_db_result res = db->fifo[i].res;

	db->head = (db->head + 1) % PF_DB_MAX_INFLIGHT;
	db->count--;
	db->cb.on_done(db->ctx, tag, &res);
}

static void query_result(struct pf_db *db, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);
	struct pf_db_result *res = &db->fifo[db->head].res;

	if (st == PGRES_PIPELINE_SYNC) {
		finish_head(db);
		return;
	}
	int q = db->fifo[db->head].answered++;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		enum pf_db_stmt stmt =
			q < PF_DB__NSTMT ? db->fifo[db->head].stmts[q] : PF_DB__NSTMT;
		if (stmt == PF_DB_OCCUPANCY && PQntuples(r) == 1 && PQnfields(r) == 1 &&
		    !PQgetisnull(r, 0, 0))
			res->inserted += strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		if (stmt == PF_DB_FRESHNESS && PQntuples(r) == 1 && PQnfields(r) == 3)
			for (int i = 0; i < 3; i++)
				res->values[i] = strtoll(PQgetvalue(r, 0, i), NULL, 10);
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

static void drain_results(struct pf_db *db)
{
	int nulls = 0;

	while (db->conn && !PQisBusy(db->conn)) {
		bool expecting = db->state == PF_DB_PREPARING || db->count > 0;
		if (!expecting)
			break;
		PGresult *r = PQgetResult(db->conn);
		if (!r) {
			/* End of one query's results in pipeline mode; two in a row means
			 * nothing more has arrived yet. */
			if (++nulls > 1)
				break;
			continue;
		}
		nulls = 0;
		if (db->state == PF_DB_PREPARING)
			prepared_result(db, r);
		else
			query_result(db, r);
		PQclear(r);
		if (!db->conn)
			return; /* the result made us give up this connection */
		if (PQstatus(db->conn) == CONNECTION_BAD) {
			connection_lost(db, PQerrorMessage(db->conn));
			return;
		}
	}
}

static void connection_lost(struct pf_db *db, const char *why)
{
	char line[256];
	bool was_ready = db->state == PF_DB_READY;

	first_line(line, sizeof(line), why);
	db->state = PF_DB_BACKOFF; /* nothing may be sent from the callbacks below */
	/* Every transaction in flight has an unknown fate: the caller resends (idempotent). */
	while (db->count > 0) {
		struct pf_db_result *res = &db->fifo[db->head].res;
		res->outcome = PF_DB_LOST;
		snprintf(res->message, sizeof(res->message), "%s", line);
		finish_head(db);
	}
	note_error(db, "connection lost", line);
	schedule_retry(db);
	if (was_ready && db->cb.on_state)
		db->cb.on_state(db->ctx, false);
}

/* ---- I/O ---- */

static void do_flush(struct pf_db *db)
{
	int rc = PQflush(db->conn);

	if (rc < 0)
		connection_lost(db, PQerrorMessage(db->conn));
	else
		db->want_write = rc == 1;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct db__poll *p = h->data;
	struct pf_db *db = p->db;

	if (status < 0)
		events = UV_READABLE | UV_WRITABLE; /* let libpq find out what is wrong */
	if (db->state == PF_DB_CONNECTING) {
		connect_step(db);
		if (db->state == PF_DB_PREPARING)
			do_flush(db);
		sync_poll(db);
		return;
	}
	if ((events & UV_READABLE) && db->conn) {
		if (!PQconsumeInput(db->conn)) {
			connection_lost(db, PQerrorMessage(db->conn));
			return;
		}
		drain_results(db);
	}
	/* Flush while writable, and read meanwhile: the server may be blocked on its own
	 * output until we read (libpq docs, "Asynchronous Command Processing"). */
	if (db->conn && db->want_write && (events & UV_WRITABLE))
		do_flush(db);
	sync_poll(db);
}

static void sync_poll(struct pf_db *db)
{
	int fd = db->conn ? PQsocket(db->conn) : -1;
	int events;

	if (db->poll && db->poll->fd != fd)
		close_poll(db); /* the socket may change between PQconnectPoll calls */
	if (fd < 0 || db->stopped_cb)
		return;
	if (!db->poll) {
		struct db__poll *p = calloc(1, sizeof(*p));
		if (!p) {
			pf_err("postgres: out of memory for a socket watcher");
			return;
		}
		p->fd = fd;
		p->db = db;
		p->handle.data = p;
		if (uv_poll_init_socket(db->loop, &p->handle, fd) != 0) {
			free(p);
			pf_err("postgres: cannot watch socket %d", fd);
			return;
		}
		db->poll = p;
	}
	events = db->want_write ? UV_WRITABLE : 0;
	if (db->state != PF_DB_CONNECTING || !db->want_write)
		events |= UV_READABLE;
	if (events != db->poll->events) {
		db->poll->events = events;
		uv_poll_start(&db->poll->handle, events, on_poll);
	}
}

/* ---- public verbs ---- */

int pf_db_init(struct pf_db *db, uv_loop_t *loop, const struct pf_config *cfg,
	       const struct pf_db_callbacks *cb, void *ctx)
{
	memset(db, 0, sizeof(*db));
	db->loop = loop;
	db->cfg = cfg;
	db->cb = *cb;
	db->ctx = ctx;
	if (uv_timer_init(loop, &db->retry_timer) || uv_timer_init(loop, &db->connect_timer))
		return -ENOMEM;
	db->retry_timer.data = db;
	db->connect_timer.data = db;
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
	return db->count;
}

int pf_db_send(struct pf_db *db, const struct pf_db_query *q, int nq, void *tag)
{
	int slot;

	if (nq < 1 || nq > PF_DB__NSTMT)
		return -EINVAL;
	if (db->state != PF_DB_READY || db->count >= PF_DB_MAX_INFLIGHT ||
	    db->count >= db->cfg->ingest.pipeline_depth)
		return -EAGAIN;
	for (int i = 0; i < nq; i++) {
		const struct pf_db_query *qq = &q[i];
		if (!PQsendQueryPrepared(db->conn, stmts[qq->stmt].name, stmts[qq->stmt].nparams,
					 qq->params, NULL, NULL, 0)) {
			connection_lost(db, PQerrorMessage(db->conn));
			return -EIO;
		}
	}
	if (!PQpipelineSync(db->conn)) {
		connection_lost(db, PQerrorMessage(db->conn));
		return -EIO;
	}
	slot = (db->head + db->count) % PF_DB_MAX_INFLIGHT;
	memset(&db->fifo[slot], 0, sizeof(db->fifo[slot]));
	db->fifo[slot].tag = tag;
	db->fifo[slot].queries = nq;
	for (int i = 0; i < nq && i < PF_DB__NSTMT; i++)
		db->fifo[slot].stmts[i] = q[i].stmt;
	db->count++;
	do_flush(db);
	if (db->conn)
		sync_poll(db);
	return 0;
}

void pf_db_stop(struct pf_db *db, void (*cb)(struct pf_db *db))
{
	db->stopped_cb = cb;
	db->closing = 2;
	while (db->count > 0) {
		struct pf_db_result *res = &db->fifo[db->head].res;
		res->outcome = PF_DB_LOST;
		snprintf(res->message, sizeof(res->message), "shutting down");
		finish_head(db);
	}
	close_poll(db);
	if (db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->state = PF_DB_STOPPED;
	uv_close((uv_handle_t *)&db->retry_timer, on_closed);
	uv_close((uv_handle_t *)&db->connect_timer, on_closed);
}
