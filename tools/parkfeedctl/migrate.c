/* migrate (apply the embedded schema/NNN_*.sql in order, once each) and maintain (partitions). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Serialises migrate and maintain runs on one database (two at once: the second waits). */
#define CTL_LOCK_KEY "7305710165218238470"

static const char migrate_usage[] =
	"usage: parkfeedctl migrate\n"
	"\n"
	"Create or upgrade the parking schema, its objects and the group roles parkfeed_owner,\n"
	"parkfeed_ingest, parkfeed_operator and parkfeed_reader (NOLOGIN). Each migration runs in\n"
	"its own transaction under an advisory lock and is recorded in parking.schema_migrations;\n"
	"running it again (or twice at once) is safe. Also creates the occupancy partitions from\n"
	"two months back to three months ahead.\n"
	"Run it as a superuser or as a role with CREATEROLE and CREATEDB that may create schemas\n"
	"in the database (it is made a member of parkfeed_owner).\n";

static const char maintain_usage[] =
	"usage: parkfeedctl maintain [--months-ahead N] [--months-back N] [--retain-months N]\n"
	"\n"
	"Create the monthly occupancy partitions (Asia/Shanghai months) from N months back\n"
	"(default 2) to N months ahead (default 3), first moving rows of a new partition's month\n"
	"out of the default partition. With --retain-months N, drop partitions of months that\n"
	"ended more than N months before the current one (their rows are deleted).\n"
	"Run it as the role that ran migrate (a member of parkfeed_owner), e.g. daily from cron.\n";

/* Applied versions, or an empty set before the first migration. -1 on error. */
static int applied(PGconn *conn, int version)
{
	char v[16];
	const char *p[1] = {v};
	PGresult *res;
	int found;

	res = ctl__exec(conn, "reading parking.schema_migrations",
			"SELECT to_regclass('parking.schema_migrations') IS NOT NULL", 0, NULL);
	if (!res)
		return -1;
	found = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!found)
		return 0;
	snprintf(v, sizeof(v), "%d", version);
	res = ctl__exec(conn, "reading parking.schema_migrations",
			"SELECT 1 FROM parking.schema_migrations WHERE version = $1::int", 1, p);
	if (!res)
		return -1;
	found = PQntuples(res) > 0;
	PQclear(res);
	return found;
}

static int apply_one(PGconn *conn, const struct ctl_migration *m, bool *did)
{
	char v[16], what[160];
	const char *p[2] = {v, m->name};
	PGresult *res;
	int a;

	*did = false;
	snprintf(v, sizeof(v), "%d", m->version);
	snprintf(what, sizeof(what), "migration %03d_%s", m->version, m->name);
	if (ctl__cmd(conn, what, "BEGIN") < 0)
		return -1;
	if (ctl__cmd(conn, what, "SELECT pg_advisory_xact_lock(" CTL_LOCK_KEY ")") < 0)
		goto fail;
	a = applied(conn, m->version);
	if (a < 0)
		goto fail;
	if (a == 0) {
		res = PQexec(conn, m->sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK) {
			ctl__err_result(what, res);
			PQclear(res);
			goto fail;
		}
		PQclear(res);
		res = ctl__exec(conn, what,
				"INSERT INTO parking.schema_migrations (version, name) "
				"VALUES ($1::int, $2)",
				2, p);
		if (!res)
			goto fail;
		PQclear(res);
		*did = true;
	}
	return ctl__cmd(conn, what, "COMMIT");
fail:
	PQclear(PQexec(conn, "ROLLBACK"));
	return -1;
}

static int newest_known_check(PGconn *conn)
{
	int newest = ctl_n_migrations ? ctl_migrations[ctl_n_migrations - 1].version : 0;
	PGresult *res = ctl__exec(conn, "reading parking.schema_migrations",
				  "SELECT coalesce(max(version), 0) FROM parking.schema_migrations",
				  0, NULL);
	int dbv;

	if (!res)
		return -1;
	dbv = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (dbv > newest) {
		ctl__err("the database schema is at version %d, newer than this parkfeedctl knows "
			 "(%d); use the parkfeedctl of the newer release",
			 dbv, newest);
		return -1;
	}
	printf("schema at version %d\n", dbv);
	return 0;
}

static int run_maintain(PGconn *conn, const char *back, const char *ahead, const char *retain)
{
	const char *p[3] = {back, ahead, retain};
	PGresult *res;

	if (ctl__cmd(conn, "maintain", "BEGIN") < 0)
		return -1;
	if (ctl__cmd(conn, "maintain", "SELECT pg_advisory_xact_lock(" CTL_LOCK_KEY ")") < 0)
		goto fail;
	res = ctl__exec(conn, "maintain",
			"SELECT * FROM parking.maintain_partitions($1::int, $2::int, $3::int)", 3,
			p);
	if (!res)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++)
		printf("%s\n", PQgetvalue(res, i, 0));
	PQclear(res);
	return ctl__cmd(conn, "maintain", "COMMIT");
fail:
	PQclear(PQexec(conn, "ROLLBACK"));
	return -1;
}

int ctl_migrate(const struct ctl_opts *o, int argc, char **argv)
{
	PGconn *conn;
	int rc = 1;

	if (ctl__wants_help(argc, argv)) {
		fputs(migrate_usage, stdout);
		return 0;
	}
	if (argc > 1) {
		ctl__err("migrate takes no arguments; see parkfeedctl migrate --help");
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	for (size_t i = 0; i < ctl_n_migrations; i++) {
		const struct ctl_migration *m = &ctl_migrations[i];
		bool did;

		if (apply_one(conn, m, &did) < 0)
			goto out;
		if (did)
			printf("applied %03d_%s\n", m->version, m->name);
	}
	if (newest_known_check(conn) < 0 || run_maintain(conn, "2", "3", NULL) < 0)
		goto out;
	rc = 0;
out:
	PQfinish(conn);
	return rc;
}

int ctl_maintain(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"months-ahead", required_argument, NULL, 'a'},
		{"months-back", required_argument, NULL, 'b'},
		{"retain-months", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *ahead = "3", *back = "2", *retain = NULL;
	PGconn *conn;
	long v;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
		case 'b':
		case 'r':
			if (ctl__parse_int(optarg, 0, 1200, &v) < 0) {
				ctl__err(
					"maintain: %s wants a number of months (0..1200), not '%s'",
					argv[optind - 1], optarg);
				return 2;
			}
			*(c == 'a' ? &ahead : c == 'b' ? &back : &retain) = optarg;
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
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	rc = run_maintain(conn, back, ahead, retain) < 0 ? 1 : 0;
	PQfinish(conn);
	return rc;
}
