/*
 * The pipeline: receive -> normalize -> spool -> ack -> batch -> commit -> checkpoint.
 *
 * Every message, good or bad, becomes one spool record. PUBACKs leave only after the
 * records read so far are written and fdatasync'd (reading from the broker pauses while a
 * flush runs, so a flush always covers every message whose PUBACK is queued). The database
 * side takes each flush's records from memory once they are durable, reads the spool back in
 * order for anything else (a backlog, a replay), commits batches in pipelined transactions,
 * and moves the checkpoint to the end of the last batch committed without a gap. Replays after a
 * crash or a failed transaction are harmless: every write in the schema is idempotent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "pf_log.h"
#include "pipeline.h"

#define BATCH_MAX_BYTES (4u << 20) /* a batch's array literals, whatever batch_rows says */
#define READ_CHUNK (1u << 20)	   /* spool bytes read back per job */
#define CKPT_MIN_MS 200		   /* at most five checkpoints a second, */
#define CKPT_IDLE_MS 1000	   /* once a second when caught up, */
#define CKPT_SAME_SEG_MS 5000	   /* else within one segment every 5 s */
#define STOP_DEADLINE_MS 8000	   /* drain on stop, then leave the rest in the spool */
#define STATS_EVERY_MS 60000
#define FRESHNESS_EVERY_MS 10000 /* lots online/stale/offline for the metrics */
#define GROUP_RECORDS 16	 /* a flush worth its fdatasync and transaction */
#define GROUP_RATE 500		 /* msg/s: above it the pause is kept short */
#define GROUP_FAST_MS 3		 /* the pause above GROUP_RATE */
#define GROUP_RATE_MAX 5000	 /* msg/s: above it flushes group by themselves */
#define GROUP_RATE_TAU_US 200000 /* how fast the rate estimate follows a change */

enum txn_kind {
	TXN_BATCH,   /* a normal batch */
	TXN_SINGLE,  /* one record, while isolating a refused batch */
	TXN_REFUSED, /* the reject standing for a record PostgreSQL refused */
};

struct pipeline__txn {
	struct pf_spool_pos start, end; /* the spool records it covers */
	uint32_t records;
	int64_t oldest;	  /* oldest received_at, for the lag figure */
	uint64_t sent_ns; /* uv_hrtime() at send, for the commit latency */
	enum txn_kind kind;
};

enum after_break { AB_NONE, AB_RETRY, AB_RETRY_LATER, AB_ISOLATE };

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

static void pump(struct pf_pipeline *p);
static void on_batch_timer(uv_timer_t *t);
static void maybe_finish_stop(struct pf_pipeline *p);
static void start_flush(struct pf_pipeline *p);

static uint64_t now_ms(struct pf_pipeline *p)
{
	return uv_now(p->loop);
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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
		       int64_t received_at)
{
	struct pf_pipeline *p = ctx;
	struct pf_record rec;
	int n, rc;

	pf_normalize(p->norm, topic, payload, len, received_at, &rec);
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
		p->stats.rejected_total++;
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
	/* Freshly durable records go to the database writer from memory; the spool is read
	 * back only for what it cannot take this way (a backlog, a replay). */
	if (pf_spool_handoff(p->sp, READ_CHUNK))
		p->have_records = true;
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
	pump(p);
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

/* ---- spool -> batches ---- */

static void read_work(uv_work_t *req)
{
	struct pf_pipeline *p = req->data;

	p->read_rc = pf_spool_read_run(p->sp);
}

static void read_done(uv_work_t *req, int status)
{
	struct pf_pipeline *p = req->data;
	int rc = status < 0 ? status : p->read_rc;

	pf_spool_read_end(p->sp, rc);
	p->reading = false;
	if (rc < 0) {
		pf_log_limited(PF_LOG_ERR, "spool-read", "spool: cannot read back %s: %s",
			       p->cfg->spool.dir, strerror(-rc));
		uv_timer_start(&p->retry_timer, on_batch_timer, 1000, 0);
	} else {
		p->have_records = true;
	}
	pump(p);
	maybe_finish_stop(p);
}

static void start_read(struct pf_pipeline *p)
{
	if (p->reading || p->have_records || !pf_spool_read_begin(p->sp, READ_CHUNK))
		return;
	p->reading = true;
	p->read_req.data = p;
	uv_queue_work(p->loop, &p->read_req, read_work, read_done);
}

/*
 * The next record from the spool: 1 (rec filled, *after set), or 0 when none is at hand
 * (a read job is started if more is durable).
 */
static int next_record(struct pf_pipeline *p, struct pf_record *rec, const uint8_t **body,
		       uint32_t *len, struct pf_spool_pos *after)
{
	for (;;) {
		if (!p->have_records || pf_spool_next(p->sp, body, len, after) != 1) {
			p->have_records = false;
			start_read(p);
			return 0;
		}
		if (pf_record_decode(rec, *body, *len) == 0)
			return 1;
		/* Intact on disk (CRC checked) but not a record this version understands. */
		pf_err("spool: undecodable record before %" PRIu64 ":%" PRIu64 " (%u bytes) "
		       "skipped; was the spool written by another parkfeed version?",
		       after->seg, after->off, *len);
		p->stats.dropped++;
		p->cursor = *after;
	}
}

static void rewind_to(struct pf_pipeline *p, struct pf_spool_pos pos)
{
	pf_spool_rewind(p->sp, pos);
	p->cursor = pos;
	p->have_records = false;
	pf_batch_reset(p->build);
	uv_timer_stop(&p->batch_timer);
}

static struct pipeline__txn *txn_push(struct pf_pipeline *p)
{
	int cap = p->cfg->ingest.pipeline_depth + 1;
	struct pipeline__txn *t = &p->txns[(p->txn_head + p->txn_count) % cap];

	p->txn_count++;
	return t;
}

/* Send the batch being built, covering spool records [start, p->cursor). */
static int send_build(struct pf_pipeline *p, struct pf_spool_pos start, enum txn_kind kind)
{
	struct pf_db_query q[PF_DB__NSTMT];
	int nq = pf_batch_queries(p->build, q);
	struct pipeline__txn *t;

	if (pf_db_inflight(&p->db) >= p->cfg->ingest.pipeline_depth || !pf_db_ready(&p->db))
		return -EAGAIN;
	t = txn_push(p);
	t->start = start;
	t->end = p->cursor;
	t->records = (uint32_t)pf_batch_records(p->build);
	t->oldest = pf_batch_oldest(p->build);
	t->kind = kind;
	t->sent_ns = uv_hrtime();
	if (pf_db_send(&p->db, q, nq, t) < 0) {
		p->txn_count--; /* never reached the server; the connection's loss is handled */
		return -EAGAIN;
	}
	pf_hist_observe(&p->stats.batch_records, PF_HIST_BATCH_RECORDS, t->records);
	pf_batch_reset(p->build);
	uv_timer_stop(&p->batch_timer);
	return 0;
}

static void on_batch_timer(uv_timer_t *t)
{
	pump(t->data);
}

static bool build_full(struct pf_pipeline *p)
{
	return pf_batch_records(p->build) >= (size_t)p->cfg->ingest.batch_rows ||
	       pf_batch_bytes(p->build) >= BATCH_MAX_BYTES;
}

/* Isolating a refused batch: one record per transaction, one at a time. */
static void pump_isolate(struct pf_pipeline *p)
{
	struct pf_record rec;
	const uint8_t *body;
	uint32_t len;
	struct pf_spool_pos start = p->cursor, after;

	if (p->txn_count > 0)
		return;
	if (pf_spool_pos_cmp(p->cursor, p->recover_end) >= 0) {
		pf_notice("postgres: refused batch isolated; back to normal batches");
		p->recovering = false;
		pump(p);
		return;
	}
	if (next_record(p, &rec, &body, &len, &after) != 1)
		return;
	memcpy(p->recover_body, body, len);
	p->recover_len = len;
	p->cursor = after;
	pf_batch_reset(p->build);
	if (pf_batch_add(p->build, &rec) < 0 || send_build(p, start, TXN_SINGLE) < 0)
		rewind_to(p, start); /* tried again on the next pump */
}

static void pump(struct pf_pipeline *p)
{
	struct pf_record rec;
	const uint8_t *body;
	uint32_t len;
	struct pf_spool_pos after;

	if (p->broken || uv_is_active((uv_handle_t *)&p->retry_timer) || !pf_db_ready(&p->db))
		return;
	if (p->recovering) {
		pump_isolate(p);
		return;
	}
	if (pf_batch_records(p->build) == 0)
		p->build_start = p->cursor;
	for (;;) {
		if (build_full(p)) {
			if (send_build(p, p->build_start, TXN_BATCH) < 0)
				return; /* the pipeline is full: on_done pumps again */
			p->build_start = p->cursor;
			continue;
		}
		if (next_record(p, &rec, &body, &len, &after) != 1)
			break;
		if (pf_batch_add(p->build, &rec) < 0) {
			pf_err("out of memory building a batch; retrying");
			rewind_to(p, p->build_start);
			uv_timer_start(&p->retry_timer, on_batch_timer, 1000, 0);
			return;
		}
		p->cursor = after;
	}
	if (pf_batch_records(p->build) == 0)
		return;
	/* Low rate: send at once. High rate: batches fill while others are in flight, and
	 * batch_ms bounds how long a partial one waits. */
	if (pf_db_inflight(&p->db) == 0 || p->stopping) {
		if (send_build(p, p->build_start, TXN_BATCH) == 0)
			p->build_start = p->cursor;
	} else if (!uv_is_active((uv_handle_t *)&p->batch_timer)) {
		uv_timer_start(&p->batch_timer, on_batch_timer, (uint64_t)p->cfg->ingest.batch_ms,
			       0);
	}
}

/* ---- commit -> checkpoint ---- */

static void ckpt_work(uv_work_t *req)
{
	struct pf_pipeline *p = req->data;

	p->ckpt_rc = pf_spool_checkpoint_run(p->sp);
}

static void ckpt_done(uv_work_t *req, int status)
{
	struct pf_pipeline *p = req->data;
	int rc = status < 0 ? status : p->ckpt_rc;

	pf_spool_checkpoint_end(p->sp, rc);
	p->checkpointing = false;
	if (rc < 0)
		pf_log_limited(PF_LOG_ERR, "spool-checkpoint",
			       "spool: cannot write the checkpoint in %s: %s (replay after a "
			       "restart will be longer, nothing is lost)",
			       p->cfg->spool.dir, strerror(-rc));
	update_reading(p); /* segments may have been freed */
	maybe_finish_stop(p);
}

/*
 * A checkpoint costs two fsyncs and a rename. It frees disk when a segment is done, keeps
 * the spool's figures (what is not in PostgreSQL yet) true, and shortens the idempotent
 * replay after a crash. So: soon after the committed position leaves a segment, once a
 * second when everything durable is committed, else every few seconds.
 */
static void maybe_checkpoint(struct pf_pipeline *p, bool force)
{
	struct pf_spool_stats st;
	uint64_t since = now_ms(p) - p->ckpt_at_ms, wait;

	if (p->checkpointing)
		return;
	if (!force) {
		pf_spool_stats(p->sp, &st);
		if (p->committed.seg != st.checkpoint.seg)
			wait = CKPT_MIN_MS;
		else if (p->txn_count == 0 && pf_spool_pos_cmp(p->committed, st.durable_end) == 0)
			wait = CKPT_IDLE_MS;
		else
			wait = CKPT_SAME_SEG_MS;
		if (since < wait)
			return;
	}
	if (!pf_spool_checkpoint_begin(p->sp, p->committed))
		return;
	p->checkpointing = true;
	p->ckpt_at_ms = now_ms(p);
	p->ckpt_req.data = p;
	uv_queue_work(p->loop, &p->ckpt_req, ckpt_work, ckpt_done);
}

static void note_db_error(struct pf_pipeline *p, const struct pf_db_result *res)
{
	char line[256];

	snprintf(line, sizeof(line), "%.200s (SQLSTATE %s)", res->message, res->sqlstate);
	if (strcmp(line, p->last_db_error) != 0)
		pf_err("postgres: transaction failed: %s; retrying with backoff", line);
	snprintf(p->last_db_error, sizeof(p->last_db_error), "%s", line);
}

static void after_break(struct pf_pipeline *p)
{
	int cap = p->cfg->postgres.reconnect_max * 1000;

	rewind_to(p, p->committed);
	p->broken = false;
	switch (p->after_break) {
	case AB_ISOLATE:
		p->recovering = true;
		break;
	case AB_RETRY_LATER:
		p->retry_ms = p->retry_ms ? p->retry_ms * 2 : 500;
		if (p->retry_ms > cap)
			p->retry_ms = cap;
		uv_timer_start(&p->retry_timer, on_batch_timer, (uint64_t)p->retry_ms, 0);
		break;
	default:
		break;
	}
	p->after_break = AB_NONE;
}

/* The record in recover_body was refused on its own: store a reject standing for it. */
static void send_refused(struct pf_pipeline *p, const struct pipeline__txn *t,
			 const struct pf_db_result *res)
{
	struct pf_record rec, rj;
	char topic[PF_TOPIC_MAX];

	if (pf_record_decode(&rec, p->recover_body, p->recover_len) != 0)
		return;
	memset(&rj, 0, sizeof(rj));
	rj.kind = PF_REC_REJECT;
	rj.received_at = rec.received_at;
	rj.u.reject.reason = PF_REJ_DB_REFUSED;
	snprintf(rj.u.reject.detail, sizeof(rj.u.reject.detail),
		 "PostgreSQL refused it: %.180s (SQLSTATE %s)", res->message, res->sqlstate);
	if (rec.kind == PF_REC_REJECT) {
		snprintf(rj.u.reject.lot_id, sizeof(rj.u.reject.lot_id), "%s", rec.u.reject.lot_id);
		rj.topic = rec.topic;
		rj.topic_len = rec.topic_len;
		rj.payload = rec.payload;
		rj.payload_len = rec.payload_len;
		rj.payload_full_len = rec.payload_full_len;
	} else {
		const char *lot =
			rec.kind == PF_REC_OCCUPANCY ? rec.u.obs.lot_id : rec.u.status.lot_id;
		snprintf(rj.u.reject.lot_id, sizeof(rj.u.reject.lot_id), "%s", lot);
		rj.topic_len = (size_t)snprintf(
			topic, sizeof(topic), "%s/%s/%s", p->cfg->mqtt.topic_prefix, lot,
			rec.kind == PF_REC_OCCUPANCY ? "occupancy" : "status");
		rj.topic = topic;
		/* The raw payload is not kept for accepted messages; the spool record is. */
		rj.payload = p->recover_body;
		rj.payload_len = p->recover_len;
		rj.payload_full_len = p->recover_len;
	}
	pf_batch_reset(p->build);
	if (pf_batch_add(p->build, &rj) == 0 && send_build(p, t->start, TXN_REFUSED) == 0)
		return;
	p->broken = true; /* try the record again later, from the start */
	p->after_break = AB_RETRY_LATER;
}

static void on_done(void *ctx, void *tag, const struct pf_db_result *res)
{
	struct pf_pipeline *p = ctx;
	int cap = p->cfg->ingest.pipeline_depth + 1;
	struct pipeline__txn t;

	if (tag == &p->freshness_pending) {
		/* Not a spool transaction: a figure for the metrics, whatever its outcome. */
		p->freshness_pending = false;
		if (res->outcome == PF_DB_OK)
			memcpy(p->stats.lots_fresh, res->values, sizeof(p->stats.lots_fresh));
		return;
	}
	t = *(struct pipeline__txn *)tag;

	p->txn_head = (p->txn_head + 1) % cap;
	p->txn_count--;
	if (!p->broken) {
		switch (res->outcome) {
		case PF_DB_OK:
			p->committed = t.end;
			p->stats.committed_records += t.records;
			p->stats.transactions++;
			p->stats.stored += (uint64_t)res->inserted;
			if (t.oldest)
				p->stats.last_lag_us = wall_us() - t.oldest;
			pf_hist_observe(&p->stats.commit_seconds, PF_HIST_COMMIT_SECONDS,
					(double)(uv_hrtime() - t.sent_ns) / 1e9);
			if (t.kind == TXN_REFUSED) {
				p->stats.rejected[PF_REJ_DB_REFUSED]++;
				p->stats.rejected_total++;
			}
			if (p->last_db_error[0]) {
				pf_notice("postgres: transactions succeed again");
				p->last_db_error[0] = '\0';
			}
			p->retry_ms = 0;
			maybe_checkpoint(p, false);
			break;
		case PF_DB_POISON:
			if (t.kind == TXN_BATCH) {
				pf_notice("postgres: a batch of %u records was refused (%s); "
					  "storing its records one at a time",
					  t.records, res->message);
				p->broken = true;
				p->after_break = AB_ISOLATE;
				p->recover_end = t.end;
			} else if (t.kind == TXN_SINGLE) {
				pf_log_limited(PF_LOG_WARNING, "db-refused",
					       "postgres: refused a record (%s); stored in "
					       "parking.rejected as db_refused",
					       res->message);
				send_refused(p, &t, res);
			} else {
				pf_err("postgres: refused even the reject for a refused record "
				       "(%s); dropping it",
				       res->message);
				p->stats.dropped++;
				p->committed = t.end;
			}
			break;
		case PF_DB_TRANSIENT:
			note_db_error(p, res);
			p->broken = true;
			p->after_break = AB_RETRY_LATER;
			break;
		case PF_DB_LOST:
			p->broken = true;
			p->after_break = AB_RETRY; /* resent when the connection is back */
			break;
		}
	}
	if (p->broken && p->txn_count == 0)
		after_break(p);
	pump(p);
	maybe_finish_stop(p);
}

static void on_db_state(void *ctx, bool ready)
{
	struct pf_pipeline *p = ctx;

	if (ready)
		pump(p);
	else
		maybe_finish_stop(p);
}

/* ---- figures ---- */

static void log_stats(struct pf_pipeline *p)
{
	struct pf_pipeline_stats *s = &p->stats, *l = &p->logged;
	struct pf_spool_stats sp;
	double secs = (double)(now_ms(p) - p->stats_at_ms) / 1000.0;

	if (s->received == l->received && s->committed_records == l->committed_records)
		return;
	pf_spool_stats(p->sp, &sp);
	pf_info("stats: received %" PRIu64 " (%.0f/s), stored %" PRIu64 ", rejected %" PRIu64
		", committed %" PRIu64 " records in %" PRIu64 " transactions, spool %" PRIu64
		" bytes in %" PRIu64 " segments, lag %.1f ms",
		s->received, secs > 0 ? (double)(s->received - l->received) / secs : 0.0, s->stored,
		s->rejected_total, s->committed_records, s->transactions, sp.used_bytes,
		sp.segments, (double)s->last_lag_us / 1000.0);
	*l = *s;
	p->stats_at_ms = now_ms(p);
}

static void ask_freshness(struct pf_pipeline *p)
{
	struct pf_db_query q = {.stmt = PF_DB_FRESHNESS};

	if (p->freshness_pending || p->broken || p->stopping || !pf_db_ready(&p->db) ||
	    pf_db_inflight(&p->db) >= p->cfg->ingest.pipeline_depth)
		return;
	if (pf_db_send(&p->db, &q, 1, &p->freshness_pending) == 0) {
		p->freshness_pending = true;
		p->freshness_at_ms = now_ms(p);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct pf_pipeline *p = t->data;

	maybe_checkpoint(p, false);
	if (now_ms(p) - p->freshness_at_ms >= FRESHNESS_EVERY_MS)
		ask_freshness(p);
	if (now_ms(p) - p->stats_at_ms >= STATS_EVERY_MS)
		log_stats(p);
}

/* ---- life cycle ---- */

int pf_pipeline_init(struct pf_pipeline *p, uv_loop_t *loop, const struct pf_config *cfg,
		     const struct pf_norm_config *norm, struct pf_spool *sp, char *err,
		     size_t errlen)
{
	static const struct pf_mqtt_callbacks mcb = {.on_message = on_message,
						     .after_read = after_read};
	static const struct pf_db_callbacks dcb = {.on_done = on_done, .on_state = on_db_state};
	struct pf_spool_stats st;
	uv_timer_t *timers[] = {&p->flush_timer, &p->group_timer, &p->batch_timer,
				&p->retry_timer, &p->tick,	  &p->stop_timer};

	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->cfg = cfg;
	p->norm = norm;
	p->sp = sp;
	p->build = pf_batch_new();
	p->txns = calloc((size_t)cfg->ingest.pipeline_depth + 1, sizeof(*p->txns));
	p->recover_body = malloc(PF_RECORD_MAX);
	p->reject_rates = calloc(REJECT_SLOTS, sizeof(*p->reject_rates));
	if (!p->build || !p->txns || !p->recover_body || !p->reject_rates) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pf_spool_stats(sp, &st);
	p->cursor = st.read_cursor;
	p->committed = st.read_cursor;
	for (int i = 0; i < 3; i++)
		p->stats.lots_fresh[i] = -1;
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		uv_timer_init(loop, timers[i]);
		timers[i]->data = p;
	}
	if (pf_mqtt_init(&p->mqtt, loop, cfg, &mcb, p, err, errlen) < 0)
		return -EINVAL;
	if (pf_db_init(&p->db, loop, cfg, &dcb, p) < 0) {
		snprintf(err, errlen, "cannot set up the database connection");
		return -ENOMEM;
	}
	return 0;
}

void pf_pipeline_start(struct pf_pipeline *p)
{
	p->stats_at_ms = now_ms(p);
	uv_timer_start(&p->tick, on_tick, 1000, 1000);
	pf_db_start(&p->db);
	pf_mqtt_start(&p->mqtt);
	update_reading(p);
	pump(p); /* replay whatever the spool holds once PostgreSQL is there */
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

static void on_db_stopped(struct pf_db *db)
{
	on_part_closed((struct pf_pipeline *)((char *)db - offsetof(struct pf_pipeline, db)));
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
	uv_timer_t *timers[] = {&p->flush_timer, &p->group_timer, &p->batch_timer,
				&p->retry_timer, &p->tick,	  &p->stop_timer};

	if (!p->stopping || p->closing)
		return;
	/* Thread-pool jobs hold pointers into us: let them finish first. */
	if (p->flushing || p->reading || p->checkpointing)
		return;
	pf_spool_stats(p->sp, &st);
	if (st.staged_bytes > 0 && !p->flush_failed && !deadline)
		return;
	if (!deadline && pf_db_ready(&p->db) &&
	    (p->txn_count > 0 || pf_spool_pos_cmp(p->committed, st.durable_end) < 0))
		return; /* still draining */
	if (pf_spool_pos_cmp(p->committed, st.checkpoint) > 0 && !deadline) {
		maybe_checkpoint(p, true); /* a short replay on the next start */
		if (p->checkpointing)
			return;
	}
	log_stats(p);
	pf_info("stop: %" PRIu64 " records committed; %" PRIu64 " bytes left in the spool",
		p->stats.committed_records, st.used_bytes);
	p->closing = (int)(sizeof(timers) / sizeof(timers[0])) + 2;
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		uv_close((uv_handle_t *)timers[i], on_timer_closed);
	pf_mqtt_stop(&p->mqtt, on_mqtt_stopped);
	pf_db_stop(&p->db, on_db_stopped);
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
	pump(p);
	maybe_finish_stop(p);
}

void pf_pipeline_free(struct pf_pipeline *p)
{
	pf_mqtt_destroy(&p->mqtt);
	pf_batch_free(p->build);
	free(p->txns);
	free(p->recover_body);
	free(p->reject_rates);
}
