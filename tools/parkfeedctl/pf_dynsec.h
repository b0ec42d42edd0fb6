/* The broker accounts parkfeed wants against what mosquitto's dynamic-security plugin holds. */
#ifndef PF_DYNSEC_H
#define PF_DYNSEC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * Every registered lot has a client (user name = client id = lot_id) with a role of its own,
 * "parkfeed-lot:<lot_id>", that may publish only under <prefix>/<lot_id>/ (but not on its
 * rejected topic, which is parkfeedd's) and subscribe only to <prefix>/<lot_id>/rejected.
 * Daemons share the role "parkfeed-daemon": read <prefix>/# (also as a shared subscription)
 * and publish <prefix>/+/rejected, and the live feed under its own prefix when there is one. A
 * client belongs to parkfeed when it holds one of these roles; any other client is left alone, and
 * a lot or daemon whose name it takes is a conflict.
 */
#define PF_DYNSEC_LOT_ROLE_PREFIX "parkfeed-lot:"
#define PF_DYNSEC_DAEMON_ROLE "parkfeed-daemon"
#define PF_DYNSEC_PASSWORD_LEN 24

struct pf_dynsec_want {
	const char *prefix;	 /* topic prefix, e.g. "parking" */
	const char *const *lots; /* registered lots */
	const bool *lot_enabled; /* per lot; false = retired: its client is disabled */
	size_t n_lots;
	const char *const *daemons; /* parkfeedd accounts; none = daemon clients left as they are */
	size_t n_daemons;
	const char *feed_prefix; /* [feed] topic_prefix; NULL or "" = no live feed */
};

enum pf_dynsec_account { PF_DYNSEC_LOT = 0, PF_DYNSEC_DAEMON };

/* One command of the plan. */
struct pf_dynsec_step {
	json_t *command; /* owned; its correlationData is the step's index */
	char what[200];	 /* what it does, in words ("create client JZ-SY-001") */
	enum pf_dynsec_account account;
	char username[65];
	char *password; /* createClient only: the new client's password (owned) */
};

struct pf_dynsec_plan {
	struct pf_dynsec_step *steps;
	size_t n_steps, cap;
	/* accounts (lots and daemons), by what the plan does to them */
	size_t created, enabled, disabled, repaired, unchanged;
	char **conflicts; /* accounts the plan cannot touch, and why */
	size_t n_conflicts;
};

/* Fill out[0..len) with a fresh password and NUL-terminate it; 0 or a negative errno. */
typedef int (*pf_dynsec_password_fn)(char *out, size_t len, void *arg);

/*
 * Build the commands that turn the broker's state (clients: the "clients" array of a verbose
 * listClients; roles: the "roles" array of a verbose listRoles) into the wanted one. Lots
 * come first in lot_id order, then daemons. Returns 0, -ENOMEM, or -EINVAL when the state
 * is not what the plugin answers (the plan is then empty).
 */
__attribute__((warn_unused_result)) int
pf_dynsec_plan_build(struct pf_dynsec_plan *plan, const struct pf_dynsec_want *want,
		     const json_t *clients, const json_t *roles, pf_dynsec_password_fn password,
		     void *password_arg);
void pf_dynsec_plan_free(struct pf_dynsec_plan *plan);

/* Whether a client object (as getClient or listClients gives it) holds the role. */
bool pf_dynsec_has_role(const json_t *client, const char *rolename);

/* The ACLs of a lot's role or of the daemons' role (a new JSON array, NULL without memory). */
json_t *pf_dynsec_lot_acls(const char *prefix, const char *lot_id);
json_t *pf_dynsec_daemon_acls(const char *prefix, const char *feed_prefix);

/* ---- offline: the plugin's state file itself (dynsec_file.c, dynsec_apply.c, dynsec_pw.c) ---- */

/* How the plugin stores a password (its auth.c): PBKDF2-HMAC-SHA512 over a random salt. */
#define PF_DYNSEC_SALT_LEN 12
#define PF_DYNSEC_HASH_LEN 64
#define PF_DYNSEC_ITERATIONS 101

/* Fill out[0..len) with random bytes; 0 or a negative errno. */
typedef int (*pf_dynsec_random_fn)(unsigned char *out, size_t len, void *arg);

/* PBKDF2-HMAC-SHA512 of password into out[PF_DYNSEC_HASH_LEN]; 0, -EINVAL or -ENOMEM. */
__attribute__((warn_unused_result)) int pf_dynsec_pw_hash(const char *password,
							  const unsigned char *salt,
							  size_t salt_len, int iterations,
							  unsigned char *out);
/* Give a client object the "password", "salt" and "iterations" the plugin would make. */
__attribute__((warn_unused_result)) int pf_dynsec_pw_set(json_t *client, const char *password,
							 pf_dynsec_random_fn random, void *arg);
/* Why the plugin would drop the client for its password fields, or NULL when it would not. */
const char *pf_dynsec_pw_problem(const json_t *client);
/* 1 when password is the client's, 0 when not, -EINVAL when it has no usable password. */
__attribute__((warn_unused_result)) int pf_dynsec_pw_check(const json_t *client,
							   const char *password);

/* The plugin's file (dynamic-security.json), checked and indexed. */
struct pf_dynsec_file {
	json_t *root;	 /* the whole document, unknown keys and all */
	json_t *clients; /* root's "clients" (made empty if it has none) */
	json_t *roles;	 /* root's "roles" (likewise) */
	json_t *by_user; /* username -> client object in clients */
	json_t *by_role; /* rolename -> role object in roles */
};

/*
 * Take root (also on failure) and check it is a state file the plugin would load as it stands:
 * -EINVAL with what is wrong in err otherwise (a file of something else, a client or role the
 * plugin would drop without a word, a name twice), or -ENOMEM. f->clients and f->roles are
 * what pf_dynsec_plan_build reads.
 */
__attribute__((warn_unused_result)) int pf_dynsec_file_open(struct pf_dynsec_file *f, json_t *root,
							    char *err, size_t errlen);
/*
 * Apply one command of a plan as the plugin would: 0 done, 1 refused (*error says why, in the
 * plugin's words), or -ENOMEM. A new client's password is hashed with a salt from random.
 */
__attribute__((warn_unused_result)) int pf_dynsec_file_apply(struct pf_dynsec_file *f,
							     const json_t *command,
							     pf_dynsec_random_fn random, void *arg,
							     const char **error);
/* The file's new text, clients and roles sorted by name as the plugin keeps them (free()). */
char *pf_dynsec_file_dump(struct pf_dynsec_file *f);
void pf_dynsec_file_free(struct pf_dynsec_file *f);

#endif
