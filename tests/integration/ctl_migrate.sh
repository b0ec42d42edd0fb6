#!/usr/bin/env bash
# parkfeedctl migrate: twice, two at once, by a CREATEROLE/CREATEDB role; every object
# commented; the CLI's --help, --version and one-line errors.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

super_db() { echo "host=127.0.0.1 port=$PF_PG_PORT dbname=$1 user=${2:-postgres}"; }

# again, on a migrated database
"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" migrate >again.out || pf_fail "second migrate"
# What the schema directory holds, as "1:base,2:district_access,...", and its last version.
expected=$(cd "$PF_SOURCE_DIR/schema" && ls [0-9][0-9][0-9]_*.sql | sed -E 's/^0*([0-9]+)_(.*)\.sql$/\1:\2/' | paste -sd,)
latest=${expected##*,}
latest=${latest%%:*}
pf_assert_eq "$(cat again.out)" "schema at version $latest
database TimeZone: Asia/Shanghai (unchanged)" "second migrate applies nothing"
pf_assert_eq "$(pf_psql "SELECT string_agg(version || ':' || name, ',' ORDER BY version) FROM
	parking.schema_migrations")" "$expected" "versions recorded"

# two at once on a fresh database
pf_psql "CREATE DATABASE twice" >/dev/null
"$PF_CTL" -d "$(super_db twice)" migrate >a.out 2>&1 & a=$!
"$PF_CTL" -d "$(super_db twice)" migrate >b.out 2>&1 & b=$!
wait $a || pf_fail "concurrent migrate a: $(cat a.out)"
wait $b || pf_fail "concurrent migrate b: $(cat b.out)"
pf_assert_eq "$(cat a.out b.out | grep -c '^applied 001_base$')" 1 "applied exactly once"
pf_assert_eq "$(pf_psql_as "$(super_db twice)" "SELECT count(*) FROM parking.schema_migrations")" \
	"$(find "$PF_SOURCE_DIR/schema" -name '[0-9][0-9][0-9]_*.sql' | wc -l)" "one row per version"

# a non-superuser with CREATEROLE and CREATEDB migrating its own database
pf_psql "CREATE ROLE pf_admin LOGIN CREATEROLE CREATEDB" >/dev/null
pf_psql "CREATE DATABASE admindb OWNER pf_admin" >/dev/null
"$PF_CTL" -d "$(super_db admindb pf_admin)" migrate >admin.out 2>&1 ||
	pf_fail "migrate as CREATEROLE role: $(cat admin.out)"
pf_assert_eq "$(pf_psql_as "$(super_db admindb)" "SELECT nspowner::regrole FROM pg_namespace
	WHERE nspname = 'parking'")" parkfeed_owner "schema owner"
"$PF_CTL" -d "$(super_db admindb pf_admin)" maintain >/dev/null || pf_fail "maintain as pf_admin"

# the database's TimeZone: set by the first migrate (Asia/Shanghai, or --timezone), as the
# owner of the database; new sessions use it
pf_assert_eq "$(pf_psql_as "$(super_db admindb pf_admin)" "SHOW timezone")" Asia/Shanghai \
	"admindb TimeZone"
"$PF_CTL" -d "$(super_db admindb pf_admin)" migrate --timezone UTC >tz.out 2>&1 ||
	pf_fail "migrate --timezone UTC: $(cat tz.out)"
grep -qx 'database TimeZone set to UTC (was Asia/Shanghai); new sessions use it' tz.out ||
	pf_fail "migrate --timezone: $(cat tz.out)"
pf_assert_eq "$(pf_psql_as "$(super_db admindb pf_admin)" "SHOW timezone")" UTC "admindb TimeZone now"
set +e
"$PF_CTL" -d "$(super_db admindb pf_admin)" migrate --timezone Mars/Olympus >tz.out 2>&1; rc=$?
set -e
pf_assert_eq "$rc" 1 "an unknown zone fails migrate"
grep -q 'invalid value for parameter "TimeZone"' tz.out || pf_fail "unknown zone: $(cat tz.out)"
# a migrator that does not own the database is told what to run, and migrate succeeds
pf_psql "CREATE DATABASE notmine" >/dev/null
pf_psql "CREATE ROLE pf_admin2 LOGIN CREATEROLE CREATEDB; GRANT CREATE ON DATABASE notmine TO pf_admin2" >/dev/null
"$PF_CTL" -d "$(super_db notmine pf_admin2)" migrate >notmine.out 2>notmine.err ||
	pf_fail "migrate by a non-owner: $(cat notmine.err)"
grep -q '^parkfeedctl: warning: the database.s TimeZone is not set (must be owner of database notmine): its owner can run: ALTER DATABASE .notmine. SET timezone TO .Asia/Shanghai.$' \
	notmine.err || pf_fail "non-owner TimeZone warning: $(cat notmine.err)"

# roles are group roles
pf_assert_eq "$(pf_psql "SELECT string_agg(rolname || ':' || rolcanlogin, ' ' ORDER BY rolname)
	FROM pg_roles WHERE rolname LIKE 'parkfeed\_%'")" \
	"parkfeed_district:false parkfeed_ingest:false parkfeed_maintainer:false parkfeed_operator:false parkfeed_owner:false parkfeed_reader:false" \
	"group roles"
# every table, view and view/table column an operator sees carries a comment; all owned by owner
pf_assert_eq "$(pf_psql "SELECT string_agg(c.relname, ' ') FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'parking'
	AND c.relkind IN ('r', 'p', 'v') AND obj_description(c.oid, 'pg_class') IS NULL")" "" \
	"uncommented tables or views"
pf_assert_eq "$(pf_psql "SELECT string_agg(c.relname || '.' || a.attname, ' ') FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
	WHERE n.nspname = 'parking' AND c.relkind IN ('r', 'p', 'v') AND a.attnum > 0
	AND NOT a.attisdropped AND c.relname IN ('lots', 'occupancy', 'lot_state', 'rejected',
	'stage_history', 'district_targets', 'district_progress', 'lot_availability')
	AND col_description(c.oid, a.attnum) IS NULL
	AND a.attname NOT IN ('lot_id', 'district', 'name', 'id', 'year')")" "" "uncommented columns"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON
	n.oid = c.relnamespace WHERE n.nspname = 'parking' AND c.relkind IN ('r', 'p', 'v', 'S')
	AND c.relowner <> 'parkfeed_owner'::regrole")" 0 "everything owned by parkfeed_owner"
pf_assert_eq "$(pf_psql "SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_proc p
	JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'parking'
	AND has_function_privilege('parkfeed_ingest', p.oid, 'EXECUTE')")" \
	"feed_districts feed_lots freshness_counts ingest_occupancy ingest_rejected ingest_status schema_version" \
	"parkfeed_ingest executes only these"

# the CLI surface
[[ $("$PF_CTL" --version) == "parkfeedctl "[0-9]* ]] || pf_fail "--version"
for cmd in "" migrate maintain "lots" "lots import" "lots list" "lots show" "lots set-stage" \
	"lots set" targets progress status limits "limits set" retention "retention set"; do
	# shellcheck disable=SC2086
	out=$("$PF_CTL" $cmd --help) || pf_fail "$cmd --help failed"
	[[ $out == "usage: parkfeedctl"* ]] || pf_fail "$cmd --help: $out"
done
set +e
"$PF_CTL" frobnicate 2>err.txt; rc=$?
set -e
pf_assert_eq "$rc" 2 "unknown command exit status"
pf_assert_eq "$(wc -l <err.txt)" 1 "one-line error"
set +e
"$PF_CTL" -d "host=127.0.0.1 port=1 dbname=x connect_timeout=2" status 2>err.txt; rc=$?
set -e
pf_assert_eq "$rc" 1 "connection failure exit status"
pf_assert_eq "$(wc -l <err.txt)" 1 "connection failure: one line"
grep -q "cannot connect" err.txt || pf_fail "connection error: $(cat err.txt)"
# the config file path: [postgres] conninfo and password_file
echo "unused-secret" >pw.txt
cat >ctl.conf <<-CONF
	[postgres]
	conninfo = $PF_OPERATOR_CONNINFO
	password_file = $PF_TMP/pw.txt
	CONF
"$PF_CTL" -c ctl.conf status >/dev/null || pf_fail "status with -c"
# and the PG* environment (env.sh exports PGHOST, PGPORT, PGUSER, PGDATABASE)
out=$("$PF_CTL" status) || pf_fail "status from environment"
[[ $out == "lots by stage:"* ]] || pf_fail "status from environment: $out"
pf_pass
