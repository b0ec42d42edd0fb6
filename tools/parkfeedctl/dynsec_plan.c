/* From the wanted broker accounts and the plugin's state to dynamic-security commands. Pure. */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pf_dynsec.h"

/* The plugin's own state and the wanted names, indexed. */
struct state {
	json_t *clients; /* username -> client object */
	json_t *roles;	 /* rolename -> role object */
	json_t *lots;	 /* registered lot -> true (enabled) or false (retired) */
	json_t *daemons; /* daemon account -> true */
};

static int add_step(struct pf_dynsec_plan *p, json_t *cmd, enum pf_dynsec_account account,
		    const char *username, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Takes cmd (also on failure). */
static int add_step(struct pf_dynsec_plan *p, json_t *cmd, enum pf_dynsec_account account,
		    const char *username, const char *fmt, ...)
{
	struct pf_dynsec_step *s;
	char corr[24];
	va_list ap;

	if (!cmd)
		return -ENOMEM;
	if (p->n_steps == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct pf_dynsec_step *n = realloc(p->steps, cap * sizeof(*n));

		if (!n) {
			json_decref(cmd);
			return -ENOMEM;
		}
		p->steps = n;
		p->cap = cap;
	}
	snprintf(corr, sizeof(corr), "%zu", p->n_steps);
	if (json_object_set_new(cmd, "correlationData", json_string(corr)) < 0) {
		json_decref(cmd);
		return -ENOMEM;
	}
	s = &p->steps[p->n_steps++];
	memset(s, 0, sizeof(*s));
	s->command = cmd;
	s->account = account;
	snprintf(s->username, sizeof(s->username), "%s", username);
	va_start(ap, fmt);
	vsnprintf(s->what, sizeof(s->what), fmt, ap);
	va_end(ap);
	return 0;
}

static int add_conflict(struct pf_dynsec_plan *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int add_conflict(struct pf_dynsec_plan *p, const char *fmt, ...)
{
	char msg[300], **n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = realloc(p->conflicts, (p->n_conflicts + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->conflicts = n;
	if (!(n[p->n_conflicts] = strdup(msg)))
		return -ENOMEM;
	p->n_conflicts++;
	return 0;
}

/* ---- ACLs ---- */

static int push_acl(json_t *acls, const char *type, const char *topic, bool allow, int priority)
{
	json_t *a = json_pack("{s:s, s:s, s:b, s:i}", "acltype", type, "topic", topic, "allow",
			      allow, "priority", priority);

	return a ? json_array_append_new(acls, a) : -1;
}

json_t *pf_dynsec_lot_acls(const char *prefix, const char *lot_id)
{
	char own[600], rejected[600];
	json_t *acls = json_array();

	snprintf(own, sizeof(own), "%s/%s/#", prefix, lot_id);
	snprintf(rejected, sizeof(rejected), "%s/%s/rejected", prefix, lot_id);
	/* The rejected topic is parkfeedd's: a controller may read it, never write it. */
	if (!acls || push_acl(acls, "publishClientSend", rejected, false, 1) < 0 ||
	    push_acl(acls, "publishClientSend", own, true, 0) < 0 ||
	    push_acl(acls, "subscribeLiteral", rejected, true, 0) < 0 ||
	    push_acl(acls, "publishClientReceive", rejected, true, 0) < 0) {
		json_decref(acls);
		return NULL;
	}
	return acls;
}

json_t *pf_dynsec_daemon_acls(const char *prefix, const char *feed_prefix)
{
	char all[600], shared[600], rejected[600], feed[600];
	json_t *acls = json_array();

	snprintf(all, sizeof(all), "%s/#", prefix);
	/* mosquitto 2.0 checks a shared subscription's ACL with its $share/<group>/ prefix. */
	snprintf(shared, sizeof(shared), "$share/+/%s/#", prefix);
	snprintf(rejected, sizeof(rejected), "%s/+/rejected", prefix);
	if (!acls || push_acl(acls, "subscribePattern", all, true, 0) < 0 ||
	    push_acl(acls, "subscribePattern", shared, true, 0) < 0 ||
	    push_acl(acls, "publishClientReceive", all, true, 0) < 0 ||
	    push_acl(acls, "publishClientSend", rejected, true, 0) < 0) {
		json_decref(acls);
		return NULL;
	}
	/* The live feed's retained messages: lots and districts under a prefix of its own. */
	snprintf(feed, sizeof(feed), "%s/#", feed_prefix ? feed_prefix : "");
	if (feed_prefix && feed_prefix[0] &&
	    push_acl(acls, "publishClientSend", feed, true, 0) < 0) {
		json_decref(acls);
		return NULL;
	}
	return acls;
}

/* The plugin leaves out a priority of 0 and may spell acltype in any case. */
static bool acl_same_key(const json_t *a, const json_t *b)
{
	const char *ta = json_string_value(json_object_get(a, "acltype"));
	const char *tb = json_string_value(json_object_get(b, "acltype"));
	const char *pa = json_string_value(json_object_get(a, "topic"));
	const char *pb = json_string_value(json_object_get(b, "topic"));

	return ta && tb && pa && pb && strcasecmp(ta, tb) == 0 && strcmp(pa, pb) == 0;
}

static bool acl_same(const json_t *a, const json_t *b)
{
	return acl_same_key(a, b) &&
	       json_integer_value(json_object_get(a, "priority")) ==
		       json_integer_value(json_object_get(b, "priority")) &&
	       json_is_true(json_object_get(a, "allow")) ==
		       json_is_true(json_object_get(b, "allow"));
}

static const json_t *find_acl(const json_t *acls, const json_t *like, bool exact)
{
	size_t i;
	json_t *a;

	json_array_foreach(acls, i, a)
	{
		if (exact ? acl_same(a, like) : acl_same_key(a, like))
			return a;
	}
	return NULL;
}

/* Make an existing role's ACLs exactly `want`; counts the commands it adds in *n. */
static int repair_role(struct pf_dynsec_plan *p, const char *rolename, const json_t *have,
		       const json_t *want, enum pf_dynsec_account account, const char *user,
		       size_t *n)
{
	const json_t *acls = json_object_get(have, "acls");
	size_t i;
	json_t *a;
	int rc;

	json_array_foreach(acls, i, a)
	{
		if (find_acl(want, a, true))
			continue;
		rc = add_step(p,
			      json_pack("{s:s, s:s, s:O, s:O}", "command", "removeRoleACL",
					"rolename", rolename, "acltype",
					json_object_get(a, "acltype"), "topic",
					json_object_get(a, "topic")),
			      account, user, "remove ACL %s %s from role %s",
			      json_string_value(json_object_get(a, "acltype")),
			      json_string_value(json_object_get(a, "topic")), rolename);
		if (rc < 0)
			return rc;
		++*n;
	}
	json_array_foreach(want, i, a)
	{
		if (find_acl(acls, a, true))
			continue;
		rc = add_step(p,
			      json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "command", "addRoleACL",
					"rolename", rolename, "acltype",
					json_object_get(a, "acltype"), "topic",
					json_object_get(a, "topic"), "allow",
					json_object_get(a, "allow"), "priority",
					json_object_get(a, "priority")),
			      account, user, "add ACL %s %s %s to role %s",
			      json_string_value(json_object_get(a, "acltype")),
			      json_is_true(json_object_get(a, "allow")) ? "allow" : "deny",
			      json_string_value(json_object_get(a, "topic")), rolename);
		if (rc < 0)
			return rc;
		++*n;
	}
	return 0;
}

/* The role exists with exactly these ACLs afterwards. */
static int ensure_role(struct pf_dynsec_plan *p, const struct state *st, const char *rolename,
		       json_t *acls, enum pf_dynsec_account account, const char *user, size_t *n)
{
	const json_t *have = json_object_get(st->roles, rolename);
	int rc;

	if (!acls)
		return -ENOMEM;
	if (have) {
		rc = repair_role(p, rolename, have, acls, account, user, n);
		json_decref(acls);
		return rc;
	}
	++*n;
	return add_step(p,
			json_pack("{s:s, s:s, s:o}", "command", "createRole", "rolename", rolename,
				  "acls", acls),
			account, user, "create role %s", rolename);
}

/* ---- clients ---- */

bool pf_dynsec_has_role(const json_t *client, const char *rolename)
{
	const json_t *roles = json_object_get(client, "roles"), *r;
	size_t i;

	json_array_foreach(roles, i, r)
	{
		const char *name = json_string_value(json_object_get(r, "rolename"));

		if (name && strcmp(name, rolename) == 0)
			return true;
	}
	return false;
}

static int create_client(struct pf_dynsec_plan *p, const char *user, const char *rolename,
			 enum pf_dynsec_account account, pf_dynsec_password_fn password, void *arg)
{
	char pw[PF_DYNSEC_PASSWORD_LEN + 1];
	json_t *cmd;
	int rc;

	if ((rc = password(pw, PF_DYNSEC_PASSWORD_LEN, arg)) < 0)
		return rc;
	cmd = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s}]}", "command", "createClient", "username",
			user, "password", pw, "clientid", user, "roles", "rolename", rolename);
	rc = add_step(p, cmd, account, user, "create client %s (client id %s, role %s)", user, user,
		      rolename);
	if (rc == 0 && !(p->steps[p->n_steps - 1].password = strdup(pw)))
		rc = -ENOMEM;
	explicit_bzero(pw, sizeof(pw));
	p->created += rc == 0;
	return rc;
}

/* An existing client of ours: the right client id and role, enabled or not as wanted. */
static int align_client(struct pf_dynsec_plan *p, const json_t *c, const char *user,
			const char *rolename, bool enabled, enum pf_dynsec_account account,
			size_t *n)
{
	const char *id = json_string_value(json_object_get(c, "clientid"));
	bool disabled = json_is_true(json_object_get(c, "disabled"));
	int rc = 0;

	if (!id || strcmp(id, user) != 0) {
		rc = add_step(p,
			      json_pack("{s:s, s:s, s:s}", "command", "setClientId", "username",
					user, "clientid", user),
			      account, user, "set client id of %s to %s", user, user);
		++*n;
	}
	if (rc == 0 && !pf_dynsec_has_role(c, rolename)) {
		rc = add_step(p,
			      json_pack("{s:s, s:s, s:s}", "command", "addClientRole", "username",
					user, "rolename", rolename),
			      account, user, "give client %s role %s", user, rolename);
		++*n;
	}
	if (rc == 0 && disabled && enabled) {
		p->enabled++;
		return add_step(
			p, json_pack("{s:s, s:s}", "command", "enableClient", "username", user),
			account, user, "enable client %s", user);
	}
	if (rc == 0 && !disabled && !enabled) {
		p->disabled++;
		return add_step(
			p, json_pack("{s:s, s:s}", "command", "disableClient", "username", user),
			account, user, "disable client %s (%s)", user,
			account == PF_DYNSEC_LOT ? "retired or no longer registered"
						 : "not in [broker] daemons");
	}
	return rc;
}

static const char *describe_roles(const json_t *c, char *buf, size_t cap)
{
	const json_t *roles = json_object_get(c, "roles"), *r;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(roles, i, r)
	{
		const char *name = json_string_value(json_object_get(r, "rolename"));

		if (name && used < cap)
			used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
						 name);
	}
	return buf[0] ? buf : "none";
}

static int want_lot(struct pf_dynsec_plan *p, const struct state *st, const char *prefix,
		    const char *lot, bool enabled, pf_dynsec_password_fn password, void *arg)
{
	char role[128], roles[200];
	const json_t *c = json_object_get(st->clients, lot);
	size_t n = 0, before = p->created + p->enabled + p->disabled;
	int rc;

	snprintf(role, sizeof(role), PF_DYNSEC_LOT_ROLE_PREFIX "%s", lot);
	if (c && !pf_dynsec_has_role(c, role))
		return add_conflict(p,
				    "lot %s: the broker already has a client %s that is not this "
				    "lot's (roles: %s); rename one of them",
				    lot, lot, describe_roles(c, roles, sizeof(roles)));
	if (!c && !enabled) {
		p->unchanged++; /* retired before it ever had an account */
		return 0;
	}
	rc = ensure_role(p, st, role, pf_dynsec_lot_acls(prefix, lot), PF_DYNSEC_LOT, lot, &n);
	if (rc == 0)
		rc = c ? align_client(p, c, lot, role, enabled, PF_DYNSEC_LOT, &n)
		       : create_client(p, lot, role, PF_DYNSEC_LOT, password, arg);
	if (rc == 0 && p->created + p->enabled + p->disabled == before)
		*(n ? &p->repaired : &p->unchanged) += 1;
	return rc;
}

static int want_daemon(struct pf_dynsec_plan *p, const struct state *st, const char *name,
		       pf_dynsec_password_fn password, void *arg)
{
	const json_t *c = json_object_get(st->clients, name);
	size_t n = 0, before = p->created + p->enabled;
	char roles[200];
	int rc;

	if (c && !pf_dynsec_has_role(c, PF_DYNSEC_DAEMON_ROLE))
		return add_conflict(p,
				    "daemon %s: the broker already has a client %s that is not a "
				    "daemon's (roles: %s); choose another account name",
				    name, name, describe_roles(c, roles, sizeof(roles)));
	rc = c ? align_client(p, c, name, PF_DYNSEC_DAEMON_ROLE, true, PF_DYNSEC_DAEMON, &n)
	       : create_client(p, name, PF_DYNSEC_DAEMON_ROLE, PF_DYNSEC_DAEMON, password, arg);
	if (rc == 0 && p->created + p->enabled == before)
		*(n ? &p->repaired : &p->unchanged) += 1;
	return rc;
}

/* ---- the whole plan ---- */

static int index_names(json_t *set, const char *const *names, const bool *enabled, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (json_object_set_new(set, names[i], json_boolean(!enabled || enabled[i])) < 0)
			return -ENOMEM;
	return 0;
}

static int index_array(json_t *index, const json_t *array, const char *key)
{
	size_t i;
	json_t *v;

	if (!json_is_array(array))
		return -EINVAL;
	json_array_foreach(array, i, v)
	{
		const char *name = json_string_value(json_object_get(v, key));

		if (!name)
			return -EINVAL;
		if (json_object_set(index, name, v) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int index_state(struct state *st, const struct pf_dynsec_want *w, const json_t *clients,
		       const json_t *roles)
{
	int rc;

	st->clients = json_object();
	st->roles = json_object();
	st->lots = json_object();
	st->daemons = json_object();
	if (!st->clients || !st->roles || !st->lots || !st->daemons)
		return -ENOMEM;
	if ((rc = index_array(st->clients, clients, "username")) < 0 ||
	    (rc = index_array(st->roles, roles, "rolename")) < 0 ||
	    (rc = index_names(st->lots, w->lots, w->lot_enabled, w->n_lots)) < 0)
		return rc;
	return index_names(st->daemons, w->daemons, NULL, w->n_daemons);
}

/* Clients of ours that nothing wants any more: lots gone from the registry, old daemons. */
static int disable_unwanted(struct pf_dynsec_plan *p, const struct state *st, bool daemons)
{
	const char *user;
	json_t *c;
	char role[128];

	json_object_foreach(st->clients, user, c)
	{
		enum pf_dynsec_account kind;

		snprintf(role, sizeof(role), PF_DYNSEC_LOT_ROLE_PREFIX "%s", user);
		if (pf_dynsec_has_role(c, role)) {
			if (json_object_get(st->lots, user))
				continue; /* a registered lot: want_lot's */
			kind = PF_DYNSEC_LOT;
		} else if (daemons && pf_dynsec_has_role(c, PF_DYNSEC_DAEMON_ROLE) &&
			   !json_object_get(st->daemons, user)) {
			kind = PF_DYNSEC_DAEMON;
		} else {
			continue;
		}
		if (json_is_true(json_object_get(c, "disabled")))
			continue;
		p->disabled++;
		if (add_step(p,
			     json_pack("{s:s, s:s}", "command", "disableClient", "username", user),
			     kind, user, "disable client %s (%s)", user,
			     kind == PF_DYNSEC_LOT ? "its lot is not in the registry"
						   : "not in [broker] daemons") < 0)
			return -ENOMEM;
	}
	return 0;
}

static int cmp_lot(const void *a, const void *b, void *arg)
{
	const char *const *lots = arg;

	return strcmp(lots[*(const size_t *)a], lots[*(const size_t *)b]);
}

static int build(struct pf_dynsec_plan *p, const struct state *st, const struct pf_dynsec_want *w,
		 pf_dynsec_password_fn password, void *arg)
{
	size_t *order = malloc((w->n_lots + 1) * sizeof(*order)), k = 0;
	int rc = 0;

	if (!order)
		return -ENOMEM;
	/* lot_id order, whatever order the registry gave: plans read and test the same way */
	for (size_t i = 0; i < w->n_lots; i++)
		order[i] = i;
	qsort_r(order, w->n_lots, sizeof(*order), cmp_lot, (void *)w->lots);
	for (size_t i = 0; rc == 0 && i < w->n_lots; i++)
		rc = want_lot(p, st, w->prefix, w->lots[order[i]], w->lot_enabled[order[i]],
			      password, arg);
	free(order);
	if (rc == 0 && w->n_daemons)
		rc = ensure_role(p, st, PF_DYNSEC_DAEMON_ROLE,
				 pf_dynsec_daemon_acls(w->prefix, w->feed_prefix), PF_DYNSEC_DAEMON,
				 PF_DYNSEC_DAEMON_ROLE, &k);
	for (size_t i = 0; rc == 0 && i < w->n_daemons; i++)
		rc = json_object_get(st->lots, w->daemons[i])
			     ? add_conflict(p,
					    "daemon %s: a lot has that id; give the daemon another "
					    "account name",
					    w->daemons[i])
			     : want_daemon(p, st, w->daemons[i], password, arg);
	if (rc == 0)
		rc = disable_unwanted(p, st, w->n_daemons > 0);
	return rc;
}

int pf_dynsec_plan_build(struct pf_dynsec_plan *plan, const struct pf_dynsec_want *want,
			 const json_t *clients, const json_t *roles, pf_dynsec_password_fn password,
			 void *password_arg)
{
	struct state st = {NULL, NULL, NULL, NULL};
	int rc;

	memset(plan, 0, sizeof(*plan));
	rc = index_state(&st, want, clients, roles);
	if (rc == 0)
		rc = build(plan, &st, want, password, password_arg);
	json_decref(st.clients);
	json_decref(st.roles);
	json_decref(st.lots);
	json_decref(st.daemons);
	if (rc < 0)
		pf_dynsec_plan_free(plan);
	return rc;
}

void pf_dynsec_plan_free(struct pf_dynsec_plan *plan)
{
	for (size_t i = 0; i < plan->n_steps; i++) {
		json_decref(plan->steps[i].command);
		if (plan->steps[i].password) {
			explicit_bzero(plan->steps[i].password, strlen(plan->steps[i].password));
			free(plan->steps[i].password);
		}
	}
	for (size_t i = 0; i < plan->n_conflicts; i++)
		free(plan->conflicts[i]);
	free(plan->steps);
	free(plan->conflicts);
	memset(plan, 0, sizeof(*plan));
}
