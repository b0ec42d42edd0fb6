/* Prometheus /metrics and /healthz over libmicrohttpd, rendered on the loop thread. */
#ifndef PF_METRICS_H
#define PF_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Daemon;
struct pf_pipeline;

/* ---- histograms, updated on the loop thread where the event happens ---- */

enum pf_hist_kind {
	PF_HIST_BATCH_RECORDS = 0, /* records per database transaction */
	PF_HIST_COMMIT_SECONDS,	   /* pf_db_send .. its outcome, committed transactions */
	PF_HIST__COUNT
};

#define PF_HIST_BUCKETS 16 /* the kind's bounds, the last one +Inf */

struct pf_hist {
	uint64_t bucket[PF_HIST_BUCKETS]; /* observations in each bucket (not cumulative) */
	uint64_t count;
	double sum;
};

void pf_hist_observe(struct pf_hist *h, enum pf_hist_kind kind, double v);

/* ---- health ---- */

struct pf_health_input {
	bool broker_up;
	bool db_up;
	uint64_t spool_bytes;	  /* received, not yet committed (staged included) */
	uint64_t spool_threshold; /* [metrics] health_spool_bytes */
};

/* Pure: true when healthy; otherwise false with a one-line reason in why. */
bool pf_health_eval(const struct pf_health_input *in, char *why, size_t whylen);

/* ---- the endpoint ---- */

/* What main adds to the pipeline's own figures. */
struct pf_metrics_extra {
	uint64_t health_spool_bytes; /* the threshold in force */
	uint64_t reloads_applied;
	uint64_t reloads_refused;
	int64_t start_time; /* seconds since the epoch */
	bool ready;	    /* READY=1 sent */
};

struct pf_metrics {
	struct MHD_Daemon *mhd; /* NULL when [metrics] listen is empty */
	pthread_mutex_t lock;	/* guards the published fields below */
	char *text;		/* published /metrics body */
	size_t text_len;
	size_t text_cap;
	bool healthy; /* published /healthz outcome */
	char health_why[200];
	char *render; /* loop thread only: the body being rendered */
	size_t render_cap;
	size_t render_len;
	bool render_oom;
};

/*
 * Bind [metrics] listen and start the HTTP thread (an empty address leaves everything off
 * and returns 0). Until the first pf_metrics_publish /metrics is empty and /healthz 503.
 */
__attribute__((warn_unused_result)) int pf_metrics_start(struct pf_metrics *m, const char *listen,
							 char *err, size_t errlen);
bool pf_metrics_enabled(const struct pf_metrics *m);
/* [loop] Render every figure once and publish it for the HTTP thread. */
void pf_metrics_publish(struct pf_metrics *m, const struct pf_pipeline *p,
			const struct pf_metrics_extra *x);
/* Stop the HTTP thread and free everything. */
void pf_metrics_stop(struct pf_metrics *m);

#endif
