#!/usr/bin/env bash
# The writer never stalls: while a backlog of 100,000 messages drains, the daemon's PostgreSQL
# backend is terminated 50 times, 10-90 ms apart. Every message must end up stored exactly
# once, and commits must resume after the last termination (with the small pipeline and
# batches that made the old writer stall soonest).
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0" "max_inflight_messages 100"

N=${PF_STORM_MESSAGES:-100000}
KILLS=${PF_STORM_KILLS:-50}
conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" ingest.pipeline_depth=4 ingest.batch_rows=500 postgres.reconnect_max=1

# A first start creates the persistent session; the backlog then queues at the broker.
pf_daemon_start "$conf"
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_stop
"$PF_SIM" --burst --port "$PF_MQTT_PORT" --lots 400 --count "$N" --seq \
	--base-time $(( $(date +%s) - 3 * 86400 )) >/dev/null

pf_daemon_start "$conf"
pf_daemon_wait_log 'postgres: connected' 20

# One session does the terminating: a fresh psql per kill would itself load the machine.
# pg_stat_clear_snapshot() makes each round see the backend the daemon has now.
pf_psql "DO \$\$
DECLARE
	done int := 0;
	tries int := 0;
BEGIN
	WHILE done < $KILLS AND tries < 5000 LOOP
		PERFORM pg_stat_clear_snapshot();
		done := done + (SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
				FROM pg_stat_activity
				WHERE application_name = 'parkfeedd' AND pid <> pg_backend_pid());
		tries := tries + 1;
		PERFORM pg_sleep(0.010 + random() * 0.080);
	END LOOP;
	RAISE NOTICE 'terminated % backends in % rounds', done, tries;
	IF done < $KILLS THEN
		RAISE EXCEPTION 'only % terminations', done;
	END IF;
END
\$\$" >"$PF_TMP/storm.out" 2>&1 || pf_fail "storm: $(cat "$PF_TMP/storm.out")"
pf_log "storm over: $(grep -o 'terminated.*' "$PF_TMP/storm.out"), $(pf_psql "SELECT count(*) FROM parking.occupancy") rows stored so far"

t0=${EPOCHREALTIME/./}
pf_wait_sql "SELECT count(*) FROM parking.occupancy" "$N" 90 "backlog after the storm"
t1=${EPOCHREALTIME/./}
pf_log "the rest stored $(( (t1 - t0) / 1000 )) ms after the last termination"
pf_assert_eq "$(pf_psql "SELECT count(DISTINCT (lot_id, seq)) FROM parking.occupancy")" "$N" \
	"every message stored once"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected")" 0 "no rejects"
grep -Eq 'panic|Segmentation|AddressSanitizer|Assertion' "$PF_TMP/daemon.log" && pf_fail "daemon crashed"
pf_daemon_stop
pf_pass
