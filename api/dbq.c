/*
 * On-demand queries. A fixed table of entries, one per distinct question: a question asked
 * again while its answer is fresh is answered from the table; asked while it is being
 * computed, it waits for the same answer (one query for any number of requests). Workers take
 * pending entries in order, each with its own connection; a worker whose connection failed
 * answers 503 at once until its backoff has passed, so an outage does not stack requests up.
 */
#include "dbq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apidb.h"
#include "curves.h"
#include "pf_log.h"

#define DBQ_ENTRIES 256

enum entry_state { E_FREE = 0, E_PENDING, E_RUNNING, E_READY };

struct entry {
	enum entry_state state;
	struct dbq_key key;
	int64_t ready_mono_us;	/* E_READY: when it was answered; reused for query_cache after */
	int64_t ttl_us;		/* E_PENDING, E_RUNNING: 0 = the answer is not kept */
	int64_t queued_mono_us; /* E_PENDING: order of service */
	int status;
	struct api_body *body;
	struct dbq_waiter *waiters;
};

struct worker {
	struct dbq *q;
	pthread_t thread;
	PGconn *conn;
	int backoff_s;
	int64_t retry_mono_us; /* no connection attempt before this */
};

struct dbq {
	struct app *app;
	char *password;
	pthread_mutex_t lock;
	pthread_cond_t work;
	bool stop;
	struct entry entries[DBQ_ENTRIES];
	struct worker *workers;
	int n_workers;
};

static bool same_key(const struct dbq_key *a, const struct dbq_key *b)
{
	return a->kind == b->kind && strcmp(a->subject, b->subject) == 0 && a->year == b->year &&
	       strcmp(a->as_of, b->as_of) == 0 && a->hours == b->hours &&
	       a->bucket_minutes == b->bucket_minutes;
}

static void drop_answer(struct entry *e)
{
	if (e->body)
		rc__unref(&e->body->rc);
	e->body = NULL;
}

/* The entry of key, or a free one (an expired answer's, else the oldest answer's); NULL when
 * every entry is a question still open. Called with the lock held. */
static struct entry *slot_for(struct dbq *q, const struct dbq_key *key)
{
	struct entry *victim = NULL;

	for (int i = 0; i < DBQ_ENTRIES; i++) {
		struct entry *e = &q->entries[i];

		if (e->state != E_FREE && same_key(&e->key, key))
			return e;
		if (e->state == E_FREE)
			victim = victim && victim->state == E_FREE ? victim : e;
		else if (e->state == E_READY &&
			 (!victim ||
			  (victim->state == E_READY && e->ready_mono_us < victim->ready_mono_us)))
			victim = e;
	}
	if (victim && victim->state == E_READY) {
		drop_answer(victim);
		victim->state = E_FREE;
	}
	return victim;
}

int dbq__ask(struct dbq *q, const struct dbq_key *key, int ttl_s, struct dbq_waiter *w)
{
	int64_t now = app__mono_us();
	struct entry *e;
	int rc = 1;

	pthread_mutex_lock(&q->lock);
	e = slot_for(q, key);
	if (!e) {
		rc = -EBUSY;
	} else if (e->state == E_READY && now - e->ready_mono_us < (int64_t)ttl_s * 1000000) {
		w->status = e->status;
		w->body = e->body;
		if (w->body)
			rc__ref(&w->body->rc);
		rc = 0;
	} else {
		if (e->state == E_FREE || e->state == E_READY) {
			drop_answer(e);
			e->key = *key;
			e->state = E_PENDING;
			e->queued_mono_us = now;
			e->ttl_us = (int64_t)ttl_s * 1000000;
			pthread_cond_signal(&q->work);
		}
		w->next = e->waiters;
		e->waiters = w;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* The oldest pending entry, now running; NULL when there is none. Lock held. */
static struct entry *next_job(struct dbq *q)
{
	struct entry *best = NULL;

	for (int i = 0; i < DBQ_ENTRIES; i++) {
		struct entry *e = &q->entries[i];

		if (e->state == E_PENDING && (!best || e->queued_mono_us < best->queued_mono_us))
			best = e;
	}
	if (best)
		best->state = E_RUNNING;
	return best;
}

/* Hand the answer to every waiter, outside the lock (done() resumes HTTP connections). */
static void deliver(struct dbq_waiter *list, int status, struct api_body *body)
{
	while (list) {
		struct dbq_waiter *next = list->next;

		list->status = status;
		list->body = body;
		if (body)
			rc__ref(&body->rc);
		list->done(list);
		list = next;
	}
}

static bool worker_connected(struct worker *wk, const struct api_config *cfg)
{
	char why[768];

	if (wk->conn && PQstatus(wk->conn) == CONNECTION_OK)
		return true;
	PQfinish(wk->conn);
	wk->conn = NULL;
	if (app__mono_us() < wk->retry_mono_us)
		return false;
	wk->conn = apidb__connect(cfg, wk->q->password, "parkfeed-api", why, sizeof(why));
	if (wk->conn) {
		wk->backoff_s = 0;
		return true;
	}
	pf_log_limited(PF_LOG_WARNING, "dbq-connect", "queries: cannot connect to the database: %s",
		       why);
	wk->backoff_s = wk->backoff_s ? wk->backoff_s * 2 : 1;
	if (wk->backoff_s > cfg->postgres.reconnect_max)
		wk->backoff_s = cfg->postgres.reconnect_max;
	wk->retry_mono_us = app__mono_us() + (int64_t)wk->backoff_s * 1000000;
	return false;
}

/* Run one question: 200 with a body, or 503. */
static int answer(struct worker *wk, const struct dbq_key *key, struct api_body **body)
{
	struct api_settings *s = app__settings(wk->q->app);
	int status = 503;

	*body = NULL;
	/* A second try on a new connection when the first one turns out to be gone (a server
	 * restart since this worker last asked): the questions only read. */
	for (int try = 0; try < 2 && status != 200 && worker_connected(wk, &s->cfg); try++) {
		status = curves__run(wk->conn, key, body);
		if (status == 200 || PQstatus(wk->conn) == CONNECTION_OK)
			break;
		PQfinish(wk->conn);
		wk->conn = NULL;
	}
	app__settings_unref(s);
	return status;
}

static void *work(void *arg)
{
	struct worker *wk = arg;
	struct dbq *q = wk->q;

	pthread_mutex_lock(&q->lock);
	while (!q->stop) {
		struct entry *e = next_job(q);
		struct dbq_waiter *waiters;
		struct api_body *body;
		struct dbq_key key;
		int status;

		if (!e) {
			pthread_cond_wait(&q->work, &q->lock);
			continue;
		}
		key = e->key;
		pthread_mutex_unlock(&q->lock);
		status = answer(wk, &key, &body);
		pthread_mutex_lock(&q->lock);
		waiters = e->waiters;
		e->waiters = NULL;
		/* Only answers are kept; a failure is asked again by the next request. */
		if (status == 200 && e->ttl_us > 0) {
			e->state = E_READY;
			e->status = status;
			e->body = body;
			if (body)
				rc__ref(&body->rc);
			e->ready_mono_us = app__mono_us();
		} else {
			e->state = E_FREE;
		}
		pthread_mutex_unlock(&q->lock);
		deliver(waiters, status, body);
		if (body)
			rc__unref(&body->rc);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	PQfinish(wk->conn);
	return NULL;
}

int dbq__start(struct dbq **out, struct app *app, const char *password, int workers)
{
	struct dbq *q = calloc(1, sizeof(*q));
	int rc = 0;

	if (!q)
		return -ENOMEM;
	q->app = app;
	q->workers = calloc((size_t)workers, sizeof(*q->workers));
	if (!q->workers || (password && !(q->password = strdup(password)))) {
		free(q->workers);
		free(q);
		return -ENOMEM;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	for (int i = 0; i < workers; i++) {
		q->workers[i].q = q;
		rc = -pthread_create(&q->workers[i].thread, NULL, work, &q->workers[i]);
		if (rc < 0)
			break;
		q->n_workers++;
	}
	*out = q;
	if (rc < 0) {
		dbq__stop(q);
		*out = NULL;
	}
	return rc;
}

void dbq__stop(struct dbq *q)
{
	struct dbq_waiter *left = NULL;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < q->n_workers; i++)
		pthread_join(q->workers[i].thread, NULL);
	for (int i = 0; i < DBQ_ENTRIES; i++) {
		struct entry *e = &q->entries[i];

		while (e->waiters) {
			struct dbq_waiter *w = e->waiters;

			e->waiters = w->next;
			w->next = left;
			left = w;
		}
		drop_answer(e);
	}
	deliver(left, 503, NULL);
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->lock);
	if (q->password)
		explicit_bzero(q->password, strlen(q->password));
	free(q->password);
	free(q->workers);
	free(q);
}
