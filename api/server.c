/*
 * libmicrohttpd in its own threads (a pool of [api] threads, epoll). Every request passes the
 * same gate before any work: method (GET, HEAD, OPTIONS), no body, target length, the client's
 * rate; then the endpoint answers and this file adds the headers every answer carries (ETag and
 * 304, Cache-Control, CORS, gzip, Content-Security-Policy for pages). A request that needs the
 * database is suspended until a dbq worker has its answer, so no HTTP thread waits on it.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "endpoints.h"
#include "httpx.h"
#include "pf_log.h"
#include "web.h"

#define LISTEN_BACKLOG 1024
#define RATE_CLIENTS 16384
#define EXPOSED_HEADERS "ETag, Link, NGSILD-Results-Count, Retry-After"

struct server {
	struct MHD_Daemon *mhd;
	struct app *app;
};

struct req {
	struct server *srv;
	struct MHD_Connection *conn;
	char *uri; /* the raw request target as sent, cut at max_url + 1 bytes */
	size_t uri_len;
	bool too_long;
	bool headers_seen; /* the first call: headers only */
	bool started;	   /* the call that answers */
	struct api_settings *settings;
	struct api_snapshot *snap;
	struct web_files *web;
	struct api_target target;
	struct answer answer;
	struct dbq_waiter waiter;
	pthread_mutex_t lock; /* suspended and done, between this thread and a dbq worker */
	bool suspended, done;
};

static void release(struct req *q)
{
	ep__clear(&q->answer);
	if (q->waiter.body)
		rc__unref(&q->waiter.body->rc);
	if (q->snap)
		rc__unref(&q->snap->rc);
	if (q->web)
		rc__unref(&q->web->rc);
	app__settings_unref(q->settings);
	pthread_mutex_destroy(&q->lock);
	free(q->uri);
	free(q);
}

/* Called by MHD with the raw target before it parses anything: what we route on. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct server *s = cls;
	struct req *q = calloc(1, sizeof(*q));
	size_t len = strlen(uri), max;

	if (!q)
		return NULL;
	q->srv = s;
	q->conn = conn;
	q->settings = app__settings(s->app);
	pthread_mutex_init(&q->lock, NULL);
	max = (size_t)q->settings->cfg.api.max_url;
	q->too_long = len > max;
	q->uri_len = len > max ? max : len;
	q->uri = strndup(uri, q->uri_len);
	if (!q->uri) {
		release(q);
		return NULL;
	}
	return q;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	if (*con_cls)
		release(*con_cls);
	*con_cls = NULL;
}

static void unref_body(void *cls)
{
	rc__unref(&((struct api_body *)cls)->rc);
}

static void add(struct MHD_Response *r, const char *name, const char *value)
{
	if (value && value[0])
		MHD_add_response_header(r, name, value);
}

static void cors_headers(struct req *q, struct MHD_Response *r, bool preflight)
{
	const char *allow = q->settings->cfg.api.cors_allow_origin;
	const char *origin = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Origin");

	if (!allow[0])
		return;
	if (strcmp(allow, "*") == 0) {
		add(r, "Access-Control-Allow-Origin", "*");
	} else {
		add(r, "Vary", "Origin");
		if (!apiconf__cors_allows(allow, origin))
			return;
		add(r, "Access-Control-Allow-Origin", origin);
	}
	add(r, "Access-Control-Expose-Headers", EXPOSED_HEADERS);
	if (preflight) {
		add(r, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
		add(r, "Access-Control-Allow-Headers", "Accept, If-None-Match, Content-Type");
		add(r, "Access-Control-Max-Age", "86400");
	}
}

static void page_policy(struct req *q, struct MHD_Response *r)
{
	const char *tiles = q->settings->cfg.tile_origin;
	char csp[768];

	/* Scripts, styles and data from this server only; map tiles from the configured
	 * provider only; nothing may frame the page. */
	snprintf(
		csp, sizeof(csp),
		"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:%s%s; "
		"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
		"form-action 'none'; frame-ancestors 'none'",
		tiles[0] ? " " : "", tiles);
	add(r, "Content-Security-Policy", csp);
	add(r, "Referrer-Policy", "strict-origin-when-cross-origin");
}

static void cache_headers(struct req *q, struct MHD_Response *r, const struct answer *a)
{
	char cc[64];

	if (a->cache == CACHE_DATA)
		snprintf(cc, sizeof(cc), "public, max-age=%d", q->settings->cfg.api.cache_max_age);
	add(r, "Cache-Control",
	    a->cache == CACHE_DATA	   ? cc
	    : a->cache == CACHE_REVALIDATE ? "no-cache"
					   : "no-store");
}

/* Send a (taken over by the response: its body reference goes with it). */
static enum MHD_Result send_answer(struct req *q, struct answer *a)
{
	const char *inm = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "If-None-Match");
	const char *ae = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Accept-Encoding");
	struct api_body *b = a->body;
	bool gz;

	if (b && http__accepts_gzip(ae))
		http__body_gzip_own(b);
	gz = b && b->gz && http__accepts_gzip(ae);
	char etag[28], num[32];
	struct MHD_Response *r;
	enum MHD_Result ret;
	int status = a->status;

	if (b)
		snprintf(etag, sizeof(etag), "%s", b->etag);
	if (gz)
		http__etag_gz(b->etag, etag);
	if (status == 200 && b && http__etag_match(inm, etag)) {
		status = MHD_HTTP_NOT_MODIFIED;
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else if (b) {
		r = MHD_create_response_from_buffer_with_free_callback_cls(
			gz ? b->gz_len : b->len, gz ? b->gz : b->data, unref_body, b);
		if (r)
			a->body = NULL; /* the response holds the reference now */
	} else {
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	}
	if (!r)
		return MHD_NO;
	add(r, "X-Content-Type-Options", "nosniff");
	cors_headers(q, r, false);
	cache_headers(q, r, a);
	if (b && status != MHD_HTTP_NOT_MODIFIED)
		add(r, "Content-Type", a->type);
	if (b && (status == 200 || status == MHD_HTTP_NOT_MODIFIED))
		add(r, "ETag", etag);
	/* Any body may be sent compressed to another client: caches must know. */
	if (b)
		add(r, "Vary", a->vary_accept ? "Accept-Encoding, Accept" : "Accept-Encoding");
	if (gz && status != MHD_HTTP_NOT_MODIFIED)
		add(r, "Content-Encoding", "gzip");
	if (a->page && status == 200)
		page_policy(q, r);
	add(r, "Link", a->link);
	if (a->results_count >= 0) {
		snprintf(num, sizeof(num), "%lld", a->results_count);
		add(r, "NGSILD-Results-Count", num);
	}
	if (a->retry_after > 0) {
		snprintf(num, sizeof(num), "%d", a->retry_after);
		add(r, "Retry-After", num);
	}
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		add(r, "Allow", "GET, HEAD, OPTIONS");
	ret = MHD_queue_response(q->conn, (unsigned int)status, r);
	MHD_destroy_response(r);
	atomic_fetch_add_explicit(&q->srv->app->requests, 1, memory_order_relaxed);
	return ret;
}

static enum MHD_Result refuse(struct req *q, int status, const char *detail, int retry_after)
{
	enum MHD_Result ret;

	ep__clear(&q->answer);
	memset(&q->answer, 0, sizeof(q->answer));
	q->answer.results_count = -1;
	ep__problem(&q->answer, status, false, detail);
	q->answer.retry_after = retry_after;
	ret = send_answer(q, &q->answer);
	ep__clear(&q->answer);
	return ret;
}

static void peer_address(struct MHD_Connection *c, unsigned char out[16])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	memset(out, 0, 16);
	if (sa && sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* 0 when the client may go on, else the seconds it should wait. */
static int rate_check(struct req *q)
{
	const struct api_config *c = &q->settings->cfg;
	unsigned char peer[16], key[16];
	char who[64];
	int wait;

	/* Load balancers probe /healthz often, from one address: never limited. */
	if (c->api.rate_limit <= 0 || strncmp(q->uri, "/healthz", 8) == 0)
		return 0;
	peer_address(q->conn, peer);
	http__client(peer, MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-Forwarded-For"),
		     &c->proxies, key, who, sizeof(who));
	pthread_mutex_lock(&q->srv->app->rate_lock);
	wait = rate__take(q->srv->app->rate, key, c->api.rate_limit, c->api.rate_burst,
			  app__mono_us());
	pthread_mutex_unlock(&q->srv->app->rate_lock);
	if (wait)
		pf_log_limited(PF_LOG_NOTICE, "rate-limit",
			       "client %s is over %d requests/s (burst %d): answering 429", who,
			       c->api.rate_limit, c->api.rate_burst);
	return wait;
}

/* A dbq worker has the answer: let MHD call us again (once we are suspended). */
static void on_db_answer(struct dbq_waiter *w)
{
	struct req *q = (struct req *)((char *)w - offsetof(struct req, waiter));
	struct MHD_Connection *conn = q->conn;
	bool suspended;

	pthread_mutex_lock(&q->lock);
	q->done = true;
	suspended = q->suspended;
	pthread_mutex_unlock(&q->lock);
	/* Not under q->lock: once resumed, the request may be answered and freed at once. A
	 * suspended request lives until this call. */
	if (suspended)
		MHD_resume_connection(conn);
}

static enum MHD_Result answer_request(struct req *q)
{
	struct ep_request er = {
		.app = q->srv->app,
		.settings = q->settings,
		.accept = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Accept"),
		.waiter = &q->waiter,
	};
	struct rc *web = rc__get(&q->srv->app->web);

	q->snap = snap__get(&q->srv->app->snapshots);
	q->web = web ? rc__of(web, struct web_files, rc) : NULL;
	er.snap = q->snap;
	er.web = q->web;
	q->waiter.done = on_db_answer;
	ep__answer(&er, &q->target, &q->answer);
	if (q->answer.pending) {
		pthread_mutex_lock(&q->lock);
		if (!q->done) {
			q->suspended = true;
			MHD_suspend_connection(q->conn);
			pthread_mutex_unlock(&q->lock);
			return MHD_YES;
		}
		pthread_mutex_unlock(&q->lock);
		ep__finish_pending(&er, &q->answer);
	}
	return send_answer(q, &q->answer);
}

static bool has_body(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");

	return te || (cl && strcmp(cl, "0") != 0);
}

static enum MHD_Result preflight(struct req *q)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	add(r, "Allow", "GET, HEAD, OPTIONS");
	cors_headers(q, r, true);
	ret = MHD_queue_response(q->conn, MHD_HTTP_NO_CONTENT, r);
	MHD_destroy_response(r);
	return ret;
}

static bool has_body(struct MHD_Connection *c);

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct req *q = *con_cls;
	char why[256];
	int wait;

	(void)cls, (void)url, (void)version, (void)upload;
	if (!q)
		return MHD_NO;
	if (!q->headers_seen) {
		/* Answering before the request is complete costs the connection; only a request
		 * with a body is refused that early (its body is not read). */
		q->headers_seen = true;
		if (has_body(conn))
			return refuse(q, 413, "requests carry no body here", 0);
		return MHD_YES;
	}
	if (q->started && q->answer.pending) {
		struct ep_request er = {.waiter = &q->waiter};

		ep__finish_pending(&er, &q->answer);
		return send_answer(q, &q->answer);
	}
	if (q->started) {
		*upload_size = 0; /* a body after our answer: discarded */
		return MHD_YES;
	}
	q->started = true;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	    strcmp(method, "OPTIONS") != 0) {
		snprintf(why, sizeof(why),
			 "%.16s is not allowed: this API is read-only (GET, HEAD)", method);
		return refuse(q, 405, why, 0);
	}
	if (q->too_long) {
		snprintf(why, sizeof(why), "the request target is longer than %d bytes",
			 q->settings->cfg.api.max_url);
		return refuse(q, 414, why, 0);
	}
	if ((wait = rate_check(q)) > 0) {
		snprintf(why, sizeof(why),
			 "more than %d requests per second from your address; retry after %d s",
			 q->settings->cfg.api.rate_limit, wait);
		return refuse(q, 429, why, wait);
	}
	if (query__route(q->uri, q->uri_len, &q->target, why, sizeof(why)) < 0)
		return refuse(q, 400, why, 0);
	if (strcmp(method, "OPTIONS") == 0)
		return preflight(q);
	return answer_request(q);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	pf_log_limited(PF_LOG_WARNING, "http", "http: %s", buf);
}

int server__start(struct server **out, struct app *app, const struct api_config *cfg, char *err,
		  size_t errlen)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	unsigned int sslen;
	sigset_t all, old;
	int rc;

	if (!s)
		return -ENOMEM;
	s->app = app;
	if (pf_config_parse_listen(cfg->api.listen, &ss, &sslen) < 0) {
		snprintf(err, errlen, "[api] listen: \"%s\" is not ADDRESS:PORT", cfg->api.listen);
		free(s);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The HTTP threads inherit this mask: signals stay with the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	s->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned int)cfg->api.threads, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)cfg->api.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)cfg->api.per_ip_connections, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)cfg->api.connection_timeout, MHD_OPTION_LISTEN_BACKLOG_SIZE,
		(unsigned int)LISTEN_BACKLOG, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	rc = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!s->mhd) {
		snprintf(err, errlen,
			 "[api] listen: cannot serve HTTP on %s: %s (is the address local and the "
			 "port free?)",
			 cfg->api.listen, rc ? strerror(rc) : "libmicrohttpd refused to start");
		free(s);
		return rc ? -rc : -EADDRNOTAVAIL;
	}
	*out = s;
	return 0;
}

void server__quiesce(struct server *s)
{
	MHD_socket fd;

	if (!s || !s->mhd)
		return;
	/* MHD hands the listening socket back: closing it is ours to do. */
	fd = MHD_quiesce_daemon(s->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void server__stop(struct server *s)
{
	if (!s)
		return;
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	free(s);
}
