#!/usr/bin/env bash
# The daemon starts before its dependencies and waits for them: it retries the broker and
# PostgreSQL with capped backoff, logs each failing dependency once (not once per retry) with
# its reason (connection refused), says when each is back, and then ingests normally.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start
pf_mqtt_stop
pf_pg_stop fast

conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" mqtt.reconnect_max=1 postgres.reconnect_max=1
pf_daemon_start "$conf"
pf_daemon_wait_log 'mqtt: broker .* unavailable' 10
pf_daemon_wait_log 'postgres: cannot connect' 10
# each says why
grep -q 'mqtt: broker 127.0.0.1:[0-9]* unavailable: Connection refused; retrying' "$PF_TMP/daemon.log" ||
	pf_fail "the broker's failure is not named: $(grep 'mqtt: broker' "$PF_TMP/daemon.log")"
grep -q 'postgres: cannot connect: .*failed: Connection refused' "$PF_TMP/daemon.log" ||
	pf_fail "the database's failure is not named: $(grep 'postgres: cannot' "$PF_TMP/daemon.log")"
sleep 4   # several retries of each at the 1 s cap
pf_assert_eq "$(grep -c 'mqtt: broker .* unavailable' "$PF_TMP/daemon.log")" 1 "broker failure logged once"
pf_assert_eq "$(grep -c 'postgres: cannot connect' "$PF_TMP/daemon.log")" 1 "database failure logged once"

pf_mqtt_start_again
pf_daemon_wait_log 'mqtt: connected' 15
pf_pub parking/T-early/occupancy '{"ts": "2023-06-19T08:00:00+08:00", "total": 10, "free": 4}'
pf_pg_start_again
pf_daemon_wait_log 'postgres: connected' 15
pf_wait_sql "SELECT free FROM parking.lot_state WHERE lot_id = 'T-early'" 4 20 \
	"a message taken while PostgreSQL was away"
pf_daemon_stop
pf_pass
