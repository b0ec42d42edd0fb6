/* broker command internals: options, credentials output, the sync (broker.c, broker_sync.c). */
#ifndef CTL_BROKER_H
#define CTL_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ctl.h"
#include "pf_config.h"
#include "pf_dynsec.h"

struct ctl_broker_args {
	struct ctl_broker broker;
	struct pf_config cfg;	   /* -c FILE, or the defaults; broker's strings point into it */
	const char *password_file; /* --admin-password-file */
	bool daemon_given;	   /* --daemon replaces [broker] daemons */
	bool dry_run;
	const char *credentials_out;
	const char *offline; /* sync --offline FILE: the plugin's state file, broker stopped */
	const char *note;
	char **args; /* what is left after the options */
	size_t n_args;
};

/* Options and -c FILE into *a (always ctl__broker_args_free it); an exit status, 0 = go on. */
int ctl__broker_parse(const struct ctl_opts *o, int argc, char **argv, struct ctl_broker_args *a);
void ctl__broker_args_free(struct ctl_broker_args *a);
/* The admin account named and its password read; an exit status, 0 = go on. */
int ctl__broker_admin(struct ctl_broker_args *a);
/* Read the admin password (unless done) and connect; an exit status, 0 = connected. */
int ctl__broker_connect(struct ctl_broker_args *a, struct ctl_dynsec **d);
/* A password of len characters from getrandom(); matches pf_dynsec_password_fn. */
int ctl__broker_password(char *out, size_t len, void *arg);

/* New passwords, printed once: stdout, or a new 0600 file. */
struct ctl_creds {
	FILE *f;
	const char *path; /* NULL: stdout */
	size_t lines;
	bool deferred; /* out at ctl__creds_sync only, not line by line */
};
int ctl__creds_open(struct ctl_creds *c, const char *path);
int ctl__creds_write(struct ctl_creds *c, const char *kind, const char *username,
		     const char *password);
/* Everything written so far out (and on disk); 0 or -1 (reported). */
int ctl__creds_sync(struct ctl_creds *c);
/* Close; a file that got no password is removed. */
void ctl__creds_close(struct ctl_creds *c);

/* What both ways of syncing share (broker_sync.c). */
struct ctl_sync {
	PGconn *conn;
	PGresult *registry; /* lot_id, enabled: read under the sync lock, held till the end */
	struct pf_dynsec_want want; /* its strings point into registry and the arguments */
	const char **lots;
	bool *enabled;
	size_t retired;
	struct pf_dynsec_plan plan;
	int64_t started_ms;
};
/* Connect, take the lock, read the registry; an exit status (always ctl__sync_end). */
int ctl__sync_begin(const struct ctl_opts *o, const struct ctl_broker_args *a, struct ctl_sync *s);
/* Plan from the plugin's clients and roles, report conflicts, print the plan if a dry run. */
int ctl__sync_plan(struct ctl_sync *s, const struct ctl_broker_args *a, const json_t *clients,
		   const json_t *roles);
/* The summary line on stderr: the counts, then tail. */
void ctl__sync_summary(const struct ctl_sync *s, const struct ctl_broker_args *a, const char *tail);
double ctl__sync_seconds(const struct ctl_sync *s);
void ctl__sync_end(struct ctl_sync *s);

int ctl__broker_sync(const struct ctl_opts *o, struct ctl_broker_args *a);
/* sync --offline FILE (broker_offline.c). */
int ctl__broker_sync_offline(const struct ctl_opts *o, struct ctl_broker_args *a);

/*
 * Whether a mosquitto running on this host has loaded the dynamic-security file (mosq_inuse.c):
 * 1 (its pid in *pid), 0 none, -1 when it cannot be told (why says for which pid and what
 * stood in the way).
 */
int ctl__mosquitto_using(const char *file, pid_t *pid, char *why, size_t whylen);

#endif
