/* status: a short summary of the registry and the feed (stages, freshness, last hour). */
#include <stdio.h>

#include "ctl.h"

static const char status_usage[] =
	"usage: parkfeedctl status\n"
	"\n"
	"Lots by stage, connected lots by freshness (online: heard within 3x their expected\n"
	"interval; stale: within 10x; offline: longer or said so), lots discovered from MQTT\n"
	"and not yet registered, observations received in the last hour, and rejected\n"
	"messages of the last hour by reason.\n";

static const struct {
	const char *title;
	const char *sql;
} sections[] = {
	{"lots by stage",
	 "SELECT s.stage::text AS stage, count(l.lot_id) AS lots "
	 "FROM unnest(enum_range(NULL::parking.stage)) AS s(stage) "
	 "LEFT JOIN parking.lots l ON l.stage = s.stage GROUP BY s.stage ORDER BY s.stage"},
	{"connected lots by freshness",
	 "SELECT f.freshness, count(x.lot_id) AS lots "
	 "FROM (VALUES (1, 'online'), (2, 'stale'), (3, 'offline')) AS f(o, freshness) "
	 "LEFT JOIN (SELECT l.lot_id, parking.freshness(s.received_at, l.expected_interval_s, "
	 "           l.online, l.status_at) AS freshness "
	 "           FROM parking.lots l LEFT JOIN parking.lot_state s USING (lot_id) "
	 "           WHERE l.stage >= 'connected') x USING (freshness) "
	 "GROUP BY f.o, f.freshness ORDER BY f.o"},
	{"feed", "SELECT 'lots not registered (discovered from MQTT)' AS what, "
		 "       (SELECT count(*) FROM parking.lots WHERE NOT registered) AS count "
		 "UNION ALL "
		 "SELECT 'observations received in the last hour', "
		 "       (SELECT count(*) FROM parking.occupancy "
		 "        WHERE observed_at > now() - interval '1 day' "
		 "          AND received_at > now() - interval '1 hour') "
		 "UNION ALL "
		 "SELECT 'messages rejected in the last hour', "
		 "       (SELECT count(*) FROM parking.rejected "
		 "        WHERE received_at > now() - interval '1 hour')"},
	{"rejected in the last hour by reason",
	 "SELECT reason, count(*) AS messages FROM parking.rejected "
	 "WHERE received_at > now() - interval '1 hour' GROUP BY reason ORDER BY 2 DESC, 1"},
};

int ctl_status(const struct ctl_opts *o, int argc, char **argv)
{
	static const bool right[] = {false, true};
	PGconn *conn;
	int rc = 0;

	if (ctl__wants_help(argc, argv)) {
		fputs(status_usage, stdout);
		return 0;
	}
	if (argc > 1) {
		ctl__err("status takes no arguments; see parkfeedctl status --help");
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]) && rc == 0; i++) {
		PGresult *res = ctl__exec(conn, "status", sections[i].sql, 0, NULL);

		if (!res) {
			rc = 1;
			break;
		}
		printf("%s%s:\n", i ? "\n" : "", sections[i].title);
		fflush(stdout);
		if (ctl__print_result(res, CTL_FMT_TABLE, right) < 0)
			rc = 1;
		PQclear(res);
	}
	PQfinish(conn);
	return rc;
}
