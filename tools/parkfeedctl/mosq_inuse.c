/* Whether a mosquitto running on this host has loaded a given dynamic-security file (/proc). */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_broker.h"

/*
 * mosquitto 2.0's plugin reads its file once, when the broker starts, and from then on
 * rewrites it whole from memory after every change: a file changed under a running broker is
 * not seen, and is overwritten by the next change. mosquitto takes no lock on the file and,
 * in the foreground (as systemd runs it), writes no pid file. So look at every mosquitto
 * process: the file named by -c, the files of its include_dir, and their
 * plugin_opt_config_file lines, each path resolved as that process sees it
 * (/proc/PID/root, /proc/PID/cwd), so that a broker in a container is found too. Those two are
 * open only to root and the process's owner; to anyone else the absolute paths are taken as
 * they look from here (a broker of another user on this host shares our root).
 */
#define MAX_INCLUDE_DEPTH 3

struct probe {
	pid_t pid;
	bool direct;	  /* /proc/PID/root is closed to us: paths as we see them */
	struct stat want; /* the file asked about */
	char *why;	  /* when it cannot be told: what stood in the way */
	size_t whylen;
};

/* A path of the process's as we can open it; -1 when we cannot. */
static int as_seen_by(struct probe *p, char *out, size_t len, const char *path)
{
	if (!p->direct) {
		snprintf(out, len, "/proc/%d/%s/%s", (int)p->pid, path[0] == '/' ? "root" : "cwd",
			 path);
		return 0;
	}
	if (path[0] != '/') {
		snprintf(p->why, p->whylen,
			 "it names %s relative to its working directory, which this user cannot "
			 "see",
			 path);
		return -1;
	}
	snprintf(out, len, "%s", path);
	return 0;
}

/* 1 when path is the file asked about, 0 when not, -1 when it cannot be told. */
static int is_wanted(struct probe *p, const char *path)
{
	char seen[PATH_MAX + 64];
	struct stat st;

	if (as_seen_by(p, seen, sizeof(seen), path) < 0)
		return -1;
	if (stat(seen, &st) == 0)
		return st.st_dev == p->want.st_dev && st.st_ino == p->want.st_ino;
	if (errno == ENOENT)
		return 0;
	snprintf(p->why, p->whylen, "its plugin_opt_config_file %s: %s", path, strerror(errno));
	return -1;
}

static int scan_conf(struct probe *p, const char *path, int depth);

/* include_dir: its files ending in .conf, as mosquitto reads them. */
static int scan_dir(struct probe *p, const char *dir, int depth)
{
	char seen[PATH_MAX + 64], file[PATH_MAX];
	struct dirent *e;
	int rc = 0;
	DIR *d;

	if (as_seen_by(p, seen, sizeof(seen), dir) < 0)
		return -1;
	if (!(d = opendir(seen))) {
		snprintf(p->why, p->whylen, "cannot read its include_dir %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (n > 5 && strcmp(e->d_name + n - 5, ".conf") == 0) {
			snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
			rc = scan_conf(p, file, depth + 1);
		}
	}
	closedir(d);
	return rc;
}

/* One line: 1 when it loads the file, -1 when it cannot be told, else 0. */
static int scan_line(struct probe *p, char *line, int depth)
{
	char *key = line + strspn(line, " \t"), *val, *end;

	if (*key == '#' || !*key)
		return 0;
	val = key + strcspn(key, " \t");
	if (*val)
		*val++ = '\0';
	val += strspn(val, " \t");
	end = val + strlen(val);
	while (end > val && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (!*val)
		return 0;
	if (strcmp(key, "plugin_opt_config_file") == 0 || strcmp(key, "auth_opt_config_file") == 0)
		return is_wanted(p, val);
	if (strcmp(key, "include_dir") == 0 && depth < MAX_INCLUDE_DEPTH)
		return scan_dir(p, val, depth);
	return 0;
}

static int scan_conf(struct probe *p, const char *path, int depth)
{
	char seen[PATH_MAX + 64], *line = NULL;
	size_t cap = 0;
	int rc = 0;
	FILE *f;

	if (as_seen_by(p, seen, sizeof(seen), path) < 0)
		return -1;
	if (!(f = fopen(seen, "re"))) {
		snprintf(p->why, p->whylen, "cannot read its configuration %s: %s", path,
			 strerror(errno));
		return -1;
	}
	while (rc == 0 && getline(&line, &cap, f) > 0)
		rc = scan_line(p, line, depth);
	free(line);
	fclose(f);
	return rc;
}

/* The -c FILE (or --config-file FILE) of the process's command line, copied into out. */
static bool config_arg(pid_t pid, char *out, size_t len)
{
	char path[64], buf[8192];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *a = buf; a < buf + n; a += strlen(a) + 1) {
		char *next = a + strlen(a) + 1;

		if ((strcmp(a, "-c") == 0 || strcmp(a, "--config-file") == 0) && next < buf + n) {
			snprintf(out, len, "%s", next);
			return true;
		}
	}
	return false;
}

static bool is_mosquitto(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (!(f = fopen(path, "re")))
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strcmp(comm, "mosquitto\n") == 0;
}

int ctl__mosquitto_using(const char *file, pid_t *pid, char *why, size_t whylen)
{
	struct probe p = {.why = why, .whylen = whylen};
	char conf[PATH_MAX], root[64];
	struct dirent *e;
	int rc = 0;
	DIR *proc;

	if (stat(file, &p.want) < 0 || !(proc = opendir("/proc"))) {
		snprintf(why, whylen, "%s: %s", file, strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(proc))) {
		char *end;
		long n = strtol(e->d_name, &end, 10);

		if (*end || n <= 0 || !is_mosquitto((pid_t)n))
			continue;
		p.pid = (pid_t)n;
		snprintf(root, sizeof(root), "/proc/%d/root/", (int)p.pid);
		p.direct = access(root, X_OK) < 0 && errno == EACCES;
		if (config_arg(p.pid, conf, sizeof(conf)))
			rc = scan_conf(&p, conf, 0);
		if (rc < 0 && kill(p.pid, 0) < 0 && errno == ESRCH)
			rc = 0; /* it exited meanwhile */
	}
	closedir(proc);
	*pid = p.pid;
	return rc;
}
