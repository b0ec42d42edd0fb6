#!/usr/bin/env bash
# parkfeedd writes only to the schema version it was built for. On an older schema it says
# once "run parkfeedctl migrate", answers /healthz 503 with that, keeps acknowledging into its
# spool and writes nothing; after `parkfeedctl migrate` everything arrives. On a newer schema
# it says which versions and waits the same way.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_mqtt_start

latest=$(cd "$PF_SOURCE_DIR/schema" && ls [0-9][0-9][0-9]_*.sql | tail -n 1 | cut -c1-3)
latest=$((10#$latest))
"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" migrate --to $(( latest - 1 )) >"$PF_TMP/migrate-old.log" 2>&1 ||
	pf_fail "migrate --to $(( latest - 1 )): $(cat "$PF_TMP/migrate-old.log")"

mport=$(pf_free_port)
PF_METRICS_URL=http://127.0.0.1:$mport
conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" metrics.listen="127.0.0.1:$mport" postgres.reconnect_max=1
base=$(( $(date +%s) - 86400 ))

# ---- older ---------------------------------------------------------------------------------
pf_daemon_start "$conf"
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_wait_log "the database schema is at version $(( latest - 1 )), this parkfeedd needs $latest: run parkfeedctl migrate" 20
pf_wait_health 503 10 'run parkfeedctl migrate'
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 5 --count 50 --rate 500 --seq --base-time "$base" >/dev/null
pf_wait_metric parkfeed_messages_acknowledged_total 50 10
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy")" 0 "nothing written to the old schema"
grep 'run parkfeedctl migrate' "$PF_TMP/daemon.log" | grep -q 'spool.*spool' &&
	pf_fail "the line says the same twice: $(grep 'run parkfeedctl migrate' "$PF_TMP/daemon.log")"
(( $(grep -c 'run parkfeedctl migrate' "$PF_TMP/daemon.log") == 1 )) ||
	pf_fail "the schema was reported more than once: $(grep 'run parkfeedctl migrate' "$PF_TMP/daemon.log")"

pf_pg_migrate
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 50 30 "after migrate"
pf_wait_health 200 10 '^ok$'

# ---- newer ---------------------------------------------------------------------------------
pf_psql "INSERT INTO parking.schema_migrations (version, name) VALUES ($(( latest + 1 )), 'future')" >/dev/null
pf_daemon_log_mark
pf_psql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'parkfeedd'" >/dev/null
pf_daemon_wait_log "the database schema is at version $(( latest + 1 )), newer than this parkfeedd .* knows \($latest\): upgrade parkfeedd" 20
pf_wait_health 503 10 'upgrade parkfeedd'
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 5 --count 20 --rate 500 --seq --base-time $(( base + 100 )) >/dev/null
pf_wait_metric parkfeed_messages_acknowledged_total 70 10
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy")" 50 "nothing written to the newer schema"
pf_psql "DELETE FROM parking.schema_migrations WHERE version = $(( latest + 1 ))" >/dev/null
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 70 30 "once the schema is this build's again"
pf_wait_health 200 10 '^ok$'
pf_daemon_stop
pf_pass
