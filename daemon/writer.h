/*
 * The database writer: durable spool records -> batches -> pipelined transactions ->
 * checkpoint. It owns the database connection (db.c) and the spool's read and checkpoint
 * sides; the pipeline tells it when a flush made records durable.
 */
#ifndef PF_WRITER_H
#define PF_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "pf_config.h"
#include "pf_figures.h"
#include "pf_spool.h"

struct pf_batch;
struct pf_feedq;
struct pf_feedq_txn;
struct writer__txn;

/*
 * The writer's states; enter() is the only place one changes, and it asserts the move is
 * one of these:
 *
 *   WAIT_DB ──db ready──► RUNNING ◄──────────────┐
 *      ▲  ▲                  │  ▲                │
 *      │  │        a failure │  │ done           │ timer
 *      │  │                  ▼  │                │
 *      │  └──── BROKEN ──► ISOLATING        RETRY_WAIT
 *      │  nothing in flight: │                   ▲
 *      │  rewound            └───────────────────┘
 *      └── the database left (from RUNNING, ISOLATING, RETRY_WAIT)
 *
 * BROKEN: a transaction failed; the outcomes of those still in flight are awaited (and
 * ignored), then the writer rewinds to the last committed record and goes where the failure
 * says: WAIT_DB/RUNNING after a lost connection, ISOLATING after a refused batch (one record
 * per transaction, so that only the refused one becomes a db_refused reject), RETRY_WAIT
 * after an error the server may get over (backoff).
 */
enum pf_writer_state {
	PF_WRITER_WAIT_DB = 0, /* the database is not ready */
	PF_WRITER_RUNNING,     /* batches flow */
	PF_WRITER_BROKEN,      /* a failure: waiting for what is in flight to come back */
	PF_WRITER_ISOLATING,   /* one record per transaction through a refused batch */
	PF_WRITER_RETRY_WAIT,  /* backoff after a transient failure */
	PF_WRITER_STOPPED,
	PF_WRITER__NSTATES
};

struct pf_writer_callbacks {
	/* Spool space was freed, or a stop may be able to finish: the pipeline looks again. */
	void (*on_progress)(void *ctx);
	/* With a feed (pf_writer_set_feed): a transaction committed; t holds its observations. */
	void (*on_committed)(void *ctx, struct pf_feedq_txn *t);
	/* A record PostgreSQL refused on its own was stored as this db_refused reject. */
	void (*on_refused)(void *ctx, const struct pf_record *reject);
};

struct pf_writer_stats {
	uint64_t stored;	    /* new rows in parking.occupancy */
	uint64_t committed_records; /* spool records committed to PostgreSQL */
	uint64_t transactions;	    /* committed database transactions */
	uint64_t dropped;	    /* refused by PostgreSQL even as a reject; undecodable */
	uint64_t refused;	    /* records stored as db_refused rejects */
	uint64_t stalls;	    /* connections given up by the stall detector */
	int64_t last_lag_us;	    /* commit time - received time, newest batch */
	int64_t lots_fresh[3];	    /* lots online, stale, offline; -1 before known */
	struct pf_hist batch_records;
	struct pf_hist commit_seconds;
};

struct pf_writer {
	uv_loop_t *loop;
	const struct pf_config *cfg;
	struct pf_spool *sp;
	struct pf_db db;
	enum pf_writer_state state;
	bool stopping; /* send partial batches at once; no more freshness queries */

	/* reading the spool back (thread pool) */
	uv_work_t read_req;
	int read_rc;
	bool reading;		       /* a read job is running */
	bool have_records;	       /* pf_spool_next may have more */
	struct pf_spool_pos cursor;    /* just past the last record taken from the spool */
	struct pf_spool_pos start;     /* where the batch being built begins */
	struct pf_spool_pos committed; /* everything before it is in PostgreSQL */

	/* checkpoint (thread pool) */
	uv_work_t ckpt_req;
	int ckpt_rc;
	bool checkpointing;
	uint64_t ckpt_at_ms;

	/* the batch being built and the transactions in flight */
	struct pf_batch *build;
	uv_timer_t batch_timer;	  /* bounds how long a partial batch waits ([ingest] batch_ms) */
	struct writer__txn *txns; /* ring of pipeline_depth + 1 */
	int txn_head, txn_count;
	enum pf_writer_state after; /* where BROKEN goes once nothing is in flight */

	/* RETRY_WAIT */
	uv_timer_t retry_timer;
	int retry_ms;
	char last_db_error[256];

	/* the live feed: each transaction's observations, handed over when it commits */
	struct pf_feedq *feedq;		/* NULL: no feed */
	struct pf_feedq_txn *build_obs; /* of the batch being built */
	struct pf_record refused;	/* the db_refused reject in flight (TXN_REFUSED) */
	char refused_topic[PF_TOPIC_MAX];

	/* ISOLATING: from committed to isolate_end, one record per transaction */
	struct pf_spool_pos isolate_end;
	bool isolate_pending; /* isolate_end not reached yet (survives a lost connection) */
	uint8_t *single_body; /* PF_RECORD_MAX bytes: the record in flight */
	uint32_t single_len;

	/* liveness */
	uint64_t progress_ms;	  /* last commit, or last moment nothing was waiting */
	uint64_t watch_ms;	  /* the stall detector counts from here (progress or reconnect) */
	bool stall_logged;	  /* this stall was logged; quiet until progress */
	uint64_t freshness_at_ms; /* last freshness_counts query */

	struct pf_writer_stats stats;
	struct pf_writer_callbacks cb;
	void *ctx;
	void (*stopped_cb)(struct pf_writer *w);
	int closing;
};

__attribute__((warn_unused_result)) int
pf_writer_init(struct pf_writer *w, uv_loop_t *loop, const struct pf_config *cfg,
	       struct pf_spool *sp, const struct pf_writer_callbacks *cb, void *ctx);
/* Collect each transaction's observations for the live feed's change detection (before start). */
__attribute__((warn_unused_result)) int pf_writer_set_feed(struct pf_writer *w, struct pf_feedq *q);
/* The connection, for the feed's questions: the writer owns it, others may only ask. */
struct pf_db *pf_writer_db(struct pf_writer *w);
/* Connect and replay whatever the spool holds. */
void pf_writer_start(struct pf_writer *w);
/* A flush made records durable (after pf_spool_flush_end): take them. */
void pf_writer_durable(struct pf_writer *w);
/* Once a second: checkpoint, freshness figures, the stall detector. */
void pf_writer_tick(struct pf_writer *w);
/* Stopping: partial batches leave at once. */
void pf_writer_drain(struct pf_writer *w);
/* May the writer be stopped now? True when no thread-pool job runs and either everything
 * durable is committed and checkpointed, the database is away, or the deadline passed (the
 * rest stays in the spool). Starts the last checkpoint when one is due. */
bool pf_writer_settled(struct pf_writer *w, bool deadline);
/* Close the connection and every handle; cb when all is closed. */
void pf_writer_stop(struct pf_writer *w, void (*cb)(struct pf_writer *w));
void pf_writer_free(struct pf_writer *w);
/* What a writer knows for the figures; now_ms from the loop. */
void pf_writer_figures(const struct pf_writer *w, struct pf_figures *f);
const char *pf_writer_state_name(enum pf_writer_state s);

#endif
