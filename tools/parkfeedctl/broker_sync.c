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
	size_t lots, lots_enabled, commands, messages, failures;
	int64_t started_ms;
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

static void summary(const struct pf_dynsec_plan *p, const struct sync_stats *st,
		    const struct ctl_broker *b, bool dry)
{
	fprintf(stderr,
		"parkfeedctl: broker sync%s: %zu registered lots (%zu retired), %zu daemon "
		"account(s), prefix %s: %s %zu, enabled %zu, disabled %zu, repaired %zu, unchanged "
		"%zu",
		dry ? " --dry-run" : "", st->lots, st->lots - st->lots_enabled, b->n_daemons,
		b->prefix, dry ? "would create" : "created", p->created, p->enabled, p->disabled,
		p->repaired, p->unchanged);
	if (dry)
		fprintf(stderr, "; %zu command(s) planned, nothing changed\n", p->n_steps);
	else
		fprintf(stderr, "; %zu command(s) in %zu message(s), %.1f s%s\n", st->commands,
			st->messages, (double)(now_ms() - st->started_ms) / 1000.0,
			st->failures ? ", with failures (see above)" : "");
}

static int execute(struct ctl_broker_args *a, struct ctl_dynsec *d, const PGresult *reg,
		   struct sync_stats *st)
{
	struct pf_dynsec_want w = {0};
	struct pf_dynsec_plan plan = {0};
	json_t *clients = NULL, *roles = NULL;
	struct ctl_creds creds = {0};
	const char **lots = NULL;
	bool *enabled = NULL;
	int rc = 1;

	if (want_from(&w, reg, &a->broker, &lots, &enabled) < 0) {
		ctl__err("out of memory");
		goto out;
	}
	for (size_t i = 0; i < w.n_lots; i++)
		st->lots_enabled += w.lot_enabled[i];
	st->lots = w.n_lots;
	if (read_broker(d, &clients, &roles) < 0)
		goto out;
	if (pf_dynsec_plan_build(&plan, &w, clients, roles, ctl__broker_password, NULL) < 0) {
		ctl__err("broker sync: cannot plan: the broker's account lists are malformed, or "
			 "out of memory");
		goto out;
	}
	for (size_t i = 0; i < plan.n_conflicts; i++)
		ctl__err("broker sync: %s", plan.conflicts[i]);
	if (a->dry_run) {
		for (size_t i = 0; i < plan.n_steps; i++)
			printf("%s\n", plan.steps[i].what);
		rc = fflush(stdout) != 0;
	} else if (ctl__creds_open(&creds, a->credentials_out) == 0) {
		rc = run_plan(d, &plan, &creds, st) < 0;
		ctl__creds_close(&creds);
	}
	summary(&plan, st, &a->broker, a->dry_run);
	rc |= plan.n_conflicts > 0 || st->failures > 0;
out:
	pf_dynsec_plan_free(&plan);
	json_decref(clients);
	json_decref(roles);
	free(lots);
	free(enabled);
	return rc;
}

int ctl__broker_sync(const struct ctl_opts *o, struct ctl_broker_args *a)
{
	struct sync_stats st = {.started_ms = now_ms()};
	struct ctl_dynsec *d = NULL;
	PGresult *reg = NULL;
	PGconn *conn;
	int rc;

	if (a->credentials_out && a->dry_run) {
		ctl__err("broker sync: --dry-run creates no account, so no --credentials-out");
		return 2;
	}
	if ((rc = ctl__broker_admin(a)) != 0)
		return rc;
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	rc = (reg = read_registry(conn)) ? ctl__broker_connect(a, &d) : 1;
	if (rc == 0)
		rc = execute(a, d, reg, &st);
	ctl__dynsec_close(d);
	PQclear(reg);
	PQfinish(conn);
	return rc;
}
