/* broker sync: the registry's lots and the daemons, made into dynamic-security clients. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_broker.h"
#include "pf_dynsec.h"

/*
 * mosquitto 2.0's plugin rewrites its whole JSON file after every changing command, on the
 * broker's only thread: with thousands of clients one command costs tens to hundreds of
 * milliseconds during which the broker serves nobody. So the first message carries one
 * command, and each next one as many as the last one's cost per command says fit in half a
 * second (at most twice as many as before: the cost grows as the file does, and a loaded
 * machine is noisy); all under the 64 KiB message_size_limit of the shipped broker
 * configuration.
 */
#define BATCH_MAX_BYTES 60000
#define BATCH_TARGET_MS 500
#define BATCH_MAX 1000
#define PROGRESS_MS 10000

struct sync_stats {
	size_t commands, messages, failures;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The registry: one row per registered lot, enabled unless retired. Holds a lock so that two
 * syncs never interleave their commands. */
static PGresult *read_registry(PGconn *conn)
{
	PGresult *res = ctl__exec(
		conn, "broker sync: locking",
		"SELECT pg_try_advisory_lock(hashtext('parkfeedctl broker sync'))", 0, NULL);
	bool locked = res && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	if (!res)
		return NULL;
	if (!locked) {
		ctl__err("broker sync: another broker sync is running on this database; try again "
			 "when it has finished");
		return NULL;
	}
	res = PQexec(conn, "SELECT lot_id, enabled FROM parking.broker_accounts ORDER BY lot_id");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (code && strcmp(code, "42P01") == 0)
			ctl__err("broker sync: the database has no parking.broker_accounts: run "
				 "parkfeedctl migrate");
		else
			ctl__err_result("broker sync: reading the registry", res);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* The plugin's clients and roles, every one, with their details. */
static int read_broker(struct ctl_dynsec *d, json_t **clients, json_t **roles)
{
	json_t *cmds =
		json_pack("[{s:s, s:b, s:i}, {s:s, s:b, s:i}]", "command", "listClients", "verbose",
			  1, "count", -1, "command", "listRoles", "verbose", 1, "count", -1);
	json_t *resp = NULL;
	char err[512];
	int rc = -1;

	if (!cmds || ctl__dynsec_call(d, cmds, &resp, err, sizeof(err)) < 0) {
		ctl__err("broker sync: reading the broker's accounts: %s",
			 cmds ? err : "out of memory");
		goto out;
	}
	for (size_t i = 0; i < 2; i++) {
		const char *e =
			json_string_value(json_object_get(json_array_get(resp, i), "error"));

		if (e) {
			ctl__err("broker sync: reading the broker's accounts: %s", e);
			goto out;
		}
	}
	*clients = json_incref(
		json_object_get(json_object_get(json_array_get(resp, 0), "data"), "clients"));
	*roles = json_incref(
		json_object_get(json_object_get(json_array_get(resp, 1), "data"), "roles"));
	rc = *clients && *roles ? 0 : -1;
	if (rc < 0)
		ctl__err("broker sync: the dynamic-security plugin answered without a client or "
			 "role list");
out:
	json_decref(cmds);
	json_decref(resp);
	return rc;
}

/* What the registry and the options want: lots and lot_enabled are the caller's to free; the
 * strings point into res and b. */
static int want_from(struct pf_dynsec_want *w, const PGresult *res, const struct ctl_broker *b,
		     const char ***lots, bool **enabled)
{
	size_t n = (size_t)PQntuples(res);

	*lots = calloc(n + 1, sizeof(**lots));
	*enabled = calloc(n + 1, sizeof(**enabled));
	if (!*lots || !*enabled)
		return -1;
	for (size_t i = 0; i < n; i++) {
		(*lots)[i] = PQgetvalue(res, (int)i, 0);
		(*enabled)[i] = PQgetvalue(res, (int)i, 1)[0] == 't';
	}
	*w = (struct pf_dynsec_want){
		.prefix = b->prefix,
		.feed_prefix = b->feed_prefix,
		.lots = *lots,
		.lot_enabled = *enabled,
		.n_lots = n,
		.daemons = (const char *const *)b->daemons,
		.n_daemons = b->n_daemons,
	};
	return 0;
}

/* One response: an error is reported, a new client's password handed over. */
static int take_response(const json_t *r, const struct pf_dynsec_step *s, struct ctl_creds *c,
			 struct sync_stats *st)
{
	const char *e = json_string_value(json_object_get(r, "error"));

	if (e) {
		ctl__err("broker sync: %s: %s", s->what, e);
		st->failures++;
		return 0;
	}
	if (!s->password)
		return 0;
	return ctl__creds_write(c, s->account == PF_DYNSEC_LOT ? "lot" : "daemon", s->username,
				s->password);
}

/* Commands i.. as one message: as many as the batch size and the byte limit allow. */
static json_t *next_message(const struct pf_dynsec_plan *p, size_t i, size_t batch, size_t *end)
{
	json_t *cmds = json_array();
	size_t bytes = 0, j = i;

	for (; cmds && j < p->n_steps && j - i < batch; j++) {
		size_t len = json_dumpb(p->steps[j].command, NULL, 0, JSON_COMPACT) + 1;

		if (j > i && bytes + len > BATCH_MAX_BYTES)
			break;
		bytes += len;
		if (json_array_append(cmds, p->steps[j].command) < 0) {
			json_decref(cmds);
			return NULL;
		}
	}
	*end = j;
	return cmds;
}

/* How many commands the next message may carry, from how long the last n took. */
static size_t next_batch(size_t n, int64_t dt_ms)
{
	size_t fit = dt_ms > 0 ? (size_t)(BATCH_TARGET_MS * (int64_t)n / dt_ms) : 2 * n;

	if (fit > 2 * n)
		fit = 2 * n;
	if (fit > BATCH_MAX)
		fit = BATCH_MAX;
	return fit ? fit : 1;
}

static int run_plan(struct ctl_dynsec *d, const struct pf_dynsec_plan *p, struct ctl_creds *c,
		    struct sync_stats *st)
{
	size_t batch = 1, i = 0, end;
	int64_t last_note = now_ms();
	char err[512];

	while (i < p->n_steps) {
		json_t *cmds = next_message(p, i, batch, &end), *resp = NULL;
		int64_t t0 = now_ms(), dt;

		if (!cmds || ctl__dynsec_call(d, cmds, &resp, err, sizeof(err)) < 0) {
			ctl__err("broker sync: %s (at: %s; run broker sync again to finish)",
				 cmds ? err : "out of memory", p->steps[i].what);
			json_decref(cmds);
			return -1;
		}
		dt = now_ms() - t0;
		st->messages++;
		st->commands += end - i;
		for (size_t k = i; k < end; k++)
			if (take_response(json_array_get(resp, k - i), &p->steps[k], c, st) < 0) {
				json_decref(cmds);
				json_decref(resp);
				return -1;
			}
		json_decref(cmds);
		json_decref(resp);
		batch = next_batch(end - i, dt);
		i = end;
		if (now_ms() - last_note >= PROGRESS_MS && i < p->n_steps) {
			last_note = now_ms();
			fprintf(stderr, "parkfeedctl: broker sync: %zu of %zu commands sent\n", i,
				p->n_steps);
		}
	}
	return 0;
}

void ctl__sync_summary(const struct ctl_sync *s, const struct ctl_broker_args *a, const char *tail)
{
	const struct pf_dynsec_plan *p = &s->plan;

	fprintf(stderr,
		"parkfeedctl: broker sync%s%s: %zu registered lots (%zu retired), %zu daemon "
		"account(s), prefix %s: %s %zu, enabled %zu, disabled %zu, repaired %zu, unchanged "
		"%zu; %s\n",
		a->offline ? " --offline" : "", a->dry_run ? " --dry-run" : "", s->want.n_lots,
		s->retired, a->broker.n_daemons, a->broker.prefix,
		a->dry_run ? "would create" : "created", p->created, p->enabled, p->disabled,
		p->repaired, p->unchanged, tail);
}

double ctl__sync_seconds(const struct ctl_sync *s)
{
	return (double)(now_ms() - s->started_ms) / 1000.0;
}

int ctl__sync_begin(const struct ctl_opts *o, const struct ctl_broker_args *a, struct ctl_sync *s)
{
	memset(s, 0, sizeof(*s));
	s->started_ms = now_ms();
	if (!(s->conn = ctl__connect(o)) || !(s->registry = read_registry(s->conn)))
		return 1;
	if (want_from(&s->want, s->registry, &a->broker, &s->lots, &s->enabled) < 0) {
		ctl__err("out of memory");
		return 1;
	}
	for (size_t i = 0; i < s->want.n_lots; i++)
		s->retired += !s->want.lot_enabled[i];
	return 0;
}

int ctl__sync_plan(struct ctl_sync *s, const struct ctl_broker_args *a, const json_t *clients,
		   const json_t *roles)
{
	char tail[100];

	if (pf_dynsec_plan_build(&s->plan, &s->want, clients, roles, ctl__broker_password, NULL) <
	    0) {
		ctl__err("broker sync: cannot plan: the plugin's account lists are malformed, or "
			 "out of memory");
		return 1;
	}
	for (size_t i = 0; i < s->plan.n_conflicts; i++)
		ctl__err("broker sync: %s", s->plan.conflicts[i]);
	if (!a->dry_run)
		return 0;
	for (size_t i = 0; i < s->plan.n_steps; i++)
		printf("%s\n", s->plan.steps[i].what);
	snprintf(tail, sizeof(tail), "%zu command(s) planned, nothing changed", s->plan.n_steps);
	ctl__sync_summary(s, a, tail);
	return fflush(stdout) != 0 || s->plan.n_conflicts > 0;
}

void ctl__sync_end(struct ctl_sync *s)
{
	pf_dynsec_plan_free(&s->plan);
	PQclear(s->registry);
	PQfinish(s->conn);
	free(s->lots);
	free(s->enabled);
	memset(s, 0, sizeof(*s));
}

static int execute(struct ctl_broker_args *a, struct ctl_dynsec *d, struct ctl_sync *s)
{
	struct sync_stats st = {0};
	json_t *clients = NULL, *roles = NULL;
	struct ctl_creds creds = {0};
	char tail[200];
	int rc = 1;

	if (read_broker(d, &clients, &roles) < 0)
		goto out;
	if ((rc = ctl__sync_plan(s, a, clients, roles)) != 0 || a->dry_run)
		goto out;
	if (ctl__creds_open(&creds, a->credentials_out) < 0) {
		rc = 1;
		goto out;
	}
	rc = run_plan(d, &s->plan, &creds, &st) < 0;
	ctl__creds_close(&creds);
	snprintf(tail, sizeof(tail), "%zu command(s) in %zu message(s), %.1f s%s", st.commands,
		 st.messages, ctl__sync_seconds(s),
		 st.failures ? ", with failures (see above)" : "");
	ctl__sync_summary(s, a, tail);
	rc |= s->plan.n_conflicts > 0 || st.failures > 0;
out:
	json_decref(clients);
	json_decref(roles);
	return rc;
}

int ctl__broker_sync(const struct ctl_opts *o, struct ctl_broker_args *a)
{
	struct ctl_dynsec *d = NULL;
	struct ctl_sync s;
	int rc;

	if ((rc = ctl__broker_admin(a)) != 0)
		return rc;
	rc = ctl__sync_begin(o, a, &s);
	if (rc == 0)
		rc = ctl__broker_connect(a, &d);
	if (rc == 0)
		rc = execute(a, d, &s);
	ctl__dynsec_close(d);
	ctl__sync_end(&s);
	return rc;
}
