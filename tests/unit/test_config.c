/* Unit tests of config.c: defaults, the shipped and contract files, every error with FILE:LINE. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pf_config.h"

#ifndef PF_TESTDATA_DIR
#define PF_TESTDATA_DIR "tests/data"
#endif
#define SHIPPED_CONF PF_TESTDATA_DIR "/../../config/parkfeed.conf"

static char tmp_path[64];

static const char *write_tmp(const char *text, size_t len)
{
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/pf-test-config-XXXXXX");
	fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return tmp_path;
}

/* Load `text` over the defaults; returns the rc, the error in err. */
static int load_text(struct pf_config *cfg, const char *text, char *err, size_t errlen)
{
	const char *path = write_tmp(text, strlen(text));
	int rc;

	pf_config_init(cfg);
	err[0] = '\0';
	rc = pf_config_load(cfg, path, err, errlen);
	unlink(path);
	return rc;
}

/* The file must fail with exactly "<path><want>", want starting at ":LINE:". */
static void expect_error(const char *text, const char *want)
{
	struct pf_config cfg;
	char err[512], expected[600];
	int rc = load_text(&cfg, text, err, sizeof(err));

	snprintf(expected, sizeof(expected), "%s%s", tmp_path, want);
	assert_true(rc < 0);
	assert_string_equal(err, expected);
	pf_config_free(&cfg);
}

static void expect_ok(struct pf_config *cfg, const char *text)
{
	char err[512];
	int rc = load_text(cfg, text, err, sizeof(err));

	if (rc != 0)
		fail_msg("unexpected error: %s", err);
}

static void test_defaults(void **state)
{
	struct pf_config cfg;

	pf_config_init(&cfg);
	assert_string_equal(cfg.mqtt.host, "127.0.0.1");
	assert_int_equal(cfg.mqtt.port, 1883);
	assert_string_equal(cfg.mqtt.client_id, "parkfeed-1");
	assert_string_equal(cfg.mqtt.topic_prefix, "parking");
	assert_int_equal(cfg.mqtt.qos, 1);
	assert_int_equal(cfg.mqtt.keepalive, 30);
	assert_string_equal(cfg.mqtt.username, "");
	assert_string_equal(cfg.mqtt.password_file, "");
	assert_string_equal(cfg.mqtt.tls_ca_file, "");
	assert_string_equal(cfg.mqtt.tls_cert_file, "");
	assert_string_equal(cfg.mqtt.tls_key_file, "");
	assert_string_equal(cfg.mqtt.shared_group, "");
	assert_int_equal(cfg.mqtt.reconnect_max, 30);
	assert_string_equal(cfg.postgres.conninfo, "");
	assert_string_equal(cfg.postgres.password_file, "");
	assert_int_equal(cfg.postgres.connect_timeout, 10);
	assert_int_equal(cfg.postgres.reconnect_max, 30);
	assert_int_equal(cfg.ingest.max_payload, 65536);
	assert_int_equal(cfg.ingest.clock_skew, 300);
	assert_int_equal(cfg.ingest.max_age, 0);
	assert_string_equal(cfg.ingest.local_timezone, "Asia/Shanghai");
	assert_int_equal(cfg.ingest.max_depth, 32);
	assert_int_equal(cfg.ingest.max_topic_len, 256);
	assert_int_equal(cfg.ingest.batch_rows, 5000);
	assert_int_equal(cfg.ingest.batch_ms, 20);
	assert_int_equal(cfg.ingest.group_commit_ms, 100);
	assert_int_equal(cfg.ingest.pipeline_depth, 4);
	assert_string_equal(cfg.ingest.compliant_protocols, "parkfeed/1");
	assert_string_equal(cfg.spool.dir, "/var/lib/parkfeed/spool");
	assert_int_equal(cfg.spool.max_bytes, 1LL << 30);
	assert_int_equal(cfg.spool.segment_bytes, 64LL << 20);
	assert_true(cfg.spool.fsync);
	assert_int_equal(cfg.log.level, PF_LOG_INFO);

	assert_int_equal(cfg.n_aliases, 4);
	assert_string_equal(cfg.aliases[0].vendor_name, "remain_parking_space");
	assert_int_equal(cfg.aliases[0].field, PF_F_FREE);
	assert_string_equal(cfg.aliases[1].vendor_name, "RemainingSpaces");
	assert_int_equal(cfg.aliases[1].field, PF_F_FREE);
	assert_string_equal(cfg.aliases[2].vendor_name, "total_parking_space");
	assert_int_equal(cfg.aliases[2].field, PF_F_TOTAL);
	assert_string_equal(cfg.aliases[3].vendor_name, "TotalSpaces");
	assert_int_equal(cfg.aliases[3].field, PF_F_TOTAL);

	assert_int_equal(cfg.n_protocols, 1);
	assert_string_equal(cfg.protocols[0], "parkfeed/1");
	pf_config_free(&cfg);
}

static void test_contract_example(void **state)
{
	struct pf_config cfg, def;
	char err[512];

	pf_config_init(&cfg);
	pf_config_init(&def);
	if (pf_config_load(&cfg, PF_TESTDATA_DIR "/config/contract.conf", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* Inline "; comment" after whitespace is not part of the value. */
	assert_string_equal(cfg.mqtt.client_id, "parkfeed-1");
	assert_int_equal(cfg.ingest.max_payload, 65536);
	assert_string_equal(cfg.ingest.local_timezone, "Asia/Shanghai");
	assert_string_equal(cfg.postgres.conninfo,
			    "host=127.0.0.1 port=5432 dbname=parkfeed user=parkfeed");
	assert_string_equal(cfg.spool.dir, "/var/lib/parkfeed/spool");
	pf_config_free(&cfg);
	pf_config_free(&def);
}

static void test_shipped_loads_at_defaults(void **state)
{
	struct pf_config cfg, def;
	char err[512];

	pf_config_init(&cfg);
	pf_config_init(&def);
	if (pf_config_load(&cfg, SHIPPED_CONF, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	if (config__diff(&cfg, &def, true, err, sizeof(err)) != 0)
		fail_msg("shipped config differs from the defaults: %s", err);
	pf_config_free(&cfg);
	pf_config_free(&def);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static bool is_key_line(const char *line)
{
	size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_");

	return n > 0 && (line[n] == ' ' || line[n] == '=');
}

/* Every ";key = default" line uncommented: loads, equals the defaults, covers every key. */
static void test_shipped_uncommented(void **state)
{
	char *text = slurp(SHIPPED_CONF), *out = malloc(strlen(text) + 1), *o = out;
	char section[32] = "", err[512];
	struct pf_config cfg, def;
	const char *name, *sec, *defval;
	bool found[64] = {false};
	size_t n_keys = 0, n_aliases = 0;

	assert_non_null(out);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == ';' && is_key_line(line + 1))
			line++;
		o += sprintf(o, "%s\n", line);
		if (line[0] == '[') {
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(line + 1, "]"),
				 line + 1);
			continue;
		}
		if (!is_key_line(line))
			continue;
		if (strcmp(section, "aliases") == 0) {
			n_aliases++;
			continue;
		}
		for (size_t i = 0; (name = config__key(i, &sec, &defval)); i++) {
			char want[256];

			snprintf(want, sizeof(want), "%s =%s%s", name, defval[0] ? " " : "",
				 defval);
			if (strcmp(sec, section) == 0 && strcmp(line, want) == 0)
				found[i] = true;
		}
	}
	for (size_t i = 0; (name = config__key(i, &sec, &defval)); i++, n_keys++)
		if (!found[i])
			fail_msg("config/parkfeed.conf lacks \";%s = %s\" in [%s]", name, defval,
				 sec);
	assert_true(n_keys > 25 && n_keys < 64);
	assert_int_equal(n_aliases, 4);

	expect_ok(&cfg, out);
	pf_config_init(&def);
	if (config__diff(&cfg, &def, true, err, sizeof(err)) != 0)
		fail_msg("uncommented defaults differ from the defaults: %s", err);
	pf_config_free(&cfg);
	pf_config_free(&def);
	free(text);
	free(out);
}

static void test_every_key_set(void **state)
{
	struct pf_config cfg;

	expect_ok(&cfg, "[mqtt]\n"
			"host = broker.example\n"
			"port = 8883\n"
			"client_id = parkfeed-7 ; comment\n"
			"topic_prefix = city/parking\n"
			"qos = 2\n"
			"keepalive = 60\n"
			"username = ingest\n"
			"password_file = mqtt.pw\n"
			"tls_ca_file = /etc/ssl/ca.pem\n"
			"tls_cert_file = /etc/parkfeed/c.pem\n"
			"tls_key_file = /etc/parkfeed/c.key\n"
			"shared_group = ingest\n"
			"reconnect_max = 60\n"
			"[postgres]\n"
			"conninfo = dbname=x\n"
			"password_file = /run/pw\n"
			"connect_timeout = 3\n"
			"reconnect_max = 9\n"
			"[ingest]\n"
			"max_payload = 1024\n"
			"clock_skew = 0\n"
			"local_timezone = UTC\n"
			"max_depth = 8\n"
			"max_topic_len = 64\n"
			"batch_rows = 100\n"
			"batch_ms = 0\n"
			"group_commit_ms = 0\n"
			"pipeline_depth = 2\n"
			"compliant_protocols = a\n"
			"[spool]\n"
			"dir = /tmp/spool\n"
			"max_bytes = 2G\n"
			"segment_bytes = 1M\n"
			"fsync = off\n"
			"[log]\n"
			"level = debug\n");
	assert_string_equal(cfg.mqtt.host, "broker.example");
	assert_int_equal(cfg.mqtt.port, 8883);
	assert_string_equal(cfg.mqtt.client_id, "parkfeed-7");
	assert_string_equal(cfg.mqtt.topic_prefix, "city/parking");
	assert_int_equal(cfg.mqtt.qos, 2);
	assert_int_equal(cfg.mqtt.keepalive, 60);
	assert_string_equal(cfg.mqtt.username, "ingest");
	assert_string_equal(cfg.mqtt.password_file, "mqtt.pw");
	assert_string_equal(cfg.mqtt.tls_ca_file, "/etc/ssl/ca.pem");
	assert_string_equal(cfg.mqtt.tls_cert_file, "/etc/parkfeed/c.pem");
	assert_string_equal(cfg.mqtt.tls_key_file, "/etc/parkfeed/c.key");
	assert_string_equal(cfg.mqtt.shared_group, "ingest");
	assert_int_equal(cfg.mqtt.reconnect_max, 60);
	assert_string_equal(cfg.postgres.conninfo, "dbname=x");
	assert_string_equal(cfg.postgres.password_file, "/run/pw");
	assert_int_equal(cfg.postgres.connect_timeout, 3);
	assert_int_equal(cfg.postgres.reconnect_max, 9);
	assert_int_equal(cfg.ingest.max_payload, 1024);
	assert_int_equal(cfg.ingest.clock_skew, 0);
	assert_string_equal(cfg.ingest.local_timezone, "UTC");
	assert_int_equal(cfg.ingest.max_depth, 8);
	assert_int_equal(cfg.ingest.max_topic_len, 64);
	assert_int_equal(cfg.ingest.batch_rows, 100);
	assert_int_equal(cfg.ingest.batch_ms, 0);
	assert_int_equal(cfg.ingest.group_commit_ms, 0);
	assert_int_equal(cfg.ingest.pipeline_depth, 2);
	assert_int_equal(cfg.n_protocols, 1);
	assert_string_equal(cfg.protocols[0], "a");
	assert_string_equal(cfg.spool.dir, "/tmp/spool");
	assert_int_equal(cfg.spool.max_bytes, 2LL << 30);
	assert_int_equal(cfg.spool.segment_bytes, 1LL << 20);
	assert_false(cfg.spool.fsync);
	assert_int_equal(cfg.log.level, PF_LOG_DEBUG);
	pf_config_free(&cfg);
}

static void test_comments_and_layout(void **state)
{
	struct pf_config cfg;

	expect_ok(&cfg, "\xEF\xBB\xBF; leading BOM and comment\n"
			"# hash comment\n"
			"[mqtt]\r\n"
			"host = h1 ; inline comment\r\n"
			"client_id = a;b\n"   /* no whitespace before ';': part of the value */
			"  username = u   \n" /* indented: a key, not a continuation */
			"\t; indented comment\n"
			"[log]\n"
			"level = warning\n"
			"[mqtt]\n" /* a section may reappear */
			"port = 1884\n");
	assert_string_equal(cfg.mqtt.host, "h1");
	assert_string_equal(cfg.mqtt.client_id, "a;b");
	assert_string_equal(cfg.mqtt.username, "u");
	assert_int_equal(cfg.mqtt.port, 1884);
	assert_int_equal(cfg.log.level, PF_LOG_WARNING);
	pf_config_free(&cfg);
}

static void test_unreadable(void **state)
{
	struct pf_config cfg;
	char err[512];

	pf_config_init(&cfg);
	assert_int_equal(pf_config_load(&cfg, "/nonexistent/parkfeed.conf", err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err,
			    "cannot read /nonexistent/parkfeed.conf: No such file or directory "
			    "(check -c PATH)");
	assert_int_equal(pf_config_load(&cfg, "/tmp", err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "cannot read /tmp: Is a directory (check -c PATH)");
	pf_config_free(&cfg);
}

static void test_unknown_section_and_key(void **state)
{
	expect_error("[mqtt]\nhost = x\n[mqt]\nport = 1\n",
		     ":3: [mqt]: unknown section (did you mean [mqtt]?)");
	expect_error("; c\n[database]\n",
		     ":2: [database]: unknown section (allowed: [mqtt], [postgres], [ingest], "
		     "[spool], [log], [metrics], [systemd], [maintain], [aliases], [broker], "
		     "[feed])");
	expect_error("[mqtt]\nhots = x\n", ":2: [mqtt] hots: unknown key (did you mean host?)");
	expect_error("[mqtt]\nKeepalive = 5\n",
		     ":2: [mqtt] Keepalive: unknown key (did you mean keepalive?)");
	expect_error("[mqtt]\nmax_payload = 100\n",
		     ":2: [mqtt] max_payload: unknown key (it belongs in [ingest])");
	expect_error("[log]\n\nverbosity = 1\n",
		     ":3: [log] verbosity: unknown key (allowed: level)");
	expect_error("host = x\n", ":1: host: key outside of any section (it belongs in [mqtt])");
	expect_error("[mqtt]\n= x\n", ":2: [mqtt]: missing key name before '='");
}

static void test_duplicates(void **state)
{
	expect_error("[mqtt]\nport = 1\nhost = a\nport = 2\n",
		     ":4: [mqtt] port: duplicate key (first set on line 2)");
	expect_error("[mqtt]\nport = 1\n[log]\nlevel = info\n[mqtt]\nport = 1\n",
		     ":6: [mqtt] port: duplicate key (first set on line 2)");
	expect_error("[aliases]\nspaces = free\nspaces = free\n",
		     ":3: [aliases] spaces: duplicate key");
}

static void test_syntax(void **state)
{
	expect_error("[mqtt]\nhost = x\njust words\n",
		     ":3: not a [section], key = value or ; comment line");
	expect_error("[mqtt\nhost = x\n",
		     ":1: section line without a closing ']' (allowed: [name])");
	/* The first error in the file is reported, whatever its kind. */
	expect_error("[mqtt]\nwords\nport = 0\n",
		     ":2: not a [section], key = value or ; comment line");
	expect_error("[mqtt]\nport = 0\nwords\n", ":2: [mqtt] port: 0 is out of range (1..65535)");

	char long_line[400];
	memset(long_line, 0, sizeof(long_line));
	strcpy(long_line, "[postgres]\nconninfo = ");
	memset(long_line + strlen(long_line), 'x', 250);
	strcat(long_line, "\n");
	expect_error(long_line, ":2: line is longer than 197 characters");

	/* A NUL byte would end the line early and hide the rest of it. */
	static const char with_nul[] = "[mqtt]\nhost = a\0b\n";
	struct pf_config cfg;
	char err[512], want[600];
	const char *path = write_tmp(with_nul, sizeof(with_nul) - 1);

	pf_config_init(&cfg);
	assert_true(pf_config_load(&cfg, path, err, sizeof(err)) < 0);
	snprintf(want, sizeof(want), "%s:2: line contains a NUL byte", path);
	assert_string_equal(err, want);
	unlink(path);
	pf_config_free(&cfg);
}

static void test_values(void **state)
{
	expect_error("[mqtt]\nkeepalive = 3\n",
		     ":2: [mqtt] keepalive: 3 is out of range (5..3600)");
	expect_error("[mqtt]\nport = 80x\n",
		     ":2: [mqtt] port: \"80x\" is not a whole number (allowed: 1..65535)");
	expect_error("[mqtt]\nport = 3.5\n",
		     ":2: [mqtt] port: \"3.5\" is not a whole number (allowed: 1..65535)");
	expect_error("[mqtt]\nport = 0x10\n",
		     ":2: [mqtt] port: \"0x10\" is not a whole number (allowed: 1..65535)");
	expect_error("[mqtt]\nport = +5\n",
		     ":2: [mqtt] port: \"+5\" is not a whole number (allowed: 1..65535)");
	expect_error("[mqtt]\nport =\n",
		     ":2: [mqtt] port: \"\" is not a whole number (allowed: 1..65535)");
	expect_error("[mqtt]\nport = 99999999999999999999\n",
		     ":2: [mqtt] port: \"99999999999999999999\" is not a whole number "
		     "(allowed: 1..65535)");
	expect_error("[ingest]\nclock_skew = -1\n",
		     ":2: [ingest] clock_skew: -1 is out of range (0..86400)");
	expect_error("[log]\nlevel = verbose\n",
		     ":2: [log] level: \"verbose\" is not allowed (allowed: debug, info, notice, "
		     "warning, error)");
	expect_error("[log]\nlevel = INFO\n",
		     ":2: [log] level: \"INFO\" is not allowed (allowed: debug, info, notice, "
		     "warning, error)");
	expect_error("[spool]\nfsync = true\n",
		     ":2: [spool] fsync: \"true\" is not allowed (allowed: off, batch)");
	expect_error("[mqtt]\nhost =\n", ":2: [mqtt] host: must not be empty");
	expect_error("[mqtt]\ntopic_prefix = a/+/b\n",
		     ":2: [mqtt] topic_prefix: \"a/+/b\" is not a topic prefix (allowed: topic "
		     "levels without + or #, no leading, trailing or double /)");
	expect_error("[mqtt]\ntopic_prefix = parking/\n",
		     ":2: [mqtt] topic_prefix: \"parking/\" is not a topic prefix (allowed: topic "
		     "levels without + or #, no leading, trailing or double /)");
	expect_error(
		"[mqtt]\nshared_group = a/b\n",
		":2: [mqtt] shared_group: \"a/b\" is not a group name (allowed: no /, + or #)");

	struct pf_config cfg;
	const char *levels[] = {"debug", "info", "notice", "warning", "error"};
	char text[64];

	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "[log]\nlevel = %s\n", levels[i]);
		expect_ok(&cfg, text);
		assert_int_equal(cfg.log.level, i);
		pf_config_free(&cfg);
	}
}

/* The bounds of pf_config.h's comments, independent of config.c's table. */
static const struct {
	const char *section, *name;
	long long min, max;
	size_t offset;
} int_bounds[] = {
	{"mqtt", "port", 1, 65535, offsetof(struct pf_config, mqtt.port)},
	{"mqtt", "qos", 1, 2, offsetof(struct pf_config, mqtt.qos)},
	{"mqtt", "keepalive", 5, 3600, offsetof(struct pf_config, mqtt.keepalive)},
	{"mqtt", "reconnect_max", 1, 3600, offsetof(struct pf_config, mqtt.reconnect_max)},
	{"postgres", "connect_timeout", 1, 300,
	 offsetof(struct pf_config, postgres.connect_timeout)},
	{"postgres", "reconnect_max", 1, 3600, offsetof(struct pf_config, postgres.reconnect_max)},
	{"ingest", "max_payload", 64, 16777216, offsetof(struct pf_config, ingest.max_payload)},
	{"ingest", "clock_skew", 0, 86400, offsetof(struct pf_config, ingest.clock_skew)},
	{"ingest", "max_age", 0, 315360000, offsetof(struct pf_config, ingest.max_age)},
	{"ingest", "max_depth", 2, 512, offsetof(struct pf_config, ingest.max_depth)},
	{"ingest", "max_topic_len", 16, 512, offsetof(struct pf_config, ingest.max_topic_len)},
	{"ingest", "batch_rows", 1, 50000, offsetof(struct pf_config, ingest.batch_rows)},
	{"ingest", "batch_ms", 0, 10000, offsetof(struct pf_config, ingest.batch_ms)},
	{"ingest", "pipeline_depth", 1, 64, offsetof(struct pf_config, ingest.pipeline_depth)},
};

static void test_int_bounds(void **state)
{
	for (size_t i = 0; i < sizeof(int_bounds) / sizeof(int_bounds[0]); i++) {
		const long long edge[2] = {int_bounds[i].min, int_bounds[i].max};
		const long long past[2] = {int_bounds[i].min - 1, int_bounds[i].max + 1};
		char text[128], want[256];
		struct pf_config cfg;

		for (int j = 0; j < 2; j++) {
			snprintf(text, sizeof(text), "[%s]\n%s = %lld\n", int_bounds[i].section,
				 int_bounds[i].name, edge[j]);
			expect_ok(&cfg, text);
			assert_int_equal(*(int *)((char *)&cfg + int_bounds[i].offset), edge[j]);
			pf_config_free(&cfg);

			snprintf(text, sizeof(text), "[%s]\n%s = %lld\n", int_bounds[i].section,
				 int_bounds[i].name, past[j]);
			snprintf(want, sizeof(want),
				 ":2: [%s] %s: %lld is out of range (%lld..%lld)",
				 int_bounds[i].section, int_bounds[i].name, past[j],
				 int_bounds[i].min, int_bounds[i].max);
			expect_error(text, want);
		}
	}
}

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		int64_t max_bytes, segment_bytes;
	} ok[] = {
		{"max_bytes = 1G", 1LL << 30, 64LL << 20},
		{"max_bytes = 1g", 1LL << 30, 64LL << 20},
		{"max_bytes = 1024M", 1LL << 30, 64LL << 20},
		{"max_bytes = 1T", 1LL << 40, 64LL << 20}, /* max */
		{"max_bytes = 1099511627776", 1LL << 40, 64LL << 20},
		{"max_bytes = 64M", 64LL << 20, 64LL << 20},
		{"max_bytes = 1M\nsegment_bytes = 64K", 1LL << 20, 64LL << 10}, /* both at min */
		{"max_bytes = 1048576\nsegment_bytes = 65536", 1LL << 20, 64LL << 10},
		{"segment_bytes = 1G", 1LL << 30, 1LL << 30}, /* max */
	};
	struct pf_config cfg;
	char text[128];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "[spool]\n%s\n", ok[i].text);
		expect_ok(&cfg, text);
		assert_int_equal(cfg.spool.max_bytes, ok[i].max_bytes);
		assert_int_equal(cfg.spool.segment_bytes, ok[i].segment_bytes);
		pf_config_free(&cfg);
	}
	expect_error("[spool]\nmax_bytes = 2T\n",
		     ":2: [spool] max_bytes: 2T is out of range (1M..1T)");
	expect_error("[spool]\nmax_bytes = 1099511627777\n",
		     ":2: [spool] max_bytes: 1099511627777 is out of range (1M..1T)");
	expect_error("[spool]\nmax_bytes = 1048575\n",
		     ":2: [spool] max_bytes: 1048575 is out of range (1M..1T)");
	expect_error("[spool]\nsegment_bytes = 65535\n",
		     ":2: [spool] segment_bytes: 65535 is out of range (64K..1G)");
	expect_error("[spool]\nsegment_bytes = 1025M\n",
		     ":2: [spool] segment_bytes: 1025M is out of range (64K..1G)");
	static const char *const bad[] = {"1X",	 "1.5G", "1GB",	  "G",
					  "-1M", "1 G",	 "0x10M", "99999999999T"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[256];

		snprintf(text, sizeof(text), "[spool]\nmax_bytes = %s\n", bad[i]);
		snprintf(want, sizeof(want),
			 ":2: [spool] max_bytes: \"%s\" is not a size (allowed: 1M..1T, bytes with "
			 "an optional K, M, G or T suffix)",
			 bad[i]);
		expect_error(text, want);
	}
	expect_error("[spool]\nsegment_bytes = 512M\n\nmax_bytes = 256M\n",
		     ":4: [spool] max_bytes: segment_bytes 512M is larger than max_bytes 256M");
	expect_error("[spool]\nmax_bytes = 32M\nsegment_bytes = 33M\n",
		     ":3: [spool] segment_bytes: segment_bytes 33M is larger than max_bytes 32M");
}

static void test_aliases(void **state)
{
	struct pf_config cfg;

	expect_ok(&cfg, "[aliases]\n"
			"kongwei = free ; vendor X\n"
			"zongshu = total\n"
			"TotalSpaces = free\n" /* remaps a built-in in place */
			"time = ts\n"
			"counter = seq\n"
			"state = status\n"
			"used = occupied\n");
	assert_int_equal(cfg.n_aliases, 10);
	assert_string_equal(cfg.aliases[0].vendor_name, "remain_parking_space");
	assert_string_equal(cfg.aliases[3].vendor_name, "TotalSpaces");
	assert_int_equal(cfg.aliases[3].field, PF_F_FREE);
	assert_string_equal(cfg.aliases[4].vendor_name, "kongwei");
	assert_int_equal(cfg.aliases[4].field, PF_F_FREE);
	assert_string_equal(cfg.aliases[5].vendor_name, "zongshu");
	assert_int_equal(cfg.aliases[5].field, PF_F_TOTAL);
	assert_int_equal(cfg.aliases[6].field, PF_F_TS);
	assert_int_equal(cfg.aliases[7].field, PF_F_SEQ);
	assert_int_equal(cfg.aliases[8].field, PF_F_STATUS);
	assert_string_equal(cfg.aliases[9].vendor_name, "used");
	assert_int_equal(cfg.aliases[9].field, PF_F_OCCUPIED);
	pf_config_free(&cfg);

	expect_error("[aliases]\nspaces = vacant\n",
		     ":2: [aliases] spaces: \"vacant\" is not a native field (allowed: ts, total, "
		     "free, occupied, seq, status)");
	expect_error("[aliases]\nspaces =\n",
		     ":2: [aliases] spaces: \"\" is not a native field (allowed: ts, total, "
		     "free, occupied, seq, status)");
	expect_error("[aliases]\nfree = total\n",
		     ":2: [aliases] free: is a native field name itself (allowed: a vendor's field "
		     "name)");

	/* 4 built-in + 60 = PF_MAX_ALIASES; one more is refused. */
	char text[64 * 16 + 32], *p = text, want[128];

	p += sprintf(p, "[aliases]\n");
	for (int i = 0; i < PF_MAX_ALIASES - 4; i++)
		p += sprintf(p, "v%d = free\n", i);
	expect_ok(&cfg, text);
	assert_int_equal(cfg.n_aliases, PF_MAX_ALIASES);
	pf_config_free(&cfg);
	sprintf(p, "extra = free\n");
	snprintf(want, sizeof(want),
		 ":%d: [aliases] extra: too many aliases (at most %d, built-in included)",
		 PF_MAX_ALIASES - 4 + 2, PF_MAX_ALIASES);
	expect_error(text, want);
}

static void test_protocols(void **state)
{
	struct pf_config cfg;

	expect_ok(&cfg, "[ingest]\ncompliant_protocols =  parkfeed/1 , vendor-x/2,gbt29745 \n");
	assert_int_equal(cfg.n_protocols, 3);
	assert_string_equal(cfg.protocols[0], "parkfeed/1");
	assert_string_equal(cfg.protocols[1], "vendor-x/2");
	assert_string_equal(cfg.protocols[2], "gbt29745");
	pf_config_free(&cfg);

	expect_ok(&cfg, "[ingest]\ncompliant_protocols =\n");
	assert_int_equal(cfg.n_protocols, 0);
	pf_config_free(&cfg);

	expect_error("[ingest]\ncompliant_protocols = a,,b\n",
		     ":2: [ingest] compliant_protocols: \"a,,b\" has an empty or too long item "
		     "(allowed: comma-separated names of 1..127 characters)");
	expect_error("[ingest]\ncompliant_protocols = a,\n",
		     ":2: [ingest] compliant_protocols: \"a,\" has an empty or too long item "
		     "(allowed: comma-separated names of 1..127 characters)");

	char text[128], *p = text;

	p += sprintf(p, "[ingest]\ncompliant_protocols = ");
	for (int i = 0; i < PF_MAX_PROTOCOLS; i++)
		p += sprintf(p, "%sp%d", i ? "," : "", i);
	sprintf(p, "\n");
	expect_ok(&cfg, text);
	assert_int_equal(cfg.n_protocols, PF_MAX_PROTOCOLS);
	assert_string_equal(cfg.protocols[PF_MAX_PROTOCOLS - 1], "p15");
	pf_config_free(&cfg);
	sprintf(p, ",p16\n");
	expect_error(text, ":2: [ingest] compliant_protocols: more than 16 protocols");
}

static const char *write_secret(const char *dir, const char *name, const char *data, size_t len)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

static void test_secrets(void **state)
{
	char dir[] = "/tmp/pf-test-creds-XXXXXX", err[512], *s;
	const char *path;

	assert_non_null(mkdtemp(dir));

	path = write_secret(dir, "abs.pw", "hunter2\n", 8);
	unsetenv("CREDENTIALS_DIRECTORY");
	s = pf_config_read_secret(path, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, "hunter2");
	free(s);
	unlink(path);

	write_secret(dir, "mqtt.pw", "s3cret\r\n", 8);
	write_secret(dir, "two.pw", "s3cret\n\n", 8);
	write_secret(dir, "plain.pw", "s3cret", 6);
	write_secret(dir, "nul.pw", "s3c\0ret", 7);

	/* A bare name needs $CREDENTIALS_DIRECTORY. */
	assert_null(pf_config_read_secret("mqtt.pw", err, sizeof(err)));
	assert_non_null(strstr(err, "absolute path"));
	assert_non_null(strstr(err, "LoadCredential="));

	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	s = pf_config_read_secret("mqtt.pw", err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, "s3cret");
	free(s);
	s = pf_config_read_secret("two.pw", err, sizeof(err)); /* only one newline goes */
	assert_non_null(s);
	assert_string_equal(s, "s3cret\n");
	free(s);
	s = pf_config_read_secret("plain.pw", err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, "s3cret");
	free(s);

	assert_null(pf_config_read_secret("nul.pw", err, sizeof(err)));
	assert_null(strstr(err, "s3c"));
	assert_non_null(strstr(err, "NUL"));
	assert_null(pf_config_read_secret("missing.pw", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, "missing.pw"));
	assert_null(pf_config_read_secret("sub/x.pw", err, sizeof(err)));
	assert_null(pf_config_read_secret("..", err, sizeof(err)));
	assert_null(pf_config_read_secret("", err, sizeof(err)));
	unsetenv("CREDENTIALS_DIRECTORY");

	static const char *const names[] = {"mqtt.pw", "two.pw", "plain.pw", "nul.pw"};
	char p[512];

	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void test_diff_nonreloadable(void **state)
{
	struct pf_config a, b;
	char err[256];

	pf_config_init(&a);
	expect_ok(&b, "[log]\nlevel = debug\n[ingest]\nclock_skew = 5\n[aliases]\nx = free\n");
	assert_int_equal(pf_config_diff_nonreloadable(&a, &b, err, sizeof(err)), 0);
	assert_int_equal(config__diff(&a, &b, true, err, sizeof(err)), 1);
	assert_string_equal(err, "[ingest] clock_skew changed");
	pf_config_free(&b);

	expect_ok(&b, "[log]\nlevel = debug\n[mqtt]\nhost = other\n");
	assert_int_equal(pf_config_diff_nonreloadable(&a, &b, err, sizeof(err)), 1);
	assert_string_equal(err, "[mqtt] host changed (it takes a restart, not a reload)");
	pf_config_free(&b);

	expect_ok(&b, "[spool]\nfsync = off\nsegment_bytes = 1M\n");
	assert_int_equal(pf_config_diff_nonreloadable(&a, &b, err, sizeof(err)), 1);
	assert_string_equal(err,
			    "[spool] segment_bytes changed (it takes a restart, not a reload)");
	pf_config_free(&b);

	expect_ok(&b, "[ingest]\npipeline_depth = 8\n");
	assert_int_equal(pf_config_diff_nonreloadable(&a, &b, err, sizeof(err)), 1);
	assert_string_equal(err,
			    "[ingest] pipeline_depth changed (it takes a restart, not a reload)");
	pf_config_free(&b);

	/* an opt-in limit is switched on by a reload */
	expect_ok(&b, "[ingest]\nmax_age = 3600\n");
	assert_int_equal(pf_config_diff_nonreloadable(&a, &b, err, sizeof(err)), 0);
	pf_config_apply_reloadable(&a, &b);
	assert_int_equal(a.ingest.max_age, 3600);
	pf_config_free(&b);
	pf_config_free(&a);
}

/* [broker] is parkfeedctl's: checked like the rest, and a change to it never needs a restart. */
static void test_broker(void **state)
{
	struct pf_config a, cfg;
	char err[256];

	expect_ok(&cfg, "[broker]\nhost = mqtt.example\nport = 8883\nusername = admin\n"
			"password_file = /etc/parkfeed/credentials/broker-admin\n"
			"tls_ca_file = /etc/parkfeed/ca.crt\ndaemons = parkfeed-1 , parkfeed-2\n");
	assert_string_equal(cfg.broker.host, "mqtt.example");
	assert_int_equal(cfg.broker.port, 8883);
	assert_string_equal(cfg.broker.username, "admin");
	assert_string_equal(cfg.broker.daemons, "parkfeed-1 , parkfeed-2");
	pf_config_init(&a);
	assert_int_equal(pf_config_diff_nonreloadable(&a, &cfg, err, sizeof(err)), 0);
	pf_config_free(&a);
	pf_config_free(&cfg);

	expect_error(
		"[broker]\ndaemons = parkfeed-1,,parkfeed-2\n",
		":2: [broker] daemons: \"parkfeed-1,,parkfeed-2\" is not a list of account "
		"names (allowed: comma-separated names of 1..64 characters A-Z a-z 0-9 . _ -)");
	expect_error("[broker]\ndaemons = parkfeed 1\n",
		     ":2: [broker] daemons: \"parkfeed 1\" is not a list of account names "
		     "(allowed: comma-separated names of 1..64 characters A-Z a-z 0-9 . _ -)");
	expect_error("[broker]\nport = 0\n", ":2: [broker] port: 0 is out of range (1..65535)");
}

/* [feed]: off by default; its prefix lies outside the controllers'; echo_rejects reloads. */
static void test_feed(void **state)
{
	struct pf_config a, cfg;
	char err[256];

	pf_config_init(&a);
	assert_string_equal(a.feed.topic_prefix, "");
	assert_false(a.feed.echo_rejects);
	assert_int_equal(a.feed.queue_max, 10000);
	assert_int_equal(a.feed.max_inflight, 100);
	expect_ok(&cfg, "[feed]\ntopic_prefix = city/availability\necho_rejects = true\n"
			"queue_max = 5\nmax_inflight = 1\n");
	assert_string_equal(cfg.feed.topic_prefix, "city/availability");
	assert_true(cfg.feed.echo_rejects);
	assert_int_equal(cfg.feed.queue_max, 5);
	assert_int_equal(cfg.feed.max_inflight, 1);
	assert_int_equal(pf_config_diff_nonreloadable(&a, &cfg, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "[feed] topic_prefix"));
	pf_config_free(&cfg);
	expect_ok(&cfg, "[feed]\necho_rejects = true\n");
	assert_int_equal(pf_config_diff_nonreloadable(&a, &cfg, err, sizeof(err)), 0);
	pf_config_free(&cfg);
	pf_config_free(&a);
	/* a prefix next to parking/ is its own; one within it is the controllers' */
	expect_ok(&cfg, "[mqtt]\ntopic_prefix = parking\n[feed]\ntopic_prefix = parkingfeed\n");
	pf_config_free(&cfg);

	expect_error(
		"[feed]\ntopic_prefix = parking\n",
		":2: [feed] topic_prefix: \"parking\" lies within [mqtt] topic_prefix "
		"\"parking\", where lot controllers publish (allowed: a prefix of its own, e.g. "
		"availability)");
	expect_error(
		"[feed]\ntopic_prefix = parking/out\n[mqtt]\ntopic_prefix = parking\n",
		":2: [feed] topic_prefix: \"parking/out\" lies within [mqtt] topic_prefix "
		"\"parking\", where lot controllers publish (allowed: a prefix of its own, e.g. "
		"availability)");
	expect_error("[feed]\ntopic_prefix = avail/#\n",
		     ":2: [feed] topic_prefix: \"avail/#\" is not a topic prefix (allowed: topic "
		     "levels without + or #, no leading, trailing or double /)");
	expect_error("[feed]\necho_rejects = yes\n",
		     ":2: [feed] echo_rejects: \"yes\" is not allowed (allowed: false, true)");
	expect_error("[feed]\nqueue_max = 0\n",
		     ":2: [feed] queue_max: 0 is out of range (1..1000000)");
	expect_error("[feed]\nmax_inflight = 70000\n",
		     ":2: [feed] max_inflight: 70000 is out of range (1..65535)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_contract_example),
		cmocka_unit_test(test_shipped_loads_at_defaults),
		cmocka_unit_test(test_shipped_uncommented),
		cmocka_unit_test(test_every_key_set),
		cmocka_unit_test(test_comments_and_layout),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_unknown_section_and_key),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_int_bounds),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_protocols),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_diff_nonreloadable),
		cmocka_unit_test(test_broker),
		cmocka_unit_test(test_feed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
