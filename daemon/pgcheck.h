/* Checks of the [postgres] connection settings that parkfeedd -t reports. */
#ifndef PGCHECK_H
#define PGCHECK_H

#include <stddef.h>

/*
 * 1 and a one-line warning in warn when the conninfo (with libpq's PG* environment for what it
 * leaves out) reaches PostgreSQL somewhere other than a Unix socket or a loopback address
 * without sslmode=verify-full, or when it does not parse; 0 when there is nothing to say.
 */
int pf_pgcheck_transport(const char *conninfo, char *warn, size_t len);

#endif
