/*
 * A fake libpq for the writer's tests: the calls daemon/db.c makes, over a real TCP
 * connection on loopback (so that libuv watches a real socket), answered by an in-memory
 * "server" that keeps the ingested keys as a set, commits per pipeline Sync, and fails on
 * command: the n-th send, sync, flush or connect, or the connection dropped after the n-th
 * result (closed, or reset so that the socket reports an error).
 *
 * Only what db.c uses is here; the test links this file instead of libpq.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "fake_pq.h"
#include "pf_version.h"

struct fake_server fake;

/* ---- results ---- */

struct pg_result {
	ExecStatusType status;
	int ntuples, nfields;
	char values[3][24];
	char sqlstate[6];
	char message[128];
};

enum item_kind { IT_QUERY, IT_PREPARE, IT_SYNC, IT_PARAMS };

/* What the client sent: one query, prepare or sync, with a copy of its parameters. */
struct item {
	enum item_kind kind;
	char name[32];
	char *params[9];
	int nparams;
	struct item *next;
};

/* What the client will read: a result, or NULL (end of one query's results). */
struct answer {
	PGresult *res; /* NULL: the end-of-query marker */
	struct answer *next;
};

struct pg_conn {
	int fd;	  /* the client's end */
	int peer; /* the server's end */
	bool bad; /* CONNECTION_BAD */
	char err[128];
	struct item *out, **out_tail;	  /* sent, not yet flushed */
	struct item *inbox, **inbox_tail; /* flushed, not yet processed */
	struct answer *ans, **ans_tail;	  /* processed, not yet read */
	bool signalled;			  /* a byte waits on fd */
	int serial;			  /* 1 for the first connection made */
	bool dying;			  /* dropped: the server's last words, then the end */
	bool last_words_read;		  /* the first read after the drop got them */
	struct pg_conn *next_conn;
};

static struct pg_conn *conns; /* open connections, for fake_server_tick */

static PGresult *mkres(ExecStatusType st)
{
	PGresult *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->status = st;
	return r;
}

static void signal_client(PGconn *c)
{
	if (c->signalled || c->peer < 0)
		return;
	if (send(c->peer, "r", 1, MSG_NOSIGNAL) == 1)
		c->signalled = true;
}

static void answer(PGconn *c, PGresult *r)
{
	struct answer *a = calloc(1, sizeof(*a));

	if (!a)
		abort();
	a->res = r;
	*c->ans_tail = a;
	c->ans_tail = &a->next;
}

static void reset_peer(PGconn *c);

static void free_item(struct item *it)
{
	for (int i = 0; i < it->nparams; i++)
		free(it->params[i]);
	free(it);
}

static void break_conn(PGconn *c, const char *why)
{
	c->bad = true;
	snprintf(c->err, sizeof(c->err), "fake: %s\n", why);
}

/* ---- the server ---- */

/* Parse an array literal of plain elements ({a,"b",NULL}) into at most max strings. */
static int split_array(const char *lit, char out[][80], int max)
{
	int n = 0;
	const char *p = lit;

	if (*p++ != '{')
		return 0;
	while (*p && *p != '}' && n < max) {
		size_t k = 0;

		if (*p == '"')
			p++;
		while (*p && *p != ',' && *p != '}' && *p != '"' && k < 79)
			out[n][k++] = *p++;
		out[n][k] = '\0';
		if (*p == '"')
			p++;
		n++;
		if (*p == ',')
			p++;
	}
	return n;
}

static bool in_set(const char *key)
{
	for (int i = 0; i < fake.n_keys; i++)
		if (strcmp(fake.keys[i], key) == 0)
			return true;
	return false;
}

/* Run one ingest call: the keys it would insert go to pending (committed at the Sync). */
static PGresult *run_query(struct item *it, char pending[][80], int *npending, bool *failed)
{
	static char lots[FAKE_MAX_KEYS][80], obs[FAKE_MAX_KEYS][80];
	PGresult *r;
	int n, m, fresh = 0;

	if (strcmp(it->name, "pf_freshness") == 0) {
		r = mkres(PGRES_TUPLES_OK);
		r->ntuples = 1;
		r->nfields = 3;
		strcpy(r->values[0], "1");
		strcpy(r->values[1], "0");
		strcpy(r->values[2], "0");
		return r;
	}
	if (strcmp(it->name, "pf_occupancy") != 0 || it->nparams < 2) {
		r = mkres(PGRES_TUPLES_OK); /* status and rejects: nothing to keep */
		r->ntuples = 1;
		r->nfields = 1;
		strcpy(r->values[0], "0");
		return r;
	}
	n = split_array(it->params[0], lots, FAKE_MAX_KEYS);
	m = split_array(it->params[1], obs, FAKE_MAX_KEYS);
	for (int i = 0; i < n && i < m; i++) {
		if (strncmp(lots[i], "POISON", 6) == 0) {
			r = mkres(PGRES_FATAL_ERROR);
			strcpy(r->sqlstate, "22003");
			strcpy(r->message, "fake: value out of range");
			*failed = true;
			return r;
		}
	}
	if (fake.transient_left > 0) {
		fake.transient_left--;
		r = mkres(PGRES_FATAL_ERROR);
		strcpy(r->sqlstate, "42501");
		strcpy(r->message, "fake: permission denied");
		*failed = true;
		return r;
	}
	for (int i = 0; i < n && i < m && *npending < FAKE_MAX_KEYS; i++) {
		snprintf(pending[*npending], 80, "%s@%s", lots[i], obs[i]);
		if (!in_set(pending[*npending]))
			fresh++;
		(*npending)++;
	}
	r = mkres(PGRES_TUPLES_OK);
	r->ntuples = 1;
	r->nfields = 1;
	snprintf(r->values[0], sizeof(r->values[0]), "%d", fresh);
	return r;
}

/* Process the inbox up to and including its first Sync: one transaction. */
static bool process_one(PGconn *c)
{
	static char pending[FAKE_MAX_KEYS][80];
	int npending = 0;
	bool failed = false, any = false;

	while (c->inbox) {
		struct item *it = c->inbox;

		c->inbox = it->next;
		if (!c->inbox)
			c->inbox_tail = &c->inbox;
		any = true;
		if (it->kind == IT_SYNC) {
			if (!failed)
				for (int i = 0; i < npending; i++)
					if (!in_set(pending[i]) && fake.n_keys < FAKE_MAX_KEYS)
						memcpy(fake.keys[fake.n_keys++], pending[i], 80);
			if (!failed)
				fake.commits++;
			answer(c, mkres(PGRES_PIPELINE_SYNC));
			free_item(it);
			break;
		}
		if (failed) {
			answer(c, mkres(PGRES_PIPELINE_ABORTED));
		} else if (it->kind == IT_PREPARE) {
			answer(c, mkres(PGRES_COMMAND_OK));
		} else if (it->kind == IT_PARAMS) {
			PGresult *r = mkres(PGRES_TUPLES_OK);

			r->ntuples = 1;
			r->nfields = 1;
			if (strcmp(it->name, "schema_version") == 0)
				snprintf(r->values[0], sizeof(r->values[0]), "%d",
					 fake.schema_version ? fake.schema_version
							     : PF_SCHEMA_VERSION);
			answer(c, r);
		} else {
			answer(c, run_query(it, pending, &npending, &failed));
		}
		answer(c, NULL);
		free_item(it);
	}
	if (any)
		signal_client(c);
	return any;
}

static bool has_query(const PGconn *c)
{
	for (const struct item *it = c->inbox; it; it = it->next)
		if (it->kind == IT_QUERY)
			return true;
	return false;
}

void fake_server_tick(void)
{
	for (PGconn *c = conns; c; c = c->next_conn)
		if (!c->bad && !(c->serial <= fake.hang_conns && has_query(c)))
			process_one(c);
}

/* ---- connection ---- */

static int tcp_pair(int *client, int *server)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		abort();
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (*client < 0 || connect(*client, (struct sockaddr *)&a, sizeof(a)) < 0)
		abort();
	*server = accept(l, NULL, NULL);
	if (*server < 0)
		abort();
	close(l);
	setsockopt(*client, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
	fcntl(*client, F_SETFL, O_NONBLOCK);
	return 0;
}

PGconn *PQconnectStartParams(const char *const *keywords, const char *const *values,
			     int expand_dbname)
{
	PGconn *c = calloc(1, sizeof(*c));

	(void)keywords;
	(void)values;
	(void)expand_dbname;
	if (!c)
		return NULL;
	c->out_tail = &c->out;
	c->inbox_tail = &c->inbox;
	c->ans_tail = &c->ans;
	c->fd = c->peer = -1;
	c->serial = ++fake.connects;
	if (fake.fail_connect_left > 0) {
		fake.fail_connect_left--;
		break_conn(c, "connection refused");
		return c;
	}
	tcp_pair(&c->fd, &c->peer);
	c->next_conn = conns;
	conns = c;
	return c;
}

PostgresPollingStatusType PQconnectPoll(PGconn *c)
{
	return c->bad ? PGRES_POLLING_FAILED : PGRES_POLLING_OK;
}

ConnStatusType PQstatus(const PGconn *c)
{
	return c->bad ? CONNECTION_BAD : CONNECTION_OK;
}

char *PQerrorMessage(const PGconn *c)
{
	return (char *)(c->bad ? c->err : "");
}

int PQsocket(const PGconn *c)
{
	return c->fd;
}

int PQserverVersion(const PGconn *c)
{
	(void)c;
	return 150000;
}

PQnoticeReceiver PQsetNoticeReceiver(PGconn *c, PQnoticeReceiver proc, void *arg)
{
	(void)c;
	(void)arg;
	return proc;
}

int PQsetnonblocking(PGconn *c, int arg)
{
	(void)arg;
	return c->bad ? -1 : 0;
}

int PQenterPipelineMode(PGconn *c)
{
	return c->bad ? 0 : 1;
}

static int queue(PGconn *c, enum item_kind kind, const char *name, int n, const char *const *params)
{
	struct item *it;

	if (c->bad)
		return 0;
	it = calloc(1, sizeof(*it));
	if (!it)
		abort();
	it->kind = kind;
	snprintf(it->name, sizeof(it->name), "%s", name ? name : "");
	for (int i = 0; i < n && i < 9; i++)
		it->params[it->nparams++] = strdup(params && params[i] ? params[i] : "");
	*c->out_tail = it;
	c->out_tail = &it->next;
	return 1;
}

int PQsendQueryParams(PGconn *c, const char *command, int nParams, const Oid *paramTypes,
		      const char *const *paramValues, const int *paramLengths,
		      const int *paramFormats, int resultFormat)
{
	(void)paramTypes;
	(void)paramLengths;
	(void)paramFormats;
	(void)resultFormat;
	return queue(c, IT_PARAMS, strstr(command, "schema_version") ? "schema_version" : "",
		     nParams, paramValues);
}

int PQsendPrepare(PGconn *c, const char *stmtName, const char *query, int nParams,
		  const Oid *paramTypes)
{
	(void)query;
	(void)nParams;
	(void)paramTypes;
	return queue(c, IT_PREPARE, stmtName, 0, NULL);
}

int PQsendQueryPrepared(PGconn *c, const char *stmtName, int nParams,
			const char *const *paramValues, const int *paramLengths,
			const int *paramFormats, int resultFormat)
{
	(void)paramLengths;
	(void)paramFormats;
	(void)resultFormat;
	if (!c->bad && ++fake.sends == fake.fail_send_at) {
		fake.failed_with_inflight = fake.inflight_probe ? fake.inflight_probe() : -1;
		break_conn(c, "send failed");
	}
	return queue(c, IT_QUERY, stmtName, nParams, paramValues);
}

int PQpipelineSync(PGconn *c)
{
	if (!c->bad && ++fake.syncs == fake.fail_sync_at) {
		fake.failed_with_inflight = fake.inflight_probe ? fake.inflight_probe() : -1;
		break_conn(c, "sync failed");
	}
	return queue(c, IT_SYNC, "", 0, NULL);
}

int PQflush(PGconn *c)
{
	if (c->bad)
		return -1;
	if (c->dying)
		reset_peer(c); /* the write goes out; the closed server answers with a reset */
	if (++fake.flushes == fake.fail_flush_at) {
		fake.failed_with_inflight = fake.inflight_probe ? fake.inflight_probe() : -1;
		break_conn(c, "flush failed");
		return -1;
	}
	if (c->out) {
		*c->inbox_tail = c->out;
		c->inbox_tail = c->out_tail;
		c->out = NULL;
		c->out_tail = &c->out;
	}
	return 0;
}

/*
 * The connection goes away after a result, the way a terminated backend goes: the server's
 * last words arrive and the server ends its side (FIN). libpq reads the last words without
 * complaint and only a later read finds the end. A write meanwhile still succeeds locally,
 * and the server answers it with a reset, which the socket reports as an error (libuv then
 * stops watching it). drop_reset: the reset comes at once, without waiting for a write.
 * What the client had not read yet is lost with the connection.
 */
static void reset_peer(PGconn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (c->peer < 0)
		return;
	setsockopt(c->peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->peer);
	c->peer = -1;
}

static void drop(PGconn *c)
{
	for (struct answer *a = c->ans, *n; a; a = n) {
		n = a->next;
		free(a->res);
		free(a);
	}
	c->ans = NULL;
	c->ans_tail = &c->ans;
	c->dying = true;
	if (send(c->peer, "x", 1, MSG_NOSIGNAL) != 1) /* the server's last words */
		abort();
	shutdown(c->peer, SHUT_WR);
	if (fake.drop_reset)
		reset_peer(c);
}

int PQconsumeInput(PGconn *c)
{
	char buf[64];

	if (c->bad)
		return 0;
	while (read(c->fd, buf, sizeof(buf)) > 0)
		;
	c->signalled = false;
	if (c->dying && !c->last_words_read) {
		c->last_words_read = true;
		return 1;
	}
	if (c->dying) {
		break_conn(c, c->peer < 0 ? "connection reset by peer"
					  : "server closed the connection unexpectedly");
		return 0;
	}
	return 1;
}

int PQisBusy(PGconn *c)
{
	return !c->bad && !c->ans;
}

PGresult *PQgetResult(PGconn *c)
{
	struct answer *a = c->ans;
	PGresult *r;

	if (c->bad || !a)
		return NULL;
	c->ans = a->next;
	if (!c->ans)
		c->ans_tail = &c->ans;
	r = a->res;
	free(a);
	if (r && ++fake.results == fake.drop_after_result) {
		fake.failed_with_inflight = fake.inflight_probe ? fake.inflight_probe() : -1;
		drop(c);
	}
	return r;
}

ExecStatusType PQresultStatus(const PGresult *r)
{
	return r ? r->status : PGRES_FATAL_ERROR;
}

char *PQresultErrorMessage(const PGresult *r)
{
	return (char *)(r ? r->message : "");
}

char *PQresultErrorField(const PGresult *r, int fieldcode)
{
	if (!r || r->status != PGRES_FATAL_ERROR)
		return NULL;
	switch (fieldcode) {
	case PG_DIAG_SQLSTATE:
		return (char *)r->sqlstate;
	case PG_DIAG_MESSAGE_PRIMARY:
		return (char *)r->message;
	case PG_DIAG_SEVERITY_NONLOCALIZED:
		return (char *)"ERROR";
	default:
		return NULL;
	}
}

int PQntuples(const PGresult *r)
{
	return r->ntuples;
}

int PQnfields(const PGresult *r)
{
	return r->nfields;
}

char *PQgetvalue(const PGresult *r, int tup, int field)
{
	(void)tup;
	return (char *)r->values[field < 3 ? field : 0];
}

int PQgetisnull(const PGresult *r, int tup, int field)
{
	(void)r;
	(void)tup;
	(void)field;
	return 0;
}

void PQclear(PGresult *r)
{
	free(r);
}

void PQfinish(PGconn *c)
{
	for (PGconn **pp = &conns; *pp; pp = &(*pp)->next_conn)
		if (*pp == c) {
			*pp = c->next_conn;
			break;
		}
	for (struct item *it = c->out, *n; it; it = n) {
		n = it->next;
		free_item(it);
	}
	for (struct item *it = c->inbox, *n; it; it = n) {
		n = it->next;
		free_item(it);
	}
	for (struct answer *a = c->ans, *n; a; a = n) {
		n = a->next;
		free(a->res);
		free(a);
	}
	if (c->fd >= 0)
		close(c->fd);
	if (c->peer >= 0)
		close(c->peer);
	free(c);
}

void fake_server_reset(void)
{
	memset(&fake, 0, sizeof(fake));
}
