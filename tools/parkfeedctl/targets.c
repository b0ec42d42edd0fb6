/* targets set and list: the year's target of connected lots per district. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char targets_usage[] =
	"usage: parkfeedctl targets set YEAR DISTRICT TARGET\n"
	"       parkfeedctl targets list [--year Y] [--format table|csv|json]\n"
	"\n"
	"Set a district's target (全年任务目标: lots connected by the end of YEAR, cumulative),\n"
	"recorded in parking.target_history; or list the targets. A district without a target\n"
	"is ranked on the number of its lots whose deadline falls in the year.\n";

static int targets_set(const struct ctl_opts *o, int argc, char **argv)
{
	PGconn *conn;
	PGresult *res;
	long v;

	if (argc != 4) {
		ctl__err("targets set wants YEAR DISTRICT TARGET; see parkfeedctl targets --help");
		return 2;
	}
	if (ctl__parse_int(argv[1], 2000, 2100, &v) < 0) {
		ctl__err("targets set: YEAR '%s' is not a year 2000..2100", argv[1]);
		return 2;
	}
	if (!*argv[2] || !pf_utf8_valid(argv[2], strlen(argv[2]))) {
		ctl__err("targets set: DISTRICT must be non-empty UTF-8 text (e.g. 温县)");
		return 2;
	}
	if (ctl__parse_int(argv[3], 0, 1000000, &v) < 0) {
		ctl__err("targets set: TARGET '%s' is not a whole number >= 0", argv[3]);
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	const char *p[4] = {argv[1], argv[2], argv[3], ctl__actor()};

	res = ctl__exec(conn, "targets set", "SELECT parking.set_target($1::int, $2, $3::int, $4)",
			4, p);
	if (res)
		printf("%s %s: target %s\n", argv[1], argv[2], argv[3]);
	PQclear(res);
	PQfinish(conn);
	return res ? 0 : 1;
}

static int targets_list(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"year", required_argument, NULL, 'y'},
		{"format", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	static const bool right[] = {true, false, true};
	enum ctl_format fmt = CTL_FMT_TABLE;
	const char *year = NULL;
	PGconn *conn;
	PGresult *res;
	long v;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'y':
			if (ctl__parse_int(optarg, 2000, 2100, &v) < 0) {
				ctl__err("targets list: --year '%s' is not a year 2000..2100",
					 optarg);
				return 2;
			}
			year = optarg;
			break;
		case 'f':
			if (ctl__parse_format(optarg, false, &fmt) < 0) {
				ctl__err("targets list: --format is table, csv or json, not '%s'",
					 optarg);
				return 2;
			}
			break;
		default:
			ctl__err("targets list: unknown option %s; see parkfeedctl targets --help",
				 argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		ctl__err("targets list: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	const char *p[1] = {year};

	res = ctl__exec(conn, "targets list",
			"SELECT year, district, target FROM parking.district_targets "
			"WHERE $1::int IS NULL OR year = $1::int "
			"ORDER BY year, district COLLATE \"C\"",
			1, p);
	rc = res && ctl__print_result(res, fmt, right) == 0 ? 0 : 1;
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int ctl_targets(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc < 2) {
		fputs(targets_usage, stderr);
		return 2;
	}
	if (ctl__wants_help(argc, argv)) {
		fputs(targets_usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "set") == 0)
		return targets_set(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return targets_list(o, argc - 1, argv + 1);
	ctl__err("targets: unknown subcommand '%s'; see parkfeedctl targets --help", argv[1]);
	return 2;
}
