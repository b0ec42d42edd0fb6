/*
 * The live feed and the echo of rejects: what the writer committed becomes retained messages
 * on <[feed] topic_prefix>/lots/<lot_id> and .../districts/<district>, asked of the database
 * (pf_db_ask_feed) and published through the broker connection (pf_mqtt_publish); a reject,
 * once stored, is told to its lot on <[mqtt] topic_prefix>/<lot_id>/rejected.
 */
#ifndef PF_FEED_H
#define PF_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "mqtt.h"
#include "pf_buf.h"
#include "pf_config.h"
#include "pf_feedq.h"
#include "pf_figures.h"

struct pf_feed {
	uv_loop_t *loop;
	const struct pf_config *cfg;
	struct pf_mqtt *mqtt;
	struct pf_db *db;   /* the writer's connection: the feed only asks */
	struct pf_feedq *q; /* NULL: no feed ([feed] topic_prefix empty) */
	uv_timer_t kick;    /* soon: ask and send */
	uv_timer_t tick;    /* every second: the districts */
	bool asking_lots;   /* a feed_lots question in flight */
	bool asking_districts;
	bool all_districts;	  /* every district is still to be asked about, in one question */
	uint64_t lots_at_ms;	  /* the last feed_lots question (after a failure: later) */
	uint64_t districts_at_ms; /* the last feed_districts question */
	unsigned ticks;
	int *inflight; /* mids of the feed's QoS 1 messages not acknowledged yet */
	int n_inflight;
	struct pf_buf lit; /* a question's parameter */
	struct pf_buf out; /* an echo's payload */
	uint64_t echoes, echoes_dropped;
	struct pf_hist latency; /* commit known -> message handed to the broker, lots */
	void (*stopped_cb)(struct pf_feed *f);
	int closing;
};

__attribute__((warn_unused_result)) int pf_feed_init(struct pf_feed *f, uv_loop_t *loop,
						     const struct pf_config *cfg,
						     struct pf_mqtt *mqtt, struct pf_db *db);
void pf_feed_start(struct pf_feed *f);
/* The writer committed a transaction: its lots may have changed. */
void pf_feed_committed(struct pf_feed *f, struct pf_feedq_txn *t);
/* The broker connection came (or went): waiting messages may leave. */
void pf_feed_connected(struct pf_feed *f, bool up);
/* A publish of ours is done with (pf_mqtt_callbacks.on_published). */
void pf_feed_published(struct pf_feed *f, int mid);
/* With [feed] echo_rejects, tell the reject's lot why (QoS 0, not retained). */
void pf_feed_echo(struct pf_feed *f, const struct pf_record *reject);
/* Close the timers; cb when they are closed. What waits is dropped. */
void pf_feed_stop(struct pf_feed *f, void (*cb)(struct pf_feed *f));
void pf_feed_free(struct pf_feed *f);
void pf_feed_figures(const struct pf_feed *f, struct pf_figures *figs);

#endif
