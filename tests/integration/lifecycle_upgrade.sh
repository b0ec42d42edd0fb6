#!/usr/bin/env bash
# Upgrade from the previous release's schema (0.1.0: migrations 001-005, `migrate --to 5`)
# holding data: 20 months of occupancy (old months in the default partition as that release left
# them, some in partitions its maintain created), rejected messages, stage history. migrate
# to the latest keeps every row; the retention policy stays unset and maintain deletes
# nothing, saying what the defaults would delete; it rolls up the old data (equal to the raw
# aggregates); once an operator sets the policy (audited) the next run applies it, and
# --retain-months overrides it once.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
source "$PF_SOURCE_DIR/tests/lib/lifecycle.sh"
pf_env_init
pf_pg_start
cd "$PF_TMP"

"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" migrate --to 5 >old.out 2>&1 || pf_fail "migrate --to 5: $(cat old.out)"
pf_assert_eq "$(tail -n 1 old.out)" "schema at version 5" "the previous release's schema"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM pg_db_role_setting")" 0 "--to sets no TimeZone"
# The logins a deployment of that release had (as pf_pg_migrate makes them).
pf_psql "CREATE ROLE pf_daemon LOGIN IN ROLE parkfeed_ingest;
	CREATE ROLE pf_operator LOGIN IN ROLE parkfeed_operator;
	CREATE ROLE pf_reader LOGIN IN ROLE parkfeed_reader" >/dev/null
export PF_DAEMON_CONNINFO="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=pf_daemon"
export PF_OPERATOR_CONNINFO="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=pf_operator"
pf_lc_feed_setup

printf 'lot_id,name,district,spaces,deadline\nJZ-WX-001,温县一,温县,300,2030-01-01\nJZ-WX-002,温县二,温县,300,2030-01-01\nJZ-BA-001,博爱一,博爱县,300,2030-01-01\n' >lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null || pf_fail "lots import"
lots="JZ-WX-001 JZ-WX-002 JZ-BA-001"
start=$(pf_psql "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')
	- interval '20 months', 'YYYY-MM-DD')")
pf_lc_feed "$lots" "$start 00:00:00+08" "$(pf_psql "SELECT now() - interval '1 hour'")" \
	'30 minutes' '0' >/dev/null
# that release's daily maintain had created partitions six months back (moving their rows)
pf_psql "SELECT count(*) FROM parking.maintain_partitions(6, 3)" >/dev/null
pf_psql_as "$PF_DAEMON_CONNINFO" "SELECT parking.ingest_rejected(
	ARRAY[(extract(epoch FROM now() - interval '90 days') * 1000000)::bigint,
	      (extract(epoch FROM now() - interval '1 day') * 1000000)::bigint],
	ARRAY['parking/JZ-WX-001/occupancy', 'parking/JZ-WX-001/occupancy'],
	ARRAY['JZ-WX-001', 'JZ-WX-001'], ARRAY['json_syntax', 'bad_type'],
	ARRAY['old', 'new'], ARRAY['\\x7b', '\\x7b7b']::bytea[], ARRAY[1, 2])" >/dev/null
(( $(pf_psql "SELECT count(*) FROM ONLY parking.occupancy_default") > 0 )) ||
	pf_fail "the old data should sit in the default partition"

# (in UTC: migrate changes the database's TimeZone, and with it how times print)
fingerprint() {
	local PGTZ=UTC
	export PGTZ
	pf_psql "SELECT md5(string_agg(o::text, ',' ORDER BY lot_id, observed_at)) FROM parking.occupancy o"
	# (the columns it had before: later migrations add their own)
	pf_psql "SELECT md5(string_agg(concat_ws('|', lot_id, observed_at, received_at, total, free,
		occupied, status, seq, format), ',' ORDER BY lot_id)) FROM parking.lot_state"
	pf_psql "SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM parking.rejected r"
	pf_psql "SELECT md5(string_agg(h::text, ',' ORDER BY id)) FROM parking.stage_history h"
	pf_psql "SELECT md5(string_agg(concat_ws('|', lot_id, name, district, stage, connected_at),
		',' ORDER BY lot_id)) FROM parking.lots"
}
fingerprint >before.txt

# ---- the upgrade -------------------------------------------------------------------------
"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" migrate >up.out 2>&1 || pf_fail "migrate: $(cat up.out)"
grep -qx 'applied 007_lifecycle' up.out || pf_fail "007 not applied: $(cat up.out)"
# the old months in the default partition get theirs (migrate creates partitions as maintain does)
grep -q '^created parking.occupancy_p[0-9]* for [0-9]* row(s) that were in the default partition' up.out ||
	pf_fail "old months not given partitions: $(cat up.out)"
grep -qx 'database TimeZone set to Asia/Shanghai (was the server.s default); new sessions use it' up.out ||
	pf_fail "TimeZone: $(cat up.out)"
fingerprint >after.txt
cmp -s before.txt after.txt || pf_fail "migrate changed data: $(diff before.txt after.txt)"
pf_assert_eq "$(pf_psql "SELECT policy_set, raw_months IS NULL, rejected_days IS NULL
	FROM parking.retention")" "f|t|t" "an upgraded database has no policy"
pf_assert_eq "$(pf_psql_as "$PF_DAEMON_CONNINFO" "SELECT parking.schema_version()")" \
	"$(pf_psql "SELECT max(version) FROM parking.schema_migrations")" "schema_version() for the daemon"
(( $(pf_psql "SELECT count(*) FROM parking.rollup_backfill") > 0 )) || pf_fail "old data queued"
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" retention show --format csv >show.csv || pf_fail "retention show"
grep -q '^raw occupancy,not set: nothing is deleted,' show.csv || pf_fail "retention show: $(cat show.csv)"

# ---- maintain without a policy: rolls up, deletes nothing, says what it would ----------------
pf_psql "CREATE ROLE pf_maint LOGIN IN ROLE parkfeed_maintainer" >/dev/null
maint="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=pf_maint"
"$PF_CTL" -d "$maint" maintain >m1.out 2>&1 || pf_fail "maintain: $(cat m1.out)"
cat m1.out >&2
grep -q '^rollups: rolled up [0-9]* lot-hour(s) of data stored before rollups existed' m1.out ||
	pf_fail "no backfill: $(cat m1.out)"
grep -qx 'retention: the policy is not set (this database held data before retention existed): nothing deleted' m1.out ||
	pf_fail "no policy notice: $(cat m1.out)"
cut13=$(pf_psql "SELECT (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - interval '13 months')::date")
grep -q "^retention: with the default of 13 months it would drop raw occupancy observed before $cut13: parking.occupancy_p" m1.out ||
	pf_fail "no preview of the drop: $(cat m1.out)"
grep -q '^retention: with the default of 31 days it would delete 1 rejected message(s)' m1.out ||
	pf_fail "no preview of rejected: $(cat m1.out)"
grep -q '^retention: set the policy with: parkfeedctl retention set' m1.out || pf_fail "no hint: $(cat m1.out)"
fingerprint >after.txt
cmp -s before.txt after.txt || pf_fail "maintain without a policy changed data"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM ONLY parking.occupancy_default")" 0 "default partition emptied"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rollup_backfill")" 0 "backfill done"
pf_lc_expect
out=$(pf_lc_rollup_diff)
[[ -z $out ]] || pf_fail "rollups of the old data differ from the raw aggregates: $out"
# new data after the upgrade, and a run with nothing queued
pf_lc_feed "$lots" "$(pf_psql "SELECT now() - interval '50 minutes'")" "$(pf_psql "SELECT now()")" \
	'5 minutes' '1 minute' >/dev/null
"$PF_CTL" -d "$maint" maintain >m2.out 2>&1 || pf_fail "maintain again: $(cat m2.out)"
pf_lc_expect
out=$(pf_lc_rollup_diff)
[[ -z $out ]] || pf_fail "rollups of new data differ: $out"

# ---- an explicit policy -----------------------------------------------------------------
set +e
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" retention set --raw-months 13 >set.out 2>&1; rc=$?
set -e
pf_assert_eq "$rc" 1 "a first policy needs both values"
grep -q 'never set: give both the raw occupancy months and the rejected message days' set.out ||
	pf_fail "retention set: $(cat set.out)"
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" retention set --raw-months 13 --rejected-days 31 >set.out 2>&1 ||
	pf_fail "retention set: $(cat set.out)"
pf_assert_eq "$(cat set.out)" "raw occupancy: kept 13 months
rejected messages: kept 31 days" "retention set output"
pf_assert_eq "$(pf_psql "SELECT policy_set, raw_months, rejected_days, actor <> '', db_user
	FROM parking.retention_history ORDER BY id DESC LIMIT 1")" "t|13|31|t|pf_operator" "audited"
"$PF_CTL" -d "$maint" maintain >m3.out 2>&1 || pf_fail "maintain with a policy: $(cat m3.out)"
cat m3.out >&2
grep -q '^raw occupancy: dropped parking.occupancy_p' m3.out || pf_fail "nothing dropped: $(cat m3.out)"
grep -qx "raw occupancy: kept from $cut13 (policy: 13 months)" m3.out || pf_fail "cutoff: $(cat m3.out)"
grep -q '^rejected messages: deleted 1 received before' m3.out || pf_fail "rejects: $(cat m3.out)"
pf_assert_eq "$(pf_psql "SELECT min(observed_at) >= timestamptz '$cut13 00:00:00+08'
	FROM parking.occupancy")" t "raw rows within the policy"
out=$(pf_lc_rollup_diff)
[[ -z $out ]] || pf_fail "rollups after the drop differ from the aggregates taken before: $out"

# ---- --retain-months: a one-off override, the policy unchanged ---------------------------
"$PF_CTL" -d "$maint" maintain --retain-months 3 >m4.out 2>&1 || pf_fail "maintain --retain-months: $(cat m4.out)"
cut3=$(pf_psql "SELECT (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - interval '3 months')::date")
grep -qx "raw occupancy: kept from $cut3 (--retain-months 3)" m4.out || pf_fail "override: $(cat m4.out)"
pf_assert_eq "$(pf_psql "SELECT raw_months FROM parking.retention")" 13 "policy unchanged"
"$PF_CTL" -d "$maint" maintain >m5.out 2>&1 || pf_fail "maintain after the override: $(cat m5.out)"
grep -qx "raw occupancy: kept from $cut3 (policy: 13 months; older months were dropped before)" m5.out ||
	pf_fail "dropped months do not come back: $(cat m5.out)"
out=$(pf_lc_rollup_diff)
[[ -z $out ]] || pf_fail "rollups after the override differ: $out"
pf_pass
