/* What the threads of parkfeed-api share: the current settings, snapshot and web files, and
 * the modules that keep them current. */
#ifndef API_APP_H
#define API_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "apiconf.h"
#include "httpx.h"
#include "rc.h"

struct refresh;
struct dbq;

/* A loaded configuration, immutable once current; SIGHUP makes a new one. */
struct api_settings {
	struct rc rc;
	struct api_config cfg;
};

struct app {
	struct rc_holder settings;  /* struct api_settings */
	struct rc_holder snapshots; /* struct api_snapshot */
	struct rc_holder web;	    /* struct web_files */
	struct refresh *refresh;
	struct dbq *dbq;
	struct rate_limiter *rate;
	pthread_mutex_t rate_lock;
	atomic_ullong requests; /* answered, for STATUS= */
};

/* A settings object holding cfg (taken over: the caller's copy is emptied); NULL when out of
 * memory (cfg is freed). */
struct api_settings *app__settings_new(struct api_config *cfg);
/* The current settings, with a reference for the caller (never NULL once running). */
struct api_settings *app__settings(struct app *a);
void app__settings_unref(struct api_settings *s);
/* CLOCK_MONOTONIC and CLOCK_REALTIME in microseconds. */
int64_t app__mono_us(void);
int64_t app__real_us(void);

#endif
