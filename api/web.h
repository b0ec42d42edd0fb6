/* The web page's files, read into memory from [web] root at start and on SIGHUP (web.c). */
#ifndef API_WEB_H
#define API_WEB_H

#include <stddef.h>

#include "rc.h"
#include "snapshot.h"

#define WEB_MAX_FILES 512
#define WEB_MAX_FILE_BYTES (4 * 1024 * 1024)
#define WEB_MAX_TOTAL_BYTES (16 * 1024 * 1024)
#define WEB_MAX_DEPTH 4

struct web_file {
	char *path;	       /* relative to the root, '/'-separated, e.g. "js/map.js" */
	const char *type;      /* Content-Type */
	struct api_body *body; /* content, gzip form, ETag */
};

struct web_files {
	struct rc rc;
	char *root;
	struct web_file *files; /* sorted by path */
	size_t n;
	char problem[256]; /* why the root could not be read, "" when it was */
};

/* Read every regular file under root (names of A-Z a-z 0-9 . _ - only, no dot files), with
 * the limits above (what is over them is left out and logged). Never NULL but when out of
 * memory; a missing root gives an empty set with problem set. */
struct web_files *web__load(const char *root);
const struct web_file *web__find(const struct web_files *w, const char *path);
/* Content-Type from a file name's extension. */
const char *web__type(const char *name);

#endif
