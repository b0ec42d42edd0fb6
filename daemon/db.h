/* The PostgreSQL side: owns the PGconn and drives it, non-blocking and pipelined, from libuv. */
#ifndef PF_DB_H
#define PF_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "pf_config.h"

struct pg_conn;
struct db__poll;

/* The prepared statements: the schema's ingest functions (schema/001_base.sql). */
enum pf_db_stmt {
	PF_DB_OCCUPANCY = 0,
	PF_DB_STATUS,
	PF_DB_REJECTED,
	PF_DB_FRESHNESS, /* lots online / stale / offline, for the metrics */
	PF_DB__NSTMT
};
#define PF_DB_MAX_PARAMS 9
#define PF_DB_MAX_INFLIGHT 64

struct pf_db_query {
	enum pf_db_stmt stmt;
	const char *params[PF_DB_MAX_PARAMS]; /* text-format values; copied at send */
};

enum pf_db_outcome {
	PF_DB_OK = 0,
	PF_DB_POISON,	 /* the server refused the data itself (SQLSTATE 22, 23, 54) */
	PF_DB_TRANSIENT, /* anything else the server said: retry later */
	PF_DB_LOST,	 /* connection lost with the transaction's fate unknown */
};

struct pf_db_result {
	enum pf_db_outcome outcome;
	char sqlstate[6];
	char message[256];
	int64_t inserted;  /* rows ingest_occupancy reported new */
	int64_t values[3]; /* freshness_counts: online, stale, offline */
};

struct pf_db_callbacks {
	/* Once per pf_db_send, in send order, with the transaction's outcome. */
	void (*on_done)(void *ctx, void *tag, const struct pf_db_result *res);
	void (*on_state)(void *ctx, bool ready);
};

enum pf_db_state {
	PF_DB_IDLE = 0,
	PF_DB_CONNECTING, /* PQconnectPoll in progress */
	PF_DB_PREPARING,  /* pipeline entered, statements being prepared */
	PF_DB_READY,
	PF_DB_BACKOFF,
	PF_DB_STOPPED,
};

struct pf_db {
	uv_loop_t *loop;
	const struct pf_config *cfg;
	struct pg_conn *conn;
	struct db__poll *poll;
	uv_timer_t retry_timer;
	uv_timer_t connect_timer; /* our own connect_timeout: libpq's is not applied here */
	enum pf_db_state state;
	int backoff_ms;
	char last_error[256]; /* logged once per change */
	bool want_write;      /* PQflush said 1 */
	/* in-flight transactions, FIFO */
	struct {
		void *tag;
		int queries;  /* queries sent */
		int answered; /* queries whose result has come back */
		enum pf_db_stmt stmts[PF_DB__NSTMT];
		struct pf_db_result res;
	} fifo[PF_DB_MAX_INFLIGHT];
	int head, count;
	int prepare_pending;
	struct pf_db_callbacks cb;
	void *ctx;
	uint64_t connects;
	uint64_t lot_limit_refused; /* messages refused by parking.ingest_limits (warnings) */
	void (*stopped_cb)(struct pf_db *db);
	int closing;
};

__attribute__((warn_unused_result)) int pf_db_init(struct pf_db *db, uv_loop_t *loop,
						   const struct pf_config *cfg,
						   const struct pf_db_callbacks *cb, void *ctx);
void pf_db_start(struct pf_db *db);
bool pf_db_ready(const struct pf_db *db);
int pf_db_inflight(const struct pf_db *db);
/*
 * Send nq queries as one transaction (a pipeline Sync after them). Returns 0, or -EAGAIN
 * when not ready or the pipeline is full; tag comes back in on_done.
 */
__attribute__((warn_unused_result)) int pf_db_send(struct pf_db *db, const struct pf_db_query *q,
						   int nq, void *tag);
/* Close the connection (in-flight transactions are reported LOST) and every handle. */
void pf_db_stop(struct pf_db *db, void (*cb)(struct pf_db *db));

#endif
