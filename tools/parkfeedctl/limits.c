/* limits show and set: the caps on lots the feed registers by itself (parking.ingest_limits). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char limits_usage[] =
	"usage: parkfeedctl limits [show] [--format table|csv|json]\n"
	"       parkfeedctl limits set [--max-unregistered-lots N] [--max-new-lots-per-hour N]\n"
	"                              [--refusals-per-hour N] [--max-future-s N]\n"
	"                              [--max-backlog-hours N] [--max-per-lot-minute N]\n"
	"\n"
	"A message for a lot nobody registered registers it (registered = false). Past\n"
	"max_unregistered_lots such lots, or max_new_lots_per_hour of them in an hour, the\n"
	"messages of further unknown lots are refused into parking.rejected (reason lot_limit):\n"
	"one row per lot and batch, at most refusals_per_hour rows an hour, the rest counted.\n"
	"Registering lots (parkfeedctl lots import) frees room. show prints the limits, how\n"
	"much of them is used, and what was refused.\n"
	"\n"
	"The ingest functions also hold every caller to the database's clock:\n"
	"  max_future_s        observations further ahead are refused as future_ts (600;\n"
	"                      at least the daemon's [ingest] clock_skew plus the hosts'\n"
	"                      clock difference; 0..604800)\n"
	"  max_backlog_hours   stages reached by ingest (connected, upgraded) are dated no\n"
	"                      earlier than this: the longest a message may wait in a\n"
	"                      daemon's spool (168; 1..87600)\n"
	"  max_per_lot_minute  observations of one lot per minute of observation time; more\n"
	"                      are refused as rate_limited (0 = no limit, the default;\n"
	"                      0..60000)\n";

static int limits_show(const struct ctl_opts *o, int argc, char **argv)
{
	static const bool right[] = {false, true, true};

	return ctl__show_query(
		o, argc, argv, "limits show",
		"WITH l AS (SELECT * FROM parking.ingest_limits), "
		"u AS (SELECT count(*) AS n_all, count(*) FILTER (WHERE created_at > "
		"      now() - interval '1 hour') AS n_hour "
		"      FROM parking.lots WHERE NOT registered), "
		"r AS (SELECT count(*) AS n FROM parking.rejected WHERE reason = "
		"      'lot_limit' AND received_at > now() - interval '1 hour') "
		"SELECT 'max_unregistered_lots' AS \"limit\", "
		"       l.max_unregistered_lots::text AS value, u.n_all::text AS used "
		"FROM l, u "
		"UNION ALL SELECT 'max_new_lots_per_hour', l.max_new_lots_per_hour::text, "
		"       u.n_hour::text FROM l, u "
		"UNION ALL SELECT 'refusals_per_hour', l.refusals_per_hour::text, r.n::text "
		"FROM l, r "
		"UNION ALL SELECT 'refused messages (total)', l.refused_messages::text, NULL "
		"FROM l "
		"UNION ALL SELECT 'refused, not stored (total)', l.refused_unstored::text, "
		"       NULL FROM l "
		"UNION ALL SELECT 'max_future_s', l.max_future_s::text, "
		"       l.refused_future::text || ' refused (total)' FROM l "
		"UNION ALL SELECT 'max_backlog_hours', l.max_backlog_hours::text, NULL FROM l "
		"UNION ALL SELECT 'max_per_lot_minute', l.max_per_lot_minute::text, "
		"       l.refused_rate::text || ' refused (total)' FROM l "
		"UNION ALL SELECT 'receive times set to the clock (total)', "
		"       l.corrected_times::text, NULL FROM l "
		"UNION ALL SELECT 'last refused at', "
		"       coalesce(to_char(l.last_refused_at, 'YYYY-MM-DD HH24:MI:SSOF'), "
		"                'never'), NULL FROM l "
		"UNION ALL SELECT 'changed', to_char(l.changed_at, "
		"       'YYYY-MM-DD HH24:MI:SSOF') || ' by ' || l.changed_by, NULL FROM l",
		right);
}

/* The lot caps (004) and the bounds (008) are two functions; one transaction sets both. */
static int set_in_one(PGconn *conn, const char *const *v)
{
	const char *caps[4] = {v[0], v[1], v[2], ctl__actor()};
	const char *bounds[4] = {v[3], v[4], v[5], ctl__actor()};
	PGresult *res = NULL;

	if (ctl__cmd(conn, "limits set", "BEGIN") < 0)
		return -1;
	if ((v[0] || v[1] || v[2]) &&
	    !(res = ctl__exec(conn, "limits set",
			      "SELECT parking.set_ingest_limits($1::int, $2::int, $3::int, $4)", 4,
			      caps)))
		return -1;
	PQclear(res);
	res = NULL;
	if ((v[3] || v[4] || v[5]) &&
	    !(res = ctl__exec(conn, "limits set",
			      "SELECT parking.set_ingest_bounds($1::int, $2::int, $3::int, $4)", 4,
			      bounds)))
		return -1;
	PQclear(res);
	return ctl__cmd(conn, "limits set", "COMMIT");
}

static int limits_set(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"max-unregistered-lots", required_argument, NULL, 0},
		{"max-new-lots-per-hour", required_argument, NULL, 1},
		{"refusals-per-hour", required_argument, NULL, 2},
		{"max-future-s", required_argument, NULL, 3},
		{"max-backlog-hours", required_argument, NULL, 4},
		{"max-per-lot-minute", required_argument, NULL, 5},
		{NULL, 0, NULL, 0},
	};
	static const long max[] = {100000000, 100000000, 100000000, 604800, 87600, 60000};
	static const long min[] = {0, 0, 0, 0, 1, 0};
	const char *p[6] = {NULL};
	bool any = false;
	PGconn *conn;
	long v;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (c < 0 || c > 5) {
			ctl__err("limits set: unknown option %s; see parkfeedctl limits --help",
				 argv[optind - 1]);
			return 2;
		}
		if (ctl__parse_int(optarg, min[c], max[c], &v) < 0) {
			ctl__err("limits set: --%s '%s' is not a whole number %ld..%ld",
				 longopts[c].name, optarg, min[c], max[c]);
			return 2;
		}
		p[c] = optarg;
		any = true;
	}
	if (optind < argc) {
		ctl__err("limits set: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!any) {
		ctl__err("limits set: give at least one limit to change; see parkfeedctl limits "
			 "--help");
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	rc = set_in_one(conn, p) == 0 ? 0 : 1;
	if (rc == 0)
		for (int i = 0; i < 6; i++)
			if (p[i])
				printf("%s: %s\n", longopts[i].name, p[i]);
	PQfinish(conn);
	return rc;
}

int ctl_limits(const struct ctl_opts *o, int argc, char **argv)
{
	return ctl__show_or_set(o, argc, argv, limits_usage, limits_show, limits_set);
}
