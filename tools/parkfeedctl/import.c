/* lots import FILE.csv: validate every row, report every bad one, then apply all or nothing. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define MAX_FILE (256u << 20)

static const char import_usage[] =
	"usage: parkfeedctl lots import [--dry-run] FILE.csv\n"
	"\n"
	"Register or update lots from a CSV file (RFC 4180, UTF-8) whose header names the\n"
	"columns lot_id,name,district,spaces,deadline and optionally stage,stage_at and\n"
	"lon,lat,address (any order).\n"
	"  lot_id    [A-Za-z0-9._-]{1,64}, once per file\n"
	"  district  e.g. 温县; empty = unknown\n"
	"  spaces    whole number, may be empty\n"
	"  deadline  YYYY-MM-DD, may be empty\n"
	"  stage     planned, upgrading, upgraded, connected or accepted (may be empty)\n"
	"  stage_at  when the stage was reached: YYYY-MM-DD[ HH:MM[:SS]] local time, or with\n"
	"            an offset; required with a stage other than planned\n"
	"  lon, lat  position in WGS-84 decimal degrees (e.g. 113.241,35.216); both or neither;\n"
	"            a position outside Jiaozuo is imported with a warning\n"
	"  address   street address, may be empty\n"
	"Every row is checked first and every bad row reported as FILE:LINE: what is wrong;\n"
	"then the whole file is applied in one transaction, or nothing is. Importing again\n"
	"updates the lots (with lon,lat or address columns, an empty value clears them; without\n"
	"them, positions and addresses stay as they are). A stage brings over the old ledger's history (recorded with actor\n"
	"import) but never moves a lot backwards; use lots set-stage --force for that.\n"
	"Every change of a lot's district, name, spaces, deadline, position or address is\n"
	"recorded in parking.lot_history with you as the actor.\n"
	"--dry-run  show what the import would change (district changes first, then other\n"
	"           fields, new lots, stage changes) and change nothing.\n";

enum col {
	C_LOT_ID,
	C_NAME,
	C_DISTRICT,
	C_SPACES,
	C_DEADLINE,
	C_STAGE,
	C_STAGE_AT,
	C_LON,
	C_LAT,
	C_ADDRESS,
	C__N
};
static const char *const col_names[C__N] = {
	"lot_id", "name",     "district", "spaces", "deadline",
	"stage",  "stage_at", "lon",	  "lat",    "address",
};
/* The columns of parking.import_lots(); the others are applied after it. */
#define C__IMPORT_LOTS (C_STAGE_AT + 1)

struct row {
	char *v[C__N]; /* NULL = empty */
	size_t line;
};

struct import {
	const char *file;
	struct row *rows;
	size_t nrows, cap;
	size_t nerrors;
	bool has_position; /* the header names lon and lat */
	bool has_address;
};

static void bad(struct import *im, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* FILE:LINE: what is wrong. Quoted CSV content is shown, never obeyed by the terminal. */
static void bad(struct import *im, size_t line, const char *fmt, ...)
{
	char msg[1024];
	struct pf_buf b;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pf_buf_init(&b);
	pf_buf_human(&b, im->file);
	pf_buf_printf(&b, ":%zu: ", line);
	pf_buf_human(&b, msg);
	fprintf(stderr, "%s\n", b.oom ? "out of memory" : b.p);
	pf_buf_free(&b);
	im->nerrors++;
}

static bool valid_lot_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
	return true;
}

static bool valid_stage(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, (const char *[]){"planned", "upgrading", "upgraded", "connected",
					       "accepted"}[i]) == 0)
			return true;
	return false;
}

static bool digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* YYYY-MM-DD, then optionally [ T]HH:MM[:SS[.frac]], then optionally Z or +HH[:MM]. */
static bool valid_timestamp(const char *s)
{
	char date[11];

	if (strlen(s) < 10)
		return false;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (!ctl__valid_date(date))
		return false;
	s += 10;
	if (!*s)
		return true;
	if ((*s != ' ' && *s != 'T') || !digits(s + 1, 2) || s[3] != ':' || !digits(s + 4, 2) ||
	    atoi(s + 1) > 23 || atoi(s + 4) > 59)
		return false;
	s += 6;
	if (*s == ':') {
		if (!digits(s + 1, 2) || atoi(s + 1) > 60)
			return false;
		s += 3;
		if (*s == '.') {
			s++;
			if (!isdigit((unsigned char)*s))
				return false;
			while (isdigit((unsigned char)*s))
				s++;
		}
	}
	if (!*s || strcmp(s, "Z") == 0)
		return true;
	if ((*s != '+' && *s != '-') || !digits(s + 1, 2))
		return false;
	s += 3;
	if (*s == ':')
		s++;
	return !*s || (digits(s, 2) && !s[2]);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 65536 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 131072;
			if (cap > MAX_FILE + 65536 + 1 || !(nb = realloc(buf, cap))) {
				free(buf);
				fclose(f);
				errno = EFBIG;
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);

		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Header: where each known column is (-1 if absent). 0 or -1 (reported). */
static int parse_header(struct import *im, const char *const *f, size_t nf, size_t line, int *pos)
{
	for (int c = 0; c < C__N; c++)
		pos[c] = -1;
	for (size_t i = 0; i < nf; i++) {
		char name[64];
		size_t n = strlen(f[i]);
		const char *s = f[i];
		int c;

		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		while (n && isspace((unsigned char)*s))
			s++, n--;
		snprintf(name, sizeof(name), "%.*s", (int)n, s);
		for (c = 0; c < C__N && strcmp(name, col_names[c]) != 0; c++)
			;
		if (c == C__N) {
			bad(im, line,
			    "unknown column '%s' (expected lot_id,name,district,spaces,"
			    "deadline and optionally stage,stage_at,lon,lat,address)",
			    name);
			return -1;
		}
		if (pos[c] >= 0) {
			bad(im, line, "column '%s' appears twice", name);
			return -1;
		}
		pos[c] = (int)i;
	}
	for (int c = 0; c <= C_DEADLINE; c++) {
		if (pos[c] < 0) {
			bad(im, line,
			    "missing column '%s' (the header must name lot_id,name,"
			    "district,spaces,deadline)",
			    col_names[c]);
		}
	}
	if (pos[C_STAGE_AT] >= 0 && pos[C_STAGE] < 0)
		bad(im, line, "column stage_at without column stage");
	if ((pos[C_LON] >= 0) != (pos[C_LAT] >= 0))
		bad(im, line, "column %s without column %s (a position needs both)",
		    pos[C_LON] >= 0 ? "lon" : "lat", pos[C_LON] >= 0 ? "lat" : "lon");
	im->has_position = pos[C_LON] >= 0 && pos[C_LAT] >= 0;
	im->has_address = pos[C_ADDRESS] >= 0;
	return im->nerrors ? -1 : 0;
}

static char *dup_trim(const char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return n ? strndup(s, n) : NULL;
}

/* lon and lat: both or neither, decimal degrees in range; a warning outside the city. */
static void check_position(struct import *im, struct row *r)
{
	const char *lon = r->v[C_LON], *lat = r->v[C_LAT];
	double x, y;
	bool ok = true;
	char msg[256];

	if (!lon && !lat)
		return;
	if (!lon || !lat) {
		bad(im, r->line, "%s is set but %s is empty (a position needs both, or neither)",
		    lon ? "lon" : "lat", lon ? "lat" : "lon");
		return;
	}
	if (ctl__parse_degrees(lon, 180, &x) < 0) {
		bad(im, r->line, "lon '%s' is not decimal degrees -180..180 (e.g. 113.241)", lon);
		ok = false;
	}
	if (ctl__parse_degrees(lat, 90, &y) < 0) {
		bad(im, r->line,
		    "lat '%s' is not decimal degrees -90..90 (e.g. 35.216; the order is lon,lat)",
		    lat);
		ok = false;
	}
	if (ok && ctl__outside_city(x, y)) {
		ctl__city_warning(msg, sizeof(msg), x, y);
		fprintf(stderr, "%s:%zu: warning: lot %s: %s; imported as it is\n", im->file,
			r->line, r->v[C_LOT_ID] ? r->v[C_LOT_ID] : "(no id)", msg);
	}
}

static void check_row(struct import *im, struct row *r)
{
	long v;

	if (!r->v[C_LOT_ID])
		bad(im, r->line, "lot_id is empty");
	else if (!valid_lot_id(r->v[C_LOT_ID]))
		bad(im, r->line, "lot_id '%s' is not 1..64 of A-Z a-z 0-9 . _ -", r->v[C_LOT_ID]);
	if (r->v[C_SPACES] && ctl__parse_int(r->v[C_SPACES], 0, 1000000, &v) < 0)
		bad(im, r->line, "spaces '%s' is not a whole number 0..1000000", r->v[C_SPACES]);
	if (r->v[C_DEADLINE] && !ctl__valid_date(r->v[C_DEADLINE]))
		bad(im, r->line, "deadline '%s' is not a date YYYY-MM-DD", r->v[C_DEADLINE]);
	if (r->v[C_STAGE] && !valid_stage(r->v[C_STAGE]))
		bad(im, r->line,
		    "stage '%s' is not planned, upgrading, upgraded, connected or "
		    "accepted",
		    r->v[C_STAGE]);
	if (r->v[C_STAGE_AT] && !valid_timestamp(r->v[C_STAGE_AT]))
		bad(im, r->line, "stage_at '%s' is not YYYY-MM-DD[ HH:MM[:SS]][+HH:MM]",
		    r->v[C_STAGE_AT]);
	if (r->v[C_STAGE_AT] && !r->v[C_STAGE])
		bad(im, r->line, "stage_at is set but stage is empty");
	if (r->v[C_STAGE] && !r->v[C_STAGE_AT] && strcmp(r->v[C_STAGE], "planned") != 0)
		bad(im, r->line, "stage %s needs stage_at (when it was reached)", r->v[C_STAGE]);
	check_position(im, r);
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	int c = strcmp(x->v[C_LOT_ID], y->v[C_LOT_ID]);

	return c ? c : (x->line < y->line ? -1 : 1);
}

static void check_duplicates(struct import *im)
{
	struct row **idx = malloc((im->nrows ? im->nrows : 1) * sizeof(*idx));
	size_t n = 0;

	if (!idx)
		return;
	for (size_t i = 0; i < im->nrows; i++)
		if (im->rows[i].v[C_LOT_ID])
			idx[n++] = &im->rows[i];
	qsort(idx, n, sizeof(*idx), row_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(idx[i]->v[C_LOT_ID], idx[i - 1]->v[C_LOT_ID]) == 0) {
			size_t first = i - 1;

			while (first > 0 &&
			       strcmp(idx[first - 1]->v[C_LOT_ID], idx[i]->v[C_LOT_ID]) == 0)
				first--;
			bad(im, idx[i]->line, "duplicate lot_id '%s' (first on line %zu)",
			    idx[i]->v[C_LOT_ID], idx[first]->line);
		}
	free(idx);
}

static int read_rows(struct import *im, const char *data, size_t len)
{
	struct pf_csv csv;
	const char *const *f;
	size_t nf, line, ncols = 0;
	int pos[C__N], rc, have_header = 0;
	char err[256];

	pf_csv_init(&csv, data, len);
	while ((rc = pf_csv_next(&csv, &f, &nf, &line, err, sizeof(err))) != 0) {
		if (rc == -ENOMEM) {
			ctl__err("out of memory");
			pf_csv_free(&csv);
			return -1;
		}
		if (rc < 0) {
			bad(im, line, "%s", err);
			if (!have_header)
				break;
			continue;
		}
		bool utf8 = true;

		for (size_t i = 0; i < nf; i++)
			if (!pf_utf8_valid(f[i], strlen(f[i])))
				utf8 = false;
		if (!utf8) {
			bad(im, line, "not valid UTF-8 (save the file as UTF-8)");
			if (!have_header)
				break;
			continue;
		}
		if (!have_header) {
			have_header = 1;
			ncols = nf;
			if (parse_header(im, f, nf, line, pos) < 0)
				break;
			continue;
		}
		if (nf != ncols) {
			bad(im, line, "%zu fields, the header has %zu", nf, ncols);
			continue;
		}
		if (im->nrows == im->cap) {
			size_t cap = im->cap ? im->cap * 2 : 1024;
			struct row *nr = realloc(im->rows, cap * sizeof(*nr));

			if (!nr) {
				ctl__err("out of memory");
				pf_csv_free(&csv);
				return -1;
			}
			im->rows = nr;
			im->cap = cap;
		}
		struct row *r = &im->rows[im->nrows++];

		r->line = line;
		for (int c = 0; c < C__N; c++)
			r->v[c] = pos[c] >= 0 ? dup_trim(f[pos[c]]) : NULL;
		check_row(im, r);
	}
	pf_csv_free(&csv);
	if (!have_header && !im->nerrors)
		bad(im, 1,
		    "empty file: the first line must be the header lot_id,name,district,"
		    "spaces,deadline");
	check_duplicates(im);
	return 0;
}

/* A PostgreSQL array literal of one column: {"a","b",NULL}. */
static void array_literal(struct pf_buf *b, const struct import *im, int col)
{
	pf_buf_puts(b, "{");
	for (size_t i = 0; i < im->nrows; i++) {
		const char *s = im->rows[i].v[col];

		if (i)
			pf_buf_puts(b, ",");
		if (!s) {
			pf_buf_puts(b, "NULL");
			continue;
		}
		pf_buf_puts(b, "\"");
		for (; *s; s++) {
			if (*s == '"' || *s == '\\')
				pf_buf_puts(b, "\\");
			pf_buf_add(b, s, 1);
		}
		pf_buf_puts(b, "\"");
	}
	pf_buf_puts(b, "}");
}

/* lon, lat and address are ordinary columns operators may update: set in the same
 * transaction, right after import_lots() registered the lots. 0 or -1 (reported). */
static int apply_extras(PGconn *conn, const struct import *im, const char *const *p, int *positions,
			int *addresses)
{
	const char *pos[3] = {p[C_LOT_ID], p[C_LON], p[C_LAT]};
	const char *addr[2] = {p[C_LOT_ID], p[C_ADDRESS]};
	PGresult *res;

	if (im->has_position) {
		res = ctl__exec(
			conn, "lots import",
			"UPDATE parking.lots l SET lon = u.lon, lat = u.lat "
			"FROM unnest($1::text[], $2::float8[], $3::float8[]) AS u(lot_id, lon, lat) "
			"WHERE l.lot_id = u.lot_id "
			"  AND (l.lon, l.lat) IS DISTINCT FROM (u.lon, u.lat)",
			3, pos);
		if (!res)
			return -1;
		*positions = atoi(PQcmdTuples(res));
		PQclear(res);
	}
	if (im->has_address) {
		res = ctl__exec(
			conn, "lots import",
			"UPDATE parking.lots l SET address = u.address "
			"FROM unnest($1::text[], $2::text[]) AS u(lot_id, address) "
			"WHERE l.lot_id = u.lot_id AND l.address IS DISTINCT FROM u.address",
			2, addr);
		if (!res)
			return -1;
		*addresses = atoi(PQcmdTuples(res));
		PQclear(res);
	}
	return 0;
}

/* In one transaction whose audit rows name the actor; a dry run rolls it back. */
static int apply(const struct ctl_opts *o, struct import *im, bool dry_run)
{
	struct pf_buf arr[C__N];
	const char *p[C__N], *ip[C__IMPORT_LOTS + 1];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc = 1, positions = 0, addresses = 0;

	for (int c = 0; c < C__N; c++) {
		pf_buf_init(&arr[c]);
		array_literal(&arr[c], im, c);
		if (arr[c].oom) {
			ctl__err("out of memory");
			goto out;
		}
		p[c] = arr[c].p;
	}
	memcpy(ip, p, C__IMPORT_LOTS * sizeof(*ip));
	ip[C__IMPORT_LOTS] = ctl__actor();
	conn = ctl__connect(o);
	if (!conn || ctl__begin_audited(conn, "lots import") < 0)
		goto out;
	res = ctl__exec(conn, "lots import",
			"SELECT * FROM parking.import_lots($1::text[], $2::text[], $3::text[], "
			"$4::integer[], $5::date[], $6::parking.stage[], $7::timestamptz[], $8)",
			C__IMPORT_LOTS + 1, ip);
	if (!res)
		goto out;
	if (apply_extras(conn, im, p, &positions, &addresses) < 0)
		goto out;
	if (dry_run) {
		rc = ctl__import_preview(conn, im->file, im->nrows, res) < 0 ? 1 : 0;
		goto out; /* PQfinish rolls the transaction back */
	}
	if (ctl__cmd(conn, "lots import", "COMMIT") < 0)
		goto out;
	printf("%s: %zu lots (%s new, %s updated), %s stage changes recorded", im->file, im->nrows,
	       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	if (im->has_position)
		printf(", %d positions changed", positions);
	if (im->has_address)
		printf(", %d addresses changed", addresses);
	if (strcmp(PQgetvalue(res, 0, 3), "0") != 0)
		printf("; %s rows' stages are behind the registry and were kept (use lots "
		       "set-stage --force)",
		       PQgetvalue(res, 0, 3));
	printf("\n");
	rc = 0;
out:
	PQclear(res);
	PQfinish(conn); /* without COMMIT the transaction is rolled back: nothing half-applied */
	for (int c = 0; c < C__N; c++)
		pf_buf_free(&arr[c]);
	return rc;
}

int ctl_lots_import(const struct ctl_opts *o, int argc, char **argv)
{
	struct import im = {0};
	bool dry_run = false;
	char *data;
	size_t len = 0;
	int rc = 1;

	if (ctl__wants_help(argc, argv)) {
		fputs(import_usage, stdout);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--dry-run") == 0) {
		dry_run = true;
		argv++;
		argc--;
	} else if (argc == 3 && strcmp(argv[2], "--dry-run") == 0) {
		dry_run = true;
		argc--;
	}
	if (argc != 2 || strncmp(argv[1], "--", 2) == 0) {
		ctl__err("lots import takes one FILE.csv and optionally --dry-run; see parkfeedctl "
			 "lots import --help");
		return 2;
	}
	im.file = argv[1];
	data = read_file(im.file, &len);
	if (!data) {
		ctl__err("cannot read %s: %s", im.file, strerror(errno));
		return 1;
	}
	if (read_rows(&im, data, len) < 0)
		goto out;
	if (im.nerrors) {
		ctl__err("%s: %zu errors; nothing was imported (fix the lines above and import "
			 "again)",
			 im.file, im.nerrors);
		goto out;
	}
	rc = apply(o, &im, dry_run);
out:
	for (size_t i = 0; i < im.nrows; i++)
		for (int c = 0; c < C__N; c++)
			free(im.rows[i].v[c]);
	free(im.rows);
	free(data);
	return rc;
}
