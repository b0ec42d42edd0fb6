/*
 * libFuzzer target: parkfeed-api's request targets, from the raw bytes a client sends:
 * query__route, then query__parse and every endpoint's parameter checks on its query. What is
 * accepted must be what the endpoints rely on: decoded UTF-8 without control characters, known
 * parameters once each, numbers within their bounds; what is refused must say why.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "pf_ledger.h"
#include "query.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void check_text(const char *s)
{
	size_t n = strlen(s);

	FUZZ_CHECK(pf_utf8_valid(s, n));
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void check_lots(const struct query *q, bool one)
{
	struct lots_params p;
	char why[256] = "";

	if (query__lots(q, one, &p, why, sizeof(why)) < 0) {
		FUZZ_CHECK(why[0]);
		return;
	}
	FUZZ_CHECK(p.crs >= API_CRS_WGS84 && p.crs < API_CRS__N);
	FUZZ_CHECK(p.limit >= 1 && p.limit <= LOTS_LIMIT_MAX);
	FUZZ_CHECK(p.radius_m >= 0 && p.radius_m <= LOTS_RADIUS_MAX_M);
	FUZZ_CHECK(!one || (!p.near && !p.district));
	if (p.near)
		FUZZ_CHECK(isfinite(p.near_lon) && isfinite(p.near_lat) &&
			   fabs(p.near_lon) <= 181 && fabs(p.near_lat) <= 91);
	if (p.district) {
		FUZZ_CHECK(p.district[0] && strlen(p.district) <= 100);
		check_text(p.district);
	}
}

static void check_ngsi(const struct query *q, bool list)
{
	struct ngsi_params p;
	char why[256] = "";

	if (query__ngsi(q, list, &p, why, sizeof(why)) < 0) {
		FUZZ_CHECK(why[0]);
		return;
	}
	FUZZ_CHECK(p.limit >= 0 && p.limit <= NGSI_LIMIT_MAX);
	FUZZ_CHECK(p.limit > 0 || p.count);
	FUZZ_CHECK(p.offset >= 0 && p.offset <= NGSI_OFFSET_MAX);
	FUZZ_CHECK(p.n_ids <= NGSI_IDS_MAX);
	for (size_t i = 0; i < p.n_ids; i++)
		FUZZ_CHECK(p.ids[i].len > 0 && !memchr(p.ids[i].s, ',', p.ids[i].len));
}

static void check_others(const struct query *q)
{
	struct progress_params pp;
	struct history_params hp;
	char why[256] = "";

	if (query__progress(q, &pp, why, sizeof(why)) == 0) {
		FUZZ_CHECK(pp.year >= 2000 && pp.year <= 2100);
		FUZZ_CHECK(!pp.as_of[0] || strlen(pp.as_of) == 10);
	} else {
		FUZZ_CHECK(why[0]);
	}
	why[0] = '\0';
	if (query__history(q, &hp, why, sizeof(why)) == 0) {
		FUZZ_CHECK(hp.hours >= 1 && hp.hours <= HISTORY_HOURS_MAX);
		FUZZ_CHECK(60 % hp.bucket_minutes == 0 && hp.bucket_minutes >= 5);
	} else {
		FUZZ_CHECK(why[0]);
	}
	why[0] = '\0';
	if (query__none(q, why, sizeof(why)) == 0)
		FUZZ_CHECK(q->n == 0);
	else
		FUZZ_CHECK(why[0]);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *uri = malloc(size ? size : 1); /* exact size, not NUL-terminated */
	struct api_target t;
	struct query q;
	char why[256] = "";

	if (!uri)
		abort();
	memcpy(uri, data, size);
	if (query__route(uri, size, &t, why, sizeof(why)) < 0) {
		FUZZ_CHECK(why[0]);
		free(uri);
		return 0;
	}
	FUZZ_CHECK(t.query >= uri && t.query + t.query_len <= uri + size);
	if (t.route == R_LOT || t.route == R_LOT_HISTORY)
		FUZZ_CHECK(query__valid_lot_id(t.param));
	if (t.route == R_STATIC || t.route == R_DISTRICT_HISTORY || t.route == R_NGSI_ENTITY) {
		FUZZ_CHECK(t.param[0]);
		check_text(t.param);
	}
	why[0] = '\0';
	if (query__parse(&q, t.query, t.query_len, why, sizeof(why)) < 0) {
		FUZZ_CHECK(why[0]);
		free(uri);
		return 0;
	}
	FUZZ_CHECK(q.n <= QUERY_MAX_PAIRS);
	for (size_t i = 0; i < q.n; i++) {
		FUZZ_CHECK(q.p[i].key[0]);
		check_text(q.p[i].key);
		check_text(q.p[i].val);
	}
	check_lots(&q, false);
	check_lots(&q, true);
	check_ngsi(&q, true);
	check_ngsi(&q, false);
	check_others(&q);
	free(uri);
	return 0;
}
