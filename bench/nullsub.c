/* nullsub: a QoS 1 subscriber with a persistent session that only counts, to time broker delivery.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

struct state {
	long long received, want;
	double first, last;
	bool connected, subscribed, refused;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct state *s = obj;

	(void)m;
	if (rc != 0) {
		fprintf(stderr, "nullsub: connection refused: %s\n", mosquitto_connack_string(rc));
		s->refused = true;
		return;
	}
	s->connected = true;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *qos)
{
	struct state *s = obj;

	(void)m;
	(void)mid;
	if (n < 1 || qos[0] != 1) {
		fprintf(stderr, "nullsub: subscription not granted at QoS 1\n");
		s->refused = true;
		return;
	}
	s->subscribed = true;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct state *s = obj;
	double t = now_s();

	(void)m;
	(void)msg;
	if (s->received++ == 0)
		s->first = t;
	s->last = t;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: nullsub --port P --id CLIENT_ID --topic FILTER MODE\n"
		"MODE:\n"
		"  --create      connect with a persistent session, subscribe at QoS 1, leave\n"
		"  --count N     resume the session, count N messages (acknowledged as they come),\n"
		"                print the time from the first to the last one\n"
		"  --forget      connect with a clean session once, which deletes the stored one\n"
		"Options: --host H (127.0.0.1), --timeout S (idle seconds before giving up, 30)\n");
}

/* One round of an external loop: read everything readable, write what is queued. */
static int step(struct mosquitto *m, int timeout_ms)
{
	struct pollfd pfd = {.fd = mosquitto_socket(m), .events = POLLIN};

	if (pfd.fd < 0)
		return -1;
	if (mosquitto_want_write(m))
		pfd.events |= POLLOUT;
	if (poll(&pfd, 1, timeout_ms) < 0)
		return errno == EINTR ? 0 : -1;
	if ((pfd.revents & POLLOUT) && mosquitto_loop_write(m, 1) != MOSQ_ERR_SUCCESS)
		return -1;
	if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
		for (int i = 0; i < 4096; i++) {
			errno = 0;
			if (mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS)
				return -1;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *id = NULL, *topic = NULL;
	int port = 0, mode = 0; /* 1 create, 2 count, 3 forget */
	double timeout = 30;
	struct state s = {0};
	struct mosquitto *m;
	double deadline, misc_at;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--create")) {
			mode = 1;
		} else if (!strcmp(a, "--forget")) {
			mode = 3;
		} else if (!v) {
			usage(stderr);
			return 2;
		} else if (!strcmp(a, "--host")) {
			host = v, i++;
		} else if (!strcmp(a, "--port")) {
			port = atoi(v), i++;
		} else if (!strcmp(a, "--id")) {
			id = v, i++;
		} else if (!strcmp(a, "--topic")) {
			topic = v, i++;
		} else if (!strcmp(a, "--timeout")) {
			timeout = atof(v), i++;
		} else if (!strcmp(a, "--count")) {
			mode = 2, s.want = atoll(v), i++;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!port || !id || !topic || !mode || (mode == 2 && s.want < 1)) {
		usage(stderr);
		return 2;
	}

	mosquitto_lib_init();
	m = mosquitto_new(id, mode == 3, &s);
	if (!m) {
		perror("nullsub: mosquitto_new");
		return 1;
	}
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	mosquitto_message_callback_set(m, on_message);
	/* Unlimited client-side in-flight window: the broker decides the pace. */
	mosquitto_max_inflight_messages_set(m, 0);
	if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "nullsub: cannot connect to %s:%d\n", host, port);
		return 1;
	}

	deadline = now_s() + 10;
	while (!s.connected && !s.refused && now_s() < deadline)
		if (step(m, 100) < 0)
			break;
	if (!s.connected) {
		fprintf(stderr, "nullsub: no CONNACK from %s:%d\n", host, port);
		return 1;
	}
	if (mode == 1) {
		mosquitto_subscribe(m, NULL, topic, 1);
		deadline = now_s() + 10;
		while (!s.subscribed && !s.refused && now_s() < deadline)
			if (step(m, 100) < 0)
				break;
		if (!s.subscribed) {
			fprintf(stderr, "nullsub: no SUBACK for %s\n", topic);
			rc = 1;
		}
	} else if (mode == 2) {
		long long seen = -1;
		misc_at = now_s() + 1;
		deadline = now_s() + timeout;
		while (s.received < s.want) {
			if (step(m, 50) < 0) {
				fprintf(stderr, "nullsub: connection lost\n");
				rc = 1;
				break;
			}
			double t = now_s();
			if (s.received != seen) {
				seen = s.received;
				deadline = t + timeout;
			} else if (t > deadline) {
				fprintf(stderr, "nullsub: nothing for %.0f s\n", timeout);
				rc = 1;
				break;
			}
			if (t >= misc_at) {
				mosquitto_loop_misc(m);
				misc_at = t + 1;
			}
		}
		/* Let the last PUBACKs leave before the DISCONNECT. */
		for (int i = 0; i < 100 && mosquitto_want_write(m); i++)
			step(m, 10);
		double span = s.received > 1 ? s.last - s.first : 0;
		printf("received %lld in %.3f s (%.0f msg/s)\n", s.received, span,
		       span > 0 ? (double)(s.received - 1) / span : 0.0);
	}
	mosquitto_disconnect(m);
	for (int i = 0; i < 50 && mosquitto_socket(m) >= 0; i++)
		if (step(m, 10) < 0)
			break;
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	return rc;
}
