#!/usr/bin/env bash
# A spool as parkfeed 0.1 leaves it (tests/data/spool-0.1, record version 1: a daemon took five
# messages while no database was reachable, and was stopped) is read by this version after an
# upgrade: every record is stored as 0.1 would have stored it, none is skipped as undecodable.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start
mkdir -p "$PF_TMP/spool"
cp "$PF_SOURCE_DIR"/tests/data/spool-0.1/*.seg "$PF_TMP/spool/"
pf_conf_write "$PF_TMP/parkfeed.conf"
pf_daemon_start "$PF_TMP/parkfeed.conf"
pf_daemon_wait_log 'spool: 5 records \(451 bytes\) to replay' 10
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 3 20 "the spooled observations"
pf_assert_eq "$(pf_psql "SELECT string_agg(format('%s %s %s/%s %s', lot_id,
	to_char(observed_at AT TIME ZONE 'UTC', 'HH24:MI:SS'), free, total, format), ', '
	ORDER BY lot_id, observed_at) FROM parking.occupancy")" \
	"JZ-JF-002 00:02:00 12/80 fiware, JZ-SY-001 00:00:05 70/320 native, JZ-SY-001 00:01:05 69/320 native" \
	"observations"
pf_wait_sql "SELECT online, system, version, protocol, stage FROM parking.lots
	WHERE lot_id = 'JZ-SY-001'" "t|JZPark|3.2|parkfeed/1|connected" 20 "the spooled status"
pf_wait_sql "SELECT lot_id, reason FROM parking.rejected" "JZ-JF-002|inconsistent_counts" 20 \
	"the spooled reject"
pf_daemon_stop
grep -q 'undecodable record' "$PF_TMP/daemon.log" && pf_fail "records of 0.1 were skipped"
pf_pass
