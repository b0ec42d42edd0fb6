#!/usr/bin/env bash
# The ingest functions called as the daemon's role (a login granted only parkfeed_ingest):
# repeats inside a batch, lot_state only moving forward, auto-registration and stages,
# replayed rejects stored once; and everything else refused to that role. Then maintain:
# rows waiting in the default partition move into the month's new partition.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

daemon() { pf_psql_as "$PF_DAEMON_CONNINFO" "$@"; }
us() { pf_psql "SELECT (extract(epoch FROM timestamptz '$1') * 1000000)::bigint"; }

printf 'lot_id,name,district,spaces,deadline\nREG-1,registered,温县,10,2023-12-31\n' >l.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import l.csv >/dev/null
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots set-stage REG-1 upgrading >/dev/null

# Times around the database's clock, as the daemon sends them: the functions take receive and
# stage times only within bounds of it (008).
r1=$(pf_psql "SELECT (extract(epoch FROM now()) * 1000000)::bigint") r2=$(( r1 + 1000000 ))
t1=$(( r1 - 30000000 )) t2=$(( r1 - 20000000 )) t3=$(( r1 - 10000000 ))
# (NEW-1, t1) twice in one batch; REG-1 registered and upgrading
n=$(daemon "SELECT parking.ingest_occupancy(
	ARRAY['NEW-1','NEW-1','NEW-1','REG-1'], ARRAY[$t1,$t1,$t2,$t1]::bigint[],
	ARRAY[$r2,$r1,$r2,$r1]::bigint[], ARRAY[100,100,100,10], ARRAY[40,41,42,3],
	ARRAY[60,59,58,7], ARRAY['open',NULL,'open','full'], ARRAY[1,1,2,9]::bigint[],
	ARRAY['native','native','native','fiware-kv'])") || pf_fail "ingest_occupancy as daemon"
pf_assert_eq "$n" 3 "three new rows (one repeat in the batch)"
pf_assert_eq "$(pf_psql "SELECT lot_id || ':' || free || ':' || seq FROM parking.lot_state
	ORDER BY 1")" "$(printf 'NEW-1:42:2\nREG-1:3:9')" "lot_state: newest of the batch"
pf_assert_eq "$(pf_psql "SELECT lot_id || ':' || registered || ':' || stage || ':' ||
	(connected_at = timestamptz 'epoch' + $r1 * interval '1 microsecond') FROM parking.lots
	ORDER BY 1")" "$(printf 'NEW-1:false:connected:true\nREG-1:true:connected:true')" \
	"auto-registered and connected at the earliest receive time"
pf_assert_eq "$(pf_psql "SELECT string_agg(lot_id || ':' || coalesce(from_stage::text, '-') ||
	'>' || stage || ':' || actor || ':' || note, ' | ' ORDER BY lot_id) FROM parking.stage_history
	WHERE actor = 'parkfeedd'")" \
	"NEW-1:->connected:parkfeedd:auto-registered on first message | REG-1:upgrading>connected:parkfeedd:first valid occupancy message" \
	"stage history of the daemon"

# an older observation and a redelivery: stored once, lot_state does not go back
n=$(daemon "SELECT parking.ingest_occupancy(ARRAY['NEW-1','NEW-1'], ARRAY[$t1,$t3]::bigint[],
	ARRAY[$r2,$r2]::bigint[], ARRAY[100,100], ARRAY[1,50], ARRAY[99,50], ARRAY[NULL,NULL]::text[],
	ARRAY[NULL,3]::bigint[], ARRAY['native','native'])")
pf_assert_eq "$n" 1 "redelivered row not stored again"
n=$(daemon "SELECT parking.ingest_occupancy(ARRAY['NEW-1'], ARRAY[$t2 - 5000000]::bigint[],
	ARRAY[$r2]::bigint[], ARRAY[100], ARRAY[7], ARRAY[93], ARRAY[NULL]::text[],
	ARRAY[NULL]::bigint[], ARRAY['native'])")
pf_assert_eq "$n" 1 "late row stored"
pf_assert_eq "$(pf_psql "SELECT free FROM parking.lot_state WHERE lot_id = 'NEW-1'")" 50 \
	"lot_state stays at the newest observation"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy")" 5 "occupancy rows"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.stage_history WHERE actor = 'parkfeedd'")" 2 \
	"no more stage changes"

# status: unknown lot registered as planned; compliant protocol -> upgraded; NULL keeps
daemon "SELECT parking.ingest_status(ARRAY['ST-1','ST-1','NEW-1'], ARRAY[$r1,$r2,$r1]::bigint[],
	ARRAY[true,NULL,false], ARRAY['vendorX',NULL,'v'], ARRAY['1.0',NULL,NULL],
	ARRAY['parkfeed/1',NULL,'old'], ARRAY[true,NULL,false])" >/dev/null || pf_fail "ingest_status"
pf_assert_eq "$(pf_psql "SELECT stage || ':' || registered || ':' || online || ':' || system ||
	':' || protocol FROM parking.lots WHERE lot_id = 'ST-1'")" \
	"upgraded:false:true:vendorX:parkfeed/1" "status applied; NULL kept"
pf_assert_eq "$(pf_psql "SELECT note FROM parking.stage_history WHERE lot_id = 'ST-1'")" \
	"status reports protocol parkfeed/1" "upgrade history"
pf_assert_eq "$(pf_psql "SELECT stage FROM parking.lots WHERE lot_id = 'NEW-1'")" connected \
	"status never moves a lot back"
# an older status does not overwrite a newer one
daemon "SELECT parking.ingest_status(ARRAY['ST-1'], ARRAY[$r1 - 1000000]::bigint[],
	ARRAY[false], ARRAY['old'], NULL::text[] || ARRAY[NULL]::text[], ARRAY[NULL]::text[],
	ARRAY[false])" >/dev/null
pf_assert_eq "$(pf_psql "SELECT online || ':' || system FROM parking.lots WHERE lot_id = 'ST-1'")" \
	"true:vendorX" "older status ignored"

# rejects: '' lot_id is NULL; a replay is stored once
for i in 1 2; do
	n=$(daemon "SELECT parking.ingest_rejected(ARRAY[$r1,$r1]::bigint[],
		ARRAY['parking/x/occupancy','parking'], ARRAY['x',''], ARRAY['json_syntax','bad_topic'],
		ARRAY['at byte 3','no lot'], ARRAY['\\x7b7b'::bytea,'\\x00'::bytea], ARRAY[2,70000])")
	pf_assert_eq "$n" $(( i == 1 ? 2 : 0 )) "rejects stored once (round $i)"
done
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected WHERE lot_id IS NULL")" 1 \
	"empty lot_id stored as NULL"

# the daemon's role may do nothing else
for sql in "DELETE FROM parking.occupancy" "TRUNCATE parking.occupancy" \
	"TRUNCATE parking.rejected" "UPDATE parking.lots SET stage = 'accepted'" \
	"INSERT INTO parking.district_targets VALUES (2026, 'x', 1)" \
	"CREATE TABLE parking.evil (i int)" "DROP TABLE parking.rejected" \
	"SELECT parking.set_stage('NEW-1', 'accepted', now(), 'me', 'x', true)" \
	"SELECT count(*) FROM parking.lots" "ALTER TABLE parking.lots ADD COLUMN x int"; do
	if err=$(daemon "$sql" 2>&1); then pf_fail "daemon role could: $sql"; fi
	[[ $err == *"permission denied"* || $err == *"must be owner"* ]] ||
		pf_fail "$sql: unexpected error: $err"
done

# maintain: a row of a month without a partition waits in the default, then moves
# (written directly: the ingest functions refuse an observation years ahead of the clock)
far=$(us '2031-05-05 12:00:00+08')
pf_psql "INSERT INTO parking.occupancy (lot_id, observed_at, received_at, total, free, occupied)
	VALUES ('NEW-1', timestamptz 'epoch' + $far * interval '1 microsecond', now(), 100, 1, 99)" \
	>/dev/null
inmay="observed_at >= '2031-05-01 00:00+08' AND observed_at < '2031-06-01 00:00+08'"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy_default WHERE $inmay")" 1 \
	"row in default"
months=$(pf_psql "SELECT (extract(year FROM age(date '2031-05-01',
	date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date)) * 12 + extract(month FROM
	age(date '2031-05-01', date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date)))::int")
"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" maintain --months-ahead "$months" >maintain.out ||
	pf_fail "maintain"
grep -q "created parking.occupancy_p203105" maintain.out || pf_fail "no p203105: $(cat maintain.out)"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy_default WHERE $inmay")" 0 \
	"moved out of the default"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy_p203105")" 1 "row moved"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy")" 6 "nothing lost"
"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" maintain --months-ahead "$months" >maintain.out
grep -q created maintain.out && pf_fail "maintain again created something: $(cat maintain.out)"
grep -qx 'partitions: none to create' maintain.out || pf_fail "maintain again: $(cat maintain.out)"
# retention drops old months
pf_psql "SELECT parking.create_occupancy_partition(date '2020-01-15')" >/dev/null
"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" maintain --retain-months 12 >maintain.out
grep -q "dropped parking.occupancy_p202001" maintain.out || pf_fail "retention: $(cat maintain.out)"
if "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" maintain 2>/dev/null; then pf_fail "operator ran maintain"; fi
pf_pass
