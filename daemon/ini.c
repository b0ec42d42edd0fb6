/* Table-driven INI files: one table entry per key, parsed with inih, errors as FILE:LINE. */
#include "pf_ini.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INI_MAX_FILE (1024 * 1024) /* a config file is a few KiB; refuse anything huge */
#define INI_ERR_MAX 512

/* Parser state. inih calls the reader once per line: the reader's count is the handler's line. */
struct pf_ini_ctx {
	const struct pf_ini_schema *s;
	void *obj;
	void *hook_arg;
	const char *path;
	const char *buf;
	size_t len, pos;
	int lineno;
	bool section_known; /* of the last [section] line handed out */
	bool failed;
	int err_line; /* of the first error; 0 for one that has no line */
	char err[INI_ERR_MAX];
	int *line_of; /* where each key was set, 0 = default */
	bool oom;
};

static void *field_ptr(void *obj, const struct pf_ini_key *k)
{
	return (char *)obj + k->offset;
}

static const void *cfield_ptr(const void *obj, const struct pf_ini_key *k)
{
	return (const char *)obj + k->offset;
}

/* Keep only the first error: it is the one ini_parse_stream's return value refers to. */
void pf_ini_fail(struct pf_ini_ctx *c, int line, const char *fmt, ...)
{
	va_list ap;

	if (c->failed && c->err_line <= line)
		return;
	c->failed = true;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->err_line = line;
}

void pf_ini_fail_oom(struct pf_ini_ctx *c)
{
	c->oom = true;
	pf_ini_fail(c, c->lineno, "%s:%d: out of memory", c->path, c->lineno);
}

const char *pf_ini_path(const struct pf_ini_ctx *c)
{
	return c->path;
}

int pf_ini_lineno(const struct pf_ini_ctx *c)
{
	return c->lineno;
}

int pf_ini_key_line(const struct pf_ini_ctx *c, const struct pf_ini_key *k)
{
	return c->line_of[k - c->s->keys];
}

void *pf_ini_hook_arg(const struct pf_ini_ctx *c)
{
	return c->hook_arg;
}

/* Edit distance counting a swap of neighbours as one edit ("hots" -> "host"); names are short. */
static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int rows[3][64], *r2, *r1, *r0;

	if (la >= 64 || lb >= 64)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		rows[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		r0 = rows[i % 3];
		r1 = rows[(i + 2) % 3];
		r2 = rows[(i + 1) % 3];
		r0[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int best = r1[j - 1] + (a[i - 1] != b[j - 1]);

			if (r1[j] + 1 < best)
				best = r1[j] + 1;
			if (r0[j - 1] + 1 < best)
				best = r0[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    r2[j - 2] + 1 < best)
				best = r2[j - 2] + 1;
			r0[j] = best;
		}
	}
	return rows[la % 3][lb];
}

static bool close_enough(const char *typed, const char *known)
{
	int d = edit_distance(typed, known);

	return strcasecmp(typed, known) == 0 || d <= (strlen(known) < 6 ? 1 : 2);
}

static bool section_known(const struct pf_ini_schema *s, const char *name)
{
	for (size_t i = 0; i < s->n_sections; i++)
		if (strcmp(name, s->sections[i]) == 0)
			return true;
	return false;
}

const struct pf_ini_key *pf_ini_find(const struct pf_ini_schema *s, const char *section,
				     const char *name)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (strcmp(s->keys[i].section, section) == 0 && strcmp(s->keys[i].name, name) == 0)
			return &s->keys[i];
	return NULL;
}

static void append(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}
static void fail_unknown_section(struct pf_ini_ctx *c, const char *name)
{
	char hint[256] = "";

	for (size_t i = 0; i < c->s->n_sections; i++)
		if (close_enough(name, c->s->sections[i])) {
			snprintf(hint, sizeof(hint), "did you mean [%s]?", c->s->sections[i]);
			break;
		}
	if (!hint[0]) {
		append(hint, sizeof(hint), "allowed:");
		for (size_t i = 0; i < c->s->n_sections; i++)
			append(hint, sizeof(hint), "%s [%s]", i ? "," : "", c->s->sections[i]);
	}
	pf_ini_fail(c, c->lineno, "%s:%d: [%s]: unknown section (%s)", c->path, c->lineno, name,
		    hint);
}

static void fail_unknown_key(struct pf_ini_ctx *c, const char *section, const char *name)
{
	char hint[INI_ERR_MAX / 2] = "";

	for (size_t i = 0; i < c->s->n_keys && !hint[0]; i++)
		if (strcmp(c->s->keys[i].section, section) == 0 &&
		    close_enough(name, c->s->keys[i].name))
			snprintf(hint, sizeof(hint), "did you mean %s?", c->s->keys[i].name);
	for (size_t i = 0; i < c->s->n_keys && !hint[0]; i++)
		if (strcmp(c->s->keys[i].name, name) == 0)
			snprintf(hint, sizeof(hint), "it belongs in [%s]", c->s->keys[i].section);
	if (!hint[0] && !section[0])
		snprintf(hint, sizeof(hint), "put it under its [section]");
	if (!hint[0]) {
		append(hint, sizeof(hint), "allowed:");
		for (size_t i = 0, n = 0; i < c->s->n_keys; i++)
			if (strcmp(c->s->keys[i].section, section) == 0)
				append(hint, sizeof(hint), "%s %s", n++ ? "," : "",
				       c->s->keys[i].name);
	}
	if (!section[0])
		pf_ini_fail(c, c->lineno, "%s:%d: %s: key outside of any section (%s)", c->path,
			    c->lineno, name, hint);
	else
		pf_ini_fail(c, c->lineno, "%s:%d: [%s] %s: unknown key (%s)", c->path, c->lineno,
			    section, name, hint);
}

/* Whole decimal number, nothing else: "1e3", "0x10", "3.5" and " 3" are refused. */
bool pf_ini_parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s[0] || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool parse_size(const char *s, int64_t *out)
{
	static const char suffixes[] = "KMGT";
	char num[32], last;
	size_t n = strlen(s);
	int64_t v, mult = 1;

	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, s, n + 1);
	last = (char)toupper((unsigned char)num[n - 1]);
	if (isalpha((unsigned char)last)) {
		const char *p = strchr(suffixes, last);

		if (!p)
			return false;
		for (const char *q = suffixes; q <= p; q++)
			mult *= 1024;
		num[n - 1] = '\0';
	}
	if (!pf_ini_parse_int64(num, &v) || v < 0 || v > INT64_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

/* Bytes as the shortest exact spelling: 1073741824 -> "1G". */
void pf_ini_format_size(int64_t v, char *buf, size_t size)
{
	static const char suffixes[] = "KMGT";
	int i = -1;

	while (i < 3 && v != 0 && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, size, "%lld", (long long)v);
	else
		snprintf(buf, size, "%lld%c", (long long)v, suffixes[i]);
}

static void list_choices(const struct pf_ini_key *k, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; k->choices[i]; i++)
		append(buf, size, "%s%s", i ? ", " : "", k->choices[i]);
}

static int set_string(void *obj, const struct pf_ini_key *k, const char *v, char *why,
		      size_t whylen)
{
	char **field = field_ptr(obj, k);
	char *copy;

	if ((int64_t)strlen(v) < k->min) {
		snprintf(why, whylen, "must not be empty");
		return -EINVAL;
	}
	if (k->check && k->check(v, why, whylen) < 0)
		return -EINVAL;
	copy = strdup(v);
	if (!copy) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

/*
 * Apply one value to the field behind k. On error returns a negative errno and says in `why`
 * what is wrong, in the words of the file ("3 is out of range (5..3600)").
 */
static int set_value(void *obj, const struct pf_ini_key *k, const char *v, char *why, size_t whylen)
{
	char lo[32], hi[32], list[128];
	int64_t n;

	switch (k->type) {
	case PF_INI_STRING:
		return set_string(obj, k, v, why, whylen);
	case PF_INI_INT:
		if (!pf_ini_parse_int64(v, &n)) {
			snprintf(why, whylen, "\"%s\" is not a whole number (allowed: %lld..%lld)",
				 v, (long long)k->min, (long long)k->max);
			return -EINVAL;
		}
		if (n < k->min || n > k->max) {
			snprintf(why, whylen, "%s is out of range (%lld..%lld)", v,
				 (long long)k->min, (long long)k->max);
			return -ERANGE;
		}
		*(int *)field_ptr(obj, k) = (int)n;
		return 0;
	case PF_INI_SIZE:
		pf_ini_format_size(k->min, lo, sizeof(lo));
		pf_ini_format_size(k->max, hi, sizeof(hi));
		if (!parse_size(v, &n)) {
			snprintf(why, whylen,
				 "\"%s\" is not a size (allowed: %s..%s, bytes with an optional K, "
				 "M, G or T suffix)",
				 v, lo, hi);
			return -EINVAL;
		}
		if (n < k->min || n > k->max) {
			snprintf(why, whylen, "%s is out of range (%s..%s)", v, lo, hi);
			return -ERANGE;
		}
		*(int64_t *)field_ptr(obj, k) = n;
		return 0;
	case PF_INI_BOOL:
	case PF_INI_ENUM:
		for (int i = 0; k->choices[i]; i++) {
			if (strcmp(v, k->choices[i]) != 0)
				continue;
			if (k->type == PF_INI_BOOL)
				*(bool *)field_ptr(obj, k) = i == 1;
			else
				*(int *)field_ptr(obj, k) = i;
			return 0;
		}
		list_choices(k, list, sizeof(list));
		snprintf(why, whylen, "\"%s\" is not allowed (allowed: %s)", v, list);
		return -EINVAL;
	}
	return -EINVAL;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct pf_ini_ctx *c = user;
	const struct pf_ini_key *k;
	char why[INI_ERR_MAX / 2];
	int rc;

	if (section[0] && !c->section_known)
		return 1; /* already reported at the [section] line */
	if (!name[0]) {
		pf_ini_fail(c, c->lineno, "%s:%d: [%s]: missing key name before '='", c->path,
			    c->lineno, section);
		return 0;
	}
	if (c->s->free_section && strcmp(section, c->s->free_section) == 0)
		return c->s->free_key(c, c->obj, name, value) == 0;
	k = pf_ini_find(c->s, section, name);
	if (!k) {
		fail_unknown_key(c, section, name);
		return 0;
	}
	if (c->line_of[k - c->s->keys]) {
		pf_ini_fail(c, c->lineno, "%s:%d: [%s] %s: duplicate key (first set on line %d)",
			    c->path, c->lineno, section, name, c->line_of[k - c->s->keys]);
		return 0;
	}
	c->line_of[k - c->s->keys] = c->lineno;
	rc = set_value(c->obj, k, value, why, sizeof(why));
	if (rc < 0) {
		c->oom |= rc == -ENOMEM;
		pf_ini_fail(c, c->lineno, "%s:%d: [%s] %s: %s", c->path, c->lineno, section, name,
			    why);
		return 0;
	}
	return 1;
}
/*
 * fgets-style reader over the file in memory. It hands inih one whole line per call (so our
 * line count is inih's), drops leading blanks (inih would otherwise take an indented line as
 * the continuation of the previous value), and checks what inih cannot report by itself:
 * unknown section names and lines longer than its fixed buffer (it would silently cut them).
 */
static char *reader(char *str, int num, void *stream)
{
	struct pf_ini_ctx *c = stream;
	const char *p = c->buf + c->pos, *nl, *end;
	size_t n, max = num > 3 ? (size_t)num - 3 : 0;

	if (c->pos >= c->len)
		return NULL;
	nl = memchr(p, '\n', c->len - c->pos);
	end = nl ? nl : c->buf + c->len;
	c->pos = (size_t)(end - c->buf) + (nl ? 1 : 0);
	c->lineno++;
	if (c->lineno == 1 && end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	n = (size_t)(end - p);
	if (n && p[n - 1] == '\r')
		n--;
	if (memchr(p, '\0', n)) {
		pf_ini_fail(c, c->lineno, "%s:%d: line contains a NUL byte", c->path, c->lineno);
		n = 0;
	} else if (n > max) {
		pf_ini_fail(c, c->lineno, "%s:%d: line is longer than %zu characters", c->path,
			    c->lineno, max);
		n = 0;
	}
	memcpy(str, p, n);
	str[n] = '\n';
	str[n + 1] = '\0';

	if (n && str[0] == '[') {
		char name[64];
		size_t len = strcspn(str + 1, "]\n");

		if (str[1 + len] == ']') {
			snprintf(name, sizeof(name), "%.*s", (int)len, str + 1);
			c->section_known = section_known(c->s, name);
			if (!c->section_known)
				fail_unknown_section(c, name);
		}
	}
	return str;
}

/* What inih refused on its own: a line that is neither [section], key = value nor comment. */
static void fail_syntax(struct pf_ini_ctx *c, int line)
{
	const char *p = c->buf;

	for (int i = 1; i < line && p; i++) {
		p = memchr(p, '\n', c->len - (size_t)(p - c->buf));
		p = p ? p + 1 : NULL;
	}
	while (p && (*p == ' ' || *p == '\t'))
		p++;
	if (p && *p == '[')
		pf_ini_fail(c, line, "%s:%d: section line without a closing ']' (allowed: [name])",
			    c->path, line);
	else
		pf_ini_fail(c, line, "%s:%d: not a [section], key = value or ; comment line",
			    c->path, line);
}

int pf_ini_read_file(const char *path, size_t limit, char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = 0;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	buf = malloc(limit + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, limit + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > limit) {
			rc = -EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
out:
	if (buf) {
		explicit_bzero(buf, limit + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

void pf_ini_defaults(const struct pf_ini_schema *s, void *obj)
{
	char why[INI_ERR_MAX];

	for (size_t i = 0; i < s->n_keys; i++) {
		const struct pf_ini_key *k = &s->keys[i];

		if (set_value(obj, k, k->def, why, sizeof(why)) < 0) {
			fprintf(stderr, "parkfeed: bad built-in default [%s] %s: %s\n", k->section,
				k->name, why);
			abort();
		}
	}
}

int pf_ini_load(const struct pf_ini_schema *s, void *obj, const char *path, void *hook_arg,
		char *err, size_t errlen)
{
	struct pf_ini_ctx *c;
	char *buf = NULL;
	size_t len = 0;
	int rc, line;

	rc = pf_ini_read_file(path, INI_MAX_FILE, &buf, &len);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read %s: %s (check -c PATH)", path,
			 rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->line_of = calloc(s->n_keys ? s->n_keys : 1, sizeof(*c->line_of));
	if (!c || !c->line_of) {
		free(c);
		free(buf);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	c->s = s;
	c->obj = obj;
	c->hook_arg = hook_arg;
	c->path = path;
	c->buf = buf;
	c->len = len;

	line = ini_parse_stream(reader, c, handler, c);
	if (line > 0 && (!c->failed || line < c->err_line))
		fail_syntax(c, line);
	else if (line < 0 && !c->failed)
		pf_ini_fail(c, 0, "%s: out of memory", path);
	if (!c->failed && s->check_whole)
		s->check_whole(c, obj);

	rc = 0;
	if (c->failed) {
		snprintf(err, errlen, "%s", c->err);
		rc = c->oom ? -ENOMEM : -EINVAL;
	}
	free(buf);
	free(c->line_of);
	free(c);
	return rc;
}

void pf_ini_free(const struct pf_ini_schema *s, void *obj)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (s->keys[i].type == PF_INI_STRING) {
			char **field = field_ptr(obj, &s->keys[i]);

			free(*field);
			*field = NULL;
		}
}

static bool key_equal(const void *a, const void *b, const struct pf_ini_key *k)
{
	const void *pa = cfield_ptr(a, k), *pb = cfield_ptr(b, k);

	switch (k->type) {
	case PF_INI_STRING:
		return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
	case PF_INI_INT:
	case PF_INI_ENUM:
		return *(const int *)pa == *(const int *)pb;
	case PF_INI_SIZE:
		return *(const int64_t *)pa == *(const int64_t *)pb;
	case PF_INI_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	}
	return false;
}

int pf_ini_diff(const struct pf_ini_schema *s, const void *a, const void *b, bool all, char *err,
		size_t errlen)
{
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct pf_ini_key *k = &s->keys[i];

		if ((!all && k->reloadable) || key_equal(a, b, k))
			continue;
		snprintf(err, errlen, "[%s] %s changed%s", k->section, k->name,
			 k->reloadable ? "" : " (it takes a restart, not a reload)");
		return 1;
	}
	return 0;
}

/* One key's value from src into dst: swapped (so that freeing src frees what dst held), or,
 * when src is not to be touched (others read it), copied with a string duplicated. 0 or
 * -ENOMEM. */
static int move_value(void *dst, void *src, const struct pf_ini_key *k, bool copy)
{
	void *a = field_ptr(dst, k), *b = field_ptr(src, k);
	size_t size = k->type == PF_INI_SIZE	 ? sizeof(int64_t)
		      : k->type == PF_INI_BOOL	 ? sizeof(bool)
		      : k->type == PF_INI_STRING ? sizeof(char *)
						 : sizeof(int);
	char tmp[sizeof(int64_t)], *dup;

	if (copy && k->type == PF_INI_STRING) {
		if (!(dup = strdup(*(char *const *)b)))
			return -ENOMEM;
		free(*(char **)a);
		*(char **)a = dup;
	} else if (copy) {
		memcpy(a, b, size);
	} else {
		memcpy(tmp, a, size);
		memcpy(a, b, size);
		memcpy(b, tmp, size);
	}
	return 0;
}

void pf_ini_swap_reloadable(const struct pf_ini_schema *s, void *cur, void *next)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (s->keys[i].reloadable)
			(void)move_value(cur, next, &s->keys[i], false);
}

int pf_ini_copy_fixed(const struct pf_ini_schema *s, void *dst, const void *src)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (!s->keys[i].reloadable && move_value(dst, (void *)src, &s->keys[i], true) < 0)
			return -ENOMEM;
	return 0;
}
