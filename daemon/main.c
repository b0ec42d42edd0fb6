/* parkfeedd: start-up, signals and shutdown around one libuv loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <uv.h>

#include "pf_args.h"
#include "pf_config.h"
#include "pf_log.h"
#include "pf_normalize.h"
#include "pf_spool.h"
#include "pf_tz.h"
#include "metrics.h"
#include "pf_notify.h"
#include "pf_version.h"
#include "pipeline.h"
#include "pgcheck.h"

#define READY_POLL_MS 100    /* how soon READY=1 follows the broker connection */
#define FIGURES_MS 1000	     /* metrics rendered this often */
#define STATUS_EVERY_MS 3000 /* STATUS= this often */

struct daemon {
	uv_loop_t loop;
	struct pf_config cfg;
	struct pf_tz *tz;
	struct pf_norm_config norm;
	struct pf_spool *spool;
	struct pf_pipeline pipeline;
	uv_signal_t sig_term, sig_int, sig_hup;
	const char *config_path;
	bool stopping;

	struct pf_notify notify;
	struct pf_metrics metrics;
	uint64_t reloads_applied, reloads_refused;
	int64_t start_time;	   /* seconds since the epoch */
	bool ready;		   /* READY=1 sent */
	uv_timer_t ready_timer;	   /* until READY=1: is the broker connected yet? */
	uv_timer_t watchdog_timer; /* WATCHDOG=1 at half of WATCHDOG_USEC */
	uv_timer_t figures_timer;  /* metrics every second, STATUS= every few */
	uint64_t start_ms;
	uint64_t status_at_ms;	  /* when STATUS= was last sent... */
	uint64_t status_received; /* ...and the received count then */
	char degraded[160];	  /* why READY=1 was sent without the broker, "" if not */
};

static const char usage_text[] =
	"Usage: parkfeedd -c FILE [-t]\n"
	"Consume parking-lot occupancy from MQTT into PostgreSQL.\n\n"
	"  -c, --config FILE  configuration file (see parkfeed.conf(5))\n"
	"  -t, --test         check the configuration and exit (0 ok, 1 with a message)\n"
	"  -V, --version      print the version and exit\n"
	"  -h, --help         this text\n\n"
	"Runs in the foreground; SIGTERM or SIGINT stop it cleanly, SIGHUP reloads.\n";

static void build_norm(struct daemon *d)
{
	const struct pf_config *c = &d->cfg;

	d->norm = (struct pf_norm_config){
		.topic_prefix = c->mqtt.topic_prefix,
		.max_payload = (size_t)c->ingest.max_payload,
		.clock_skew_us = (int64_t)c->ingest.clock_skew * 1000000,
		.max_age_us = (int64_t)c->ingest.max_age * 1000000,
		.tz = d->tz,
		.max_depth = c->ingest.max_depth,
		.max_topic_len = (size_t)c->ingest.max_topic_len,
		.aliases = c->aliases,
		.n_aliases = c->n_aliases,
		.compliant_protocols = c->protocols,
		.n_compliant = c->n_protocols,
	};
}

/* Everything -t promises: the file, the zone, and the secrets the file names. */
static int check_config(struct daemon *d, char *err, size_t errlen)
{
	const char *secrets[2];
	int rc;

	rc = pf_config_load(&d->cfg, d->config_path, err, errlen);
	if (rc < 0)
		return rc;
	/* Only now: loading replaces (and frees) the default strings. */
	secrets[0] = d->cfg.mqtt.password_file;
	secrets[1] = d->cfg.postgres.password_file;
	rc = pf_tz_load(d->cfg.ingest.local_timezone, &d->tz, err, errlen);
	if (rc < 0) {
		char why[256];
		snprintf(why, sizeof(why), "%.200s", err);
		snprintf(err, errlen,
			 "%s: [ingest] local_timezone = %.64s: %s (use a zone of the tz "
			 "database, e.g. Asia/Shanghai)",
			 d->config_path, d->cfg.ingest.local_timezone, why);
		return rc;
	}
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		if (!secrets[i][0])
			continue;
		char *s = pf_config_read_secret(secrets[i], err, errlen);
		if (!s)
			return -EINVAL;
		explicit_bzero(s, strlen(s));
		free(s);
	}
	build_norm(d);
	return 0;
}

static void on_pipeline_stopped(struct pf_pipeline *p)
{
	struct daemon *d = (struct daemon *)((char *)p - offsetof(struct daemon, pipeline));

	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->ready_timer, NULL);
	uv_close((uv_handle_t *)&d->watchdog_timer, NULL);
	uv_close((uv_handle_t *)&d->figures_timer, NULL);
}

/* ---- what systemd and the metrics endpoint see ---- */

/* One line of live figures for STATUS= (systemctl status shows it). */
/* Every figure: the pipeline's and the writer's, then main's own. */
static void figures(struct daemon *d, struct pf_figures *f)
{
	memset(f, 0, sizeof(*f));
	pf_pipeline_figures(&d->pipeline, f);
	f->version = PF_VERSION;
	f->start_time = d->start_time;
	f->ready = d->ready;
	f->reloads_applied = d->reloads_applied;
	f->reloads_refused = d->reloads_refused;
	f->health_spool_bytes = (uint64_t)d->cfg.metrics.health_spool_bytes;
	f->health_stall_seconds = d->cfg.metrics.health_stall_seconds;
}

static void status_line(struct daemon *d, char *buf, size_t len)
{
	uint64_t now = uv_now(&d->loop), ms = now - d->status_at_ms, rejected = 0;
	struct pf_figures f;
	double rate;

	figures(d, &f);
	rate = ms ? (double)(f.received - d->status_received) * 1000.0 / (double)ms : 0;
	for (int r = 0; r < PF_REJ__COUNT; r++)
		rejected += f.rejected[r];
	snprintf(buf, len,
		 "%s%sreceived %.0f/s, stored %llu, rejected %llu, spool %llu bytes, broker %s, "
		 "database %s",
		 d->degraded[0] ? d->degraded : "", d->degraded[0] ? "; " : "", rate,
		 (unsigned long long)f.stored, (unsigned long long)rejected,
		 (unsigned long long)(f.spool.used_bytes + f.spool.staged_bytes),
		 f.broker_up ? "up" : "down", f.db_up ? "up" : "down");
	d->status_at_ms = now;
	d->status_received = f.received;
}

static void publish(struct daemon *d)
{
	struct pf_figures f;

	if (!pf_metrics_enabled(&d->metrics))
		return;
	figures(d, &f);
	pf_metrics_publish(&d->metrics, &f);
}

static void send_ready(struct daemon *d)
{
	char status[512];

	d->ready = true;
	status_line(d, status, sizeof(status));
	pf_notify_send(&d->notify, "READY=1\nSTATUS=%s", status);
}

static void on_ready_poll(uv_timer_t *t)
{
	struct daemon *d = t->data;
	uint64_t waited = uv_now(&d->loop) - d->start_ms;

	if (pf_mqtt_connected(&d->pipeline.mqtt)) {
		d->degraded[0] = '\0';
	} else if (waited >= (uint64_t)d->cfg.systemd.ready_timeout * 1000) {
		/* Better a running service that says what is wrong than a start that hangs and
		 * is killed: the spool is open and the broker connection keeps retrying. */
		snprintf(d->degraded, sizeof(d->degraded),
			 "degraded: no broker connection after %d s ([systemd] ready_timeout)",
			 d->cfg.systemd.ready_timeout);
		pf_warn("systemd: reporting ready while %s", d->degraded);
	} else {
		return;
	}
	uv_timer_stop(t);
	send_ready(d);
}

static void on_watchdog(uv_timer_t *t)
{
	struct daemon *d = t->data;

	pf_notify_send(&d->notify, "WATCHDOG=1");
}

static void on_figures(uv_timer_t *t)
{
	struct daemon *d = t->data;
	char status[512];

	if (d->degraded[0] && pf_mqtt_connected(&d->pipeline.mqtt)) {
		pf_notice("systemd: broker connected, no longer degraded");
		d->degraded[0] = '\0';
	}
	publish(d);
	if (!pf_notify_enabled(&d->notify) || uv_now(&d->loop) - d->status_at_ms < STATUS_EVERY_MS)
		return;
	if (d->ready) {
		status_line(d, status, sizeof(status));
		pf_notify_send(&d->notify, "STATUS=%s", status);
	} else {
		pf_notify_send(&d->notify, "STATUS=starting: waiting for the broker at %s:%d",
			       d->cfg.mqtt.host, d->cfg.mqtt.port);
		d->status_at_ms = uv_now(&d->loop);
	}
}

static void start_notify(struct daemon *d)
{
	uv_timer_t *timers[] = {&d->ready_timer, &d->watchdog_timer, &d->figures_timer};
	uint64_t wd_ms = d->notify.watchdog_usec / 2000;

	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		uv_timer_init(&d->loop, timers[i]);
		timers[i]->data = d;
	}
	d->start_ms = d->status_at_ms = uv_now(&d->loop);
	uv_timer_start(&d->ready_timer, on_ready_poll, 0, READY_POLL_MS);
	uv_timer_start(&d->figures_timer, on_figures, 0, FIGURES_MS);
	/* From the loop, so that a stuck loop stops the pings and systemd restarts us. */
	if (d->notify.watchdog_usec) {
		uv_timer_start(&d->watchdog_timer, on_watchdog, 0, wd_ms ? wd_ms : 1);
		pf_info("systemd: watchdog every %llu ms", (unsigned long long)(wd_ms ? wd_ms : 1));
	}
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (d->stopping) {
		pf_warn("second %s: exiting now; unacknowledged messages are redelivered",
			strsignal(signum));
		exit(1);
	}
	d->stopping = true;
	pf_notice("%s: stopping (flushing, committing, disconnecting)", strsignal(signum));
	pf_notify_send(&d->notify, "STOPPING=1\nSTATUS=stopping: flushing and committing");
	pf_pipeline_stop(&d->pipeline, on_pipeline_stopped);
}

/*
 * Apply the keys the key table marks reloadable (pf_config_apply_reloadable), then what
 * depends on them: the log level, the time zone, the normalizer's settings (it runs on this
 * thread only, between messages) and the spool's cap. Everything else reads its key on each
 * use. Freeing `next` afterwards frees the old values.
 */
static int apply_reload(struct daemon *d, struct pf_config *next, char *err, size_t errlen)
{
	struct pf_config *c = &d->cfg;
	struct pf_tz *tz = NULL;

	if (strcmp(c->ingest.local_timezone, next->ingest.local_timezone) != 0 &&
	    pf_tz_load(next->ingest.local_timezone, &tz, err, errlen) < 0)
		return -EINVAL;
	pf_config_apply_reloadable(c, next);
	pf_log_set_level(c->log.level);
	if (tz) {
		struct pf_tz *old = d->tz;

		d->tz = tz;
		pf_tz_free(old);
	}
	build_norm(d);
	pf_spool_set_max_bytes(d->spool, (uint64_t)c->spool.max_bytes);
	return 0;
}

/* Reload: keys marked reloadable take effect; a change to any other key needs a restart
 * and is reported; a broken file is refused and the running configuration stays. systemd
 * hears RELOADING=1 before and READY=1 after, whatever the outcome. */
static void on_hup(uv_signal_t *h, int signum)
{
	static const char *const level_names[] = {"debug", "info", "notice", "warning", "error"};
	struct daemon *d = h->data;
	struct pf_config next;
	char err[512], status[512];

	(void)signum;
	pf_notify_reloading(&d->notify);
	pf_config_init(&next);
	if (pf_config_load(&next, d->config_path, err, sizeof(err)) < 0 ||
	    apply_reload(d, &next, err, sizeof(err)) < 0) {
		pf_err("reload refused, keeping the running configuration: %s", err);
		d->reloads_refused++;
		snprintf(status, sizeof(status), "reload refused (see the log): %.400s", err);
	} else {
		if (pf_config_diff_nonreloadable(&d->cfg, &next, err, sizeof(err)))
			pf_warn("reload: %s; restart parkfeedd to apply it", err);
		pf_notice("reload: applied (log level %s, health_spool_bytes %lld)",
			  level_names[d->cfg.log.level],
			  (long long)d->cfg.metrics.health_spool_bytes);
		d->reloads_applied++;
		status_line(d, status, sizeof(status));
	}
	pf_config_free(&next);
	publish(d);
	/* Before the first READY=1 a reload must not announce readiness early. */
	pf_notify_send(&d->notify, "%sSTATUS=%s", d->ready ? "READY=1\n" : "", status);
}

static int open_spool(struct daemon *d, char *err, size_t errlen)
{
	struct pf_spool_config sc = {
		.dir = d->cfg.spool.dir,
		.max_bytes = (uint64_t)d->cfg.spool.max_bytes,
		.segment_bytes = (uint64_t)d->cfg.spool.segment_bytes,
		.fsync = d->cfg.spool.fsync,
	};
	struct pf_spool_recovery rec;
	int rc = pf_spool_open(&d->spool, &sc, &rec, err, errlen);

	if (rc < 0)
		return rc;
	if (rec.note[0])
		pf_warn("spool: %s", rec.note);
	if (rec.records)
		pf_notice("spool: %llu records (%llu bytes) to replay from %llu:%llu",
			  (unsigned long long)rec.records, (unsigned long long)rec.bytes,
			  (unsigned long long)rec.checkpoint.seg,
			  (unsigned long long)rec.checkpoint.off);
	return 0;
}

static void watch_signal(struct daemon *d, uv_signal_t *h, int signum, uv_signal_cb cb)
{
	uv_signal_init(&d->loop, h);
	h->data = d;
	uv_signal_start(h, cb, signum);
}

static int run(struct daemon *d)
{
	char err[512];
	int rc;

	if (open_spool(d, err, sizeof(err)) < 0) {
		pf_err("%s", err);
		return 1;
	}
	if (uv_loop_init(&d->loop) != 0) {
		pf_err("cannot create the event loop");
		return 1;
	}
	if (pf_pipeline_init(&d->pipeline, &d->loop, &d->cfg, &d->norm, d->spool, err,
			     sizeof(err)) < 0) {
		pf_err("%s", err);
		return 1;
	}
	watch_signal(d, &d->sig_term, SIGTERM, on_stop_signal);
	watch_signal(d, &d->sig_int, SIGINT, on_stop_signal);
	watch_signal(d, &d->sig_hup, SIGHUP, on_hup);
	rc = pf_notify_init(&d->notify);
	if (rc < 0)
		pf_warn("systemd: $NOTIFY_SOCKET is not usable (%s); no notifications",
			strerror(-rc));
	if (pf_metrics_start(&d->metrics, d->cfg.metrics.listen, err, sizeof(err)) < 0) {
		pf_err("%s", err);
		pf_notify_send(&d->notify, "STATUS=failed: %.400s", err);
		return 1;
	}
	d->start_time = (int64_t)time(NULL);
	pf_notice("parkfeedd %s starting: broker %s:%d, spool %s (fsync %s)", PF_VERSION,
		  d->cfg.mqtt.host, d->cfg.mqtt.port, d->cfg.spool.dir,
		  d->cfg.spool.fsync ? "batch" : "off");
	pf_pipeline_start(&d->pipeline);
	start_notify(d);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	pf_metrics_stop(&d->metrics);
	pf_notify_close(&d->notify);
	pf_pipeline_free(&d->pipeline);
	if (uv_loop_close(&d->loop) != 0)
		pf_warn("event loop closed with handles still open");
	pf_notice("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct pf_service_args args = {.prog = "parkfeedd",
				       .version = PF_VERSION,
				       .example = "/etc/parkfeed/parkfeed.conf",
				       .usage = usage_text};
	static struct daemon d;
	bool transport_warned;
	char err[512], warn[640];
	int rc;

	if ((rc = pf_service_args(&args, argc, argv)) >= 0)
		return rc;
	d.config_path = args.config_path;
	pf_config_init(&d.cfg);
	if (check_config(&d, err, sizeof(err)) < 0) {
		fprintf(stderr, "parkfeedd: %s\n", err);
		pf_config_free(&d.cfg);
		pf_tz_free(d.tz);
		return 1;
	}
	/* A warning, not a refusal: a network the site trusts may be a choice. */
	transport_warned = pf_pgcheck_transport(d.cfg.postgres.conninfo, warn, sizeof(warn));
	if (args.test_only) {
		if (transport_warned)
			fprintf(stderr, "parkfeedd: warning: %s\n", warn);
		printf("parkfeedd: configuration %s is valid\n", d.config_path);
		pf_config_free(&d.cfg);
		pf_tz_free(d.tz);
		return 0;
	}
	pf_log_init("parkfeedd", d.cfg.log.level);
	if (transport_warned)
		pf_warn("%s", warn);
	pf_normalize_use_arena(); /* before the first message: jansson's allocator is global */
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	mosquitto_lib_init();
	rc = run(&d);
	if (d.spool)
		pf_spool_close(d.spool);
	mosquitto_lib_cleanup();
	pf_tz_free(d.tz);
	pf_config_free(&d.cfg);
	return rc;
}
