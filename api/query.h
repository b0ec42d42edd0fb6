/* What a request asks for: its route and its query parameters, parsed and checked (query.c). */
#ifndef API_QUERY_H
#define API_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "geo.h"

#define QUERY_MAX_PAIRS 16
#define QUERY_MAX_LEN 2048  /* bytes of a raw query string */
#define QUERY_PARAM_MAX 256 /* bytes of a decoded path parameter */

#define LOTS_LIMIT_DEFAULT 10
#define LOTS_LIMIT_MAX 100
#define LOTS_RADIUS_MAX_M 100000.0
#define NGSI_LIMIT_DEFAULT 20 /* as NGSI-LD brokers commonly do (Orion-LD: 20, at most 1000) */
#define NGSI_LIMIT_MAX 1000
#define NGSI_OFFSET_MAX 1000000
#define NGSI_IDS_MAX 100
#define HISTORY_HOURS_DEFAULT 24
#define HISTORY_HOURS_MAX 48
#define HISTORY_BUCKET_DEFAULT 15

enum api_route {
	R_NOT_FOUND = 0,
	R_INDEX,	    /* / */
	R_LEDGER_PAGE,	    /* /ledger */
	R_STATIC,	    /* any other path: a file of [web] root, if there is one */
	R_HEALTHZ,	    /* /healthz */
	R_CONFIG,	    /* /v1/config */
	R_LOTS,		    /* /v1/lots */
	R_LOT,		    /* /v1/lots/{lot_id} */
	R_LOT_HISTORY,	    /* /v1/lots/{lot_id}/history */
	R_DISTRICTS,	    /* /v1/districts */
	R_DISTRICT_HISTORY, /* /v1/districts/{district}/history */
	R_PROGRESS,	    /* /v1/progress */
	R_NGSI_ENTITIES,    /* /ngsi-ld/v1/entities */
	R_NGSI_ENTITY,	    /* /ngsi-ld/v1/entities/{urn} */
};

struct api_target {
	enum api_route route;
	char param[QUERY_PARAM_MAX]; /* decoded path parameter (lot id, district, urn, file) */
	const char *query;	     /* raw query string (after '?'), not NUL-terminated */
	size_t query_len;
};

struct query_pair {
	const char *key, *val; /* decoded, NUL-terminated; val "" when there was no '=' */
};

struct query {
	struct query_pair p[QUERY_MAX_PAIRS];
	size_t n;
	char buf[QUERY_MAX_LEN + QUERY_MAX_PAIRS * 2 + 1]; /* the decoded pairs */
};

struct lots_params {
	const char *district; /* NULL = every district */
	bool near;
	double near_lon, near_lat; /* WGS-84 (converted back from crs) */
	int limit;		   /* near only */
	double radius_m;	   /* near only; 0 = no radius */
	enum api_crs crs;
};

struct ngsi_params {
	bool key_values; /* options=keyValues (or simplified); else the normalized form */
	bool type_ok;	 /* the type asked for is OffStreetParking (a list query may ask another) */
	int limit, offset;
	bool count; /* count=true: NGSILD-Results-Count header */
	struct {
		const char *s; /* into the id parameter's value, not NUL-terminated */
		size_t len;
	} ids[NGSI_IDS_MAX]; /* id=urn,urn,...: only these (n_ids 0 = all) */
	size_t n_ids;
	const char *ids_raw; /* the id parameter as given (decoded), for paging links */
};

struct progress_params {
	int year;
	char as_of[11]; /* YYYY-MM-DD, "" = today (Asia/Shanghai) */
};

struct history_params {
	int hours;
	int bucket_minutes;
};

/*
 * Split a raw request target ("/v1/lots/JZ-SY-001?crs=gcj02") into its route, its decoded
 * path parameter and its raw query. 0, or -EINVAL with why (a 400: bad percent-encoding, a
 * path parameter that cannot be what it names); an unknown path is R_NOT_FOUND, not an error.
 */
__attribute__((warn_unused_result)) int
query__route(const char *uri, size_t len, struct api_target *t, char *why, size_t whylen);
/* Decode a query string into pairs ('+' is a space, %XX a byte, the result UTF-8 without
 * control characters). 0 or -EINVAL with why. */
__attribute__((warn_unused_result)) int query__parse(struct query *q, const char *qs, size_t len,
						     char *why, size_t whylen);

/* Each checks that only its endpoint's parameters appear, once each, with valid values; 0 or
 * -EINVAL with why saying which parameter is wrong and what is allowed. Strings returned
 * point into q. */
__attribute__((warn_unused_result)) int
query__lots(const struct query *q, bool one_lot, struct lots_params *p, char *why, size_t whylen);
__attribute__((warn_unused_result)) int
query__ngsi(const struct query *q, bool list, struct ngsi_params *p, char *why, size_t whylen);
__attribute__((warn_unused_result)) int
query__progress(const struct query *q, struct progress_params *p, char *why, size_t whylen);
__attribute__((warn_unused_result)) int
query__history(const struct query *q, struct history_params *p, char *why, size_t whylen);
/* Endpoints that take no parameter at all. */
__attribute__((warn_unused_result)) int query__none(const struct query *q, char *why,
						    size_t whylen);

/* lot_id of the contract: [A-Za-z0-9._-]{1,64}. */
bool query__valid_lot_id(const char *s);
/* The lot id inside urn:ngsi-ld:OffStreetParking:<lot_id>, or NULL. */
const char *query__urn_lot_id(const char *urn);

#endif
