/*
 * The pipeline, top to bottom: receive (mqtt) -> normalize -> spool (durable) -> ack, then
 * the writer: read back -> batch -> commit (db) -> checkpoint. It owns the flow between the
 * stages.
 */
#ifndef PF_PIPELINE_H
#define PF_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "feed.h"
#include "mqtt.h"
#include "pf_config.h"
#include "pf_figures.h"
#include "pf_normalize.h"
#include "pf_record.h"
#include "pf_spool.h"
#include "writer.h"

/* The receiving side's counts (the writer keeps its own). */
struct pf_pipeline_stats {
	uint64_t received;		  /* MQTT messages */
	uint64_t observations;		  /* normalized to an occupancy row */
	uint64_t statuses;		  /* status messages */
	uint64_t rejected[PF_REJ__COUNT]; /* by reason */
	uint64_t rejects_unstored;	  /* counted, not stored: past [ingest] reject_burst */
	uint64_t flush_errors;
	uint64_t backpressure_events; /* times reading from the broker was paused */
};

struct pf_pipeline {
	uv_loop_t *loop;
	const struct pf_config *cfg;
	const struct pf_norm_config *norm;
	struct pf_spool *sp;
	struct pf_mqtt mqtt;
	struct pf_writer writer;
	struct pf_feed feed; /* the live feed, the echo of rejects */

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

	uv_timer_t tick; /* once a second: the writer's tick, stats */
	struct pf_pipeline_stats stats;
	struct pf_figures logged; /* at the last stats line */
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
/* Fill the pipeline's and the writer's figures into f (the rest is main's). */
void pf_pipeline_figures(const struct pf_pipeline *p, struct pf_figures *f);

#endif
