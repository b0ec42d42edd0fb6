/* parkfeed-api.conf: the shipped file lists every key at its default, and a bad file is refused
 * with FILE:LINE and what is allowed; the tile origin and CORS helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "apiconf.h"

#define SHIPPED PF_TESTDATA_DIR "/../../config/parkfeed-api.conf"

static void test_shipped_is_defaults(void **state)
{
	struct api_config cfg, def;
	char err[512], line[512], section[32] = "";
	const char *name, *sec, *defval;
	bool found[64] = {false};
	size_t n = 0;
	FILE *f;

	(void)state;
	apiconf__init(&cfg);
	apiconf__init(&def);
	if (apiconf__load(&cfg, SHIPPED, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	if (apiconf__diff_all(&cfg, &def, err, sizeof(err)) != 0)
		fail_msg("the shipped file differs from the defaults: %s", err);
	f = fopen(SHIPPED, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '[')
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(line + 1, "]"),
				 line + 1);
		for (size_t i = 0; (name = apiconf__key(i, &sec, &defval)); i++) {
			char want[256];

			snprintf(want, sizeof(want), "%s =%s%s", name, defval[0] ? " " : "",
				 defval);
			if (strcmp(sec, section) == 0 && strcmp(line, want) == 0)
				found[i] = true;
		}
	}
	fclose(f);
	for (size_t i = 0; (name = apiconf__key(i, &sec, &defval)); i++, n++)
		if (!found[i])
			fail_msg("config/parkfeed-api.conf lacks \"%s = %s\" in [%s]", name, defval,
				 sec);
	assert_true(n > 20 && n < 64);
	apiconf__free(&cfg);
	apiconf__free(&def);
}

static int load_text(const char *text, char *err, size_t errlen)
{
	char path[] = "/tmp/pf-api-conf-XXXXXX";
	int fd = mkstemp(path), rc;
	struct api_config cfg;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	apiconf__init(&cfg);
	rc = apiconf__load(&cfg, path, err, errlen);
	apiconf__free(&cfg);
	unlink(path);
	/* The message names the file: drop that part for comparison. */
	if (rc < 0 && strncmp(err, path, strlen(path)) == 0)
		memmove(err, err + strlen(path), strlen(err + strlen(path)) + 1);
	return rc;
}

static void test_refusals(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{"[api]\nlisten = localhost:8080\n", ":2: [api] listen: \"localhost:8080\" is not "
						     "ADDRESS:PORT"},
		{"[api]\nthreads = 0\n", ":2: [api] threads: 0 is out of range (1..64)"},
		{"[api]\nrate_limit = -1\n", ":2: [api] rate_limit: -1 is out of range"},
		{"[api]\nlisen = 1\n", ":2: [api] lisen: unknown key (did you mean listen?)"},
		{"[api]\nroot = /x\n", ":2: [api] root: unknown key (it belongs in [web])"},
		{"[apis]\n", ":1: [apis]: unknown section (did you mean [api]?)"},
		{"[api]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n",
		 ":3: [api] listen: duplicate key (first set on line 2)"},
		{"[api]\ntrusted_proxies = lb.example\n",
		 ":2: [api] trusted_proxies: \"lb.example\" is not an IPv4 or IPv6 address"},
		{"[api]\ncors_allow_origin = example.org\n",
		 ":2: [api] cors_allow_origin: \"example.org\" is not an origin list"},
		{"[web]\ntile_url = https://tiles.example.org/tile.png\n",
		 ":2: [web] tile_url: \"https://tiles.example.org/tile.png\" is not a tile URL"},
		{"[web]\ntile_url = ftp://a/{z}/{x}/{y}\n", ":2: [web] tile_url:"},
		{"[web]\ntile_url = https://a.{s}.example/{z}/{x}/{y}.png\n",
		 ":2: [web] tile_url:"},
		{"[web]\ntile_url = https://a.example/{z}/{x}/{y}.png\";\n", ":2: [web] tile_url:"},
		{"[postgres]\nstatement_timeout_ms = 50\n",
		 ":2: [postgres] statement_timeout_ms: 50 "
		 "is out of range (100..600000)"},
		{"[web]\ntile_crs = bd09\n",
		 ":2: [web] tile_crs: \"bd09\" is not allowed (allowed: wgs84, gcj02)"},
		{"[log]\nlevel = loud\n",
		 ":2: [log] level: \"loud\" is not allowed (allowed: debug, "
		 "info, notice, warning, error)"},
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (load_text(cases[i].text, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", cases[i].text);
		if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
			fail_msg("\"%s\" does not start with \"%s\"", err, cases[i].err);
	}
	assert_int_equal(
		load_text("[api]\nlisten = [::1]:8080\ncors_allow_origin = https://a.example, "
			  "http://b.example:8000\ntrusted_proxies = 10.0.0.0/8, ::1\n"
			  "[web]\ntile_url = https://{s}.tile.example.org/{z}/{x}/{y}.png\n",
			  err, sizeof(err)),
		0);
	/* Tianditu: the key in the query, CGCS2000 (the page takes it as WGS-84). */
	assert_int_equal(
		load_text("[web]\ntile_url = https://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&"
			  "REQUEST=GetTile&VERSION=1.0.0&LAYER=vec&STYLE=default&TILEMATRIXSET=w&"
			  "FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=0123abcd\n"
			  "tile_crs = wgs84\n",
			  err, sizeof(err)),
		0);
}

static void test_tile_origin_and_cors(void **state)
{
	char o[APICONF_ORIGIN_MAX];

	(void)state;
	assert_int_equal(apiconf__tile_origin("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
					      o, sizeof(o)),
			 0);
	assert_string_equal(o, "https://*.tile.openstreetmap.org");
	assert_int_equal(apiconf__tile_origin("https://tiles.example.org:8443/m/{z}/{x}/{y}.png", o,
					      sizeof(o)),
			 0);
	assert_string_equal(o, "https://tiles.example.org:8443");
	assert_int_equal(apiconf__tile_origin(
				 "http://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}", o,
				 sizeof(o)),
			 0);
	assert_string_equal(o, "http://*.is.autonavi.com");
	assert_int_equal(apiconf__tile_origin("https:///{z}/{x}/{y}", o, sizeof(o)), -EINVAL);
	assert_int_equal(apiconf__tile_origin("https://a b/{z}/{x}/{y}", o, sizeof(o)), -EINVAL);

	assert_true(apiconf__cors_allows("*", NULL));
	assert_true(apiconf__cors_allows("*", "https://x.example"));
	assert_false(apiconf__cors_allows("", "https://x.example"));
	assert_true(
		apiconf__cors_allows("https://a.example, https://x.example", "https://x.example"));
	assert_false(apiconf__cors_allows("https://a.example", "https://a.example.evil"));
	assert_false(apiconf__cors_allows("https://a.example", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_is_defaults),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_tile_origin_and_cors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
