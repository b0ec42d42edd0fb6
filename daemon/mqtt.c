/*
 * The MQTT side: libmosquitto driven from the libuv loop, with PUBACKs held back until the
 * pipeline says everything read so far is durable.
 *
 * libmosquitto 2.0 sends a QoS 1 PUBACK before on_message runs, and in its default mode
 * writes it to the socket at once. In threaded mode packets are only queued and leave when
 * mosquitto_loop_write() is called, so this module runs the library in threaded mode (it
 * starts no thread: threaded only switches queuing and locking on) and calls loop_write
 * only while no message read is still waiting to become durable. Reconnecting discards
 * queued packets, so messages whose PUBACK never left are redelivered by the broker.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "mqtt.h"
#include "pf_log.h"
#include "sockwatch.h"

#define READ_BUDGET 2048 /* packets per readable event, to stay fair to other handles */
#define BACKOFF_MIN_MS 250

static void sync_poll(struct pf_mqtt *m);
static void schedule_retry(struct pf_mqtt *m, const char *why, int code);
static void on_lib_log(struct mosquitto *mosq, void *obj, int level, const char *str);

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- handle lifetime ---- */

static void on_handle_closed(uv_handle_t *h)
{
	struct pf_mqtt *m = h->data;

	if (m->stopped_cb && --m->closing == 0)
		m->stopped_cb(m);
}

static void on_poll_closed(struct pf_sockwatch *w)
{
	struct pf_mqtt *m = w->data;

	if (m->stopped_cb && --m->closing == 0)
		m->stopped_cb(m);
}

static void close_poll(struct pf_mqtt *m)
{
	struct pf_sockwatch *w = m->poll;

	if (!w)
		return;
	m->poll = NULL;
	if (m->stopped_cb)
		m->closing++;
	pf_sockwatch_close(w, on_poll_closed);
}

/* ---- reading and writing ---- */

static void do_write(struct pf_mqtt *m)
{
	int rc;

	if (m->unsynced || !m->mosq || mosquitto_socket(m->mosq) < 0)
		return;
	errno = 0;
	rc = mosquitto_loop_write(m->mosq, 1);
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
		pf_debug("mqtt: write: %s", mosquitto_strerror(rc));
}

/* Drop the connection without writing anything: the queued PUBACKs are discarded with it
 * (libmosquitto's reconnect clears the output queue), so the broker redelivers. */
static void do_abort(struct pf_mqtt *m)
{
	int rc;

	m->abort_pending = false;
	close_poll(m);
	m->unsynced = false;
	m->state = PF_MQTT_CONNECTING;
	m->connect_ms = uv_now(m->loop);
	rc = mosquitto_reconnect_async(m->mosq);
	if (rc != MOSQ_ERR_SUCCESS)
		schedule_retry(m, mosquitto_strerror(rc), rc);
}

static void do_read(struct pf_mqtt *m)
{
	int n = 0;

	while (m->reading && !m->abort_pending && n < READ_BUDGET &&
	       mosquitto_socket(m->mosq) >= 0) {
		errno = 0;
		int rc = mosquitto_loop_read(m->mosq, 1);
		n++;
		if (rc != MOSQ_ERR_SUCCESS) {
			pf_debug("mqtt: read: %s", mosquitto_strerror(rc));
			break;
		}
		/* loop_read handles one packet per call and returns 0 both when it read one
		 * and when the socket had nothing: errno tells the two apart. */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
	}
	if (m->abort_pending)
		do_abort(m);
	if (m->cb.after_read)
		m->cb.after_read(m->ctx);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct pf_sockwatch *w = h->data;
	struct pf_mqtt *m = w->data;

	if (status < 0) {
		/* libuv has stopped the handle (it says EBADF for any POLLERR: its text would
		 * mislead); libmosquitto finds the error reading and the connection's loss is
		 * logged then, or else sync_poll watches again and the next read or keepalive
		 * does. */
		pf_debug("mqtt: the socket reported an error; reading it");
		pf_sockwatch_stopped(w);
		events = UV_READABLE;
	}
	if ((events & UV_WRITABLE) && m->poll == w)
		do_write(m);
	if ((events & UV_READABLE) && m->poll == w)
		do_read(m);
	sync_poll(m);
}

/* Point the watcher at libmosquitto's current socket with the interest it needs now. */
static void sync_poll(struct pf_mqtt *m)
{
	int fd = m->mosq ? mosquitto_socket(m->mosq) : -1;
	int events = 0;

	if (m->poll && (fd < 0 || !pf_sockwatch_same(m->poll, fd, m->state != PF_MQTT_CONNECTED)))
		close_poll(m); /* new connection, new fd: a uv_poll_t cannot be re-pointed */
	if (fd < 0 || m->stopped_cb)
		return;
	if (!m->poll) {
		m->poll = pf_sockwatch_open(m->loop, fd, m);
		if (!m->poll) {
			pf_err("mqtt: cannot watch socket %d: %s", fd, strerror(errno));
			return;
		}
	}
	if (m->reading)
		events |= UV_READABLE;
	/* Writable only while there is something to write and it may leave: a permanent
	 * writable watch would spin, and held PUBACKs must not leave early. */
	if (mosquitto_want_write(m->mosq) && !m->unsynced)
		events |= UV_WRITABLE;
	if (pf_sockwatch_set(m->poll, events, on_poll) < 0)
		pf_err("mqtt: cannot watch socket %d", fd);
}

static void on_kick(uv_timer_t *t)
{
	struct pf_mqtt *m = t->data;

	/* Resumed reading: TLS may hold decrypted bytes the socket no longer signals. */
	if (m->reading && m->state == PF_MQTT_CONNECTED)
		do_read(m);
	sync_poll(m);
}

/* ---- connection ---- */

static void connect_now(struct pf_mqtt *m)
{
	const char *host = m->addr[0] ? m->addr : m->cfg->mqtt.host;
	int rc;

	m->state = PF_MQTT_CONNECTING;
	m->connect_ms = uv_now(m->loop);
	m->unsynced = false;
	rc = mosquitto_connect_async(m->mosq, host, m->cfg->mqtt.port, m->cfg->mqtt.keepalive);
	if (rc != MOSQ_ERR_SUCCESS) {
		schedule_retry(m, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc),
			       rc == MOSQ_ERR_ERRNO ? 1000 + errno : rc);
		return;
	}
	sync_poll(m);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct pf_mqtt *m = req->data;

	if (m->state != PF_MQTT_RESOLVING) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status < 0 || !res) {
		uv_freeaddrinfo(res);
		schedule_retry(m, uv_strerror(status), 2000 - status);
		return;
	}
	if (res->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, m->addr,
			  sizeof(m->addr));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, m->addr,
			  sizeof(m->addr));
	uv_freeaddrinfo(res);
	connect_now(m);
}

static bool is_numeric_host(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void begin_connect(struct pf_mqtt *m)
{
	const char *host = m->cfg->mqtt.host;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};

	/* libmosquitto resolves names with a blocking getaddrinfo(): resolve on the thread
	 * pool instead and hand it an address. With TLS the name is needed for certificate
	 * verification, so it is passed through (see docs: use an address or /etc/hosts). */
	if (is_numeric_host(host) || m->tls) {
		m->addr[0] = '\0';
		connect_now(m);
		return;
	}
	m->state = PF_MQTT_RESOLVING;
	m->resolver.data = m;
	if (uv_getaddrinfo(m->loop, &m->resolver, on_resolved, host, NULL, &hints) != 0)
		schedule_retry(m, "cannot start name resolution", 3000);
}

static void on_retry(uv_timer_t *t)
{
	struct pf_mqtt *m = t->data;

	if (m->state == PF_MQTT_BACKOFF)
		begin_connect(m);
}

static void schedule_retry(struct pf_mqtt *m, const char *why, int code)
{
	int cap = m->cfg->mqtt.reconnect_max * 1000;
	int delay;

	close_poll(m);
	if (m->state == PF_MQTT_STOPPING || m->stopped_cb)
		return;
	/* Logged once per change of cause, not per attempt; without the full stop that
	 * mosquitto_strerror's sentences end with. */
	if (code != m->last_error) {
		int n = (int)strlen(why);

		n -= n > 0 && why[n - 1] == '.';
		pf_warn("mqtt: broker %s:%d unavailable: %.*s; retrying with backoff up to %d s",
			m->cfg->mqtt.host, m->cfg->mqtt.port, n, why, m->cfg->mqtt.reconnect_max);
		m->last_error = code;
	} else {
		pf_debug("mqtt: broker still unavailable: %s", why);
	}
	m->state = PF_MQTT_BACKOFF;
	m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (m->backoff_ms > cap)
		m->backoff_ms = cap;
	/* Jitter: between half and all of the backoff, so a fleet does not reconnect in step. */
	delay = m->backoff_ms / 2 + (int)(random() % (m->backoff_ms / 2 + 1));
	uv_timer_start(&m->retry_timer, on_retry, (uint64_t)delay, 0);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct pf_mqtt *m = obj;
	const char *prefix = m->cfg->mqtt.topic_prefix;
	const char *group = m->cfg->mqtt.shared_group;
	char t_occ[600], t_status[600];
	char *topics[2] = {t_occ, t_status};
	int r;

	if (rc != 0) {
		/* The broker closes the connection; on_disconnect schedules the retry. */
		pf_err("mqtt: broker refused the connection: %s (check [mqtt] username, "
		       "password_file and the broker's ACL)",
		       mosquitto_connack_string(rc));
		m->last_error = 3000 + rc;
		return;
	}
	if (group && group[0]) {
		snprintf(t_occ, sizeof(t_occ), "$share/%s/%s/+/occupancy", group, prefix);
		snprintf(t_status, sizeof(t_status), "$share/%s/%s/+/status", group, prefix);
	} else {
		snprintf(t_occ, sizeof(t_occ), "%s/+/occupancy", prefix);
		snprintf(t_status, sizeof(t_status), "%s/+/status", prefix);
	}
	r = mosquitto_subscribe_multiple(mosq, NULL, 2, topics, m->cfg->mqtt.qos, 0, NULL);
	if (r != MOSQ_ERR_SUCCESS) {
		pf_err("mqtt: cannot subscribe: %s", mosquitto_strerror(r));
		mosquitto_disconnect(mosq);
		return;
	}
	/* libmosquitto formats every debug line (two per message) for a log callback: a tenth
	 * of the CPU of a drain. The callback is only there for handshake errors; the
	 * disconnect puts it back for the next attempt. */
	mosquitto_log_callback_set(mosq, NULL);
	m->state = PF_MQTT_CONNECTED;
	m->connects++;
	m->backoff_ms = 0;
	if (m->last_error || m->connects == 1)
		pf_notice("mqtt: connected to %s:%d as %s, subscribed to %s and %s (QoS %d)",
			  m->cfg->mqtt.host, m->cfg->mqtt.port, m->cfg->mqtt.client_id, t_occ,
			  t_status, m->cfg->mqtt.qos);
	m->last_error = 0;
	if (m->cb.on_state)
		m->cb.on_state(m->ctx, true);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct pf_mqtt *m = obj;
	bool was_connected = m->state == PF_MQTT_CONNECTED;
	int err = errno; /* with MOSQ_ERR_ERRNO, the cause; the calls below may change it */

	mosquitto_log_callback_set(mosq, on_lib_log);
	close_poll(m); /* libmosquitto has closed its fd: ours is a duplicate */
	m->unsynced = false;
	if (m->state == PF_MQTT_STOPPING || m->stopped_cb) {
		m->state = PF_MQTT_IDLE;
		return;
	}
	if (was_connected && m->cb.on_state)
		m->cb.on_state(m->ctx, false);
	schedule_retry(m, rc == MOSQ_ERR_ERRNO ? strerror(err) : mosquitto_strerror(rc),
		       was_connected ? -1 : rc);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	struct pf_mqtt *m = obj;

	(void)mosq;
	m->unsynced = true; /* from here until release_acks nothing may be written */
	m->messages++;
	m->cb.on_message(m->ctx, msg->topic, msg->payload, (size_t)msg->payloadlen, now_us(),
			 msg->retain);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct pf_mqtt *m = obj;

	(void)mosq;
	if (m->cb.on_published)
		m->cb.on_published(m->ctx, mid);
}

/* libmosquitto says why a TLS handshake failed ("certificate verify failed") only here;
 * installed while connecting (see on_connect). */
static void on_lib_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	(void)mosq;
	(void)obj;
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		pf_log_limited(PF_LOG_WARNING, "mqtt-lib", "mqtt: %s", str);
}

static void on_misc(uv_timer_t *t)
{
	struct pf_mqtt *m = t->data;

	if (m->state == PF_MQTT_CONNECTING) {
		/* While a TLS handshake is pending mosquitto_want_write() says no, so a TCP
		 * connect that completes then is never signalled: drive it from here. */
		if (mosquitto_socket(m->mosq) >= 0)
			do_write(m);
		if (uv_now(m->loop) - m->connect_ms >= (uint64_t)m->cfg->mqtt.keepalive * 1000) {
			schedule_retry(m,
				       "no CONNACK within keepalive seconds (TLS handshake or "
				       "broker stalled)",
				       4000);
			return;
		}
	}
	if (mosquitto_socket(m->mosq) >= 0)
		mosquitto_loop_misc(m->mosq); /* keepalive PINGREQ, timeouts */
	sync_poll(m);
}

/* ---- public verbs ---- */

static int setup_auth(struct pf_mqtt *m, char *err, size_t errlen)
{
	const struct pf_config *cfg = m->cfg;
	int rc;

	if (cfg->mqtt.username[0]) {
		char *pw = NULL;
		if (cfg->mqtt.password_file[0]) {
			pw = pf_config_read_secret(cfg->mqtt.password_file, err, errlen);
			if (!pw)
				return -1;
		}
		rc = mosquitto_username_pw_set(m->mosq, cfg->mqtt.username, pw);
		if (pw) {
			explicit_bzero(pw, strlen(pw));
			free(pw);
		}
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(err, errlen, "[mqtt] username: %s", mosquitto_strerror(rc));
			return -1;
		}
	}
	if (cfg->mqtt.tls_ca_file[0]) {
		const char *cert = cfg->mqtt.tls_cert_file[0] ? cfg->mqtt.tls_cert_file : NULL;
		const char *key = cfg->mqtt.tls_key_file[0] ? cfg->mqtt.tls_key_file : NULL;
		if (!cert != !key) {
			snprintf(err, errlen,
				 "[mqtt] tls_cert_file and tls_key_file go together: "
				 "set both for a client certificate, or neither");
			return -1;
		}
		rc = mosquitto_tls_set(m->mosq, cfg->mqtt.tls_ca_file, NULL, cert, key, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(err, errlen,
				 "[mqtt] TLS setup failed: %s (check tls_ca_file '%s', "
				 "tls_cert_file and tls_key_file exist and are readable)",
				 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc),
				 cfg->mqtt.tls_ca_file);
			return -1;
		}
		mosquitto_tls_insecure_set(m->mosq, false); /* verify the host name */
		m->tls = true;
	} else if (cfg->mqtt.tls_cert_file[0] || cfg->mqtt.tls_key_file[0]) {
		snprintf(err, errlen, "[mqtt] tls_cert_file/tls_key_file need tls_ca_file too");
		return -1;
	}
	return 0;
}

int pf_mqtt_init(struct pf_mqtt *m, uv_loop_t *loop, const struct pf_config *cfg,
		 const struct pf_mqtt_callbacks *cb, void *ctx, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->loop = loop;
	m->cfg = cfg;
	m->cb = *cb;
	m->ctx = ctx;
	m->reading = true;
	/* clean_session false: the broker keeps our subscriptions and queues QoS 1 messages
	 * for client_id while we are away. */
	m->mosq = mosquitto_new(cfg->mqtt.client_id, false, m);
	if (!m->mosq) {
		snprintf(err, errlen, "cannot create MQTT client '%s': %s", cfg->mqtt.client_id,
			 strerror(errno));
		return -1;
	}
	mosquitto_threaded_set(m->mosq, true);
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_message_callback_set(m->mosq, on_message);
	mosquitto_publish_callback_set(m->mosq, on_publish);
	/* The feed keeps no more of its messages in flight than this: the library queues none. */
	mosquitto_int_option(m->mosq, MOSQ_OPT_SEND_MAXIMUM, cfg->feed.max_inflight);
	mosquitto_log_callback_set(m->mosq, on_lib_log);
	if (setup_auth(m, err, errlen) < 0) {
		mosquitto_destroy(m->mosq);
		m->mosq = NULL;
		return -1;
	}
	uv_timer_init(loop, &m->misc_timer);
	uv_timer_init(loop, &m->retry_timer);
	m->misc_timer.data = m;
	m->retry_timer.data = m;
	return 0;
}

/* The retry timer doubles as the resume kick: it is only armed while not connected, and
 * kicks only happen while connected. */
static uv_timer_t *kick_timer(struct pf_mqtt *m)
{
	return &m->retry_timer;
}

void pf_mqtt_start(struct pf_mqtt *m)
{
	uv_timer_start(&m->misc_timer, on_misc, 1000, 1000);
	begin_connect(m);
}

void pf_mqtt_set_reading(struct pf_mqtt *m, bool on)
{
	if (m->reading == on)
		return;
	m->reading = on;
	if (on && m->state == PF_MQTT_CONNECTED && m->tls)
		uv_timer_start(kick_timer(m), on_kick, 0, 0);
	sync_poll(m);
}

int pf_mqtt_publish(struct pf_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
		    bool retain, int *mid)
{
	int rc;

	if (m->state != PF_MQTT_CONNECTED)
		return -ENOTCONN;
	if (len > INT32_MAX)
		return -EINVAL;
	/* Threaded mode: this only queues the packet; do_write sends it when the gate is open. */
	rc = mosquitto_publish(m->mosq, mid, topic, (int)len, payload, qos, retain);
	if (rc == MOSQ_ERR_NOMEM)
		return -ENOMEM;
	if (rc == MOSQ_ERR_NO_CONN)
		return -ENOTCONN;
	if (rc != MOSQ_ERR_SUCCESS)
		return -EINVAL;
	if (!m->unsynced)
		do_write(m);
	sync_poll(m);
	return 0;
}

void pf_mqtt_abort(struct pf_mqtt *m)
{
	m->abort_pending = true; /* acted on once libmosquitto has returned to us */
}

void pf_mqtt_release_acks(struct pf_mqtt *m)
{
	m->unsynced = false;
	if (m->mosq && mosquitto_want_write(m->mosq))
		do_write(m);
	sync_poll(m);
}

bool pf_mqtt_connected(const struct pf_mqtt *m)
{
	return m->state == PF_MQTT_CONNECTED;
}

void pf_mqtt_stop(struct pf_mqtt *m, void (*cb)(struct pf_mqtt *m))
{
	bool connected = m->state == PF_MQTT_CONNECTED;

	if (m->state == PF_MQTT_RESOLVING)
		uv_cancel((uv_req_t *)&m->resolver);
	m->state = PF_MQTT_STOPPING;
	/* From here every handle closed is counted, so cb runs once all are gone. */
	m->stopped_cb = cb;
	m->closing = 2;
	if (connected && !m->unsynced) {
		/* DISCONNECT ends the connection politely; the broker keeps the session
		 * (clean_session false) and queues for us until we return. */
		if (mosquitto_disconnect(m->mosq) == MOSQ_ERR_SUCCESS)
			do_write(m);
	}
	close_poll(m);
	uv_close((uv_handle_t *)&m->misc_timer, on_handle_closed);
	uv_close((uv_handle_t *)&m->retry_timer, on_handle_closed);
}

void pf_mqtt_destroy(struct pf_mqtt *m)
{
	if (m->mosq)
		mosquitto_destroy(m->mosq);
	m->mosq = NULL;
}
