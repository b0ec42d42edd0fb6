#!/usr/bin/env bash
# The spool under stress: full spool -> backpressure (reading from the broker stops, the
# broker queues) and nothing lost; a torn tail after a crash is cut off and reported; a
# duplicate burst and an out-of-order burst leave exact counts and a correct lot_state.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0"

conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" spool.max_bytes=1M spool.segment_bytes=128K
pf_daemon_start "$conf"
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_wait_log 'postgres: connected' 20
base=$(( $(date +%s) - 3 * 86400 ))

# --- full spool: about 2 MB of records against a 1 MB spool while PostgreSQL is down ---------
pf_daemon_log_mark
pf_pg_stop fast
"$PF_SIM" --burst --port "$PF_MQTT_PORT" --lots 60 --count 20000 --seq --base-time "$base" >/dev/null
pf_daemon_wait_log 'spool: full' 30
pf_pg_start_again
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 20000 120 "everything after backpressure"
pf_daemon_wait_log 'spool: room again' 10
pf_daemon_log_mark

# --- torn tail: a crash in the middle of an unsynced write leaves half a frame ---------------
pf_pg_stop fast
"$PF_SIM" --burst --port "$PF_MQTT_PORT" --lots 60 --count 500 --seq --base-time $(( base + 40000 )) >/dev/null
sleep 1
pf_daemon_kill
last=$(ls "$PF_TMP/spool"/*.seg | sort | tail -n 1)
printf '\x40\x00\x00\x00\xde\xad\xbe\xefhalf a frame' >>"$last"
pf_pg_start_again
pf_daemon_start "$conf"
pf_daemon_wait_log 'spool: .*(torn|corrupt|truncat)' 20
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 20500 60 "after a torn tail"

# --- duplicates and disorder ------------------------------------------------------------------
"$PF_SIM" --burst --port "$PF_MQTT_PORT" --lots 20 --count 2000 --seq --duplicates 0.3 --shuffle \
	--base-time $(( base + 80000 )) >/dev/null
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 22500 60 "duplicate and shuffled burst"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.lot_state s
	JOIN (SELECT lot_id, max(observed_at) AS m FROM parking.occupancy GROUP BY lot_id) o
	  ON o.lot_id = s.lot_id AND o.m = s.observed_at")" \
	"$(pf_psql "SELECT count(DISTINCT lot_id) FROM parking.occupancy")" \
	"lot_state holds every lot's newest observation"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected")" 0 "no rejects"
pf_daemon_stop
pf_pass
