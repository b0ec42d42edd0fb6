/* The PostgreSQL side: owns the PGconn and drives it, non-blocking and pipelined, from libuv. */
#ifndef PF_DB_H
#define PF_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "pf_batch.h"
#include "pf_config.h"

struct pg_conn;
struct pf_sockwatch;

#define PF_DB_MAX_INFLIGHT 64 /* ingest transactions in flight, whatever pipeline_depth says */

/* A query's rows, handed to a callback and valid only while it runs. */
struct pf_db_rows {
	const struct pg_result *res;
	int n; /* rows */
};
/* The cell of a row, NULL for SQL NULL. */
const char *pf_db_cell(const struct pf_db_rows *rows, int row, int col);
/* The answer to one question asked of the database: its rows, or NULL when there is none (the
 * query failed, or the connection was lost with it in flight). */
typedef void (*pf_db_rows_fn)(void *ctx, const struct pf_db_rows *rows);

/* The live feed's questions (schema/011_feed.sql), one of each in flight at a time. */
enum pf_db_feed {
	PF_DB_FEED_LOTS = 0,  /* parking.feed_lots(text[] lot ids) */
	PF_DB_FEED_DISTRICTS, /* parking.feed_districts(text[] districts, NULL = all) */
	PF_DB_FEED__N
};

/*
 * The connection's states. Every change goes through one function that asserts it is one of
 * these transitions:
 *
 *   IDLE ──start──► CONNECTING ──► PREPARING ──► READY
 *                      ▲   │            │          │
 *                      │   └────────────┴──────────┴──► FAILED ──► BACKOFF ──┘
 *   (any) ──stop──► STOPPED
 *
 * FAILED is entered wherever a failure is noticed, even inside pf_db_send: the connection is
 * closed at once, and the in-flight transactions' outcomes are reported on the next loop
 * iteration, never from inside a call of the caller's.
 */
enum pf_db_state {
	PF_DB_IDLE = 0,	  /* before pf_db_start */
	PF_DB_CONNECTING, /* PQconnectPoll running: from IDLE or BACKOFF */
	PF_DB_PREPARING,  /* pipeline entered, statements being prepared: from CONNECTING */
	PF_DB_READY,	  /* transactions may be sent: from PREPARING */
	PF_DB_FAILED,	  /* closed; outcomes of what was in flight still to report: from
			     CONNECTING, PREPARING or READY */
	PF_DB_BACKOFF,	  /* waiting to reconnect: from FAILED */
	PF_DB_STOPPED,	  /* from any state */
	PF_DB__NSTATES
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
	int64_t inserted; /* rows ingest_occupancy reported new */
};

struct pf_db_callbacks {
	/* Once per transaction pf_db_send accepted, in send order, from the loop. */
	void (*on_done)(void *ctx, void *tag, const struct pf_db_result *res);
	/* The lots online, stale and offline (parking.freshness_counts), after
	 * pf_db_ask_freshness; not called when the answer is lost. */
	void (*on_freshness)(void *ctx, const int64_t counts[3]);
	/* READY entered (true) or left (false), from the loop. */
	void (*on_state)(void *ctx, bool ready);
};

/* What a FIFO slot holds: an ingest transaction, the freshness query or a feed question. */
enum db__kind { DB__INGEST, DB__FRESHNESS, DB__FEED_LOTS, DB__FEED_DISTRICTS, DB__NKINDS };
/* Slots: every ingest transaction, and one query of each other kind. */
#define DB__SLOTS (PF_DB_MAX_INFLIGHT + DB__NKINDS - 1)

struct pf_db {
	uv_loop_t *loop;
	const struct pf_config *cfg;
	struct pg_conn *conn;
	struct pf_sockwatch *poll;
	uv_timer_t retry_timer;	  /* BACKOFF -> CONNECTING */
	uv_timer_t connect_timer; /* our own connect_timeout: libpq's is not applied here */
	uv_timer_t report_timer;  /* FAILED: reports outcomes on the next iteration */
	enum pf_db_state state;
	bool was_ready; /* FAILED was entered from READY: on_state(false) is due */
	int backoff_ms;
	char lost_why[256];   /* why FAILED was entered */
	char last_error[256]; /* logged once per change */
	bool want_write;      /* PQflush said 1 */
	struct {
		enum db__kind kind;
		void *tag;
		int answered; /* queries whose result has come back */
		enum pf_ingest_call calls[PF_INGEST__N];
		struct pf_db_result res;
		pf_db_rows_fn rows_cb; /* a feed question: whom to answer */
		void *rows_ctx;
		bool told;     /* rows_cb has been called */
	} fifo[DB__SLOTS];     /* in flight, in send order */
	int head, count;       /* count: every slot in use */
	int ingest;	       /* of which ingest transactions */
	int kinds[DB__NKINDS]; /* slots in use by kind */
	int prepare_pending;
	int prepare_results;	  /* answers of the preparing Sync so far */
	char schema_problem[256]; /* why the schema will not do; "" when it will */
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
/* Ingest transactions sent and not yet reported. */
int pf_db_inflight(const struct pf_db *db);
const char *pf_db_state_name(enum pf_db_state s);
/*
 * Send nq ingest calls as one transaction (a pipeline Sync after them).
 *   0        accepted: on_done reports its outcome later, from the loop
 *   -EAGAIN  not READY, or pipeline_depth transactions in flight: nothing sent
 *   -EIO     the connection failed while sending: nothing of it can commit, no on_done
 *            for it; the connection has FAILED (what was in flight is reported from the loop)
 */
__attribute__((warn_unused_result)) int
pf_db_send(struct pf_db *db, const struct pf_ingest_query *q, int nq, void *tag);
/* Ask parking.freshness_counts() once; 0, or -EAGAIN (not READY or one is in flight). */
__attribute__((warn_unused_result)) int pf_db_ask_freshness(struct pf_db *db);
/*
 * Ask one of the feed's questions with its text[] parameter (NULL: SQL NULL). 0: cb is called
 * once, later, from the loop, with the rows or NULL; -EAGAIN: not READY, or that question is in
 * flight already; -EIO: the connection failed while sending (no callback).
 */
__attribute__((warn_unused_result)) int pf_db_ask_feed(struct pf_db *db, enum pf_db_feed which,
						       const char *param, pf_db_rows_fn cb,
						       void *ctx);
/* Give up the connection (reported as LOST from the loop) and reconnect after a backoff.
 * For a connection that stopped answering; why is logged. */
void pf_db_reset(struct pf_db *db, const char *why);
/* Close the connection and every handle; cb runs when all is closed. What was in flight is
 * forgotten, not reported: its records stay in the spool. */
void pf_db_stop(struct pf_db *db, void (*cb)(struct pf_db *db));

extern int db__backoff_min_ms; /* test hook: the first reconnect delay */

#endif
