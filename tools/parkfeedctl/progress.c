/* progress: the year's ledger (台账) per district, ranked, as of a day, with overdue lots. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char progress_usage[] =
	"usage: parkfeedctl progress [--year YEAR] [--as-of DATE] [--format table|csv|json|md]\n"
	"                            [--lang en|zh]\n"
	"\n"
	"The ledger: one row per district that has a target for YEAR (parkfeedctl targets set;\n"
	"a district without one is given the number of its lots due in YEAR), then the total.\n"
	"  completed  lots connected (or accepted) by the end of DATE, Asia/Shanghai; cumulative,\n"
	"             earlier years included\n"
	"  rate       completed / target, two decimals, rounded half up; above 100% as it is;\n"
	"             '-' when the target is 0\n"
	"  ranks      competition ranks (1, 1, 3): by completed; by rate capped at 100% as\n"
	"             printed (every district that met its target ranks 1); a target of 0 ranks\n"
	"             last\n"
	"Rows are sorted by completed rank, then district. Table and md output end with the\n"
	"overdue lots (deadline before DATE, not connected by DATE). --lang zh prints Chinese\n"
	"headers (csv too); json keys are always English.\n"
	"YEAR defaults to the year of DATE; DATE (YYYY-MM-DD) to today in Asia/Shanghai.\n";

int ctl_progress(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"year", required_argument, NULL, 'y'},	  {"as-of", required_argument, NULL, 'a'},
		{"format", required_argument, NULL, 'f'}, {"lang", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0},
	};
	enum pf_ledger_lang lang = PF_LEDGER_EN;
	enum ctl_format fmt = CTL_FMT_TABLE;
	const char *year = NULL, *as_of = NULL;
	struct pf_ledger l = {0};
	struct pf_overdue *od = NULL;
	PGresult *res = NULL, *ov = NULL, *hd = NULL;
	struct pf_buf out;
	PGconn *conn;
	long v;
	int c, rc = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'y':
			if (ctl__parse_int(optarg, 2000, 2100, &v) < 0) {
				ctl__err("progress: --year '%s' is not a year 2000..2100", optarg);
				return 2;
			}
			year = optarg;
			break;
		case 'a':
			if (!ctl__valid_date(optarg)) {
				ctl__err("progress: --as-of '%s' is not a date YYYY-MM-DD", optarg);
				return 2;
			}
			as_of = optarg;
			break;
		case 'f':
			if (ctl__parse_format(optarg, true, &fmt) < 0) {
				ctl__err("progress: --format is table, csv, json or md, not '%s'",
					 optarg);
				return 2;
			}
			break;
		case 'l':
			if (strcmp(optarg, "en") == 0)
				lang = PF_LEDGER_EN;
			else if (strcmp(optarg, "zh") == 0)
				lang = PF_LEDGER_ZH;
			else {
				ctl__err("progress: --lang is en or zh, not '%s'", optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(progress_usage, stdout);
			return 0;
		default:
			ctl__err("progress: unknown option %s; see parkfeedctl progress --help",
				 argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		ctl__err("progress: unexpected argument '%s'; see parkfeedctl progress --help",
			 argv[optind]);
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	pf_buf_init(&out);

	const char *p[2] = {year, as_of};

	hd = ctl__exec(
		conn, "progress",
		"WITH d AS (SELECT coalesce($2::date, "
		"  (now() AT TIME ZONE 'Asia/Shanghai')::date) AS as_of) "
		"SELECT coalesce($1::int, extract(year FROM as_of)::int), as_of::text FROM d",
		2, p);
	if (!hd)
		goto out;
	const char *q[2] = {PQgetvalue(hd, 0, 0), PQgetvalue(hd, 0, 1)};

	l.year = atoi(q[0]);
	l.as_of = q[1];
	res = ctl__exec(
		conn, "progress",
		"SELECT district, target, completed FROM parking.progress($1::int, $2::date)", 2,
		q);
	if (!res)
		goto out;
	l.nrows = (size_t)PQntuples(res);
	l.rows = calloc(l.nrows + 1, sizeof(*l.rows));
	if (!l.rows) {
		ctl__err("out of memory");
		goto out;
	}
	for (size_t i = 0; i < l.nrows; i++) {
		l.rows[i].district = PQgetvalue(res, (int)i, 0);
		l.rows[i].target = atoll(PQgetvalue(res, (int)i, 1));
		l.rows[i].completed = atoll(PQgetvalue(res, (int)i, 2));
	}
	if (pf_ledger_rank(&l) < 0) {
		ctl__err("out of memory");
		goto out;
	}
	if (fmt == CTL_FMT_TABLE || fmt == CTL_FMT_MD) {
		ov = ctl__exec(
			conn, "progress",
			"SELECT district, lot_id, coalesce(name, ''), deadline::text, "
			"       stage::text "
			"FROM parking.lots "
			"WHERE deadline < $1::date AND NOT coalesce(stage >= 'connected' AND "
			"  coalesce(connected_at, accepted_at) < "
			"  (($1::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'), false) "
			"ORDER BY district COLLATE \"C\" NULLS LAST, deadline, "
			"         lot_id COLLATE \"C\"",
			1, q + 1);
		if (!ov)
			goto out;
		l.noverdue = (size_t)PQntuples(ov);
		od = calloc(l.noverdue + 1, sizeof(*od));
		if (!od) {
			ctl__err("out of memory");
			goto out;
		}
		for (size_t i = 0; i < l.noverdue; i++) {
			od[i].district = ctl__val(ov, (int)i, 0);
			od[i].lot_id = PQgetvalue(ov, (int)i, 1);
			od[i].name = PQgetvalue(ov, (int)i, 2);
			od[i].deadline = PQgetvalue(ov, (int)i, 3);
			od[i].stage = PQgetvalue(ov, (int)i, 4);
		}
		l.overdue = od;
	}
	pf_ledger_render(&out, &l,
			 fmt == CTL_FMT_CSV    ? PF_LEDGER_CSV
			 : fmt == CTL_FMT_JSON ? PF_LEDGER_JSON
			 : fmt == CTL_FMT_MD   ? PF_LEDGER_MD
					       : PF_LEDGER_TABLE,
			 lang);
	rc = ctl__emit(&out) == 0 ? 0 : 1;
out:
	pf_buf_free(&out);
	free(l.rows);
	free(od);
	PQclear(res);
	PQclear(ov);
	PQclear(hd);
	PQfinish(conn);
	return rc;
}
