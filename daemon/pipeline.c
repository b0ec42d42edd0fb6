/*
 * The pipeline, receiving half: receive -> normalize -> spool -> ack. The writer (writer.c)
 * takes it from there: batch -> commit -> checkpoint.
 *
 * Every message, good or bad, becomes one spool record. PUBACKs leave only after the
 * records read so far are written and fdatasync'd (reading from the broker pauses while a
 * flush runs, so a flush always covers every message whose PUBACK is queued); then the
 * writer is told that they are durable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_log.h"
#include "pipeline.h"

#define STOP_DEADLINE_MS 8000 /* drain on stop, then leave the rest in the spool */
#define STATS_EVERY_MS 60000
#define GROUP_RECORDS 16	 /* a flush worth its fdatasync and transaction */
#define GROUP_RATE 500		 /* msg/s: above it the pause is kept short */
#define GROUP_FAST_MS 3		 /* the pause above GROUP_RATE */
#define GROUP_RATE_MAX 5000	 /* msg/s: above it flushes group by themselves */
#define GROUP_RATE_TAU_US 200000 /* how fast the rate estimate follows a change */

/* Rejects per lot in the current minute, in a small fixed table (bounded memory whatever
 * the lots): a slot taken by another lot is simply reused, which at worst stores more. */
#define REJECT_SLOTS 1024
#define REJECT_WINDOW_MS 60000
struct pipeline__reject_rate {
	char lot_id[PF_LOT_ID_MAX + 1]; /* "" for rejects without a lot (bad topics) */
	uint64_t window_ms;		/* start of the current minute */
	uint64_t count;			/* rejects in it */
	uint64_t unstored;		/* counted and not stored since the last stored one */
};

static void maybe_finish_stop(struct pf_pipeline *p);
static void start_flush(struct pf_pipeline *p);

static uint64_t now_ms(struct pf_pipeline *p)
{
	return uv_now(p->loop);
}

/* ---- reading from the broker: on only while the spool can take more ---- */

static bool spool_nearly_full(struct pf_pipeline *p)
{
	struct pf_spool_stats st;

	pf_spool_stats(p->sp, &st);
	/* Leave room for one more record: a message read is already on its way. */
	return st.used_bytes + st.staged_bytes + PF_RECORD_MAX >= (uint64_t)p->cfg->spool.max_bytes;
}

static void update_reading(struct pf_pipeline *p)
{
	bool full = spool_nearly_full(p);

	if (full != p->full) {
		p->full = full;
		if (full) {
			p->stats.backpressure_events++;
			pf_warn("spool: full (%" PRId64 " bytes, [spool] max_bytes): not reading "
				"from the broker until PostgreSQL catches up; the broker queues "
				"meanwhile",
				p->cfg->spool.max_bytes);
		} else {
			pf_notice("spool: room again, reading from the broker");
		}
	}
	pf_mqtt_set_reading(&p->mqtt, !p->flushing && !p->flush_failed && !p->full &&
					      !p->grouping && !p->stopping);
}

/* ---- receive -> normalize -> spool ---- */

static uint32_t lot_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/*
 * Whether to store this reject: every one up to reject_burst per lot per minute, then one in
 * reject_sample, which carries the count of those not stored. Returns false to drop it.
 */
static bool sample_reject(struct pf_pipeline *p, struct pf_reject *r)
{
	struct pipeline__reject_rate *s;
	uint64_t burst = (uint64_t)p->cfg->ingest.reject_burst, now = now_ms(p), over;
	size_t n;

	if (burst == 0 || !p->reject_rates)
		return true;
	s = &p->reject_rates[lot_hash(r->lot_id) % REJECT_SLOTS];
	if (strcmp(s->lot_id, r->lot_id) != 0 || now - s->window_ms >= REJECT_WINDOW_MS) {
		if (strcmp(s->lot_id, r->lot_id) != 0) {
			snprintf(s->lot_id, sizeof(s->lot_id), "%s", r->lot_id);
			s->unstored = 0;
		}
		s->window_ms = now;
		s->count = 0;
	}
	s->count++;
	if (s->count <= burst)
		over = 0;
	else
		over = s->count - burst;
	if (over > 0 && over % (uint64_t)p->cfg->ingest.reject_sample != 0) {
		s->unstored++;
		p->stats.rejects_unstored++;
		pf_log_limited(
			PF_LOG_WARNING, "reject-sampling",
			"lot %s: more than %" PRIu64 " rejects this minute; storing one in %d "
			"([ingest] reject_burst, reject_sample)",
			r->lot_id[0] ? r->lot_id : "(none)", burst, p->cfg->ingest.reject_sample);
		return false;
	}
	if (s->unstored > 0) {
		n = strlen(r->detail);
		snprintf(r->detail + n, sizeof(r->detail) - n, " (+%" PRIu64 " similar not stored)",
			 s->unstored);
		s->unstored = 0;
	}
	return true;
}

static void on_message(void *ctx, const char *topic, const uint8_t *payload, size_t len,
		       int64_t received_at, bool retained)
{
	struct pf_pipeline *p = ctx;
	struct pf_record rec;
	int n, rc;

	pf_normalize(p->norm, topic, payload, len, received_at, &rec);
	rec.retained = retained;
	p->stats.received++;
	switch (rec.kind) {
	case PF_REC_OCCUPANCY:
		p->stats.observations++;
		break;
	case PF_REC_STATUS:
		p->stats.statuses++;
		break;
	case PF_REC_REJECT:
		p->stats.rejected[rec.u.reject.reason]++;
		if (!sample_reject(p, &rec.u.reject))
			return; /* counted, not stored; its PUBACK leaves with the next release */
		pf_log_limited(PF_LOG_NOTICE, "rejected", "rejected message on %.200s: %s: %s",
			       topic, pf_reject_reason_name(rec.u.reject.reason),
			       rec.u.reject.detail);
		break;
	}
	n = pf_record_encode(&rec, p->encode_buf, sizeof(p->encode_buf));
	rc = n < 0 ? n : pf_spool_append(p->sp, p->encode_buf, (uint32_t)n);
	if (rc < 0) {
		/* Cannot keep it: its PUBACK must never leave. Dropping the connection discards
		 * every queued packet, and the broker redelivers. */
		pf_err("spool: cannot take a message on %.200s: %s; reconnecting to the broker "
		       "so it is redelivered",
		       topic, strerror(-rc));
		pf_mqtt_abort(&p->mqtt);
		return;
	}
	/* Queued now, it leaves with the PUBACKs: once the reject is durable in the spool. */
	if (rec.kind == PF_REC_REJECT)
		pf_feed_echo(&p->feed, &rec);
	if (spool_nearly_full(p))
		update_reading(p);
}

static void after_read(void *ctx)
{
	struct pf_pipeline *p = ctx;

	if (p->flushing || p->flush_failed)
		return; /* the flush under way releases the PUBACKs when it is done */
	if (pf_spool_staged_bytes(p->sp) == 0) {
		pf_mqtt_release_acks(&p->mqtt); /* nothing to make durable (sampled rejects) */
		return;
	}
	start_flush(p);
}

/* ---- spool -> durable -> ack ---- */

static void flush_work(uv_work_t *req)
{
	struct pf_pipeline *p = req->data;

	p->flush_rc = pf_spool_flush_run(p->sp);
}

static void on_flush_retry(uv_timer_t *t)
{
	struct pf_pipeline *p = t->data;

	p->flush_failed = false;
	start_flush(p);
	update_reading(p);
}

static void on_group_end(uv_timer_t *t)
{
	struct pf_pipeline *p = t->data;

	p->grouping = false;
	update_reading(p);
}

/*
 * Group commit. Under load the broker refills the socket while a flush runs, so the next
 * flush covers what arrived meanwhile. At lower rates every message or two would cost its
 * own fdatasync, thread-pool round trip, loop wake-up and transaction (a daemon at 2,000
 * msg/s spent 156 us of CPU per message). So after a small flush reading pauses for about
 * the time GROUP_RECORDS messages take: the broker holds them meanwhile, and the next read
 * takes them in one burst and one flush. Their PUBACKs wait for that flush like any others.
 * The pause is at most [ingest] group_commit_ms below GROUP_RATE, GROUP_FAST_MS up to
 * GROUP_RATE_MAX (2,000 msg/s: CPU 31% -> 12% of a core, p50 2.5 -> 7 ms, p99 unchanged at
 * 11-13 ms), and none above, where flushes are large by themselves and a pause only let the
 * lag grow.
 */
static void group_pause(struct pf_pipeline *p, uint64_t records)
{
	uint64_t now = uv_hrtime() / 1000, span = now - p->flush_end_us, ms;
	uint64_t max_ms = (uint64_t)p->cfg->ingest.group_commit_ms;

	/* The message rate, averaged over about GROUP_RATE_TAU_US whatever the flush sizes. */
	p->flush_end_us = now;
	if (span > 0)
		p->rate += (double)span / (double)(span + GROUP_RATE_TAU_US) *
			   ((double)records * 1e6 / (double)span - p->rate);
	if (p->stopping || max_ms == 0 || records >= GROUP_RECORDS || p->rate >= GROUP_RATE_MAX ||
	    pf_spool_staged_bytes(p->sp) > 0)
		return;
	if (p->rate >= GROUP_RATE && max_ms > GROUP_FAST_MS)
		max_ms = GROUP_FAST_MS;
	ms = p->rate * (double)max_ms >= GROUP_RECORDS * 1000
		     ? (uint64_t)(GROUP_RECORDS * 1000 / p->rate)
		     : max_ms;
	p->grouping = true;
	uv_timer_start(&p->group_timer, on_group_end, ms, 0);
}

static void flush_done(uv_work_t *req, int status)
{
	struct pf_pipeline *p = req->data;
	int rc = status < 0 ? status : p->flush_rc;
	struct pf_spool_stats st;

	pf_spool_flush_end(p->sp, rc);
	p->flushing = false;
	pf_spool_stats(p->sp, &st);
	if (rc == 0)
		group_pause(p, st.records_flushed - p->records_flushed);
	p->records_flushed = st.records_flushed;
	if (rc < 0) {
		p->stats.flush_errors++;
		p->flush_failed = true;
		pf_log_limited(PF_LOG_ERR, "spool-write",
			       "spool: cannot write to %s: %s (check free space and permissions); "
			       "acknowledgements are held and reading is paused until it works",
			       p->cfg->spool.dir, strerror(-rc));
		uv_timer_start(&p->flush_timer, on_flush_retry, 1000, 0);
	} else if (pf_spool_staged_bytes(p->sp) > 0) {
		start_flush(p); /* more arrived: its PUBACKs are queued too, so no release yet */
	} else {
		pf_mqtt_release_acks(&p->mqtt);
	}
	update_reading(p);
	pf_writer_durable(&p->writer);
	maybe_finish_stop(p);
}

static void start_flush(struct pf_pipeline *p)
{
	if (p->flushing)
		return;
	if (!pf_spool_flush_begin(p->sp)) {
		/* Nothing staged; else no memory for the flush: the PUBACKs stay held. */
		if (pf_spool_staged_bytes(p->sp) > 0)
			uv_timer_start(&p->flush_timer, on_flush_retry, 1000, 0);
		return;
	}
	p->flushing = true;
	update_reading(p);
	p->flush_req.data = p;
	uv_queue_work(p->loop, &p->flush_req, flush_work, flush_done);
}

static void on_committed(void *ctx, struct pf_feedq_txn *t)
{
	struct pf_pipeline *p = ctx;

	pf_feed_committed(&p->feed, t);
}

static void on_refused(void *ctx, const struct pf_record *reject)
{
	struct pf_pipeline *p = ctx;

	pf_feed_echo(&p->feed, reject);
}

static void on_published(void *ctx, int mid)
{
	struct pf_pipeline *p = ctx;

	pf_feed_published(&p->feed, mid);
}

static void on_mqtt_state(void *ctx, bool connected)
{
	struct pf_pipeline *p = ctx;

	pf_feed_connected(&p->feed, connected);
}

/* The writer freed spool space or may let a stop finish. */
static void on_writer_progress(void *ctx)
{
	struct pf_pipeline *p = ctx;

	update_reading(p);
	maybe_finish_stop(p);
}

/* ---- figures ---- */

void pf_pipeline_figures(const struct pf_pipeline *p, struct pf_figures *f)
{
	const struct pf_pipeline_stats *s = &p->stats;

	f->received = s->received;
	f->observations = s->observations;
	f->statuses = s->statuses;
	memcpy(f->rejected, s->rejected, sizeof(f->rejected));
	f->rejects_unstored = s->rejects_unstored;
	f->flush_errors = s->flush_errors;
	f->backpressure_events = s->backpressure_events;
	pf_spool_stats(p->sp, &f->spool);
	f->spool_max_bytes = p->cfg->spool.max_bytes;
	f->broker_up = pf_mqtt_connected(&p->mqtt);
	f->broker_connects = p->mqtt.connects;
	pf_writer_figures(&p->writer, f);
	pf_feed_figures(&p->feed, f);
}

static void log_stats(struct pf_pipeline *p)
{
	struct pf_figures f = {0}, *l = &p->logged;
	double secs = (double)(now_ms(p) - p->stats_at_ms) / 1000.0;
	uint64_t rejected = 0;

	pf_pipeline_figures(p, &f);
	if (f.received == l->received && f.committed_records == l->committed_records)
		return;
	for (int r = 0; r < PF_REJ__COUNT; r++)
		rejected += f.rejected[r];
	pf_info("stats: received %" PRIu64 " (%.0f/s), stored %" PRIu64 ", rejected %" PRIu64
		", committed %" PRIu64 " records in %" PRIu64 " transactions, spool %" PRIu64
		" bytes in %" PRIu64 " segments, lag %.1f ms",
		f.received, secs > 0 ? (double)(f.received - l->received) / secs : 0.0, f.stored,
		rejected, f.committed_records, f.transactions, f.spool.used_bytes, f.spool.segments,
		(double)f.last_lag_us / 1000.0);
	*l = f;
	p->stats_at_ms = now_ms(p);
}

static void on_tick(uv_timer_t *t)
{
	struct pf_pipeline *p = t->data;

	pf_writer_tick(&p->writer);
	if (now_ms(p) - p->stats_at_ms >= STATS_EVERY_MS)
		log_stats(p);
}

/* ---- life cycle ---- */

int pf_pipeline_init(struct pf_pipeline *p, uv_loop_t *loop, const struct pf_config *cfg,
		     const struct pf_norm_config *norm, struct pf_spool *sp, char *err,
		     size_t errlen)
{
	static const struct pf_mqtt_callbacks mcb = {.on_message = on_message,
						     .on_published = on_published,
						     .after_read = after_read,
						     .on_state = on_mqtt_state};
	static const struct pf_writer_callbacks wcb = {.on_progress = on_writer_progress,
						       .on_committed = on_committed,
						       .on_refused = on_refused};
	uv_timer_t *timers[] = {&p->flush_timer, &p->group_timer, &p->tick, &p->stop_timer};

	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->cfg = cfg;
	p->norm = norm;
	p->sp = sp;
	p->reject_rates = calloc(REJECT_SLOTS, sizeof(*p->reject_rates));
	if (!p->reject_rates) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		uv_timer_init(loop, timers[i]);
		timers[i]->data = p;
	}
	if (pf_mqtt_init(&p->mqtt, loop, cfg, &mcb, p, err, errlen) < 0)
		return -EINVAL;
	if (pf_writer_init(&p->writer, loop, cfg, sp, &wcb, p) < 0) {
		snprintf(err, errlen, "cannot set up the database writer: out of memory");
		return -ENOMEM;
	}
	if (pf_feed_init(&p->feed, loop, cfg, &p->mqtt, pf_writer_db(&p->writer)) < 0 ||
	    (p->feed.q && pf_writer_set_feed(&p->writer, p->feed.q) < 0)) {
		snprintf(err, errlen, "cannot set up the live feed: out of memory");
		return -ENOMEM;
	}
	return 0;
}

void pf_pipeline_start(struct pf_pipeline *p)
{
	p->stats_at_ms = now_ms(p);
	uv_timer_start(&p->tick, on_tick, 1000, 1000);
	pf_writer_start(&p->writer); /* replays whatever the spool holds */
	pf_feed_start(&p->feed);
	pf_mqtt_start(&p->mqtt);
	update_reading(p);
}

static void on_part_closed(struct pf_pipeline *p)
{
	if (--p->closing == 0 && p->stopped_cb)
		p->stopped_cb(p);
}

static void on_timer_closed(uv_handle_t *h)
{
	on_part_closed(h->data);
}

static void on_mqtt_stopped(struct pf_mqtt *m)
{
	on_part_closed((struct pf_pipeline *)((char *)m - offsetof(struct pf_pipeline, mqtt)));
}

static void on_writer_stopped(struct pf_writer *w)
{
	on_part_closed((struct pf_pipeline *)((char *)w - offsetof(struct pf_pipeline, writer)));
}

static void on_feed_stopped(struct pf_feed *f)
{
	on_part_closed((struct pf_pipeline *)((char *)f - offsetof(struct pf_pipeline, feed)));
}

static void on_stop_deadline(uv_timer_t *t)
{
	struct pf_pipeline *p = t->data;

	pf_warn("stop: PostgreSQL did not take everything within %d s; the rest stays in the "
		"spool for the next start",
		STOP_DEADLINE_MS / 1000);
	maybe_finish_stop(p);
}

static void maybe_finish_stop(struct pf_pipeline *p)
{
	struct pf_spool_stats st;
	bool deadline = p->stopping && !uv_is_active((uv_handle_t *)&p->stop_timer);
	uv_timer_t *timers[] = {&p->flush_timer, &p->group_timer, &p->tick, &p->stop_timer};

	if (!p->stopping || p->closing)
		return;
	/* A thread-pool job holds a pointer into us: let it finish first. */
	if (p->flushing)
		return;
	pf_spool_stats(p->sp, &st);
	if (st.staged_bytes > 0 && !p->flush_failed && !deadline)
		return;
	if (!pf_writer_settled(&p->writer, deadline))
		return;
	log_stats(p);
	pf_spool_stats(p->sp, &st);
	pf_info("stop: %" PRIu64 " records committed; %" PRIu64 " bytes left in the spool",
		p->writer.stats.committed_records, st.used_bytes);
	p->closing = (int)(sizeof(timers) / sizeof(timers[0])) + 3;
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		uv_close((uv_handle_t *)timers[i], on_timer_closed);
	pf_feed_stop(&p->feed, on_feed_stopped);
	pf_mqtt_stop(&p->mqtt, on_mqtt_stopped);
	pf_writer_stop(&p->writer, on_writer_stopped);
}

void pf_pipeline_stop(struct pf_pipeline *p, void (*cb)(struct pf_pipeline *p))
{
	if (p->stopping)
		return;
	p->stopping = true;
	p->stopped_cb = cb;
	update_reading(p);
	uv_timer_start(&p->stop_timer, on_stop_deadline, STOP_DEADLINE_MS, 0);
	if (!p->flushing && !p->flush_failed)
		start_flush(p);
	pf_writer_drain(&p->writer);
	maybe_finish_stop(p);
}

void pf_pipeline_free(struct pf_pipeline *p)
{
	pf_mqtt_destroy(&p->mqtt);
	pf_writer_free(&p->writer);
	pf_feed_free(&p->feed);
	free(p->reject_rates);
}
