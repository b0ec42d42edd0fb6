/*
 * The database writer and connection (writer.c, db.c) against a fake libpq (fake_pq.c) whose
 * every step can fail on command: for each send, sync, flush and result of a clean run, a
 * run in which exactly that one fails (the connection lost with whatever was in flight
 * then), and runs in which the connection is closed or reset between each pair of results.
 * Each run must end with every spool record committed, the writer caught up and running.
 * Also: a refused record isolated, a transient error retried, a failed connect retried, and
 * a server that stops answering caught by the stall detector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "fake_pq.h"
#include "pf_feedq.h"
#include "pf_log.h"
#include "pf_record.h"
#include "pf_version.h"
#include "writer.h"

#define RECORDS 120	/* in the spool: 24 batches of 5 */
#define LATE_RECORDS 40 /* of them appended while the writer runs (memory hand-off) */
#define DEPTH 4
#define DEADLINE_MS 20000

struct run {
	uv_loop_t loop;
	struct pf_config cfg;
	struct pf_spool *sp;
	struct pf_writer w;
	uv_timer_t server, deadline, ticker;
	char dir[64];
	int appended; /* records in the spool so far */
	uint64_t started_ms;
	int expect; /* keys the server must end with */
	bool timed_out;
	int max_inflight; /* seen during the run */
	struct pf_feedq *feedq;
	uint64_t observed; /* observations the writer handed to the feed, as committed */
};

static struct run *current;
static uint64_t last_stalls;	 /* the writer's stall count at the end of the last run */
static bool health_said_stalled; /* /healthz would have said "writer stalled" meanwhile */
/* A schema of the wrong version until this many ms into the run (0: none), and what was
 * seen before it was put right. */
static uint64_t schema_fix_after_ms;
static int keys_before_fix = -1;
static char health_before_fix[200];

static int inflight_probe(void)
{
	return current ? pf_db_inflight(&current->w.db) : -1;
}

static void append(struct run *r, int from, int to, const char *poison_lot, int poison_at)
{
	uint8_t buf[PF_RECORD_MAX];

	for (int i = from; i < to; i++) {
		struct pf_record rec;
		int n;

		memset(&rec, 0, sizeof(rec));
		rec.kind = PF_REC_OCCUPANCY;
		rec.received_at = 1700000000000000 + i;
		snprintf(rec.u.obs.lot_id, sizeof(rec.u.obs.lot_id), "%s",
			 i == poison_at ? poison_lot : (i % 2 ? "JZ-SY-001" : "JZ-JF-002"));
		rec.u.obs.observed_at = 1690000000000000 + (int64_t)i * 1000000;
		rec.u.obs.total = 100;
		rec.u.obs.free = i % 100;
		rec.u.obs.occupied = 100 - i % 100;
		rec.u.obs.format = PF_FMT_NATIVE;
		n = pf_record_encode(&rec, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(pf_spool_append(r->sp, buf, (uint32_t)n), 0);
	}
	assert_true(pf_spool_flush_begin(r->sp));
	int rc = pf_spool_flush_run(r->sp);
	assert_int_equal(rc, 0);
	pf_spool_flush_end(r->sp, rc);
	r->appended = to;
}

static bool caught_up(struct run *r)
{
	struct pf_spool_stats st;

	pf_spool_stats(r->sp, &st);
	return r->w.txn_count == 0 && r->w.state == PF_WRITER_RUNNING &&
	       pf_spool_pos_cmp(r->w.committed, st.durable_end) == 0;
}

static void on_server(uv_timer_t *t)
{
	struct run *r = t->data;
	int inflight = pf_db_inflight(&r->w.db);

	if (inflight > r->max_inflight)
		r->max_inflight = inflight;
	if (schema_fix_after_ms && fake.schema_version &&
	    uv_now(&r->loop) - r->started_ms >= schema_fix_after_ms) {
		struct pf_figures f = {0};

		pf_writer_figures(&r->w, &f);
		f.broker_up = true;
		pf_health_eval(&f, health_before_fix, sizeof(health_before_fix));
		keys_before_fix = fake.n_keys;
		fake.schema_version = 0; /* migrated */
	}
	fake_server_tick();
	/* The late records arrive once the writer is under way. */
	if (r->appended < RECORDS && fake.commits >= 3) {
		append(r, r->appended, RECORDS, NULL, -1);
		pf_writer_durable(&r->w);
	}
	if (r->appended == RECORDS && fake.n_keys == r->expect && caught_up(r))
		uv_stop(&r->loop);
}

static void on_ticker(uv_timer_t *t)
{
	struct run *r = t->data;
	struct pf_figures f = {0};
	char why[200];

	pf_writer_tick(&r->w);
	pf_writer_figures(&r->w, &f);
	f.broker_up = true;
	f.health_stall_seconds = 0;
	if (!pf_health_eval(&f, why, sizeof(why)) && strstr(why, "writer stalled"))
		health_said_stalled = true;
}

static void on_deadline(uv_timer_t *t)
{
	struct run *r = t->data;

	r->timed_out = true;
	uv_stop(&r->loop);
}

static void on_stopped(struct pf_writer *w)
{
	(void)w;
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

/* The feed's side: every committed transaction's observations, as the live feed gets them. */
static void on_committed(void *ctx, struct pf_feedq_txn *t)
{
	struct run *r = ctx;

	r->observed += pf_feedq_txn_size(t);
	pf_feedq_committed(r->feedq, t, 1);
}

/* One run: RECORDS records, all of which must be committed despite what `fake` is told. The
 * live feed hears of exactly the observations committed, whatever was rewound and sent again. */
static void run_once(int stall_timeout, const char *poison_lot, int poison_at, int expect)
{
	static const struct pf_writer_callbacks wcb = {.on_committed = on_committed};
	struct pf_feedq_config qc = {
		.queue_max = 10, .max_lots = 10, .max_districts = 1, .exclusive = true};
	struct pf_spool_config sc = {.max_bytes = 64 << 20, .segment_bytes = 64 << 10};
	struct pf_spool_recovery rec;
	struct run *r = calloc(1, sizeof(*r));
	char err[256];

	assert_non_null(r);
	current = r;
	fake.inflight_probe = inflight_probe;
	snprintf(r->dir, sizeof(r->dir), "/tmp/pf-writer-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	sc.dir = r->dir;
	assert_int_equal(pf_spool_open(&r->sp, &sc, &rec, err, sizeof(err)), 0);
	pf_config_init(&r->cfg);
	r->cfg.ingest.pipeline_depth = DEPTH;
	r->cfg.ingest.batch_rows = 5;
	r->cfg.ingest.batch_ms = 0;
	r->cfg.ingest.stall_timeout = stall_timeout;
	r->cfg.postgres.reconnect_max = 1;
	r->expect = expect ? expect : RECORDS;
	append(r, 0, RECORDS - LATE_RECORDS, poison_lot, poison_at);

	assert_int_equal(uv_loop_init(&r->loop), 0);
	r->started_ms = uv_now(&r->loop);
	assert_int_equal(pf_writer_init(&r->w, &r->loop, &r->cfg, r->sp, &wcb, r), 0);
	r->feedq = pf_feedq_new(&qc);
	assert_non_null(r->feedq);
	assert_int_equal(pf_writer_set_feed(&r->w, r->feedq), 0);
	uv_timer_init(&r->loop, &r->server);
	uv_timer_init(&r->loop, &r->deadline);
	uv_timer_init(&r->loop, &r->ticker);
	r->server.data = r->deadline.data = r->ticker.data = r;
	uv_timer_start(&r->server, on_server, 1, 1);
	uv_timer_start(&r->deadline, on_deadline, DEADLINE_MS, 0);
	uv_timer_start(&r->ticker, on_ticker, 100, 100);
	pf_writer_start(&r->w);
	uv_run(&r->loop, UV_RUN_DEFAULT);

	if (r->timed_out)
		fail_msg(
			"not every record committed within %d ms: %d of %d keys, writer %s, db %s, "
			"%d in flight (send %d sync %d flush %d result %d)",
			DEADLINE_MS, fake.n_keys, r->expect, pf_writer_state_name(r->w.state),
			pf_db_state_name(r->w.db.state), r->w.txn_count, fake.fail_send_at,
			fake.fail_sync_at, fake.fail_flush_at, fake.drop_after_result);
	assert_int_equal(fake.n_keys, r->expect);
	assert_int_equal(r->observed, r->w.stats.committed_records - r->w.stats.refused);
	last_stalls = r->w.stats.stalls;

	pf_writer_stop(&r->w, on_stopped);
	uv_close((uv_handle_t *)&r->server, close_cb);
	uv_close((uv_handle_t *)&r->deadline, close_cb);
	uv_close((uv_handle_t *)&r->ticker, close_cb);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&r->loop), 0);
	pf_writer_free(&r->w);
	pf_feedq_free(r->feedq);
	pf_spool_close(r->sp);
	pf_config_free(&r->cfg);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	assert_int_equal(system(cmd), 0);
	current = NULL;
	free(r);
}

/* How many of each call a run without faults makes. */
static struct fake_server clean_counts(void)
{
	struct fake_server counts;

	fake_server_reset();
	run_once(0, NULL, -1, 0);
	counts = fake;
	assert_true(counts.sends >= RECORDS / 5);
	return counts;
}

static void test_clean(void **state)
{
	struct fake_server c = clean_counts();

	(void)state;
	print_message("clean run: %d sends, %d syncs, %d flushes, %d results, %d commits\n",
		      c.sends, c.syncs, c.flushes, c.results, c.commits);
}

/* Each fault kind at every position of a clean run; records which in-flight counts the
 * failures hit, and requires every one from 0 to DEPTH - 1 (a send fails before it counts). */
static void sweep(const char *what, int count, bool reset)
{
	bool seen[DEPTH + 2] = {0};

	for (int n = 1; n <= count; n++) {
		fake_server_reset();
		if (strcmp(what, "send") == 0)
			fake.fail_send_at = n;
		else if (strcmp(what, "sync") == 0)
			fake.fail_sync_at = n;
		else if (strcmp(what, "flush") == 0)
			fake.fail_flush_at = n;
		else
			fake.drop_after_result = n;
		fake.drop_reset = reset;
		fake.failed_with_inflight = -1;
		run_once(0, NULL, -1, 0);
		if (fake.failed_with_inflight >= 0 && fake.failed_with_inflight <= DEPTH)
			seen[fake.failed_with_inflight] = true;
	}
	for (int k = 0; k < DEPTH; k++)
		if (!seen[k])
			fail_msg("no %s failure hit %d transactions in flight", what, k);
}

static void test_send_fails_everywhere(void **state)
{
	struct fake_server c = clean_counts();

	(void)state;
	sweep("send", c.sends, false);
}

static void test_sync_fails_everywhere(void **state)
{
	struct fake_server c = clean_counts();

	(void)state;
	sweep("sync", c.syncs, false);
}

static void test_flush_fails_everywhere(void **state)
{
	struct fake_server c = clean_counts();

	(void)state;
	sweep("flush", c.flushes, false);
}

static void test_closed_between_results(void **state)
{
	struct fake_server c = clean_counts();

	(void)state;
	sweep("result", c.results, false);
}

static void test_reset_between_results(void **state)
{
	struct fake_server c = clean_counts();

	(void)state;
	sweep("result", c.results, true);
}

/* A record the server refuses: its batch is isolated, the rest stored. */
static void test_refused_record_isolated(void **state)
{
	(void)state;
	fake_server_reset();
	run_once(0, "POISON-1", 17, RECORDS - 1);
	assert_int_equal(current, NULL);
}

static void test_transient_error_retried(void **state)
{
	(void)state;
	fake_server_reset();
	fake.transient_left = 2;
	run_once(0, NULL, -1, 0);
}

static void test_connect_fails_retried(void **state)
{
	(void)state;
	fake_server_reset();
	fake.fail_connect_left = 3;
	run_once(0, NULL, -1, 0);
	assert_true(fake.connects >= 4);
}

/* The server stops answering with transactions in flight: after stall_timeout the writer
 * gives the connection up, and the next connection (answering again) takes everything. */
static void test_stall_detected(void **state)
{
	(void)state;
	fake_server_reset();
	fake.hang_conns = 1;
	health_said_stalled = false;
	run_once(1, NULL, -1, 0);
	assert_int_equal(last_stalls, 1);
	assert_true(fake.connects >= 2);
	assert_true(health_said_stalled);
}

/* A schema of another version: nothing is written, /healthz says why, and once the schema is
 * right the next connection writes everything. */
static void check_schema_mismatch(int version, const char *says)
{
	fake_server_reset();
	fake.schema_version = version;
	keys_before_fix = -1;
	schema_fix_after_ms = 400;
	run_once(0, NULL, -1, 0);
	schema_fix_after_ms = 0;
	assert_int_equal(keys_before_fix, 0);
	if (!strstr(health_before_fix, says))
		fail_msg("/healthz said [%s], not [%s]", health_before_fix, says);
	assert_true(fake.connects >= 2);
}

static void test_schema_older(void **state)
{
	(void)state;
	check_schema_mismatch(PF_SCHEMA_VERSION - 1, "run parkfeedctl migrate");
}

static void test_schema_newer(void **state)
{
	(void)state;
	check_schema_mismatch(PF_SCHEMA_VERSION + 1, "upgrade parkfeedd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_send_fails_everywhere),
		cmocka_unit_test(test_sync_fails_everywhere),
		cmocka_unit_test(test_flush_fails_everywhere),
		cmocka_unit_test(test_closed_between_results),
		cmocka_unit_test(test_reset_between_results),
		cmocka_unit_test(test_refused_record_isolated),
		cmocka_unit_test(test_transient_error_retried),
		cmocka_unit_test(test_connect_fails_retried),
		cmocka_unit_test(test_stall_detected),
		cmocka_unit_test(test_schema_older),
		cmocka_unit_test(test_schema_newer),
	};

	pf_log_init("test_writer", PF_LOG_ERR);
	db__backoff_min_ms = 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
