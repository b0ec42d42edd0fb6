/*
 * Batched MQTT 3.1.1 publisher for --burst: libmosquitto 2.0.11 makes two write(2)s per publish
 * and three read(2)s per PUBACK, which caps a load test far below what the broker takes.
 * Here PUBLISH packets are packed into one buffer per write and PUBACKs parsed in bulk.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define OUT_CAP (1 << 20)
#define OUT_FLUSH (64 << 10) /* write once this much is queued */
#define IN_CAP (64 << 10)
#define NS 1000000000LL

struct fast {
	int fd;
	int qos;
	int keepalive;
	uint16_t next_mid;
	char *out;
	size_t out_len, out_off; /* queued bytes; bytes of them already written */
	uint64_t out_msgs;	 /* PUBLISHes in the queued bytes (QoS 0 counts on write) */
	uint8_t in[IN_CAP];
	size_t in_len;
	uint64_t acked;
	int64_t last_write;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static size_t put_varint(uint8_t *p, size_t v)
{
	size_t n = 0;

	do {
		p[n] = (uint8_t)(v % 128);
		v /= 128;
		if (v)
			p[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

static size_t put_str(uint8_t *p, const char *s, size_t len)
{
	p[0] = (uint8_t)(len >> 8);
	p[1] = (uint8_t)len;
	memcpy(p + 2, s, len);
	return len + 2;
}

static int open_socket(const char *host, int port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res, *ai;
	char service[16];
	int fd = -1, rc, one = 1;

	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "parkfeed-sim: cannot resolve %s: %s (see --host)\n", host,
			gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		rc = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
		errno = rc;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr,
			"parkfeed-sim: cannot connect to %s:%d: %s (is a broker listening "
			"there? see --host and --port)\n",
			host, port, strerror(errno));
		return -1;
	}
	/* We batch ourselves; Nagle would only hold back the tail of each batch. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* CONNECT, clean session, and wait for the CONNACK (blocking: nothing else to do yet). */
static int handshake(struct fast *f, const struct sim_opts *o, const char *password)
{
	uint8_t pkt[1024], body[1000], ack[4];
	size_t n = 0, len = 0, ulen = o->username ? strlen(o->username) : 0;
	size_t plen = password ? strlen(password) : 0;
	struct timeval tv = {.tv_sec = 10};
	ssize_t got = 0;

	if (ulen > 300 || plen > 300) {
		fprintf(stderr, "parkfeed-sim: user name or password too long\n");
		return -1;
	}
	len += put_str(body + len, "MQTT", 4);
	body[len++] = 4; /* protocol level: 3.1.1 */
	body[len++] = (uint8_t)(0x02 | (o->username ? 0x80 : 0) | (password ? 0x40 : 0));
	body[len++] = (uint8_t)(o->keepalive >> 8);
	body[len++] = (uint8_t)o->keepalive;
	len += put_str(body + len, o->client_id, strlen(o->client_id));
	if (o->username)
		len += put_str(body + len, o->username, ulen);
	if (password)
		len += put_str(body + len, password, plen);
	pkt[n++] = 0x10;
	n += put_varint(pkt + n, len);
	memcpy(pkt + n, body, len);
	n += len;
	if (write(f->fd, pkt, n) != (ssize_t)n) {
		fprintf(stderr, "parkfeed-sim: sending CONNECT: %s\n", strerror(errno));
		return -1;
	}
	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < 4) {
		ssize_t r = read(f->fd, ack + got, (size_t)(4 - got));
		if (r <= 0) {
			fprintf(stderr, "parkfeed-sim: no CONNACK from %s:%d: %s\n", o->host,
				o->port, r == 0 ? "connection closed" : strerror(errno));
			return -1;
		}
		got += r;
	}
	if (ack[0] != 0x20 || ack[1] != 2) {
		fprintf(stderr,
			"parkfeed-sim: %s:%d answered CONNECT with something else than a "
			"CONNACK (is it an MQTT broker?)\n",
			o->host, o->port);
		return -1;
	}
	if (ack[3] != 0) {
		fprintf(stderr,
			"parkfeed-sim: %s:%d refused the connection: %s (check --username, "
			"--password-file and --client-id)\n",
			o->host, o->port, mosquitto_connack_string(ack[3]));
		return -1;
	}
	return 0;
}

struct fast *fast__connect(const struct sim_opts *o, const char *password)
{
	struct fast *f = calloc(1, sizeof(*f));

	if (!f || !(f->out = malloc(OUT_CAP))) {
		free(f);
		fprintf(stderr, "parkfeed-sim: out of memory\n");
		return NULL;
	}
	f->qos = o->qos;
	f->keepalive = o->keepalive;
	f->next_mid = 1;
	f->fd = open_socket(o->host, o->port);
	if (f->fd < 0 || handshake(f, o, password) < 0) {
		fast__close(f);
		return NULL;
	}
	fcntl(f->fd, F_SETFL, fcntl(f->fd, F_GETFL) | O_NONBLOCK);
	f->last_write = now_ns();
	return f;
}

static int flush_out(struct fast *f)
{
	while (f->out_off < f->out_len) {
		ssize_t w = write(f->fd, f->out + f->out_off, f->out_len - f->out_off);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		f->out_off += (size_t)w;
		f->last_write = now_ns();
	}
	if (f->qos == 0)
		f->acked += f->out_msgs;
	f->out_len = f->out_off = 0;
	f->out_msgs = 0;
	return 0;
}

/* Counts PUBACKs; everything else the broker may send (PINGRESP) is skipped by its length. */
static int parse_in(struct fast *f)
{
	size_t pos = 0;

	while (pos + 2 <= f->in_len) {
		size_t len = 0, mult = 1, i = pos + 1;

		for (;; i++) {
			if (i >= f->in_len)
				goto partial;
			len += (f->in[i] & 127) * mult;
			mult *= 128;
			if (!(f->in[i] & 128) || mult > 128 * 128 * 128)
				break;
		}
		if (len > IN_CAP / 2)
			return -1; /* nothing we subscribed to is this large */
		if (i + 1 + len > f->in_len)
			goto partial;
		if ((f->in[pos] & 0xF0) == 0x40)
			f->acked++;
		pos = i + 1 + len;
	}
partial:
	memmove(f->in, f->in + pos, f->in_len - pos);
	f->in_len -= pos;
	return 0;
}

int fast__publish(struct fast *f, const char *topic, const void *payload, size_t len, bool retain)
{
	size_t tlen = strlen(topic);
	size_t body = 2 + tlen + (f->qos ? 2 : 0) + len;
	uint8_t *p;

	while (f->out_len + body + 8 > OUT_CAP && f->out_len > 0)
		if (fast__service(f, NS / 20) < 0)
			return -1;
	if (body + 8 > OUT_CAP) {
		fprintf(stderr, "parkfeed-sim: a %zu-byte payload exceeds the burst buffer\n", len);
		return -1;
	}
	p = (uint8_t *)f->out + f->out_len;
	*p++ = (uint8_t)(0x30 | (f->qos << 1) | (retain ? 1 : 0));
	p += put_varint(p, body);
	p += put_str(p, topic, tlen);
	if (f->qos) {
		*p++ = (uint8_t)(f->next_mid >> 8);
		*p++ = (uint8_t)f->next_mid;
		f->next_mid = f->next_mid == 65535 ? 1 : f->next_mid + 1;
	}
	memcpy(p, payload, len);
	p += len;
	f->out_len = (size_t)(p - (uint8_t *)f->out);
	f->out_msgs++;
	if (f->out_len - f->out_off >= OUT_FLUSH)
		return flush_out(f);
	return 0;
}

int fast__service(struct fast *f, int64_t timeout_ns)
{
	struct pollfd pfd = {.fd = f->fd, .events = POLLIN};
	struct timespec ts = {.tv_sec = timeout_ns / NS, .tv_nsec = timeout_ns % NS};

	if (now_ns() - f->last_write > (int64_t)f->keepalive * NS / 2 &&
	    f->out_len + 2 <= OUT_CAP) {
		f->out[f->out_len++] = (char)0xC0; /* PINGREQ: quiet while waiting for acks */
		f->out[f->out_len++] = 0;
	}
	if (f->out_len > f->out_off && flush_out(f) < 0)
		return -1;
	if (f->out_len > f->out_off)
		pfd.events |= POLLOUT;
	if (ppoll(&pfd, 1, &ts, NULL) < 0)
		return errno == EINTR ? 0 : -1;
	if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
		ssize_t r = read(f->fd, f->in + f->in_len, IN_CAP - f->in_len);

		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		f->in_len += (size_t)r;
		if (parse_in(f) < 0) {
			errno = EPROTO;
			return -1;
		}
	}
	if ((pfd.revents & POLLOUT) && flush_out(f) < 0)
		return -1;
	return 0;
}

uint64_t fast__acked(const struct fast *f)
{
	return f->acked;
}

void fast__close(struct fast *f)
{
	static const char disconnect[2] = {(char)0xE0, 0};

	if (!f)
		return;
	if (f->fd >= 0) {
		if (write(f->fd, disconnect, 2) < 0) {
			/* closing anyway */
		}
		close(f->fd);
	}
	free(f->out);
	free(f);
}
