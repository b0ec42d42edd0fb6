/*
 * The systemd notification protocol, implemented directly: one AF_UNIX datagram of
 * KEY=VALUE lines to $NOTIFY_SOCKET. systemd lists this protocol among its stable
 * interfaces meant to be reimplemented (sd_notify(3) carries a standalone example), so
 * the daemon does not link libsystemd for a socket, a sendto and a few environment
 * variables; nothing else of libsystemd is used.
 */
#include "pf_notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pf_log.h"

#define NOTIFY_MAX 1024 /* a datagram here is a few lines; longer STATUS= text is cut */

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !s[0] || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* WATCHDOG_USEC counts for us only when WATCHDOG_PID is unset or names this process. */
static uint64_t watchdog_for_us(void)
{
	uint64_t usec, pid;
	const char *p = getenv("WATCHDOG_PID");

	if (parse_u64(getenv("WATCHDOG_USEC"), &usec) < 0 || usec == 0)
		return 0;
	if (p && (parse_u64(p, &pid) < 0 || pid != (uint64_t)getpid()))
		return 0;
	return usec;
}

int pf_notify_init(struct pf_notify *n)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t len;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if (!e || !e[0])
		return 0;
	len = strlen(e);
	/* A path or '@' + an abstract name; anything else (e.g. vsock:) is not for us. */
	if ((e[0] != '/' && e[0] != '@') || len < 2 || len >= sizeof(n->path))
		return -EAFNOSUPPORT;
	memcpy(n->path, e, len);
	if (e[0] == '@') {
		n->path[0] = '\0';
		n->path_len = (unsigned int)len;
	} else {
		n->path_len = (unsigned int)len + 1;
	}
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0)
		return -errno;
	n->watchdog_usec = watchdog_for_us();
	return 0;
}

bool pf_notify_enabled(const struct pf_notify *n)
{
	return n->fd >= 0;
}

static int send_text(struct pf_notify *n, const char *text, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	ssize_t r;

	memcpy(sa.sun_path, n->path, n->path_len);
	do
		r = sendto(n->fd, text, len, MSG_NOSIGNAL, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n->path_len));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		int rc = -errno;

		/* systemd gone or its queue full: the service goes on; say so once. */
		if (!n->failed)
			pf_warn("systemd: cannot send a notification to $NOTIFY_SOCKET: %s",
				strerror(-rc));
		n->failed = true;
		return rc;
	}
	n->failed = false;
	return 0;
}

int pf_notify_send(struct pf_notify *n, const char *fmt, ...)
{
	char buf[NOTIFY_MAX];
	va_list ap;
	int len;

	if (n->fd < 0)
		return 0;
	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0)
		return -EINVAL;
	if ((size_t)len >= sizeof(buf))
		len = (int)sizeof(buf) - 1;
	return send_text(n, buf, (size_t)len);
}

int pf_notify_reloading(struct pf_notify *n)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return pf_notify_send(n, "RELOADING=1\nMONOTONIC_USEC=%llu",
			      (unsigned long long)ts.tv_sec * 1000000ULL +
				      (unsigned long long)ts.tv_nsec / 1000ULL);
}

void pf_notify_close(struct pf_notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}
