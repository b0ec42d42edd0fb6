/* The web page's files as parkfeed-api loads them: subdirectories, symbolic links to files and
 * directories elsewhere (the libjs-* packages' libraries), and what is left out: dot files,
 * odd names, links that lead nowhere, a link loop. */
#include <errno.h>
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

#include "web.h"

static char base[64];

static void put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void dir(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void link_to(const char *target, const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void expect_file(const struct web_files *w, const char *path, const char *body,
			const char *type)
{
	const struct web_file *f = web__find(w, path);

	if (!f)
		fail_msg("%s is not served", path);
	assert_int_equal(f->body->len, strlen(body));
	assert_memory_equal(f->body->data, body, strlen(body));
	assert_string_equal(f->type, type);
}

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/pf-web-XXXXXX");
	assert_non_null(mkdtemp(base));
	/* The packages' side: a library and a directory of them, outside the root. */
	dir("pkg");
	put("pkg/lib.min.js", "var L = {};\n");
	dir("pkg/images");
	put("pkg/images/layers.png", "PNG");
	put("pkg/lib.css", ".leaflet{}\n");
	/* The root as the install step assembles it. */
	dir("root");
	put("root/index.html", "<!doctype html><title>停车</title>\n");
	dir("root/js");
	put("root/js/app.js", "import './i18n.js';\n");
	put("root/.hidden", "secret\n");
	put("root/bad name.js", "x\n");
	dir("root/vendor");
	dir("root/vendor/leaflet");
	link_to("../../../pkg/lib.min.js", "root/vendor/leaflet/leaflet.js");
	link_to("../../../pkg/images", "root/vendor/leaflet/images");
	link_to("/nonexistent/parkfeed-test/chart.min.js", "root/vendor/chart.js");
	char abs[128];
	snprintf(abs, sizeof(abs), "%s/pkg/lib.css", base);
	link_to(abs, "root/vendor/leaflet/leaflet.css");
	/* A loop: the root inside itself. */
	link_to("..", "root/js/up");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* The files under base/sub, as parkfeed-api would serve them. */
static struct web_files *load(const char *sub)
{
	char root[96];
	struct web_files *w;

	snprintf(root, sizeof(root), "%s/%s", base, sub);
	w = web__load(root);
	assert_non_null(w);
	return w;
}

static void test_links_and_subdirectories(void **state)
{
	struct web_files *w = load("root");

	(void)state;
	assert_string_equal(w->problem, "");
	expect_file(w, "index.html", "<!doctype html><title>停车</title>\n",
		    "text/html; charset=utf-8");
	expect_file(w, "js/app.js", "import './i18n.js';\n", "text/javascript; charset=utf-8");
	/* Symbolic links, relative and absolute, to a file and to a directory. */
	expect_file(w, "vendor/leaflet/leaflet.js", "var L = {};\n",
		    "text/javascript; charset=utf-8");
	expect_file(w, "vendor/leaflet/leaflet.css", ".leaflet{}\n", "text/css; charset=utf-8");
	expect_file(w, "vendor/leaflet/images/layers.png", "PNG", "image/png");
	/* Left out: a link that leads nowhere, dot files, names outside the plain set. */
	assert_null(web__find(w, "vendor/chart.js"));
	assert_null(web__find(w, ".hidden"));
	assert_null(web__find(w, "bad name.js"));
	assert_null(web__find(w, "vendor"));
	/* The loop is followed no deeper than WEB_MAX_DEPTH directories. */
	expect_file(w, "js/up/index.html", "<!doctype html><title>停车</title>\n",
		    "text/html; charset=utf-8");
	assert_non_null(web__find(w, "js/up/js/up/index.html"));
	assert_null(web__find(w, "js/up/js/up/js/app.js"));
	assert_true(w->n < 40);
	for (size_t i = 1; i < w->n; i++)
		assert_true(strcmp(w->files[i - 1].path, w->files[i].path) < 0);
	rc__unref(&w->rc);
}

static void test_missing_root(void **state)
{
	struct web_files *w = load("nowhere");

	(void)state;
	assert_int_equal(w->n, 0);
	assert_non_null(strstr(w->problem, "cannot read"));
	assert_null(web__find(w, "index.html"));
	rc__unref(&w->rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_links_and_subdirectories),
		cmocka_unit_test(test_missing_root),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
