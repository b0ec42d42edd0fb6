/*
 * A libuv watcher on a socket that a library owns (libpq's, libmosquitto's). Both libraries
 * close their socket by themselves when a connection fails, before telling us; a uv_poll_t
 * on that descriptor would then act (epoll_ctl) on a number another thread may already have
 * reused for its own file. So the watcher polls a duplicate of the descriptor that only it
 * closes, after libuv is done with it.
 */
#ifndef PF_SOCKWATCH_H
#define PF_SOCKWATCH_H

#include <stdbool.h>
#include <sys/types.h>

#include <uv.h>

struct pf_sockwatch {
	uv_poll_t handle;
	int fd;	    /* our duplicate */
	int lib_fd; /* the library's descriptor when the watcher was made */
	ino_t ino;  /* the socket's inode: a new socket may get the old number */
	int events; /* watched now; 0 when stopped (libuv stops it on a socket error) */
	void (*closed)(struct pf_sockwatch *w); /* after uv_close, before it is freed */
	void *data;
};

/* Watch lib_fd (nothing yet: see pf_sockwatch_set); NULL with errno on failure. */
struct pf_sockwatch *pf_sockwatch_open(uv_loop_t *loop, int lib_fd, void *data);
/* Is lib_fd still the socket watched? With check_inode also when the number is the same (a
 * library that may replace its socket, as PQconnectPoll does). */
bool pf_sockwatch_same(const struct pf_sockwatch *w, int lib_fd, bool check_inode);
/* Watch these UV_READABLE/UV_WRITABLE events (0 stops); 0 or a libuv error. */
int pf_sockwatch_set(struct pf_sockwatch *w, int events, uv_poll_cb cb);
/* libuv reported an error on the socket and stopped the handle. */
void pf_sockwatch_stopped(struct pf_sockwatch *w);
/* Stop and close; closed(w) runs from the loop, then w is freed with our duplicate. */
void pf_sockwatch_close(struct pf_sockwatch *w, void (*closed)(struct pf_sockwatch *w));

#endif
