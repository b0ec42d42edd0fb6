/* The systemd notification protocol (sd_notify(3)): readiness, status, watchdog, reload. */
#ifndef PF_NOTIFY_H
#define PF_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct pf_notify {
	int fd;			/* AF_UNIX datagram socket, -1 when $NOTIFY_SOCKET is unset */
	char path[108];		/* sun_path as sent; a leading '\0' for the abstract namespace */
	unsigned int path_len;	/* bytes of path that count (abstract names are not terminated) */
	uint64_t watchdog_usec; /* WATCHDOG_USEC meant for this process, 0 = no watchdog */
	bool failed;		/* a send failed: logged once */
};

/*
 * Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID. Without NOTIFY_SOCKET every send
 * is a no-op returning 0. Returns 0, or a negative errno for a socket path that cannot be
 * used (the caller logs it and goes on without notifications).
 */
__attribute__((warn_unused_result)) int pf_notify_init(struct pf_notify *n);
bool pf_notify_enabled(const struct pf_notify *n);
/* One datagram of KEY=VALUE lines ("READY=1\nSTATUS=..."). Returns 0 or a negative errno. */
int pf_notify_send(struct pf_notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC), as systemd wants for a reload. */
int pf_notify_reloading(struct pf_notify *n);
void pf_notify_close(struct pf_notify *n);

#endif
