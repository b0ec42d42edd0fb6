/* mosquitto 2.0's dynamic-security state file: checked, and changed by plan commands. Pure. */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pf_dynsec.h"

/*
 * What the plugin writes (the config save of plugins/dynamic-security): an object with
 * "defaultACLAccess", "clients" (sorted by username: username, clientid, textname,
 * textdescription, disabled only when true, roles [{rolename, priority unless -1}], password,
 * salt, iterations), "groups" and "roles" (sorted by rolename: rolename, acls [{acltype, topic,
 * priority, allow}]). These are the shapes listClients and listRoles answer in, so the plan
 * reads the arrays as they are. The plugin finds keys in any case (cJSON), skips a client or
 * role it cannot read without saying so, and starts with no accounts at all from a file that
 * is not JSON: so everything here that the plan or the plugin relies on is checked.
 */

static const char *const acl_types[] = {
	"publishClientSend",
	"publishClientReceive",
	"subscribeLiteral",
	"subscribePattern",
	"unsubscribeLiteral",
	"unsubscribePattern",
	NULL,
};

/* The keys read here, per kind of object, as the plugin writes them. */
static const char *const top_keys[] = {"defaultACLAccess", "clients", "groups", "roles", NULL};
static const char *const client_keys[] = {"username", "clientid", "disabled",	"roles",
					  "password", "salt",	  "iterations", NULL};
static const char *const rolelist_keys[] = {"rolename", "priority", NULL};
static const char *const role_keys[] = {"rolename", "acls", NULL};
static const char *const acl_keys[] = {"acltype", "topic", "priority", "allow", NULL};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A key the plugin would take for one of ours, spelt otherwise, would be read by it, not us. */
static int check_keys(const json_t *obj, const char *const *known, const char *what, char *err,
		      size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		for (size_t i = 0; known[i]; i++)
			if (strcasecmp(key, known[i]) == 0 && strcmp(key, known[i]) != 0)
				return fail(err, errlen,
					    "%s has a key \"%s\", which mosquitto reads as \"%s\": "
					    "spell it so",
					    what, key, known[i]);
	}
	return 0;
}

static bool opt_type(const json_t *obj, const char *key, json_type type)
{
	const json_t *v = json_object_get(obj, key);

	return !v || json_typeof(v) == type;
}

static int check_rolelist(const json_t *roles, const char *what, char *err, size_t errlen)
{
	size_t i;
	json_t *r;

	if (roles && !json_is_array(roles))
		return fail(err, errlen, "%s: \"roles\" is not an array", what);
	json_array_foreach(roles, i, r)
	{
		if (!json_is_object(r) || !json_is_string(json_object_get(r, "rolename")) ||
		    !opt_type(r, "priority", JSON_INTEGER))
			return fail(
				err, errlen,
				"%s: roles[%zu] is not {\"rolename\": text, \"priority\": whole "
				"number}",
				what, i);
		if (check_keys(r, rolelist_keys, what, err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}

static int check_client(struct pf_dynsec_file *f, const json_t *c, size_t i, char *err,
			size_t errlen)
{
	const char *user = json_string_value(json_object_get(c, "username")), *why;
	char what[120];

	if (!json_is_object(c) || !user || !user[0])
		return fail(err, errlen, "clients[%zu] is not an object with a \"username\"", i);
	snprintf(what, sizeof(what), "client \"%.64s\"", user);
	if (check_keys(c, client_keys, what, err, errlen) < 0 ||
	    check_rolelist(json_object_get(c, "roles"), what, err, errlen) < 0)
		return -EINVAL;
	if (!opt_type(c, "clientid", JSON_STRING) ||
	    !(opt_type(c, "disabled", JSON_TRUE) || opt_type(c, "disabled", JSON_FALSE)))
		return fail(err, errlen,
			    "%s: \"clientid\" is not text or \"disabled\" not true/false", what);
	if ((why = pf_dynsec_pw_problem(c)))
		return fail(err, errlen, "%s: %s (mosquitto would drop the account)", what, why);
	if (json_object_get(f->by_user, user))
		return fail(err, errlen, "two clients are named \"%.64s\"", user);
	return json_object_set(f->by_user, user, (json_t *)c) < 0 ? -ENOMEM : 0;
}

static const char *acl_type(const char *s)
{
	for (size_t i = 0; s && acl_types[i]; i++)
		if (strcasecmp(s, acl_types[i]) == 0)
			return acl_types[i];
	return NULL;
}

static int check_role(struct pf_dynsec_file *f, const json_t *r, size_t i, char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(r, "rolename"));
	const json_t *acls = json_object_get(r, "acls"), *a;
	char what[200];
	size_t k;

	if (!json_is_object(r) || !name || !name[0])
		return fail(err, errlen, "roles[%zu] is not an object with a \"rolename\"", i);
	snprintf(what, sizeof(what), "role \"%.150s\"", name);
	if (check_keys(r, role_keys, what, err, errlen) < 0)
		return -EINVAL;
	if (acls && !json_is_array(acls))
		return fail(err, errlen, "%s: \"acls\" is not an array", what);
	json_array_foreach(acls, k, a)
	{
		if (!json_is_object(a) ||
		    !acl_type(json_string_value(json_object_get(a, "acltype"))) ||
		    !json_is_string(json_object_get(a, "topic")) ||
		    !opt_type(a, "priority", JSON_INTEGER) ||
		    !(opt_type(a, "allow", JSON_TRUE) || opt_type(a, "allow", JSON_FALSE)))
			return fail(err, errlen,
				    "%s: acls[%zu] is not {\"acltype\": one of mosquitto's, "
				    "\"topic\": text, \"priority\": whole number, \"allow\": "
				    "true/false}",
				    what, k);
		if (check_keys(a, acl_keys, what, err, errlen) < 0)
			return -EINVAL;
	}
	if (json_object_get(f->by_role, name))
		return fail(err, errlen, "two roles are named \"%.150s\"", name);
	return json_object_set(f->by_role, name, (json_t *)r) < 0 ? -ENOMEM : 0;
}

/* The array under key, made empty when the file has none (the plugin reads none as empty). */
static int array_of(json_t *root, const char *key, json_t **out, char *err, size_t errlen)
{
	*out = json_object_get(root, key);
	if (!*out) {
		*out = json_array();
		return *out && json_object_set_new(root, key, *out) == 0 ? 0 : -ENOMEM;
	}
	return json_is_array(*out) ? 0 : fail(err, errlen, "\"%s\" is not an array", key);
}

static int check_file(struct pf_dynsec_file *f, char *err, size_t errlen)
{
	json_t *root = f->root, *v;
	bool known = false;
	size_t i;
	int rc;

	if (!json_is_object(root))
		return fail(err, errlen, "not a JSON object");
	if ((rc = check_keys(root, top_keys, "the file", err, errlen)) < 0)
		return rc;
	for (i = 0; top_keys[i]; i++)
		known |= json_object_get(root, top_keys[i]) != NULL;
	if (!known)
		return fail(err, errlen,
			    "none of \"clients\", \"roles\", \"groups\", \"defaultACLAccess\": not "
			    "a dynamic-security file");
	if (!opt_type(root, "groups", JSON_ARRAY) ||
	    !opt_type(root, "defaultACLAccess", JSON_OBJECT))
		return fail(err, errlen,
			    "\"groups\" is not an array or \"defaultACLAccess\" not an "
			    "object");
	if ((rc = array_of(root, "clients", &f->clients, err, errlen)) < 0 ||
	    (rc = array_of(root, "roles", &f->roles, err, errlen)) < 0)
		return rc;
	json_array_foreach(f->roles, i, v)
	{
		if ((rc = check_role(f, v, i, err, errlen)) < 0)
			return rc;
	}
	json_array_foreach(f->clients, i, v)
	{
		if ((rc = check_client(f, v, i, err, errlen)) < 0)
			return rc;
	}
	return 0;
}

int pf_dynsec_file_open(struct pf_dynsec_file *f, json_t *root, char *err, size_t errlen)
{
	int rc;

	memset(f, 0, sizeof(*f));
	f->root = root;
	f->by_user = json_object();
	f->by_role = json_object();
	if (!root || !f->by_user || !f->by_role) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
	} else {
		rc = check_file(f, err, errlen);
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc < 0)
		pf_dynsec_file_free(f);
	return rc;
}

void pf_dynsec_file_free(struct pf_dynsec_file *f)
{
	json_decref(f->root);
	json_decref(f->by_user);
	json_decref(f->by_role);
	memset(f, 0, sizeof(*f));
}

static int cmp_name(const void *a, const void *b, void *key)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, key)),
		      json_string_value(json_object_get(*(json_t *const *)b, key)));
}

/* In the plugin's order: it sorts by name when it loads and inserts in order after. */
static int sort_by(json_t *arr, const char *key)
{
	size_t n = json_array_size(arr), i;
	json_t **items = malloc((n + 1) * sizeof(*items));
	int rc = 0;

	if (!items)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort_r(items, n, sizeof(*items), cmp_name, (void *)key);
	json_array_clear(arr);
	for (i = 0; i < n; i++)
		if (rc == 0 && json_array_append(arr, items[i]) < 0)
			rc = -ENOMEM;
	for (i = 0; i < n; i++)
		json_decref(items[i]);
	free(items);
	return rc;
}

char *pf_dynsec_file_dump(struct pf_dynsec_file *f)
{
	char *text, *nl;
	size_t len;

	if (sort_by(f->clients, "username") < 0 || sort_by(f->roles, "rolename") < 0)
		return NULL;
	text = json_dumps(f->root, JSON_INDENT(2));
	if (!text)
		return NULL;
	len = strlen(text);
	if (!(nl = realloc(text, len + 2))) {
		free(text);
		return NULL;
	}
	memcpy(nl + len, "\n", 2);
	return nl;
}
