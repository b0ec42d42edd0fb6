/*
 * pf-notify-listen SOCKET OUTFILE: stand in for systemd's notification socket in tests.
 * Binds an AF_UNIX datagram socket (a path, or '@name' for the abstract namespace) and
 * appends one line per datagram to OUTFILE: milliseconds since start, a tab, and the
 * datagram with its newlines shown as '|'. Writes "# ready" once bound; SIGTERM ends it.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sigaction act = {.sa_handler = on_term};
	char buf[4096];
	size_t len;
	long long t0 = now_ms();
	FILE *out;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: pf-notify-listen PATH|@NAME OUTFILE\n");
		return 2;
	}
	len = strlen(argv[1]);
	if (len < 2 || len >= sizeof(sa.sun_path)) {
		fprintf(stderr, "pf-notify-listen: bad socket name\n");
		return 2;
	}
	memcpy(sa.sun_path, argv[1], len);
	if (argv[1][0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	out = fopen(argv[2], "a");
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	len += offsetof(struct sockaddr_un, sun_path);
	if (!out || fd < 0 || bind(fd, (struct sockaddr *)&sa, (socklen_t)len) < 0) {
		fprintf(stderr, "pf-notify-listen: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	fprintf(out, "# ready\n");
	fflush(out);
	while (!stop) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "pf-notify-listen: recv: %s\n", strerror(errno));
			return 1;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		buf[n] = '\0';
		fprintf(out, "%lld\t%s\n", now_ms() - t0, buf);
		fflush(out);
	}
	if (argv[1][0] != '@')
		unlink(argv[1]);
	return 0;
}
