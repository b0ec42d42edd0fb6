#!/usr/bin/env bash
# Ingest end to end on a real broker and a real PostgreSQL: every payload format, every reject
# reason, duplicates stored once, lot_state never moving back, restarts of the broker and of
# PostgreSQL survived, and a clean SIGTERM. The daemon runs as a role granted only
# parkfeed_ingest.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 100000"

conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" ingest.max_payload=4096
pf_daemon_start "$conf"
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_wait_log 'postgres: connected' 20

occ() { pf_psql "SELECT count(*) FROM parking.occupancy WHERE lot_id LIKE '$1'"; }

# --- every accepted format -------------------------------------------------------------
pf_pub parking/T-native/occupancy \
	'{"ts": "2023-06-19T08:00:05+08:00", "total": 320, "free": 70, "occupied": 250, "seq": 12345, "status": "open"}'
pf_pub parking/T-native/occupancy '{"ts": "2023-06-19 08:01:05", "total": 320, "free": 60}'
pf_pub parking/T-native/occupancy '{"ts": 1687132925000, "total": 320, "occupied": 300}'
pf_pub parking/T-native/occupancy '{"ts": "2023-06-19T00:03:05.123456Z", "total": 320, "free": 1}'
pf_pub parking/T-vendor/occupancy \
	'{"ts": "2023-06-19T08:00:00+08:00", "total_parking_space": 100, "remain_parking_space": 40}'
pf_pub parking/T-vendor/occupancy \
	'{"ts": "2023-06-19T08:00:30+08:00", "TotalSpaces": 100, "RemainingSpaces": 41}'
pf_pub_file parking/porto-ParkingLot-23889/occupancy \
	"$PF_SOURCE_DIR/tests/data/fiware/OffStreetParking-example.json"
pf_pub_file parking/porto-ParkingLot-23889/occupancy \
	"$PF_SOURCE_DIR/tests/data/fiware/OffStreetParking-example-normalized.jsonld"

pf_wait_sql "SELECT count(*) FROM parking.occupancy" 8 20 "accepted formats"
pf_assert_eq "$(pf_psql "SELECT observed_at AT TIME ZONE 'UTC', total, free, occupied, seq, status, format
	FROM parking.occupancy WHERE lot_id = 'T-native' ORDER BY observed_at")" \
"2023-06-19 00:00:05|320|70|250|12345|open|native
2023-06-19 00:01:05|320|60|260|||native
2023-06-19 00:02:05|320|20|300|||native
2023-06-19 00:03:05.123456|320|1|319|||native" "native rows, all four timestamp forms"
pf_assert_eq "$(pf_psql "SELECT to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), total, free, occupied, format
	FROM parking.occupancy WHERE lot_id = 'porto-ParkingLot-23889' ORDER BY observed_at")" \
"2018-09-21 04:00:00|414|132|282|fiware
2018-09-21 12:00:00|414|132|282|ngsi-ld" "FIWARE examples"
pf_assert_eq "$(pf_psql "SELECT free, format FROM parking.occupancy WHERE lot_id = 'T-vendor' ORDER BY observed_at")" \
"40|vendor
41|vendor" "vendor aliases"

# --- one message per reject reason -------------------------------------------------------
good_ts='"ts": "2023-06-19T09:00:00+08:00"'
head -c 5000 /dev/zero | tr '\0' ' ' >"$PF_TMP/large.json"
printf '{"ts": "2023-06-19T09:00:00+08:00", "total": 10, "free": 1, "note": "\xff"}' >"$PF_TMP/badutf8.json"
deep=$(printf '[%.0s' {1..40})$(printf ']%.0s' {1..40})
pf_pub_file parking/T-bad/occupancy "$PF_TMP/large.json"
pf_pub_file parking/T-bad/occupancy "$PF_TMP/badutf8.json"
pf_pub parking/T-bad/occupancy '{"ts": '
pf_pub parking/T-bad/occupancy '[1, 2]'
pf_pub parking/T-bad/occupancy '{"total": 10, "free": 1}'
pf_pub parking/T-bad/occupancy "{$good_ts, \"total\": \"ten\", \"free\": 1}"
pf_pub parking/T-bad/occupancy "{$good_ts, \"total\": 100001, \"free\": 1}"
pf_pub parking/T-bad/occupancy "{$good_ts, \"total\": 10, \"free\": 6, \"occupied\": 5}"
pf_pub parking/T-bad/occupancy '{"ts": "2099-01-01T00:00:00Z", "total": 10, "free": 1}'
pf_pub 'parking/bad!lot/occupancy' "{$good_ts, \"total\": 10, \"free\": 1}"
pf_pub parking/T-bad/occupancy "{$good_ts, \"id\": \"T-other\", \"total\": 10, \"free\": 1}"
pf_pub parking/T-bad/occupancy "{\"x\": $deep}"
pf_wait_sql "SELECT count(*) FROM parking.rejected" 12 20 "rejects stored"
pf_assert_eq "$(pf_psql "SELECT reason FROM parking.rejected ORDER BY reason")" \
"bad_topic
bad_type
bad_utf8
future_ts
id_mismatch
inconsistent_counts
json_syntax
missing_field
not_object
out_of_range
payload_too_large
too_deep" "one reject per reason"
pf_assert_eq "$(pf_psql "SELECT payload_len, length(payload) <= 4096 FROM parking.rejected WHERE reason = 'payload_too_large'")" \
	"5000|t" "large payload kept truncated, with its length"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected WHERE detail = '' OR detail IS NULL")" 0 \
	"every reject says why"

# --- duplicates stored once; an older observation never overwrites lot_state ---------------
for _ in 1 2 3; do
	pf_pub parking/T-order/occupancy '{"ts": "2023-06-19T10:00:00+08:00", "total": 50, "free": 5}'
done
pf_pub parking/T-order/occupancy '{"ts": "2023-06-19T09:00:00+08:00", "total": 50, "free": 9}'
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'T-order'" 2 20 "duplicates"
pf_assert_eq "$(pf_psql "SELECT free, observed_at AT TIME ZONE 'UTC' FROM parking.lot_state WHERE lot_id = 'T-order'")" \
	"5|2023-06-19 02:00:00" "lot_state keeps the newest observation"

# --- status messages and auto-registration ---------------------------------------------------
pf_pub parking/T-native/status '{"online": true, "system": "VendorX PMS", "version": "3.2", "protocol": "parkfeed/1"}'
pf_wait_sql "SELECT online, system, version, protocol FROM parking.lots WHERE lot_id = 'T-native'" \
	"t|VendorX PMS|3.2|parkfeed/1" 20 "status applied"
pf_assert_eq "$(pf_psql "SELECT registered, stage, connected_at IS NOT NULL FROM parking.lots WHERE lot_id = 'T-native'")" \
	"f|connected|t" "an unknown lot is auto-registered and connected"

# --- bulk, all formats, through a broker restart and a PostgreSQL restart ---------------------
base=$(( $(date +%s) - 2 * 86400 ))
"$PF_SIM" --burst --port "$PF_MQTT_PORT" --lots 40 --count 3000 --seq --formats mixed --base-time "$base" >/dev/null
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id LIKE 'JZ-%'" 3000 60 "bulk"

pf_daemon_log_mark
pf_mqtt_restart
pf_daemon_wait_log 'mqtt: connected' 30
"$PF_SIM" --burst --port "$PF_MQTT_PORT" --lots 40 --count 1000 --seq --formats mixed \
	--base-time $(( base + 10000 )) >/dev/null
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id LIKE 'JZ-%'" 4000 60 "after broker restart"

pf_pg_stop immediate
"$PF_SIM" --burst --port "$PF_MQTT_PORT" --lots 40 --count 1000 --seq --formats mixed \
	--base-time $(( base + 20000 )) >/dev/null
pf_pg_start_again
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id LIKE 'JZ-%'" 5000 90 "after PostgreSQL restart"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected")" 12 "no new rejects from good traffic"

pf_daemon_stop
grep -q 'stop:' "$PF_TMP/daemon.log" || pf_fail "no stop line in the daemon log"
pf_pass
