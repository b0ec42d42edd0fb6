/* broker: the accounts of lot controllers and daemons in mosquitto's dynamic-security plugin. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_broker.h"
#include "pf_config.h"
#include "pf_dynsec.h"

static const char broker_usage[] =
	"usage: parkfeedctl broker sync [--dry-run] [--credentials-out FILE] [BROKER OPTIONS]\n"
	"       parkfeedctl broker sync --offline STATE_FILE [--dry-run] [--credentials-out FILE]\n"
	"                               [--prefix PREFIX] [--daemon NAME]...\n"
	"       parkfeedctl broker passwd ACCOUNT [--credentials-out FILE] [BROKER OPTIONS]\n"
	"       parkfeedctl broker retire LOT --note TEXT\n"
	"       parkfeedctl broker reinstate LOT [--note TEXT]\n"
	"\n"
	"sync makes the broker's dynamic-security plugin hold one client per registered lot\n"
	"(user name and client id = lot_id) that may publish only under PREFIX/LOT/ and read\n"
	"only PREFIX/LOT/rejected; disables the clients of retired lots and of lots gone from\n"
	"the registry, enables returning ones; and keeps one client per daemon account\n"
	"([broker] daemons, or --daemon) that reads PREFIX/#. A new client's password is\n"
	"generated and printed once, as CSV (kind,username,client_id,password), to stdout or\n"
	"to --credentials-out FILE (created 0600; an existing file is refused). Existing\n"
	"passwords are never printed. --dry-run prints what would change and changes nothing.\n"
	"--offline STATE_FILE makes the same changes in the plugin's file itself\n"
	"(plugin_opt_config_file), with the broker STOPPED, in seconds instead of the hours a\n"
	"first live sync of thousands of lots takes: the file is read once, written once (a new\n"
	"file renamed over it, owner and mode kept), and refused if it is not the plugin's or a\n"
	"mosquitto on this host has loaded it. Start the broker afterwards.\n"
	"passwd gives one of these accounts a new password, printed the same way.\n"
	"retire and reinstate mark a lot in the registry; the next sync applies it.\n"
	"\n"
	"Broker options (default: the [broker] section of -c FILE, the prefix from [mqtt]):\n"
	"  --host HOST  --port PORT  --admin-user NAME  --admin-password-file FILE\n"
	"  --cafile FILE  --cert FILE  --key FILE  --prefix PREFIX\n"
	"  --daemon NAME (repeatable; replaces [broker] daemons)\n";

enum {
	OPT_HOST = 1,
	OPT_PORT,
	OPT_USER,
	OPT_PWFILE,
	OPT_CA,
	OPT_CERT,
	OPT_KEY,
	OPT_PREFIX,
	OPT_DAEMON,
	OPT_DRY,
	OPT_CREDS,
	OPT_NOTE,
	OPT_OFFLINE
};

/* ---- settings ---- */

static int add_daemon(struct ctl_broker *b, const char *name, size_t len)
{
	char **n;

	for (size_t i = 0; i < b->n_daemons; i++)
		if (strlen(b->daemons[i]) == len && memcmp(b->daemons[i], name, len) == 0)
			return 0;
	n = realloc(b->daemons, (b->n_daemons + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	b->daemons = n;
	if (!(n[b->n_daemons] = strndup(name, len)))
		return -ENOMEM;
	b->n_daemons++;
	return 0;
}

static bool account_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-",
			    s[i]))
			return false;
	return true;
}

/* "a, b,c" -> daemons (the config loader already checked the names). */
static int split_daemons(struct ctl_broker *b, const char *list)
{
	for (const char *p = list; *p;) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n && add_daemon(b, p, n) < 0)
			return -ENOMEM;
		p += strcspn(p, ",");
	}
	return 0;
}

static bool prefix_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 200 && !strpbrk(s, "+#") && s[0] != '/' && s[0] != '$' &&
	       s[n - 1] != '/' && !strstr(s, "//");
}

void ctl__broker_args_free(struct ctl_broker_args *a)
{
	struct ctl_broker *b = &a->broker;

	if (b->password) {
		explicit_bzero(b->password, strlen(b->password));
		free(b->password);
	}
	for (size_t i = 0; i < b->n_daemons; i++)
		free(b->daemons[i]);
	free(b->daemons);
	pf_config_free(&a->cfg);
	memset(a, 0, sizeof(*a));
}

/* -c FILE's [broker] and [mqtt] topic_prefix under the command line's options. */
static int settings(const struct ctl_opts *o, struct ctl_broker_args *a)
{
	struct ctl_broker *b = &a->broker;
	char err[512];

	if (o->config && pf_config_load(&a->cfg, o->config, err, sizeof(err)) < 0) {
		ctl__err("%s", err);
		return 1;
	}
	b->host = b->host ? b->host : a->cfg.broker.host;
	b->port = b->port ? b->port : a->cfg.broker.port;
	b->username = b->username ? b->username : a->cfg.broker.username;
	b->cafile = b->cafile ? b->cafile : a->cfg.broker.tls_ca_file;
	b->certfile = b->certfile ? b->certfile : a->cfg.broker.tls_cert_file;
	b->keyfile = b->keyfile ? b->keyfile : a->cfg.broker.tls_key_file;
	b->prefix = b->prefix ? b->prefix : a->cfg.mqtt.topic_prefix;
	b->feed_prefix = a->cfg.feed.topic_prefix;
	if (!a->daemon_given && split_daemons(b, a->cfg.broker.daemons) < 0) {
		ctl__err("out of memory");
		return 1;
	}
	if (!prefix_ok(b->prefix)) {
		ctl__err("broker: topic prefix '%s' is not usable (topic levels without + or #, "
			 "not starting with $ or /)",
			 b->prefix);
		return 2;
	}
	return 0;
}

int ctl__broker_admin(struct ctl_broker_args *a)
{
	const char *file = a->password_file ? a->password_file : a->cfg.broker.password_file;
	char err[512];

	if (!a->broker.username || !a->broker.username[0]) {
		ctl__err("broker: no admin account: give --admin-user or [broker] username of -c "
			 "FILE (the account mosquitto_ctrl dynsec init created)");
		return 2;
	}
	if (!file || !file[0]) {
		ctl__err("broker: no admin password: give --admin-password-file or [broker] "
			 "password_file (a file holding only the password)");
		return 2;
	}
	a->broker.password = pf_config_read_secret(file, err, sizeof(err));
	if (!a->broker.password) {
		ctl__err("broker: admin password: %s", err);
		return 1;
	}
	return 0;
}

static int take_option(struct ctl_broker_args *a, int c, const char *arg)
{
	struct ctl_broker *b = &a->broker;
	long v;

	switch (c) {
	case OPT_HOST:
		b->host = arg;
		break;
	case OPT_PORT:
		if (ctl__parse_int(arg, 1, 65535, &v) < 0) {
			ctl__err("broker: --port '%s' is not a port number 1..65535", arg);
			return 2;
		}
		b->port = (int)v;
		break;
	case OPT_USER:
		b->username = arg;
		break;
	case OPT_PWFILE:
		a->password_file = arg;
		break;
	case OPT_CA:
		b->cafile = arg;
		break;
	case OPT_CERT:
		b->certfile = arg;
		break;
	case OPT_KEY:
		b->keyfile = arg;
		break;
	case OPT_PREFIX:
		b->prefix = arg;
		break;
	case OPT_DAEMON:
		if (!account_name_ok(arg, strlen(arg))) {
			ctl__err("broker: --daemon '%s' is not an account name (1..64 characters "
				 "A-Z a-z 0-9 . _ -)",
				 arg);
			return 2;
		}
		a->daemon_given = true;
		if (add_daemon(b, arg, strlen(arg)) < 0) {
			ctl__err("out of memory");
			return 1;
		}
		break;
	case OPT_DRY:
		a->dry_run = true;
		break;
	case OPT_CREDS:
		a->credentials_out = arg;
		break;
	case OPT_NOTE:
		a->note = arg;
		break;
	case OPT_OFFLINE:
		a->offline = arg;
		break;
	default:
		return 2;
	}
	return 0;
}

int ctl__broker_parse(const struct ctl_opts *o, int argc, char **argv, struct ctl_broker_args *a)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, OPT_HOST},
		{"port", required_argument, NULL, OPT_PORT},
		{"admin-user", required_argument, NULL, OPT_USER},
		{"admin-password-file", required_argument, NULL, OPT_PWFILE},
		{"cafile", required_argument, NULL, OPT_CA},
		{"cert", required_argument, NULL, OPT_CERT},
		{"key", required_argument, NULL, OPT_KEY},
		{"prefix", required_argument, NULL, OPT_PREFIX},
		{"daemon", required_argument, NULL, OPT_DAEMON},
		{"dry-run", no_argument, NULL, OPT_DRY},
		{"credentials-out", required_argument, NULL, OPT_CREDS},
		{"note", required_argument, NULL, OPT_NOTE},
		{"offline", required_argument, NULL, OPT_OFFLINE},
		{NULL, 0, NULL, 0},
	};
	int c, rc;

	memset(a, 0, sizeof(*a));
	pf_config_init(&a->cfg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			ctl__err("broker %s: unknown option or missing value: %s; see parkfeedctl "
				 "broker --help",
				 argv[0], argv[optind - 1]);
			return 2;
		}
		if ((rc = take_option(a, c, optarg)) != 0)
			return rc;
	}
	a->args = argv + optind;
	a->n_args = (size_t)(argc - optind);
	return settings(o, a);
}

int ctl__broker_connect(struct ctl_broker_args *a, struct ctl_dynsec **d)
{
	char err[512];
	int rc = a->broker.password ? 0 : ctl__broker_admin(a);

	if (rc)
		return rc;
	if (ctl__dynsec_open(d, &a->broker, err, sizeof(err)) < 0) {
		ctl__err("broker: %s", err);
		return 1;
	}
	return 0;
}

/* ---- passwords and where new ones go ---- */

int ctl__broker_password(char *out, size_t len, void *arg)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[64];
	size_t n = 0;

	(void)arg;
	while (n < len) {
		ssize_t got = getrandom(r, sizeof(r), 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		/* 248 = 4 * 62: drawing below it keeps every character equally likely */
		for (ssize_t i = 0; i < got && n < len; i++)
			if (r[i] < 248)
				out[n++] = alphabet[r[i] % 62];
	}
	out[len] = '\0';
	explicit_bzero(r, sizeof(r));
	return 0;
}

int ctl__creds_open(struct ctl_creds *c, const char *path)
{
	int fd;

	memset(c, 0, sizeof(*c));
	c->f = stdout;
	if (!path)
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ctl__err("--credentials-out %s: %s%s", path, strerror(errno),
			 errno == EEXIST ? " (it is never overwritten: move it away or name a new "
					   "file)"
					 : "");
		return -1;
	}
	c->f = fdopen(fd, "w");
	if (!c->f) {
		close(fd);
		unlink(path);
		ctl__err("--credentials-out %s: %s", path, strerror(errno));
		return -1;
	}
	c->path = path;
	return 0;
}

int ctl__creds_write(struct ctl_creds *c, const char *kind, const char *username,
		     const char *password)
{
	if (!c->lines)
		fputs("kind,username,client_id,password\n", c->f);
	fprintf(c->f, "%s,%s,%s,%s\n", kind, username, username, password);
	c->lines++;
	/* each line out at once: an account whose password is lost needs broker passwd */
	return c->deferred ? 0 : ctl__creds_sync(c);
}

int ctl__creds_sync(struct ctl_creds *c)
{
	if (fflush(c->f) != 0 || ferror(c->f) || (c->path && fdatasync(fileno(c->f)) != 0)) {
		ctl__err("writing credentials%s%s: %s", c->path ? " to " : "",
			 c->path ? c->path : "", strerror(errno));
		return -1;
	}
	return 0;
}

void ctl__creds_close(struct ctl_creds *c)
{
	if (!c->path)
		return;
	fclose(c->f);
	if (!c->lines)
		unlink(c->path); /* no new account: nothing to hand over */
	else
		fprintf(stderr, "parkfeedctl: %zu new password(s) written to %s (mode 0600)\n",
			c->lines, c->path);
}

/* ---- retire, reinstate ---- */

static int set_retired(const struct ctl_opts *o, struct ctl_broker_args *a, bool retire)
{
	const char *cmd = retire ? "retire" : "reinstate";
	PGconn *conn;
	PGresult *res;

	if (a->n_args != 1) {
		ctl__err("broker %s wants one LOT; see parkfeedctl broker --help", cmd);
		return 2;
	}
	if (retire && (!a->note || !a->note[0])) {
		ctl__err("broker retire: say why with --note TEXT (it goes into the audit trail)");
		return 2;
	}
	conn = ctl__connect(o);
	if (!conn)
		return 1;
	const char *p[4] = {a->args[0], retire ? "true" : "false", ctl__actor(), a->note};

	res = ctl__exec(conn, retire ? "broker retire" : "broker reinstate",
			"SELECT parking.set_retired($1, $2::boolean, $3, $4)", 4, p);
	if (res)
		printf("%s %s; parkfeedctl broker sync %s its broker account\n",
		       retire ? "retired" : "reinstated", a->args[0],
		       retire ? "disables" : "enables");
	PQclear(res);
	PQfinish(conn);
	return res ? 0 : 1;
}

/* ---- passwd ---- */

static int passwd_checked(struct ctl_dynsec *d, const char *user, const json_t *client,
			  struct ctl_creds *creds)
{
	char role[128], pw[PF_DYNSEC_PASSWORD_LEN + 1], err[512];
	json_t *cmd, *resp = NULL;
	const char *kind, *e;
	int rc = 1;

	snprintf(role, sizeof(role), PF_DYNSEC_LOT_ROLE_PREFIX "%s", user);
	kind = pf_dynsec_has_role(client, role)			   ? "lot"
	       : pf_dynsec_has_role(client, PF_DYNSEC_DAEMON_ROLE) ? "daemon"
								   : NULL;
	if (!kind) {
		ctl__err("broker passwd: %s is not a lot's or a daemon's account; change its "
			 "password with mosquitto_ctrl",
			 user);
		return 1;
	}
	if (ctl__broker_password(pw, PF_DYNSEC_PASSWORD_LEN, NULL) < 0) {
		ctl__err("broker passwd: no random numbers: %s", strerror(errno));
		return 1;
	}
	cmd = json_pack("[{s:s, s:s, s:s}]", "command", "setClientPassword", "username", user,
			"password", pw);
	if (!cmd || ctl__dynsec_call(d, cmd, &resp, err, sizeof(err)) < 0)
		ctl__err("broker passwd: %s", cmd ? err : "out of memory");
	else if ((e = json_string_value(json_object_get(json_array_get(resp, 0), "error"))))
		ctl__err("broker passwd: %s: %s", user, e);
	else
		rc = ctl__creds_write(creds, kind, user, pw) < 0;
	explicit_bzero(pw, sizeof(pw));
	json_decref(cmd);
	json_decref(resp);
	return rc;
}

static int passwd(struct ctl_broker_args *a)
{
	struct ctl_dynsec *d = NULL;
	struct ctl_creds creds;
	json_t *cmd, *resp = NULL;
	char err[512];
	int rc;

	if (a->n_args != 1 || !account_name_ok(a->args[0], strlen(a->args[0]))) {
		ctl__err("broker passwd wants one ACCOUNT (a lot id or a daemon's account)");
		return 2;
	}
	if ((rc = ctl__broker_connect(a, &d)) != 0)
		return rc;
	if (ctl__creds_open(&creds, a->credentials_out) < 0) {
		ctl__dynsec_close(d);
		return 1;
	}
	rc = 1;
	cmd = json_pack("[{s:s, s:s}]", "command", "getClient", "username", a->args[0]);
	if (!cmd || ctl__dynsec_call(d, cmd, &resp, err, sizeof(err)) < 0) {
		ctl__err("broker passwd: %s", cmd ? err : "out of memory");
	} else {
		json_t *r = json_array_get(resp, 0);
		json_t *c = json_object_get(json_object_get(r, "data"), "client");

		if (!c)
			ctl__err("broker passwd: the broker has no client %s (%s); broker sync "
				 "creates the accounts of registered lots",
				 a->args[0],
				 json_string_value(json_object_get(r, "error")) ?: "not found");
		else
			rc = passwd_checked(d, a->args[0], c, &creds);
	}
	json_decref(cmd);
	json_decref(resp);
	ctl__creds_close(&creds);
	ctl__dynsec_close(d);
	return rc;
}

static int run(const struct ctl_opts *o, const char *sub, struct ctl_broker_args *a)
{
	if (a->offline && strcmp(sub, "sync") != 0) {
		ctl__err("broker %s: --offline is for broker sync only", sub);
		return 2;
	}
	if (strcmp(sub, "passwd") == 0)
		return passwd(a);
	if (strcmp(sub, "retire") == 0 || strcmp(sub, "reinstate") == 0)
		return set_retired(o, a, strcmp(sub, "retire") == 0);
	if (a->n_args) {
		ctl__err("broker sync: unexpected argument '%s'", a->args[0]);
		return 2;
	}
	if (a->credentials_out && a->dry_run) {
		ctl__err("broker sync: --dry-run creates no account, so no --credentials-out");
		return 2;
	}
	return a->offline ? ctl__broker_sync_offline(o, a) : ctl__broker_sync(o, a);
}

int ctl_broker(const struct ctl_opts *o, int argc, char **argv)
{
	struct ctl_broker_args a;
	const char *sub;
	int rc;

	if (ctl__wants_help(argc, argv) || argc < 2) {
		fputs(broker_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "sync") && strcmp(sub, "passwd") && strcmp(sub, "retire") &&
	    strcmp(sub, "reinstate")) {
		ctl__err("broker: unknown subcommand '%s'; see parkfeedctl broker --help", sub);
		return 2;
	}
	rc = ctl__broker_parse(o, argc - 1, argv + 1, &a);
	if (rc == 0)
		rc = run(o, sub, &a);
	ctl__broker_args_free(&a);
	return rc;
}
