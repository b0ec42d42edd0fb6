/* maintain: occupancy partitions, rollups and retention, each step a transaction of its own. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char maintain_usage[] =
	"usage: parkfeedctl maintain [--retain-months N] [--months-ahead N] [--months-back N]\n"
	"\n"
	"Database housekeeping, safe to run at any time and as often as every few minutes\n"
	"(parkfeed-maintain.timer runs it every ten): one run at a time per database, each step in\n"
	"a transaction of its own; it prints what it did.\n"
	"  1. Creates the monthly partitions of parking.occupancy (Asia/Shanghai months) from N\n"
	"     months back (default 2) to N months ahead (default 3), and one for every month\n"
	"     with rows in the default partition (late or early data), moving them there.\n"
	"  2. Brings the rollups up to date: parking.occupancy_hourly, occupancy_daily,\n"
	"     district_daily (every lot-hour with rows inserted since the last run is\n"
	"     recomputed from the raw rows).\n"
	"  3. Applies the retention policy (parkfeedctl retention show): drops raw occupancy\n"
	"     months and rejected messages older than it, after rolling those months up. Where\n"
	"     no policy was ever set it deletes nothing and says what the defaults would.\n"
	"--retain-months N drops raw occupancy older than N months this once, whatever the\n"
	"policy says (it does not change the policy).\n"
	"With -c FILE it connects as [maintain] says (its own login, a member of\n"
	"parkfeed_maintainer), not as [postgres]. Exit status 0 when every step succeeded.\n";

/* Run a query whose rows are lines to print (first column), each after the prefix. */
static int print_lines(PGconn *conn, const char *what, const char *prefix, const char *sql, int n,
		       const char *const *params, int *count)
{
	PGresult *res = ctl__exec(conn, what, sql, n, params);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, 0))
			printf("%s%s\n", prefix, PQgetvalue(res, i, 0));
	if (count)
		*count += PQntuples(res);
	PQclear(res);
	fflush(stdout);
	return 0;
}

/* A login outside parkfeed_maintainer (the daemon's, say) is told so before anything runs. */
static int check_role(PGconn *conn)
{
	PGresult *res =
		ctl__exec(conn, "maintain",
			  "SELECT has_function_privilege('parking.rollup_claim()', 'EXECUTE'), "
			  "current_user",
			  0, NULL);
	int ok;

	if (!res)
		return -1;
	ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (!ok)
		ctl__err(
			"maintain: the login %s may not maintain the database: it must be a member "
			"of parkfeed_maintainer (GRANT parkfeed_maintainer TO %s, as the schema "
			"owner), and with -c FILE it is [maintain] user",
			PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 1));
	PQclear(res);
	return ok ? 0 : -1;
}

/* Another migrate or maintain on this database: wait for it, saying so. */
static int lock_database(PGconn *conn)
{
	PGresult *res = ctl__exec(conn, "maintain", "SELECT pg_try_advisory_lock(" CTL_LOCK_KEY ")",
				  0, NULL);
	bool got;

	if (!res)
		return -1;
	got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (got)
		return 0;
	printf("waiting for another parkfeedctl migrate or maintain on this database\n");
	fflush(stdout);
	return ctl__cmd(conn, "maintain: waiting for the maintenance lock",
			"SELECT pg_advisory_lock(" CTL_LOCK_KEY ")");
}

/* Data stored before rollups existed, a hundred lots a step, until none is left. */
static int backfill(PGconn *conn)
{
	for (bool done = false; !done;) {
		PGresult *res = ctl__exec(conn, "maintain: rolling up older data",
					  "SELECT parking.rollup_backfill_step()", 0, NULL);

		if (!res)
			return -1;
		done = PQgetisnull(res, 0, 0);
		if (!done)
			printf("rollups: %s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
		fflush(stdout);
	}
	return 0;
}

static int rollups(PGconn *conn, const char *as_of)
{
	const char *p[1] = {as_of};
	long sums[3] = {0, 0, 0}, claimed, filled, step;
	PGresult *res;

	if (backfill(conn) < 0)
		return -1;
	res = ctl__exec(conn, "maintain: claiming new rows", "SELECT parking.rollup_claim()", 0,
			NULL);
	if (!res)
		return -1;
	claimed = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	for (;;) {
		res = ctl__exec(conn, "maintain: recomputing rollups",
				"SELECT * FROM parking.rollup_refresh(20000)", 0, NULL);
		if (!res)
			return -1;
		for (int i = 0; i < 3; i++)
			sums[i] += atol(PQgetvalue(res, 0, i));
		step = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (step == 0)
			break;
	}
	res = ctl__exec(conn, "maintain: days without data",
			"SELECT parking.rollup_fill_days($1::timestamptz)", 1, p);
	if (!res)
		return -1;
	filled = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	printf("rollups: %ld lot-hour(s) with new rows; recomputed %ld lot-hour(s), %ld lot-day(s), "
	       "%ld district-day(s); %ld lot-day(s) without data recorded\n",
	       claimed, sums[0], sums[1], sums[2], filled);
	return 0;
}

static int run(PGconn *conn, const char *back, const char *ahead, const char *retain,
	       const char *as_of)
{
	const char *p[4] = {back, ahead, retain, as_of};
	int created = 0;

	if (check_role(conn) < 0 || lock_database(conn) < 0)
		return -1;
	if (print_lines(conn, "maintain: partitions", "partitions: ",
			"SELECT * FROM parking.maintain_partitions($1::int, $2::int, $3::int, "
			"$4::timestamptz)",
			4, p, &created) < 0)
		return -1;
	if (!created)
		printf("partitions: none to create\n");
	if (rollups(conn, as_of) < 0)
		return -1;
	p[0] = retain;
	p[1] = as_of;
	return print_lines(conn, "maintain: retention", "",
			   "SELECT * FROM parking.apply_retention($1::int, $2::timestamptz)", 2, p,
			   NULL);
}

int ctl_maintain(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"months-ahead", required_argument, NULL, 'a'},
		{"months-back", required_argument, NULL, 'b'},
		{"retain-months", required_argument, NULL, 'r'},
		{"as-of", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts mo = *o;
	const char *ahead = "3", *back = "2", *retain = NULL, *as_of = NULL;
	PGconn *conn;
	long v;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
		case 'b':
			if (ctl__parse_int(optarg, 0, 120, &v) < 0) {
				ctl__err("maintain: %s wants a number of months (0..120), not '%s'",
					 argv[optind - 1], optarg);
				return 2;
			}
			*(c == 'a' ? &ahead : &back) = optarg;
			break;
		case 'r':
			if (ctl__parse_int(optarg, 0, 1200, &v) < 0) {
				ctl__err("maintain: --retain-months wants a number of months "
					 "(0..1200), not '%s'",
					 optarg);
				return 2;
			}
			retain = optarg;
			break;
		case 't':
			as_of = optarg;
			break;
		case 'h':
			fputs(maintain_usage, stdout);
			return 0;
		default:
			ctl__err("maintain: unknown option %s; see parkfeedctl maintain --help",
				 argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		ctl__err("maintain: unexpected argument '%s'; see parkfeedctl maintain --help",
			 argv[optind]);
		return 2;
	}
	mo.maintain_login = true;
	conn = ctl__connect(&mo);
	if (!conn)
		return 1;
	rc = run(conn, back, ahead, retain, as_of) < 0 ? 1 : 0;
	PQfinish(conn);
	return rc;
}
