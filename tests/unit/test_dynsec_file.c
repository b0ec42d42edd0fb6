/* The dynamic-security state file offline: passwords hashed as mosquitto's plugin hashes them,
 * files the plugin wrote read back, plans applied and written, other files refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "pf_dynsec.h"

/* Written by mosquitto 2.0.11's dynamic-security plugin (Debian 12) after `mosquitto_ctrl dynsec
 * init` and live commands: createRole r1 with three ACLs, createClient c1 -p secretpw -c c1id,
 * addClientRole c1 r1 5, createClient c2 (then disabled), createClient aaa, createGroup g1,
 * addGroupClient g1 c1. */
static const char plugin_file[] =
	"{\"defaultACLAccess\": {\"publishClientSend\": false, \"publishClientReceive\": true,"
	" \"subscribe\": false, \"unsubscribe\": true},"
	"\"clients\": ["
	"{\"username\": \"aaa\", \"roles\": [],"
	" \"password\": \"f6kFABL7jKQViufdkLJlkFjmIqkAq1DBvM+iGF14D8laCvPB/0yv29H/c34F5MXmXpl8vrkMTtWrhvcbtroa1Q==\","
	" \"salt\": \"/81ehTOZ7i1bgfE6\", \"iterations\": 101},"
	"{\"username\": \"admin\", \"textname\": \"Dynsec admin user\","
	" \"roles\": [{\"rolename\": \"admin\"}],"
	" \"password\": \"3LDM/pUEU5nqbvLEXs0gSoEDqepVufeAlDPmQJ7jBKciOAP4L5j///y8Ad7zAlPwD1bBcngyaCVdUYY1H+0wmA==\","
	" \"salt\": \"b+McBMJWKaaRwdYU\", \"iterations\": 101},"
	"{\"username\": \"c1\", \"clientid\": \"c1id\", \"roles\": [{\"rolename\": \"r1\", \"priority\": 5}],"
	" \"password\": \"I5vzgFlrYGIu1awj4P7MnMwvQmvRBS4LkSjGrLXtApr+kml4BdoTfQNKKwt4BpYEKmP1xWeR7OE+A8k9aNsgNQ==\","
	" \"salt\": \"TI8Z8kH1kdLBEeiW\", \"iterations\": 101},"
	"{\"username\": \"c2\", \"disabled\": true, \"roles\": [{\"rolename\": \"r1\"}],"
	" \"password\": \"/7Zqz4OYcOwbg3AfrhFukcK37dFUlQ9MunQg0HPLL1k1bBnZJ7WQ3hoqXjZX0SD4tKQyuG2Bjg6Jclt+9rKJkA==\","
	" \"salt\": \"KXHBETPhk/gUzUQ9\", \"iterations\": 101}],"
	"\"groups\": [{\"groupname\": \"g1\", \"roles\": [], \"clients\": [{\"username\": \"c1\"}]}],"
	"\"roles\": ["
	"{\"rolename\": \"admin\", \"acls\": ["
	"{\"acltype\": \"publishClientSend\", \"topic\": \"$CONTROL/dynamic-security/#\", \"priority\": 0, \"allow\": true},"
	"{\"acltype\": \"subscribePattern\", \"topic\": \"#\", \"priority\": 0, \"allow\": true}]},"
	"{\"rolename\": \"r1\", \"acls\": ["
	"{\"acltype\": \"publishClientSend\", \"topic\": \"a/x\", \"priority\": 1, \"allow\": false},"
	"{\"acltype\": \"publishClientSend\", \"topic\": \"a/#\", \"priority\": 0, \"allow\": true},"
	"{\"acltype\": \"subscribeLiteral\", \"topic\": \"a/y\", \"priority\": 0, \"allow\": true}]}]}";

static json_t *client_of(const struct pf_dynsec_file *f, const char *user)
{
	return json_object_get(f->by_user, user);
}

static void open_text(struct pf_dynsec_file *f, const char *text)
{
	char err[300] = "";
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);

	assert_non_null(root);
	if (pf_dynsec_file_open(f, root, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
}

/* Counting bytes as the salt: the same file every run. */
static int counting_random(unsigned char *out, size_t len, void *arg)
{
	unsigned char *next = arg;

	for (size_t i = 0; i < len; i++)
		out[i] = (*next)++;
	return 0;
}

static int counter_password(char *out, size_t len, void *arg)
{
	int *n = arg;

	snprintf(out, len + 1, "pw%0*d", (int)len - 2, ++*n);
	return 0;
}

/* ---- passwords ---- */

static void test_pw_plugin_vectors(void **state)
{
	struct pf_dynsec_file f;

	open_text(&f, plugin_file);
	/* createClient c1 -p secretpw, hashed by the plugin */
	assert_int_equal(pf_dynsec_pw_check(client_of(&f, "c1"), "secretpw"), 1);
	assert_int_equal(pf_dynsec_pw_check(client_of(&f, "c1"), "secretpW"), 0);
	assert_int_equal(pf_dynsec_pw_check(client_of(&f, "c1"), ""), 0);
	assert_int_equal(pf_dynsec_pw_check(client_of(&f, "c2"), "other"), 1);
	assert_int_equal(pf_dynsec_pw_check(client_of(&f, "aaa"), "zzz"), 1);
	assert_int_equal(pf_dynsec_pw_check(client_of(&f, "admin"), "adminpw"), 1);
	pf_dynsec_file_free(&f);
}

static void test_pw_set(void **state)
{
	/* PBKDF2-HMAC-SHA512, salt 00 01 .. 0b, 101 rounds, 64 bytes, by Python's hashlib */
	static const char want[] =
		"MKG+R5w2Ou/D6u0Kzv2Z5nN3Jifo4kTwc5E5lMSEU/tCDM+4yvs3K9MfVBsnH2vUy"
		"HOG5MtzCkWH6IDEThnx2Q==";
	unsigned char next = 0, hash[PF_DYNSEC_HASH_LEN];
	json_t *c = json_object();

	assert_int_equal(pf_dynsec_pw_set(c, "Jiaozuo-parking-2023", counting_random, &next), 0);
	assert_string_equal(json_string_value(json_object_get(c, "salt")), "AAECAwQFBgcICQoL");
	assert_string_equal(json_string_value(json_object_get(c, "password")), want);
	assert_int_equal(json_integer_value(json_object_get(c, "iterations")), 101);
	assert_int_equal(pf_dynsec_pw_check(c, "Jiaozuo-parking-2023"), 1);
	assert_null(pf_dynsec_pw_problem(c));
	assert_int_equal(pf_dynsec_pw_hash("x", (const unsigned char *)"s", 1, 0, hash), -EINVAL);
	json_decref(c);
}

static void test_pw_problems(void **state)
{
	static const struct {
		const char *client, *problem;
	} cases[] = {
		{"{\"password\": \"AAAA\", \"salt\": \"AAECAwQFBgcICQoL\", \"iterations\": 101}",
		 "\"password\" is not a 64-byte hash in base64"},
		{"{\"password\": \"AAAA\", \"salt\": \"AAECAwQFBgcICQo=\", \"iterations\": 101}",
		 "\"salt\" is not 12 bytes in base64"},
		{"{\"password\": \"AAAA\", \"salt\": \"AAEC*wQFBgcICQoL\", \"iterations\": 101}",
		 "\"salt\" is not 12 bytes in base64"},
		{"{\"password\": \"AAAA\", \"salt\": \"AAECAwQFBgcICQoL\", \"iterations\": 0}",
		 "\"iterations\" is not a whole number from 1"},
		/* not all three: the plugin keeps the client, without a password */
		{"{\"password\": \"AAAA\", \"salt\": \"AAECAwQFBgcICQoL\"}", NULL},
		{"{}", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *c = json_loads(cases[i].client, 0, NULL);
		const char *got = pf_dynsec_pw_problem(c);

		if (cases[i].problem)
			assert_string_equal(got, cases[i].problem);
		else
			assert_null(got);
		assert_int_equal(pf_dynsec_pw_check(c, "x"), -EINVAL);
		json_decref(c);
	}
}

/* ---- the file ---- */

static void apply_all(struct pf_dynsec_file *f, const struct pf_dynsec_plan *p)
{
	unsigned char next = 0;

	for (size_t i = 0; i < p->n_steps; i++) {
		const char *why = NULL;

		if (pf_dynsec_file_apply(f, p->steps[i].command, counting_random, &next, &why) != 0)
			fail_msg("%s: %s", p->steps[i].what, why);
	}
}

static void test_round_trip(void **state)
{
	const char *lots[] = {"JZ-SY-002", "JZ-SY-001", "c2"};
	const bool enabled[] = {true, true, false};
	const char *daemons[] = {"parkfeed-1"};
	struct pf_dynsec_want w = {"parking", lots, enabled, 2, daemons, 1, "availability"};
	struct pf_dynsec_plan p, again;
	struct pf_dynsec_file f, back;
	json_t *acls;
	char *text;
	int n = 0;

	open_text(&f, plugin_file);
	assert_int_equal(pf_dynsec_plan_build(&p, &w, f.clients, f.roles, counter_password, &n), 0);
	assert_int_equal(p.created, 3);
	apply_all(&f, &p);
	text = pf_dynsec_file_dump(&f);
	assert_non_null(text);
	assert_int_equal(text[strlen(text) - 1], '\n');
	open_text(&back, text);
	free(text);

	/* what the plan wanted is there, and planning again finds nothing to do */
	assert_int_equal(
		pf_dynsec_plan_build(&again, &w, back.clients, back.roles, counter_password, &n),
		0);
	assert_int_equal(again.n_steps, 0);
	assert_int_equal(again.unchanged, 3);
	pf_dynsec_plan_free(&again);
	assert_int_equal(pf_dynsec_pw_check(client_of(&back, "JZ-SY-001"), p.steps[1].password), 1);
	assert_string_equal(
		json_string_value(json_object_get(client_of(&back, "JZ-SY-001"), "clientid")),
		"JZ-SY-001");

	/* sorted by name as the plugin keeps them; its own accounts and the rest untouched */
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(back.clients, 0), "username")),
		"JZ-SY-001");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(back.clients, 6), "username")),
		"parkfeed-1");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(back.roles, 1), "rolename")),
		"parkfeed-daemon");
	assert_int_equal(pf_dynsec_pw_check(client_of(&back, "c1"), "secretpw"), 1);
	assert_true(json_is_true(json_object_get(client_of(&back, "c2"), "disabled")));
	assert_string_equal(
		json_string_value(json_object_get(client_of(&back, "admin"), "textname")),
		"Dynsec admin user");
	assert_int_equal(json_array_size(json_object_get(back.root, "groups")), 1);
	assert_true(json_is_true(
		json_object_get(json_object_get(back.root, "defaultACLAccess"), "unsubscribe")));
	/* a lot's role: its ACLs as the plugin saves them, priority included */
	acls = json_pack("[{s:s, s:s, s:i, s:b}, {s:s, s:s, s:i, s:b}, {s:s, s:s, s:i, s:b}, "
			 "{s:s, s:s, s:i, s:b}]",
			 "acltype", "publishClientSend", "topic", "parking/JZ-SY-001/rejected",
			 "priority", 1, "allow", 0, "acltype", "publishClientSend", "topic",
			 "parking/JZ-SY-001/#", "priority", 0, "allow", 1, "acltype",
			 "subscribeLiteral", "topic", "parking/JZ-SY-001/rejected", "priority", 0,
			 "allow", 1, "acltype", "publishClientReceive", "topic",
			 "parking/JZ-SY-001/rejected", "priority", 0, "allow", 1);
	assert_true(json_equal(
		json_object_get(json_object_get(back.by_role, "parkfeed-lot:JZ-SY-001"), "acls"),
		acls));
	json_decref(acls);
	/* the daemons' role: the live feed under its prefix too */
	acls = json_object_get(json_object_get(back.by_role, "parkfeed-daemon"), "acls");
	assert_int_equal(json_array_size(acls), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(acls, 4), "topic")),
			    "availability/#");
	pf_dynsec_plan_free(&p);
	pf_dynsec_file_free(&back);
	pf_dynsec_file_free(&f);
}

/* Retire, reinstate, repair: every command a plan holds, applied to the file. */
static void test_changes(void **state)
{
	const char *lots[] = {"A"};
	bool enabled[] = {false};
	struct pf_dynsec_want w = {"city/parking", lots, enabled, 1, NULL, 0, NULL};
	struct pf_dynsec_plan p;
	struct pf_dynsec_file f;
	int n = 0;

	open_text(&f, "{\"clients\": [{\"username\": \"A\", \"clientid\": \"old\", \"roles\": []}],"
		      " \"roles\": [{\"rolename\": \"parkfeed-lot:A\", \"acls\": ["
		      "{\"acltype\": \"publishClientSend\", \"topic\": \"parking/A/#\", "
		      "\"priority\": 0, \"allow\": true}]}]}");
	assert_int_equal(pf_dynsec_plan_build(&p, &w, f.clients, f.roles, counter_password, &n), 0);
	/* not this lot's client yet (no role): a conflict, left alone */
	assert_int_equal(p.n_conflicts, 1);
	assert_int_equal(p.n_steps, 0);
	pf_dynsec_plan_free(&p);
	json_array_append_new(json_object_get(client_of(&f, "A"), "roles"),
			      json_pack("{s:s}", "rolename", "parkfeed-lot:A"));

	assert_int_equal(pf_dynsec_plan_build(&p, &w, f.clients, f.roles, counter_password, &n), 0);
	assert_int_equal(p.disabled, 1);
	apply_all(&f, &p);
	pf_dynsec_plan_free(&p);
	assert_true(json_is_true(json_object_get(client_of(&f, "A"), "disabled")));
	assert_string_equal(json_string_value(json_object_get(client_of(&f, "A"), "clientid")),
			    "A");

	enabled[0] = true;
	assert_int_equal(pf_dynsec_plan_build(&p, &w, f.clients, f.roles, counter_password, &n), 0);
	assert_int_equal(p.enabled, 1);
	assert_int_equal(p.n_steps, 1);
	apply_all(&f, &p);
	pf_dynsec_plan_free(&p);
	assert_null(json_object_get(client_of(&f, "A"), "disabled"));
	assert_int_equal(pf_dynsec_plan_build(&p, &w, f.clients, f.roles, counter_password, &n), 0);
	assert_int_equal(p.n_steps, 0);
	pf_dynsec_plan_free(&p);
	pf_dynsec_file_free(&f);
}

static void apply_text(struct pf_dynsec_file *f, const char *command)
{
	json_t *cmd = json_loads(command, 0, NULL);
	unsigned char next = 0;
	const char *why = NULL;

	assert_non_null(cmd);
	if (pf_dynsec_file_apply(f, cmd, counting_random, &next, &why) != 0)
		fail_msg("%s: %s", command, why);
	json_decref(cmd);
}

/* The commands no plan of parkfeed's needs today, as the plugin does them. */
static void test_apply_client_commands(void **state)
{
	struct pf_dynsec_file f;

	open_text(&f, plugin_file);
	apply_text(&f, "{\"command\": \"addClientRole\", \"username\": \"aaa\", \"rolename\": "
		       "\"r1\"}");
	apply_text(&f, "{\"command\": \"addClientRole\", \"username\": \"aaa\", \"rolename\": "
		       "\"r1\"}");
	assert_int_equal(json_array_size(json_object_get(client_of(&f, "aaa"), "roles")), 1);
	apply_text(&f, "{\"command\": \"setClientId\", \"username\": \"c1\", \"clientid\": \"\"}");
	assert_null(json_object_get(client_of(&f, "c1"), "clientid"));
	apply_text(&f, "{\"command\": \"removeRoleACL\", \"rolename\": \"r1\", \"acltype\": "
		       "\"PUBLISHCLIENTSEND\", \"topic\": \"a/x\"}");
	assert_int_equal(json_array_size(json_object_get(json_object_get(f.by_role, "r1"), "acls")),
			 2);
	apply_text(&f, "{\"command\": \"createRole\", \"rolename\": \"bare\"}");
	apply_text(&f, "{\"command\": \"addRoleACL\", \"rolename\": \"bare\", \"acltype\": "
		       "\"subscribepattern\", \"topic\": \"t/#\", \"allow\": true}");
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(json_object_get(f.by_role, "bare"), "acls"),
				       0),
			"acltype")),
		"subscribePattern");
	pf_dynsec_file_free(&f);
}

static void test_apply_refusals(void **state)
{
	static const struct {
		const char *command, *error;
	} cases[] = {
		{"{\"command\": \"createClient\", \"username\": \"c1\", \"password\": \"x\"}",
		 "Client already exists"},
		{"{\"command\": \"createClient\", \"username\": \"n\", \"roles\": [{\"rolename\": "
		 "\"none\"}]}",
		 "Role not found"},
		{"{\"command\": \"createRole\", \"rolename\": \"r1\"}", "Role already exists"},
		{"{\"command\": \"addRoleACL\", \"rolename\": \"r1\", \"acltype\": "
		 "\"publishClientSend\", \"topic\": \"a/#\"}",
		 "ACL with this topic already exists"},
		{"{\"command\": \"removeRoleACL\", \"rolename\": \"r1\", \"acltype\": "
		 "\"subscribePattern\", \"topic\": \"a/#\"}",
		 "ACL not found"},
		{"{\"command\": \"addRoleACL\", \"rolename\": \"r1\", \"acltype\": \"publish\", "
		 "\"topic\": \"b\"}",
		 "Invalid/missing acltype or topic"},
		{"{\"command\": \"enableClient\", \"username\": \"nobody\"}", "Client not found"},
		{"{\"command\": \"addClientRole\", \"username\": \"c1\", \"rolename\": \"none\"}",
		 "Role not found"},
		{"{\"command\": \"deleteClient\", \"username\": \"c1\"}", "Unknown command"},
	};
	struct pf_dynsec_file f;
	unsigned char next = 0;
	char *before, *after;

	open_text(&f, plugin_file);
	before = json_dumps(f.root, JSON_SORT_KEYS);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *cmd = json_loads(cases[i].command, 0, NULL);
		const char *why = NULL;

		assert_int_equal(pf_dynsec_file_apply(&f, cmd, counting_random, &next, &why), 1);
		assert_string_equal(why, cases[i].error);
		json_decref(cmd);
	}
	after = json_dumps(f.root, JSON_SORT_KEYS);
	assert_string_equal(after, before); /* a refused command changes nothing */
	free(before);
	free(after);
	pf_dynsec_file_free(&f);
}

static void test_refused_files(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{"[]", "not a JSON object"},
		{"{\"listeners\": [], \"port\": 1883}", "not a dynamic-security file"},
		{"{\"clients\": {}}", "\"clients\" is not an array"},
		{"{\"clients\": [], \"roles\": [], \"groups\": 7}", "\"groups\" is not an array"},
		{"{\"clients\": [{\"clientid\": \"x\"}]}",
		 "clients[0] is not an object with a \"username\""},
		{"{\"clients\": [{\"username\": \"a\"}, {\"username\": \"a\"}]}",
		 "two clients are named \"a\""},
		{"{\"roles\": [{\"rolename\": \"r\"}, {\"rolename\": \"r\"}]}",
		 "two roles are named \"r\""},
		{"{\"clients\": [{\"username\": \"a\", \"ClientId\": \"b\"}]}",
		 "client \"a\" has a key \"ClientId\", which mosquitto reads as \"clientid\""},
		{"{\"Clients\": []}", "the file has a key \"Clients\""},
		{"{\"clients\": [{\"username\": \"a\", \"password\": \"AAAA\", \"salt\": \"AAAA\", "
		 "\"iterations\": 101}]}",
		 "client \"a\": \"salt\" is not 12 bytes in base64 (mosquitto would drop the "
		 "account)"},
		{"{\"clients\": [{\"username\": \"a\", \"disabled\": \"yes\"}]}",
		 "client \"a\": \"clientid\" is not text or \"disabled\" not true/false"},
		{"{\"clients\": [{\"username\": \"a\", \"roles\": [{\"rolename\": \"r\", "
		 "\"priority\": 1.5}]}]}",
		 "client \"a\": roles[0] is not"},
		{"{\"roles\": [{\"rolename\": \"r\", \"acls\": [{\"acltype\": \"publish\", "
		 "\"topic\": \"t\"}]}]}",
		 "role \"r\": acls[0] is not"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pf_dynsec_file f;
		char err[300] = "";

		assert_int_equal(pf_dynsec_file_open(&f, json_loads(cases[i].text, 0, NULL), err,
						     sizeof(err)),
				 -EINVAL);
		if (!strstr(err, cases[i].error))
			fail_msg("case %zu: [%s] does not say [%s]", i, err, cases[i].error);
		assert_null(f.root);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pw_plugin_vectors),
		cmocka_unit_test(test_pw_set),
		cmocka_unit_test(test_pw_problems),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_changes),
		cmocka_unit_test(test_apply_client_commands),
		cmocka_unit_test(test_apply_refusals),
		cmocka_unit_test(test_refused_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
