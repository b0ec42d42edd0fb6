/* Prometheus /metrics and /healthz over libmicrohttpd: serves what the loop thread publishes. */
#ifndef PF_METRICS_H
#define PF_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pf_buf.h"
#include "pf_figures.h"

struct MHD_Daemon;

#define METRICS_CONN_LIMIT 64 /* scrapers and health checks are few: a flood costs no memory */
#define METRICS_PER_IP 8      /* one address cannot take them all */

/* A connection being served, for its deadline (metrics.c). */
struct metrics__conn {
	bool used;
	bool expired; /* shut down already */
	int fd;	      /* libmicrohttpd's descriptor */
	uint64_t accepted_ms;
};

struct pf_metrics {
	struct MHD_Daemon *mhd; /* NULL when [metrics] listen is empty */
	pthread_mutex_t lock;	/* guards the published fields below */
	struct pf_buf text;	/* published /metrics body */
	bool healthy;		/* published /healthz outcome */
	char health_why[200];
	struct pf_buf render; /* loop thread only: the body being rendered */
	struct metrics__conn conns[METRICS_CONN_LIMIT]; /* under lock */
	uint64_t expired;				/* connections shut down at deadline */
};

/*
 * Bind [metrics] listen and start the HTTP thread (an empty address leaves everything off
 * and returns 0). Until the first pf_metrics_publish /metrics is empty and /healthz 503.
 */
__attribute__((warn_unused_result)) int pf_metrics_start(struct pf_metrics *m, const char *listen,
							 char *err, size_t errlen);
bool pf_metrics_enabled(const struct pf_metrics *m);
/* [loop] Render the figures once and publish them for the HTTP thread. */
void pf_metrics_publish(struct pf_metrics *m, const struct pf_figures *f);
/* Stop the HTTP thread and free everything. */
void pf_metrics_stop(struct pf_metrics *m);

#endif
