/*
 * pf-ackprobe: pins the libmosquitto behaviour parkfeed's delivery guarantee relies on.
 *
 *   pf-ackprobe PORT TOPIC N gated|default   read N QoS 1 messages, then die without cleanup
 *   pf-ackprobe PORT TOPIC 0 count           reconnect with the same session, count redeliveries
 *
 * "gated" runs the library in threaded mode and never calls mosquitto_loop_write after the
 * subscription, as parkfeedd does while messages are not yet durable: the PUBACKs stay
 * queued, so the broker must redeliver (almost) everything. "default" shows why that is
 * needed: the unthreaded library writes each PUBACK before the message is handed over.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

static int received;
static int subscribed;

static void on_message(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
	received++;
}

static void on_subscribe(struct mosquitto *m, void *o, int mid, int n, const int *qos)
{
	subscribed = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One step of an external loop: read when readable, write only while allowed. */
static int step(struct mosquitto *m, bool may_write, int timeout_ms)
{
	struct pollfd pfd = {.fd = mosquitto_socket(m), .events = POLLIN};

	if (pfd.fd < 0)
		return -1;
	if (may_write && mosquitto_want_write(m))
		pfd.events |= POLLOUT;
	if (poll(&pfd, 1, timeout_ms) < 0)
		return -1;
	if ((pfd.revents & POLLOUT) && mosquitto_loop_write(m, 1) != MOSQ_ERR_SUCCESS)
		return -1;
	if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
		for (;;) {
			errno = 0;
			if (mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS)
				return -1;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
		}
	}
	mosquitto_loop_misc(m);
	return 0;
}

int main(int argc, char **argv)
{
	struct mosquitto *m;
	int port, want;
	const char *mode;
	bool gated;
	double deadline;

	if (argc != 5) {
		fprintf(stderr, "usage: pf-ackprobe PORT TOPIC N gated|default|count\n");
		return 2;
	}
	port = atoi(argv[1]);
	want = atoi(argv[3]);
	mode = argv[4];
	gated = strcmp(mode, "gated") == 0;
	mosquitto_lib_init();
	m = mosquitto_new("pf-ackprobe", false, NULL);
	if (!m)
		return 1;
	if (strcmp(mode, "default") != 0)
		mosquitto_threaded_set(m, true);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "pf-ackprobe: cannot connect to 127.0.0.1:%d\n", port);
		_exit(1);
	}
	mosquitto_subscribe(m, NULL, argv[2], 1);
	/* CONNECT and SUBSCRIBE may go out; nothing after the subscription is acknowledged
	 * while gated. */
	deadline = now_s() + 10;
	while (!subscribed && now_s() < deadline)
		if (step(m, true, 100) < 0)
			_exit(1);
	if (strcmp(mode, "count") == 0) {
		double quiet = now_s() + 2;
		while (now_s() < quiet) {
			int before = received;
			if (step(m, true, 100) < 0)
				break;
			if (received != before)
				quiet = now_s() + 2;
		}
		printf("%d\n", received);
		mosquitto_disconnect(m);
		mosquitto_loop_write(m, 1);
		mosquitto_destroy(m);
		mosquitto_lib_cleanup();
		return 0;
	}
	printf("ready\n");
	fflush(stdout);
	deadline = now_s() + 30;
	while (received < want && now_s() < deadline)
		if (step(m, !gated, 100) < 0)
			_exit(1);
	printf("%d\n", received);
	fflush(stdout);
	_exit(received == want ? 0 : 1); /* die: no DISCONNECT, no cleanup */
}
