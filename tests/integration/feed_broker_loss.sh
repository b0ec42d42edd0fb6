#!/usr/bin/env bash
# The live feed survives a broker lost with feed messages in flight. The broker is frozen
# (SIGSTOP) while the daemon commits changes of five lots, so it publishes [feed]
# max_inflight = 2 of them and gets no PUBACK, the rest waiting in its queue; the broker is
# then killed (SIGKILL: the messages are gone with it) and started again. The daemon
# reconnects, the two are sent again and acknowledged, the queue drains, and every lot's
# retained message holds its last counts. Then a change after all that is published too.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start
cd "$PF_TMP"
now_ms() { echo $(( $(date +%s) * 1000 )); }

mport=$(pf_free_port)
PF_METRICS_URL=http://127.0.0.1:$mport
pf_conf_write parkfeed.conf feed.topic_prefix=availability feed.max_inflight=2 \
	mqtt.reconnect_max=1 postgres.reconnect_max=1 metrics.listen=127.0.0.1:$mport
pf_daemon_start parkfeed.conf
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_wait_log 'postgres: connected' 20

lots="JZ-SY-001 JZ-SY-002 JZ-SY-003 JZ-SY-004 JZ-SY-005"
t0=$(( $(now_ms) - 600000 ))
for lot in $lots; do
	pf_pub "parking/$lot/occupancy" '{"ts": '"$t0"', "total": 100, "free": 50}'
done
pf_wait_metric 'parkfeed_feed_published_total{kind="lot"}' 5 20
pf_wait_metric parkfeed_feed_inflight 0 10

# New counts for every lot, spooled while PostgreSQL is away.
pf_pg_stop
i=0
for lot in $lots; do
	i=$(( i + 1 ))
	pf_pub "parking/$lot/occupancy" '{"ts": '"$(( t0 + 1000 ))"', "total": 100, "free": '"$i"'}'
done
pf_wait_metric parkfeed_messages_received_total 10 20

# The broker freezes; the daemon commits and publishes into a connection nobody reads.
kill -STOP "$PF_MQTT_PID"
pf_pg_start_again
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 10 30 "the spooled counts"
pf_wait_metric parkfeed_feed_inflight 2 20
pf_wait_metric parkfeed_feed_queued 3 20
pf_wait_metric 'parkfeed_feed_published_total{kind="lot"}' 7 10

# Killed while frozen: the two in flight are lost with it.
pf_daemon_log_mark
pf_mqtt_kill
pf_mqtt_start_again
pf_daemon_wait_log 'mqtt: connected' 30
pf_wait_metric parkfeed_feed_queued 0 30
pf_wait_metric parkfeed_feed_inflight 0 30
pf_wait_metric 'parkfeed_feed_published_total{kind="lot"}' 10 10

retained() { # the retained lot messages as "LOT FREE", sorted
	mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" -q 1 -t 'availability/lots/+' -C "$1" -W 10 \
		-F '%t %p' | sed -n 's|^availability/lots/\([^ ]*\) .*"availableSpotNumber":\([0-9]*\),.*|\1 \2|p' |
		sort
}
pf_assert_eq "$(retained 5 | tr '\n' ' ')" \
	"JZ-SY-001 1 JZ-SY-002 2 JZ-SY-003 3 JZ-SY-004 4 JZ-SY-005 5 " \
	"every lot's retained message after the broker's loss"

# And the feed goes on.
pf_pub parking/JZ-SY-003/occupancy '{"ts": '"$(( t0 + 2000 ))"', "total": 100, "free": 33}'
pf_wait_metric 'parkfeed_feed_published_total{kind="lot"}' 11 20
pf_assert_eq "$(retained 5 | grep JZ-SY-003)" "JZ-SY-003 33" "a change after the loss"
pf_scrape
pf_assert_eq "$(pf_metric 'parkfeed_feed_dropped_total{kind="lot"}')" 0 "dropped"
pf_daemon_stop
pf_pass
