/* access grant, revoke and list: which district staff login sees which district's lots. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes: a longer name is another role. */
#define CTL_ROLE_MAX 63

static const char access_usage[] =
	"usage: parkfeedctl access grant LOGIN_ROLE DISTRICT\n"
	"       parkfeedctl access revoke LOGIN_ROLE DISTRICT\n"
	"       parkfeedctl access list [--role R] [--district D] [--format table|csv|json]\n"
	"\n"
	"District staff log in with a role of their own. grant lets LOGIN_ROLE see DISTRICT's\n"
	"lots, their state, observations and stage history (parking.my_lots,\n"
	"parking.my_lot_availability, or the tables themselves), and makes it a member of\n"
	"parkfeed_district; row-level security hides every other district. revoke takes one\n"
	"district away (and parkfeed_district with the last). Both are recorded in\n"
	"parking.access_history. The login role itself is created by the database administrator\n"
	"(CREATE ROLE name LOGIN); it must not be a member of another parkfeed_* role.\n";

static int check_args(const char *what, char **argv)
{
	size_t n = strlen(argv[1]);

	if (n == 0 || n > CTL_ROLE_MAX || !pf_utf8_valid(argv[1], n)) {
		ctl__err("access %s: LOGIN_ROLE must be a role name of 1..%d bytes", what,
			 CTL_ROLE_MAX);
		return -1;
	}
	if (!*argv[2] || !pf_utf8_valid(argv[2], strlen(argv[2]))) {
		ctl__err("access %s: DISTRICT must be non-empty UTF-8 text (e.g. 山阳区)", what);
		return -1;
	}
	return 0;
}

static int access_change(const struct ctl_opts *o, int argc, char **argv, bool grant)
{
	const char *what = grant ? "grant" : "revoke";
	PGconn *conn;
	PGresult *res;
	bool fresh = true;

	if (argc != 3) {
		ctl__err("access %s wants LOGIN_ROLE DISTRICT; see parkfeedctl access --help",
			 what);
		return 2;
	}
	if (check_args(what, argv) < 0)
		return 2;
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	const char *p[3] = {argv[1], argv[2], ctl__actor()};

	res = ctl__exec(conn, grant ? "access grant" : "access revoke",
			grant ? "SELECT parking.grant_district($1, $2, $3)"
			      : "SELECT parking.revoke_district($1, $2, $3)",
			3, p);
	if (res && grant)
		fresh = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (res)
		printf("%s: %s %s%s\n", argv[1], grant ? "may see" : "may no longer see", argv[2],
		       fresh ? "" : " (granted already)");
	PQclear(res);
	PQfinish(conn);
	return res ? 0 : 1;
}

static int access_list(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"role", required_argument, NULL, 'r'},
		{"district", required_argument, NULL, 'D'},
		{"format", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	static const bool right[] = {false, false, true, false, false};
	enum ctl_format fmt = CTL_FMT_TABLE;
	const char *role = NULL, *district = NULL;
	PGconn *conn;
	PGresult *res;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			role = optarg;
			break;
		case 'D':
			district = optarg;
			break;
		case 'f':
			if (ctl__parse_format(optarg, false, &fmt) < 0) {
				ctl__err("access list: --format is table, csv or json, not '%s'",
					 optarg);
				return 2;
			}
			break;
		default:
			ctl__err("access list: unknown option %s; see parkfeedctl access --help",
				 argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		ctl__err("access list: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	const char *p[2] = {role, district};

	/* lots: how many rows the grant opens, so a grant of an empty district stands out */
	res = ctl__exec(conn, "access list",
			"SELECT g.role_name AS role, g.district, "
			"(SELECT count(*) FROM parking.lots l "
			"WHERE l.district = g.district) AS lots, "
			"to_char(g.granted_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') "
			"AS granted_at, g.granted_by "
			"FROM parking.district_grants g "
			"WHERE ($1::text IS NULL OR g.role_name = $1) "
			"AND ($2::text IS NULL OR g.district = $2) "
			"ORDER BY g.role_name COLLATE \"C\", g.district COLLATE \"C\"",
			2, p);
	rc = res && ctl__print_result(res, fmt, right) == 0 ? 0 : 1;
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int ctl_access(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc < 2) {
		fputs(access_usage, stderr);
		return 2;
	}
	if (ctl__wants_help(argc, argv)) {
		fputs(access_usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "grant") == 0)
		return access_change(o, argc - 1, argv + 1, true);
	if (strcmp(argv[1], "revoke") == 0)
		return access_change(o, argc - 1, argv + 1, false);
	if (strcmp(argv[1], "list") == 0)
		return access_list(o, argc - 1, argv + 1);
	ctl__err("access: unknown subcommand '%s'; see parkfeedctl access --help", argv[1]);
	return 2;
}
