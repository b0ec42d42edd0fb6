/* The connection (-d, else -c FILE's [postgres], else PG* environment) and query helpers. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "pf_config.h"

void ctl__err(const char *fmt, ...)
{
	char msg[2048];
	struct pf_buf b;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* one line: libpq and server messages may hold newlines */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	for (size_t n = strlen(msg); n > 0 && msg[n - 1] == ' '; n--)
		msg[n - 1] = '\0';
	/* messages quote arguments, file contents and stored text: shown, never obeyed */
	pf_buf_init(&b);
	pf_buf_human(&b, msg);
	fprintf(stderr, "parkfeedctl: %s\n", b.oom ? "out of memory" : b.p ? b.p : "");
	pf_buf_free(&b);
}

void ctl__err_result(const char *what, const PGresult *res)
{
	const char *prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

	if (!prim)
		prim = PQresultErrorMessage(res);
	if (!hint && code && strcmp(code, "42501") == 0)
		hint = "connect as a role granted parkfeed_operator (or the role that ran migrate)";
	if (!hint && code && strcmp(code, "3F000") == 0)
		hint = "run parkfeedctl migrate first";
	if (!hint && code && strcmp(code, "23514") == 0 && constraint &&
	    strcmp(constraint, "lots_position_ck") == 0)
		hint = "lon and lat go together: set both (lon=... lat=...) or clear both (lon= lat=)";
	if (!hint && code && strcmp(code, "42883") == 0)
		hint = "the database schema is older than this parkfeedctl: run parkfeedctl migrate";
	ctl__err("%s: %s%s%s", what, prim, hint ? "; " : "", hint ? hint : "");
}

PGresult *ctl__exec(PGconn *conn, const char *what, const char *sql, int n,
		    const char *const *params)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		ctl__err_result(what, res);
		PQclear(res);
		return NULL;
	}
	return res;
}

int ctl__cmd(PGconn *conn, const char *what, const char *sql)
{
	PGresult *res = ctl__exec(conn, what, sql, 0, NULL);

	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

int ctl__begin_audited(PGconn *conn, const char *what)
{
	const char *p[1] = {ctl__actor()};
	PGresult *res;

	if (ctl__cmd(conn, what, "BEGIN") < 0)
		return -1;
	res = ctl__exec(conn, what, "SELECT pg_catalog.set_config('parkfeed.actor', $1, true)", 1,
			p);
	if (!res) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return -1;
	}
	PQclear(res);
	return 0;
}

const char *ctl__val(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

const char *ctl__actor(void)
{
	static char name[256];
	const char *s = getenv("SUDO_USER");
	struct passwd *pw;

	if (s && *s)
		return s;
	pw = getpwuid(geteuid());
	if (pw && pw->pw_name && *pw->pw_name) {
		snprintf(name, sizeof(name), "%s", pw->pw_name);
		return name;
	}
	snprintf(name, sizeof(name), "uid %ld", (long)geteuid());
	return name;
}

static void notice_cb(void *arg, const char *msg)
{
	(void)arg;
	(void)msg; /* NOTICEs from idempotent DDL (IF NOT EXISTS) are noise for operators */
}

/* The session's zone: [ingest] local_timezone of -c FILE, else Asia/Shanghai. */
static char session_zone[160] = "Asia/Shanghai";

const char *ctl__session_zone(void)
{
	return session_zone;
}

/* user, when given, overrides the conninfo's (libpq: the last value of a keyword wins). */
static PGconn *open_conn(const char *conninfo, const char *user, const char *password,
			 int connect_timeout)
{
	const char *kw[9], *val[9];
	char timeout[16];
	int n = 0;

	kw[n] = "fallback_application_name", val[n++] = "parkfeedctl";
	kw[n] = "client_encoding", val[n++] = "UTF8";
	if (connect_timeout > 0) {
		snprintf(timeout, sizeof(timeout), "%d", connect_timeout);
		kw[n] = "connect_timeout", val[n++] = timeout;
	}
	if (conninfo)
		kw[n] = "dbname", val[n++] = conninfo;
	if (user && *user)
		kw[n] = "user", val[n++] = user;
	if (password)
		kw[n] = "password", val[n++] = password;
	kw[n] = NULL, val[n] = NULL;
	return PQconnectdbParams(kw, val, 1);
}

PGconn *ctl__connect(const struct ctl_opts *o)
{
	struct pf_config cfg;
	char err[512];
	char *password = NULL;
	const char *source = "the PG* environment";
	const char *section = o->maintain_login ? "maintain" : "postgres";
	const char *conninfo, *user = NULL, *password_file;
	PGconn *conn;
	PGresult *res;

	pf_config_init(&cfg);
	if (o->conninfo) {
		source = "-d";
		conn = open_conn(o->conninfo, NULL, NULL, 0);
	} else if (o->config) {
		if (pf_config_load(&cfg, o->config, err, sizeof(err)) < 0) {
			ctl__err("%s", err);
			pf_config_free(&cfg);
			return NULL;
		}
		conninfo = cfg.postgres.conninfo;
		password_file = cfg.postgres.password_file;
		if (o->maintain_login) {
			if (*cfg.maintain.conninfo)
				conninfo = cfg.maintain.conninfo;
			user = cfg.maintain.user;
			password_file = cfg.maintain.password_file;
		}
		if (password_file && *password_file) {
			password = pf_config_read_secret(password_file, err, sizeof(err));
			if (!password) {
				ctl__err("[%s] password_file: %s", section, err);
				pf_config_free(&cfg);
				return NULL;
			}
		}
		source = o->config;
		if (cfg.ingest.local_timezone && *cfg.ingest.local_timezone)
			snprintf(session_zone, sizeof(session_zone), "%s",
				 cfg.ingest.local_timezone);
		conn = open_conn(conninfo, user, password, cfg.postgres.connect_timeout);
		if (password) {
			explicit_bzero(password, strlen(password));
			free(password);
		}
	} else {
		conn = open_conn(NULL, NULL, NULL, 0);
	}
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		ctl__err(
			"cannot connect to PostgreSQL (from %s%s): %s; check -d CONNINFO, -c FILE or "
			"PGHOST/PGDATABASE/PGUSER",
			source,
			o->config && !o->conninfo && o->maintain_login ? ", [maintain]" : "",
			conn ? PQerrorMessage(conn) : "out of memory");
		PQfinish(conn);
		pf_config_free(&cfg);
		return NULL;
	}
	PQsetNoticeProcessor(conn, notice_cb, NULL);
	/* Input and output times without an offset are the bureau's local time. */
	{
		const char *p[1] = {session_zone};

		res = ctl__exec(conn, "setting the time zone",
				"SELECT pg_catalog.set_config('TimeZone', $1, false)", 1, p);
	}
	pf_config_free(&cfg);
	if (!res) {
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

int ctl__emit(struct pf_buf *b)
{
	if (b->oom) {
		ctl__err("out of memory");
		return -1;
	}
	if (b->len && fwrite(b->p, 1, b->len, stdout) != b->len) {
		ctl__err("writing output: %s", strerror(errno));
		return -1;
	}
	if (fflush(stdout) != 0) {
		ctl__err("writing output: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int ctl__show_query(const struct ctl_opts *o, int argc, char **argv, const char *what,
		    const char *sql, const bool *right_align)
{
	static const struct option longopts[] = {
		{"format", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	enum ctl_format fmt = CTL_FMT_TABLE;
	PGconn *conn;
	PGresult *res;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (c != 'f') {
			ctl__err("%s: unknown option %s; see parkfeedctl %.*s --help", what,
				 argv[optind - 1], (int)strcspn(what, " "), what);
			return 2;
		}
		if (ctl__parse_format(optarg, false, &fmt) < 0) {
			ctl__err("%s: --format is table, csv or json, not '%s'", what, optarg);
			return 2;
		}
	}
	if (optind < argc) {
		ctl__err("%s: unexpected argument '%s'", what, argv[optind]);
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	res = ctl__exec(conn, what, sql, 0, NULL);
	rc = res && ctl__print_result(res, fmt, right_align) == 0 ? 0 : 1;
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int ctl__show_or_set(const struct ctl_opts *o, int argc, char **argv, const char *usage,
		     int (*show)(const struct ctl_opts *, int, char **),
		     int (*set)(const struct ctl_opts *, int, char **))
{
	if (ctl__wants_help(argc, argv)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-')
		return show(o, argc, argv);
	if (strcmp(argv[1], "show") == 0)
		return show(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "set") == 0)
		return set(o, argc - 1, argv + 1);
	ctl__err("%s: unknown subcommand '%s'; see parkfeedctl %s --help", argv[0], argv[1],
		 argv[0]);
	return 2;
}

bool ctl__wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

int ctl__parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

bool ctl__valid_date(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return false;
	y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return false;
	return true;
}

int ctl__parse_format(const char *s, bool md_ok, enum ctl_format *out)
{
	if (strcmp(s, "table") == 0)
		*out = CTL_FMT_TABLE;
	else if (strcmp(s, "csv") == 0)
		*out = CTL_FMT_CSV;
	else if (strcmp(s, "json") == 0)
		*out = CTL_FMT_JSON;
	else if (md_ok && strcmp(s, "md") == 0)
		*out = CTL_FMT_MD;
	else
		return -1;
	return 0;
}

/* Numbers and booleans as JSON values, everything else as strings. */
static void json_value(struct pf_buf *b, const PGresult *res, int r, int c)
{
	const char *v = ctl__val(res, r, c);

	switch (PQftype(res, c)) {
	case 20:
	case 21:
	case 23:
	case 1700: /* int8, int2, int4, numeric */
		pf_buf_puts(b, v ? v : "null");
		break;
	case 16: /* bool */
		pf_buf_puts(b, v ? (*v == 't' ? "true" : "false") : "null");
		break;
	default:
		pf_buf_json_str(b, v);
	}
}

int ctl__print_result(const PGresult *res, enum ctl_format fmt, const bool *right_align)
{
	int nf = PQnfields(res), nt = PQntuples(res);
	const char **hdr = calloc((size_t)nf + 1, sizeof(*hdr));
	const char **cells = calloc((size_t)nf * (size_t)nt + 1, sizeof(*cells));
	enum pf_align *al = calloc((size_t)nf + 1, sizeof(*al));
	struct pf_buf b;
	int rc;

	pf_buf_init(&b);
	if (!hdr || !cells || !al) {
		b.oom = true;
		goto out;
	}
	for (int c = 0; c < nf; c++) {
		hdr[c] = PQfname(res, c);
		al[c] = right_align && right_align[c] ? PF_ALIGN_RIGHT : PF_ALIGN_LEFT;
	}
	for (int r = 0; r < nt; r++)
		for (int c = 0; c < nf; c++)
			cells[(size_t)r * (size_t)nf + (size_t)c] = ctl__val(res, r, c);
	struct pf_table t = {
		.ncols = (size_t)nf,
		.header = hdr,
		.align = al,
		.nrows = (size_t)nt,
		.cells = cells,
	};

	if (fmt == CTL_FMT_CSV) {
		pf_table_csv(&b, &t);
	} else if (fmt == CTL_FMT_JSON) {
		pf_buf_puts(&b, "[");
		for (int r = 0; r < nt; r++) {
			pf_buf_puts(&b, r ? ",\n {" : "\n {");
			for (int c = 0; c < nf; c++) {
				if (c)
					pf_buf_puts(&b, ",");
				pf_buf_json_str(&b, hdr[c]);
				pf_buf_puts(&b, ":");
				json_value(&b, res, r, c);
			}
			pf_buf_puts(&b, "}");
		}
		pf_buf_puts(&b, nt ? "\n]\n" : "]\n");
	} else if (fmt == CTL_FMT_MD) {
		pf_table_md(&b, &t);
	} else {
		pf_table_text(&b, &t);
	}
out:
	rc = ctl__emit(&b);
	pf_buf_free(&b);
	free(hdr);
	free(cells);
	free(al);
	return rc;
}
