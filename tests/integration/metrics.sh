#!/usr/bin/env bash
# /metrics and /healthz: counters after a known mix of good and bad messages agree with the
# database; /healthz is 200, stays 200 while PostgreSQL is down with a small spool, turns 503
# once the spool passes [metrics] health_spool_bytes, 200 again after PostgreSQL returns, and
# 503 while the broker is down. A clean start logs no warning.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0"

mport=$(pf_free_port)
url=http://127.0.0.1:$mport
PF_METRICS_URL=$url
conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" metrics.listen="127.0.0.1:$mport" metrics.health_spool_bytes=200K
pf_daemon_start "$conf"
pf_daemon_wait_log 'metrics: serving' 10
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_wait_log 'postgres: connected' 20
# a clean start says nothing to worry about (libmicrohttpd's own warnings included)
grep -E ' (warning|error|critical): ' "$PF_TMP/daemon.log" &&
	pf_fail "warnings at a clean start (above)"

pf_wait_health 200 5 '^ok$'
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/nothing-here")
pf_assert_eq "$code" 404 "unknown path"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/metrics")
pf_assert_eq "$code" 405 "POST"

# A known mix: 4000 messages, about 10 % of them bad in the simulator's various ways.
base=$(( $(date +%s) - 4 * 86400 ))
out=$("$PF_SIM" --port "$PF_MQTT_PORT" --lots 40 --burst --count 4000 --seq --base-time "$base" \
	--bad-ratio 0.1 --max-payload 65536)
pf_log "sim: $out"
[[ $out =~ published\ ([0-9]+)\ good\ ([0-9]+)\ bad\ ([0-9]+) ]] || pf_fail "sim said: $out"
good=${BASH_REMATCH[2]}
bad=${BASH_REMATCH[3]}
pf_wait_sql "SELECT count(*) FROM parking.occupancy" "$good" 30 "good messages stored"
pf_wait_sql "SELECT count(*) FROM parking.rejected" "$bad" 30 "bad messages rejected"
pf_wait_metric parkfeed_records_committed_total 4000 10
sleep 1.1   # the figures are rendered once a second
pf_scrape
grep -Evq '^(# (HELP|TYPE) [a-z_]+ .*|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eEInfa]+)$' \
	"$PF_TMP/metrics.txt" &&
	pf_fail "not Prometheus text format: $(grep -Ev '^(#|[a-z_])' "$PF_TMP/metrics.txt" | head -n 3)"
pf_assert_eq "$(pf_metric parkfeed_messages_received_total)" 4000 "received"
pf_assert_eq "$(pf_metric parkfeed_messages_acknowledged_total)" 4000 "acknowledged"
pf_assert_eq "$(pf_metric parkfeed_rows_stored_total)" "$good" "stored vs parking.occupancy"
pf_assert_eq "$(pf_metric parkfeed_occupancy_messages_total)" "$good" "occupancy messages"
while IFS='|' read -r reason n; do
	pf_assert_eq "$(pf_metric "parkfeed_messages_rejected_total{reason=\"$reason\"}")" "$n" \
		"rejected for $reason vs parking.rejected"
done < <(pf_psql "SELECT reason, count(*) FROM parking.rejected GROUP BY reason")
sum=$(awk '/^parkfeed_messages_rejected_total\{/ {s += $2} END {print s}' "$PF_TMP/metrics.txt")
pf_assert_eq "$sum" "$bad" "rejected, all reasons"
tx=$(pf_metric parkfeed_transactions_total)
pf_assert_eq "$(pf_metric parkfeed_commit_duration_seconds_count)" "$tx" "commit latency samples"
pf_assert_eq "$(pf_metric parkfeed_batch_records_count)" "$tx" "batch size samples"
pf_assert_eq "$(pf_metric parkfeed_batch_records_sum)" 4000 "records in batches"
pf_assert_eq "$(pf_metric 'parkfeed_batch_records_bucket{le="+Inf"}')" "$tx" "+Inf bucket"
pf_assert_eq "$(pf_metric 'parkfeed_up{dependency="broker"}')" 1 "broker up"
pf_assert_eq "$(pf_metric 'parkfeed_up{dependency="database"}')" 1 "database up"
pf_assert_eq "$(pf_metric parkfeed_healthy)" 1 "healthy"
pf_wait_metric parkfeed_spool_bytes 0 5   # the checkpoint follows within a second of catching up
# lots by freshness, asked of PostgreSQL every 10 s
pf_wait_metric 'parkfeed_lots{freshness="online"}' \
	"$(pf_psql "SELECT count(*) FROM parking.lot_availability WHERE freshness = 'online'")" 15
pf_log "counters agree with the database: $good stored, $bad rejected in $tx transactions"

# PostgreSQL down: still healthy while the spool is small, 503 past the threshold.
pf_pg_stop fast
pf_wait_metric 'parkfeed_up{dependency="database"}' 0 15
pf_wait_health 200 2 '^ok$'
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 40 --burst --count 5000 --seq \
	--base-time $(( base + 100000 )) >/dev/null
pf_wait_metric parkfeed_messages_acknowledged_total 9000 20   # all of them in the spool
pf_wait_health 503 10 '^database down and the spool holds [0-9]+ bytes \(over health_spool_bytes 204800\)$'
pf_scrape
(( $(pf_metric parkfeed_spool_bytes) > 204800 )) || pf_fail "spool only $(pf_metric parkfeed_spool_bytes) bytes"
pf_log "503 with PostgreSQL down: $(cat "$PF_TMP/healthz.txt")"
pf_pg_start_again
pf_wait_health 200 30 '^ok$'
pf_wait_sql "SELECT count(*) FROM parking.occupancy" $(( good + 5000 )) 30 "after the outage"
pf_wait_metric 'parkfeed_reconnects_total{dependency="database"}' 1 10
pf_wait_metric parkfeed_rows_stored_total $(( good + 5000 )) 10

# The broker down: 503 right away, whatever the spool.
pf_mqtt_stop
pf_wait_health 503 10 '^broker down'
pf_mqtt_start_again
pf_wait_health 200 30 '^ok$'
pf_wait_metric 'parkfeed_reconnects_total{dependency="broker"}' 1 10
pf_log "broker outage: 503, then 200"
pf_daemon_stop
pf_pass
