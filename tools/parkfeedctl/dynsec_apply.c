/* The plan's dynamic-security commands applied to the plugin's state file, as the plugin would. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "pf_dynsec.h"

/*
 * Each command does to the file what mosquitto 2.0's handler does to its memory before it saves
 * (plugins/dynamic-security/clients.c, roles.c), and refuses what the handler refuses with the
 * handler's words. Only the commands a plan holds are known.
 */

struct apply {
	struct pf_dynsec_file *f;
	const json_t *cmd;
	pf_dynsec_random_fn random;
	void *arg;
	const char *error; /* the refusal, as the plugin words it */
};

static const char *arg_str(const struct apply *a, const char *key)
{
	return json_string_value(json_object_get(a->cmd, key));
}

static int refuse(struct apply *a, const char *why)
{
	a->error = why;
	return 1;
}

static const char *canonical_acltype(const char *s)
{
	static const char *const types[] = {"publishClientSend",  "publishClientReceive",
					    "subscribeLiteral",	  "subscribePattern",
					    "unsubscribeLiteral", "unsubscribePattern"};

	for (size_t i = 0; s && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(s, types[i]) == 0)
			return types[i];
	return NULL;
}

/* An ACL as the plugin saves it; NULL when spec has no known type or no topic. */
static json_t *acl_from(const json_t *spec)
{
	const char *type = canonical_acltype(json_string_value(json_object_get(spec, "acltype")));
	const char *topic = json_string_value(json_object_get(spec, "topic"));

	if (!type || !topic)
		return NULL;
	return json_pack("{s:s, s:s, s:I, s:b}", "acltype", type, "topic", topic, "priority",
			 json_integer_value(json_object_get(spec, "priority")), "allow",
			 json_is_true(json_object_get(spec, "allow")));
}

/* The index of the role's ACL of that type and topic, or -1. */
static long find_acl(const json_t *role, const char *type, const char *topic)
{
	const json_t *acls = json_object_get(role, "acls"), *v;
	size_t i;

	json_array_foreach(acls, i, v)
	{
		if (strcasecmp(json_string_value(json_object_get(v, "acltype")), type) == 0 &&
		    strcmp(json_string_value(json_object_get(v, "topic")), topic) == 0)
			return (long)i;
	}
	return -1;
}

static int create_role(struct apply *a)
{
	const char *name = arg_str(a, "rolename");
	const json_t *acls = json_object_get(a->cmd, "acls"), *spec;
	json_t *role, *list;
	size_t i;

	if (!name || !name[0])
		return refuse(a, "Invalid/missing rolename");
	if (json_object_get(a->f->by_role, name))
		return refuse(a, "Role already exists");
	if (!(list = json_array()))
		return -ENOMEM;
	json_array_foreach(acls, i, spec)
	{
		json_t *acl = acl_from(spec);

		if (!acl) {
			json_decref(list);
			return refuse(a, "Invalid/missing acltype or topic");
		}
		if (json_array_append_new(list, acl) < 0) {
			json_decref(list);
			return -ENOMEM;
		}
	}
	role = json_pack("{s:s, s:o}", "rolename", name, "acls", list);
	if (!role || json_array_append_new(a->f->roles, role) < 0 ||
	    json_object_set(a->f->by_role, name, role) < 0)
		return -ENOMEM;
	return 0;
}

static int change_acl(struct apply *a, bool add)
{
	json_t *role = json_object_get(a->f->by_role, arg_str(a, "rolename") ?: ""), *acls;
	const char *type = canonical_acltype(arg_str(a, "acltype"));
	const char *topic = arg_str(a, "topic");
	long at;

	if (!role)
		return refuse(a, "Role not found");
	if (!type || !topic)
		return refuse(a, "Invalid/missing acltype or topic");
	at = find_acl(role, type, topic);
	acls = json_object_get(role, "acls");
	if (!add && at < 0)
		return refuse(a, "ACL not found");
	if (!add)
		return json_array_remove(acls, (size_t)at) < 0 ? -ENOMEM : 0;
	if (at >= 0)
		return refuse(a, "ACL with this topic already exists");
	if (!acls && (json_object_set_new(role, "acls", json_array()) < 0 ||
		      !(acls = json_object_get(role, "acls"))))
		return -ENOMEM;
	return json_array_append_new(acls, acl_from(a->cmd)) < 0 ? -ENOMEM : 0;
}

/* The client's roles, each of which must exist: [{rolename, priority if given}]. */
static int rolelist_from(struct apply *a, json_t **out)
{
	const json_t *spec;
	size_t i;

	if (!(*out = json_array()))
		return -ENOMEM;
	json_array_foreach(json_object_get(a->cmd, "roles"), i, spec)
	{
		const char *name = json_string_value(json_object_get(spec, "rolename"));
		const json_t *prio = json_object_get(spec, "priority");
		json_t *r;

		if (!name || !json_object_get(a->f->by_role, name))
			return refuse(a, "Role not found");
		r = json_pack("{s:s}", "rolename", name);
		if (!r || (prio && json_object_set(r, "priority", (json_t *)prio) < 0) ||
		    json_array_append_new(*out, r) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int create_client(struct apply *a)
{
	const char *user = arg_str(a, "username"), *id = arg_str(a, "clientid");
	const char *password = arg_str(a, "password");
	json_t *c, *roles = NULL;
	int rc;

	if (!user || !user[0])
		return refuse(a, "Invalid/missing username");
	if (json_object_get(a->f->by_user, user))
		return refuse(a, "Client already exists");
	if ((rc = rolelist_from(a, &roles)) != 0) {
		json_decref(roles);
		return rc;
	}
	c = json_pack("{s:s}", "username", user);
	rc = c ? 0 : -ENOMEM;
	if (rc == 0 && id && id[0] && json_object_set_new(c, "clientid", json_string(id)) < 0)
		rc = -ENOMEM;
	if (rc == 0 && json_object_set(c, "roles", roles) < 0)
		rc = -ENOMEM;
	if (rc == 0 && password)
		rc = pf_dynsec_pw_set(c, password, a->random, a->arg);
	if (rc == 0 && (json_array_append(a->f->clients, c) < 0 ||
			json_object_set(a->f->by_user, user, c) < 0))
		rc = -ENOMEM;
	json_decref(roles);
	json_decref(c);
	return rc;
}

static int add_client_role(struct apply *a, json_t *c)
{
	const char *role = arg_str(a, "rolename");
	json_t *roles = json_object_get(c, "roles");

	if (!role || !json_object_get(a->f->by_role, role))
		return refuse(a, "Role not found");
	if (pf_dynsec_has_role(c, role))
		return 0;
	if (!roles && (json_object_set_new(c, "roles", json_array()) < 0 ||
		       !(roles = json_object_get(c, "roles"))))
		return -ENOMEM;
	return json_array_append_new(roles, json_pack("{s:s}", "rolename", role)) < 0 ? -ENOMEM : 0;
}

static int change_client(struct apply *a, const char *command)
{
	json_t *c = json_object_get(a->f->by_user, arg_str(a, "username") ?: "");
	const char *id = arg_str(a, "clientid");

	if (!c)
		return refuse(a, "Client not found");
	if (strcasecmp(command, "addClientRole") == 0)
		return add_client_role(a, c);
	if (strcasecmp(command, "disableClient") == 0)
		return json_object_set_new(c, "disabled", json_true()) < 0 ? -ENOMEM : 0;
	if (strcasecmp(command, "setClientId") == 0 && id && id[0])
		return json_object_set_new(c, "clientid", json_string(id)) < 0 ? -ENOMEM : 0;
	/* enableClient, or no client id: the plugin then writes no such key */
	json_object_del(c, strcasecmp(command, "enableClient") == 0 ? "disabled" : "clientid");
	return 0;
}

int pf_dynsec_file_apply(struct pf_dynsec_file *f, const json_t *command,
			 pf_dynsec_random_fn random, void *arg, const char **error)
{
	struct apply a = {f, command, random, arg, NULL};
	const char *name = arg_str(&a, "command");
	int rc;

	if (!name)
		rc = refuse(&a, "Invalid/missing command");
	else if (strcasecmp(name, "createRole") == 0)
		rc = create_role(&a);
	else if (strcasecmp(name, "addRoleACL") == 0 || strcasecmp(name, "removeRoleACL") == 0)
		rc = change_acl(&a, strcasecmp(name, "addRoleACL") == 0);
	else if (strcasecmp(name, "createClient") == 0)
		rc = create_client(&a);
	else if (strcasecmp(name, "enableClient") == 0 || strcasecmp(name, "disableClient") == 0 ||
		 strcasecmp(name, "setClientId") == 0 || strcasecmp(name, "addClientRole") == 0)
		rc = change_client(&a, name);
	else
		rc = refuse(&a, "Unknown command");
	*error = a.error;
	return rc;
}
