/* parkfeedd: start-up, signals and shutdown around one libuv loop. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <uv.h>

#include "pf_config.h"
#include "pf_log.h"
#include "pf_normalize.h"
#include "pf_spool.h"
#include "pf_tz.h"
#include "pf_version.h"
#include "pipeline.h"

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
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: parkfeedd -c FILE [-t]\n"
		"Consume parking-lot occupancy from MQTT into PostgreSQL.\n\n"
		"  -c, --config FILE  configuration file (see parkfeed.conf(5))\n"
		"  -t, --test         check the configuration and exit (0 ok, 1 with a message)\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         this text\n\n"
		"Runs in the foreground; SIGTERM or SIGINT stop it cleanly, SIGHUP reloads.\n");
}

static void build_norm(struct daemon *d)
{
	const struct pf_config *c = &d->cfg;

	d->norm = (struct pf_norm_config){
		.topic_prefix = c->mqtt.topic_prefix,
		.max_payload = (size_t)c->ingest.max_payload,
		.clock_skew_us = (int64_t)c->ingest.clock_skew * 1000000,
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
	const char *secrets[] = {d->cfg.mqtt.password_file, d->cfg.postgres.password_file};
	int rc;

	rc = pf_config_load(&d->cfg, d->config_path, err, errlen);
	if (rc < 0)
		return rc;
	rc = pf_tz_load(d->cfg.ingest.local_timezone, &d->tz, err, errlen);
	if (rc < 0) {
		char why[256];
		snprintf(why, sizeof(why), "%.200s", err);
		snprintf(err, errlen, "%s: [ingest] local_timezone = %.64s: %s (use a zone of the tz "
			 "database, e.g. Asia/Shanghai)", d->config_path,
			 d->cfg.ingest.local_timezone, why);
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
	pf_pipeline_stop(&d->pipeline, on_pipeline_stopped);
}

/* Reload: keys marked reloadable take effect; a change to any other key needs a restart
 * and is reported; a broken file is refused and the running configuration stays. */
static void on_hup(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	struct pf_config next;
	char err[512];

	(void)signum;
	pf_config_init(&next);
	if (pf_config_load(&next, d->config_path, err, sizeof(err)) < 0) {
		pf_err("reload refused, keeping the running configuration: %s", err);
		pf_config_free(&next);
		return;
	}
	if (pf_config_diff_nonreloadable(&d->cfg, &next, err, sizeof(err)))
		pf_warn("reload: %s; restart parkfeedd to apply it", err);
	pf_log_set_level(next.log.level);
	d->cfg.log.level = next.log.level;
	pf_notice("reload: log level applied");
	pf_config_free(&next);
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
	pf_notice("parkfeedd %s starting: broker %s:%d, spool %s (fsync %s)", PF_VERSION,
		  d->cfg.mqtt.host, d->cfg.mqtt.port, d->cfg.spool.dir,
		  d->cfg.spool.fsync ? "batch" : "off");
	pf_pipeline_start(&d->pipeline);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	pf_pipeline_free(&d->pipeline);
	if (uv_loop_close(&d->loop) != 0)
		pf_warn("event loop closed with handles still open");
	pf_notice("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
		{"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	static struct daemon d;
	bool test_only = false;
	char err[512];
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'V':
			printf("parkfeedd %s\n", PF_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!d.config_path || optind != argc) {
		fprintf(stderr, "parkfeedd: %s\n", d.config_path ? "unexpected argument"
				: "no configuration file: give -c FILE (e.g. -c /etc/parkfeed/parkfeed.conf)");
		return 2;
	}
	pf_config_init(&d.cfg);
	if (check_config(&d, err, sizeof(err)) < 0) {
		fprintf(stderr, "parkfeedd: %s\n", err);
		pf_config_free(&d.cfg);
		pf_tz_free(d.tz);
		return 1;
	}
	if (test_only) {
		printf("parkfeedd: configuration %s is valid\n", d.config_path);
		pf_config_free(&d.cfg);
		pf_tz_free(d.tz);
		return 0;
	}
	pf_log_init("parkfeedd", d.cfg.log.level);
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
