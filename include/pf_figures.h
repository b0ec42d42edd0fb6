/*
 * The daemon's figures as plain data: what the pipeline, the writer and main fill in once a
 * second, and what /metrics and /healthz are rendered from (pure functions, unit-tested).
 */
#ifndef PF_FIGURES_H
#define PF_FIGURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pf_buf.h"
#include "pf_record.h"
#include "pf_spool.h"

/* ---- histograms, updated on the loop thread where the event happens ---- */

enum pf_hist_kind {
	PF_HIST_BATCH_RECORDS = 0, /* records per database transaction */
	PF_HIST_COMMIT_SECONDS,	   /* pf_db_send .. its outcome, committed transactions */
	PF_HIST_FEED_SECONDS,	   /* a lot's change committed .. its feed message published */
	PF_HIST__COUNT
};

#define PF_HIST_BUCKETS 16 /* the kind's bounds, the last one +Inf */

struct pf_hist {
	uint64_t bucket[PF_HIST_BUCKETS]; /* observations in each bucket (not cumulative) */
	uint64_t count;
	double sum;
};

void pf_hist_observe(struct pf_hist *h, enum pf_hist_kind kind, double v);

/* ---- the figures ---- */

struct pf_figures {
	/* receiving (pipeline.c) */
	uint64_t received;		  /* MQTT messages */
	uint64_t observations;		  /* normalized to an occupancy row */
	uint64_t statuses;		  /* status messages */
	uint64_t rejected[PF_REJ__COUNT]; /* stored as rejects, by reason */
	uint64_t rejects_unstored;	  /* counted, not stored: past [ingest] reject_burst */
	uint64_t flush_errors;
	uint64_t backpressure_events; /* times reading from the broker was paused */
	struct pf_spool_stats spool;
	int64_t spool_max_bytes;

	/* writing (writer.c) */
	uint64_t stored;	    /* new rows in parking.occupancy */
	uint64_t committed_records; /* spool records committed to PostgreSQL */
	uint64_t transactions;	    /* committed database transactions */
	uint64_t dropped;	    /* refused by PostgreSQL even as a reject */
	uint64_t writer_stalls;	    /* connections dropped by the stall detector */
	int64_t last_lag_us;	    /* commit time - received time, newest batch */
	int64_t lots_fresh[3];	    /* lots online, stale, offline; -1 before known */
	double waiting_seconds;	    /* durable records waiting with nothing committed */
	const char *writer_state;   /* the writer's state, by name */
	struct pf_hist batch_records;
	struct pf_hist commit_seconds;

	/* the live feed and the echo (feed.c); [0] lots, [1] districts */
	bool feed_on; /* [feed] topic_prefix set */
	uint64_t feed_published[2], feed_coalesced[2], feed_dropped[2];
	uint64_t feed_queued, feed_inflight; /* waiting; sent and not acknowledged */
	uint64_t feed_asking;		     /* lots, districts the database is to tell about */
	uint64_t feed_echoes, feed_echoes_dropped;
	struct pf_hist feed_latency;

	/* connections */
	bool broker_up, db_up;
	const char *schema_problem; /* why the database's schema will not do, or NULL */
	uint64_t broker_connects, db_connects;
	uint64_t lot_limit_refused; /* messages refused by parking.ingest_limits */

	/* the daemon (main.c) */
	const char *version; /* PF_VERSION */
	int64_t start_time;  /* seconds since the epoch */
	bool ready;	     /* READY=1 sent */
	uint64_t reloads_applied, reloads_refused;
	uint64_t health_spool_bytes; /* [metrics] health_spool_bytes in force */
	int health_stall_seconds;    /* [metrics] health_stall_seconds in force */
};

/* Pure: true when healthy; otherwise false with a one-line reason in why. */
bool pf_health_eval(const struct pf_figures *f, char *why, size_t whylen);

/* Pure: the Prometheus text exposition of f (appended to out). */
void pf_figures_render(struct pf_buf *out, const struct pf_figures *f, bool healthy);

#endif
