/* broker sync --offline: the registry's accounts written straight into the plugin's file. */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_broker.h"
#include "pf_dynsec.h"

/*
 * A running plugin rewrites its whole file after every command that changes something, so a
 * live first sync of N lots costs O(N^2) and stalls the broker (docs/benchmarks.md). With the
 * broker stopped the same plan is applied to the file in memory and the file written once.
 * mosquitto reads the file only when it starts and overwrites it from memory at its next
 * change, so a broker that has loaded it must be stopped first: checked before anything is
 * read and again just before the rename, and the rename is refused if the file changed in
 * between (the plugin too replaces it by renaming a new file over it).
 */

static int random_bytes(unsigned char *out, size_t len, void *arg)
{
	size_t n = 0;

	(void)arg;
	while (n < len) {
		ssize_t got = getrandom(out + n, len - n, 0);

		if (got < 0 && errno != EINTR)
			return -errno;
		n += got > 0 ? (size_t)got : 0;
	}
	return 0;
}

static bool broker_stopped(const char *path)
{
	char why[PATH_MAX + 200];
	pid_t pid = 0;
	int rc = ctl__mosquitto_using(path, &pid, why, sizeof(why));

	if (rc > 0)
		ctl__err("broker sync --offline: mosquitto (pid %d) has loaded %s: stop it first "
			 "(systemctl stop mosquitto); it keeps the accounts in memory and would "
			 "overwrite the file at its next change",
			 (int)pid, path);
	else if (rc < 0 && pid)
		ctl__err("broker sync --offline: cannot tell whether mosquitto (pid %d) has loaded "
			 "%s: %s; run as root, or stop that broker",
			 (int)pid, path, why);
	else if (rc < 0)
		ctl__err("broker sync --offline: %s", why);
	return rc == 0;
}

/* Read and check the state file; st is what was read (for the check before the rename). */
static int load(const char *path, struct pf_dynsec_file *f, struct stat *st)
{
	char err[400];
	json_error_t jerr;
	json_t *root;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, st) < 0) {
		ctl__err("broker sync --offline: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode) || st->st_size == 0) {
		close(fd);
		ctl__err("broker sync --offline: %s is %s: mosquitto would start from it without "
			 "any account; create the file with mosquitto_ctrl dynsec init FILE ADMIN",
			 path, S_ISREG(st->st_mode) ? "empty" : "not a regular file");
		return -1;
	}
	root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	close(fd);
	if (!root) {
		ctl__err("broker sync --offline: %s is not the dynamic-security plugin's file, or "
			 "is damaged: line %d: %s (mosquitto would start from it without any "
			 "account); nothing written",
			 path, jerr.line, jerr.text);
		return -1;
	}
	if (pf_dynsec_file_open(f, root, err, sizeof(err)) < 0) {
		ctl__err("broker sync --offline: %s: %s; nothing written", path, err);
		return -1;
	}
	return 0;
}

static int write_all(int fd, const char *text, size_t len)
{
	while (len) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The file as it was read, still: the same inode, size and modification time. */
static bool unchanged(const char *path, const struct stat *was)
{
	struct stat now;

	return stat(path, &now) == 0 && now.st_dev == was->st_dev && now.st_ino == was->st_ino &&
	       now.st_size == was->st_size && now.st_mtim.tv_sec == was->st_mtim.tv_sec &&
	       now.st_mtim.tv_nsec == was->st_mtim.tv_nsec;
}

static int sync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd, rc;

	snprintf(copy, sizeof(copy), "%s", path);
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static void report(const char *path, const char *step, int err)
{
	ctl__err("broker sync --offline: %s: %s: %s%s", path, step, strerror(err),
		 err == EPERM || err == EACCES ? " (run as root, or as the file's owner)" : "");
}

/* The new file's bytes, owner and mode, on disk; NULL, or the step that failed (errno). */
static const char *fill(int fd, const char *text, const struct stat *old)
{
	if (write_all(fd, text, strlen(text)) < 0)
		return "writing";
	if ((old->st_uid != geteuid() || old->st_gid != getegid()) &&
	    fchown(fd, old->st_uid, old->st_gid) < 0)
		return "giving the new file the old one's owner";
	if (fchmod(fd, old->st_mode & 07777) < 0)
		return "giving the new file the old one's mode";
	return fsync(fd) < 0 ? "syncing" : NULL;
}

/* A new file beside the old one, renamed over it. */
static int replace(const char *path, const char *text, const struct stat *old)
{
	char tmp[PATH_MAX + 8];
	const char *step;
	int fd, err;

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		report(path, "creating a file beside it", errno);
		return -1;
	}
	step = fill(fd, text, old);
	err = errno;
	if (close(fd) < 0 && !step) {
		step = "closing the new file";
		err = errno;
	}
	if (!step && (!broker_stopped(path) || !unchanged(path, old))) {
		unlink(tmp);
		ctl__err("broker sync --offline: %s changed while parkfeedctl worked on it, or a "
			 "broker has loaded it since: nothing written; stop the broker and run "
			 "again",
			 path);
		return -1;
	}
	if (!step && rename(tmp, path) < 0) {
		step = "renaming the new file over it";
		err = errno;
	}
	if (step) {
		unlink(tmp);
		report(path, step, err);
		return -1;
	}
	if (sync_dir(path) < 0)
		ctl__err("broker sync --offline: warning: %s is written, but syncing its directory "
			 "failed (%s): a power cut now could bring the old file back",
			 path, strerror(errno));
	return 0;
}

/* Every step applied to the file; new passwords to creds (not yet on their way out). */
static int apply_plan(struct pf_dynsec_file *f, const struct pf_dynsec_plan *p,
		      struct ctl_creds *creds, size_t *failures)
{
	for (size_t i = 0; i < p->n_steps; i++) {
		const struct pf_dynsec_step *s = &p->steps[i];
		const char *why = NULL;
		int rc = pf_dynsec_file_apply(f, s->command, random_bytes, NULL, &why);

		if (rc < 0) {
			ctl__err("broker sync --offline: %s: %s", s->what, strerror(-rc));
			return -1;
		}
		if (rc > 0) {
			ctl__err("broker sync --offline: %s: %s", s->what, why);
			++*failures;
		} else if (s->password &&
			   ctl__creds_write(creds, s->account == PF_DYNSEC_LOT ? "lot" : "daemon",
					    s->username, s->password) < 0) {
			return -1;
		}
	}
	return 0;
}

/*
 * The passwords go out (and to disk) before the file is replaced: a password printed for an
 * account that then failed to be written is only a wasted line, an account whose password
 * was lost would need broker passwd on the running broker.
 */
static int apply_and_write(struct ctl_sync *s, const struct ctl_broker_args *a,
			   struct pf_dynsec_file *f, const char *path, const struct stat *st)
{
	struct ctl_creds creds;
	size_t failures = 0;
	char tail[PATH_MAX + 200], *text = NULL;
	bool written = false;

	if (s->plan.n_steps == 0) {
		snprintf(tail, sizeof(tail), "nothing to change, %s left as it was", path);
		ctl__sync_summary(s, a, tail);
		return s->plan.n_conflicts > 0;
	}
	if (ctl__creds_open(&creds, a->credentials_out) < 0)
		return 1;
	creds.deferred = true;
	if (apply_plan(f, &s->plan, &creds, &failures) < 0 || ctl__creds_sync(&creds) < 0)
		goto out;
	if (!(text = pf_dynsec_file_dump(f))) {
		ctl__err("broker sync --offline: out of memory");
		goto out;
	}
	if (replace(path, text, st) < 0)
		goto out;
	written = true;
	snprintf(tail, sizeof(tail), "%zu command(s) applied to %s (%zu bytes), %.1f s%s",
		 s->plan.n_steps - failures, path, strlen(text), ctl__sync_seconds(s),
		 failures ? ", with failures (see above)" : "");
	ctl__sync_summary(s, a, tail);
out:
	if (!written && creds.lines && creds.path) {
		ctl__err("broker sync --offline: no account was written, so %s is removed",
			 creds.path);
		creds.lines = 0;
	} else if (!written && creds.lines) {
		ctl__err(
			"broker sync --offline: no account was written: discard the %zu password(s) "
			"printed above",
			creds.lines);
	}
	ctl__creds_close(&creds);
	free(text);
	return !written || s->plan.n_conflicts > 0 || failures > 0;
}

int ctl__broker_sync_offline(const struct ctl_opts *o, struct ctl_broker_args *a)
{
	struct pf_dynsec_file f = {0};
	char path[PATH_MAX];
	struct ctl_sync s;
	struct stat st;
	int rc;

	if (!realpath(a->offline, path)) {
		ctl__err("broker sync --offline: %s: %s%s", a->offline, strerror(errno),
			 errno == ENOENT ? " (create it with mosquitto_ctrl dynsec init FILE ADMIN)"
					 : "");
		return 1;
	}
	/* a dry run changes nothing, so it may look at the file of a running broker */
	if (!a->dry_run && !broker_stopped(path))
		return 1;
	rc = ctl__sync_begin(o, a, &s);
	if (rc == 0 && load(path, &f, &st) < 0)
		rc = 1;
	if (rc == 0 && (rc = ctl__sync_plan(&s, a, f.clients, f.roles)) == 0 && !a->dry_run)
		rc = apply_and_write(&s, a, &f, path, &st);
	pf_dynsec_file_free(&f);
	ctl__sync_end(&s);
	return rc;
}
