#!/usr/bin/env bash
# Backup and restore as docs/operations.md ("Backups") describes them. A database with lots,
# observations, rejects, stage history, targets, district grants and per-database settings
# is dumped (pg_dumpall --roles-only, pg_dump -Fc --create); its cluster is then lost while
# parkfeedd keeps acknowledging messages into its spool. A fresh cluster (initdb, its own
# port) gets the roles and the dump: the ledger (progress --format csv), every table's row
# count and content are identical, a district login still sees only its district, migrate
# has nothing to do, and parkfeedd, pointed at the restored database, writes out its spool
# exactly once and ingests live messages.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
export LC_ALL=C.UTF-8
cd "$PF_TMP"
year=$(date +%Y)

pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0"   # the burst must not be dropped for the daemon
ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }

# ---- a database with a history ----
"$PF_SIM" --emit-lots-csv 110 --with-stages >lots.csv
ctl lots import lots.csv >/dev/null || pf_fail "lots import"
for d in 沁阳市 孟州市 温县 博爱县 武陟县 修武县 解放区 山阳区 马村区 中站区 高新区; do
	ctl targets set "$year" "$d" 7 >/dev/null || pf_fail "targets set $d"
done
ctl lots set-stage JZ-SY-001 accepted --note "accepted after a site visit" >/dev/null ||
	pf_fail "set-stage"
pf_psql "CREATE ROLE sy_staff LOGIN" >/dev/null
ctl access grant sy_staff 山阳区 >/dev/null || pf_fail "access grant"
# Settings that live with the database and with a role in it, not in any table.
pf_psql "ALTER DATABASE parkfeed SET timezone = 'Asia/Shanghai';
	ALTER ROLE pf_operator IN DATABASE parkfeed SET statement_timeout = '5min'" >/dev/null

mport=$(pf_free_port)
pf_conf_write "$PF_TMP/parkfeed.conf" metrics.listen="127.0.0.1:$mport"
pf_daemon_start "$PF_TMP/parkfeed.conf"
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_wait_log 'postgres: connected' 20
# sim_run BASE_TIME COUNT: exact traffic of the imported lots; sets good and bad.
sim_run() {
	local out
	out=$("$PF_SIM" --port "$PF_MQTT_PORT" --lots 110 --burst --seq --base-time "$1" \
		--count "$2" --bad-ratio 0.05 --status) || pf_fail "parkfeed-sim failed: $out"
	[[ $out =~ published\ ([0-9]+)\ good\ ([0-9]+)\ bad\ ([0-9]+) ]] || pf_fail "sim said: $out"
	good=${BASH_REMATCH[2]}
	bad=${BASH_REMATCH[3]}
}
now=$(date +%s)
sim_run $(( now - 3 * 86400 )) 3000
good1=$good bad1=$bad
pf_wait_sql "SELECT count(*) FROM parking.occupancy" "$good1" 30 "first traffic stored"
pf_wait_sql "SELECT count(*) FROM parking.rejected" "$bad1" 30 "first rejects stored"
pf_log "database A: $(pf_psql "SELECT count(*) FROM parking.lots") lots, $good1 observations, $bad1 rejects"

# fingerprint FILE: the ledger, the settings, and every parking table's rows and content.
fingerprint() {
	{
		"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" progress --year "$year" --format csv
		pf_psql "SELECT coalesce(d.datname, '*') || ' ' || coalesce(r.rolname, '*') || ' ' ||
				array_to_string(s.setconfig, ',')
			 FROM pg_db_role_setting s
			 LEFT JOIN pg_database d ON d.oid = s.setdatabase
			 LEFT JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1"
		pf_psql "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			 WHERE n.nspname = 'parking' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
			 ORDER BY 1" | while read -r t; do
			pf_psql "SELECT '$t ' || count(*) || ' ' ||
					coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '-')
				 FROM parking.$t x"
		done
	} >"$1"
}
fingerprint before.txt
grep -q '^total,' before.txt || pf_fail "no ledger in the fingerprint: $(head -n 3 before.txt)"
pf_log "fingerprint: $(grep -c . before.txt) lines ($(grep -c '^[a-z_]* [0-9]* [0-9a-f-]*$' before.txt) tables)"

# ---- the backup, as operations.md gives it ----
pg_dumpall -d "host=127.0.0.1 port=$PF_PG_PORT user=postgres" --roles-only -f roles.sql ||
	pf_fail "pg_dumpall --roles-only"
pg_dump -d "$PF_PG_SUPER_CONNINFO" -Fc --create -f parkfeed.dump || pf_fail "pg_dump"

# ---- the database host is lost; parkfeedd keeps acknowledging into its spool ----
pf_pg_stop immediate
sim_run $(( now - 2 * 86400 )) 500
good2=$good bad2=$bad
pf_log "with the database gone, parkfeedd acknowledged another $(( good2 + bad2 )) messages into its spool"
pf_daemon_stop
mv "$PF_TMP/pg" "$PF_TMP/pg-lost"

# ---- a fresh cluster, the roles, the dump ----
pf_pg_start
super_postgres="host=127.0.0.1 port=$PF_PG_PORT dbname=postgres user=postgres"
psql -XAtq -v ON_ERROR_STOP=1 -d "$super_postgres" -c "DROP DATABASE parkfeed" >/dev/null
# The cluster's bootstrap superuser exists already: skip its CREATE ROLE, keep the rest.
grep -vx 'CREATE ROLE postgres;' roles.sql |
	psql -XAtq -v ON_ERROR_STOP=1 -d "$super_postgres" -f - >restore-roles.log 2>&1 ||
	{ cat restore-roles.log >&2; pf_fail "restoring the roles failed"; }
pg_restore -d "$super_postgres" --create --exit-on-error parkfeed.dump >restore.log 2>&1 ||
	{ cat restore.log >&2; pf_fail "pg_restore failed"; }
PF_OPERATOR_CONNINFO="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=pf_operator"
PF_DAEMON_CONNINFO="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=pf_daemon"
fingerprint after.txt
diff -u before.txt after.txt >&2 || pf_fail "the restored database differs (diff above)"
pf_log "restored into a fresh cluster on port $PF_PG_PORT: ledger, settings and all tables identical"

out=$("$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" migrate 2>&1) || pf_fail "migrate on the restored database: $out"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.schema_migrations")" \
	"$(ls "$PF_SOURCE_DIR"/schema/[0-9][0-9][0-9]_*.sql | wc -l)" "migrations recorded after restore"
sy=$(psql -XAtq -d "host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=sy_staff" \
	-c "SELECT count(*) || ' ' || string_agg(DISTINCT district, ',') FROM parking.lots")
pf_assert_eq "$sy" "$(pf_psql "SELECT count(*) FROM parking.lots WHERE district = '山阳区'") 山阳区" \
	"what the district login sees after the restore"

# ---- parkfeedd on the restored database: the spool, then live traffic ----
pf_conf_write "$PF_TMP/parkfeed.conf" metrics.listen="127.0.0.1:$mport"
pf_daemon_start "$PF_TMP/parkfeed.conf"
pf_wait_sql "SELECT count(*) FROM parking.occupancy" $(( good1 + good2 )) 30 \
	"the spool written out into the restored database"
pf_wait_sql "SELECT count(*) FROM parking.rejected" $(( bad1 + bad2 )) 30 "the spooled rejects"
pf_daemon_wait_log 'mqtt: connected' 20
sim_run $(( now - 86400 )) 300
pf_wait_sql "SELECT count(*) FROM parking.occupancy" $(( good1 + good2 + good )) 30 \
	"live traffic into the restored database"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM (SELECT lot_id, observed_at FROM parking.occupancy
	GROUP BY 1, 2 HAVING count(*) > 1) d")" 0 "observations stored twice"
pf_log "parkfeedd wrote its $(( good2 + bad2 )) spooled messages and $(( good + bad )) live ones into the restored database"
pf_daemon_stop
pf_pass
