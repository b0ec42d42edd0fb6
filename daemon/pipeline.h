/*
 * The pipeline, top to bottom: receive (mqtt) -> normalize -> spool (durable) -> ack ->
 * read back -> batch -> commit (db) -> checkpoint. It owns the flow between the stages.
 */
#ifndef PF_PIPELINE_H
#define PF_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "metrics.h"
#include "mqtt.h"
#include "pf_config.h"
#include "pf_normalize.h"
#include "pf_record.h"
#include "pf_spool.h"

struct pf_batch;
struct pipeline__txn;

/* Figures for logs, STATUS= and metrics. */
struct pf_pipeline_stats {
	uint64_t received;		  /* MQTT messages */
	uint64_t observations;		  /* normalized to an occupancy row */
	uint64_t statuses;		  /* status messages */
	uint64_t rejected[PF_REJ__COUNT]; /* by reason */
	uint64_t rejected_total;
	uint64_t stored;	    /* new rows in parking.occupancy */
	uint64_t committed_records; /* spool records committed to PostgreSQL */
	uint64_t transactions;	    /* committed database transactions */
	uint64_t dropped;	    /* refused by PostgreSQL even as a reject */
	uint64_t rejects_unstored;  /* counted, not stored: past [ingest] reject_burst */
	uint64_t flush_errors;
	uint64_t backpressure_events;  /* times reading from the broker was paused */
	int64_t last_lag_us;	       /* commit time - received time, newest batch */
	int64_t lots_fresh[3];	       /* lots online, stale, offline; -1 before known */
	struct pf_hist batch_records;  /* records per transaction sent */
	struct pf_hist commit_seconds; /* send .. commit of committed transactions */
};

struct pf_pipeline {
	uv_loop_t *loop;
	const struct pf_config *cfg;
	const struct pf_norm_config *norm;
	struct pf_spool *sp;
	struct pf_mqtt mqtt;
	struct pf_db db;

	/* spool writer: flush = write + fdatasync on the thread pool */
	uv_work_t flush_req;
	int flush_rc;
	bool flushing;
	bool flush_failed; /* waiting for flush_timer to retry */
	uv_timer_t flush_timer;
	uint64_t records_flushed; /* by the spool, at the last flush's end */
	uint64_t flush_end_us;	  /* uv_hrtime() at the last flush's end, in microseconds */
	double rate;		  /* records flushed per second, a moving average */
	bool grouping;		  /* reading paused after a small flush (group commit) */
	uv_timer_t group_timer;	  /* ends that pause */
	bool full;		  /* spool at max_bytes: not reading from the broker */

	/* spool reader */
	uv_work_t read_req;
	int read_rc;
	bool reading;			 /* a read job is running */
	bool have_records;		 /* pf_spool_next may have more */
	struct pf_spool_pos cursor;	 /* just past the last record taken from the spool */
	struct pf_spool_pos build_start; /* where the batch being built begins */

	/* checkpoint */
	uv_work_t ckpt_req;
	int ckpt_rc;
	bool checkpointing;
	uint64_t ckpt_at_ms;

	/* the batch being built and the transactions in flight */
	struct pf_batch *build;
	uv_timer_t batch_timer;
	struct pipeline__txn *txns; /* ring of pipeline_depth + 1 */
	int txn_head, txn_count;
	struct pf_spool_pos committed; /* everything before it is in PostgreSQL */
	bool broken;		       /* a transaction failed: later outcomes are ignored */
	int after_break;	       /* what to do once the pipeline is empty */
	uv_timer_t retry_timer;
	int retry_ms;
	char last_db_error[256];

	/* poison recovery: one record per transaction from committed to recover_end */
	bool recovering;
	struct pf_spool_pos recover_end;
	uint8_t *recover_body; /* PF_RECORD_MAX bytes: the record in flight */
	uint32_t recover_len;

	uv_timer_t tick;	/* once a second: checkpoint, stats, freshness */
	bool freshness_pending; /* a freshness_counts query is in flight */
	uint64_t freshness_at_ms;
	struct pf_pipeline_stats stats;
	struct pf_pipeline_stats logged; /* at the last stats line */
	uint64_t stats_at_ms;

	bool stopping;
	uv_timer_t stop_timer; /* deadline for draining on stop */
	int closing;
	void (*stopped_cb)(struct pf_pipeline *p);
	uint8_t encode_buf[PF_RECORD_MAX];
	struct pipeline__reject_rate *reject_rates; /* per lot, for reject sampling */
};

__attribute__((warn_unused_result)) int
pf_pipeline_init(struct pf_pipeline *p, uv_loop_t *loop, const struct pf_config *cfg,
		 const struct pf_norm_config *norm, struct pf_spool *sp, char *err, size_t errlen);
void pf_pipeline_start(struct pf_pipeline *p);
/* Stop reading, make everything durable, drain to PostgreSQL (within a deadline), then
 * disconnect both sides and close every handle; cb runs when all is closed. */
void pf_pipeline_stop(struct pf_pipeline *p, void (*cb)(struct pf_pipeline *p));
void pf_pipeline_free(struct pf_pipeline *p);

#endif
