/* The daemon's figures rendered as Prometheus text, and the health rule: pure functions. */
#include <inttypes.h>
#include <stdio.h>

#include "pf_figures.h"

/* Upper bounds of each histogram's buckets, ascending, the last one +Inf. */
static const double hist_bounds[PF_HIST__COUNT][PF_HIST_BUCKETS - 1] = {
	[PF_HIST_BATCH_RECORDS] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000,
				   20000, 50000},
	[PF_HIST_COMMIT_SECONDS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				    1, 2.5, 5, 10, 30},
	[PF_HIST_FEED_SECONDS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
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

bool pf_health_eval(const struct pf_figures *f, char *why, size_t whylen)
{
	uint64_t spool_bytes = f->spool.used_bytes + f->spool.staged_bytes;

	if (!f->broker_up) {
		snprintf(why, whylen, "broker down: not connected to the MQTT broker");
		return false;
	}
	if (f->schema_problem) {
		snprintf(why, whylen, "%s", f->schema_problem);
		return false;
	}
	/* A writer waiting for a down database is doing what it should, until the spool
	 * holds more than an operator wants at risk on one disk. */
	if (!f->db_up && spool_bytes > f->health_spool_bytes) {
		snprintf(why, whylen,
			 "database down and the spool holds %" PRIu64 " bytes (over "
			 "health_spool_bytes %" PRIu64 ")",
			 spool_bytes, f->health_spool_bytes);
		return false;
	}
	if (f->db_up && f->waiting_seconds > (double)f->health_stall_seconds) {
		snprintf(why, whylen,
			 "writer stalled: durable records have waited %.0f s with nothing "
			 "committed (writer %s; over health_stall_seconds %d)",
			 f->waiting_seconds, f->writer_state ? f->writer_state : "?",
			 f->health_stall_seconds);
		return false;
	}
	snprintf(why, whylen, "ok");
	return true;
}

/* ---- rendering (loop thread) ---- */

#define out pf_buf_printf

static void head(struct pf_buf *m, const char *name, const char *type, const char *help)
{
	out(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct pf_buf *m, const char *name, const char *help, uint64_t v)
{
	head(m, name, "counter", help);
	out(m, "%s %" PRIu64 "\n", name, v);
}

static void gauge(struct pf_buf *m, const char *name, const char *help, double v)
{
	head(m, name, "gauge", help);
	out(m, "%s %.17g\n", name, v);
}

static void histogram(struct pf_buf *m, const char *name, const char *help, const struct pf_hist *h,
		      enum pf_hist_kind kind)
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

/* A counter of the feed's lot and district messages, and of the echoed rejects when there
 * is such a figure (rejected >= 0). */
static void by_kind(struct pf_buf *m, const char *name, const char *help, const uint64_t v[2],
		    int64_t rejected)
{
	static const char *const kinds[2] = {"lot", "district"};

	head(m, name, "counter", help);
	for (int k = 0; k < 2; k++)
		out(m, "%s{kind=\"%s\"} %" PRIu64 "\n", name, kinds[k], v[k]);
	if (rejected >= 0)
		out(m, "%s{kind=\"rejected\"} %" PRId64 "\n", name, rejected);
}

/* The live feed's messages by kind, and the echo's ([feed]). */
static void render_feed(struct pf_buf *m, const struct pf_figures *f)
{
	by_kind(m, "parkfeed_feed_published_total",
		"Messages published: the live feed's (retained, QoS 1) and rejects told to their "
		"lot (kind=\"rejected\", QoS 0).",
		f->feed_published, (int64_t)f->feed_echoes);
	by_kind(m, "parkfeed_feed_coalesced_total",
		"Changes of a lot or district not published on their own: a newer one replaced "
		"them first.",
		f->feed_coalesced, -1);
	by_kind(m, "parkfeed_feed_dropped_total",
		"Changes given up: [feed] queue_max reached, a publish the broker connection "
		"refused, a lot past the lots tracked; rejects not told (no broker connection).",
		f->feed_dropped, (int64_t)f->feed_echoes_dropped);
	gauge(m, "parkfeed_feed_queued", "Feed messages waiting to be published.",
	      (double)f->feed_queued);
	gauge(m, "parkfeed_feed_asking",
	      "Lots and districts that may have changed, to be asked of (or being asked of) the "
	      "database.",
	      (double)f->feed_asking);
	gauge(m, "parkfeed_feed_inflight",
	      "Feed messages published and not yet acknowledged by the broker.",
	      (double)f->feed_inflight);
	if (f->feed_on)
		histogram(m, "parkfeed_feed_latency_seconds",
			  "From the commit that changed a lot to its feed message published.",
			  &f->feed_latency, PF_HIST_FEED_SECONDS);
}

void pf_figures_render(struct pf_buf *m, const struct pf_figures *f, bool healthy)
{
	static const char *const fresh_names[3] = {"online", "stale", "offline"};
	const struct pf_spool_stats *sp = &f->spool;

	head(m, "parkfeed_build_info", "gauge", "Version of the running parkfeedd.");
	out(m, "parkfeed_build_info{version=\"%s\"} 1\n", f->version ? f->version : "");
	gauge(m, "parkfeed_start_time_seconds", "When parkfeedd started, seconds since the epoch.",
	      (double)f->start_time);
	gauge(m, "parkfeed_ready", "1 once systemd was told READY=1.", f->ready);
	gauge(m, "parkfeed_healthy", "1 when /healthz answers 200.", healthy);

	counter(m, "parkfeed_messages_received_total", "MQTT messages received.", f->received);
	counter(m, "parkfeed_occupancy_messages_total",
		"Messages normalized to an occupancy observation.", f->observations);
	counter(m, "parkfeed_status_messages_total", "Lot controller status messages.",
		f->statuses);
	head(m, "parkfeed_messages_rejected_total", "counter",
	     "Messages stored in parking.rejected, by reason.");
	for (int r = 0; r < PF_REJ__COUNT; r++)
		out(m, "parkfeed_messages_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
		    pf_reject_reason_name((enum pf_reject_reason)r), f->rejected[r]);
	counter(m, "parkfeed_messages_acknowledged_total",
		"Messages made durable in the spool, which releases their PUBACK.",
		sp->records_flushed);
	counter(m, "parkfeed_rows_stored_total", "New rows in parking.occupancy.", f->stored);
	counter(m, "parkfeed_records_committed_total", "Spool records committed to PostgreSQL.",
		f->committed_records);
	counter(m, "parkfeed_transactions_total", "Database transactions committed.",
		f->transactions);
	counter(m, "parkfeed_records_dropped_total", "Records PostgreSQL refused even as a reject.",
		f->dropped);
	counter(m, "parkfeed_rejects_unstored_total",
		"Rejected messages counted but not stored: past [ingest] reject_burst for their lot.",
		f->rejects_unstored);
	counter(m, "parkfeed_lot_limit_refused_total",
		"Messages of unknown lots PostgreSQL refused past parking.ingest_limits "
		"(counted per delivery to PostgreSQL).",
		f->lot_limit_refused);
	counter(m, "parkfeed_backpressure_pauses_total",
		"Times reading from the broker paused because the spool was full.",
		f->backpressure_events);

	gauge(m, "parkfeed_spool_bytes", "Spool bytes durable but not yet committed.",
	      (double)sp->used_bytes);
	gauge(m, "parkfeed_spool_staged_bytes", "Spool bytes received, not yet written.",
	      (double)sp->staged_bytes);
	gauge(m, "parkfeed_spool_segments", "Spool segment files on disk.", (double)sp->segments);
	gauge(m, "parkfeed_spool_max_bytes", "[spool] max_bytes.", (double)f->spool_max_bytes);
	counter(m, "parkfeed_spool_flushes_total", "Spool flushes completed.", sp->flushes);
	counter(m, "parkfeed_spool_fsyncs_total", "fdatasync calls on the spool.", sp->fsyncs);
	counter(m, "parkfeed_spool_flush_errors_total", "Spool flushes that failed.",
		f->flush_errors);

	histogram(m, "parkfeed_batch_records", "Records per database transaction.",
		  &f->batch_records, PF_HIST_BATCH_RECORDS);
	histogram(m, "parkfeed_commit_duration_seconds",
		  "From sending a transaction to PostgreSQL to its commit.", &f->commit_seconds,
		  PF_HIST_COMMIT_SECONDS);
	gauge(m, "parkfeed_lag_seconds",
	      "Receive-to-commit time of the oldest message of the newest committed batch.",
	      (double)f->last_lag_us / 1e6);
	gauge(m, "parkfeed_writer_waiting_seconds",
	      "How long durable records have waited with nothing committed (0 when caught up).",
	      f->waiting_seconds);
	counter(m, "parkfeed_writer_stalls_total",
		"Database connections given up because nothing committed for [ingest] "
		"stall_timeout while records waited.",
		f->writer_stalls);
	if (f->writer_state) {
		head(m, "parkfeed_writer_state", "gauge",
		     "The database writer's state (1 for the current one).");
		out(m, "parkfeed_writer_state{state=\"%s\"} 1\n", f->writer_state);
	}

	if (f->lots_fresh[0] >= 0) {
		head(m, "parkfeed_lots", "gauge",
		     "Lots with data by freshness (parking.lot_availability), every 10 s.");
		for (int i = 0; i < 3; i++)
			out(m, "parkfeed_lots{freshness=\"%s\"} %" PRId64 "\n", fresh_names[i],
			    f->lots_fresh[i]);
	}

	render_feed(m, f);

	head(m, "parkfeed_up", "gauge", "1 while the dependency is connected.");
	out(m, "parkfeed_up{dependency=\"broker\"} %d\n", f->broker_up);
	out(m, "parkfeed_up{dependency=\"database\"} %d\n", f->db_up);
	head(m, "parkfeed_reconnects_total", "counter",
	     "Successful connections after the first one, by dependency.");
	out(m, "parkfeed_reconnects_total{dependency=\"broker\"} %" PRIu64 "\n",
	    f->broker_connects ? f->broker_connects - 1 : 0);
	out(m, "parkfeed_reconnects_total{dependency=\"database\"} %" PRIu64 "\n",
	    f->db_connects ? f->db_connects - 1 : 0);

	gauge(m, "parkfeed_health_spool_threshold_bytes", "[metrics] health_spool_bytes in force.",
	      (double)f->health_spool_bytes);
	gauge(m, "parkfeed_health_stall_threshold_seconds",
	      "[metrics] health_stall_seconds in force.", (double)f->health_stall_seconds);
	head(m, "parkfeed_config_reloads_total", "counter", "SIGHUP reloads, by outcome.");
	out(m, "parkfeed_config_reloads_total{result=\"applied\"} %" PRIu64 "\n",
	    f->reloads_applied);
	out(m, "parkfeed_config_reloads_total{result=\"refused\"} %" PRIu64 "\n",
	    f->reloads_refused);
}
