#!/usr/bin/env bash
# A broken controller cannot fill the disk: past [ingest] reject_burst rejects per lot and
# minute only one in reject_sample is stored, carrying the count of those not stored; other
# lots' rejects and the broken lot's good messages are untouched; the metric counts the rest.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0"
mport=$(pf_free_port)
conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" ingest.reject_burst=10 ingest.reject_sample=50 metrics.listen="127.0.0.1:$mport"
pf_daemon_start "$conf"
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20

for i in $(seq 1 300); do echo "{\"ts\": broken $i"; done |
	mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -q 1 -t parking/JZ-BAD-1/occupancy -l
for i in $(seq 1 5); do echo "[$i]"; done |
	mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -q 1 -t parking/JZ-OK-1/occupancy -l
pf_pub parking/JZ-BAD-1/occupancy '{"ts": "2023-06-19T08:00:00+08:00", "total": 10, "free": 2}'

# 10 in full, then every 50th of the remaining 290: 5 more.
pf_wait_sql "SELECT count(*) FROM parking.rejected WHERE lot_id = 'JZ-BAD-1'" 15 20 "sampled rejects"
pf_wait_sql "SELECT count(*) FROM parking.rejected WHERE lot_id = 'JZ-OK-1'" 5 20 "another lot's rejects"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-BAD-1'" 1 20 "its good message"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected WHERE lot_id = 'JZ-BAD-1'
	AND detail LIKE '%(+49 similar not stored)'")" 5 "each sample counts the rejects it stands for"
sleep 1.2
unstored=$(curl -s "http://127.0.0.1:$mport/metrics" | awk '$1 == "parkfeed_rejects_unstored_total" {print $2}')
pf_assert_eq "$unstored" 285 "rejects counted and not stored"
pf_daemon_wait_log 'more than 10 rejects this minute' 5
pf_daemon_stop
pf_pass
