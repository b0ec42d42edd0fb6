/* Connections to PostgreSQL as parkfeed_reader: session settings, the schema check (apidb.c). */
#ifndef API_APIDB_H
#define API_APIDB_H

#include <libpq-fe.h>
#include <stddef.h>

#include "apiconf.h"

/* Migration 009 added what parkfeed-api reads. */
#define APIDB_SCHEMA_NEEDED 9

enum apidb_error {
	APIDB_OK = 0,
	APIDB_UNREACHABLE, /* connection refused, timed out, authentication failed */
	APIDB_SCHEMA_OLD,  /* schema missing or older than APIDB_SCHEMA_NEEDED */
	APIDB_QUERY,	   /* a query failed on a working connection */
};

/*
 * Connect with conninfo and password (NULL: none), and set the session up: read-only
 * transactions, statement_timeout, UTC. Returns the connection, or NULL with what went
 * wrong in err (libpq's words: for the log, never for a client).
 */
PGconn *apidb__connect(const struct api_config *cfg, const char *password, const char *what,
		       char *err, size_t errlen);
/* Read the schema version into *version: APIDB_OK, APIDB_SCHEMA_OLD (with what to do in
 * err), or APIDB_QUERY. */
enum apidb_error apidb__check_schema(PGconn *conn, int *version, char *err, size_t errlen);
/* A failed result's primary message (and SQLSTATE) on one line, for the log. */
void apidb__describe(const PGresult *res, char *err, size_t errlen);

#endif
