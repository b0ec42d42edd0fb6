/* Unit tests of log.c: both line formats, threshold, sanitizing, clipping and rate limits. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pf_log.h"

static int saved_stderr = -1;
static char capture_path[64];
static char captured[16384];

/* stderr goes to a fresh temp file until end_capture(). */
static void begin_capture(void)
{
	int fd;

	snprintf(capture_path, sizeof(capture_path), "/tmp/pf-test-log-XXXXXX");
	fd = mkstemp(capture_path);
	assert_true(fd >= 0);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

static const char *end_capture(void)
{
	int fd = open(capture_path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, captured, sizeof(captured) - 1);
	assert_true(n >= 0);
	captured[n] = '\0';
	close(fd);
	unlink(capture_path);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	return captured;
}

/* Point JOURNAL_STREAM at whatever stderr is now, as systemd does. */
static void pretend_journal(void)
{
	struct stat st;
	char value[64];

	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", value, 1);
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, text, 0, NULL, 0) != 0)
		fail_msg("\"%s\" does not match /%s/", text, pattern);
	regfree(&re);
}

static void test_plain_format(void **state)
{
	char pattern[512];
	long pid = (long)getpid();
	const char *out;

	unsetenv("JOURNAL_STREAM");
	begin_capture();
	pf_log_init("/usr/sbin/parkfeedd", PF_LOG_DEBUG);
	pf_info("hello %d", 42);
	pf_err("broken: %s", "disk");
	pf_debug("d");
	pf_notice("n");
	pf_warn("w");
	out = end_capture();
	snprintf(pattern, sizeof(pattern),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
		 "parkfeedd\\[%ld\\]: info: hello 42\n"
		 "[0-9T:.Z-]{24} parkfeedd\\[%ld\\]: error: broken: disk\n"
		 "[0-9T:.Z-]{24} parkfeedd\\[%ld\\]: debug: d\n"
		 "[0-9T:.Z-]{24} parkfeedd\\[%ld\\]: notice: n\n"
		 "[0-9T:.Z-]{24} parkfeedd\\[%ld\\]: warning: w\n$",
		 pid, pid, pid, pid, pid);
	assert_matches(out, pattern);
}

static void test_journal_format(void **state)
{
	const char *out;

	begin_capture();
	pretend_journal();
	pf_log_init("parkfeedd", PF_LOG_DEBUG);
	pf_err("e");
	pf_warn("w %s", "x");
	pf_notice("n");
	pf_info("i");
	pf_debug("d");
	out = end_capture();
	assert_string_equal(out, "<3>e\n<4>w x\n<5>n\n<6>i\n<7>d\n");
	unsetenv("JOURNAL_STREAM");
}

/* JOURNAL_STREAM inherited by a process whose stderr was redirected must not count. */
static void test_journal_stream_mismatch(void **state)
{
	const char *out;

	setenv("JOURNAL_STREAM", "1:1", 1);
	begin_capture();
	pf_log_init("parkfeedd", PF_LOG_INFO);
	pf_info("x");
	out = end_capture();
	assert_matches(out, "^[0-9T:.Z-]{24} parkfeedd\\[[0-9]+\\]: info: x\n$");

	setenv("JOURNAL_STREAM", "garbage", 1);
	begin_capture();
	pf_log_init("parkfeedd", PF_LOG_INFO);
	pf_info("y");
	out = end_capture();
	assert_matches(out, "^[0-9T:.Z-]{24} parkfeedd\\[[0-9]+\\]: info: y\n$");
	unsetenv("JOURNAL_STREAM");
}

static void test_threshold(void **state)
{
	const char *out;

	begin_capture();
	pretend_journal();
	pf_log_init("parkfeedd", PF_LOG_WARNING);
	pf_debug("no");
	pf_info("no");
	pf_notice("no");
	pf_warn("yes1");
	pf_err("yes2");
	pf_log_set_level(PF_LOG_ERR);
	pf_warn("no");
	pf_err("yes3");
	pf_log_set_level(PF_LOG_DEBUG);
	pf_debug("yes4");
	out = end_capture();
	assert_string_equal(out, "<4>yes1\n<3>yes2\n<3>yes3\n<7>yes4\n");
	unsetenv("JOURNAL_STREAM");
}

static void test_newlines_and_errno(void **state)
{
	const char *out;

	begin_capture();
	pretend_journal();
	pf_log_init("parkfeedd", PF_LOG_INFO);
	errno = EPIPE;
	pf_info("a\nb\r\nc%s", "\nforged");
	assert_int_equal(errno, EPIPE); /* callers log strerror(errno) and then use errno */
	out = end_capture();
	assert_string_equal(out, "<6>a b  c forged\n");
	unsetenv("JOURNAL_STREAM");
}

static void test_clipping(void **state)
{
	char big[3000];
	const char *out;
	size_t len;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	begin_capture();
	pretend_journal();
	pf_log_init("parkfeedd", PF_LOG_INFO);
	pf_info("%s", big);
	pf_info("after");
	out = end_capture();
	len = strcspn(out, "\n");
	assert_int_equal(len + 1, 1024);
	assert_memory_equal(out, "<6>xxx", 6);
	assert_memory_equal(out + len - 3, "...\n", 4);
	assert_string_equal(out + len + 1, "<6>after\n");

	unsetenv("JOURNAL_STREAM");
	begin_capture();
	pf_log_init("parkfeedd", PF_LOG_INFO);
	pf_info("%s", big);
	out = end_capture();
	len = strlen(out);
	assert_int_equal(len, 1024);
	assert_memory_equal(out + len - 4, "...\n", 4);
	assert_non_null(strstr(out, "]: info: xxx"));
}

static int64_t fake_now;

static int64_t fake_clock(void)
{
	return fake_now;
}

static void limited_setup(enum pf_log_level level)
{
	begin_capture();
	pretend_journal();
	pf_log_init("parkfeedd", level);
	pf_log__reset();
	pf_log__set_clock(fake_clock);
	fake_now = 1000000;
}

static void limited_teardown(void)
{
	pf_log__set_clock(NULL);
	unsetenv("JOURNAL_STREAM");
}

static void test_rate_limit(void **state)
{
	const char *out;

	limited_setup(PF_LOG_INFO);
	for (int i = 0; i < 8; i++)
		pf_log_limited(PF_LOG_WARNING, "bad_json", "bad %d", i);
	pf_log_limited(PF_LOG_WARNING, "other", "other"); /* keys are independent */
	fake_now += 9999;				  /* same window */
	pf_log_limited(PF_LOG_WARNING, "bad_json", "bad 8");
	fake_now += 1; /* next window */
	pf_log_limited(PF_LOG_WARNING, "bad_json", "bad 9");
	fake_now += 10000; /* a window without suppressions */
	pf_log_limited(PF_LOG_WARNING, "bad_json", "bad 10");
	pf_log_limited(PF_LOG_DEBUG, "bad_json", "below threshold: neither shown nor counted");
	out = end_capture();
	assert_string_equal(out, "<4>bad 0\n<4>bad 1\n<4>bad 2\n<4>bad 3\n<4>bad 4\n"
				 "<4>other\n"
				 "<4>suppressed 4 similar messages (bad_json)\n"
				 "<4>bad 9\n"
				 "<4>bad 10\n");
	limited_teardown();
}

/* A full table evicts the least recently used key, reporting what it had suppressed. */
static void test_rate_limit_eviction(void **state)
{
	char key[32][8];
	const char *out, *tail;

	limited_setup(PF_LOG_INFO);
	for (int i = 0; i < 7; i++)
		pf_log_limited(PF_LOG_ERR, "k0", "k0");
	for (int i = 1; i < 32; i++) {
		fake_now++;
		snprintf(key[i], sizeof(key[i]), "k%d", i);
		pf_log_limited(PF_LOG_ERR, key[i], "%s", key[i]);
	}
	fake_now++;
	pf_log_limited(PF_LOG_ERR, "k32", "k32");
	fake_now++;
	pf_log_limited(PF_LOG_ERR, "k1", "k1 again"); /* k1 stayed */
	out = end_capture();
	tail = strstr(out, "<3>k31\n");
	assert_non_null(tail);
	assert_string_equal(tail, "<3>k31\n"
				  "<3>suppressed 2 similar messages (k0)\n"
				  "<3>k32\n"
				  "<3>k1 again\n");
	limited_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_format),
		cmocka_unit_test(test_journal_format),
		cmocka_unit_test(test_journal_stream_mismatch),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_newlines_and_errno),
		cmocka_unit_test(test_clipping),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_rate_limit_eviction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
