/* The refresher: its own thread and PostgreSQL connection, reading every lot's state every
 * refresh_ms into a new snapshot (refresh.c). Requests never wait for it. */
#ifndef API_REFRESH_H
#define API_REFRESH_H

#include <stdbool.h>
#include <stdint.h>

#include "apidb.h"
#include "app.h"

struct refresh;

struct refresh_status {
	int64_t last_ok_mono_us; /* the last read that made or confirmed a snapshot; 0 = none */
	enum apidb_error error;	 /* of the last attempt */
	char problem[320];	 /* what is wrong, in words fit for /healthz (no server text) */
	int schema_version;	 /* 0 until read */
	bool standby;
	double replay_lag_s;	   /* standby: behind its primary (-1 unknown) */
	int64_t heartbeat_mono_us; /* the thread's last turn of its loop */
};

/* Start the thread; password (NULL: none) is copied. 0 or a negative errno. */
__attribute__((warn_unused_result)) int refresh__start(struct refresh **out, struct app *app,
						       const char *password);
void refresh__status(struct refresh *r, struct refresh_status *out);
/* Read now rather than at the next tick (after a reload). */
void refresh__kick(struct refresh *r);
void refresh__stop(struct refresh *r);

#endif
