/* The fake libpq's server side, as the writer's tests drive it (fake_pq.c). */
#ifndef FAKE_PQ_H
#define FAKE_PQ_H

#include <stdbool.h>

#define FAKE_MAX_KEYS 4096

struct fake_server {
	/* what was committed: "lot@observed_us", once each */
	char keys[FAKE_MAX_KEYS][80];
	int n_keys;
	int commits;

	/* calls counted over all connections; a fault fires when its count reaches the value
	 * (0 = never) */
	int sends, syncs, flushes, results, connects;
	int fail_send_at;      /* the n-th PQsendQueryPrepared fails */
	int fail_sync_at;      /* the n-th PQpipelineSync fails */
	int fail_flush_at;     /* the n-th PQflush fails */
	int drop_after_result; /* the connection goes after the n-th result is read */
	bool drop_reset;       /* ...by a reset (the socket reports an error), else closed */
	int fail_connect_left; /* this many connection attempts fail */
	int transient_left;    /* this many ingest calls fail with SQLSTATE 42501 */
	int hang_conns;	       /* the first n connections never answer a transaction */
	int schema_version;    /* what parking.schema_version() answers; 0: this build's */

	/* transactions in flight when the fault fired, as the test measures them */
	int (*inflight_probe)(void);
	int failed_with_inflight;
};

extern struct fake_server fake;

void fake_server_reset(void);
/* Answer one transaction on every open connection (the test calls it from a timer). */
void fake_server_tick(void);

#endif
