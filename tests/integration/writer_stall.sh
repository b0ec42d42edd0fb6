#!/usr/bin/env bash
# A connection that stops committing while records wait: a session holds a lock the ingest
# functions need. After [ingest] stall_timeout the daemon logs the stall once, counts it and
# reconnects (again while it lasts); /healthz turns 503 "writer stalled" past
# [metrics] health_stall_seconds; once the lock goes, everything is stored and /healthz is
# 200 again. Then the same with the detector off: no stall is counted, health still sees it.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start

mport=$(pf_free_port)
PF_METRICS_URL=http://127.0.0.1:$mport
conf=$PF_TMP/parkfeed.conf
base=$(( $(date +%s) - 86400 ))

metric() {
	pf_scrape
	pf_metric "$1"
}

# hold_lock SECONDS: a session that keeps parking.lot_state locked, in the background.
hold_lock() {
	pf_psql "BEGIN; LOCK TABLE parking.lot_state IN ACCESS EXCLUSIVE MODE;
		SELECT pg_sleep($1); COMMIT;" >/dev/null &
	locker=$!
	pf_wait_sql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		WHERE c.relname = 'lot_state' AND l.mode = 'AccessExclusiveLock' AND l.granted" 1 10
}

# ---- the detector on ---------------------------------------------------------------------
pf_conf_write "$conf" metrics.listen="127.0.0.1:$mport" ingest.stall_timeout=2 \
	metrics.health_stall_seconds=4
pf_daemon_start "$conf"
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 5 --count 10 --rate 500 --seq --base-time "$base" >/dev/null
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 10 20 "before the stall"
pf_wait_health 200 10

hold_lock 9
pf_daemon_log_mark
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 5 --count 20 --rate 500 --seq --base-time $(( base + 100 )) >/dev/null
pf_daemon_wait_log 'writer: stalled: nothing committed for [0-9]+ s' 10
pf_wait_health 503 10 'writer stalled'
stalls=$(metric parkfeed_writer_stalls_total)
[[ $stalls =~ ^[0-9]+$ ]] && (( stalls >= 1 )) || pf_fail "parkfeed_writer_stalls_total is [$stalls]"
wait "$locker"
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 30 30 "after the lock went"
pf_daemon_wait_log 'writer: committing again' 10
pf_wait_health 200 10 '^ok'
(( $(grep -c 'writer: stalled' "$PF_TMP/daemon.log") == 1 )) ||
	pf_fail "the stall was logged more than once: $(grep 'writer: stalled' "$PF_TMP/daemon.log")"
pf_log "stalls counted while the lock was held: $(metric parkfeed_writer_stalls_total)"
pf_daemon_stop

# ---- the detector off: health alone sees it ---------------------------------------------
pf_conf_write "$conf" metrics.listen="127.0.0.1:$mport" ingest.stall_timeout=0 \
	metrics.health_stall_seconds=2
pf_daemon_start "$conf"
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20
hold_lock 6
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 5 --count 10 --rate 500 --seq --base-time $(( base + 200 )) >/dev/null
pf_wait_health 503 10 'writer stalled'
pf_assert_eq "$(metric parkfeed_writer_stalls_total)" 0 "no stall counted with the detector off"
wait "$locker"
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 40 30 "after the second lock"
pf_wait_health 200 10 '^ok'
pf_daemon_stop
pf_pass
