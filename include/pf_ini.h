/* Table-driven INI files: one entry per key, strict checks, errors as FILE:LINE (ini.c). */
#ifndef PF_INI_H
#define PF_INI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pf_ini_type {
	PF_INI_STRING, /* char *; min = minimum length */
	PF_INI_INT,    /* int, whole decimal number in min..max */
	PF_INI_SIZE,   /* int64_t bytes, optional K/M/G/T suffix (powers of 1024) */
	PF_INI_BOOL,   /* bool; choices[0] means false, choices[1] true */
	PF_INI_ENUM,   /* int-sized enum; the index in choices is the value */
};

struct pf_ini_key {
	const char *section;
	const char *name;
	enum pf_ini_type type;
	size_t offset;	 /* of the field in the settings struct */
	const char *def; /* default, spelled as in the file */
	int64_t min, max;
	const char *const *choices; /* PF_INI_BOOL, PF_INI_ENUM: NULL-terminated */
	bool reloadable;	    /* may change on SIGHUP without a restart */
	int (*check)(const char *value, char *why, size_t whylen); /* extra rule, or NULL */
	const char *help;
};

/* Table entries for a settings struct T (offsetof needs <stddef.h>). */
#define PF_INI_STR(T, s, k, f, d, minlen, rl, chk, h)                                              \
	{                                                                                          \
		s, k, PF_INI_STRING, offsetof(T, f), d, minlen, 0, NULL, rl, chk, h                \
	}
#define PF_INI_INT(T, s, k, f, d, lo, hi, rl, h)                                                   \
	{                                                                                          \
		s, k, PF_INI_INT, offsetof(T, f), d, lo, hi, NULL, rl, NULL, h                     \
	}
#define PF_INI_SIZE(T, s, k, f, d, lo, hi, rl, h)                                                  \
	{                                                                                          \
		s, k, PF_INI_SIZE, offsetof(T, f), d, lo, hi, NULL, rl, NULL, h                    \
	}
#define PF_INI_BOOL(T, s, k, f, d, ch, rl, h)                                                      \
	{                                                                                          \
		s, k, PF_INI_BOOL, offsetof(T, f), d, 0, 1, ch, rl, NULL, h                        \
	}
#define PF_INI_ENUM(T, s, k, f, d, ch, rl, h)                                                      \
	{                                                                                          \
		s, k, PF_INI_ENUM, offsetof(T, f), d, 0, 0, ch, rl, NULL, h                        \
	}

/* The state of one load, for the hooks below. */
struct pf_ini_ctx;

struct pf_ini_schema {
	const char *const *sections; /* every section name allowed */
	size_t n_sections;
	const struct pf_ini_key *keys;
	size_t n_keys;
	/* A section of free-form keys (e.g. [aliases]), handed to free_key; NULL = none. */
	const char *free_section;
	/* 0, or a negative errno after pf_ini_fail() said what is wrong. */
	int (*free_key)(struct pf_ini_ctx *c, void *obj, const char *name, const char *value);
	/* Cross-key rules, run once the whole file is read; reports with pf_ini_fail(). */
	void (*check_whole)(struct pf_ini_ctx *c, void *obj);
};

/* Set every key of obj to its default (strings allocated; aborts on a bad built-in default). */
void pf_ini_defaults(const struct pf_ini_schema *s, void *obj);
/*
 * Load path over the values in obj. Unknown section or key, bad value, value out of bounds,
 * a key set twice: a negative errno (-ENOENT, -EACCES, ... when unreadable, -EINVAL for bad
 * content, -ENOMEM) with "FILE:LINE: [section] key: what is wrong (allowed: ...)" in err.
 * hook_arg is handed to the hooks through pf_ini_hook_arg(). On error obj may be partly
 * changed: load into a fresh copy to keep the old values.
 */
__attribute__((warn_unused_result)) int pf_ini_load(const struct pf_ini_schema *s, void *obj,
						    const char *path, void *hook_arg, char *err,
						    size_t errlen);
/* Free the strings of obj (and set them to NULL). */
void pf_ini_free(const struct pf_ini_schema *s, void *obj);
/* 1 and "[section] key changed ..." in err for the first key that differs between a and b
 * (only keys that are not reloadable unless `all`); 0 if none differs. */
int pf_ini_diff(const struct pf_ini_schema *s, const void *a, const void *b, bool all, char *err,
		size_t errlen);
/* Move every reloadable key from next into cur, swapping, so that freeing next frees what cur
 * held before (a reload in place). */
void pf_ini_swap_reloadable(const struct pf_ini_schema *s, void *cur, void *next);
/* Copy every key that needs a restart from src into dst (a reload into a new object keeps the
 * running values of those). 0 or -ENOMEM. */
__attribute__((warn_unused_result)) int pf_ini_copy_fixed(const struct pf_ini_schema *s, void *dst,
							  const void *src);
/* The table entry of section/name, or NULL. */
const struct pf_ini_key *pf_ini_find(const struct pf_ini_schema *s, const char *section,
				     const char *name);

/* For the hooks. */
void pf_ini_fail(struct pf_ini_ctx *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pf_ini_fail_oom(struct pf_ini_ctx *c);
const char *pf_ini_path(const struct pf_ini_ctx *c);
int pf_ini_lineno(const struct pf_ini_ctx *c);				     /* line being parsed */
int pf_ini_key_line(const struct pf_ini_ctx *c, const struct pf_ini_key *k); /* 0 = default */
void *pf_ini_hook_arg(const struct pf_ini_ctx *c);

/* Helpers shared by the programs' own checks. */
/* Whole decimal number, nothing else: "1e3", "0x10", "3.5" and " 3" are refused. */
bool pf_ini_parse_int64(const char *s, int64_t *out);
/* Bytes as the shortest exact spelling: 1073741824 -> "1G". */
void pf_ini_format_size(int64_t v, char *buf, size_t size);
/* Read a whole regular file of at most limit bytes, NUL-terminated; 0 or a negative errno
 * (-EFBIG when larger). The buffer is wiped before it is freed on error. */
__attribute__((warn_unused_result)) int pf_ini_read_file(const char *path, size_t limit, char **out,
							 size_t *outlen);

#endif
