/* The publishing loop: one libmosquitto client driven by our own poll, paced and counted. */
#define _GNU_SOURCE /* ppoll: pacing below a millisecond */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

#define CONNACK_TIMEOUT_NS (10 * NS)
#define DRAIN_TIMEOUT_NS (60 * NS)
#define NS 1000000000LL

/* A rendered message waiting to go out (one, or a shuffle window of them). */
struct slot {
	char topic[SIM_TOPIC_MAX];
	char *buf;
	size_t cap;
	size_t len;
	enum sim_bad bad;
	bool dup; /* a repeat of a message already counted */
};

struct pub {
	const struct sim_opts *o;
	struct mosquitto *m;
	struct fast *fast; /* --burst: batched writer instead of m */
	struct sim_lot *lots;
	struct sim_lot stranger; /* the "other" lot for id_mismatch when there is only one */
	uint64_t rng;
	int64_t base_time; /* --seq: epoch seconds of k = 0 */

	int64_t generated; /* occupancy messages made, duplicates excluded */
	int next_lot;
	bool exhausted; /* --count reached: nothing more to generate */

	struct slot *slots;
	int n_slots, cap_slots;
	char *scratch; /* rendering buffer, big enough for --max-payload */
	size_t scratch_cap;

	uint64_t sent;	/* publishes libmosquitto took */
	uint64_t acked; /* on_publish: PUBACK for QoS 1, written for QoS 0 */
	int64_t good, bad, dups, statuses;
	int64_t bad_by_kind[BAD__COUNT];

	bool got_connack;
	int connack;
	bool lost;    /* connection gone: nothing more will be acknowledged */
	bool closing; /* our own disconnect: not an error */
	int64_t last_misc;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested++;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct pub *p = obj;

	p->got_connack = true;
	p->connack = rc;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	struct pub *p = obj;

	if (!p->closing)
		p->lost = true;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
	struct pub *p = obj;

	p->acked++;
}

static int conn_error(struct pub *p, int rc)
{
	if (p->closing)
		return 0;
	p->lost = true;
	fprintf(stderr,
		"parkfeed-sim: connection to %s:%d lost: %s (%" PRIu64
		" messages unacknowledged; is the broker still running?)\n",
		p->o->host, p->o->port,
		rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc),
		p->sent - p->acked);
	return -1;
}

/* Waits up to timeout_ns for the socket, then reads acks, writes what is queued, keeps alive. */
static int service(struct pub *p, int64_t timeout_ns)
{
	int fd = p->m ? mosquitto_socket(p->m) : -1;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct timespec ts = {.tv_sec = timeout_ns / NS, .tv_nsec = timeout_ns % NS};
	int64_t now;
	int rc;

	if (p->lost)
		return -1;
	if (p->fast) {
		if (fast__service(p->fast, timeout_ns) < 0)
			return conn_error(p, MOSQ_ERR_ERRNO);
		p->acked = fast__acked(p->fast);
		return 0;
	}
	if (fd < 0)
		return conn_error(p, MOSQ_ERR_NO_CONN);
	if (mosquitto_want_write(p->m))
		pfd.events |= POLLOUT;
	if (ppoll(&pfd, 1, &ts, NULL) < 0) {
		if (errno == EINTR)
			return 0;
		fprintf(stderr, "parkfeed-sim: poll: %s\n", strerror(errno));
		return -1;
	}
	if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
		/* loop_read stops at a stale EAGAIN in errno, so clear it first. */
		errno = 0;
		rc = mosquitto_loop_read(p->m, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			return conn_error(p, rc);
	}
	if (pfd.revents & POLLOUT) {
		rc = mosquitto_loop_write(p->m, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			return conn_error(p, rc);
	}
	now = mono_ns();
	if (now - p->last_misc >= NS) {
		p->last_misc = now;
		rc = mosquitto_loop_misc(p->m);
		if (rc != MOSQ_ERR_SUCCESS)
			return conn_error(p, rc);
	}
	return p->lost ? -1 : 0;
}

static int publish(struct pub *p, const char *topic, const void *payload, size_t len, bool retain)
{
	int rc;

	/* Bounded in flight: mids are 16 bits, and the broker may fall behind. */
	while (p->sent - p->acked >= (uint64_t)p->o->window)
		if (service(p, NS / 20) < 0)
			return -1;
	if (p->fast) {
		if (fast__publish(p->fast, topic, payload, len, retain) < 0)
			return conn_error(p, MOSQ_ERR_ERRNO);
		p->sent++;
		return 0;
	}
	rc = mosquitto_publish(p->m, NULL, topic, (int)len, payload, p->o->qos, retain);
	if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO)
		return conn_error(p, rc);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "parkfeed-sim: publish to %s failed: %s\n", topic,
			mosquitto_strerror(rc));
		return -1;
	}
	p->sent++;
	return 0;
}

static int read_password(const char *file, char *pw, size_t cap)
{
	FILE *f = fopen(file, "r");

	if (!f || !fgets(pw, (int)cap, f)) {
		fprintf(stderr, "parkfeed-sim: cannot read the password from %s: %s\n", file,
			f ? "file is empty" : strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	pw[strcspn(pw, "\r\n")] = '\0';
	return 0;
}

static int connect_broker(struct pub *p)
{
	const struct sim_opts *o = p->o;
	char pw[512] = "";
	int64_t until;
	int rc;

	if (o->password_file && read_password(o->password_file, pw, sizeof(pw)) < 0)
		return -1;
	if (o->burst && !o->unbatched) {
		p->fast = fast__connect(o, o->password_file ? pw : NULL);
		return p->fast ? 0 : -1;
	}
	p->m = mosquitto_new(o->client_id, true, p);
	if (!p->m) {
		fprintf(stderr, "parkfeed-sim: cannot create the MQTT client: %s\n",
			strerror(errno));
		return -1;
	}
	mosquitto_int_option(p->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	/* No library-side limit (0): --window bounds what is in flight, with exact accounting. */
	mosquitto_max_inflight_messages_set(p->m, 0);
	/* Latency runs (--stamp) want every message on the wire at once. */
	mosquitto_int_option(p->m, MOSQ_OPT_TCP_NODELAY, 1);
	if (o->username || o->password_file)
		mosquitto_username_pw_set(p->m, o->username, o->password_file ? pw : NULL);
	mosquitto_connect_callback_set(p->m, on_connect);
	mosquitto_disconnect_callback_set(p->m, on_disconnect);
	mosquitto_publish_callback_set(p->m, on_publish);

	rc = mosquitto_connect(p->m, o->host, o->port, o->keepalive);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr,
			"parkfeed-sim: cannot connect to %s:%d: %s (is a broker listening "
			"there? see --host and --port)\n",
			o->host, o->port,
			rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		return -1;
	}
	p->last_misc = mono_ns();
	until = mono_ns() + CONNACK_TIMEOUT_NS;
	while (!p->got_connack && !stop_requested && mono_ns() < until)
		if (service(p, NS / 10) < 0)
			return -1;
	if (!p->got_connack) {
		fprintf(stderr, "parkfeed-sim: no CONNACK from %s:%d within 10 s\n", o->host,
			o->port);
		return -1;
	}
	if (p->connack != 0) {
		fprintf(stderr,
			"parkfeed-sim: %s:%d refused the connection: %s (check --username, "
			"--password-file and --client-id)\n",
			o->host, o->port, mosquitto_connack_string(p->connack));
		return -1;
	}
	return 0;
}

static const enum sim_bad bad_kinds[] = {
	BAD_JSON_SYNTAX, BAD_FREE_GT_TOTAL, BAD_MISSING_TS, BAD_FUTURE_TS,
	BAD_UTF8,	 BAD_WRONG_ID,	    BAD_TOPIC,	    BAD_TOO_LARGE,
};

/* Decides the next occupancy message: lots in turn, each with its own counter k. */
static bool generate(struct pub *p, struct sim_msg *m)
{
	const struct sim_opts *o = p->o;
	struct sim_lot *lot;
	int64_t k;
	int i;

	if (o->count > 0 && p->generated >= o->count)
		return false;
	i = p->next_lot;
	p->next_lot = (i + 1) % o->lots;
	lot = &p->lots[i];
	k = lot->next_seq++;

	memset(m, 0, sizeof(*m));
	m->lot = lot;
	m->other = o->lots > 1 ? &p->lots[(i + 1) % o->lots] : &p->stranger;
	m->seq = o->seq ? k : (int64_t)(lot->key % 100000) + k;
	m->t_ms = o->seq ? (p->base_time + k) * 1000 : wall_ms();
	m->ts_form = (int)(((int64_t)i + k) % 12);
	if (o->bad_ratio > 0 && sim_unit(&p->rng) < o->bad_ratio) {
		int n_kinds = (int)(sizeof(bad_kinds) / sizeof(bad_kinds[0]));

		if (!o->max_payload)
			n_kinds--; /* too large only means something against a known limit */

		m->bad = bad_kinds[sim_next(&p->rng) % (uint64_t)n_kinds];
		m->bad_variant = (int)(sim_next(&p->rng) % 60);
	}
	lots__occupancy(lot, m->t_ms, &m->occ);
	if (m->bad == BAD_FUTURE_TS)
		m->t_ms = wall_ms() + 86400 * 1000LL + m->bad_variant * 1000LL;
	p->generated++;
	return true;
}

static int slot_store(struct pub *p, const char *topic, const char *buf, size_t len,
		      enum sim_bad bad, bool dup)
{
	struct slot *s = &p->slots[p->n_slots];

	if (s->cap < len + 1) {
		char *nb = realloc(s->buf, len + 1);
		if (!nb) {
			fprintf(stderr, "parkfeed-sim: out of memory\n");
			return -1;
		}
		s->buf = nb;
		s->cap = len + 1;
	}
	memcpy(s->buf, buf, len);
	s->len = len;
	snprintf(s->topic, sizeof(s->topic), "%s", topic);
	s->bad = bad;
	s->dup = dup;
	p->n_slots++;
	return 0;
}

/* Renders the next message (and its duplicate) into the pending slots. */
static int fill_one(struct pub *p)
{
	struct sim_msg m;
	char topic[SIM_TOPIC_MAX];
	long len;

	if (!generate(p, &m)) {
		p->exhausted = true;
		return 0;
	}
	len = payload__render(p->o, &m, topic, sizeof(topic), p->scratch, p->scratch_cap);
	if (len < 0) {
		fprintf(stderr, "parkfeed-sim: payload for %s does not fit in %zu bytes\n",
			m.lot->id, p->scratch_cap);
		return -1;
	}
	if (slot_store(p, topic, p->scratch, (size_t)len, m.bad, false) < 0)
		return -1;
	/* Only good messages repeat, so stored rows and rejected rows both stay exact. */
	if (m.bad == BAD_NONE && p->o->duplicates > 0 && sim_unit(&p->rng) < p->o->duplicates)
		return slot_store(p, topic, p->scratch, (size_t)len, BAD_NONE, true);
	return 0;
}

/* Takes one pending message: the oldest, or a random one of the window with --shuffle. */
static int emit_one(struct pub *p)
{
	const struct sim_opts *o = p->o;
	int i = o->shuffle ? (int)(sim_next(&p->rng) % (uint64_t)p->n_slots) : 0;
	struct slot s = p->slots[i];

	if (publish(p, s.topic, s.buf, s.len, false) < 0)
		return -1;
	if (s.dup)
		p->dups++;
	else if (s.bad != BAD_NONE) {
		p->bad++;
		p->bad_by_kind[s.bad]++;
	} else {
		p->good++;
	}
	/* Keep every slot's buffer owned by the array: the taken one moves to the end. */
	if (o->shuffle)
		p->slots[i] = p->slots[p->n_slots - 1];
	else
		memmove(&p->slots[i], &p->slots[i + 1], (size_t)(p->n_slots - i - 1) * sizeof(s));
	p->slots[--p->n_slots] = s;
	return 0;
}

static int publish_statuses(struct pub *p, bool online)
{
	char topic[SIM_TOPIC_MAX], payload[256];

	for (int i = 0; i < p->o->lots && !p->lost; i++) {
		const char *system, *version, *protocol;
		int n;

		if (online) {
			lots__status(&p->lots[i], &system, &version, &protocol);
			n = snprintf(payload, sizeof(payload),
				     "{\"online\":true,\"system\":\"%s\","
				     "\"version\":\"%s\",\"protocol\":\"%s\"}",
				     system, version, protocol);
		} else {
			n = snprintf(payload, sizeof(payload), "{\"online\":false}");
		}
		snprintf(topic, sizeof(topic), "%s/%s/status", p->o->prefix, p->lots[i].id);
		if (publish(p, topic, payload, (size_t)n, true) < 0)
			return -1;
		p->statuses++;
	}
	return 0;
}

/* Paces with a drift-free schedule: message n is due at t0 + n / rate on CLOCK_MONOTONIC. */
static int occupancy_loop(struct pub *p, int64_t start)
{
	const struct sim_opts *o = p->o;
	double rate = o->burst ? 0 : o->rate > 0 ? o->rate : o->lots / o->interval;
	int64_t end = o->duration > 0 ? start + (int64_t)(o->duration * NS) : INT64_MAX;
	int want = o->shuffle ? o->shuffle_window : 1;
	int64_t t0 = start;
	uint64_t issued = 0;
	unsigned since_service = 0;

	while (!stop_requested) {
		while (!p->exhausted && p->n_slots < want)
			if (fill_one(p) < 0)
				return -1;
		if (p->n_slots == 0)
			break;
		if (rate > 0) {
			int64_t now = mono_ns();
			int64_t due = t0 + (int64_t)((double)issued * NS / rate);

			if (now >= end)
				break;
			if (now < due) {
				if (service(p, due - now) < 0)
					return -1;
				continue;
			}
			/* After a stall, catch up at most one second's worth (bucket depth). */
			if (now - due > NS)
				t0 += now - due - NS;
			issued++;
		} else if ((since_service & 1023) == 0 && mono_ns() >= end) {
			break;
		}
		if (emit_one(p) < 0)
			return -1;
		if ((++since_service & 63) == 0 && service(p, 0) < 0)
			return -1;
	}
	return 0;
}

static int drain(struct pub *p)
{
	int64_t until = mono_ns() + DRAIN_TIMEOUT_NS;
	sig_atomic_t signals = stop_requested;

	while (p->acked < p->sent && !p->lost && mono_ns() < until && stop_requested == signals)
		if (service(p, NS / 10) < 0)
			break;
	if (p->acked < p->sent) {
		fprintf(stderr,
			"parkfeed-sim: %" PRIu64 " of %" PRIu64 " messages were not "
			"acknowledged by the broker\n",
			p->sent - p->acked, p->sent);
		return -1;
	}
	return 0;
}

/* The summary on stdout is what scripts parse; after a failure it goes to stderr instead. */
static void report(const struct pub *p, double secs, FILE *out)
{
	int64_t wire = p->good + p->bad + p->dups;

	fprintf(out,
		"%spublished %" PRId64 " good %" PRId64 " bad %" PRId64 " duplicates %" PRId64
		" in %.3f s (%.0f msg/s)\n",
		out == stdout ? "" : "parkfeed-sim: ", p->good + p->bad, p->good, p->bad, p->dups,
		secs, secs > 0 ? (double)wire / secs : 0.0);
	fflush(out);
	if (p->bad > 0) {
		fputs("parkfeed-sim: bad by kind:", stderr);
		for (int b = 1; b < BAD__COUNT; b++)
			if (p->bad_by_kind[b])
				fprintf(stderr, " %s=%" PRId64, payload__bad_name((enum sim_bad)b),
					p->bad_by_kind[b]);
		fputc('\n', stderr);
	}
	if (p->statuses > 0)
		fprintf(stderr, "parkfeed-sim: status messages %" PRId64 " (retained)\n",
			p->statuses);
}

static int setup(struct pub *p, const struct sim_opts *o)
{
	int cap = (o->shuffle ? o->shuffle_window : 1) + 2;
	struct sigaction sa = {.sa_handler = on_signal};

	p->o = o;
	p->rng = sim_mix(o->seed ^ 0x5eedULL);
	p->lots = lots__make(o->lots, o->seed, o->formats);
	p->slots = calloc((size_t)cap, sizeof(*p->slots));
	p->cap_slots = cap;
	p->scratch_cap = (o->max_payload > 16384 ? o->max_payload : 16384) + 4096;
	p->scratch = malloc(p->scratch_cap);
	if (!p->lots || !p->slots || !p->scratch) {
		fprintf(stderr, "parkfeed-sim: out of memory\n");
		return -1;
	}
	snprintf(p->stranger.id, sizeof(p->stranger.id), "JZ-XX-999");
	if (o->base_time_set) {
		p->base_time = o->base_time;
	} else {
		/* A day back, or further, so that no lot's last k lies ahead of now. */
		int64_t per_lot = o->count > 0 ? (o->count + o->lots - 1) / o->lots : 0;
		int64_t back = per_lot + 60 > 86400 ? per_lot + 60 : 86400;
		p->base_time = wall_ms() / 1000 - back;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void teardown(struct pub *p)
{
	if (p->fast) {
		/* Everything was acknowledged (or we failed): only DISCONNECT is left. */
		fast__close(p->fast);
	}
	if (p->m) {
		p->closing = true;
		if (!p->lost)
			mosquitto_disconnect(p->m);
		mosquitto_destroy(p->m);
	}
	for (int i = 0; i < p->cap_slots; i++)
		free(p->slots[i].buf);
	free(p->slots);
	free(p->scratch);
	free(p->lots);
}

int pub__run(const struct sim_opts *o)
{
	struct pub p = {0};
	int64_t start;
	int rc = 1;

	mosquitto_lib_init();
	if (setup(&p, o) < 0 || connect_broker(&p) < 0)
		goto out;
	if (o->status && publish_statuses(&p, true) < 0)
		goto out;
	start = mono_ns();
	if (occupancy_loop(&p, start) < 0)
		goto out;
	if (o->offline_on_exit && publish_statuses(&p, false) < 0)
		goto out;
	if (drain(&p) < 0)
		goto out;
	report(&p, (double)(mono_ns() - start) / NS, stdout);
	rc = 0;
out:
	if (rc != 0 && p.good + p.bad > 0)
		report(&p, 0, stderr);
	teardown(&p);
	mosquitto_lib_cleanup();
	return rc;
}
