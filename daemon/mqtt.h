/* The MQTT side: owns the libmosquitto handle and drives it from the libuv loop. */
#ifndef PF_MQTT_H
#define PF_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "pf_config.h"

struct mosquitto;
struct pf_sockwatch;

struct pf_mqtt_callbacks {
	/* One message; received_at in microseconds UTC; retained: the broker replays a retained
	 * message (MQTT's retain flag on delivery). Its PUBACK waits until
	 * pf_mqtt_release_acks() is called. */
	void (*on_message)(void *ctx, const char *topic, const uint8_t *payload, size_t len,
			   int64_t received_at, bool retained);
	/* One of our publishes is done with: a QoS 1 one acknowledged by the broker, a QoS 0 one
	 * written. Called from inside libmosquitto: note it, publish nothing from here. */
	void (*on_published)(void *ctx, int mid);
	/* A burst of reads ended (socket drained, budget used, or reading paused). */
	void (*after_read)(void *ctx);
	void (*on_state)(void *ctx, bool connected);
};

enum pf_mqtt_state {
	PF_MQTT_IDLE = 0,   /* before start, after stop */
	PF_MQTT_RESOLVING,  /* uv_getaddrinfo in flight */
	PF_MQTT_CONNECTING, /* TCP/TLS connect or CONNECT sent, waiting for CONNACK */
	PF_MQTT_CONNECTED,  /* CONNACK 0 received, subscribed */
	PF_MQTT_BACKOFF,    /* waiting for the reconnect timer */
	PF_MQTT_STOPPING,   /* DISCONNECT queued */
};

struct pf_mqtt {
	uv_loop_t *loop;
	const struct pf_config *cfg;
	struct mosquitto *mosq;
	struct pf_sockwatch *poll; /* watcher of the current socket, NULL when none */
	uv_timer_t misc_timer;	   /* mosquitto_loop_misc once a second */
	uv_timer_t retry_timer;	   /* reconnect backoff */
	uv_getaddrinfo_t resolver;
	char addr[64]; /* numeric broker address to connect to */
	enum pf_mqtt_state state;
	bool reading;  /* false: UV_READABLE dropped (backpressure, flush) */
	bool unsynced; /* a message was read that is not durable yet */
	bool tls;
	bool abort_pending; /* drop the connection once out of libmosquitto */
	int backoff_ms;
	uint64_t connect_ms; /* uv_now() when the current attempt began */
	int last_error;	     /* logged once per change */
	struct pf_mqtt_callbacks cb;
	void *ctx;
	uint64_t messages; /* received since start */
	uint64_t connects; /* successful CONNACKs */
	void (*stopped_cb)(struct pf_mqtt *m);
	int closing; /* handles still closing in stop */
};

__attribute__((warn_unused_result)) int pf_mqtt_init(struct pf_mqtt *m, uv_loop_t *loop,
						     const struct pf_config *cfg,
						     const struct pf_mqtt_callbacks *cb, void *ctx,
						     char *err, size_t errlen);
void pf_mqtt_start(struct pf_mqtt *m);
/* Stop or resume reading from the broker (the broker then queues; TCP pushes back). */
void pf_mqtt_set_reading(struct pf_mqtt *m, bool on);
/* Everything read so far is durable: let the PUBACKs (and anything else queued) go. */
void pf_mqtt_release_acks(struct pf_mqtt *m);
/*
 * Publish (the live feed, the echo of rejects): queued, and written with everything else
 * queued, acknowledgements included, only while every message read is durable. 0 with *mid
 * set; -ENOTCONN when not connected; -EINVAL for a topic or payload the library refuses;
 * -ENOMEM.
 */
__attribute__((warn_unused_result)) int pf_mqtt_publish(struct pf_mqtt *m, const char *topic,
							const void *payload, size_t len, int qos,
							bool retain, int *mid);
/* Drop the connection unwritten, so nothing read so far is acknowledged (redelivery). */
void pf_mqtt_abort(struct pf_mqtt *m);
bool pf_mqtt_connected(const struct pf_mqtt *m);
/* Disconnect cleanly (DISCONNECT sent if connected), close every handle, then call cb. */
void pf_mqtt_stop(struct pf_mqtt *m, void (*cb)(struct pf_mqtt *m));
/* After stop's callback: free the libmosquitto handle. */
void pf_mqtt_destroy(struct pf_mqtt *m);

#endif
