/* Logging to stderr: one write(2) per line, journald priorities or timestamps, rate limits. */
#include "pf_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Below PIPE_BUF, so a line reaches a pipe (journald's stream, a supervisor) in one piece. */
#define LOG_LINE_MAX 1024
#define LIMIT_KEYS 32
#define LIMIT_KEY_MAX 32
#define LIMIT_BURST 5
#define LIMIT_WINDOW_MS 10000

static const char *const level_names[] = {"debug", "info", "notice", "warning", "error"};
static const int level_priority[] = {7, 6, 5, 4, 3}; /* sd-daemon(3) <N> prefixes */

static char progname[64] = "parkfeed";
static atomic_int threshold = PF_LOG_INFO;
static bool to_journal;

struct limit {
	char key[LIMIT_KEY_MAX];
	int64_t window_start; /* ms, monotonic */
	int64_t last_used;    /* ms: the least recently used entry is evicted */
	unsigned count;	      /* lines printed in this window */
	unsigned suppressed;  /* lines dropped in this window */
};

static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;
static struct limit limits[LIMIT_KEYS];

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t (*now_ms)(void) = monotonic_ms;

void pf_log__set_clock(int64_t (*clock_ms)(void))
{
	now_ms = clock_ms ? clock_ms : monotonic_ms;
}

void pf_log__reset(void)
{
	pthread_mutex_lock(&limits_lock);
	memset(limits, 0, sizeof(limits));
	pthread_mutex_unlock(&limits_lock);
}

/* systemd sets JOURNAL_STREAM=dev:ino of the stream it gave us; a redirect changes stderr. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (!env || sscanf(env, "%llu:%llu%n", &dev, &ino, &end) != 2 || env[end] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void pf_log_init(const char *name, enum pf_log_level level)
{
	const char *slash = name ? strrchr(name, '/') : NULL;

	if (name)
		snprintf(progname, sizeof(progname), "%s", slash ? slash + 1 : name);
	to_journal = stderr_is_journal();
	pf_log_set_level(level);
}

void pf_log_set_level(enum pf_log_level level)
{
	atomic_store(&threshold, (int)level);
}

static bool enabled(enum pf_log_level level)
{
	return (int)level >= atomic_load(&threshold) && (int)level <= PF_LOG_ERR;
}

static size_t format_prefix(char *buf, size_t size, enum pf_log_level level)
{
	struct timespec ts;
	struct tm tm;
	int n;

	if (to_journal)
		n = snprintf(buf, size, "<%d>", level_priority[level]);
	else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld]: %s: ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000, progname, (long)getpid(),
			     level_names[level]);
	}
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static void emit(enum pf_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void emit(enum pf_log_level level, const char *fmt, va_list ap)
{
	static const char clip[] = "...";
	char line[LOG_LINE_MAX];
	size_t prefix, room, len;
	int n, saved_errno = errno;

	prefix = format_prefix(line, sizeof(line), level);
	room = sizeof(line) - prefix - 1; /* keep one byte for '\n' */
	n = vsnprintf(line + prefix, room + 1, fmt, ap);
	if (n < 0)
		n = 0;
	len = (size_t)n;
	if (len > room) {
		len = room;
		memcpy(line + prefix + len - (sizeof(clip) - 1), clip, sizeof(clip) - 1);
	}
	/* One record per line: a newline inside a message would forge a second one. */
	for (size_t i = prefix; i < prefix + len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[prefix + len] = '\n';
	len += prefix + 1;

	while (write(STDERR_FILENO, line, len) < 0 && errno == EINTR)
		;
	errno = saved_errno;
}

static void emit_args(enum pf_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void emit_args(enum pf_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, fmt, ap);
	va_end(ap);
}

void pf_log(enum pf_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!enabled(level))
		return;
	va_start(ap, fmt);
	emit(level, fmt, ap);
	va_end(ap);
}

static struct limit *limit_slot(const char *key, int64_t now, struct limit *evicted)
{
	struct limit *oldest = &limits[0];

	for (size_t i = 0; i < LIMIT_KEYS; i++) {
		struct limit *l = &limits[i];

		if (l->key[0] && strncmp(l->key, key, LIMIT_KEY_MAX - 1) == 0)
			return l;
		if (!l->key[0] || (oldest->key[0] && l->last_used < oldest->last_used))
			oldest = l;
	}
	*evicted = *oldest;
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->key, sizeof(oldest->key), "%s", key);
	oldest->window_start = now;
	return oldest;
}

void pf_log_limited(enum pf_log_level level, const char *key, const char *fmt, ...)
{
	struct limit evicted = {.suppressed = 0}, *l;
	unsigned report = 0;
	char report_key[LIMIT_KEY_MAX];
	bool print = false;
	int64_t now;
	va_list ap;

	if (!enabled(level))
		return;
	now = now_ms();
	pthread_mutex_lock(&limits_lock);
	l = limit_slot(key, now, &evicted);
	if (now - l->window_start >= LIMIT_WINDOW_MS) {
		report = l->suppressed;
		l->window_start = now;
		l->count = 0;
		l->suppressed = 0;
	}
	l->last_used = now;
	if (l->count < LIMIT_BURST) {
		l->count++;
		print = true;
	} else {
		l->suppressed++;
	}
	memcpy(report_key, l->key, sizeof(report_key));
	pthread_mutex_unlock(&limits_lock);

	/* An evicted key's count would be lost otherwise. */
	if (evicted.suppressed)
		emit_args(level, "suppressed %u similar messages (%s)", evicted.suppressed,
			  evicted.key);
	if (report)
		emit_args(level, "suppressed %u similar messages (%s)", report, report_key);
	if (print) {
		va_start(ap, fmt);
		emit(level, fmt, ap);
		va_end(ap);
	}
}
