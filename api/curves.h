/* The SQL and JSON of the on-demand answers: the ledger and the occupancy curves (curves.c). */
#ifndef API_CURVES_H
#define API_CURVES_H

#include <libpq-fe.h>

#include "dbq.h"

/* Ask conn: 200 with a new body (a reference for the caller), or 503 (logged). */
int curves__run(PGconn *conn, const struct dbq_key *key, struct api_body **body);

#endif
