#!/usr/bin/env bash
# Upgrade stages driven by real MQTT traffic through the daemon: a registered lot moves to
# upgraded when its controller reports a compliant protocol, to connected on its first valid
# occupancy message (connected_at = receive time), and each move is audited; a non-compliant
# protocol moves nothing; the ledger counts the connected lot.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start

year=$(date +%Y)
printf 'lot_id,name,district,spaces,deadline\nJZ-WX-001,温县一号停车场,温县,120,%s-12-31\nJZ-WX-002,温县二号停车场,温县,80,%s-12-31\n' \
	"$year" "$year" >"$PF_TMP/lots.csv"
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import "$PF_TMP/lots.csv" >/dev/null
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" targets set "$year" 温县 2 >/dev/null

conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf"
pf_daemon_start "$conf"
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20

pf_pub parking/JZ-WX-001/status '{"online": true, "system": "LotMaster", "version": "5.1", "protocol": "parkfeed/1"}' 1 -r
pf_pub parking/JZ-WX-002/status '{"online": true, "system": "OldBox", "version": "1.0", "protocol": "vendor/2"}' 1 -r
pf_wait_sql "SELECT string_agg(lot_id || ':' || stage, ',' ORDER BY lot_id) FROM parking.lots" \
	"JZ-WX-001:upgraded,JZ-WX-002:planned" 20 "compliant protocol -> upgraded only"

before=$(date +%s)
pf_pub parking/JZ-WX-001/occupancy "{\"ts\": $(( before * 1000 )), \"total\": 120, \"free\": 30}"
pf_wait_sql "SELECT stage FROM parking.lots WHERE lot_id = 'JZ-WX-001'" connected 20 "first message -> connected"
pf_assert_eq "$(pf_psql "SELECT extract(epoch FROM connected_at)::bigint BETWEEN $before - 1 AND $before + 10
	FROM parking.lots WHERE lot_id = 'JZ-WX-001'")" t "connected_at is the receive time"
pf_assert_eq "$(pf_psql "SELECT coalesce(from_stage::text, '-') || '>' || stage || ' ' || actor
	FROM parking.stage_history WHERE lot_id = 'JZ-WX-001' ORDER BY id")" \
	"planned>upgraded parkfeedd
upgraded>connected parkfeedd" "both moves audited"

# A later occupancy message changes nothing in the registry.
pf_pub parking/JZ-WX-001/occupancy "{\"ts\": $(( before * 1000 + 60000 )), \"total\": 120, \"free\": 31}"
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 2 20
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.stage_history WHERE lot_id = 'JZ-WX-001'")" 2 \
	"no further history"

pf_assert_eq "$("$PF_CTL" -d "$PF_OPERATOR_CONNINFO" progress --year "$year" --format csv)" \
"district,target,completed,completed_rank,rate,rate_rank
温县,2,1,1,50.00%,1
total,2,1,,50.00%," "ledger counts the lot connected through MQTT"
pf_daemon_stop
pf_pass
