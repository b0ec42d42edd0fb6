#!/usr/bin/env bash
# Several daemons in one [mqtt] shared_group, on a broker set up as config/mosquitto/ ships it
# (dynamic-security accounts made by parkfeedctl broker sync, the shipped queue and inflight
# settings): three daemons, each with its own account, client id and spool, drain a backlog
# queued for the group while one of them is killed with SIGKILL and started again; every
# message is stored exactly once. The lots' retained statuses are stored once: restarting all
# three (each is handed every retained status again at its subscription) moves no status_at,
# while a status published while they were away is applied.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_dynsec_init
pf_mqtt_start "${PF_DYNSEC_CONF[@]}" "max_queued_messages 1000000" "max_queued_bytes 0" \
	"max_inflight_messages 1000" "message_size_limit 65536"
cd "$PF_TMP"

N=${PF_SHARED_MESSAGES:-100000}
LOTS=100

cat >ctl.conf <<-EOF
	[broker]
	port = $PF_MQTT_PORT
	username = $PF_DYNSEC_ADMIN
	password_file = $PF_DYNSEC_ADMIN_PASSWORD_FILE
	daemons = parkfeed-1, parkfeed-2, parkfeed-3
EOF
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" -c ctl.conf broker sync --credentials-out creds.csv \
	>sync.out 2>&1 || pf_fail "broker sync: $(cat sync.out)"
# The controllers' stand-in: one account that may publish every lot's topics.
printf 'loadgen-pw-1\n' >loadgen.pw
ctrl() {
	mosquitto_ctrl -h 127.0.0.1 -p "$PF_MQTT_PORT" -u "$PF_DYNSEC_ADMIN" \
		-P "$(cat "$PF_DYNSEC_ADMIN_PASSWORD_FILE")" dynsec "$@" >>ctrl.log 2>&1 ||
		pf_fail "mosquitto_ctrl dynsec $*: $(tail -n 3 ctrl.log)"
}
ctrl createClient loadgen -p loadgen-pw-1
ctrl createRole loadgen
ctrl addRoleACL loadgen publishClientSend 'parking/#' allow
ctrl addClientRole loadgen loadgen
pub() { mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -u loadgen -P loadgen-pw-1 "$@"; }

declare -A pid mport
for i in 1 2 3; do
	awk -F, -v u="parkfeed-$i" '$2 == u { print $4 }' creds.csv >"daemon-$i.pw"
	[[ -s daemon-$i.pw ]] || pf_fail "no password for parkfeed-$i: $(cat creds.csv)"
	mkdir -p "spool-$i"
	mport[$i]=$(pf_free_port)
	pf_conf_write "daemon-$i.conf" mqtt.client_id="parkfeed-$i" mqtt.username="parkfeed-$i" \
		mqtt.password_file="$PF_TMP/daemon-$i.pw" mqtt.shared_group=parkfeed \
		mqtt.reconnect_max=1 spool.dir="$PF_TMP/spool-$i" ingest.batch_rows=500 \
		metrics.listen=127.0.0.1:${mport[$i]}
done
start() {
	pf_daemon_start "daemon-$1.conf"
	pid[$1]=$PF_DAEMON_PID
}
connections() { grep -c 'mqtt: connected' daemon.log || true; }
# start_all: the three, until each has connected
start_all() {
	local from
	from=$(connections)
	for i in 1 2 3; do start "$i"; done
	for _ in $(seq 200); do
		(( $(connections) >= from + 3 )) && return 0
		sleep 0.1
	done
	pf_fail "the daemons did not connect"
}
stop_all() {
	for i in 1 2 3; do
		pf_daemon_stop "${pid[$i]}"
	done
}

# ---- the group's sessions exist; the backlog queues for them ----
start_all
stop_all
"$PF_SIM" --port "$PF_MQTT_PORT" --username loadgen --password-file loadgen.pw --lots "$LOTS" \
	--status --count "$N" --burst --seq --base-time $(( $(date +%s) - 3 * 86400 )) >sim.out ||
	pf_fail "parkfeed-sim: $(cat sim.out)"
pf_log "backlog: $(cat sim.out)"

# ---- three drain it; one is killed mid-drain and started again ----
count() { pf_psql "SELECT count(*) FROM parking.occupancy"; }
for i in 1 2 3; do start "$i"; done
for _ in $(seq 600); do
	(( $(count) >= N / 10 )) && break
	sleep 0.05
done
pf_daemon_kill "${pid[2]}"
pf_log "parkfeed-2 killed at $(count) rows"
start 2
pf_wait_sql "SELECT count(*) FROM parking.occupancy" "$N" 180 "the backlog, stored once"
# --seq: lot i's k-th message is seq k observed at base + k s: every one is there, once
pf_assert_eq "$(pf_psql "SELECT count(*) FROM (SELECT lot_id FROM parking.occupancy
	GROUP BY lot_id HAVING count(*) <> max(seq) + 1 OR min(seq) <> 0
	OR count(DISTINCT seq) <> count(*)) x")" 0 "lots with a missing or repeated observation"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected")" 0 "rejects"
pf_wait_sql "SELECT count(*) FROM parking.lots WHERE status_at IS NOT NULL AND online" "$LOTS" 30 \
	"every lot's status"
for i in 1 2 3; do
	PF_METRICS_URL=http://127.0.0.1:${mport[$i]}
	pf_scrape
	pf_log "parkfeed-$i: received $(pf_metric parkfeed_messages_received_total), statuses $(pf_metric parkfeed_status_messages_total)"
done

# ---- statuses once: a restart replays every retained status to every daemon ----
pf_psql "SELECT lot_id, status_at FROM parking.lots ORDER BY lot_id" >status1.txt
stop_all
lot1=$(pf_psql "SELECT min(lot_id) FROM parking.lots")
pub -q 1 -r -t "parking/$lot1/status" -m '{"online": false}'
start_all
for i in 1 2 3; do
	PF_METRICS_URL=http://127.0.0.1:${mport[$i]}
	# every retained status reaches every member at its subscription: this daemon's share of
	# the live one at most
	for _ in $(seq 300); do
		pf_scrape
		(( $(pf_metric parkfeed_status_messages_total) >= LOTS &&
			$(pf_metric parkfeed_records_committed_total) ==
			$(pf_metric parkfeed_messages_acknowledged_total) )) && break
		sleep 0.1
	done
	(( $(pf_metric parkfeed_status_messages_total) >= LOTS )) ||
		pf_fail "parkfeed-$i was not handed the retained statuses: $(pf_metric parkfeed_status_messages_total)"
	[[ $(pf_metric parkfeed_records_committed_total) == $(pf_metric parkfeed_messages_acknowledged_total) ]] ||
		pf_fail "parkfeed-$i did not commit what it received"
done
pf_wait_sql "SELECT online FROM parking.lots WHERE lot_id = '$lot1'" f 20 "the status published meanwhile"
pf_psql "SELECT lot_id, status_at FROM parking.lots ORDER BY lot_id" >status2.txt
pf_assert_eq "$(diff status1.txt status2.txt | grep -c '^>' || true)" 1 \
	"lots whose status_at moved (only $lot1's should): $(diff status1.txt status2.txt)"
grep -q "^> $lot1|" <(diff status1.txt status2.txt) || pf_fail "$lot1's status_at did not move"
stop_all
grep -Eq 'AddressSanitizer|runtime error|Segmentation' daemon.log && pf_fail "a daemon crashed"
pf_pass
