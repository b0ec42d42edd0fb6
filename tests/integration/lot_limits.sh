#!/usr/bin/env bash
# A flood of made-up lot ids cannot grow the registry without bound: past
# parking.ingest_limits (unregistered lots in all, new ones an hour) the messages of further
# unknown lots land in parking.rejected as lot_limit, one row per lot and batch and at most
# refusals_per_hour rows; the rest is counted (ingest_limits, the daemon's metric, its log).
# Registered lots, and the unknown lots admitted, are ingested as usual. Limits are changed
# with parkfeedctl limits set, by an operator.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0"
cd "$PF_TMP"
ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }

ctl limits set --max-unregistered-lots 5 --refusals-per-hour 3 >/dev/null
if ctl limits set --max-new-lots-per-hour -1 >out 2>&1; then pf_fail "a negative limit taken"; fi
grep -q "not a whole number" out || pf_fail "no reason for refusing -1: $(cat out)"
if pf_psql_as "$PF_DAEMON_CONNINFO" "SELECT parking.set_ingest_limits(1, 1, 1, 'x')" 2>/dev/null
then pf_fail "the daemon's role changed the limits"; fi
# The first two of the simulator's lots are registered: they never count against the caps.
"$PF_SIM" --emit-lots-csv 2 >lots.csv
ctl lots import lots.csv >/dev/null

mport=$(pf_free_port)
pf_conf_write parkfeed.conf metrics.listen="127.0.0.1:$mport"
pf_daemon_start parkfeed.conf
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20

# 20 lots, two messages each: 2 registered, 5 admitted, 13 refused (26 messages).
"$PF_SIM" --port "$PF_MQTT_PORT" --lots 20 --burst --count 40 --seq >/dev/null
pf_wait_sql "SELECT refused_messages FROM parking.ingest_limits" 26 20 "refused messages counted"
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 14 20 "rows of the 7 admitted lots"
pf_assert_eq "$(pf_psql "SELECT count(*) FILTER (WHERE registered) || '+' ||
	count(*) FILTER (WHERE NOT registered) FROM parking.lots")" "2+5" "lots in the registry"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.lot_state")" 7 "lot_state rows"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected WHERE reason = 'lot_limit'")" 3 \
	"lot_limit rows stop at refusals_per_hour"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected r
	WHERE reason = 'lot_limit' AND topic = 'parking/' || lot_id || '/occupancy'
	AND NOT EXISTS (SELECT 1 FROM parking.lots l WHERE l.lot_id = r.lot_id)
	AND detail LIKE '%parkfeedctl limits set%'
	AND convert_from(payload, 'UTF8')::json->>'lot_id' = lot_id")" 3 \
	"a refusal names the lot, its topic and what to do, and keeps the observation"
stood=$(pf_psql "SELECT sum(substring(detail from '; (\\d+) occupancy message')::int)
	FROM parking.rejected WHERE reason = 'lot_limit'")
pf_assert_eq "$(pf_psql "SELECT refused_unstored FROM parking.ingest_limits")" $((26 - stood)) \
	"what the stored rows do not stand for is counted"
sleep 1.2
refused=$(curl -s "http://127.0.0.1:$mport/metrics" |
	awk '$1 == "parkfeed_lot_limit_refused_total" {print $2}')
pf_assert_eq "$refused" 26 "the daemon's metric"
pf_daemon_wait_log 'lot limit: refused' 5

# Status messages of unknown lots are held to the same caps.
pf_pub parking/JZ-FAKE-1/status '{"online": true, "system": "x", "protocol": "GB/T"}'
pf_wait_sql "SELECT refused_messages FROM parking.ingest_limits" 27 20 "a refused status"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.lots WHERE lot_id = 'JZ-FAKE-1'")" 0 \
	"no lot registered from a refused status"

# More room: unknown lots are registered again, up to the hourly cap (5 so far this hour).
ctl limits set --max-unregistered-lots 100 --max-new-lots-per-hour 6 >/dev/null
ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
pf_pub parking/JZ-NEW-1/occupancy "{\"ts\": \"$ts\", \"total\": 10, \"free\": 2}"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-NEW-1'" 1 20 "admitted"
pf_pub parking/JZ-NEW-2/occupancy "{\"ts\": \"$ts\", \"total\": 10, \"free\": 2}"
pf_wait_sql "SELECT refused_messages FROM parking.ingest_limits" 28 20 "past the hourly cap"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.lots WHERE lot_id = 'JZ-NEW-2'")" 0 \
	"the hourly cap holds"
# Registering a lot frees room: an import makes it registered.
printf 'lot_id,name,district,spaces,deadline\nJZ-NEW-2,new,温县,10,2026-12-31\n' >new.csv
ctl lots import new.csv >/dev/null
pf_pub parking/JZ-NEW-2/occupancy "{\"ts\": \"$ts\", \"total\": 10, \"free\": 3}"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-NEW-2'" 1 20 \
	"a registered lot is never refused"

ctl limits >show
grep -Eq 'max_unregistered_lots +100 +6' show || pf_fail "limits show: $(cat show)"
grep -Eq 'refused messages \(total\) +28' show || pf_fail "limits show: $(cat show)"
pf_daemon_stop
pf_pass
