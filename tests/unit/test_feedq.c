/* Unit tests of the live feed's change detector and coalescing queue (daemon/feedq.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pf_feedq.h"

#define T0 INT64_C(1687133400000000)
#define MIN INT64_C(60000000)

static struct pf_feedq *new_q(bool exclusive, size_t queue_max, size_t max_lots)
{
	struct pf_feedq_config cfg = {.queue_max = queue_max,
				      .max_lots = max_lots,
				      .max_districts = 16,
				      .exclusive = exclusive};
	struct pf_feedq *q = pf_feedq_new(&cfg);

	assert_non_null(q);
	return q;
}

static struct pf_observation obs(const char *lot, int64_t at, int free, int total)
{
	struct pf_observation o = {.observed_at = at,
				   .total = total,
				   .free = free,
				   .occupied = total - free,
				   .status = PF_LOT_OPEN,
				   .format = PF_FMT_NATIVE};

	snprintf(o.lot_id, sizeof(o.lot_id), "%s", lot);
	return o;
}

/* One committed transaction holding these observations. */
static void commit(struct pf_feedq *q, const struct pf_observation *o, size_t n, uint64_t now)
{
	struct pf_feedq_txn *t = pf_feedq_txn_new();

	assert_non_null(t);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pf_feedq_txn_add(q, t, &o[i]), 0);
	pf_feedq_committed(q, t, now);
	pf_feedq_txn_free(t);
}

static void commit1(struct pf_feedq *q, const char *lot, int64_t at, int free, uint64_t now)
{
	struct pf_observation o = obs(lot, at, free, 100);

	commit(q, &o, 1, now);
}

/* Ask about the dirty lots; the literal must be want (NULL: nothing to ask). */
static void ask_lots(struct pf_feedq *q, const char *want)
{
	struct pf_buf lit;
	int n;

	pf_buf_init(&lit);
	n = pf_feedq_ask_lots(q, &lit, 1000);
	if (!want) {
		assert_int_equal(n, 0);
	} else {
		assert_true(n > 0);
		assert_string_equal(lit.p, want);
	}
	pf_buf_free(&lit);
}

/* The database's answer for one lot of district 山阳区. */
static void answer(struct pf_feedq *q, const char *lot, int64_t at, int free, int64_t changes)
{
	struct pf_feedq_lot_row row = {
		.lot = {.id = lot,
			.name = "人民医院停车场",
			.district = "山阳区",
			.status = "open",
			.lon = 113.255679,
			.lat = 35.214052,
			.has_pos = true,
			.has_data = true,
			.has_free = true,
			.has_occupied = true,
			.free = free,
			.total = 100,
			.occupied = 100 - free,
			.observed_us = at},
		.changes = changes,
	};

	pf_feedq_lot_row(q, &row);
}

/* Send the oldest waiting message; its key and payload must contain what is given. */
static void send(struct pf_feedq *q, enum pf_feedq_kind kind, const char *key, const char *has)
{
	struct pf_feedq_msg m;

	assert_true(pf_feedq_next(q, &m));
	assert_int_equal(m.kind, kind);
	assert_string_equal(m.key, key);
	assert_int_equal(strlen(m.payload), m.len);
	if (has && !strstr(m.payload, has))
		fail_msg("message %s lacks %s", m.payload, has);
	pf_feedq_done(q, &m, true);
}

static const struct pf_feedq_stats *st(const struct pf_feedq *q)
{
	static struct pf_feedq_stats s;

	pf_feedq_stats(q, &s);
	return &s;
}

static void test_lot_and_district(void **state)
{
	struct pf_feedq *q = new_q(true, 100, 100);
	struct pf_avail_district d = {.name = "山阳区",
				      .lots = 3,
				      .lots_reporting = 2,
				      .lots_online = 1,
				      .lots_offline = 1,
				      .has_spaces = true,
				      .free = 40,
				      .total = 100};
	struct pf_buf lit;
	struct pf_feedq_msg m;

	(void)state;
	ask_lots(q, NULL);
	commit(q, NULL, 0, 1); /* a transaction of rejects and statuses only */
	ask_lots(q, NULL);
	commit1(q, "JZ-SY-001", T0, 40, 5);
	assert_true(pf_feedq_want_lots(q));
	assert_int_equal(st(q)->asking, 1);
	ask_lots(q, "{\"JZ-SY-001\"}");
	assert_false(pf_feedq_want_lots(q));
	assert_int_equal(st(q)->asking, 1);
	ask_lots(q, NULL); /* one question at a time */
	answer(q, "JZ-SY-001", T0, 40, 0);
	pf_feedq_lots_answered(q, true);
	assert_int_equal(st(q)->asking, 1); /* its district now */
	assert_int_equal(st(q)->queued, 1);
	assert_true(pf_feedq_next(q, &m));
	assert_int_equal(m.since_ns, 5);
	assert_string_equal(
		m.payload,
		"{\"id\":\"urn:ngsi-ld:OffStreetParking:JZ-SY-001\",\"type\":\"OffStreetParking\","
		"\"name\":\"人民医院停车场\",\"availableSpotNumber\":40,\"totalSpotNumber\":100,"
		"\"occupiedSpotNumber\":60,\"occupancyModified\":\"2023-06-19T00:10:00Z\","
		"\"status\":[\"open\"],\"location\":{\"type\":\"Point\",\"coordinates\":"
		"[113.255679,35.214052]},\"areaServed\":\"山阳区\"}");
	pf_feedq_done(q, &m, true);
	assert_int_equal(st(q)->published[PF_FEEDQ_LOT], 1);
	assert_int_equal(st(q)->queued, 0);

	/* its district is to be asked about, and published as /v1/districts shows it */
	assert_true(pf_feedq_want_districts(q));
	pf_buf_init(&lit);
	assert_int_equal(pf_feedq_ask_district(q, &lit, 5000, 1000), 1);
	assert_string_equal(lit.p, "{\"山阳区\"}");
	pf_feedq_district_row(q, &d);
	pf_feedq_districts_answered(q, true);
	/* asked again at most once a second, however often its lots change */
	pf_feedq_sweep_districts(q);
	lit.len = 0;
	assert_int_equal(pf_feedq_ask_district(q, &lit, 5999, 1000), 0);
	assert_int_equal(pf_feedq_ask_district(q, &lit, 6000, 1000), 1);
	pf_feedq_districts_answered(q, true);
	assert_int_equal(st(q)->asking, 0);
	pf_buf_free(&lit);
	send(q, PF_FEEDQ_DISTRICT, "山阳区",
	     "{\"district\":\"山阳区\",\"lots\":3,\"lots_reporting\":2,\"lots_online\":1,"
	     "\"lots_stale\":0,\"lots_offline\":1,\"free\":40,\"total\":100}");
	/* the same counts again are no news; other counts are */
	pf_feedq_district_row(q, &d);
	assert_false(pf_feedq_next(q, &m));
	d.has_spaces = false;
	pf_feedq_district_row(q, &d);
	send(q, PF_FEEDQ_DISTRICT, "山阳区", "\"free\":null,\"total\":null");
	/* lots of no district have no topic */
	d.name = NULL;
	pf_feedq_district_row(q, &d);
	assert_false(pf_feedq_next(q, &m));
	pf_feedq_free(q);
}

/* Alone on its lots, the daemon knows their values from what it committed. */
static void test_exclusive_detection(void **state)
{
	struct pf_feedq *q = new_q(true, 100, 100);
	struct pf_observation two[2] = {obs("A", T0 + 2 * MIN, 30, 100),
					obs("A", T0 + MIN, 31, 100)};

	(void)state;
	commit1(q, "A", T0, 40, 1);
	ask_lots(q, "{\"A\"}");
	answer(q, "A", T0, 40, 0);
	pf_feedq_lots_answered(q, true);
	send(q, PF_FEEDQ_LOT, "A", "\"availableSpotNumber\":40");

	commit1(q, "A", T0 + MIN, 40, 2); /* newer, the same values */
	ask_lots(q, NULL);
	commit1(q, "A", T0 - MIN, 10, 3); /* older than lot_state's */
	ask_lots(q, NULL);
	/* of a transaction, the newest observation of a lot is the one lot_state took */
	commit(q, two, 2, 4);
	ask_lots(q, "{\"A\"}");
	answer(q, "A", T0 + 2 * MIN, 30, 1);
	pf_feedq_lots_answered(q, true);
	send(q, PF_FEEDQ_LOT, "A", "\"availableSpotNumber\":30");
	assert_int_equal(st(q)->published[PF_FEEDQ_LOT], 2);
	assert_int_equal(st(q)->coalesced[PF_FEEDQ_LOT], 0);
	pf_feedq_free(q);
}

/*
 * The broker takes nothing: every commit changes the lot, the database is asked after each,
 * and each answer replaces the waiting message. One message leaves, with the last values; the
 * changes it stands for are counted as coalesced.
 */
static void test_burst_coalesces(void **state)
{
	struct pf_feedq *q = new_q(true, 100, 100);
	struct pf_feedq_msg m;

	(void)state;
	commit1(q, "A", T0, 50, 1);
	ask_lots(q, "{\"A\"}");
	answer(q, "A", T0, 50, 0);
	pf_feedq_lots_answered(q, true);
	send(q, PF_FEEDQ_LOT, "A", "\"availableSpotNumber\":50");
	for (int i = 1; i <= 50; i++) {
		commit1(q, "A", T0 + i * MIN, 50 - i, (uint64_t)i + 1);
		if (i % 7 == 0) { /* the answers come now and then */
			ask_lots(q, "{\"A\"}");
			answer(q, "A", T0 + i * MIN, 50 - i, i);
			pf_feedq_lots_answered(q, true);
		}
	}
	ask_lots(q, "{\"A\"}");
	answer(q, "A", T0 + 50 * MIN, 0, 50);
	pf_feedq_lots_answered(q, true);
	assert_int_equal(st(q)->queued, 1);
	send(q, PF_FEEDQ_LOT, "A", "\"availableSpotNumber\":0,");
	assert_int_equal(st(q)->published[PF_FEEDQ_LOT], 2);
	assert_int_equal(st(q)->coalesced[PF_FEEDQ_LOT], 49);
	assert_false(pf_feedq_next(q, &m));
	assert_true(pf_feedq_want_districts(q));
	pf_feedq_free(q);
}

/* With several daemons, lot_state.changes tells a lot that changed and changed back. */
static void test_shared_changes(void **state)
{
	struct pf_feedq *shared = new_q(false, 100, 100), *alone = new_q(true, 100, 100);
	struct pf_feedq *qs[2] = {shared, alone};

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct pf_feedq *q = qs[i];

		commit1(q, "A", T0, 10, 1);
		ask_lots(q, "{\"A\"}");
		answer(q, "A", T0, 10, 4);
		pf_feedq_lots_answered(q, true);
		send(q, PF_FEEDQ_LOT, "A", "\"availableSpotNumber\":10");
		/* another daemon stored 9, then this one 10 again: the retained message says 9 */
		commit1(q, "A", T0 + 2 * MIN, 10, 2);
		ask_lots(q, i == 0 ? "{\"A\"}" : NULL);
		if (i == 0) {
			answer(q, "A", T0 + 2 * MIN, 10, 6);
			pf_feedq_lots_answered(q, true);
			send(q, PF_FEEDQ_LOT, "A", "\"availableSpotNumber\":10");
		}
		/* the same record again: asked (another daemon may have changed it), no news */
		commit1(q, "A", T0 + 3 * MIN, 10, 3);
		ask_lots(q, i == 0 ? "{\"A\"}" : NULL);
		answer(q, "A", T0 + 3 * MIN, 10, 6);
		pf_feedq_lots_answered(q, true);
		assert_int_equal(st(q)->queued, 0);
	}
	assert_int_equal(st(shared)->published[PF_FEEDQ_LOT], 2);
	assert_int_equal(st(alone)->published[PF_FEEDQ_LOT], 1);
	pf_feedq_free(shared);
	pf_feedq_free(alone);
}

/* Bounded: past queue_max a change is dropped; past max_lots a lot is not tracked. */
static void test_bounds(void **state)
{
	struct pf_feedq *q = new_q(true, 1, 2);
	struct pf_observation three[3] = {obs("A", T0, 1, 100), obs("B", T0, 2, 100),
					  obs("C", T0, 3, 100)};
	struct pf_feedq_msg m;

	(void)state;
	commit(q, three, 3, 1);
	assert_int_equal(st(q)->dropped[PF_FEEDQ_LOT], 1); /* C */
	ask_lots(q, "{\"A\",\"B\"}");
	answer(q, "A", T0, 1, 0);
	answer(q, "B", T0, 2, 0);
	pf_feedq_lots_answered(q, true);
	assert_int_equal(st(q)->queued, 1);
	assert_int_equal(st(q)->dropped[PF_FEEDQ_LOT], 2); /* B: the queue was full */
	send(q, PF_FEEDQ_LOT, "A", NULL);
	/* B's change was given up: its next report, even with the same values, is asked about
	 * and published */
	commit1(q, "B", T0 + MIN, 2, 2);
	ask_lots(q, "{\"B\"}");
	answer(q, "B", T0 + MIN, 2, 0);
	pf_feedq_lots_answered(q, true);
	/* a send that fails is dropped too, and the values stay unpublished */
	assert_true(pf_feedq_next(q, &m));
	assert_string_equal(m.key, "B");
	pf_feedq_done(q, &m, false);
	assert_int_equal(st(q)->dropped[PF_FEEDQ_LOT], 3);
	assert_int_equal(st(q)->published[PF_FEEDQ_LOT], 1);
	pf_feedq_free(q);
}

/* No answer (a failed question, a lost connection): the lots are asked about again. */
static void test_lost_answer(void **state)
{
	struct pf_feedq *q = new_q(true, 100, 100);

	(void)state;
	commit1(q, "A", T0, 5, 1);
	commit1(q, "B", T0, 5, 1);
	ask_lots(q, "{\"A\",\"B\"}");
	commit1(q, "A", T0 + MIN, 4, 2); /* changes while asked: asked again after the answer */
	ask_lots(q, NULL);
	pf_feedq_lots_answered(q, false);
	ask_lots(q, "{\"A\",\"B\"}");
	answer(q, "A", T0 + MIN, 4, 1);
	pf_feedq_lots_answered(q, true); /* B has no lot_state row: nothing for it */
	send(q, PF_FEEDQ_LOT, "A", "\"availableSpotNumber\":4");
	assert_false(pf_feedq_want_lots(q));
	pf_feedq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lot_and_district), cmocka_unit_test(test_exclusive_detection),
		cmocka_unit_test(test_burst_coalesces),	 cmocka_unit_test(test_shared_changes),
		cmocka_unit_test(test_bounds),		 cmocka_unit_test(test_lost_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
