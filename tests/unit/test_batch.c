/* Unit tests of the batch builder: records -> PostgreSQL array literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pf_batch.h"

static struct pf_record occupancy(const char *lot, int64_t observed, int free_, bool seq)
{
	struct pf_record r;

	memset(&r, 0, sizeof(r));
	r.kind = PF_REC_OCCUPANCY;
	r.received_at = 1700000000000000;
	snprintf(r.u.obs.lot_id, sizeof(r.u.obs.lot_id), "%s", lot);
	r.u.obs.observed_at = observed;
	r.u.obs.total = 100;
	r.u.obs.free = free_;
	r.u.obs.occupied = 100 - free_;
	r.u.obs.has_seq = seq;
	r.u.obs.seq = 7;
	r.u.obs.status = seq ? PF_LOT_OPEN : PF_LOT_STATUS_NONE;
	r.u.obs.format = PF_FMT_NATIVE;
	return r;
}

static void test_occupancy_arrays(void **state)
{
	struct pf_batch *b = pf_batch_new();
	struct pf_record r1 = occupancy("A-1", 1, 10, true), r2 = occupancy("NULL", 2, 20, false);
	struct pf_ingest_query q[PF_INGEST__N];

	(void)state;
	assert_int_equal(pf_batch_add(b, &r1), 0);
	assert_int_equal(pf_batch_add(b, &r2), 0);
	assert_int_equal(pf_batch_records(b), 2);
	assert_int_equal(pf_batch_queries(b, q), 1);
	assert_int_equal(q[0].call, PF_INGEST_OCCUPANCY);
	/* A lot literally named NULL must stay a string, so every text element is quoted. */
	assert_string_equal(q[0].params[0], "{\"A-1\",\"NULL\"}");
	assert_string_equal(q[0].params[1], "{1,2}");
	assert_string_equal(q[0].params[2], "{1700000000000000,1700000000000000}");
	assert_string_equal(q[0].params[4], "{10,20}");
	assert_string_equal(q[0].params[5], "{90,80}");
	assert_string_equal(q[0].params[6], "{\"open\",NULL}");
	assert_string_equal(q[0].params[7], "{7,NULL}");
	assert_string_equal(q[0].params[8], "{\"native\",\"native\"}");
	assert_int_equal(pf_batch_oldest(b), 1700000000000000);

	pf_batch_reset(b);
	assert_int_equal(pf_batch_records(b), 0);
	assert_int_equal(pf_batch_add(b, &r2), 0);
	assert_int_equal(pf_batch_queries(b, q), 1);
	assert_string_equal(q[0].params[0], "{\"NULL\"}");
	pf_batch_free(b);
}

/* Integers are formatted by hand: every edge of int64 must come out as PostgreSQL reads it. */
static void test_integer_edges(void **state)
{
	static const int64_t v[] = {0, -1, 9, 10, -10, INT64_MAX, INT64_MIN};
	struct pf_batch *b = pf_batch_new();
	struct pf_ingest_query q[PF_INGEST__N];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct pf_record r = occupancy("A-1", v[i], 0, false);
		assert_int_equal(pf_batch_add(b, &r), 0);
	}
	assert_int_equal(pf_batch_queries(b, q), 1);
	assert_string_equal(q[0].params[1], "{0,-1,9,10,-10,9223372036854775807,"
					    "-9223372036854775808}");
	pf_batch_free(b);
}

static void test_reject_escaping(void **state)
{
	static const uint8_t payload[] = {'{', '"', 0x00, 0xff, '\\'};
	static const char topic[] = "parking/x\"y\\z/occupancy";
	struct pf_batch *b = pf_batch_new();
	struct pf_ingest_query q[PF_INGEST__N];
	struct pf_record r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.kind = PF_REC_REJECT;
	r.received_at = 5;
	r.u.reject.reason = PF_REJ_BAD_TOPIC;
	snprintf(r.u.reject.detail, sizeof(r.u.reject.detail), "bad \xc3\x28 \xe7\x84\xa6");
	r.topic = topic;
	r.topic_len = strlen(topic);
	r.payload = payload;
	r.payload_len = sizeof(payload);
	r.payload_full_len = 99;
	assert_int_equal(pf_batch_add(b, &r), 0);
	assert_int_equal(pf_batch_queries(b, q), 1);
	assert_int_equal(q[0].call, PF_INGEST_REJECTED);
	assert_string_equal(q[0].params[0], "{5}");
	assert_string_equal(q[0].params[1], "{\"parking/x\\\"y\\\\z/occupancy\"}");
	assert_string_equal(q[0].params[2], "{\"\"}");
	assert_string_equal(q[0].params[3], "{\"bad_topic\"}");
	/* Invalid UTF-8 becomes U+FFFD; valid CJK passes through. */
	assert_string_equal(q[0].params[4], "{\"bad \xef\xbf\xbd( \xe7\x84\xa6\"}");
	assert_string_equal(q[0].params[5], "{\"\\\\x7b2200ff5c\"}");
	assert_string_equal(q[0].params[6], "{99}");
	pf_batch_free(b);
}

static void test_status_and_mixed(void **state)
{
	struct pf_batch *b = pf_batch_new();
	struct pf_ingest_query q[PF_INGEST__N];
	struct pf_record s, o = occupancy("B", 3, 1, false);

	(void)state;
	memset(&s, 0, sizeof(s));
	s.kind = PF_REC_STATUS;
	s.received_at = 9;
	snprintf(s.u.status.lot_id, sizeof(s.u.status.lot_id), "B");
	s.u.status.online = -1;
	snprintf(s.u.status.protocol, sizeof(s.u.status.protocol), "parkfeed/1");
	s.u.status.compliant = true;
	assert_int_equal(pf_batch_add(b, &o), 0);
	assert_int_equal(pf_batch_add(b, &s), 0);
	assert_int_equal(pf_batch_queries(b, q), 2);
	assert_int_equal(q[1].call, PF_INGEST_STATUS);
	assert_string_equal(q[1].params[2], "{NULL}");
	assert_string_equal(q[1].params[3], "{NULL}");
	assert_string_equal(q[1].params[5], "{\"parkfeed/1\"}");
	assert_string_equal(q[1].params[6], "{t}");
	assert_string_equal(q[1].params[7], "{f}");
	assert_true(pf_batch_bytes(b) > 0);
	/* a status the broker replayed from its retained store says so */
	s.retained = true;
	assert_int_equal(pf_batch_add(b, &s), 0);
	assert_int_equal(pf_batch_queries(b, q), 2);
	assert_string_equal(q[1].params[7], "{f,t}");
	pf_batch_free(b);
}

static void test_pgarray(void **state)
{
	struct pf_buf s;

	(void)state;
	pf_buf_init(&s);
	assert_string_equal(pf_pgarray_end(&s, 0), "{}");
	s.len = 0;
	assert_int_equal(pf_pgarray_text(&s, 0, "山阳区", strlen("山阳区")), 0);
	assert_int_equal(pf_pgarray_text(&s, 1, "a\"b\\c", 5), 0);
	assert_string_equal(pf_pgarray_end(&s, 2), "{\"山阳区\",\"a\\\"b\\\\c\"}");
	pf_buf_free(&s);
}

static void test_large_batch(void **state)
{
	struct pf_batch *b = pf_batch_new();
	struct pf_ingest_query q[PF_INGEST__N];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct pf_record r = occupancy("JZ-SY-001", i, i % 100, i % 2);
		assert_int_equal(pf_batch_add(b, &r), 0);
	}
	assert_int_equal(pf_batch_queries(b, q), 1);
	assert_int_equal(strncmp(q[0].params[1], "{0,1,2,", 7), 0);
	assert_int_equal(q[0].params[1][strlen(q[0].params[1]) - 1], '}');
	pf_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_occupancy_arrays), cmocka_unit_test(test_integer_edges),
		cmocka_unit_test(test_reject_escaping),	 cmocka_unit_test(test_status_and_mixed),
		cmocka_unit_test(test_pgarray),		 cmocka_unit_test(test_large_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
