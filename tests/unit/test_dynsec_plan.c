/* The broker-account plan: what it asks of the dynamic-security plugin, and that applying it
 * (to a model of the plugin) leaves nothing more to do. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "pf_dynsec.h"

static int counter_password(char *out, size_t len, void *arg)
{
	int *n = arg;

	snprintf(out, len + 1, "pw%0*d", (int)len - 2, ++*n);
	return 0;
}

/* ---- a model of the plugin: the commands the plan uses, applied to listClients/listRoles ---- */

struct model {
	json_t *clients; /* array of client objects */
	json_t *roles;	 /* array of role objects */
};

static json_t *find(json_t *arr, const char *key, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, key)), name) == 0)
			return v;
	}
	return NULL;
}

static void apply_acl(json_t *role, const json_t *cmd, bool add)
{
	json_t *acls = json_object_get(role, "acls"), *a;
	const char *type = json_string_value(json_object_get(cmd, "acltype"));
	const char *topic = json_string_value(json_object_get(cmd, "topic"));
	size_t i;

	json_array_foreach(acls, i, a)
	{
		if (strcmp(json_string_value(json_object_get(a, "acltype")), type) == 0 &&
		    strcmp(json_string_value(json_object_get(a, "topic")), topic) == 0) {
			assert_false(add); /* the plugin refuses a duplicate ACL */
			json_array_remove(acls, i);
			return;
		}
	}
	assert_true(add);
	json_array_append_new(acls, json_pack("{s:s, s:s, s:O, s:O}", "acltype", type, "topic",
					      topic, "allow", json_object_get(cmd, "allow"),
					      "priority", json_object_get(cmd, "priority")));
}

static void apply(struct model *m, const json_t *cmd)
{
	const char *c = json_string_value(json_object_get(cmd, "command"));
	const char *user = json_string_value(json_object_get(cmd, "username"));
	const char *role = json_string_value(json_object_get(cmd, "rolename"));
	json_t *client = user ? find(m->clients, "username", user) : NULL;

	if (strcmp(c, "createRole") == 0) {
		assert_null(find(m->roles, "rolename", role));
		json_array_append_new(m->roles, json_pack("{s:s, s:O}", "rolename", role, "acls",
							  json_object_get(cmd, "acls")));
	} else if (strcmp(c, "createClient") == 0) {
		assert_null(client);
		json_array_append_new(m->clients,
				      json_pack("{s:s, s:O, s:O}", "username", user, "clientid",
						json_object_get(cmd, "clientid"), "roles",
						json_object_get(cmd, "roles")));
	} else if (strcmp(c, "addRoleACL") == 0 || strcmp(c, "removeRoleACL") == 0) {
		apply_acl(find(m->roles, "rolename", role), cmd, c[0] == 'a');
	} else {
		assert_non_null(client);
		if (strcmp(c, "enableClient") == 0)
			json_object_del(client, "disabled");
		else if (strcmp(c, "disableClient") == 0)
			json_object_set_new(client, "disabled", json_true());
		else if (strcmp(c, "setClientId") == 0)
			json_object_set(client, "clientid", json_object_get(cmd, "clientid"));
		else if (strcmp(c, "addClientRole") == 0)
			json_array_append_new(json_object_get(client, "roles"),
					      json_pack("{s:s}", "rolename", role));
		else
			fail_msg("the model does not know command %s", c);
	}
}

static void plan(struct pf_dynsec_plan *p, const struct pf_dynsec_want *w, struct model *m)
{
	int n = 0;

	assert_int_equal(pf_dynsec_plan_build(p, w, m->clients, m->roles, counter_password, &n), 0);
	for (size_t i = 0; i < p->n_steps; i++) {
		char idx[24];

		snprintf(idx, sizeof(idx), "%zu", i);
		assert_string_equal(
			json_string_value(json_object_get(p->steps[i].command, "correlationData")),
			idx);
	}
}

/* Apply the plan to the model; planning again must then find nothing to do. */
static void apply_and_replan(struct pf_dynsec_plan *p, const struct pf_dynsec_want *w,
			     struct model *m)
{
	struct pf_dynsec_plan again;

	for (size_t i = 0; i < p->n_steps; i++)
		apply(m, p->steps[i].command);
	plan(&again, w, m);
	assert_int_equal(again.n_steps, 0);
	assert_int_equal(again.created + again.enabled + again.disabled + again.repaired, 0);
	pf_dynsec_plan_free(&again);
}

static const char *cmd_of(const struct pf_dynsec_plan *p, size_t i)
{
	return json_string_value(json_object_get(p->steps[i].command, "command"));
}

static void model_init(struct model *m, const char *clients, const char *roles)
{
	m->clients = json_loads(clients, 0, NULL);
	m->roles = json_loads(roles, 0, NULL);
	assert_non_null(m->clients);
	assert_non_null(m->roles);
}

static void model_free(struct model *m)
{
	json_decref(m->clients);
	json_decref(m->roles);
}

/* ---- tests ---- */

static void test_empty_broker(void **state)
{
	const char *lots[] = {"JZ-SY-002", "JZ-SY-001", "JZ-SY-009"};
	const bool enabled[] = {true, true, false};
	const char *daemons[] = {"parkfeed-1"};
	struct pf_dynsec_want w = {"parking", lots, enabled, 3, daemons, 1, "availability"};
	struct pf_dynsec_plan p;
	struct model m;
	json_t *acls;

	model_init(&m, "[]", "[]");
	plan(&p, &w, &m);
	/* lots in lot_id order, each role before its client; the retired one gets nothing */
	assert_int_equal(p.n_steps, 6);
	assert_string_equal(cmd_of(&p, 0), "createRole");
	assert_string_equal(p.steps[0].what, "create role parkfeed-lot:JZ-SY-001");
	assert_string_equal(cmd_of(&p, 1), "createClient");
	assert_string_equal(p.steps[1].username, "JZ-SY-001");
	assert_string_equal(p.steps[1].password, "pw0000000000000000000001");
	assert_string_equal(json_string_value(json_object_get(p.steps[1].command, "clientid")),
			    "JZ-SY-001");
	assert_string_equal(p.steps[3].username, "JZ-SY-002");
	assert_string_equal(p.steps[4].what, "create role parkfeed-daemon");
	assert_int_equal(p.steps[5].account, PF_DYNSEC_DAEMON);
	assert_int_equal(p.created, 3);
	assert_int_equal(p.unchanged, 1);

	/* a lot writes under its own prefix but not its rejected topic, which it reads */
	acls = json_object_get(p.steps[0].command, "acls");
	assert_int_equal(json_array_size(acls), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(acls, 0), "topic")),
			    "parking/JZ-SY-001/rejected");
	assert_true(json_is_false(json_object_get(json_array_get(acls, 0), "allow")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(acls, 1), "topic")),
			    "parking/JZ-SY-001/#");
	acls = json_object_get(p.steps[4].command, "acls");
	assert_string_equal(json_string_value(json_object_get(json_array_get(acls, 1), "topic")),
			    "$share/+/parking/#");
	/* daemons publish the live feed under its prefix, and nothing else but rejected echoes */
	assert_int_equal(json_array_size(acls), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(acls, 3), "topic")),
			    "parking/+/rejected");
	assert_string_equal(json_string_value(json_object_get(json_array_get(acls, 4), "acltype")),
			    "publishClientSend");
	assert_string_equal(json_string_value(json_object_get(json_array_get(acls, 4), "topic")),
			    "availability/#");

	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);
	model_free(&m);
}

static void test_retire_reinstate_and_gone(void **state)
{
	const char *lots[] = {"A", "B"};
	bool enabled[] = {true, false};
	struct pf_dynsec_want w = {"parking", lots, enabled, 2, NULL, 0, NULL};
	struct pf_dynsec_plan p;
	struct model m;

	model_init(&m, "[]", "[]");
	plan(&p, &w, &m);
	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);

	/* B back in service: enabled B was never created (retired before it had an account) */
	enabled[1] = true;
	plan(&p, &w, &m);
	assert_int_equal(p.created, 1);
	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);

	/* B retired: disabled, not deleted */
	enabled[1] = false;
	plan(&p, &w, &m);
	assert_int_equal(p.n_steps, 1);
	assert_string_equal(cmd_of(&p, 0), "disableClient");
	assert_int_equal(p.disabled, 1);
	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);

	/* reinstated: enabled, no new password */
	enabled[1] = true;
	plan(&p, &w, &m);
	assert_int_equal(p.n_steps, 1);
	assert_string_equal(cmd_of(&p, 0), "enableClient");
	assert_null(p.steps[0].password);
	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);

	/* A no longer in the registry at all: disabled too */
	w.lots = lots + 1;
	w.lot_enabled = enabled + 1;
	w.n_lots = 1;
	plan(&p, &w, &m);
	assert_int_equal(p.n_steps, 1);
	assert_string_equal(p.steps[0].what, "disable client A (its lot is not in the registry)");
	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);
	model_free(&m);
}

static void test_daemons(void **state)
{
	const char *two[] = {"parkfeed-1", "parkfeed-2"};
	struct pf_dynsec_want w = {"parking", NULL, NULL, 0, two, 2, NULL};
	struct pf_dynsec_plan p;
	struct model m;

	model_init(&m, "[]", "[]");
	plan(&p, &w, &m);
	assert_int_equal(p.created, 2);
	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);

	/* no daemons named: their accounts are left as they are */
	w.n_daemons = 0;
	plan(&p, &w, &m);
	assert_int_equal(p.n_steps, 0);
	pf_dynsec_plan_free(&p);

	/* one named: the other is disabled */
	w.n_daemons = 1;
	plan(&p, &w, &m);
	assert_int_equal(p.n_steps, 1);
	assert_string_equal(p.steps[0].what, "disable client parkfeed-2 (not in [broker] daemons)");
	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);

	/* a live feed configured later: the daemons' role gains it */
	w.feed_prefix = "availability";
	plan(&p, &w, &m);
	assert_int_equal(p.n_steps, 1);
	assert_string_equal(p.steps[0].what, "add ACL publishClientSend allow availability/# to "
					     "role parkfeed-daemon");
	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);
	model_free(&m);
}

static void test_repairs(void **state)
{
	const char *lots[] = {"A"};
	const bool enabled[] = {true};
	struct pf_dynsec_want w = {"city/parking", lots, enabled, 1, NULL, 0, NULL};
	struct pf_dynsec_plan p;
	struct model m;

	/* the prefix changed and the client id drifted */
	model_init(
		&m,
		"[{\"username\": \"A\", \"clientid\": \"other\", \"roles\": "
		"[{\"rolename\": \"parkfeed-lot:A\"}]}]",
		"[{\"rolename\": \"parkfeed-lot:A\", \"acls\": ["
		"{\"acltype\": \"publishClientSend\", \"topic\": \"parking/A/rejected\", "
		"\"allow\": false, \"priority\": 1},"
		"{\"acltype\": \"publishClientSend\", \"topic\": \"parking/A/#\", \"allow\": true},"
		"{\"acltype\": \"subscribeLiteral\", \"topic\": \"parking/A/rejected\", "
		"\"allow\": true}]}]");
	plan(&p, &w, &m);
	assert_int_equal(p.n_steps, 3 + 4 + 1);
	assert_string_equal(cmd_of(&p, 0), "removeRoleACL");
	assert_string_equal(cmd_of(&p, 3), "addRoleACL");
	assert_string_equal(cmd_of(&p, 7), "setClientId");
	assert_int_equal(p.repaired, 1);
	assert_null(p.steps[7].password);
	apply_and_replan(&p, &w, &m);
	pf_dynsec_plan_free(&p);
	model_free(&m);
}

static void test_conflicts(void **state)
{
	const char *lots[] = {"A", "parkfeed-1"};
	const bool enabled[] = {true, true};
	const char *daemons[] = {"parkfeed-1", "mosq-admin"};
	struct pf_dynsec_want w = {"parking", lots, enabled, 2, daemons, 2, NULL};
	struct pf_dynsec_plan p;
	struct model m;

	model_init(&m,
		   "[{\"username\": \"A\", \"roles\": [{\"rolename\": \"someone\"}]},"
		   "{\"username\": \"mosq-admin\", \"roles\": [{\"rolename\": \"admin\"}]}]",
		   "[]");
	plan(&p, &w, &m);
	assert_int_equal(p.n_conflicts, 3);
	assert_string_equal(p.conflicts[0], "lot A: the broker already has a client A that is not "
					    "this lot's (roles: someone); rename one of them");
	assert_non_null(strstr(p.conflicts[1], "daemon parkfeed-1: a lot has that id"));
	assert_non_null(strstr(p.conflicts[2], "daemon mosq-admin: the broker already has"));
	/* the lot parkfeed-1 itself is fine; nothing touches A or mosq-admin */
	for (size_t i = 0; i < p.n_steps; i++) {
		assert_string_not_equal(p.steps[i].username, "A");
		assert_string_not_equal(p.steps[i].username, "mosq-admin");
	}
	assert_int_equal(p.created, 1);
	pf_dynsec_plan_free(&p);
	model_free(&m);
}

static void test_malformed_state(void **state)
{
	struct pf_dynsec_want w = {"parking", NULL, NULL, 0, NULL, 0, NULL};
	struct pf_dynsec_plan p;
	json_t *obj = json_object(), *arr = json_loads("[{\"nousername\": 1}]", 0, NULL);
	int n = 0;

	assert_int_equal(pf_dynsec_plan_build(&p, &w, obj, arr, counter_password, &n), -EINVAL);
	assert_int_equal(p.n_steps, 0);
	assert_int_equal(pf_dynsec_plan_build(&p, &w, arr, arr, counter_password, &n), -EINVAL);
	json_decref(obj);
	json_decref(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_broker),
		cmocka_unit_test(test_retire_reinstate_and_gone),
		cmocka_unit_test(test_daemons),
		cmocka_unit_test(test_repairs),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_malformed_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
