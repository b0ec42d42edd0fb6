#!/usr/bin/env bash
# PostgreSQL down for 20+ s under load, with mosquitto's default queue limits (20 in flight,
# 1000 queued): parkfeed keeps acknowledging into its spool, so the broker drops nothing,
# and everything is stored once PostgreSQL is back. Then an immediate (crash) restart of
# PostgreSQL mid-stream and a graceful broker restart mid-stream.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start   # default limits

conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf"
pf_daemon_start "$conf"
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_wait_log 'postgres: connected' 20
base=$(( $(date +%s) - 3 * 86400 ))

pf_daemon_log_mark
pf_pg_stop fast
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 50 --count 6000 --rate 280 --seq --base-time "$base" >/dev/null
pf_daemon_wait_log 'postgres: (connection lost|cannot connect)' 5
pf_pg_start_again
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 6000 90 "after a 20 s outage"

# Crash-restart PostgreSQL while traffic flows.
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 50 --count 6000 --rate 1500 --seq \
	--base-time $(( base + 20000 )) >/dev/null &
sim=$!
sleep 1.5
pf_pg_restart immediate
wait "$sim"
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 12000 90 "after an immediate PostgreSQL restart"

# Graceful broker restart while traffic flows (the publisher reconnects on its own run).
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 50 --count 3000 --rate 1500 --seq \
	--base-time $(( base + 40000 )) >/dev/null
pf_mqtt_restart
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 50 --count 3000 --rate 1500 --seq \
	--base-time $(( base + 60000 )) >/dev/null
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 18000 90 "after a broker restart"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected")" 0 "no rejects"
pf_daemon_stop
pf_pass
