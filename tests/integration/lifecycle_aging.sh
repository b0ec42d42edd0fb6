#!/usr/bin/env bash
# A database aged through 15 months of data (generated, not waited for): month by month the
# lots report through the daemon's ingest function, with late rows (a spool backlog of three
# months back), early rows (five months ahead of the month being aged, beyond every partition;
# the ingest functions refuse those ahead of the real clock) and late rows for a month already
# dropped; maintain runs as of the end of each month (as the schema owner,
# --as-of), and finally as parkfeed-maintain.service runs it, now, with its own login and its
# password from a credential file. After each run: the default partition is empty, no raw row
# is older than the retention, the rollups equal the raw aggregates taken before any drop.
# At the end: daily rollups, days without data, rejected messages past 31 days gone, the
# database's size bounded, and the storage per lot and year, raw and rolled up.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
source "$PF_SOURCE_DIR/tests/lib/lifecycle.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"
pf_lc_feed_setup

pf_assert_eq "$(pf_psql "SELECT policy_set, raw_months, rejected_days FROM parking.retention")" \
	"t|13|31" "a fresh database gets the default policy"

mapfile -t M < <(pf_psql "SELECT to_char(g, 'YYYY-MM-DD') FROM generate_series(
	date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - interval '15 months',
	date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai'), interval '1 month') AS g")
(( ${#M[@]} == 16 )) || pf_fail "expected 16 month starts, got ${#M[@]}"

# 12 lots in 4 districts, connected since the first month as the bureau's ledger says (the
# ingest functions date a connection no earlier than the lot's registration, which is now);
# JZ-MC-003 falls silent in month 7.
{
	echo "lot_id,name,district,spaces,deadline,stage,stage_at"
	for d in SY:山阳区 JF:解放区 MC:马村区 QY:沁阳市; do
		for i in 1 2 3; do
			echo "JZ-${d%%:*}-00$i,lot $i,${d#*:},300,2030-12-31,connected,${M[0]} 00:00:00+08"
		done
	done
} >lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null || pf_fail "lots import"
all_lots=$(tail -n +2 lots.csv | cut -d, -f1 | tr '\n' ' ')
all_lots=${all_lots% }
# They promise a report every 10 minutes, as they will send.
pf_psql_as "$PF_OPERATOR_CONNINFO" "UPDATE parking.lots SET expected_interval_s = 600" >/dev/null

# The maintenance login as a deployment creates it; the server checks its password.
pf_psql "CREATE ROLE parkfeed_maintain LOGIN PASSWORD 'mt-secret' IN ROLE parkfeed_maintainer" >/dev/null
sed -i '1i host parkfeed parkfeed_maintain 127.0.0.1/32 scram-sha-256' "$PF_PG_DATA/pg_hba.conf"
pf_psql "SELECT pg_reload_conf()" >/dev/null
mkdir -p etc/credentials
printf 'mt-secret\n' >etc/credentials/pg-maintain-password
chmod 0600 etc/credentials/pg-maintain-password
# As deployed: [postgres] is the daemon's connection; [maintain] names its own password file
# and keeps the default login (parkfeed_maintain).
cat >etc/parkfeed.conf <<-EOF
	[postgres]
	conninfo = $PF_DAEMON_CONNINFO
	password_file = pg-password

	[maintain]
	password_file = pg-maintain-password
EOF
chmod 0644 etc/parkfeed.conf

now_local=$(pf_psql "SELECT to_char(now() - interval '1 minute', 'YYYY-MM-DD HH24:MI:SSOF')")
start_day=${M[0]}
peak_raw=0
max_month=0
dropped_seen=0

raw_bytes() {
	pf_psql "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i
		WHERE i.inhparent = 'parking.occupancy'::regclass"
}

check_after_maintain() {
	local step=$1 out
	pf_assert_eq "$(pf_psql "SELECT count(*) FROM ONLY parking.occupancy_default")" 0 \
		"month $step: default partition empty"
	pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy WHERE observed_at <
		(SELECT raw_kept_from::timestamp AT TIME ZONE 'Asia/Shanghai' FROM parking.rollup_state)")" 0 \
		"month $step: no raw row older than the retention"
	out=$(pf_lc_rollup_diff)
	[[ -z $out ]] || pf_fail "month $step: rollups differ from the raw aggregates: $out"
	pf_assert_eq "$(pf_psql "SELECT count(*) FROM pg_inherits i WHERE i.inhparent =
		'parking.occupancy'::regclass AND NOT EXISTS (SELECT 1 FROM pg_trigger t
		WHERE t.tgrelid = i.inhrelid AND t.tgname = 'occupancy_rollup_mark')")" 0 \
		"month $step: every partition records its rows for the rollups"
}

for (( m = 0; m <= 15; m++ )); do
	from="${M[m]} 00:00:00+08"
	if (( m < 15 )); then to="${M[m + 1]} 00:00:00+08"; else to=$now_local; fi
	lots=$all_lots
	(( m == 7 )) && lots=${all_lots/JZ-MC-003/}
	pf_lc_feed "$lots" "$from" "$to" '10 minutes' '0' >/dev/null
	if (( m >= 3 )); then    # a backlog of three months back, replayed
		pf_lc_feed "JZ-SY-001 JZ-JF-002 JZ-QY-003" "${M[m - 3]} 00:00:00+08" \
			"${M[m - 2]} 00:00:00+08" '1 hour' '5 minutes' >/dev/null
	fi
	# early rows: five months ahead, where no partition exists yet
	early=$(pf_psql "SELECT to_char(timestamptz '$from' + interval '5 months', 'YYYY-MM-DD HH24:MI:SSOF')")
	pf_lc_feed "JZ-MC-001" "$early" \
		"$(pf_psql "SELECT timestamptz '$early' + interval '1 day'")" '2 hours' '7 minutes' >/dev/null
	if (( m == 15 )); then   # late rows for a month dropped already: deleted, rollups final
		pf_lc_feed "JZ-SY-002" "${M[0]} 00:00:00+08" "${M[0]} 06:00:00+08" '1 hour' '3 minutes' >/dev/null
		pf_assert_eq "$(pf_psql "SELECT count(*) FROM ONLY parking.occupancy_default
			WHERE observed_at < timestamptz '${M[1]} 00:00:00+08'")" 6 \
			"late rows for a dropped month wait in the default partition"
	fi
	# two rejected messages a month, one at its start and one a minute before its end
	pf_psql_as "$PF_DAEMON_CONNINFO" "SELECT parking.ingest_rejected(
		ARRAY[(extract(epoch FROM timestamptz '$from') * 1000000)::bigint,
		      (extract(epoch FROM timestamptz '$to' - interval '1 minute') * 1000000)::bigint],
		ARRAY['parking/JZ-SY-001/occupancy', 'parking/JZ-SY-001/occupancy'],
		ARRAY['JZ-SY-001', 'JZ-SY-001'], ARRAY['json_syntax', 'json_syntax'],
		ARRAY['month $m', 'month $m end'], ARRAY['\\x7b', '\\x7b7b']::bytea[], ARRAY[1, 2])" >/dev/null
	pf_lc_expect
	size=$(raw_bytes)
	(( size > peak_raw )) && peak_raw=$size
	month=$(pf_psql "SELECT coalesce(max(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'parking.occupancy'::regclass
		AND c.relname ~ '^occupancy_p[0-9]{6}$'")
	(( month > max_month )) && max_month=$month

	if (( m < 15 )); then
		as_of=$(pf_psql "SELECT timestamptz '$to' - interval '1 hour'")
		"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" maintain --as-of "$as_of" >maintain.$m.out 2>&1 ||
			pf_fail "maintain as of $as_of: $(cat maintain.$m.out)"
	else
		pf_lc_unit_run "$PF_TMP/etc/parkfeed.conf" >maintain.$m.out 2>&1 ||
			pf_fail "the packaged maintenance failed: $(cat maintain.$m.out)"
	fi
	grep -q '^raw occupancy: dropped parking.occupancy_p' maintain.$m.out && dropped_seen=1
	check_after_maintain "$m"
	pf_log "month $m (${M[m]}): $(grep -c . maintain.$m.out) line(s) of output, raw $(( size / 1024 )) KiB"
done
cat maintain.15.out >&2

# The final run was the unit's: its own login, not the daemon's.
grep -q '^rollups: ' maintain.15.out || pf_fail "unit run printed no rollups line"
pf_assert_eq "$dropped_seen" 1 "months were dropped along the way"
grep -q "^partitions: created parking.occupancy_p[0-9]* for [0-9]* row(s) that were in the default partition" \
	maintain.0.out || pf_fail "month 0: no partition created for the default partition's rows: $(cat maintain.0.out)"
grep -q '^raw occupancy: deleted 6 row(s) observed before' maintain.15.out ||
	pf_fail "late rows of a dropped month not deleted: $(cat maintain.15.out)"

# Raw data: 13 months back from this month and the rows since, nothing older, in every partition.
cutoff=$(pf_psql "SELECT raw_kept_from FROM parking.rollup_state")
pf_assert_eq "$cutoff" "${M[2]}" "raw occupancy kept from 13 months before this month"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent = 'parking.occupancy'::regclass
	AND c.relname < 'occupancy_p' || to_char(date '$cutoff', 'YYYYMM')
	AND c.relname ~ '^occupancy_p[0-9]{6}$'")" 0 "no partition older than the retention"
pf_assert_eq "$(pf_psql "SELECT min(observed_at) >= timestamptz '$cutoff 00:00:00+08'
	FROM parking.occupancy")" t "oldest raw row within the retention"

# Rollups for the whole span, also for the months dropped.
pf_assert_eq "$(pf_psql "SELECT min(hour) = timestamptz '$start_day 00:00:00+08'
	FROM parking.occupancy_hourly")" t "hourly rollups from the first month on"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM public.expected_hourly WHERE hour <
	timestamptz '$cutoff 00:00:00+08'")" \
	"$(pf_psql "SELECT count(*) FROM parking.occupancy_hourly WHERE hour <
	timestamptz '$cutoff 00:00:00+08'")" "dropped months' hours kept"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM (
	SELECT lot_id, (hour AT TIME ZONE 'Asia/Shanghai')::date AS day, sum(samples) AS n
	FROM public.expected_hourly GROUP BY 1, 2
	EXCEPT SELECT lot_id, day, samples FROM parking.occupancy_daily WHERE samples > 0) x")" 0 \
	"daily rollups equal the sums of the hours"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM (
	SELECT district, day, sum(samples) FROM parking.occupancy_daily GROUP BY 1, 2
	EXCEPT SELECT district, day, samples FROM parking.district_daily) x")" 0 \
	"district days equal the sums of their lots"
days=$(pf_psql "SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date - date '$start_day' + 1")
pf_assert_eq "$(pf_psql "SELECT string_agg(DISTINCT n::text, ',') FROM (SELECT count(*) AS n
	FROM parking.occupancy_daily WHERE day <= (now() AT TIME ZONE 'Asia/Shanghai')::date
	GROUP BY lot_id) x")" "$days" "a row for every lot and day up to today"
pf_assert_eq "$(pf_psql "SELECT count(*), min(received), max(completeness_pct)
	FROM parking.lot_data_completeness WHERE lot_id = 'JZ-MC-003'
	AND day >= date '${M[7]}' AND day < date '${M[8]}'")" \
	"$(pf_psql "SELECT date '${M[8]}' - date '${M[7]}'")|0|0.00" "a silent month shows as such"
pf_assert_eq "$(pf_psql "SELECT min(completeness_pct) FROM parking.lot_data_completeness
	WHERE lot_id = 'JZ-SY-003' AND day < date '${M[15]}'")" "100.00" \
	"a lot that reported as often as it promised is complete every day"

# Rejected messages: 31 days; audit trails untouched.
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected
	WHERE received_at < now() - interval '31 days'")" 0 "old rejects deleted"
(( $(pf_psql "SELECT count(*) FROM parking.rejected") > 0 )) || pf_fail "recent rejects kept"
pf_assert_eq "$(pf_psql "SELECT count(*), min(at) < timestamptz '$cutoff 00:00:00+08'
	FROM parking.stage_history")" "12|t" "stage history kept, older than the raw data"

# Size bounded: raw storage at most what 14 months with data and the empty ones ahead take.
end_raw=$(raw_bytes)
(( end_raw < peak_raw )) || pf_fail "raw storage did not shrink: $end_raw >= $peak_raw"
(( end_raw <= 15 * max_month )) || pf_fail "raw storage $end_raw over 15 months of $max_month"

# Storage per lot and year: bytes per raw row and per rollup row, for a lot every 30 s.
pf_psql "VACUUM ANALYZE parking.occupancy_hourly_sums, parking.occupancy_daily" >/dev/null
pf_psql "SELECT format('storage: raw %s bytes/row -> %s per lot-year at 30 s; hourly rollup %s bytes/row, daily %s bytes/row -> %s per lot-year',
	round(r.bytes / r.n), pg_size_pretty((r.bytes / r.n * 2880 * 365)::bigint),
	round(h.bytes / h.n), round(d.bytes / d.n),
	pg_size_pretty((h.bytes / h.n * 8760 + d.bytes / d.n * 365)::bigint))
	FROM (SELECT sum(pg_total_relation_size(i.inhrelid))::numeric AS bytes,
	             (SELECT count(*) FROM parking.occupancy) AS n
	      FROM pg_inherits i WHERE i.inhparent = 'parking.occupancy'::regclass) r,
	     (SELECT pg_total_relation_size('parking.occupancy_hourly_sums')::numeric AS bytes,
	             (SELECT count(*) FROM parking.occupancy_hourly_sums) AS n) h,
	     (SELECT pg_total_relation_size('parking.occupancy_daily')::numeric AS bytes,
	             (SELECT count(*) FROM parking.occupancy_daily) AS n) d" >&2
pf_log "raw occupancy: peak $(( peak_raw / 1024 )) KiB, now $(( end_raw / 1024 )) KiB; database $(pf_psql "SELECT pg_size_pretty(pg_database_size('parkfeed'))")"
pf_pass
