/* broker command internals: options, credentials output, the sync (broker.c, broker_sync.c). */
#ifndef CTL_BROKER_H
#define CTL_BROKER_H

#include <stdbool.h>
#include <stdio.h>

#include "ctl.h"
#include "pf_config.h"

struct ctl_broker_args {
	struct ctl_broker broker;
	struct pf_config cfg;	   /* -c FILE, or the defaults; broker's strings point into it */
	const char *password_file; /* --admin-password-file */
	bool daemon_given;	   /* --daemon replaces [broker] daemons */
	bool dry_run;
	const char *credentials_out;
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
};
int ctl__creds_open(struct ctl_creds *c, const char *path);
int ctl__creds_write(struct ctl_creds *c, const char *kind, const char *username,
		     const char *password);
/* Close; a file that got no password is removed. */
void ctl__creds_close(struct ctl_creds *c);

int ctl__broker_sync(const struct ctl_opts *o, struct ctl_broker_args *a);

#endif
