/* parkfeedctl: the operator CLI over PostgreSQL (schema, registry, targets, the ledger). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "pf_version.h"

static const char usage[] =
	"usage: parkfeedctl [-d CONNINFO | -c FILE] COMMAND [ARGS]\n"
	"\n"
	"Operator CLI of parkfeed: schema, lot registry, targets and the progress ledger.\n"
	"\n"
	"Connection: -d CONNINFO (libpq conninfo or URI), else the [postgres] section of\n"
	"-c FILE (conninfo, password_file), else libpq's PG* environment variables.\n"
	"Times without an offset are Asia/Shanghai (or [ingest] local_timezone of -c FILE).\n"
	"\n"
	"Commands:\n"
	"  migrate [--timezone ZONE]         create or upgrade the schema and roles\n"
	"  maintain [--retain-months N] [--months-ahead N] [--months-back N]\n"
	"                                    partitions, rollups and retention\n"
	"  retention [show] [--format table|csv|json]\n"
	"                                    how long raw occupancy and rejects are kept\n"
	"  retention set [--raw-months N|forever] [--rejected-days N|forever]\n"
	"  lots import [--dry-run] FILE.csv  register or update lots from a CSV ledger\n"
	"  lots list [--district D] [--stage S] [--format table|csv|json]\n"
	"  lots show LOT\n"
	"  lots set-stage LOT STAGE [--at TS] [--note TEXT] [--force]\n"
	"  lots set LOT KEY=VALUE...         name, district, address, spaces, lon, lat,\n"
	"                                    deadline, expected_interval_s\n"
	"  targets set YEAR DISTRICT TARGET\n"
	"  targets list [--year Y] [--format table|csv|json]\n"
	"  progress [--year YEAR] [--as-of DATE] [--format table|csv|json|md] [--lang en|zh]\n"
	"  status                            lots by stage and freshness, last hour's traffic\n"
	"  limits [show] [--format table|csv|json]\n"
	"                                    caps on lots registered from the feed, their use\n"
	"  limits set [--max-unregistered-lots N] [--max-new-lots-per-hour N]\n"
	"             [--refusals-per-hour N]\n"
	"  access grant|revoke LOGIN_ROLE DISTRICT\n"
	"  access list [--role R] [--district D] [--format table|csv|json]\n"
	"                                    district staff's view of their own lots\n"
	"  broker sync [--dry-run] [--credentials-out FILE] [--offline STATE_FILE]\n"
	"                                    broker accounts of registered lots and daemons\n"
	"  broker passwd ACCOUNT | retire LOT --note TEXT | reinstate LOT\n"
	"\n"
	"Options: -d, --dbname CONNINFO; -c, --config FILE; -h, --help; -V, --version.\n"
	"Every command takes --help. Exit status: 0 ok, 1 failed, 2 bad usage.\n";

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o = {0};
	const char *cmd;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+d:c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.conninfo = optarg;
			break;
		case 'c':
			o.config = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("parkfeedctl %s\n", PF_VERSION);
			return 0;
		default:
			ctl__err("unknown option %s; see parkfeedctl --help", argv[optind - 1]);
			return 2;
		}
	}
	if (optind >= argc) {
		ctl__err("no command given; see parkfeedctl --help");
		return 2;
	}
	argc -= optind;
	argv += optind;
	optind = 0; /* full getopt re-initialisation for the command's own options */
	cmd = argv[0];
	if (strcmp(cmd, "migrate") == 0)
		return ctl_migrate(&o, argc, argv);
	if (strcmp(cmd, "maintain") == 0)
		return ctl_maintain(&o, argc, argv);
	if (strcmp(cmd, "lots") == 0)
		return ctl_lots(&o, argc, argv);
	if (strcmp(cmd, "targets") == 0)
		return ctl_targets(&o, argc, argv);
	if (strcmp(cmd, "progress") == 0)
		return ctl_progress(&o, argc, argv);
	if (strcmp(cmd, "status") == 0)
		return ctl_status(&o, argc, argv);
	if (strcmp(cmd, "access") == 0)
		return ctl_access(&o, argc, argv);
	if (strcmp(cmd, "limits") == 0)
		return ctl_limits(&o, argc, argv);
	if (strcmp(cmd, "retention") == 0)
		return ctl_retention(&o, argc, argv);
	if (strcmp(cmd, "broker") == 0)
		return ctl_broker(&o, argc, argv);
	if (strcmp(cmd, "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	ctl__err("unknown command '%s'; see parkfeedctl --help", cmd);
	return 2;
}
