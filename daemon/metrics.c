/*
 * Prometheus /metrics and /healthz. The loop thread renders the figures once a second into
 * its own buffer and publishes it under a mutex; libmicrohttpd's thread only copies the
 * published text, so a scrape never touches the pipeline or waits for the loop.
 *
 * Slow clients must not starve the health check: one address holds at most
 * METRICS_PER_IP connections, every answer closes its connection, and a connection that
 * has not been answered METRICS_DEADLINE_MS after it was accepted is shut down, however
 * steadily it trickles bytes (libmicrohttpd's own timeout only counts idle time).
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "pf_config.h"
#include "pf_log.h"

#define METRICS_IDLE_S 10	 /* libmicrohttpd's timeout: without a byte for this long */
#define METRICS_DEADLINE_MS 5000 /* from accept to answer, whatever the pace */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * [loop] Shut down the connections past their deadline. shutdown(), not close(): the
 * descriptor stays libmicrohttpd's, which then sees the end and closes it; and the lock
 * (taken by on_connection before a descriptor is closed) keeps a number we hold from being
 * reused meanwhile.
 */
static void expire(struct pf_metrics *m)
{
	uint64_t now = mono_ms();

	for (int i = 0; i < METRICS_CONN_LIMIT; i++) {
		struct metrics__conn *c = &m->conns[i];

		if (!c->used || c->expired || now - c->accepted_ms < METRICS_DEADLINE_MS)
			continue;
		c->expired = true;
		m->expired++;
		shutdown(c->fd, SHUT_RDWR);
		pf_log_limited(PF_LOG_WARNING, "metrics-deadline",
			       "metrics: a client sent no complete request within %d ms; "
			       "connection shut down",
			       METRICS_DEADLINE_MS);
	}
}

void pf_metrics_publish(struct pf_metrics *m, const struct pf_figures *f)
{
	char why[sizeof(m->health_why)];
	struct pf_buf tmp;
	bool healthy;

	if (!m->mhd)
		return;
	healthy = pf_health_eval(f, why, sizeof(why));
	m->render.len = 0;
	m->render.oom = false;
	pf_figures_render(&m->render, f, healthy);
	pthread_mutex_lock(&m->lock);
	expire(m);
	if (!m->render.oom) {
		tmp = m->text;
		m->text = m->render;
		m->render = tmp;
	}
	m->healthy = healthy;
	memcpy(m->health_why, why, sizeof(why));
	pthread_mutex_unlock(&m->lock);
}

/* ---- the HTTP thread ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	/* One request per connection: its deadline is the request's. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int code, const char *text)
{
	char *body = strdup(text);

	return body ? reply(c, code, "text/plain; charset=utf-8", body, strlen(body)) : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct pf_metrics *m = cls;
	char line[sizeof(m->health_why) + 2];
	char *body;
	size_t len;
	bool ok;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (strcmp(url, "/metrics") == 0) {
		pthread_mutex_lock(&m->lock);
		len = m->text.len;
		body = malloc(len ? len : 1);
		if (body && len)
			memcpy(body, m->text.p, len);
		pthread_mutex_unlock(&m->lock);
		if (!body)
			return MHD_NO;
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
	}
	if (strcmp(url, "/healthz") == 0) {
		pthread_mutex_lock(&m->lock);
		ok = m->healthy;
		snprintf(line, sizeof(line), "%s\n", m->health_why);
		pthread_mutex_unlock(&m->lock);
		return reply_text(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, line);
	}
	return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /healthz\n");
}

/* [HTTP thread] Track each connection's accept time and descriptor for expire(). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct pf_metrics *m = cls;
	const union MHD_ConnectionInfo *info;
	struct metrics__conn *c = *socket_context;

	pthread_mutex_lock(&m->lock);
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c)
			c->used = false;
		*socket_context = NULL;
	} else if ((info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD))) {
		for (int i = 0; i < METRICS_CONN_LIMIT; i++) {
			if (m->conns[i].used)
				continue;
			m->conns[i] = (struct metrics__conn){
				.used = true, .fd = info->connect_fd, .accepted_ms = mono_ms()};
			*socket_context = &m->conns[i];
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	/* a line per refused or broken connection: a client flooding the port must not flood
	 * the journal too */
	pf_log_limited(PF_LOG_WARNING, "metrics-http", "metrics: %s", buf);
}

int pf_metrics_start(struct pf_metrics *m, const char *listen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned int sslen;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	sigset_t all, old;
	int rc;

	memset(m, 0, sizeof(*m));
	snprintf(m->health_why, sizeof(m->health_why), "starting");
	rc = pthread_mutex_init(&m->lock, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "metrics: cannot create a mutex: %s", strerror(rc));
		return -rc;
	}
	if (!listen[0])
		return 0;
	if (pf_config_parse_listen(listen, &ss, &sslen) < 0) {
		snprintf(err, errlen, "[metrics] listen: \"%s\" is not ADDRESS:PORT", listen);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The HTTP thread inherits this mask: signals stay with the loop thread's handlers. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/* The logger first: libmicrohttpd warns about options handled before it. */
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
				  on_mhd_error, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_CONN_LIMIT,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)METRICS_PER_IP,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_IDLE_S,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_END);
	rc = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m->mhd) {
		snprintf(err, errlen,
			 "[metrics] listen: cannot serve HTTP on %s: %s (is the address local "
			 "and the port free?)",
			 listen, rc ? strerror(rc) : "libmicrohttpd refused to start");
		return rc ? -rc : -EADDRNOTAVAIL;
	}
	pf_notice("metrics: serving /metrics and /healthz on http://%s", listen);
	return 0;
}

bool pf_metrics_enabled(const struct pf_metrics *m)
{
	return m->mhd != NULL;
}

void pf_metrics_stop(struct pf_metrics *m)
{
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
	pf_buf_free(&m->text);
	pf_buf_free(&m->render);
	pthread_mutex_destroy(&m->lock);
}
