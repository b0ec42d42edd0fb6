/* Questions answered by PostgreSQL on demand (the ledger, the curves): a small pool of worker
 * threads with their own connections, and a cache that also merges identical questions asked
 * at once (dbq.c). */
#ifndef API_DBQ_H
#define API_DBQ_H

#include <stdbool.h>

#include "app.h"
#include "query.h"
#include "snapshot.h"

enum dbq_kind { DBQ_PROGRESS, DBQ_LOT_CURVE, DBQ_DISTRICT_CURVE };

struct dbq_key {
	enum dbq_kind kind;
	char subject[QUERY_PARAM_MAX]; /* lot id or district; "" for the ledger */
	int year;		       /* ledger */
	char as_of[11];		       /* ledger: YYYY-MM-DD, always set */
	int hours, bucket_minutes;     /* curves */
};

/* A request waiting for an answer; embedded in the request. */
struct dbq_waiter {
	void (*done)(struct dbq_waiter *w); /* called from a worker thread, no lock held */
	int status;			    /* 200, or 503 when the database could not answer */
	struct api_body *body;		    /* 200: a reference for the waiter */
	struct dbq_waiter *next;
};

struct dbq;

__attribute__((warn_unused_result)) int dbq__start(struct dbq **out, struct app *app,
						   const char *password, int workers);
/*
 * Ask key. 0: answered from the cache at once (w->status and w->body set; done is not
 * called). 1: queued; w->done(w) follows once a worker has the answer. -EBUSY: too many
 * different questions are waiting already (answer 503 and let the client retry).
 */
__attribute__((warn_unused_result)) int dbq__ask(struct dbq *q, const struct dbq_key *key,
						 int ttl_s, struct dbq_waiter *w);
/* Stop the workers; whoever still waits gets 503 through done. */
void dbq__stop(struct dbq *q);

#endif
