/* lots list, show, set-stage and set: the registry, one lot or many. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char lots_usage[] =
	"usage: parkfeedctl lots import [--dry-run] FILE.csv\n"
	"       parkfeedctl lots list [--district D] [--stage S] [--format table|csv|json]\n"
	"       parkfeedctl lots show LOT\n"
	"       parkfeedctl lots set-stage LOT STAGE [--at TS] [--note TEXT] [--force]\n"
	"       parkfeedctl lots set LOT KEY=VALUE...\n"
	"\n"
	"Stages, in order: planned, upgrading, upgraded, connected, accepted.\n"
	"Each subcommand takes --help.\n";

static const char list_usage[] =
	"usage: parkfeedctl lots list [--district D] [--stage S] [--format table|csv|json]\n"
	"\n"
	"List registered and discovered lots with their stage, deadline, data freshness and\n"
	"position (lon, lat: WGS-84 decimal degrees).\n"
	"--district '' lists lots of unknown district.\n";

static const char show_usage[] =
	"usage: parkfeedctl lots show LOT\n"
	"\n"
	"Show one lot: registry fields, latest observation and stage history.\n";

static const char stage_usage[] =
	"usage: parkfeedctl lots set-stage LOT STAGE [--at TS] [--note TEXT] [--force]\n"
	"\n"
	"Move LOT one stage forward (planned, upgrading, upgraded, connected, accepted).\n"
	"--at TS      when it happened (default now; e.g. 2023-06-19 or '2023-06-19 08:00',\n"
	"             local time, or with an offset)\n"
	"--note TEXT  why; recorded in parking.stage_history\n"
	"--force      allow moving back or skipping stages (requires --note)\n";

static const char set_usage[] =
	"usage: parkfeedctl lots set LOT KEY=VALUE...\n"
	"\n"
	"Change registry fields of LOT. Keys: name, district, address, spaces, lon, lat\n"
	"(WGS-84 decimal degrees; set both or clear both), deadline (YYYY-MM-DD),\n"
	"expected_interval_s. An empty value clears the field (district '' = unknown).\n"
	"A position outside Jiaozuo is stored with a warning. Each change is recorded in\n"
	"parking.lot_history with you as the actor.\n";

static const char *const stages[] = {"planned",	  "upgrading", "upgraded",
				     "connected", "accepted",  NULL};

static bool valid_stage(const char *s)
{
	for (int i = 0; stages[i]; i++)
		if (strcmp(s, stages[i]) == 0)
			return true;
	return false;
}

static int lots_list(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"district", required_argument, NULL, 'D'},
		{"stage", required_argument, NULL, 's'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const bool right[] = {false, false, false, true, false, false,
				     false, false, false, true, true};
	const char *district = NULL, *stage = NULL;
	enum ctl_format fmt = CTL_FMT_TABLE;
	PGconn *conn;
	PGresult *res;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'D':
			district = optarg;
			break;
		case 's':
			if (!valid_stage(optarg)) {
				ctl__err(
					"lots list: unknown stage '%s' (planned, upgrading, upgraded, "
					"connected, accepted)",
					optarg);
				return 2;
			}
			stage = optarg;
			break;
		case 'f':
			if (ctl__parse_format(optarg, false, &fmt) < 0) {
				ctl__err("lots list: --format is table, csv or json, not '%s'",
					 optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(list_usage, stdout);
			return 0;
		default:
			ctl__err("lots list: unknown option %s; see parkfeedctl lots list --help",
				 argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		ctl__err("lots list: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	const char *p[2] = {district, stage};

	res = ctl__exec(
		conn, "lots list",
		"SELECT l.lot_id, l.name, l.district, l.spaces, "
		"       to_char(l.deadline, 'YYYY-MM-DD') AS deadline, l.stage, "
		"       to_char(l.connected_at, 'YYYY-MM-DD HH24:MI:SS') AS connected_at, "
		"       CASE WHEN l.registered THEN 'yes' ELSE 'no' END AS registered, "
		"       CASE WHEN s.lot_id IS NULL THEN '' ELSE parking.freshness(s.received_at, "
		"            l.expected_interval_s, l.online, l.status_at) END AS freshness, "
		"       l.lon::text AS lon, l.lat::text AS lat "
		"FROM parking.lots l LEFT JOIN parking.lot_state s USING (lot_id) "
		"WHERE ($1::text IS NULL OR l.district IS NOT DISTINCT FROM nullif($1, '')) "
		"  AND ($2::text IS NULL OR l.stage = $2::parking.stage) "
		"ORDER BY l.district COLLATE \"C\" NULLS LAST, l.lot_id COLLATE \"C\"",
		2, p);
	rc = res && ctl__print_result(res, fmt, right) == 0 ? 0 : 1;
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static int lots_show(const struct ctl_opts *o, int argc, char **argv)
{
	PGconn *conn;
	PGresult *res = NULL, *hist = NULL;
	struct pf_buf out = {0};
	int rc = 1;

	if (ctl__wants_help(argc, argv)) {
		fputs(show_usage, stdout);
		return 0;
	}
	if (argc != 2) {
		ctl__err("lots show takes one LOT; see parkfeedctl lots show --help");
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	const char *p[1] = {argv[1]};

	res = ctl__exec(
		conn, "lots show",
		"SELECT l.lot_id, l.name, l.district, l.address, l.spaces, "
		"       l.lon::text AS lon, l.lat::text AS lat, "
		"       l.deadline::text AS deadline, l.stage::text AS stage, "
		"       to_char(l.stage_at, 'YYYY-MM-DD HH24:MI:SS') AS stage_at, "
		"       to_char(l.upgraded_at, 'YYYY-MM-DD HH24:MI:SS') AS upgraded_at, "
		"       to_char(l.connected_at, 'YYYY-MM-DD HH24:MI:SS') AS connected_at, "
		"       to_char(l.accepted_at, 'YYYY-MM-DD HH24:MI:SS') AS accepted_at, "
		"       l.system, l.version, l.protocol, l.online::text AS online, "
		"       to_char(l.status_at, 'YYYY-MM-DD HH24:MI:SS') AS status_at, "
		"       l.registered::text AS registered, "
		"       l.expected_interval_s::text AS expected_interval_s, "
		"       s.free::text AS free, s.total::text AS total, "
		"       to_char(s.observed_at, 'YYYY-MM-DD HH24:MI:SS') AS observed_at, "
		"       to_char(s.received_at, 'YYYY-MM-DD HH24:MI:SS') AS received_at, "
		"       CASE WHEN s.lot_id IS NOT NULL THEN parking.freshness(s.received_at, "
		"            l.expected_interval_s, l.online, l.status_at) END AS freshness "
		"FROM parking.lots l LEFT JOIN parking.lot_state s USING (lot_id) "
		"WHERE l.lot_id = $1",
		1, p);
	if (!res)
		goto out;
	if (PQntuples(res) == 0) {
		ctl__err("no lot '%s' in the registry; see parkfeedctl lots list", argv[1]);
		goto out;
	}
	pf_buf_init(&out);
	for (int c = 0; c < PQnfields(res); c++) {
		const char *v = ctl__val(res, 0, c);

		/* a controller wrote system, version and protocol: show them, never obey them */
		pf_buf_printf(&out, "%-20s ", PQfname(res, c));
		pf_buf_human(&out, v ? v : "");
		pf_buf_puts(&out, "\n");
	}
	if (ctl__emit(&out) < 0)
		goto out;
	hist = ctl__exec(conn, "lots show",
			 "SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS') AS at, "
			 "       coalesce(from_stage::text, '') AS from_stage, stage, actor, "
			 "       coalesce(note, '') AS note "
			 "FROM parking.stage_history WHERE lot_id = $1 ORDER BY at, id",
			 1, p);
	if (!hist)
		goto out;
	printf("\nstage history:\n");
	rc = ctl__print_result(hist, CTL_FMT_TABLE, NULL) == 0 ? 0 : 1;
out:
	pf_buf_free(&out);
	PQclear(res);
	PQclear(hist);
	PQfinish(conn);
	return rc;
}

static int lots_set_stage(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"at", required_argument, NULL, 'a'},
		{"note", required_argument, NULL, 'n'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *at = NULL, *note = NULL;
	bool force = false;
	PGconn *conn;
	PGresult *res;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			at = optarg;
			break;
		case 'n':
			note = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(stage_usage, stdout);
			return 0;
		default:
			ctl__err(
				"lots set-stage: unknown option %s; see parkfeedctl lots set-stage "
				"--help",
				argv[optind - 1]);
			return 2;
		}
	}
	if (argc - optind != 2) {
		ctl__err(
			"lots set-stage wants LOT and STAGE; see parkfeedctl lots set-stage --help");
		return 2;
	}
	if (!valid_stage(argv[optind + 1])) {
		ctl__err("lots set-stage: unknown stage '%s' (planned, upgrading, upgraded, "
			 "connected, accepted)",
			 argv[optind + 1]);
		return 2;
	}
	if (force && (!note || !*note)) {
		ctl__err("lots set-stage: --force needs --note TEXT saying why");
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	const char *p[6] = {argv[optind], argv[optind + 1],	   at, ctl__actor(),
			    note,	  force ? "true" : "false"};

	res = ctl__exec(conn, "lots set-stage",
			"SELECT parking.set_stage($1, $2::parking.stage, $3::timestamptz, $4, $5, "
			"$6::boolean)",
			6, p);
	if (res)
		printf("%s: %s\n", argv[optind], argv[optind + 1]);
	PQclear(res);
	PQfinish(conn);
	return res ? 0 : 1;
}

/* Keys `lots set` may change, and how their values are checked. */
static const struct {
	const char *key;
	char kind; /* t text, i integer >= 0, p integer > 0, d date, x lon, y lat (degrees) */
} set_keys[] = {
	{"name", 't'}, {"district", 't'}, {"address", 't'},  {"lon", 'x'},
	{"lat", 'y'},  {"spaces", 'i'},	  {"deadline", 'd'}, {"expected_interval_s", 'p'},
};

/* The position the lot has after `lots set`: a warning if it lies outside the city. */
static void warn_outside_city(const PGresult *res)
{
	char msg[256];
	double lon, lat;

	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1))
		return;
	lon = strtod(PQgetvalue(res, 0, 0), NULL);
	lat = strtod(PQgetvalue(res, 0, 1), NULL);
	if (!ctl__outside_city(lon, lat))
		return;
	ctl__city_warning(msg, sizeof(msg), lon, lat);
	fprintf(stderr, "parkfeedctl: warning: lots set: %s\n", msg);
}

static int lots_set(const struct ctl_opts *o, int argc, char **argv)
{
	const size_t nkeys = sizeof(set_keys) / sizeof(set_keys[0]);
	const char *vals[16] = {0};
	struct pf_buf sql;
	PGconn *conn;
	PGresult *res;
	int n = 1, rc = 1;

	if (ctl__wants_help(argc, argv)) {
		fputs(set_usage, stdout);
		return 0;
	}
	if (argc < 3) {
		ctl__err("lots set wants LOT and KEY=VALUE...; see parkfeedctl lots set --help");
		return 2;
	}
	pf_buf_init(&sql);
	pf_buf_puts(&sql, "UPDATE parking.lots SET ");
	vals[0] = argv[1];
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		size_t k;
		long v;
		double deg;

		if (!eq) {
			ctl__err("lots set: '%s' is not KEY=VALUE", argv[i]);
			goto usage;
		}
		*eq = '\0';
		for (k = 0; k < nkeys && strcmp(set_keys[k].key, argv[i]) != 0; k++)
			;
		if (k == nkeys) {
			ctl__err(
				"lots set: unknown key '%s' (name, district, address, lon, lat, spaces, "
				"deadline, expected_interval_s)",
				argv[i]);
			goto usage;
		}
		const char *val = eq + 1;

		if ((set_keys[k].kind == 'i' && *val && ctl__parse_int(val, 0, 1000000, &v) < 0) ||
		    (set_keys[k].kind == 'p' && ctl__parse_int(val, 1, 86400, &v) < 0) ||
		    (set_keys[k].kind == 'd' && *val && !ctl__valid_date(val)) ||
		    (set_keys[k].kind == 'x' && *val && ctl__parse_degrees(val, 180, &deg) < 0) ||
		    (set_keys[k].kind == 'y' && *val && ctl__parse_degrees(val, 90, &deg) < 0) ||
		    !pf_utf8_valid(val, strlen(val))) {
			ctl__err("lots set: %s: bad value '%s' (%s)", argv[i], val,
				 set_keys[k].kind == 'i'   ? "a whole number >= 0"
				 : set_keys[k].kind == 'p' ? "seconds, 1..86400"
				 : set_keys[k].kind == 'd' ? "a date YYYY-MM-DD"
				 : set_keys[k].kind == 'x' ? "decimal degrees, -180..180"
				 : set_keys[k].kind == 'y' ? "decimal degrees, -90..90"
							   : "UTF-8 text");
			goto usage;
		}
		vals[n] = *val ? val : NULL;
		n++;
		pf_buf_printf(&sql, "%s%s = $%d::%s", i > 2 ? ", " : "", set_keys[k].key, n,
			      set_keys[k].kind == 't'				   ? "text"
			      : set_keys[k].kind == 'd'				   ? "date"
			      : set_keys[k].kind == 'x' || set_keys[k].kind == 'y' ? "float8"
										   : "integer");
		if (n >= 16) {
			ctl__err("lots set: too many keys");
			goto usage;
		}
	}
	pf_buf_puts(&sql, " WHERE lot_id = $1 RETURNING lon, lat");
	if (sql.oom) {
		ctl__err("out of memory");
		goto out;
	}
	conn = ctl__connect(o);
	if (!conn)
		goto out;
	if (ctl__begin_audited(conn, "lots set") < 0) {
		PQfinish(conn);
		goto out;
	}
	res = ctl__exec(conn, "lots set", sql.p, n, vals);
	if (res && strcmp(PQcmdTuples(res), "0") == 0)
		ctl__err("no lot '%s' in the registry; import it first (parkfeedctl lots import)",
			 argv[1]);
	else if (res && ctl__cmd(conn, "lots set", "COMMIT") == 0) {
		warn_outside_city(res);
		rc = 0;
	}
	PQclear(res);
	PQfinish(conn); /* without COMMIT: rolled back */
out:
	pf_buf_free(&sql);
	return rc;
usage:
	pf_buf_free(&sql);
	return 2;
}

int ctl_lots(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(lots_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "import") == 0)
		return ctl_lots_import(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return lots_list(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return lots_show(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "set-stage") == 0)
		return lots_set_stage(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "set") == 0)
		return lots_set(o, argc - 1, argv + 1);
	ctl__err("lots: unknown subcommand '%s'; see parkfeedctl lots --help", argv[1]);
	return 2;
}
