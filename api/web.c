/*
 * Static files. Everything under [web] root is read into memory once (and again on SIGHUP),
 * with its ETag and gzip form, so serving a file touches no disk, needs no path handling of a
 * client's bytes beyond a lookup in a sorted table, and works in the unit's read-only sandbox.
 */
#include "web.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpx.h"
#include "pf_ini.h"
#include "pf_log.h"

static const struct {
	const char *ext, *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json"},
	{".webmanifest", "application/manifest+json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".jpg", "image/jpeg"},
	{".jpeg", "image/jpeg"},
	{".gif", "image/gif"},
	{".webp", "image/webp"},
	{".ico", "image/x-icon"},
	{".woff2", "font/woff2"},
	{".woff", "font/woff"},
	{".txt", "text/plain; charset=utf-8"},
	{".map", "application/json"},
};

const char *web__type(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && strcmp(name + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

static bool plain_name(const char *s)
{
	if (s[0] == '.' || !s[0])
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

struct loader {
	struct web_files *w;
	size_t cap, total;
	bool oom;
};

static void add_file(struct loader *ld, const char *full, const char *rel)
{
	struct web_files *w = ld->w;
	char *data = NULL;
	size_t len = 0;
	int rc;

	if (w->n == WEB_MAX_FILES) {
		pf_warn("web: more than %d files under %s; %s and later ones are left out",
			WEB_MAX_FILES, w->root, rel);
		return;
	}
	rc = pf_ini_read_file(full, WEB_MAX_FILE_BYTES, &data, &len);
	if (rc < 0) {
		pf_warn("web: cannot read %s: %s; left out", full,
			rc == -EFBIG ? "larger than 4 MiB" : strerror(-rc));
		return;
	}
	if (ld->total + len > WEB_MAX_TOTAL_BYTES) {
		pf_warn("web: the files under %s pass 16 MiB; %s is left out", w->root, rel);
		free(data);
		return;
	}
	if (w->n == ld->cap) {
		size_t cap = ld->cap ? ld->cap * 2 : 32;
		struct web_file *f = realloc(w->files, cap * sizeof(*f));

		if (!f) {
			free(data);
			ld->oom = true;
			return;
		}
		w->files = f;
		ld->cap = cap;
	}
	w->files[w->n].path = strdup(rel);
	w->files[w->n].type = web__type(rel);
	w->files[w->n].body = http__body(data, len, true);
	if (!w->files[w->n].path || !w->files[w->n].body) {
		free(w->files[w->n].path);
		if (w->files[w->n].body)
			rc__unref(&w->files[w->n].body->rc);
		ld->oom = true;
		return;
	}
	ld->total += len;
	w->n++;
}

static void walk(struct loader *ld, const char *dir, const char *rel, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		if (depth == 0)
			snprintf(ld->w->problem, sizeof(ld->w->problem), "cannot read %s: %s", dir,
				 strerror(errno));
		return;
	}
	while ((e = readdir(d)) && !ld->oom) {
		char full[4096], sub[1024];
		struct stat st;

		if (!plain_name(e->d_name))
			continue;
		if (snprintf(full, sizeof(full), "%s/%s", dir, e->d_name) >= (int)sizeof(full) ||
		    snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
			    (int)sizeof(sub))
			continue;
		/* stat, not lstat: the page's libraries are symbolic links into the packages
		 * that ship them (libjs-leaflet, libjs-chart.js). One that leads nowhere means
		 * such a package is missing, which the log must say. */
		if (stat(full, &st) < 0) {
			pf_warn("web: cannot read %s: %s (a symbolic link into a package that is "
				"not installed?); left out",
				full, strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode) && depth < WEB_MAX_DEPTH)
			walk(ld, full, sub, depth + 1);
		else if (S_ISDIR(st.st_mode))
			pf_warn("web: %s is more than %d directories deep; left out", full,
				WEB_MAX_DEPTH);
		else if (S_ISREG(st.st_mode))
			add_file(ld, full, sub);
	}
	closedir(d);
}

static void destroy(struct rc *r)
{
	struct web_files *w = rc__of(r, struct web_files, rc);

	for (size_t i = 0; i < w->n; i++) {
		free(w->files[i].path);
		rc__unref(&w->files[i].body->rc);
	}
	free(w->files);
	free(w->root);
	free(w);
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct web_file *)a)->path, ((const struct web_file *)b)->path);
}

struct web_files *web__load(const char *root)
{
	struct web_files *w = calloc(1, sizeof(*w));
	struct loader ld = {.w = w};

	if (!w)
		return NULL;
	rc__init(&w->rc, destroy);
	w->root = strdup(root);
	if (!w->root) {
		free(w);
		return NULL;
	}
	walk(&ld, root, "", 0);
	if (ld.oom) {
		rc__unref(&w->rc);
		return NULL;
	}
	if (w->n)
		qsort(w->files, w->n, sizeof(*w->files), path_cmp);
	return w;
}

const struct web_file *web__find(const struct web_files *w, const char *path)
{
	struct web_file key = {.path = (char *)path};

	if (!w->n)
		return NULL;
	return bsearch(&key, w->files, w->n, sizeof(*w->files), path_cmp);
}
