/* retention show and set: how long raw data is kept (parking.retention), applied by maintain. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char retention_usage[] =
	"usage: parkfeedctl retention [show] [--format table|csv|json]\n"
	"       parkfeedctl retention set [--raw-months N|forever] [--rejected-days N|forever]\n"
	"\n"
	"The retention policy that parkfeedctl maintain applies: raw occupancy is kept at least\n"
	"N months (1..1200; whole Asia/Shanghai months are dropped once they are older), rejected\n"
	"messages N days (1..36500); forever keeps that data for good. Hourly and daily rollups\n"
	"and the audit trails are always kept. A fresh database starts with 13 months and 31\n"
	"days; one that held data before retention existed has no policy, and nothing is deleted\n"
	"until both values are set. Each change is recorded in parking.retention_history.\n"
	"show prints the policy and what is stored now.\n";

static int retention_show(const struct ctl_opts *o, int argc, char **argv)
{
	return ctl__show_query(
		o, argc, argv, "retention show",
		"WITH r AS (SELECT * FROM parking.retention), "
		"s AS (SELECT * FROM parking.rollup_state), "
		"p AS (SELECT count(*) AS n, min(substr(c.relname, 12)) AS first, "
		"      pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS size "
		"      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
		"      WHERE i.inhparent = 'parking.occupancy'::regclass "
		"        AND c.relname ~ '^occupancy_p[0-9]{6}$') "
		"SELECT 'raw occupancy' AS data, "
		"       CASE WHEN NOT r.policy_set THEN 'not set: nothing is deleted' "
		"            WHEN r.raw_months IS NULL THEN 'kept for good' "
		"            ELSE r.raw_months || ' months' END AS policy, "
		"       format('%s monthly partitions from %s, %s%s', p.n, "
		"              to_char(to_date(p.first, 'YYYYMM'), 'YYYY-MM'), p.size, "
		"              ', older months dropped before ' || to_char(s.raw_kept_from, "
		"              'YYYY-MM')) AS stored FROM r, s, p "
		"UNION ALL SELECT 'rejected messages', "
		"       CASE WHEN NOT r.policy_set THEN 'not set: nothing is deleted' "
		"            WHEN r.rejected_days IS NULL THEN 'kept for good' "
		"            ELSE r.rejected_days || ' days' END, "
		"       pg_size_pretty(pg_total_relation_size('parking.rejected')) FROM r "
		"UNION ALL SELECT 'rollups (hourly, daily)', 'kept for good', "
		"       pg_size_pretty(pg_total_relation_size('parking.occupancy_hourly_sums') "
		"       + pg_total_relation_size('parking.occupancy_daily') "
		"       + pg_total_relation_size('parking.district_daily')) "
		"UNION ALL SELECT 'audit trails', 'kept for good', NULL "
		"UNION ALL SELECT 'policy changed', to_char(r.changed_at, "
		"       'YYYY-MM-DD HH24:MI:SSOF') || ' by ' || r.changed_by, NULL FROM r",
		NULL);
}

/* N in [1, max], or "forever" (0 for set_retention). */
static int parse_keep(const char *opt, const char *v, long max, const char **out)
{
	long n;

	if (strcmp(v, "forever") == 0) {
		*out = "0";
		return 0;
	}
	if (ctl__parse_int(v, 1, max, &n) < 0) {
		ctl__err("retention set: %s wants 1..%ld or forever, not '%s'", opt, max, v);
		return -1;
	}
	*out = v;
	return 0;
}

static int retention_set(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"raw-months", required_argument, NULL, 'r'},
		{"rejected-days", required_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	const char *p[3] = {NULL, NULL, ctl__actor()};
	PGconn *conn;
	PGresult *res;
	int c, rc = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (c != 'r' && c != 'j') {
			ctl__err(
				"retention set: unknown option %s; see parkfeedctl retention --help",
				argv[optind - 1]);
			return 2;
		}
		if (parse_keep(c == 'r' ? "--raw-months" : "--rejected-days", optarg,
			       c == 'r' ? 1200 : 36500, &p[c == 'r' ? 0 : 1]) < 0)
			return 2;
	}
	if (optind < argc) {
		ctl__err("retention set: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!p[0] && !p[1]) {
		ctl__err("retention set: give --raw-months and/or --rejected-days; see parkfeedctl "
			 "retention --help");
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	res = ctl__exec(conn, "retention set", "SELECT parking.set_retention($1::int, $2::int, $3)",
			3, p);
	if (res) {
		PQclear(res);
		res = ctl__exec(
			conn, "retention set",
			"SELECT coalesce(raw_months || ' months', 'for good'), "
			"coalesce(rejected_days || ' days', 'for good') FROM parking.retention",
			0, NULL);
	}
	if (res) {
		printf("raw occupancy: kept %s\nrejected messages: kept %s\n",
		       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		rc = 0;
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int ctl_retention(const struct ctl_opts *o, int argc, char **argv)
{
	return ctl__show_or_set(o, argc, argv, retention_usage, retention_show, retention_set);
}
