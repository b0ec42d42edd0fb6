/*
 * The database writer: durable spool records -> batches -> pipelined transactions ->
 * checkpoint, as the state machine drawn in writer.h.
 *
 * It takes each flush's records from memory once they are durable, reads the spool back in
 * order for anything else (a backlog, a replay), commits batches in pipelined transactions,
 * and moves the checkpoint to the end of the last batch committed without a gap. Replays
 * after a crash or a failed transaction are harmless: every write in the schema is
 * idempotent. A connection that stops committing while records wait is given up after
 * [ingest] stall_timeout and the writer resumes from the last commit.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pf_batch.h"
#include "pf_feedq.h"
#include "pf_log.h"
#include "writer.h"

#define BATCH_MAX_BYTES (4u << 20) /* a batch's array literals, whatever batch_rows says */
#define READ_CHUNK (1u << 20)	   /* spool bytes read back per job */
#define READ_RETRY_MS 1000	   /* after a spool read error */
#define CKPT_MIN_MS 200		   /* at most five checkpoints a second, */
#define CKPT_IDLE_MS 1000	   /* once a second when caught up, */
#define CKPT_SAME_SEG_MS 5000	   /* else within one segment every 5 s */
#define FRESHNESS_EVERY_MS 10000   /* lots online/stale/offline for the metrics */
#define RETRY_MIN_MS 500	   /* first backoff after a transient failure */

enum txn_kind {
	TXN_BATCH,   /* a normal batch */
	TXN_SINGLE,  /* one record, while isolating a refused batch */
	TXN_REFUSED, /* the reject standing for a record PostgreSQL refused */
};

struct writer__txn {
	struct pf_spool_pos start, end; /* the spool records it covers */
	uint32_t records;
	int64_t oldest;	  /* oldest received_at, for the lag figure */
	uint64_t sent_ns; /* uv_hrtime() at send, for the commit latency */
	enum txn_kind kind;
	struct pf_feedq_txn *obs; /* with a feed: its observations */
};

static const char *const state_names[PF_WRITER__NSTATES] = {
	[PF_WRITER_WAIT_DB] = "wait_db",       [PF_WRITER_RUNNING] = "running",
	[PF_WRITER_BROKEN] = "broken",	       [PF_WRITER_ISOLATING] = "isolating",
	[PF_WRITER_RETRY_WAIT] = "retry_wait", [PF_WRITER_STOPPED] = "stopped",
};

/* allowed[from] has bit `to` set for each move the diagram in writer.h shows. */
#define BIT(s) (1u << (s))
/* Read only by assert(): unused where NDEBUG is defined (release builds). */
static const unsigned allowed[PF_WRITER__NSTATES] __attribute__((unused)) = {
	[PF_WRITER_WAIT_DB] =
		BIT(PF_WRITER_RUNNING) | BIT(PF_WRITER_ISOLATING) | BIT(PF_WRITER_STOPPED),
	[PF_WRITER_RUNNING] =
		BIT(PF_WRITER_BROKEN) | BIT(PF_WRITER_WAIT_DB) | BIT(PF_WRITER_STOPPED),
	[PF_WRITER_BROKEN] = BIT(PF_WRITER_WAIT_DB) | BIT(PF_WRITER_RUNNING) |
			     BIT(PF_WRITER_ISOLATING) | BIT(PF_WRITER_RETRY_WAIT) |
			     BIT(PF_WRITER_STOPPED),
	[PF_WRITER_ISOLATING] = BIT(PF_WRITER_BROKEN) | BIT(PF_WRITER_RUNNING) |
				BIT(PF_WRITER_WAIT_DB) | BIT(PF_WRITER_STOPPED),
	[PF_WRITER_RETRY_WAIT] = BIT(PF_WRITER_RUNNING) | BIT(PF_WRITER_ISOLATING) |
				 BIT(PF_WRITER_WAIT_DB) | BIT(PF_WRITER_STOPPED),
	[PF_WRITER_STOPPED] = 0,
};

static void pump(struct pf_writer *w);

const char *pf_writer_state_name(enum pf_writer_state s)
{
	return s < PF_WRITER__NSTATES ? state_names[s] : "?";
}

static void enter(struct pf_writer *w, enum pf_writer_state to)
{
	assert(allowed[w->state] & BIT(to));
	pf_debug("writer: %s -> %s", state_names[w->state], state_names[to]);
	w->state = to;
}

static uint64_t now_ms(const struct pf_writer *w)
{
	return uv_now(w->loop);
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void progress(struct pf_writer *w)
{
	if (w->cb.on_progress)
		w->cb.on_progress(w->ctx);
}

/* ---- reading the spool back ---- */

static void on_pump_timer(uv_timer_t *t)
{
	pump(t->data);
}

static void read_work(uv_work_t *req)
{
	struct pf_writer *w = req->data;

	w->read_rc = pf_spool_read_run(w->sp);
}

static void read_done(uv_work_t *req, int status)
{
	struct pf_writer *w = req->data;
	int rc = status < 0 ? status : w->read_rc;

	pf_spool_read_end(w->sp, rc);
	w->reading = false;
	if (rc < 0) {
		pf_log_limited(PF_LOG_ERR, "spool-read", "spool: cannot read back %s: %s",
			       w->cfg->spool.dir, strerror(-rc));
		uv_timer_start(&w->batch_timer, on_pump_timer, READ_RETRY_MS, 0);
	} else {
		w->have_records = true;
	}
	pump(w);
	progress(w);
}

static void start_read(struct pf_writer *w)
{
	if (w->reading || w->have_records || w->state == PF_WRITER_STOPPED ||
	    !pf_spool_read_begin(w->sp, READ_CHUNK))
		return;
	w->reading = true;
	w->read_req.data = w;
	uv_queue_work(w->loop, &w->read_req, read_work, read_done);
}

/*
 * The next record from the spool: 1 (rec filled, *after set), or 0 when none is at hand
 * (a read job is started if more is durable).
 */
static int next_record(struct pf_writer *w, struct pf_record *rec, const uint8_t **body,
		       uint32_t *len, struct pf_spool_pos *after)
{
	int rc;

	for (;;) {
		if (!w->have_records || pf_spool_next(w->sp, body, len, after) != 1) {
			w->have_records = false;
			start_read(w);
			return 0;
		}
		rc = pf_record_decode_spooled(rec, *body, *len);
		if (rc == 1)
			pf_log_limited(PF_LOG_WARNING, "spool-clean",
				       "spool: a record before %" PRIu64 ":%" PRIu64
				       " written by parkfeed 0.1 held control characters in its "
				       "text: they are stored as '?', as this version stores them",
				       after->seg, after->off);
		if (rc >= 0)
			return 1;
		/* Intact on disk (CRC checked) but not a record this version understands. */
		pf_err("spool: undecodable record before %" PRIu64 ":%" PRIu64 " (%u bytes) "
		       "skipped; was the spool written by another parkfeed version?",
		       after->seg, after->off, *len);
		w->stats.dropped++;
		w->cursor = *after;
	}
}

/* The batch being built starts afresh (its feed observations with it). */
static void reset_build(struct pf_writer *w)
{
	pf_batch_reset(w->build);
	if (w->build_obs)
		pf_feedq_txn_reset(w->build_obs);
}

/* Add a record to the batch being built (and its observation to the feed's): 0 or -ENOMEM. */
static int build_add(struct pf_writer *w, const struct pf_record *rec)
{
	if (pf_batch_add(w->build, rec) < 0)
		return -ENOMEM;
	if (w->feedq && rec->kind == PF_REC_OCCUPANCY &&
	    pf_feedq_txn_add(w->feedq, w->build_obs, &rec->u.obs) < 0)
		return -ENOMEM;
	return 0;
}

static void rewind_to(struct pf_writer *w, struct pf_spool_pos pos)
{
	pf_spool_rewind(w->sp, pos);
	w->cursor = pos;
	w->start = pos;
	w->have_records = false;
	reset_build(w);
	uv_timer_stop(&w->batch_timer);
}

/* ---- batches -> transactions ---- */

/*
 * Send the batch being built, covering spool records [start, cursor). 0 when sent; else
 * -EAGAIN (the pipeline is full or the database not ready) or -EIO (the connection failed
 * while sending): the batch stays built, and nothing was counted.
 */
static int send_build(struct pf_writer *w, struct pf_spool_pos start, enum txn_kind kind)
{
	int cap = w->cfg->ingest.pipeline_depth + 1;
	struct writer__txn *t = &w->txns[(w->txn_head + w->txn_count) % cap];
	struct pf_ingest_query q[PF_INGEST__N];
	int nq = pf_batch_queries(w->build, q), rc;
	struct pf_feedq_txn *obs = t->obs;

	if (w->txn_count + 1 >= cap)
		return -EAGAIN;
	*t = (struct writer__txn){
		.start = start,
		.end = w->cursor,
		.records = (uint32_t)pf_batch_records(w->build),
		.oldest = pf_batch_oldest(w->build),
		.kind = kind,
		.sent_ns = uv_hrtime(),
		.obs = obs,
	};
	rc = pf_db_send(&w->db, q, nq, t);
	if (rc < 0)
		return rc;
	w->txn_count++;
	pf_hist_observe(&w->stats.batch_records, PF_HIST_BATCH_RECORDS, t->records);
	/* The transaction takes the batch's observations; the build starts on the slot's old,
	 * forgotten ones. */
	t->obs = w->build_obs;
	w->build_obs = obs;
	reset_build(w);
	uv_timer_stop(&w->batch_timer);
	return 0;
}

static bool build_full(const struct pf_writer *w)
{
	return pf_batch_records(w->build) >= (size_t)w->cfg->ingest.batch_rows ||
	       pf_batch_bytes(w->build) >= BATCH_MAX_BYTES;
}

/* RUNNING: fill batches and send them while the pipeline has room. */
static void pump_batches(struct pf_writer *w)
{
	struct pf_record rec;
	const uint8_t *body;
	uint32_t len;
	struct pf_spool_pos after;

	if (pf_batch_records(w->build) == 0)
		w->start = w->cursor;
	for (;;) {
		if (build_full(w)) {
			if (send_build(w, w->start, TXN_BATCH) < 0)
				return; /* full: an outcome pumps again; lost: a reconnect does */
			w->start = w->cursor;
			continue;
		}
		if (next_record(w, &rec, &body, &len, &after) != 1)
			break;
		if (build_add(w, &rec) < 0) {
			pf_err("out of memory building a batch; retrying in a second");
			rewind_to(w, w->start);
			uv_timer_start(&w->batch_timer, on_pump_timer, READ_RETRY_MS, 0);
			return;
		}
		w->cursor = after;
	}
	if (pf_batch_records(w->build) == 0)
		return;
	/* Low rate: send at once. High rate: batches fill while others are in flight, and
	 * batch_ms bounds how long a partial one waits. */
	if (pf_db_inflight(&w->db) == 0 || w->stopping) {
		if (send_build(w, w->start, TXN_BATCH) == 0)
			w->start = w->cursor;
	} else if (!uv_is_active((uv_handle_t *)&w->batch_timer)) {
		uv_timer_start(&w->batch_timer, on_pump_timer, (uint64_t)w->cfg->ingest.batch_ms,
			       0);
	}
}

/* ISOLATING: one record per transaction, one transaction at a time. */
static void pump_single(struct pf_writer *w)
{
	struct pf_record rec;
	const uint8_t *body;
	uint32_t len;
	struct pf_spool_pos start = w->cursor, after;

	if (w->txn_count > 0)
		return;
	if (pf_spool_pos_cmp(w->cursor, w->isolate_end) >= 0) {
		pf_notice("postgres: refused batch isolated; back to normal batches");
		w->isolate_pending = false;
		enter(w, PF_WRITER_RUNNING);
		pump_batches(w);
		return;
	}
	if (next_record(w, &rec, &body, &len, &after) != 1)
		return;
	memcpy(w->single_body, body, len);
	w->single_len = len;
	w->cursor = after;
	reset_build(w);
	if (build_add(w, &rec) < 0 || send_build(w, start, TXN_SINGLE) < 0)
		rewind_to(w, start); /* tried again on the next pump */
}

static void pump(struct pf_writer *w)
{
	if (w->state == PF_WRITER_RUNNING)
		pump_batches(w);
	else if (w->state == PF_WRITER_ISOLATING)
		pump_single(w);
}

/* The database is there and no failure is pending: batches again, or the isolation left
 * unfinished when the connection went. */
static void resume(struct pf_writer *w)
{
	enter(w, w->isolate_pending ? PF_WRITER_ISOLATING : PF_WRITER_RUNNING);
	w->watch_ms = now_ms(w);
	pump(w);
}

/* ---- commit -> checkpoint ---- */

static void ckpt_work(uv_work_t *req)
{
	struct pf_writer *w = req->data;

	w->ckpt_rc = pf_spool_checkpoint_run(w->sp);
}

static void ckpt_done(uv_work_t *req, int status)
{
	struct pf_writer *w = req->data;
	int rc = status < 0 ? status : w->ckpt_rc;

	pf_spool_checkpoint_end(w->sp, rc);
	w->checkpointing = false;
	if (rc < 0)
		pf_log_limited(PF_LOG_ERR, "spool-checkpoint",
			       "spool: cannot write the checkpoint in %s: %s (replay after a "
			       "restart will be longer, nothing is lost)",
			       w->cfg->spool.dir, strerror(-rc));
	progress(w); /* segments may have been freed */
}

/*
 * A checkpoint costs two fsyncs and a rename. It frees disk when a segment is done, keeps
 * the spool's figures (what is not in PostgreSQL yet) true, and shortens the idempotent
 * replay after a crash. So: soon after the committed position leaves a segment, once a
 * second when everything durable is committed, else every few seconds.
 */
static void maybe_checkpoint(struct pf_writer *w, bool force)
{
	struct pf_spool_stats st;
	uint64_t since = now_ms(w) - w->ckpt_at_ms, wait;

	if (w->checkpointing)
		return;
	if (!force) {
		pf_spool_stats(w->sp, &st);
		if (w->committed.seg != st.checkpoint.seg)
			wait = CKPT_MIN_MS;
		else if (w->txn_count == 0 && pf_spool_pos_cmp(w->committed, st.durable_end) == 0)
			wait = CKPT_IDLE_MS;
		else
			wait = CKPT_SAME_SEG_MS;
		if (since < wait)
			return;
	}
	if (!pf_spool_checkpoint_begin(w->sp, w->committed))
		return;
	w->checkpointing = true;
	w->ckpt_at_ms = now_ms(w);
	w->ckpt_req.data = w;
	uv_queue_work(w->loop, &w->ckpt_req, ckpt_work, ckpt_done);
}

/* ---- outcomes ---- */

static void note_db_error(struct pf_writer *w, const struct pf_db_result *res)
{
	char line[256];

	snprintf(line, sizeof(line), "%.200s (SQLSTATE %s)", res->message, res->sqlstate);
	if (strcmp(line, w->last_db_error) != 0)
		pf_err("postgres: transaction failed: %s; retrying with backoff", line);
	snprintf(w->last_db_error, sizeof(w->last_db_error), "%s", line);
}

static void on_retry(uv_timer_t *t)
{
	struct pf_writer *w = t->data;

	if (w->state != PF_WRITER_RETRY_WAIT)
		return;
	if (pf_db_ready(&w->db))
		resume(w);
	else
		enter(w, PF_WRITER_WAIT_DB);
}

/* A transaction failed: later outcomes are ignored until nothing is in flight. */
static void break_to(struct pf_writer *w, enum pf_writer_state after)
{
	enter(w, PF_WRITER_BROKEN);
	w->after = after;
	uv_timer_stop(&w->batch_timer);
}

/* BROKEN and nothing in flight: back to the last commit, then where the failure said. */
static void leave_broken(struct pf_writer *w)
{
	int cap = w->cfg->postgres.reconnect_max * 1000;

	rewind_to(w, w->committed);
	if (w->after == PF_WRITER_RETRY_WAIT) {
		w->retry_ms = w->retry_ms ? w->retry_ms * 2 : RETRY_MIN_MS;
		if (w->retry_ms > cap)
			w->retry_ms = cap;
		enter(w, PF_WRITER_RETRY_WAIT);
		uv_timer_start(&w->retry_timer, on_retry, (uint64_t)w->retry_ms, 0);
	} else if (pf_db_ready(&w->db)) {
		resume(w);
	} else {
		enter(w, PF_WRITER_WAIT_DB);
	}
}

/* The record in single_body was refused on its own: store a reject standing for it. */
static void send_refused(struct pf_writer *w, const struct writer__txn *t,
			 const struct pf_db_result *res)
{
	struct pf_record rec, rj;
	char topic[PF_TOPIC_MAX];

	if (pf_record_decode_spooled(&rec, w->single_body, w->single_len) < 0)
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
			topic, sizeof(topic), "%s/%s/%s", w->cfg->mqtt.topic_prefix, lot,
			rec.kind == PF_REC_OCCUPANCY ? "occupancy" : "status");
		rj.topic = topic;
		/* The raw payload is not kept for accepted messages; the spool record is. */
		rj.payload = w->single_body;
		rj.payload_len = w->single_len;
		rj.payload_full_len = w->single_len;
	}
	reset_build(w);
	/* Kept for the echo once it is stored; the payload is not echoed. */
	w->refused = rj;
	snprintf(w->refused_topic, sizeof(w->refused_topic), "%.*s", (int)rj.topic_len,
		 rj.topic ? rj.topic : "");
	w->refused.topic = w->refused_topic;
	w->refused.topic_len = strlen(w->refused_topic);
	w->refused.payload = NULL;
	w->refused.payload_len = 0;
	if (pf_batch_add(w->build, &rj) == 0 && send_build(w, t->start, TXN_REFUSED) == 0)
		return;
	break_to(w, PF_WRITER_RETRY_WAIT); /* try the record again later, from the start */
}

static void committed(struct pf_writer *w, const struct writer__txn *t,
		      const struct pf_db_result *res)
{
	w->committed = t->end;
	w->stats.committed_records += t->records;
	w->stats.transactions++;
	w->stats.stored += (uint64_t)res->inserted;
	if (t->oldest)
		w->stats.last_lag_us = wall_us() - t->oldest;
	pf_hist_observe(&w->stats.commit_seconds, PF_HIST_COMMIT_SECONDS,
			(double)(uv_hrtime() - t->sent_ns) / 1e9);
	if (t->kind == TXN_REFUSED) {
		w->stats.refused++;
		if (w->cb.on_refused)
			w->cb.on_refused(w->ctx, &w->refused);
	} else if (w->feedq && w->cb.on_committed) {
		w->cb.on_committed(w->ctx, t->obs);
	}
	if (w->last_db_error[0]) {
		pf_notice("postgres: transactions succeed again");
		w->last_db_error[0] = '\0';
	}
	if (w->stall_logged) {
		pf_notice("writer: committing again");
		w->stall_logged = false;
	}
	w->retry_ms = 0;
	w->progress_ms = w->watch_ms = now_ms(w);
	maybe_checkpoint(w, false);
}

static void outcome(struct pf_writer *w, const struct writer__txn *t,
		    const struct pf_db_result *res)
{
	switch (res->outcome) {
	case PF_DB_OK:
		committed(w, t, res);
		break;
	case PF_DB_POISON:
		if (t->kind == TXN_BATCH) {
			pf_notice("postgres: a batch of %u records was refused (%s); storing its "
				  "records one at a time",
				  t->records, res->message);
			w->isolate_end = t->end;
			w->isolate_pending = true;
			break_to(w, PF_WRITER_ISOLATING);
		} else if (t->kind == TXN_SINGLE) {
			pf_log_limited(PF_LOG_WARNING, "db-refused",
				       "postgres: refused a record (%s); stored in "
				       "parking.rejected as db_refused",
				       res->message);
			send_refused(w, t, res);
		} else {
			pf_err("postgres: refused even the reject for a refused record (%s); "
			       "dropping it",
			       res->message);
			w->stats.dropped++;
			w->committed = t->end;
		}
		break;
	case PF_DB_TRANSIENT:
		note_db_error(w, res);
		break_to(w, PF_WRITER_RETRY_WAIT);
		break;
	case PF_DB_LOST:
		break_to(w, PF_WRITER_WAIT_DB); /* resent once the connection is back */
		break;
	}
}

static void on_done(void *ctx, void *tag, const struct pf_db_result *res)
{
	struct pf_writer *w = ctx;
	int cap = w->cfg->ingest.pipeline_depth + 1;
	struct writer__txn t = *(struct writer__txn *)tag;

	assert(w->txn_count > 0 && tag == &w->txns[w->txn_head]);
	w->txn_head = (w->txn_head + 1) % cap;
	w->txn_count--;
	if (w->state != PF_WRITER_BROKEN)
		outcome(w, &t, res);
	if (w->state == PF_WRITER_BROKEN && w->txn_count == 0)
		leave_broken(w);
	pump(w);
	progress(w);
}

static void on_freshness(void *ctx, const int64_t counts[3])
{
	struct pf_writer *w = ctx;

	memcpy(w->stats.lots_fresh, counts, sizeof(w->stats.lots_fresh));
}

static void on_db_state(void *ctx, bool ready)
{
	struct pf_writer *w = ctx;

	if (ready) {
		if (w->state == PF_WRITER_WAIT_DB)
			resume(w);
		return;
	}
	/* Whatever was in flight has been reported LOST already (BROKEN until it returned). */
	if (w->state == PF_WRITER_RUNNING || w->state == PF_WRITER_ISOLATING ||
	    w->state == PF_WRITER_RETRY_WAIT) {
		uv_timer_stop(&w->retry_timer);
		enter(w, PF_WRITER_WAIT_DB);
	}
	progress(w);
}

/* ---- liveness ---- */

static bool records_waiting(const struct pf_writer *w)
{
	struct pf_spool_stats st;

	pf_spool_stats(w->sp, &st);
	return w->txn_count > 0 || pf_spool_pos_cmp(w->committed, st.durable_end) < 0;
}

/*
 * Durable records wait, the database is connected, and nothing has committed for
 * [ingest] stall_timeout: whatever the cause (a connection that stopped answering, a
 * server-side lock, a fault of ours), give the connection up and resume from the last
 * commit. Logged once per stall, counted each time.
 */
static void check_stall(struct pf_writer *w)
{
	uint64_t now = now_ms(w), limit = (uint64_t)w->cfg->ingest.stall_timeout * 1000;
	char why[160];

	if (!records_waiting(w)) {
		w->progress_ms = w->watch_ms = now;
		return;
	}
	if (limit == 0 || !pf_db_ready(&w->db) || now - w->watch_ms < limit ||
	    (w->state != PF_WRITER_RUNNING && w->state != PF_WRITER_ISOLATING &&
	     w->state != PF_WRITER_BROKEN))
		return;
	w->stats.stalls++;
	if (!w->stall_logged) {
		struct pf_spool_stats st;

		pf_spool_stats(w->sp, &st);
		pf_warn("writer: stalled: nothing committed for %" PRIu64
			" s while durable records "
			"wait (state %s, %d transactions in flight, committed up to %" PRIu64
			":%" PRIu64 ", durable up to %" PRIu64 ":%" PRIu64 "); reconnecting to "
			"PostgreSQL and resuming from the last commit ([ingest] stall_timeout)",
			(now - w->watch_ms) / 1000, state_names[w->state], w->txn_count,
			w->committed.seg, w->committed.off, st.durable_end.seg, st.durable_end.off);
		w->stall_logged = true;
	}
	snprintf(why, sizeof(why), "no commit for %" PRIu64 " s ([ingest] stall_timeout)",
		 (now - w->watch_ms) / 1000);
	w->watch_ms = now;
	pf_db_reset(&w->db, why);
}

/* ---- public verbs ---- */

int pf_writer_init(struct pf_writer *w, uv_loop_t *loop, const struct pf_config *cfg,
		   struct pf_spool *sp, const struct pf_writer_callbacks *cb, void *ctx)
{
	static const struct pf_db_callbacks dcb = {
		.on_done = on_done, .on_freshness = on_freshness, .on_state = on_db_state};
	uv_timer_t *timers[] = {&w->batch_timer, &w->retry_timer};
	struct pf_spool_stats st;

	memset(w, 0, sizeof(*w));
	w->loop = loop;
	w->cfg = cfg;
	w->sp = sp;
	w->cb = *cb;
	w->ctx = ctx;
	w->build = pf_batch_new();
	w->txns = calloc((size_t)cfg->ingest.pipeline_depth + 1, sizeof(*w->txns));
	w->single_body = malloc(PF_RECORD_MAX);
	if (!w->build || !w->txns || !w->single_body)
		return -ENOMEM;
	pf_spool_stats(sp, &st);
	w->cursor = w->start = w->committed = st.read_cursor;
	for (int i = 0; i < 3; i++)
		w->stats.lots_fresh[i] = -1;
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		if (uv_timer_init(loop, timers[i]) != 0)
			return -ENOMEM;
		timers[i]->data = w;
	}
	return pf_db_init(&w->db, loop, cfg, &dcb, w);
}

int pf_writer_set_feed(struct pf_writer *w, struct pf_feedq *q)
{
	int cap = w->cfg->ingest.pipeline_depth + 1;

	w->feedq = q;
	if (!(w->build_obs = pf_feedq_txn_new()))
		return -ENOMEM;
	for (int i = 0; i < cap; i++)
		if (!(w->txns[i].obs = pf_feedq_txn_new()))
			return -ENOMEM;
	return 0;
}

struct pf_db *pf_writer_db(struct pf_writer *w)
{
	return &w->db;
}

void pf_writer_start(struct pf_writer *w)
{
	w->progress_ms = w->watch_ms = now_ms(w);
	pf_db_start(&w->db);
	start_read(w); /* the replay is read while the connection is made */
}

void pf_writer_durable(struct pf_writer *w)
{
	/* Freshly durable records come from memory; the spool is read back only for what
	 * this cannot take (a backlog, a replay). */
	if (!w->reading && pf_spool_handoff(w->sp, READ_CHUNK))
		w->have_records = true;
	pump(w);
}

void pf_writer_tick(struct pf_writer *w)
{
	maybe_checkpoint(w, false);
	check_stall(w);
	if (!w->stopping && w->state == PF_WRITER_RUNNING &&
	    now_ms(w) - w->freshness_at_ms >= FRESHNESS_EVERY_MS &&
	    pf_db_ask_freshness(&w->db) == 0)
		w->freshness_at_ms = now_ms(w);
}

void pf_writer_drain(struct pf_writer *w)
{
	w->stopping = true;
	pump(w);
}

bool pf_writer_settled(struct pf_writer *w, bool deadline)
{
	struct pf_spool_stats st;

	/* Thread-pool jobs hold pointers into us: let them finish first. */
	if (w->reading || w->checkpointing)
		return false;
	pf_spool_stats(w->sp, &st);
	if (!deadline && pf_db_ready(&w->db) &&
	    (w->txn_count > 0 || pf_spool_pos_cmp(w->committed, st.durable_end) < 0))
		return false; /* still draining */
	if (pf_spool_pos_cmp(w->committed, st.checkpoint) > 0 && !deadline) {
		maybe_checkpoint(w, true); /* a short replay on the next start */
		if (w->checkpointing)
			return false;
	}
	return true;
}

static void on_part_closed(struct pf_writer *w)
{
	if (--w->closing == 0 && w->stopped_cb)
		w->stopped_cb(w);
}

static void on_timer_closed(uv_handle_t *h)
{
	on_part_closed(h->data);
}

static void on_db_stopped(struct pf_db *db)
{
	on_part_closed((struct pf_writer *)((char *)db - offsetof(struct pf_writer, db)));
}

void pf_writer_stop(struct pf_writer *w, void (*cb)(struct pf_writer *w))
{
	uv_timer_t *timers[] = {&w->batch_timer, &w->retry_timer};

	if (w->state != PF_WRITER_STOPPED)
		enter(w, PF_WRITER_STOPPED);
	w->stopped_cb = cb;
	w->closing = (int)(sizeof(timers) / sizeof(timers[0])) + 1;
	w->txn_count = 0;
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		uv_close((uv_handle_t *)timers[i], on_timer_closed);
	pf_db_stop(&w->db, on_db_stopped);
}

void pf_writer_free(struct pf_writer *w)
{
	int cap = w->cfg->ingest.pipeline_depth + 1;

	pf_batch_free(w->build);
	pf_feedq_txn_free(w->build_obs);
	for (int i = 0; w->txns && i < cap; i++)
		pf_feedq_txn_free(w->txns[i].obs);
	free(w->txns);
	free(w->single_body);
	w->build = NULL;
	w->txns = NULL;
	w->single_body = NULL;
	w->build_obs = NULL;
}

void pf_writer_figures(const struct pf_writer *w, struct pf_figures *f)
{
	const struct pf_writer_stats *s = &w->stats;

	f->stored = s->stored;
	f->committed_records = s->committed_records;
	f->transactions = s->transactions;
	f->dropped = s->dropped;
	f->rejected[PF_REJ_DB_REFUSED] += s->refused;
	f->writer_stalls = s->stalls;
	f->last_lag_us = s->last_lag_us;
	memcpy(f->lots_fresh, s->lots_fresh, sizeof(f->lots_fresh));
	f->batch_records = s->batch_records;
	f->commit_seconds = s->commit_seconds;
	f->writer_state = state_names[w->state];
	f->db_up = pf_db_ready(&w->db);
	f->schema_problem = w->db.schema_problem[0] ? w->db.schema_problem : NULL;
	f->db_connects = w->db.connects;
	f->lot_limit_refused = w->db.lot_limit_refused;
	f->waiting_seconds =
		records_waiting(w) ? (double)(now_ms(w) - w->progress_ms) / 1000.0 : 0.0;
}
