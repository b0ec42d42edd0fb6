#!/usr/bin/env bash
# The maintainer's least privilege and the rollups' readers: what parkfeed_maintainer may and
# may not do, who reads the rollups (district staff only theirs), who sets the retention
# policy (audited); maintain refused to other logins with a clear message; and the
# concurrency maintain relies on, forced rather than hoped for: a second run waits for the
# first, a claim waits for a writer whose lot-hour marker already exists, a drop that cannot
# get its lock gives up with nothing dropped.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
source "$PF_SOURCE_DIR/tests/lib/lifecycle.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"
pf_lc_feed_setup

conn_of() { echo "host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=$1"; }
pf_psql "CREATE ROLE pf_maint LOGIN IN ROLE parkfeed_maintainer; CREATE ROLE pf_district_sy LOGIN" >/dev/null
printf 'lot_id,name,district,spaces,deadline\nJZ-SY-001,a,山阳区,300,2030-01-01\nJZ-SY-002,b,山阳区,300,2030-01-01\nJZ-JF-001,c,解放区,300,2030-01-01\n' >lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null || pf_fail "lots import"
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" access grant pf_district_sy 山阳区 >/dev/null || pf_fail "access grant"
pf_lc_feed "JZ-SY-001 JZ-SY-002 JZ-JF-001" "$(pf_psql "SELECT now() - interval '2 days'")" \
	"$(pf_psql "SELECT now()")" '15 minutes' '0' >/dev/null
"$PF_CTL" -d "$(conn_of pf_maint)" maintain >first.out 2>&1 || pf_fail "maintain as pf_maint: $(cat first.out)"

# ---- who may do what (y = succeeds, n = refused for want of privilege) --------------------
roles=(pf_maint pf_daemon pf_operator pf_reader pf_district_sy)
matrix=(
	"maintain_partitions()|SELECT count(*) FROM parking.maintain_partitions(2, 3)|y n n n n"
	"rollup_claim()|SELECT parking.rollup_claim()|y n n n n"
	"rollup_refresh()|SELECT parking.rollup_refresh(10)|y n n n n"
	"rollup_backfill_step()|SELECT parking.rollup_backfill_step()|y n n n n"
	"rollup_fill_days()|SELECT parking.rollup_fill_days()|y n n n n"
	"apply_retention()|SELECT count(*) FROM parking.apply_retention()|y n n n n"
	"maintenance as of another time|SELECT count(*) FROM parking.maintain_partitions(2, 3, NULL, now() + interval '5 years')|n n n n n"
	"rollup_hours() (internal)|SELECT parking.rollup_hours(ARRAY['JZ-SY-001'], ARRAY[now()])|n n n n n"
	"schema_version()|SELECT parking.schema_version()|y y y y y"
	"set_retention()|SELECT parking.set_retention(12, 30, 'test')|n n y n n"
	"SELECT retention|SELECT count(*) FROM parking.retention|n n y n n"
	"UPDATE retention (direct)|UPDATE parking.retention SET raw_months = 1|n n n n n"
	"DELETE retention_history|DELETE FROM parking.retention_history|n n n n n"
	"SELECT lots|SELECT count(*) FROM parking.lots|n n y n y"
	"SELECT occupancy|SELECT count(*) FROM parking.occupancy|n n y n y"
	"SELECT rejected|SELECT count(*) FROM parking.rejected|n n y n n"
	"SELECT occupancy_hourly|SELECT count(*) FROM parking.occupancy_hourly|n n y y y"
	"SELECT occupancy_daily|SELECT count(*) FROM parking.occupancy_daily|n n y y y"
	"SELECT district_daily|SELECT count(*) FROM parking.district_daily|n n y y y"
	"SELECT lot_data_completeness|SELECT count(*) FROM parking.lot_data_completeness|n n y y n"
	"SELECT my_lot_data_completeness|SELECT count(*) FROM parking.my_lot_data_completeness|n n y n y"
	"INSERT occupancy_hourly_sums|INSERT INTO parking.occupancy_hourly_sums VALUES ('X', now(), 1, 1, 1, 1, 1, 1)|n n n n n"
	"DELETE occupancy_hourly_sums|DELETE FROM parking.occupancy_hourly_sums|n n n n n"
	"DELETE rollup_pending|DELETE FROM parking.rollup_pending|n n n n n"
	"INSERT occupancy|INSERT INTO parking.occupancy VALUES ('JZ-SY-001', now(), now(), 1, 1, 0, NULL, NULL, NULL)|n n n n n"
	"DELETE occupancy|DELETE FROM parking.occupancy|n n n n n"
	"TRUNCATE occupancy|TRUNCATE parking.occupancy|n n n n n"
	"DROP TABLE a partition|DROP TABLE parking.occupancy_default|n n n n n"
	"DELETE rejected|DELETE FROM parking.rejected|n n n n n"
	"UPDATE lots.district|UPDATE parking.lots SET district = 'x'|n n y n n"
	"CREATE TABLE in parking|CREATE TABLE parking.x (i int)|n n n n n"
	"CREATE ROLE|CREATE ROLE pf_x|n n n n n"
	"SET ROLE parkfeed_owner|SET ROLE parkfeed_owner|n n n n n"
)
# try CONNINFO SQL: y, n (privilege refused), or the unexpected error; always rolled back
try() {
	local out
	if out=$(psql -XAtq -v ON_ERROR_STOP=1 -d "$1" 2>&1 <<-EOF
		SET client_min_messages = warning;
		BEGIN;
		$2;
		ROLLBACK;
		EOF
	); then
		echo y
	elif grep -Eq 'permission denied|must be owner|only members of parkfeed_owner' <<<"$out"; then
		echo n
	else
		echo "error: $(grep -m1 ERROR <<<"$out")"
	fi
}
bad=()
{
	printf '%-32s' ""
	printf ' %-15s' "${roles[@]}"
	printf '\n'
	for row in "${matrix[@]}"; do
		IFS='|' read -r label sql want <<<"$row"
		read -r -a want <<<"$want"
		printf '%-32s' "$label"
		for i in "${!roles[@]}"; do
			got=$(try "$(conn_of "${roles[$i]}")" "$sql")
			cell=$([[ $got == y ]] && echo allowed || echo denied)
			[[ $got == "${want[$i]}" ]] || { cell="$cell(WRONG)"; bad+=("$label/${roles[$i]}: $got"); }
			printf ' %-15s' "$cell"
		done
		printf '\n'
	done
} | tee matrix.txt
grep -q WRONG matrix.txt && pf_fail "permission matrix: $(grep WRONG matrix.txt)"

# ---- what each reader sees of the rollups ------------------------------------------------
see() { pf_psql_as "$(conn_of "$1")" "$2"; }
lots_in() { echo "SELECT string_agg(DISTINCT lot_id, ' ' ORDER BY lot_id) FROM parking.$1"; }
pf_assert_eq "$(see pf_reader "$(lots_in occupancy_hourly)")" "JZ-JF-001 JZ-SY-001 JZ-SY-002" "reader: all lots"
pf_assert_eq "$(see pf_reader "$(lots_in lot_data_completeness)")" "JZ-JF-001 JZ-SY-001 JZ-SY-002" \
	"reader: completeness of all lots"
for v in occupancy_hourly occupancy_daily my_lot_data_completeness; do
	pf_assert_eq "$(see pf_district_sy "$(lots_in $v)")" "JZ-SY-001 JZ-SY-002" "district staff: $v"
done
pf_assert_eq "$(see pf_district_sy "SELECT string_agg(DISTINCT district, ' ') FROM parking.district_daily")" \
	"山阳区" "district staff: district_daily"
pf_assert_eq "$(see pf_operator "SELECT count(DISTINCT district) FROM parking.district_daily")" 2 \
	"operator: every district"

# ---- maintain refused to other logins, with a reason --------------------------------------
refuse() {
	local want=$1 out rc=0
	shift
	out=$("$@" 2>&1 >/dev/null) || rc=$?
	(( rc == 1 )) || pf_fail "[$*] exit status $rc, expected 1: $out"
	[[ $out == *"$want"* ]] || pf_fail "[$*] said [$out], expected /$want/"
	(( $(wc -l <<<"$out") == 1 )) || pf_fail "[$*] error is not one line: [$out]"
}
refuse "the login pf_daemon may not maintain the database: it must be a member of parkfeed_maintainer" \
	"$PF_CTL" -d "$PF_DAEMON_CONNINFO" maintain
refuse "only members of parkfeed_owner may run maintenance as of another time" \
	"$PF_CTL" -d "$(conn_of pf_maint)" maintain --as-of "2040-01-01"
# with -c FILE, [maintain] user decides (here, by mistake, the daemon's)
printf '[postgres]\nconninfo = %s\n[maintain]\nuser = pf_daemon\n' "$PF_DAEMON_CONNINFO" >wrong.conf
refuse "the login pf_daemon may not maintain" "$PF_CTL" -c wrong.conf maintain
printf '[postgres]\nconninfo = %s\n[maintain]\nuser = pf_maint\npassword_file = nope\n' "$PF_DAEMON_CONNINFO" >nocred.conf
refuse '[maintain] password_file: secret "nope": not an absolute path and $CREDENTIALS_DIRECTORY is not set' \
	env -u CREDENTIALS_DIRECTORY "$PF_CTL" -c nocred.conf maintain
printf '[postgres]\nconninfo = %s\n[maintain]\nuser = pf_maint\n' "$PF_DAEMON_CONNINFO" >ok.conf
"$PF_CTL" -c ok.conf maintain >ok.out 2>&1 || pf_fail "maintain with [maintain] user: $(cat ok.out)"

# ---- retention policy: operators set it, audited -----------------------------------------
refuse "permission denied for function set_retention" \
	"$PF_CTL" -d "$PF_READER_CONNINFO" retention set --raw-months 6
set +e
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" retention set --raw-months 0 2>err.txt; rc=$?
set -e
pf_assert_eq "$rc" 2 "--raw-months 0 is bad usage"
grep -q -- "--raw-months wants 1..1200 or forever, not '0'" err.txt || pf_fail "$(cat err.txt)"
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" retention set --rejected-days forever >set.out ||
	pf_fail "retention set forever"
pf_assert_eq "$(cat set.out)" "raw occupancy: kept 13 months
rejected messages: kept for good" "one value changed, the other kept"
pf_assert_eq "$(pf_psql "SELECT string_agg(concat_ws(':', raw_months, coalesce(rejected_days::text, 'forever'),
	db_user), ' ' ORDER BY id) FROM parking.retention_history")" \
	"13:31:postgres 13:forever:pf_operator" "retention history"
"$PF_CTL" -d "$(conn_of pf_maint)" maintain >forever.out 2>&1 || pf_fail "maintain: $(cat forever.out)"
grep -qx 'rejected messages: kept for good (the policy says so)' forever.out || pf_fail "$(cat forever.out)"

# ---- a second run waits for the first -----------------------------------------------------
# hold: a psql session kept open as one login; hold_sql runs SQL in it and waits for it
hold_open() {
	coproc HOLD { psql -XAtq -v ON_ERROR_STOP=1 -d "$1" 2>&1; }
	pf_track_pid "$HOLD_PID"
}
hold_sql() {
	local line
	printf '%s;\n\\echo __done__\n' "$1" >&"${HOLD[1]}"
	while read -r -u "${HOLD[0]}" line; do
		[[ $line == __done__ ]] && return 0
		echo "$line"
	done
	pf_fail "the held session ended while running [$1]"
}
hold_close() {
	printf '\\q\n' >&"${HOLD[1]}"
	wait "$HOLD_PID" 2>/dev/null || true
}
# waiting_on EVENT PID: until maintain (PID) waits on a lock of this kind, or has ended
waiting_on() {
	local i
	for (( i = 0; i < 300; i++ )); do
		pf_alive "$2" || return 0
		[[ $(pf_psql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'pf_maint'
			AND wait_event_type = 'Lock' AND wait_event = '$1'") == 1 ]] && return 0
		sleep 0.1
	done
	pf_fail "maintain neither waits on a lock ($1) nor ends"
}

hold_open "$PF_PG_SUPER_CONNINFO"
hold_sql "SELECT pg_advisory_lock(7305710165218238470)" >/dev/null
"$PF_CTL" -d "$(conn_of pf_maint)" maintain >second.out 2>&1 &
second=$!
waiting_on advisory "$second"
hold_sql "SELECT pg_advisory_unlock(7305710165218238470)" >/dev/null
wait "$second" || pf_fail "the waiting maintain failed: $(cat second.out)"
pf_assert_eq "$(head -n 1 second.out)" "waiting for another parkfeedctl migrate or maintain on this database" \
	"a second run says it waits"
hold_close

# ---- the claim waits for a writer that is still inside its transaction ---------------------
# The same session (same writer) stores a first row of an hour and commits, then stores a
# second row of that hour and stays open: its marker existed already, so only the claim's
# lock makes maintain see that second row.
# (an hour before the data fed above: the ingest functions refuse observations ahead of the clock)
hour=$(pf_psql "SELECT date_trunc('hour', now() - interval '3 days')")
us() { pf_psql "SELECT (extract(epoch FROM timestamptz '$hour' + interval '$1') * 1000000)::bigint"; }
ingest_sql() {
	echo "SELECT parking.ingest_occupancy(ARRAY['JZ-JF-001'], ARRAY[$1]::bigint[], ARRAY[$1]::bigint[],
		ARRAY[300], ARRAY[$2], ARRAY[300 - $2], ARRAY['open'], ARRAY[NULL]::bigint[], ARRAY['native'])"
}
hold_open "$PF_DAEMON_CONNINFO"
hold_sql "$(ingest_sql "$(us '1 minute')" 10)" >/dev/null
hold_sql "BEGIN" >/dev/null
hold_sql "$(ingest_sql "$(us '2 minutes')" 20)" >/dev/null
"$PF_CTL" -d "$(conn_of pf_maint)" maintain >claim.out 2>&1 &
claim=$!
waiting_on relation "$claim"
hold_sql "COMMIT" >/dev/null
wait "$claim" || pf_fail "maintain failed: $(cat claim.out)"
hold_close
pf_assert_eq "$(pf_psql "SELECT samples, free_min, free_max FROM parking.occupancy_hourly
	WHERE lot_id = 'JZ-JF-001' AND hour = timestamptz '$hour'")" "2|10|20" \
	"the row committed during the claim is in the rollup"

# ---- a writer that waited for a claim records its lot-hour again --------------------------
# Its marker for the hour exists when its next insert starts; a claim deletes it while that
# insert waits for the claim's lock. The trigger must then see the marker gone and add one:
# the rows of that insert are committed after maintain's recompute may have run.
mkfifo writer.in
psql -XAtq -v ON_ERROR_STOP=1 -d "$PF_DAEMON_CONNINFO" <writer.in >writer.out 2>&1 &
writer=$!
pf_track_pid "$writer"
exec 8>writer.in
hour=$(pf_psql "SELECT date_trunc('hour', now() - interval '3 days') - interval '2 hours'")
marked="SELECT count(*) FROM parking.rollup_pending WHERE lot_id = 'JZ-JF-001' AND hour = '$hour'"
printf '%s;\n' "$(ingest_sql "$(us '1 minute')" 30)" >&8
pf_wait_sql "$marked" 1 30 "the writer's first marker"
hold_open "$PF_PG_SUPER_CONNINFO"
hold_sql "BEGIN" >/dev/null
pf_assert_eq "$(hold_sql "SELECT parking.rollup_claim() > 0")" t "claimed"
printf '%s;\n' "$(ingest_sql "$(us '2 minutes')" 40)" >&8
pf_wait_sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'pf_daemon'
	AND wait_event_type = 'Lock' AND wait_event = 'relation'" 1 30 "the writer waits for the claim"
hold_sql "COMMIT" >/dev/null
hold_close
pf_wait_sql "$marked" 1 30 "the writer marked the hour again after the claim"
exec 8>&-
wait "$writer" || pf_fail "writer session: $(cat writer.out)"

# ---- a drop that cannot lock the table gives up, nothing dropped ----------------------------
# rows of two months ago, which --retain-months 1 drops
pf_lc_feed "JZ-SY-001" "$(pf_psql "SELECT now() - interval '2 months'")" \
	"$(pf_psql "SELECT now() - interval '2 months' + interval '1 day'")" '1 hour' '0' >/dev/null
parts=$(pf_psql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'parking.occupancy'::regclass")
hold_open "$PF_OPERATOR_CONNINFO"
hold_sql "BEGIN; SELECT count(*) FROM parking.occupancy" >/dev/null
refuse "maintain: retention: could not lock parking.occupancy within 10 s to drop old months; a long query or transaction holds it (see pg_stat_activity); nothing was dropped: run maintain again" \
	"$PF_CTL" -d "$(conn_of pf_maint)" maintain --retain-months 1
pf_assert_eq "$(pf_psql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'parking.occupancy'::regclass")" \
	"$parts" "nothing dropped"
hold_sql "COMMIT" >/dev/null
hold_close
"$PF_CTL" -d "$(conn_of pf_maint)" maintain --retain-months 1 >drop.out 2>&1 || pf_fail "maintain: $(cat drop.out)"
grep -q '^raw occupancy: dropped parking.occupancy_p' drop.out || pf_fail "not dropped: $(cat drop.out)"
pf_pass
