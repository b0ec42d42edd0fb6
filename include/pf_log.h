/* Logging to stderr: journald priority prefixes under systemd, timestamps otherwise. */
#ifndef PF_LOG_H
#define PF_LOG_H

#include <stdint.h>

enum pf_log_level { PF_LOG_DEBUG = 0, PF_LOG_INFO, PF_LOG_NOTICE, PF_LOG_WARNING, PF_LOG_ERR };

/* Detect journald (JOURNAL_STREAM matching stderr) and set the threshold. */
void pf_log_init(const char *progname, enum pf_log_level level);
void pf_log_set_level(enum pf_log_level level);

void pf_log(enum pf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Rate-limited form for messages that can repeat per input (one broken lot sending thousands
 * of bad messages): at most `burst` lines per `key` per 10 s window; when a window with
 * suppressed lines ends, the next line is preceded by "suppressed N similar messages (key)".
 * key is a short static string naming the message kind.
 */
void pf_log_limited(enum pf_log_level level, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Test hooks: inject the millisecond clock pf_log_limited uses (NULL = CLOCK_MONOTONIC), and
 * forget all rate-limit state. */
void pf_log__set_clock(int64_t (*now_ms)(void));
void pf_log__reset(void);

#define pf_debug(...) pf_log(PF_LOG_DEBUG, __VA_ARGS__)
#define pf_info(...) pf_log(PF_LOG_INFO, __VA_ARGS__)
#define pf_notice(...) pf_log(PF_LOG_NOTICE, __VA_ARGS__)
#define pf_warn(...) pf_log(PF_LOG_WARNING, __VA_ARGS__)
#define pf_err(...) pf_log(PF_LOG_ERR, __VA_ARGS__)

#endif
