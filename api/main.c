/* parkfeed-api: configuration, signals, systemd notifications, and the modules' lifetimes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "apiconf.h"
#include "app.h"
#include "dbq.h"
#include "pf_args.h"
#include "pf_log.h"
#include "pf_notify.h"
#include "pf_version.h"
#include "refresh.h"
#include "server.h"
#include "snapshot.h"
#include "web.h"

#define STATUS_EVERY_US (5 * 1000000LL)
#define TICK_MS 1000

struct api {
	const char *config_path;
	struct app app;
	struct server *server;
	struct pf_notify notify;
	char *password;
	int64_t status_at_us;
	unsigned long long requests_at_status;
};

static const char usage_text[] =
	"usage: parkfeed-api -c FILE [-t]\n"
	"\n"
	"The read-only HTTP service of parkfeed: lots, nearest lots, districts, the ledger\n"
	"and NGSI-LD entities, from PostgreSQL as a login in parkfeed_reader.\n"
	"  -c, --config FILE  configuration (e.g. /etc/parkfeed/parkfeed-api.conf)\n"
	"  -t, --test         check the configuration and exit (0 valid, 1 not)\n"
	"  -V, --version      print the version and exit\n"
	"  -h, --help         this text\n"
	"See parkfeed-api(8).\n";

/* Load and check a configuration, and read its password: all a start or -t needs. */
static int check_config(const char *path, struct api_config *cfg, char **password, char *err,
			size_t errlen)
{
	char why[512];
	int rc = apiconf__load(cfg, path, err, errlen);

	if (rc < 0)
		return rc;
	*password = NULL;
	if (cfg->postgres.password_file[0]) {
		*password = pf_config_read_secret(cfg->postgres.password_file, why, sizeof(why));
		if (!*password) {
			snprintf(err, errlen, "[postgres] password_file: %s", why);
			return -EINVAL;
		}
	}
	return 0;
}

static void warn_web(const struct web_files *w)
{
	if (w->problem[0])
		pf_warn("web: %s: the page at / and /ledger answers 404 until [web] root holds it "
			"(then: systemctl reload parkfeed-api)",
			w->problem);
	else
		pf_info("web: %zu files from %s", w->n, w->root);
}

static int load_web(struct api *a, const char *root)
{
	struct web_files *w = web__load(root);

	if (!w)
		return -ENOMEM;
	warn_web(w);
	rc__put(&a->app.web, &w->rc);
	return 0;
}

static void status_line(struct api *a, const char *prefix)
{
	struct api_snapshot *s = snap__get(&a->app.snapshots);
	struct refresh_status st;
	unsigned long long n = atomic_load(&a->app.requests);
	int64_t now = app__mono_us();
	double rate = a->status_at_us ? (double)(n - a->requests_at_status) * 1e6 /
						(double)(now - a->status_at_us)
				      : 0;

	refresh__status(a->app.refresh, &st);
	if (s && st.last_ok_mono_us)
		pf_notify_send(
			&a->notify,
			"%sSTATUS=%zu lots, data %.1f s old, database %s, %.0f requests/s%s%s",
			prefix, s->n_lots, (double)(now - st.last_ok_mono_us) / 1e6,
			st.standby ? "standby" : "primary", rate, st.problem[0] ? "; " : "",
			st.problem);
	else
		pf_notify_send(&a->notify, "%sSTATUS=no data yet: %s", prefix, st.problem);
	a->status_at_us = now;
	a->requests_at_status = n;
	if (s)
		rc__unref(&s->rc);
}

/* SIGHUP: the file again. Keys that need a restart keep their running values (and say so). */
static void reload(struct api *a)
{
	struct api_settings *cur = app__settings(&a->app), *next;
	struct api_config cfg;
	char err[512];

	pf_notify_reloading(&a->notify);
	apiconf__init(&cfg);
	if (apiconf__load(&cfg, a->config_path, err, sizeof(err)) < 0) {
		pf_err("reload refused, keeping the running configuration: %s", err);
		apiconf__free(&cfg);
		pf_notify_send(&a->notify, "READY=1\nSTATUS=reload refused: %.200s", err);
		app__settings_unref(cur);
		return;
	}
	if (apiconf__diff_restart(&cur->cfg, &cfg, err, sizeof(err)))
		pf_warn("reload: %s; not applied", err);
	if (apiconf__keep_restart_keys(&cfg, &cur->cfg) < 0 || !(next = app__settings_new(&cfg))) {
		pf_err("reload: out of memory; keeping the running configuration");
		apiconf__free(&cfg);
		app__settings_unref(cur);
		pf_notify_send(&a->notify, "READY=1");
		return;
	}
	pf_log_set_level(next->cfg.log.level);
	rc__put(&a->app.settings, &next->rc);
	if (load_web(a, next->cfg.web.root) < 0)
		pf_err("reload: out of memory reading the web files; keeping the old ones");
	refresh__kick(a->app.refresh);
	pf_notice("reload applied from %s", a->config_path);
	status_line(a, "READY=1\n");
	app__settings_unref(cur);
}

/* The refresher's loop still turns: worth telling the watchdog we are alive. */
static bool alive(struct api *a)
{
	struct api_settings *s = app__settings(&a->app);
	struct refresh_status st;
	const struct api_config *c = &s->cfg;
	/* The longest a healthy turn takes: a backoff sleep, a connection attempt, four queries. */
	int64_t limit = (int64_t)(c->api.refresh_ms > c->postgres.reconnect_max * 1000
					  ? c->api.refresh_ms
					  : c->postgres.reconnect_max * 1000) *
				1000 +
			(int64_t)c->postgres.connect_timeout * 1000000 +
			(int64_t)c->postgres.statement_timeout_ms * 4000 + 10000000;

	refresh__status(a->app.refresh, &st);
	app__settings_unref(s);
	return app__mono_us() - st.heartbeat_mono_us < limit;
}

/* Wait for a signal up to ms; 0 on timeout. */
static int wait_signal(const sigset_t *set, int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	int sig = sigtimedwait(set, NULL, &ts);

	return sig < 0 ? 0 : sig;
}

/* READY=1 once the first snapshot is in, or after [systemd] ready_timeout regardless. */
static int wait_ready(struct api *a, const sigset_t *set, int timeout_s)
{
	int64_t deadline = app__mono_us() + (int64_t)timeout_s * 1000000;
	struct api_snapshot *s;
	int sig;

	while (!(s = snap__get(&a->app.snapshots)) && app__mono_us() < deadline) {
		sig = wait_signal(set, 100);
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
	}
	if (s) {
		pf_notice("serving %zu lots", s->n_lots);
		rc__unref(&s->rc);
		status_line(a, "READY=1\n");
	} else {
		struct refresh_status st;

		refresh__status(a->app.refresh, &st);
		pf_warn("no data after %d s ([systemd] ready_timeout): %s; serving 503 until the "
			"database answers",
			timeout_s, st.problem);
		pf_notify_send(&a->notify, "READY=1\nSTATUS=degraded: no data after %d s: %.200s",
			       timeout_s, st.problem);
	}
	return 0;
}

static void serve(struct api *a, const sigset_t *set)
{
	uint64_t wd_us = a->notify.watchdog_usec / 2;
	int64_t last_wd = 0;

	for (;;) {
		int sig = wait_signal(set, TICK_MS);
		int64_t now = app__mono_us();

		if (sig == SIGTERM || sig == SIGINT) {
			pf_notice("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		}
		if (sig == SIGHUP)
			reload(a);
		if (wd_us && now - last_wd >= (int64_t)wd_us && alive(a)) {
			pf_notify_send(&a->notify, "WATCHDOG=1");
			last_wd = now;
		}
		if (now - a->status_at_us >= STATUS_EVERY_US)
			status_line(a, "");
	}
}

static int start(struct api *a, struct api_settings *s, char *err, size_t errlen)
{
	int rc;

	a->app.rate = rate__new(16384);
	if (!a->app.rate) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((rc = load_web(a, s->cfg.web.root)) < 0 ||
	    (rc = refresh__start(&a->app.refresh, &a->app, a->password)) < 0 ||
	    (rc = dbq__start(&a->app.dbq, &a->app, a->password, s->cfg.postgres.pool_size)) < 0) {
		snprintf(err, errlen, "cannot start: %s", strerror(-rc));
		return rc;
	}
	rc = server__start(&a->server, &a->app, &s->cfg, err, errlen);
	if (rc == 0)
		pf_notice("parkfeed-api %s listening on http://%s", PF_VERSION, s->cfg.api.listen);
	return rc;
}

static void stop(struct api *a)
{
	pf_notify_send(&a->notify, "STOPPING=1");
	server__quiesce(a->server);
	dbq__stop(a->app.dbq); /* resumes whoever waits, with 503 */
	server__stop(a->server);
	refresh__stop(a->app.refresh);
	rate__free(a->app.rate);
	rc__holder_free(&a->app.web);
	rc__holder_free(&a->app.snapshots);
	rc__holder_free(&a->app.settings);
	pthread_mutex_destroy(&a->app.rate_lock);
	pf_notify_close(&a->notify);
}

static int run(struct api *a, struct api_config *cfg)
{
	struct api_settings *s;
	sigset_t set;
	char err[512];
	int rc, ready_timeout = cfg->systemd.ready_timeout;

	/* Blocked before any thread starts: every thread inherits the mask, only sigtimedwait
	 * in this one takes them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc__holder_init(&a->app.settings);
	rc__holder_init(&a->app.snapshots);
	rc__holder_init(&a->app.web);
	pthread_mutex_init(&a->app.rate_lock, NULL);
	s = app__settings_new(cfg);
	if (!s) {
		pf_err("out of memory");
		return 1;
	}
	rc__put(&a->app.settings, &s->rc);
	if (pf_notify_init(&a->notify) < 0)
		pf_warn("systemd: $NOTIFY_SOCKET is not a usable socket; no notifications");
	rc = start(a, s, err, sizeof(err));
	if (rc < 0) {
		pf_err("%s", err);
		pf_notify_send(&a->notify, "STATUS=failed: %.400s", err);
		stop(a);
		return 1;
	}
	if (wait_ready(a, &set, ready_timeout) == 0)
		serve(a, &set);
	stop(a);
	pf_notice("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct pf_service_args args = {.prog = "parkfeed-api",
				       .version = PF_VERSION,
				       .example = "/etc/parkfeed/parkfeed-api.conf",
				       .usage = usage_text};
	static struct api a;
	struct api_config cfg;
	char err[640];
	int rc;

	if ((rc = pf_service_args(&args, argc, argv)) >= 0)
		return rc;
	a.config_path = args.config_path;
	apiconf__init(&cfg);
	if (check_config(a.config_path, &cfg, &a.password, err, sizeof(err)) < 0) {
		fprintf(stderr, "parkfeed-api: %s\n", err);
		apiconf__free(&cfg);
		return 1;
	}
	if (args.test_only) {
		struct stat st;

		if (stat(cfg.web.root, &st) < 0 || !S_ISDIR(st.st_mode))
			fprintf(stderr,
				"parkfeed-api: warning: [web] root %s is not a directory: / and "
				"/ledger will answer 404\n",
				cfg.web.root);
		printf("parkfeed-api: configuration %s is valid\n", a.config_path);
		rc = 0;
	} else {
		pf_log_init("parkfeed-api", cfg.log.level);
		rc = run(&a, &cfg);
	}
	apiconf__free(&cfg); /* emptied by run(): the settings object owns it */
	if (a.password) {
		explicit_bzero(a.password, strlen(a.password));
		free(a.password);
	}
	return rc;
}
