/*
 * The live feed and the echo of rejects (feed.h). Everything here runs on the loop and waits
 * for nothing: questions go to the database through the writer's connection as a kind of their
 * own (never inside an ingest transaction), messages to the broker through libmosquitto's
 * queue, and the bookkeeping between the two is pf_feedq's. Ingest never waits for the feed:
 * when the broker takes messages slower than lots change, the queue keeps each lot's latest.
 */
#include "feed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_log.h"

#define ASK_GAP_MS 10	     /* at most a hundred feed_lots questions a second */
#define ASK_MAX_LOTS 5000    /* lots per question */
#define RETRY_MS 1000	     /* after a question failed */
#define TICK_MS 1000	     /* a district at most once a second */
#define DISTRICT_PACE_MS 100 /* and one district question every 100 ms at most */
#define SWEEP_EVERY 30	     /* ticks: every district (lots also go stale by themselves) */
#define MAX_LOTS 131072	     /* lots tracked */
#define MAX_DISTRICTS 4096

static void pump(struct pf_feed *f);

static uint64_t now_ms(const struct pf_feed *f)
{
	return uv_now(f->loop);
}

static void on_kick(uv_timer_t *t)
{
	pump(t->data);
}

/* Pump on a later loop iteration: everything that happens until then is asked in one question. */
static void kick(struct pf_feed *f, uint64_t after_ms)
{
	if (!f->q || f->stopped_cb)
		return;
	if (uv_is_active((uv_handle_t *)&f->kick) && uv_timer_get_due_in(&f->kick) <= after_ms)
		return;
	uv_timer_start(&f->kick, on_kick, after_ms, 0);
}

/* ---- questions ---- */

static int cell_int(const struct pf_db_rows *r, int i, int col)
{
	const char *v = pf_db_cell(r, i, col);

	return v ? atoi(v) : 0;
}

static int64_t cell_i64(const struct pf_db_rows *r, int i, int col)
{
	const char *v = pf_db_cell(r, i, col);

	return v ? strtoll(v, NULL, 10) : 0;
}

static void on_lots(void *ctx, const struct pf_db_rows *rows)
{
	struct pf_feed *f = ctx;

	for (int i = 0; rows && i < rows->n; i++) {
		const char *lon = pf_db_cell(rows, i, 4), *lat = pf_db_cell(rows, i, 5);
		struct pf_feedq_lot_row row = {
			.lot = {.id = pf_db_cell(rows, i, 0),
				.name = pf_db_cell(rows, i, 1),
				.district = pf_db_cell(rows, i, 2),
				.address = pf_db_cell(rows, i, 3),
				.has_pos = lon && lat,
				.lon = lon && lat ? strtod(lon, NULL) : 0,
				.lat = lon && lat ? strtod(lat, NULL) : 0,
				.has_data = true,
				.has_free = pf_db_cell(rows, i, 6) != NULL,
				.free = cell_int(rows, i, 6),
				.total = cell_int(rows, i, 7),
				.has_occupied = pf_db_cell(rows, i, 8) != NULL,
				.occupied = cell_int(rows, i, 8),
				.status = pf_db_cell(rows, i, 9),
				.observed_us = cell_i64(rows, i, 10)},
			.changes = cell_i64(rows, i, 11),
		};

		if (row.lot.id)
			pf_feedq_lot_row(f->q, &row);
	}
	pf_feedq_lots_answered(f->q, rows != NULL);
	f->asking_lots = false;
	if (!rows)
		f->lots_at_ms = now_ms(f) + RETRY_MS; /* asked again once the database is back */
	kick(f, 0);
}

static void ask_lots(struct pf_feed *f)
{
	uint64_t now = now_ms(f);
	int n;

	if (f->asking_lots || !pf_feedq_want_lots(f->q) || !pf_db_ready(f->db))
		return;
	if (now < f->lots_at_ms + ASK_GAP_MS) {
		kick(f, f->lots_at_ms + ASK_GAP_MS - now);
		return;
	}
	f->lit.len = 0;
	n = pf_feedq_ask_lots(f->q, &f->lit, ASK_MAX_LOTS);
	if (n <= 0)
		return; /* nothing to ask, or no memory: the next tick tries again */
	if (pf_db_ask_feed(f->db, PF_DB_FEED_LOTS, f->lit.p, on_lots, f) < 0) {
		pf_feedq_lots_answered(f->q, false);
		return; /* the connection went: the tick asks again */
	}
	f->asking_lots = true;
	f->lots_at_ms = now;
}

static void on_districts(void *ctx, const struct pf_db_rows *rows)
{
	struct pf_feed *f = ctx;

	for (int i = 0; rows && i < rows->n; i++) {
		struct pf_avail_district d = {
			.name = pf_db_cell(rows, i, 0),
			.lots = cell_int(rows, i, 1),
			.lots_reporting = cell_int(rows, i, 2),
			.lots_online = cell_int(rows, i, 3),
			.lots_stale = cell_int(rows, i, 4),
			.lots_offline = cell_int(rows, i, 5),
			.has_spaces = pf_db_cell(rows, i, 6) && pf_db_cell(rows, i, 7),
			.free = cell_i64(rows, i, 6),
			.total = cell_i64(rows, i, 7),
		};

		pf_feedq_district_row(f->q, &d);
	}
	pf_feedq_districts_answered(f->q, rows != NULL);
	f->asking_districts = false;
	if (rows)
		f->all_districts = false; /* known from now on: swept one by one */
	kick(f, 0);
}

/*
 * A district whose lots changed, each at most once a second, one per question and one
 * question every DISTRICT_PACE_MS: a district's counts read all its lots, and a question holds
 * the connection's pipeline while it runs (the lots' questions and the ingest transactions
 * behind it wait), so they are spread over time. Every district at the start, to learn them,
 * in one question.
 */
static void ask_districts(struct pf_feed *f)
{
	const char *param = NULL;
	uint64_t now = now_ms(f);

	if (f->asking_districts || !pf_db_ready(f->db))
		return;
	if (now < f->districts_at_ms + DISTRICT_PACE_MS) {
		if (pf_feedq_want_districts(f->q))
			kick(f, f->districts_at_ms + DISTRICT_PACE_MS - now);
		return;
	}
	if (!f->all_districts) {
		f->lit.len = 0;
		if (pf_feedq_ask_district(f->q, &f->lit, now, TICK_MS) <= 0)
			return;
		param = f->lit.p;
	}
	if (pf_db_ask_feed(f->db, PF_DB_FEED_DISTRICTS, param, on_districts, f) < 0) {
		pf_feedq_districts_answered(f->q, false);
		return;
	}
	f->asking_districts = true;
	f->districts_at_ms = now;
}

static void on_tick(uv_timer_t *t)
{
	struct pf_feed *f = t->data;

	if (++f->ticks % SWEEP_EVERY == 0)
		pf_feedq_sweep_districts(f->q);
	pump(f);
}

/* ---- publishing ---- */

/* "<prefix>/lots/<lot_id>" or "<prefix>/districts/<district>"; false for a district name
 * that would not be one topic level. */
static bool feed_topic(const struct pf_feed *f, const struct pf_feedq_msg *m, char *topic,
		       size_t cap)
{
	size_t n = (size_t)snprintf(topic, cap, "%s/%s/%s", f->cfg->feed.topic_prefix,
				    m->kind == PF_FEEDQ_LOT ? "lots" : "districts", m->key);

	/* the rest (wildcards, UTF-8) pf_mqtt_publish checks */
	return n < cap && m->key[0] && !strchr(m->key, '/');
}

/* Publish the queue's oldest message: false when it must wait for the connection. */
static bool send_one(struct pf_feed *f, const struct pf_feedq_msg *m)
{
	char topic[1024];
	int mid, rc = -EINVAL;

	if (feed_topic(f, m, topic, sizeof(topic)))
		rc = pf_mqtt_publish(f->mqtt, topic, m->payload, m->len, 1, true, &mid);
	if (rc == -ENOTCONN)
		return false;
	pf_feedq_done(f->q, m, rc == 0);
	if (rc < 0) {
		pf_log_limited(PF_LOG_WARNING, "feed-publish",
			       "feed: cannot publish the %s %s: %s%s",
			       m->kind == PF_FEEDQ_LOT ? "lot" : "district", m->key,
			       rc == -EINVAL ? "not a topic the broker takes" : strerror(-rc),
			       rc == -EINVAL && m->kind == PF_FEEDQ_DISTRICT
				       ? " (a district name must be one topic level: no /, + or #)"
				       : "");
		return true;
	}
	f->inflight[f->n_inflight++] = mid;
	if (m->kind == PF_FEEDQ_LOT && m->since_ns)
		pf_hist_observe(&f->latency, PF_HIST_FEED_SECONDS,
				(double)(uv_hrtime() - m->since_ns) / 1e9);
	return true;
}

/* Messages leave while the connection is up and the broker holds fewer than max_inflight of
 * them unacknowledged; the rest waits in the queue, where newer ones replace older. */
static void send_waiting(struct pf_feed *f)
{
	struct pf_feedq_msg m;

	while (pf_mqtt_connected(f->mqtt) && f->n_inflight < f->cfg->feed.max_inflight &&
	       pf_feedq_next(f->q, &m) && send_one(f, &m))
		;
}

static void pump(struct pf_feed *f)
{
	if (!f->q || f->stopped_cb)
		return;
	ask_lots(f);
	ask_districts(f);
	send_waiting(f);
}

/* ---- echo of rejects ---- */

static void echo_payload(struct pf_buf *b, const struct pf_record *r)
{
	char at[32], topic[PF_TOPIC_MAX + 1];

	snprintf(topic, sizeof(topic), "%.*s", (int)r->topic_len, r->topic ? r->topic : "");
	pf_avail_time(r->received_at, at);
	b->len = 0;
	pf_buf_puts(b, "{\"reason\":");
	pf_buf_json_str(b, pf_reject_reason_name(r->u.reject.reason));
	pf_buf_puts(b, ",\"detail\":");
	pf_buf_json_str(b, r->u.reject.detail);
	pf_buf_puts(b, ",\"received_at\":");
	pf_buf_json_str(b, at);
	pf_buf_puts(b, ",\"topic\":");
	pf_buf_json_str(b, topic);
	pf_buf_puts(b, "}");
}

void pf_feed_echo(struct pf_feed *f, const struct pf_record *r)
{
	char topic[PF_TOPIC_MAX + 64];
	int mid, rc;

	if (!f->cfg->feed.echo_rejects || r->kind != PF_REC_REJECT || !r->u.reject.lot_id[0])
		return; /* a topic without a lot id has nobody to tell */
	snprintf(topic, sizeof(topic), "%s/%s/rejected", f->cfg->mqtt.topic_prefix,
		 r->u.reject.lot_id);
	echo_payload(&f->out, r);
	/* QoS 0: a debugging aid for a connected controller, never a record. Its mid comes from
	 * the feed's counter; it could meet an unacknowledged feed message's only after 65,535
	 * publishes in between. */
	rc = f->out.oom ? -ENOMEM
			: pf_mqtt_publish(f->mqtt, topic, f->out.p, f->out.len, 0, false, &mid);
	if (rc < 0)
		f->echoes_dropped++;
	else
		f->echoes++;
}

/* ---- the rest ---- */

void pf_feed_committed(struct pf_feed *f, struct pf_feedq_txn *t)
{
	if (!f->q)
		return;
	pf_feedq_committed(f->q, t, uv_hrtime());
	kick(f, 0);
}

void pf_feed_connected(struct pf_feed *f, bool up)
{
	if (up)
		kick(f, 0);
}

void pf_feed_published(struct pf_feed *f, int mid)
{
	for (int i = 0; i < f->n_inflight; i++) {
		if (f->inflight[i] != mid)
			continue;
		f->inflight[i] = f->inflight[--f->n_inflight];
		kick(f, 0); /* not from inside libmosquitto */
		return;
	}
}

void pf_feed_figures(const struct pf_feed *f, struct pf_figures *figs)
{
	struct pf_feedq_stats st, *s = f->q ? &st : NULL;

	if (s)
		pf_feedq_stats(f->q, s);
	figs->feed_on = f->q != NULL;
	for (int k = 0; s && k < PF_FEEDQ__N; k++) {
		figs->feed_published[k] = s->published[k];
		figs->feed_coalesced[k] = s->coalesced[k];
		figs->feed_dropped[k] = s->dropped[k];
	}
	figs->feed_queued = s ? s->queued : 0;
	figs->feed_asking = s ? s->asking : 0;
	figs->feed_inflight = (uint64_t)f->n_inflight;
	figs->feed_echoes = f->echoes;
	figs->feed_echoes_dropped = f->echoes_dropped;
	figs->feed_latency = f->latency;
}

int pf_feed_init(struct pf_feed *f, uv_loop_t *loop, const struct pf_config *cfg,
		 struct pf_mqtt *mqtt, struct pf_db *db)
{
	struct pf_feedq_config qc = {
		.queue_max = (size_t)cfg->feed.queue_max,
		.max_lots = MAX_LOTS,
		.max_districts = MAX_DISTRICTS,
		/* alone, the daemon knows its lots' values; in a group it must ask */
		.exclusive = !cfg->mqtt.shared_group[0],
	};

	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->cfg = cfg;
	f->mqtt = mqtt;
	f->db = db;
	pf_buf_init(&f->lit);
	pf_buf_init(&f->out);
	uv_timer_init(loop, &f->kick);
	uv_timer_init(loop, &f->tick);
	f->kick.data = f->tick.data = f;
	if (!cfg->feed.topic_prefix[0])
		return 0;
	f->all_districts = true;
	f->inflight = calloc((size_t)cfg->feed.max_inflight, sizeof(*f->inflight));
	f->q = pf_feedq_new(&qc);
	return f->inflight && f->q ? 0 : -ENOMEM;
}

void pf_feed_start(struct pf_feed *f)
{
	if (f->q)
		uv_timer_start(&f->tick, on_tick, TICK_MS, TICK_MS);
}

static void on_closed(uv_handle_t *h)
{
	struct pf_feed *f = h->data;

	if (--f->closing == 0)
		f->stopped_cb(f);
}

void pf_feed_stop(struct pf_feed *f, void (*cb)(struct pf_feed *f))
{
	f->stopped_cb = cb;
	f->closing = 2;
	uv_close((uv_handle_t *)&f->kick, on_closed);
	uv_close((uv_handle_t *)&f->tick, on_closed);
}

void pf_feed_free(struct pf_feed *f)
{
	pf_feedq_free(f->q);
	free(f->inflight);
	pf_buf_free(&f->lit);
	pf_buf_free(&f->out);
	f->q = NULL;
	f->inflight = NULL;
}
