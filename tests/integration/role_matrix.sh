#!/usr/bin/env bash
# The privilege matrix of a freshly migrated database, read from the catalog, equals the one
# checked in (tests/data/privileges.tsv): for every parkfeed_% role and PUBLIC, what it may do
# with the schema parking and every table, view, sequence, column, function and type in it,
# the default privileges, the row-level security policies, role attributes and memberships.
# A migration that grants too much (or a new role nobody reviewed) fails here.
#
# Also: a function that parkfeed_owner creates later is not executable by PUBLIC (default
# privileges), and every SECURITY DEFINER function in parking pins its search_path.
#
# After an intended change of privileges, review and regenerate the file:
#   tests/integration/role_matrix.sh --write && git diff tests/data/privileges.tsv
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
write=0
if [[ ${1:-} == --write ]]; then
	write=1
elif (( $# )); then
	echo "usage: $0 [--write]" >&2
	exit 2
fi
pf_env_init
matrix=$PF_SOURCE_DIR/tests/data/privileges.tsv
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

# ---- default privileges: what parkfeed_owner creates later is not PUBLIC's -----------------
pf_psql "SET ROLE parkfeed_owner;
	CREATE FUNCTION parking.later_probe() RETURNS int LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog AS 'SELECT 1'" >/dev/null
for login in pf_reader pf_daemon pf_operator; do
	if out=$(pf_psql_as "host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=$login" \
		"SELECT parking.later_probe()" 2>&1); then
		pf_fail "$login may execute a function parkfeed_owner created after migrate"
	fi
	[[ $out == *"permission denied for function later_probe"* ]] || pf_fail "$login: $out"
done
pf_psql "DROP FUNCTION parking.later_probe()" >/dev/null

# ---- every SECURITY DEFINER function pins its search_path ----------------------------------
unpinned=$(pf_psql "SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
	WHERE p.pronamespace = 'parking'::regnamespace AND p.prosecdef
	  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%')")
[[ -z $unpinned ]] || pf_fail "SECURITY DEFINER without a pinned search_path: $unpinned"

# ---- the matrix ----------------------------------------------------------------------------
# grantee <TAB> kind <TAB> object <TAB> privilege, one line each; monthly partitions appear
# once, as occupancy_pYYYYMM (every one of them must have the same privileges).
pf_psql >current.tsv <<-'SQL'
	SET search_path = pg_catalog;
	WITH acl(kind, object, owner, acl) AS (
		SELECT 'schema', n.nspname::text, n.nspowner, coalesce(n.nspacl, acldefault('n', n.nspowner))
		FROM pg_namespace n WHERE n.nspname = 'parking'
		UNION ALL
		SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
			WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
			WHEN 'f' THEN 'foreign table' END,
		       'parking.' || regexp_replace(c.relname, '_p[0-9]{6}$', '_pYYYYMM'), c.relowner,
		       coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
						     c.relowner))
		FROM pg_class c
		WHERE c.relnamespace = 'parking'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
		UNION ALL
		SELECT 'column', 'parking.' || regexp_replace(c.relname, '_p[0-9]{6}$', '_pYYYYMM')
				 || '.' || a.attname, c.relowner, a.attacl
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relnamespace = 'parking'::regnamespace AND a.attnum > 0
		  AND NOT a.attisdropped AND a.attacl IS NOT NULL
		UNION ALL
		SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
			WHEN 'w' THEN 'window function' ELSE 'function' END,
		       p.oid::regprocedure::text, p.proowner, coalesce(p.proacl, acldefault('f', p.proowner))
		FROM pg_proc p WHERE p.pronamespace = 'parking'::regnamespace
		UNION ALL
		SELECT 'type', t.oid::regtype::text, t.typowner, coalesce(t.typacl, acldefault('T', t.typowner))
		FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
		WHERE t.typnamespace = 'parking'::regnamespace AND t.typcategory <> 'A'
		  AND (t.typrelid = 0 OR c.relkind = 'c')
	), entries AS (
		SELECT a.kind, a.object,
		       CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END AS grantee,
		       e.privilege_type || CASE WHEN e.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
			       AS privilege
		FROM acl a CROSS JOIN LATERAL aclexplode(a.acl) AS e
		UNION ALL
		SELECT a.kind, a.object, a.owner::regrole::text, 'OWNER' FROM acl a WHERE a.kind <> 'column'
		UNION ALL
		SELECT 'function', p.oid::regprocedure::text, p.proowner::regrole::text, 'SECURITY DEFINER'
		FROM pg_proc p WHERE p.pronamespace = 'parking'::regnamespace AND p.prosecdef
		UNION ALL      -- default privileges of the roles that create objects
		SELECT 'default privileges',
		       d.defaclrole::regrole::text || ': ' ||
		       CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
			    WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' END ||
		       CASE WHEN d.defaclnamespace = 0 THEN ''
			    ELSE ' in ' || d.defaclnamespace::regnamespace::text END,
		       CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END,
		       e.privilege_type || CASE WHEN e.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
		FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) AS e
		WHERE d.defaclrole::regrole::text LIKE 'parkfeed\_%'
		UNION ALL      -- row-level security: which tables enforce it, whom each policy serves
		SELECT 'table', 'parking.' || c.relname, '-',
		       CASE WHEN c.relforcerowsecurity THEN 'ROW LEVEL SECURITY (FORCE)'
			    ELSE 'ROW LEVEL SECURITY' END
		FROM pg_class c WHERE c.relnamespace = 'parking'::regnamespace AND c.relrowsecurity
		UNION ALL
		SELECT 'policy', 'parking.' || c.relname || ' ' || p.polname,
		       CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END,
		       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
			    WHEN 'd' THEN 'DELETE' ELSE 'ALL' END ||
		       CASE WHEN p.polpermissive THEN '' ELSE ' (RESTRICTIVE)' END
		FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
		CROSS JOIN LATERAL unnest(p.polroles) AS r
		WHERE c.relnamespace = 'parking'::regnamespace
		UNION ALL      -- the roles themselves
		SELECT 'role', 'attributes', r.rolname::text,
		       concat_ws(' ', CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
				 CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
				 CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
				 CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
				 CASE WHEN r.rolreplication THEN 'REPLICATION' END,
				 CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END,
				 CASE WHEN NOT r.rolinherit THEN 'NOINHERIT' END)
		FROM pg_roles r WHERE r.rolname LIKE 'parkfeed\_%'
		UNION ALL
		SELECT 'role', 'member of ' || m.roleid::regrole::text, m.member::regrole::text,
		       CASE WHEN m.admin_option THEN 'MEMBER WITH ADMIN OPTION' ELSE 'MEMBER' END
		FROM pg_auth_members m
		WHERE m.member::regrole::text LIKE 'parkfeed\_%'
	)
	SELECT DISTINCT grantee || E'\t' || kind || E'\t' || object || E'\t' || privilege FROM entries;
SQL
LC_ALL=C sort -u current.tsv -o current.tsv

if (( write )); then
	cp current.tsv "$matrix"
	pf_log "wrote $(wc -l <"$matrix") lines to $matrix: review them (git diff) and commit"
	pf_pass
	exit 0
fi

[[ -f $matrix ]] || pf_fail "$matrix is missing; create it with $0 --write"
regen="if the change is intended, regenerate the file with
  tests/integration/role_matrix.sh --write && git diff tests/data/privileges.tsv
read every changed line of that diff, and commit the file with the migration that made it"

# A role nobody has reviewed: named in the catalog, absent from the file (or the reverse).
roles_db=$(pf_psql "SELECT string_agg(rolname, ' ' ORDER BY rolname COLLATE \"C\") FROM pg_roles
	WHERE rolname LIKE 'parkfeed\_%'")
roles_file=$(awk -F'\t' '$2 == "role" && $3 == "attributes" {print $1}' "$matrix" | LC_ALL=C sort | paste -sd' ')
[[ $roles_db == "$roles_file" ]] ||
	pf_fail "the database has the roles [$roles_db] but $matrix describes [$roles_file]: the
privileges of a role a migration adds (or drops) need a review; $regen"

if ! diff -u "$matrix" current.tsv >matrix.diff; then
	{
		echo "privileges differ from $matrix (- expected, + in the database):"
		grep -E '^[-+][^-+]' matrix.diff
	} >&2
	pf_fail "the privilege matrix changed: a + line is something the database grants that the
file does not (did a migration grant too much?), a - line something it no longer grants;
$regen"
fi
pf_log "$(wc -l <current.tsv) privileges as expected"
pf_pass
