/* limits show and set: the caps on lots the feed registers by itself (parking.ingest_limits). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char limits_usage[] =
	"usage: parkfeedctl limits [show] [--format table|csv|json]\n"
	"       parkfeedctl limits set [--max-unregistered-lots N] [--max-new-lots-per-hour N]\n"
	"                              [--refusals-per-hour N]\n"
	"\n"
	"A message for a lot nobody registered registers it (registered = false). Past\n"
	"max_unregistered_lots such lots, or max_new_lots_per_hour of them in an hour, the\n"
	"messages of further unknown lots are refused into parking.rejected (reason lot_limit):\n"
	"one row per lot and batch, at most refusals_per_hour rows an hour, the rest counted.\n"
	"Registering lots (parkfeedctl lots import) frees room. show prints the limits, how\n"
	"much of them is used, and what was refused.\n";

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
		"UNION ALL SELECT 'last refused at', "
		"       coalesce(to_char(l.last_refused_at, 'YYYY-MM-DD HH24:MI:SSOF'), "
		"                'never'), NULL FROM l "
		"UNION ALL SELECT 'changed', to_char(l.changed_at, "
		"       'YYYY-MM-DD HH24:MI:SSOF') || ' by ' || l.changed_by, NULL FROM l",
		right);
}

static int limits_set(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"max-unregistered-lots", required_argument, NULL, 0},
		{"max-new-lots-per-hour", required_argument, NULL, 1},
		{"refusals-per-hour", required_argument, NULL, 2},
		{NULL, 0, NULL, 0},
	};
	const char *p[4] = {NULL, NULL, NULL, ctl__actor()};
	bool any = false;
	PGconn *conn;
	PGresult *res;
	long v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (c < 0 || c > 2) {
			ctl__err("limits set: unknown option %s; see parkfeedctl limits --help",
				 argv[optind - 1]);
			return 2;
		}
		if (ctl__parse_int(optarg, 0, 100000000, &v) < 0) {
			ctl__err("limits set: --%s '%s' is not a whole number 0..100000000",
				 longopts[c].name, optarg);
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
	res = ctl__exec(conn, "limits set",
			"SELECT parking.set_ingest_limits($1::int, $2::int, $3::int, $4)", 4, p);
	if (res)
		for (int i = 0; i < 3; i++)
			if (p[i])
				printf("%s: %s\n", longopts[i].name, p[i]);
	PQclear(res);
	PQfinish(conn);
	return res ? 0 : 1;
}

int ctl_limits(const struct ctl_opts *o, int argc, char **argv)
{
	return ctl__show_or_set(o, argc, argv, limits_usage, limits_show, limits_set);
}
