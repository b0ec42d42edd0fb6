/* parkfeedctl internals: options, the connection, query helpers, one entry point per command. */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "pf_ledger.h"

struct ctl_opts {
	const char *conninfo; /* -d */
	const char *config;   /* -c */
	bool maintain_login;  /* with -c: connect as [maintain] says, not [postgres] */
};

/* Serialises migrate and maintain runs on one database (two at once: the second waits). */
#define CTL_LOCK_KEY "7305710165218238470"

/* One schema/NNN_name.sql file, embedded at build time (schema_sql.c, generated). */
struct ctl_migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct ctl_migration ctl_migrations[];
extern const size_t ctl_n_migrations;

/* conn.c */
PGconn *ctl__connect(const struct ctl_opts *o);
/* The session's time zone, set by ctl__connect: -c FILE's [ingest] local_timezone or
 * Asia/Shanghai. */
const char *ctl__session_zone(void);
/* "parkfeedctl: " + message on one line, to stderr. */
void ctl__err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report a failed result (primary message and hint) on one line, with a prefix. */
void ctl__err_result(const char *what, const PGresult *res);
/* Run a command with text parameters; NULL on error (reported). Caller PQclear()s. */
PGresult *ctl__exec(PGconn *conn, const char *what, const char *sql, int n,
		    const char *const *params);
/* Run a command expecting no rows; 0 or -1 (reported). */
int ctl__cmd(PGconn *conn, const char *what, const char *sql);
/*
 * BEGIN a transaction whose registry changes parking.lot_history attributes to ctl__actor()
 * (the transaction-local setting parkfeed.actor); 0 or -1 (reported, nothing left open).
 */
int ctl__begin_audited(PGconn *conn, const char *what);
/* The OS user running us (SUDO_USER when under sudo): the actor of audited changes. */
const char *ctl__actor(void);
/* Value of a cell, NULL when SQL NULL. */
const char *ctl__val(const PGresult *res, int row, int col);
/* Write a rendered buffer to stdout; 0 or -1 (reported). */
int ctl__emit(struct pf_buf *b);
/* COMMAND [show] [--format table|csv|json]: run one query and print its rows; what ("limits
 * show") names it in errors, its first word the command whose --help to see. */
int ctl__show_query(const struct ctl_opts *o, int argc, char **argv, const char *what,
		    const char *sql, const bool *right_align);
/* COMMAND [show] [OPTIONS] | COMMAND set [OPTIONS] (limits, retention): --help prints usage. */
int ctl__show_or_set(const struct ctl_opts *o, int argc, char **argv, const char *usage,
		     int (*show)(const struct ctl_opts *, int, char **),
		     int (*set)(const struct ctl_opts *, int, char **));
/* getopt_long loop helper: does argv hold --help or -h among its options? */
bool ctl__wants_help(int argc, char **argv);
/* Parse a decimal integer in [lo, hi]; 0 or -1. */
int ctl__parse_int(const char *s, long lo, long hi, long *out);
/* YYYY-MM-DD of a real day. */
bool ctl__valid_date(const char *s);

/* position.c. Jiaozuo's bounding box (its counties included), WGS-84 degrees: a lot placed
 * outside it is most likely a typo or swapped coordinates, so lots import and lots set warn. */
#define CTL_CITY_LON_MIN 112.4
#define CTL_CITY_LON_MAX 113.8
#define CTL_CITY_LAT_MIN 34.7
#define CTL_CITY_LAT_MAX 35.5
/* Strict decimal degrees (-?digits[.digits]) within [-limit, limit]; 0 or -1. */
int ctl__parse_degrees(const char *s, double limit, double *out);
bool ctl__outside_city(double lon, double lat);
/* "position LON,LAT is outside Jiaozuo (...)" with a hint, for a warning line. */
void ctl__city_warning(char *buf, size_t len, double lon, double lat);

enum ctl_format { CTL_FMT_TABLE = 0, CTL_FMT_CSV, CTL_FMT_JSON, CTL_FMT_MD };
int ctl__parse_format(const char *s, bool md_ok, enum ctl_format *out);
/* Print a result set as table (CJK aligned), csv or json (array of objects, all text). */
int ctl__print_result(const PGresult *res, enum ctl_format fmt, const bool *right_align);

/* import_preview.c: after import_lots in the open transaction, print what it changed and
 * the import's counts (its result) as a dry run; 0 or -1 (reported). */
int ctl__import_preview(PGconn *conn, const char *file, size_t nrows, const PGresult *counts);

/* Commands: argc/argv start at the command word; return the exit status. */
int ctl_migrate(const struct ctl_opts *o, int argc, char **argv);
int ctl_maintain(const struct ctl_opts *o, int argc, char **argv);
int ctl_lots(const struct ctl_opts *o, int argc, char **argv);
int ctl_lots_import(const struct ctl_opts *o, int argc, char **argv);
int ctl_targets(const struct ctl_opts *o, int argc, char **argv);
int ctl_progress(const struct ctl_opts *o, int argc, char **argv);
int ctl_status(const struct ctl_opts *o, int argc, char **argv);
int ctl_access(const struct ctl_opts *o, int argc, char **argv);
int ctl_limits(const struct ctl_opts *o, int argc, char **argv);
int ctl_retention(const struct ctl_opts *o, int argc, char **argv);
int ctl_broker(const struct ctl_opts *o, int argc, char **argv);

/* The broker and its dynamic-security admin account (broker.c, dynsec_mqtt.c). */
struct ctl_broker {
	const char *host;
	int port;
	const char *username;
	char *password; /* owned, wiped when freed */
	const char *cafile, *certfile, *keyfile;
	const char *prefix;	 /* the controllers' topic prefix */
	const char *feed_prefix; /* [feed] topic_prefix: the daemons publish there; "" = none */
	char **daemons;		 /* owned; parkfeedd accounts to keep, none = not managed */
	size_t n_daemons;
};

#define CTL_DYNSEC_TIMEOUT_S 120
struct ctl_dynsec;
/* Connect as the admin account and subscribe to the plugin's responses. */
__attribute__((warn_unused_result)) int
ctl__dynsec_open(struct ctl_dynsec **out, const struct ctl_broker *b, char *err, size_t errlen);
/* Send an array of commands in one message; *responses is the plugin's array, one per
 * command, in order (caller json_decref()s it). */
__attribute__((warn_unused_result)) int ctl__dynsec_call(struct ctl_dynsec *d, json_t *commands,
							 json_t **responses, char *err,
							 size_t errlen);
void ctl__dynsec_close(struct ctl_dynsec *d);

#endif
