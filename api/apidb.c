/* Connections to PostgreSQL as parkfeed_reader: session settings, the schema check. */
#include "apidb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void apidb__describe(const PGresult *res, char *err, size_t errlen)
{
	const char *prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	snprintf(err, errlen, "%s (SQLSTATE %s)", prim ? prim : PQresultErrorMessage(res),
		 code ? code : "?");
	err[strcspn(err, "\n")] = '\0';
}

static int session_setup(PGconn *conn, const struct api_config *cfg, char *err, size_t errlen)
{
	char sql[256];
	PGresult *res;
	int rc = 0;

	/* Read-only on the primary too: nothing in parkfeed-api writes, and nothing can. */
	snprintf(sql, sizeof(sql),
		 "SET statement_timeout = %d; SET default_transaction_read_only = on; "
		 "SET TimeZone = 'UTC'",
		 cfg->postgres.statement_timeout_ms);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		apidb__describe(res, err, errlen);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

PGconn *apidb__connect(const struct api_config *cfg, const char *password, const char *what,
		       char *err, size_t errlen)
{
	const char *kw[12], *val[12];
	char timeout[16];
	PGconn *conn;
	int n = 0;

	/* Keepalives first, so the site's conninfo may override them; a dead peer is noticed
	 * within about 15 s instead of the kernel's two hours. */
	kw[n] = "keepalives_idle", val[n++] = "5";
	kw[n] = "keepalives_interval", val[n++] = "2";
	kw[n] = "keepalives_count", val[n++] = "5";
	kw[n] = "fallback_application_name", val[n++] = what;
	kw[n] = "client_encoding", val[n++] = "UTF8";
	kw[n] = "dbname", val[n++] = cfg->postgres.conninfo;
	snprintf(timeout, sizeof(timeout), "%d", cfg->postgres.connect_timeout);
	kw[n] = "connect_timeout", val[n++] = timeout;
	if (password)
		kw[n] = "password", val[n++] = password;
	kw[n] = NULL, val[n] = NULL;
	conn = PQconnectdbParams(kw, val, 1);
	if (!conn) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(conn));
		for (char *p = err; *p; p++)
			if (*p == '\n')
				*p = ' ';
		PQfinish(conn);
		return NULL;
	}
	if (session_setup(conn, cfg, err, errlen) < 0) {
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

enum apidb_error apidb__check_schema(PGconn *conn, int *version, char *err, size_t errlen)
{
	PGresult *res =
		PQexec(conn, "SELECT coalesce(max(version), 0) FROM parking.schema_migrations");
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	enum apidb_error rc = APIDB_OK;

	*version = 0;
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		*version = atoi(PQgetvalue(res, 0, 0));
		if (*version < APIDB_SCHEMA_NEEDED) {
			snprintf(err, errlen,
				 "the database schema is at version %d; parkfeed-api needs %d or "
				 "later: run parkfeedctl migrate",
				 *version, APIDB_SCHEMA_NEEDED);
			rc = APIDB_SCHEMA_OLD;
		}
	} else if (code && (strcmp(code, "42P01") == 0 || strcmp(code, "3F000") == 0)) {
		snprintf(err, errlen,
			 "the database has no parkfeed schema: run parkfeedctl migrate (version %d "
			 "or later)",
			 APIDB_SCHEMA_NEEDED);
		rc = APIDB_SCHEMA_OLD;
	} else if (code && strcmp(code, "42501") == 0) {
		/* Readers may read schema_migrations since 009: before it, or without the role. */
		snprintf(err, errlen,
			 "cannot read parking.schema_migrations (permission denied): the schema is "
			 "older than version %d (run parkfeedctl migrate) or the login is not a "
			 "member of parkfeed_reader (GRANT parkfeed_reader TO it)",
			 APIDB_SCHEMA_NEEDED);
		rc = APIDB_SCHEMA_OLD;
	} else {
		apidb__describe(res, err, errlen);
		rc = APIDB_QUERY;
	}
	PQclear(res);
	return rc;
}
