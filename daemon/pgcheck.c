/* Does the daemon's database connection cross a network unverified? libpq parses the conninfo. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "pgcheck.h"

/* A value from the conninfo, else from the environment variable libpq would read. */
static const char *option(const PQconninfoOption *opts, const char *key, const char *env)
{
	for (const PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, key) == 0 && o->val && *o->val)
			return o->val;
	return getenv(env);
}

/* Unix socket (a directory, or @abstract), loopback name or address, or libpq's default. */
static bool local_host(const char *h, size_t n)
{
	char buf[256];
	struct in_addr a4;
	struct in6_addr a6;

	if (n == 0 || h[0] == '/' || h[0] == '@')
		return true;
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	if (strcasecmp(buf, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* The i-th element of a comma-separated list (host=a,b), or "" past its end. */
static const char *nth(const char *list, size_t i, size_t *n)
{
	const char *p = list ? list : "", *comma;

	for (; i > 0 && (comma = strchr(p, ',')); i--)
		p = comma + 1;
	if (i > 0) {
		*n = 0;
		return "";
	}
	*n = (comma = strchr(p, ',')) ? (size_t)(comma - p) : strlen(p);
	return p;
}

/* The first host libpq would reach that is not local (hostaddr wins over host), or NULL. */
static const char *remote_host(const char *host, const char *hostaddr, size_t *n)
{
	for (size_t i = 0; i < 64; i++) {
		size_t nh, na;
		const char *h = nth(host, i, &nh), *a = nth(hostaddr, i, &na);

		if (nh == 0 && na == 0 && i > 0)
			return NULL;
		if (!local_host(na ? a : h, na ? na : nh)) {
			*n = na ? na : nh;
			return na ? a : h;
		}
	}
	return NULL;
}

int pf_pgcheck_transport(const char *conninfo, char *warn, size_t len)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
	const char *remote, *sslmode;
	size_t n;
	int rc = 0;

	if (!opts) {
		snprintf(warn, len, "[postgres] conninfo does not parse: %s",
			 err ? strtok(err, "\n") : "out of memory");
		PQfreemem(err);
		return 1;
	}
	remote = remote_host(option(opts, "host", "PGHOST"), option(opts, "hostaddr", "PGHOSTADDR"),
			     &n);
	sslmode = option(opts, "sslmode", "PGSSLMODE");
	if (!sslmode)
		sslmode = "prefer";
	if (remote && strcmp(sslmode, "verify-full") != 0) {
		snprintf(
			warn, len,
			"[postgres] conninfo reaches %.*s, which is not a Unix socket or a loopback "
			"address, with sslmode=%s: the database's identity is not verified and its "
			"traffic and password may be read or changed on the way; set "
			"sslmode=verify-full with sslrootcert=FILE (the CA of the server's "
			"certificate) and channel_binding=require, and with libpq 16 or later "
			"require_auth=scram-sha-256 (see docs/security.md)",
			(int)(n > 200 ? 200 : n), remote, sslmode);
		rc = 1;
	}
	PQconninfoFree(opts);
	return rc;
}
