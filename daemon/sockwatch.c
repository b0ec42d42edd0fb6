/* Watching a library's socket through a duplicate descriptor (see sockwatch.h for why). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockwatch.h"

struct pf_sockwatch *pf_sockwatch_open(uv_loop_t *loop, int lib_fd, void *data)
{
	struct pf_sockwatch *w = calloc(1, sizeof(*w));
	struct stat st;
	int err;

	if (!w)
		return NULL;
	w->lib_fd = lib_fd;
	w->data = data;
	w->handle.data = w;
	w->fd = fcntl(lib_fd, F_DUPFD_CLOEXEC, 3);
	if (w->fd < 0 || fstat(w->fd, &st) != 0)
		goto fail;
	w->ino = st.st_ino;
	err = uv_poll_init_socket(loop, &w->handle, w->fd);
	if (err != 0) {
		errno = -err;
		goto fail;
	}
	return w;
fail:
	err = errno;
	if (w->fd >= 0)
		close(w->fd);
	free(w);
	errno = err;
	return NULL;
}

bool pf_sockwatch_same(const struct pf_sockwatch *w, int lib_fd, bool check_inode)
{
	struct stat st;

	if (w->lib_fd != lib_fd)
		return false;
	return !check_inode || (fstat(lib_fd, &st) == 0 && st.st_ino == w->ino);
}

int pf_sockwatch_set(struct pf_sockwatch *w, int events, uv_poll_cb cb)
{
	int rc = 0;

	if (events == w->events)
		return 0;
	if (events)
		rc = uv_poll_start(&w->handle, events, cb);
	else
		rc = uv_poll_stop(&w->handle);
	w->events = rc == 0 ? events : 0;
	return rc;
}

void pf_sockwatch_stopped(struct pf_sockwatch *w)
{
	w->events = 0;
}

static void on_closed(uv_handle_t *h)
{
	struct pf_sockwatch *w = h->data;

	if (w->closed)
		w->closed(w);
	close(w->fd);
	free(w);
}

void pf_sockwatch_close(struct pf_sockwatch *w, void (*closed)(struct pf_sockwatch *w))
{
	w->closed = closed;
	uv_poll_stop(&w->handle);
	uv_close((uv_handle_t *)&w->handle, on_closed);
}
