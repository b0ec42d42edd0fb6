#!/usr/bin/env bash
# The live feed never holds ingest back, and latest wins. With the broker away while the spool
# drains into PostgreSQL one transaction per message, 50 changes of one lot leave one message
# once the broker is back, with the last counts, and 49 coalesced; with [feed] queue_max 2,
# 20 lots' changes fill the queue and the rest are dropped while every row is stored; with a
# broker account that may not publish the feed (mosquitto's dynamic-security plugin, roles as
# parkfeedctl broker sync makes them), everything is stored and nothing is retained, and the
# same account with the feed prefix the sync granted publishes it.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"
sub() { mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" "$@"; }
now_ms() { echo $(( $(date +%s) * 1000 )); }

# settled N: one scrape shows N records committed and no lot left to ask about (the figures of
# one scrape are of one moment: the feed hears of a commit before the figures do)
settled() {
	local i
	for (( i = 0; i < 300; i++ )); do
		pf_scrape
		[[ $(pf_metric parkfeed_records_committed_total) == "$1" &&
			$(pf_metric parkfeed_feed_asking) == 0 ]] && return 0
		sleep 0.1
	done
	pf_fail "not settled at $1 records: committed $(pf_metric parkfeed_records_committed_total), asking $(pf_metric parkfeed_feed_asking)"
}

mport=$(pf_free_port)
PF_METRICS_URL=http://127.0.0.1:$mport
feed_conf() { # FILE [more section.key=value]
	local file=$1
	shift
	pf_conf_write "$file" feed.topic_prefix=availability mqtt.reconnect_max=1 \
		postgres.reconnect_max=1 metrics.listen=127.0.0.1:$mport "$@"
}

# ---- 1. the broker takes nothing: one message for 50 changes ----
pf_mqtt_start
feed_conf a.conf ingest.batch_rows=1
pf_daemon_start a.conf
pf_daemon_wait_log 'mqtt: connected' 20
t0=$(( $(now_ms) - 600000 ))
pf_pub parking/JZ-SY-001/occupancy '{"ts": '"$t0"', "total": 100, "free": 50, "status": "open"}'
pf_wait_metric 'parkfeed_feed_published_total{kind="lot"}' 1 20
pf_wait_metric parkfeed_feed_inflight 0 10
pf_pg_stop
for i in $(seq 1 50); do
	printf '{"ts": %d, "total": 100, "free": %d, "status": "open"}\n' $(( t0 + i * 1000 )) $(( 50 - i ))
done >burst.txt
mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -q 1 -t parking/JZ-SY-001/occupancy -l <burst.txt
pf_wait_metric parkfeed_messages_received_total 51 20
pf_mqtt_stop
pf_pg_start_again
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 51 30 "the burst stored, one transaction each"
pf_assert_eq "$(pf_psql "SELECT changes FROM parking.lot_state WHERE lot_id = 'JZ-SY-001'")" 50 \
	"lot_state.changes"
# Everything the database had to say is said; one message waits for the lot.
settled 51
pf_assert_eq "$(pf_metric 'parkfeed_feed_published_total{kind="lot"}')" 1 "published while away"
(( $(pf_metric parkfeed_feed_queued) >= 1 )) || pf_fail "nothing waits for the broker"
pf_mqtt_start_again
pf_wait_metric 'parkfeed_feed_published_total{kind="lot"}' 2 30
pf_wait_metric 'parkfeed_feed_coalesced_total{kind="lot"}' 49 10
pf_wait_metric parkfeed_feed_queued 0 10
pf_wait_metric parkfeed_feed_inflight 0 10
sub -t availability/lots/JZ-SY-001 -q 1 -C 1 -W 10 -F '%r %p' >retained.txt ||
	pf_fail "no retained message for JZ-SY-001"
grep -q '^1 .*"availableSpotNumber":0,' retained.txt ||
	pf_fail "the retained message is not the last counts: $(cat retained.txt)"
pf_scrape
pf_assert_eq "$(pf_metric 'parkfeed_feed_dropped_total{kind="lot"}')" 0 "dropped"
pf_daemon_stop

# ---- 2. a full queue drops; the spool drains all the same ----
feed_conf b.conf feed.queue_max=2
pf_daemon_start b.conf
pf_daemon_wait_log 'mqtt: connected' 20
pf_pg_stop
for n in $(seq -w 1 20); do
	printf 'parking/JZ-WX-0%s/occupancy {"ts": %d, "total": 80, "free": %d}\n' "$n" \
		$(( $(now_ms) - 30000 )) $(( 10#$n ))
done >lots20.txt
while read -r topic payload; do
	pf_pub "$topic" "$payload"
done <lots20.txt
pf_wait_metric parkfeed_messages_received_total 20 20
pf_mqtt_stop
pf_pg_start_again
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id LIKE 'JZ-WX-%'" 20 30 \
	"every row stored with the feed's queue full"
settled 20
pf_assert_eq "$(pf_metric parkfeed_feed_queued)" 2 "the queue is full"
(( $(pf_metric 'parkfeed_feed_dropped_total{kind="lot"}') >= 18 )) ||
	pf_fail "expected at least 18 lots dropped, got $(pf_metric 'parkfeed_feed_dropped_total{kind="lot"}')"
pf_mqtt_start_again
pf_wait_metric parkfeed_feed_queued 0 30
pf_wait_health 200 10
pf_daemon_stop
pf_mqtt_stop

# ---- 3. the broker refuses the feed (ACL): ingest goes on; the granted prefix publishes ----
pf_dynsec_init
pf_mqtt_start "${PF_DYNSEC_CONF[@]}"
cat >ctl.conf <<-EOF
	[broker]
	port = $PF_MQTT_PORT
	username = $PF_DYNSEC_ADMIN
	password_file = $PF_DYNSEC_ADMIN_PASSWORD_FILE
	daemons = parkfeed-1
	[feed]
	topic_prefix = availability
EOF
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" -c ctl.conf broker sync --credentials-out creds.csv \
	>sync.out 2>&1 ||
	pf_fail "broker sync: $(cat sync.out)"
awk -F, '$2 == "parkfeed-1" { print $4 }' creds.csv >daemon.pw
[[ -s daemon.pw ]] || pf_fail "no password for parkfeed-1 in $(cat creds.csv)"
ctrl() {
	mosquitto_ctrl -h 127.0.0.1 -p "$PF_MQTT_PORT" -u "$PF_DYNSEC_ADMIN" \
		-P "$(cat "$PF_DYNSEC_ADMIN_PASSWORD_FILE")" dynsec "$@" >>ctrl.log 2>&1 ||
		pf_fail "mosquitto_ctrl dynsec $*: $(tail -n 3 ctrl.log)"
}
# A test client standing for the controllers (it publishes every lot) and the feed's readers.
printf 'loadgen-pw-1\n' >loadgen.pw
ctrl createClient loadgen -p loadgen-pw-1
ctrl createRole loadgen
ctrl addRoleACL loadgen publishClientSend 'parking/#' allow
ctrl addRoleACL loadgen subscribePattern '#' allow
ctrl addRoleACL loadgen publishClientReceive '#' allow
ctrl addClientRole loadgen loadgen
# as_daemon FILE FEED_PREFIX: the daemon parkfeed-1 of the sync, publishing its feed there
as_daemon() {
	feed_conf "$1" feed.topic_prefix="$2" mqtt.client_id=parkfeed-1 mqtt.username=parkfeed-1 \
		mqtt.password_file="$PF_TMP/daemon.pw"
	pf_daemon_start "$1"
	pf_daemon_wait_log 'mqtt: connected' 20
}
# load SEED COUNT AGE_S: 30 lots' observations through the test client
load() {
	"$PF_SIM" --port "$PF_MQTT_PORT" --username loadgen --password-file loadgen.pw --seed "$1" \
		--lots 30 --count "$2" --burst --seq --base-time $(( $(date +%s) - $3 )) >sim.out ||
		pf_fail "parkfeed-sim: $(cat sim.out)"
}
before=$(pf_psql "SELECT count(*) FROM parking.occupancy")
as_daemon c.conf elsewhere
load 3 300 3600
pf_wait_sql "SELECT count(*) FROM parking.occupancy" $(( before + 300 )) 30 \
	"every row stored while the broker refuses the feed"
settled 300
pf_wait_metric parkfeed_feed_inflight 0 20
(( $(pf_metric 'parkfeed_feed_published_total{kind="lot"}') >= 30 )) ||
	pf_fail "the feed published nothing: $(pf_metric 'parkfeed_feed_published_total{kind="lot"}')"
sub -u loadgen -P loadgen-pw-1 -t 'elsewhere/#' --retained-only -W 2 >refused.txt 2>/dev/null || true
pf_assert_eq "$(wc -l <refused.txt)" 0 "messages the broker should have refused"
pf_daemon_stop
as_daemon d.conf availability
load 4 30 60
pf_wait_metric 'parkfeed_feed_published_total{kind="lot"}' 30 30
pf_wait_metric parkfeed_feed_inflight 0 20
sub -u loadgen -P loadgen-pw-1 -t 'availability/lots/+' --retained-only -W 2 >granted.txt \
	2>/dev/null || true
pf_assert_eq "$(wc -l <granted.txt)" 30 "retained messages under the granted prefix"
pf_daemon_stop
pf_pass
