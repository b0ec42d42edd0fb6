#!/usr/bin/env bash
# The systemd notification protocol against a stand-in socket: READY=1 once the broker is
# connected, WATCHDOG=1 from the loop (and none while the loop is stopped, nor for another
# WATCHDOG_PID), STATUS= figures, RELOADING=1 + MONOTONIC_USEC= then READY=1 around SIGHUP,
# STOPPING=1; reloads under load lose nothing; an invalid reload keeps the old settings; an
# unreachable broker gives a degraded READY=1 after [systemd] ready_timeout (abstract socket).
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0"

count_msg() {
	grep -cE -- "$2" "$1" || true
}

metric() {
	curl -sf "http://127.0.0.1:$mport/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

sock=$PF_TMP/notify.sock
nlog=$PF_TMP/notify.log
pf_notify_listen "$sock" "$nlog"
mport=$(pf_free_port)
conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" metrics.listen="127.0.0.1:$mport" metrics.health_spool_bytes=64M

export NOTIFY_SOCKET=$sock WATCHDOG_USEC=1000000
pf_daemon_start "$conf"
unset NOTIFY_SOCKET WATCHDOG_USEC
pf_daemon_wait_log 'mqtt: connected' 20
pf_wait_notify "$nlog" $'\tREADY=1\\|STATUS=.*broker up' 10
pf_log "READY=1 after the broker connection"

# WATCHDOG=1 every 500 ms (WATCHDOG_USEC/2), and none while the loop cannot run.
n0=$(count_msg "$nlog" $'\tWATCHDOG=1$')
sleep 2.2
n1=$(count_msg "$nlog" $'\tWATCHDOG=1$')
(( n1 - n0 >= 3 && n1 - n0 <= 6 )) || pf_fail "expected about 4 WATCHDOG=1 in 2.2 s, got $(( n1 - n0 ))"
kill -STOP "$PF_DAEMON_PID"
sleep 0.3
n2=$(count_msg "$nlog" $'\tWATCHDOG=1$')
sleep 1.5
n3=$(count_msg "$nlog" $'\tWATCHDOG=1$')
kill -CONT "$PF_DAEMON_PID"
pf_assert_eq "$n3" "$n2" "WATCHDOG=1 while the process was stopped"
pf_wait_notify "$nlog" $'\tWATCHDOG=1$' 3 $(( n3 + 1 ))
pf_wait_notify "$nlog" $'\tSTATUS=received [0-9]+/s, stored [0-9]+, rejected [0-9]+, spool [0-9]+ bytes, broker up, database up$' 8
pf_log "watchdog and STATUS= ok"

# Reloads under load: every SIGHUP is framed by RELOADING=1 + MONOTONIC_USEC= and READY=1,
# and every message is stored exactly once.
n=60000
base=$(( $(date +%s) - 5 * 86400 ))
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 50 --burst --count "$n" --seq --base-time "$base" \
	>"$PF_TMP/sim1.out" &
sim=$!
for level in debug info notice; do
	sleep 0.3
	pf_conf_write "$conf" metrics.listen="127.0.0.1:$mport" metrics.health_spool_bytes=1M \
		log.level="$level"
	kill -HUP "$PF_DAEMON_PID"
done
pf_alive "$sim" && pf_log "the simulator was still publishing after the last SIGHUP"
wait "$sim" || pf_fail "parkfeed-sim failed: $(cat "$PF_TMP/sim1.out")"
pf_wait_notify "$nlog" $'\tRELOADING=1\\|MONOTONIC_USEC=[0-9]+$' 5 3
pf_wait_sql "SELECT count(*) FROM parking.occupancy" "$n" 60 "after reloads under load"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected")" 0 "rejects after reloads"
# Each RELOADING=1 is followed by a READY=1 before the next RELOADING=1.
order=$(grep -oE $'\t(RELOADING|READY)=1' "$nlog" | tr -d '\t' | tr '\n' ' ')
[[ $order == "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 " ]] ||
	pf_fail "notifications out of order: $order"
mono=$(grep -oE 'MONOTONIC_USEC=[0-9]+' "$nlog" | tail -n 1 | cut -d= -f2)
now_us=$(awk '{printf "%.0f", $1 * 1000000}' /proc/uptime)
(( mono > 0 && mono <= now_us + 1000000 )) || pf_fail "MONOTONIC_USEC=$mono is not CLOCK_MONOTONIC ($now_us)"
sleep 1.2
pf_assert_eq "$(metric parkfeed_health_spool_threshold_bytes)" 1048576 "threshold after reload"
pf_assert_eq "$(metric 'parkfeed_config_reloads_total{result="applied"}')" 3 "reloads applied"
pf_log "3 reloads under load: $n stored, notifications in order"

# An invalid file is refused: the previous settings stay, systemd still hears READY=1.
pf_conf_write "$conf" metrics.listen="127.0.0.1:$mport" metrics.health_spool_bytes=2M \
	log.levle=debug
pf_daemon_log_mark
kill -HUP "$PF_DAEMON_PID"
pf_daemon_wait_log 'reload refused, keeping the running configuration: .*levle' 5
pf_wait_notify "$nlog" $'\tREADY=1\\|STATUS=reload refused' 5
sleep 1.2
pf_assert_eq "$(metric parkfeed_health_spool_threshold_bytes)" 1048576 "threshold after a refused reload"
pf_assert_eq "$(metric 'parkfeed_config_reloads_total{result="refused"}')" 1 "reloads refused"
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 50 --burst --count 1000 --seq \
	--base-time $(( base - 86400 )) >/dev/null
pf_wait_sql "SELECT count(*) FROM parking.occupancy" $(( n + 1000 )) 30 "after a refused reload"
pf_log "invalid reload refused, old configuration in force"

pf_daemon_stop
pf_wait_notify "$nlog" $'\tSTOPPING=1' 2
pf_log "STOPPING=1 on SIGTERM"

# No broker: READY=1 anyway after ready_timeout, saying why; WATCHDOG_PID names another
# process, so no WATCHDOG=1; the socket is in the abstract namespace.
asock="@pf-notify-$$-$SRANDOM"
alog=$PF_TMP/notify-abstract.log
pf_notify_listen "$asock" "$alog"
conf2=$PF_TMP/parkfeed-nobroker.conf
pf_conf_write "$conf2" mqtt.port="$(pf_free_port)" systemd.ready_timeout=1 \
	spool.dir="$PF_TMP/spool2"
mkdir -p "$PF_TMP/spool2"
export NOTIFY_SOCKET=$asock WATCHDOG_USEC=400000 WATCHDOG_PID=1
pf_daemon_start "$conf2"
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID
pf_wait_notify "$alog" $'\tREADY=1\\|STATUS=degraded: no broker connection after 1 s' 5
sleep 1
pf_assert_eq "$(count_msg "$alog" 'WATCHDOG=1')" 0 "WATCHDOG=1 meant for another pid"
pf_daemon_stop
pf_wait_notify "$alog" $'\tSTOPPING=1' 2
pf_log "degraded READY=1 on the abstract socket"
pf_pass
