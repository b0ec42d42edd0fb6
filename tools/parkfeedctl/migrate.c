/* migrate: apply the embedded schema/NNN_*.sql in order, once each; set the database's zone. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char migrate_usage[] =
	"usage: parkfeedctl migrate [--timezone ZONE]\n"
	"\n"
	"Create or upgrade the parking schema, its objects and the group roles parkfeed_owner,\n"
	"parkfeed_ingest, parkfeed_operator, parkfeed_reader, parkfeed_district and\n"
	"parkfeed_maintainer (NOLOGIN). Each migration runs in its own transaction under an\n"
	"advisory lock and is recorded in parking.schema_migrations; running it again (or twice\n"
	"at once) is safe. Then it creates the occupancy partitions from two months back to three\n"
	"months ahead, and sets the database's TimeZone (ALTER DATABASE ... SET timezone) to ZONE,\n"
	"else to [ingest] local_timezone of -c FILE, else to Asia/Shanghai, so that psql and\n"
	"dashboards show local times; new sessions use it.\n"
	"Run it as a superuser or as a role with CREATEROLE and CREATEDB that may create schemas\n"
	"in the database (it is made a member of parkfeed_owner); setting the TimeZone takes the\n"
	"database's owner.\n"
	"--to N (for upgrade tests) applies the migrations up to N only, and nothing else.\n";

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

/* Occupancy partitions around the current month, as the schema owner (maintain does the rest). */
static int create_partitions(PGconn *conn)
{
	PGresult *res = ctl__exec(conn, "creating partitions",
				  "SELECT * FROM parking.maintain_partitions(2, 3)", 0, NULL);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		printf("%s\n", PQgetvalue(res, i, 0));
	PQclear(res);
	return 0;
}

/* The database's TimeZone for new sessions, set once: ALTER DATABASE takes its owner, so a
 * migrator who is not gets a warning saying what to run, and migrate still succeeds. */
static int set_database_zone(PGconn *conn, const char *zone)
{
	PGresult *res;
	char *db = NULL, *lit = NULL;
	const char *code;
	char was[200], sql[1024];
	int rc = -1;

	res = ctl__exec(
		conn, "reading the database's TimeZone",
		"SELECT current_database(), (SELECT substr(c, 10) FROM pg_db_role_setting s, "
		"unnest(s.setconfig) AS c WHERE s.setdatabase = d.oid AND s.setrole = 0 "
		"AND c LIKE 'TimeZone=%') FROM pg_database d "
		"WHERE d.datname = current_database()",
		0, NULL);
	if (!res)
		return -1;
	snprintf(was, sizeof(was), "%s", PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1));
	if (strcmp(was, zone) == 0) {
		printf("database TimeZone: %s (unchanged)\n", zone);
		PQclear(res);
		return 0;
	}
	db = PQescapeIdentifier(conn, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
	lit = PQescapeLiteral(conn, zone, strlen(zone));
	if (!db || !lit ||
	    (size_t)snprintf(sql, sizeof(sql), "ALTER DATABASE %s SET timezone TO %s", db, lit) >=
		    sizeof(sql)) {
		ctl__err("migrate: the time zone name '%s' is too long", zone);
		goto out;
	}
	PQclear(res);
	res = PQexec(conn, sql);
	code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		printf("database TimeZone set to %s (was %s); new sessions use it\n", zone,
		       *was ? was : "the server's default");
		rc = 0;
	} else if (code && strcmp(code, "42501") == 0) {
		ctl__err("warning: the database's TimeZone is not set (%s): its owner can run: %s",
			 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), sql);
		rc = 0;
	} else {
		ctl__err_result("setting the database's TimeZone (check --timezone or [ingest] "
				"local_timezone)",
				res);
	}
out:
	PQclear(res);
	PQfreemem(db);
	PQfreemem(lit);
	return rc;
}

int ctl_migrate(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"timezone", required_argument, NULL, 'z'},
		{"to", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *zone = NULL;
	long to = -1;
	PGconn *conn;
	int c, rc = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'z':
			if (!*optarg) {
				ctl__err(
					"migrate: --timezone wants a zone name, e.g. Asia/Shanghai");
				return 2;
			}
			zone = optarg;
			break;
		case 't':
			if (ctl__parse_int(optarg, 1, 999, &to) < 0) {
				ctl__err(
					"migrate: --to wants a migration number (1..999), not '%s'",
					optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(migrate_usage, stdout);
			return 0;
		default:
			ctl__err("migrate: unknown option %s; see parkfeedctl migrate --help",
				 argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		ctl__err("migrate: unexpected argument '%s'; see parkfeedctl migrate --help",
			 argv[optind]);
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	for (size_t i = 0; i < ctl_n_migrations; i++) {
		const struct ctl_migration *m = &ctl_migrations[i];
		bool did;

		if (to >= 0 && m->version > to)
			break;
		if (apply_one(conn, m, &did) < 0)
			goto out;
		if (did)
			printf("applied %03d_%s\n", m->version, m->name);
	}
	if (newest_known_check(conn) < 0)
		goto out;
	if (to < 0 && (create_partitions(conn) < 0 ||
		       set_database_zone(conn, zone ? zone : ctl__session_zone()) < 0))
		goto out;
	rc = 0;
out:
	PQfinish(conn);
	return rc;
}
