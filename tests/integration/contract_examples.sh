#!/usr/bin/env bash
# Every example of docs/contract.md published to a real mosquitto and parkfeedd with
# PostgreSQL: each good one is stored as it says (time, counts, format) or applied (status),
# each bad one refused with the reason it names, and nothing else is refused.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null ||
	pf_fail "python3-jsonschema is not installed: run scripts/deps.sh"
pf_pg_start
pf_pg_migrate
pf_mqtt_start
pf_conf_write "$PF_TMP/parkfeed.conf"
pf_daemon_start "$PF_TMP/parkfeed.conf"
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_wait_log 'postgres: connected' 20
/usr/bin/python3 "$PF_SOURCE_DIR/tests/tools/contract_examples.py" run "$PF_PG_SUPER_CONNINFO" \
	"$PF_MQTT_PORT" >"$PF_TMP/run.out" || pf_fail "examples not handled as documented (see above)"
pf_log "$(cat "$PF_TMP/run.out")"
pf_daemon_stop
pf_pass
