/* What each endpoint answers, as a status, headers and a body; no HTTP library here
 * (endpoints.c; server.c sends the answers). */
#ifndef API_ENDPOINTS_H
#define API_ENDPOINTS_H

#include <stdbool.h>

#include "app.h"
#include "dbq.h"
#include "query.h"
#include "snapshot.h"
#include "web.h"

#define TYPE_JSON "application/json"
#define TYPE_GEOJSON "application/geo+json"
#define TYPE_LD_JSON "application/ld+json"
#define TYPE_PROBLEM "application/problem+json"

enum cache_policy {
	CACHE_DATA = 0,	  /* public, max-age = [api] cache_max_age */
	CACHE_REVALIDATE, /* no-cache: files of the web page, always checked by ETag */
	CACHE_NONE,	  /* no-store: problems, /healthz */
};

struct answer {
	int status;
	const char *type;      /* Content-Type */
	struct api_body *body; /* a reference, or NULL */
	enum cache_policy cache;
	bool vary_accept;	 /* the body depends on Accept (NGSI-LD) */
	bool page;		 /* an HTML page: Content-Security-Policy */
	char link[2400];	 /* Link header, "" = none */
	long long results_count; /* NGSILD-Results-Count, -1 = none */
	int retry_after;	 /* seconds, 0 = none */
	bool pending;		 /* waiting for the database: the request is suspended */
};

/* What an endpoint may look at besides the target. */
struct ep_request {
	struct app *app;
	struct api_settings *settings;
	struct api_snapshot *snap; /* NULL before the first refresh */
	struct web_files *web;
	const char *accept;	   /* Accept header or NULL */
	struct dbq_waiter *waiter; /* for answers from the database */
};

/* Answer the request for t (a query string not yet parsed). */
void ep__answer(const struct ep_request *r, const struct api_target *t, struct answer *a);
/* A problem (RFC 9457) answer; NGSI-LD endpoints get NGSI-LD error types. */
void ep__problem(struct answer *a, int status, bool ngsi, const char *detail);
/* The answer of a database question that was pending, from the waiter's result. */
void ep__finish_pending(const struct ep_request *r, struct answer *a);
/* Release what an answer holds. */
void ep__clear(struct answer *a);

#endif
