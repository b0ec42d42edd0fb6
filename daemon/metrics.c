/*
 * Prometheus /metrics and /healthz. The loop thread renders every figure once a second
 * into its own buffer and publishes it under a mutex; libmicrohttpd's thread only copies
 * the published text, so a scrape never touches the pipeline or waits for the loop.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "pf_config.h"
#include "pf_log.h"
#include "pf_record.h"
#include "pf_version.h"
#include "pipeline.h"

#define METRICS_CONN_LIMIT 16 /* scrapers are few; a flood must not cost memory */
#define METRICS_TIMEOUT_S 10

/* Upper bounds of each histogram's buckets, ascending, the last one +Inf. */
static const double hist_bounds[PF_HIST__COUNT][PF_HIST_BUCKETS - 1] = {
	[PF_HIST_BATCH_RECORDS] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000,
				   20000, 50000},
	[PF_HIST_COMMIT_SECONDS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				    1, 2.5, 5, 10, 30},
};

void pf_hist_observe(struct pf_hist *h, enum pf_hist_kind kind, double v)
{
	int i = 0;

	while (i < PF_HIST_BUCKETS - 1 && v > hist_bounds[kind][i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

bool pf_health_eval(const struct pf_health_input *in, char *why, size_t whylen)
{
	if (!in->broker_up) {
		snprintf(why, whylen, "broker down: not connected to the MQTT broker");
		return false;
	}
	if (!in->db_up && in->spool_bytes > in->spool_threshold) {
		snprintf(why, whylen,
			 "database down and the spool holds %" PRIu64 " bytes (over "
			 "health_spool_bytes %" PRIu64 ")",
			 in->spool_bytes, in->spool_threshold);
		return false;
	}
	snprintf(why, whylen, "ok");
	return true;
}

/* ---- rendering (loop thread) ---- */

static void out(struct pf_metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct pf_metrics *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->render_oom)
		return;
	for (;;) {
		size_t room = m->render_cap - m->render_len;

		va_start(ap, fmt);
		n = vsnprintf(m->render + m->render_len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->render_oom = true;
			return;
		}
		if ((size_t)n < room) {
			m->render_len += (size_t)n;
			return;
		}
		size_t cap = m->render_cap * 2 + (size_t)n;
		char *grown = realloc(m->render, cap);

		if (!grown) {
			m->render_oom = true;
			return;
		}
		m->render = grown;
		m->render_cap = cap;
	}
}

static void head(struct pf_metrics *m, const char *name, const char *type, const char *help)
{
	out(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct pf_metrics *m, const char *name, const char *help, uint64_t v)
{
	head(m, name, "counter", help);
	out(m, "%s %" PRIu64 "\n", name, v);
}

static void gauge(struct pf_metrics *m, const char *name, const char *help, double v)
{
	head(m, name, "gauge", help);
	out(m, "%s %.17g\n", name, v);
}

static void histogram(struct pf_metrics *m, const char *name, const char *help,
		      const struct pf_hist *h, enum pf_hist_kind kind)
{
	uint64_t cum = 0;

	head(m, name, "histogram", help);
	for (int i = 0; i < PF_HIST_BUCKETS - 1; i++) {
		cum += h->bucket[i];
		out(m, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, hist_bounds[kind][i], cum);
	}
	out(m, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
	out(m, "%s_sum %.17g\n%s_count %" PRIu64 "\n", name, h->sum, name, h->count);
}

static void render(struct pf_metrics *m, const struct pf_pipeline *p,
		   const struct pf_metrics_extra *x, bool healthy)
{
	const struct pf_pipeline_stats *s = &p->stats;
	struct pf_spool_stats sp;
	bool mq = pf_mqtt_connected(&p->mqtt), db = pf_db_ready(&p->db);

	pf_spool_stats(p->sp, &sp);
	m->render_len = 0;
	m->render_oom = false;

	head(m, "parkfeed_build_info", "gauge", "Version of the running parkfeedd.");
	out(m, "parkfeed_build_info{version=\"%s\"} 1\n", PF_VERSION);
	gauge(m, "parkfeed_start_time_seconds", "When parkfeedd started, seconds since the epoch.",
	      (double)x->start_time);
	gauge(m, "parkfeed_ready", "1 once systemd was told READY=1.", x->ready);
	gauge(m, "parkfeed_healthy", "1 when /healthz answers 200.", healthy);

	counter(m, "parkfeed_messages_received_total", "MQTT messages received.", s->received);
	counter(m, "parkfeed_occupancy_messages_total",
		"Messages normalized to an occupancy observation.", s->observations);
	counter(m, "parkfeed_status_messages_total", "Lot controller status messages.",
		s->statuses);
	head(m, "parkfeed_messages_rejected_total", "counter",
	     "Messages stored in parking.rejected, by reason.");
	for (int r = 0; r < PF_REJ__COUNT; r++)
		out(m, "parkfeed_messages_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
		    pf_reject_reason_name((enum pf_reject_reason)r), s->rejected[r]);
	counter(m, "parkfeed_messages_acknowledged_total",
		"Messages made durable in the spool, which releases their PUBACK.",
		sp.records_flushed);
	counter(m, "parkfeed_rows_stored_total", "New rows in parking.occupancy.", s->stored);
	counter(m, "parkfeed_records_committed_total", "Spool records committed to PostgreSQL.",
		s->committed_records);
	counter(m, "parkfeed_transactions_total", "Database transactions committed.",
		s->transactions);
	counter(m, "parkfeed_records_dropped_total", "Records PostgreSQL refused even as a reject.",
		s->dropped);
	counter(m, "parkfeed_rejects_unstored_total",
		"Rejected messages counted but not stored: past [ingest] reject_burst for their lot.",
		s->rejects_unstored);
	counter(m, "parkfeed_lot_limit_refused_total",
		"Messages of unknown lots PostgreSQL refused past parking.ingest_limits "
		"(counted per delivery to PostgreSQL).",
		p->db.lot_limit_refused);
	counter(m, "parkfeed_backpressure_pauses_total",
		"Times reading from the broker paused because the spool was full.",
		s->backpressure_events);

	gauge(m, "parkfeed_spool_bytes", "Spool bytes durable but not yet committed.",
	      (double)sp.used_bytes);
	gauge(m, "parkfeed_spool_staged_bytes", "Spool bytes received, not yet written.",
	      (double)sp.staged_bytes);
	gauge(m, "parkfeed_spool_segments", "Spool segment files on disk.", (double)sp.segments);
	gauge(m, "parkfeed_spool_max_bytes", "[spool] max_bytes.", (double)p->cfg->spool.max_bytes);
	counter(m, "parkfeed_spool_flushes_total", "Spool flushes completed.", sp.flushes);
	counter(m, "parkfeed_spool_fsyncs_total", "fdatasync calls on the spool.", sp.fsyncs);
	counter(m, "parkfeed_spool_flush_errors_total", "Spool flushes that failed.",
		s->flush_errors);

	histogram(m, "parkfeed_batch_records", "Records per database transaction.",
		  &s->batch_records, PF_HIST_BATCH_RECORDS);
	histogram(m, "parkfeed_commit_duration_seconds",
		  "From sending a transaction to PostgreSQL to its commit.", &s->commit_seconds,
		  PF_HIST_COMMIT_SECONDS);
	gauge(m, "parkfeed_lag_seconds",
	      "Receive-to-commit time of the oldest message of the newest committed batch.",
	      (double)s->last_lag_us / 1e6);

	if (s->lots_fresh[0] >= 0) {
		static const char *const names[3] = {"online", "stale", "offline"};
		head(m, "parkfeed_lots", "gauge",
		     "Lots with data by freshness (parking.lot_availability), every 10 s.");
		for (int i = 0; i < 3; i++)
			out(m, "parkfeed_lots{freshness=\"%s\"} %" PRId64 "\n", names[i],
			    s->lots_fresh[i]);
	}

	head(m, "parkfeed_up", "gauge", "1 while the dependency is connected.");
	out(m, "parkfeed_up{dependency=\"broker\"} %d\n", mq);
	out(m, "parkfeed_up{dependency=\"database\"} %d\n", db);
	head(m, "parkfeed_reconnects_total", "counter",
	     "Successful connections after the first one, by dependency.");
	out(m, "parkfeed_reconnects_total{dependency=\"broker\"} %" PRIu64 "\n",
	    p->mqtt.connects ? p->mqtt.connects - 1 : 0);
	out(m, "parkfeed_reconnects_total{dependency=\"database\"} %" PRIu64 "\n",
	    p->db.connects ? p->db.connects - 1 : 0);

	gauge(m, "parkfeed_health_spool_threshold_bytes", "[metrics] health_spool_bytes in force.",
	      (double)x->health_spool_bytes);
	head(m, "parkfeed_config_reloads_total", "counter", "SIGHUP reloads, by outcome.");
	out(m, "parkfeed_config_reloads_total{result=\"applied\"} %" PRIu64 "\n",
	    x->reloads_applied);
	out(m, "parkfeed_config_reloads_total{result=\"refused\"} %" PRIu64 "\n",
	    x->reloads_refused);
}

void pf_metrics_publish(struct pf_metrics *m, const struct pf_pipeline *p,
			const struct pf_metrics_extra *x)
{
	struct pf_spool_stats sp;
	struct pf_health_input hi;
	char why[sizeof(m->health_why)];
	bool healthy;
	char *tmp;

	if (!m->mhd)
		return;
	pf_spool_stats(p->sp, &sp);
	hi = (struct pf_health_input){
		.broker_up = pf_mqtt_connected(&p->mqtt),
		.db_up = pf_db_ready(&p->db),
		.spool_bytes = sp.used_bytes + sp.staged_bytes,
		.spool_threshold = x->health_spool_bytes,
	};
	healthy = pf_health_eval(&hi, why, sizeof(why));
	render(m, p, x, healthy);
	pthread_mutex_lock(&m->lock);
	if (!m->render_oom) {
		size_t cap = m->text_cap;

		tmp = m->text;
		m->text = m->render;
		m->text_len = m->render_len;
		m->text_cap = m->render_cap;
		m->render = tmp;
		m->render_cap = cap;
		m->render_len = 0;
	}
	m->healthy = healthy;
	memcpy(m->health_why, why, sizeof(why));
	pthread_mutex_unlock(&m->lock);
}

/* ---- the HTTP thread ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int code, const char *text)
{
	char *body = strdup(text);

	return body ? reply(c, code, "text/plain; charset=utf-8", body, strlen(body)) : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct pf_metrics *m = cls;
	char line[sizeof(m->health_why) + 2];
	char *body;
	size_t len;
	bool ok;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (strcmp(url, "/metrics") == 0) {
		pthread_mutex_lock(&m->lock);
		len = m->text_len;
		body = malloc(len ? len : 1);
		if (body && len)
			memcpy(body, m->text, len);
		pthread_mutex_unlock(&m->lock);
		if (!body)
			return MHD_NO;
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
	}
	if (strcmp(url, "/healthz") == 0) {
		pthread_mutex_lock(&m->lock);
		ok = m->healthy;
		snprintf(line, sizeof(line), "%s\n", m->health_why);
		pthread_mutex_unlock(&m->lock);
		return reply_text(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, line);
	}
	return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /healthz\n");
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	pf_warn("metrics: %s", buf);
}

int pf_metrics_start(struct pf_metrics *m, const char *listen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned int sslen;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	sigset_t all, old;
	int rc;

	memset(m, 0, sizeof(*m));
	snprintf(m->health_why, sizeof(m->health_why), "starting");
	rc = pthread_mutex_init(&m->lock, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "metrics: cannot create a mutex: %s", strerror(rc));
		return -rc;
	}
	if (!listen[0])
		return 0;
	if (pf_config_parse_listen(listen, &ss, &sslen) < 0) {
		snprintf(err, errlen, "[metrics] listen: \"%s\" is not ADDRESS:PORT", listen);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->render_cap = 16384;
	m->render = malloc(m->render_cap);
	if (!m->render) {
		snprintf(err, errlen, "metrics: out of memory");
		return -ENOMEM;
	}
	/* The HTTP thread inherits this mask: signals stay with the loop thread's handlers. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
				  (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned int)METRICS_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned int)METRICS_TIMEOUT_S, MHD_OPTION_EXTERNAL_LOGGER,
				  on_mhd_error, NULL, MHD_OPTION_END);
	rc = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m->mhd) {
		snprintf(err, errlen,
			 "[metrics] listen: cannot serve HTTP on %s: %s (is the address local "
			 "and the port free?)",
			 listen, rc ? strerror(rc) : "libmicrohttpd refused to start");
		return rc ? -rc : -EADDRNOTAVAIL;
	}
	pf_notice("metrics: serving /metrics and /healthz on http://%s", listen);
	return 0;
}

bool pf_metrics_enabled(const struct pf_metrics *m)
{
	return m->mhd != NULL;
}

void pf_metrics_stop(struct pf_metrics *m)
{
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
	free(m->text);
	free(m->render);
	m->text = m->render = NULL;
	pthread_mutex_destroy(&m->lock);
}
