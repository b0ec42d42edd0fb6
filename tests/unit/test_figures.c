/* Unit tests of the figures: the /healthz rule and the Prometheus text rendered from them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pf_figures.h"

static struct pf_figures healthy_figures(void)
{
	struct pf_figures f;

	memset(&f, 0, sizeof(f));
	f.broker_up = f.db_up = true;
	f.health_spool_bytes = 1000;
	f.health_stall_seconds = 60;
	f.writer_state = "running";
	f.lots_fresh[0] = f.lots_fresh[1] = f.lots_fresh[2] = -1;
	return f;
}

static void test_health_ok(void **state)
{
	struct pf_figures f = healthy_figures();
	char why[200];

	(void)state;
	assert_true(pf_health_eval(&f, why, sizeof(why)));
	assert_string_equal(why, "ok");
}

static void test_health_broker_down(void **state)
{
	struct pf_figures f = healthy_figures();
	char why[200];

	(void)state;
	f.broker_up = false;
	assert_false(pf_health_eval(&f, why, sizeof(why)));
	assert_non_null(strstr(why, "broker down"));
}

/* A down database is fine while the spool is small, not past the threshold. */
static void test_health_db_down(void **state)
{
	struct pf_figures f = healthy_figures();
	char why[200];

	(void)state;
	f.db_up = false;
	f.spool.used_bytes = 600;
	f.spool.staged_bytes = 400;
	f.waiting_seconds = 1e6; /* waiting for a down database is not a stall */
	assert_true(pf_health_eval(&f, why, sizeof(why)));
	f.spool.staged_bytes = 401;
	assert_false(pf_health_eval(&f, why, sizeof(why)));
	assert_non_null(strstr(why, "database down and the spool holds 1001 bytes"));
}

static void test_health_writer_stalled(void **state)
{
	struct pf_figures f = healthy_figures();
	char why[200];

	(void)state;
	f.waiting_seconds = 60;
	assert_true(pf_health_eval(&f, why, sizeof(why)));
	f.waiting_seconds = 60.5;
	f.writer_state = "broken";
	assert_false(pf_health_eval(&f, why, sizeof(why)));
	assert_non_null(strstr(why, "writer stalled"));
	assert_non_null(strstr(why, "writer broken"));
	assert_non_null(strstr(why, "health_stall_seconds 60"));
}

/* The value of one sample line ("name{labels} value") in text, or -1 when missing. */
static double sample(const char *text, const char *name)
{
	char key[160];
	const char *p;
	double v;

	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(text, key);
	if (!p || sscanf(p + strlen(key), "%lf", &v) != 1)
		return -1;
	return v;
}

static void test_render(void **state)
{
	struct pf_figures f = healthy_figures();
	struct pf_buf b;

	(void)state;
	f.version = "9.9.9";
	f.received = 12;
	f.rejected[PF_REJ_JSON_SYNTAX] = 3;
	f.writer_stalls = 2;
	f.waiting_seconds = 1.5;
	f.spool.used_bytes = 4096;
	f.db_connects = 3;
	f.lots_fresh[0] = 7;
	f.lots_fresh[1] = 1;
	f.lots_fresh[2] = 0;
	pf_hist_observe(&f.batch_records, PF_HIST_BATCH_RECORDS, 1);
	pf_hist_observe(&f.batch_records, PF_HIST_BATCH_RECORDS, 700);
	pf_buf_init(&b);
	pf_figures_render(&b, &f, false);
	assert_false(b.oom);
	assert_non_null(strstr(b.p, "parkfeed_build_info{version=\"9.9.9\"} 1\n"));
	assert_true(sample(b.p, "parkfeed_healthy") == 0);
	assert_true(sample(b.p, "parkfeed_messages_received_total") == 12);
	assert_true(sample(b.p, "parkfeed_messages_rejected_total{reason=\"json_syntax\"}") == 3);
	assert_true(sample(b.p, "parkfeed_messages_rejected_total{reason=\"db_refused\"}") == 0);
	assert_true(sample(b.p, "parkfeed_writer_stalls_total") == 2);
	assert_true(sample(b.p, "parkfeed_writer_waiting_seconds") == 1.5);
	assert_true(sample(b.p, "parkfeed_writer_state{state=\"running\"}") == 1);
	assert_true(sample(b.p, "parkfeed_spool_bytes") == 4096);
	assert_true(sample(b.p, "parkfeed_reconnects_total{dependency=\"database\"}") == 2);
	assert_true(sample(b.p, "parkfeed_lots{freshness=\"online\"}") == 7);
	/* histogram buckets are cumulative, +Inf equals the count */
	assert_true(sample(b.p, "parkfeed_batch_records_bucket{le=\"1\"}") == 1);
	assert_true(sample(b.p, "parkfeed_batch_records_bucket{le=\"500\"}") == 1);
	assert_true(sample(b.p, "parkfeed_batch_records_bucket{le=\"1000\"}") == 2);
	assert_true(sample(b.p, "parkfeed_batch_records_bucket{le=\"+Inf\"}") == 2);
	assert_true(sample(b.p, "parkfeed_batch_records_sum") == 701);
	/* every sample has its # TYPE */
	assert_non_null(strstr(b.p, "# TYPE parkfeed_writer_stalls_total counter\n"));
	assert_non_null(strstr(b.p, "# TYPE parkfeed_batch_records histogram\n"));
	pf_buf_free(&b);
}

/* Before the first freshness answer there is no parkfeed_lots series at all. */
static void test_render_no_freshness_yet(void **state)
{
	struct pf_figures f = healthy_figures();
	struct pf_buf b;

	(void)state;
	pf_buf_init(&b);
	pf_figures_render(&b, &f, true);
	assert_null(strstr(b.p, "parkfeed_lots{"));
	assert_true(sample(b.p, "parkfeed_healthy") == 1);
	pf_buf_free(&b);
}

/* The live feed's figures: by kind, the echo with them; the latency only with a feed. */
static void test_render_feed(void **state)
{
	struct pf_figures f = healthy_figures();
	struct pf_buf b;

	(void)state;
	f.feed_published[0] = 30;
	f.feed_published[1] = 11;
	f.feed_coalesced[0] = 49;
	f.feed_dropped[1] = 2;
	f.feed_echoes = 4;
	f.feed_echoes_dropped = 1;
	f.feed_queued = 3;
	f.feed_asking = 5;
	pf_buf_init(&b);
	pf_figures_render(&b, &f, true);
	assert_true(sample(b.p, "parkfeed_feed_published_total{kind=\"lot\"}") == 30);
	assert_true(sample(b.p, "parkfeed_feed_published_total{kind=\"district\"}") == 11);
	assert_true(sample(b.p, "parkfeed_feed_published_total{kind=\"rejected\"}") == 4);
	assert_true(sample(b.p, "parkfeed_feed_coalesced_total{kind=\"lot\"}") == 49);
	assert_true(sample(b.p, "parkfeed_feed_coalesced_total{kind=\"rejected\"}") == -1);
	assert_true(sample(b.p, "parkfeed_feed_dropped_total{kind=\"district\"}") == 2);
	assert_true(sample(b.p, "parkfeed_feed_dropped_total{kind=\"rejected\"}") == 1);
	assert_true(sample(b.p, "parkfeed_feed_queued") == 3);
	assert_true(sample(b.p, "parkfeed_feed_asking") == 5);
	assert_null(strstr(b.p, "parkfeed_feed_latency_seconds"));
	b.len = 0;
	f.feed_on = true;
	pf_hist_observe(&f.feed_latency, PF_HIST_FEED_SECONDS, 0.004);
	pf_figures_render(&b, &f, true);
	assert_true(sample(b.p, "parkfeed_feed_latency_seconds_bucket{le=\"0.005\"}") == 1);
	assert_true(sample(b.p, "parkfeed_feed_latency_seconds_count") == 1);
	pf_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_ok),
		cmocka_unit_test(test_health_broker_down),
		cmocka_unit_test(test_health_db_down),
		cmocka_unit_test(test_health_writer_stalled),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_no_freshness_yet),
		cmocka_unit_test(test_render_feed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
