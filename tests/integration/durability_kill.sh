#!/usr/bin/env bash
# SIGKILL at any moment loses no acknowledged message: a backlog drained through repeated
# kills (small segments, so kills land during rotations and checkpoints too) is stored
# exactly once, and every restart recovers the spool without a crash loop.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0" "max_inflight_messages 100"

N=${PF_KILL_MESSAGES:-100000}
conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" spool.segment_bytes=64K ingest.batch_rows=300

# A first start creates the persistent session; the backlog then queues at the broker.
pf_daemon_start "$conf"
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_stop
"$PF_SIM" --burst --port "$PF_MQTT_PORT" --lots 100 --count "$N" --seq --formats mixed \
	--base-time $(( $(date +%s) - 3 * 86400 )) >/dev/null

count() { pf_psql "SELECT count(*) FROM parking.occupancy"; }
for delay in 0.3 1.1 0.6 1.7 0.2; do
	pf_daemon_start "$conf"
	sleep "$delay"
	pf_daemon_kill
	pf_log "killed after ${delay}s: $(count) rows so far"
done
pf_daemon_start "$conf"
pf_wait_sql "SELECT count(*) FROM parking.occupancy" "$N" 120 "backlog after kills"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected")" 0 "no rejects"
grep -Eq 'panic|Segmentation|AddressSanitizer' "$PF_TMP/daemon.log" && pf_fail "daemon crashed"
pf_daemon_stop
pf_pass
