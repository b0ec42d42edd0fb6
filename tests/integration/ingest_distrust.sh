#!/usr/bin/env bash
# The ingest functions distrust their caller. Called directly as a stolen ingest login would
# (pf_daemon, granted only parkfeed_ingest) with crafted arrays: an observation of year 9999
# is refused (future_ts in parking.rejected) and cannot pin lot_state; receive times ahead of
# the database's clock are set to it, so no lot stays "online" for ever; a backdated receive
# time cannot date a connection before the lot's registration or max_backlog_hours; status
# times and text are bounded and cleaned alike; the functions they wrap are not callable.
# Then the opt-in limits through the daemon: max_per_lot_minute refuses what is over the cap
# as rate_limited (one reject standing for the rest, idempotent on redelivery), and
# [ingest] max_age rejects old observations as too_old.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

daemon() { pf_psql_as "$PF_DAEMON_CONNINFO" "$@"; }
ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }
now_us() { pf_psql "SELECT (extract(epoch FROM now()) * 1000000)::bigint"; }
# occ LOTS OBSERVED RECEIVED: ingest_occupancy with one array element per comma-separated value
occ() {
	local n
	n=$(tr ',' '\n' <<<"$1" | wc -l)
	daemon "SELECT parking.ingest_occupancy(string_to_array('$1', ','), ARRAY[$2]::bigint[],
		ARRAY[$3]::bigint[], array_fill(100, ARRAY[$n]), array_fill(40, ARRAY[$n]),
		array_fill(60, ARRAY[$n]), array_fill(NULL::text, ARRAY[$n]),
		array_fill(NULL::bigint, ARRAY[$n]), array_fill('native'::text, ARRAY[$n]))" 2>warn.txt
}
Y9999=253402300799000000 # 9999-12-31T23:59:59Z
H=3600000000             # an hour in microseconds

printf 'lot_id,name,district,spaces,deadline\nJZ-SY-001,人民公园,山阳区,100,\nJZ-SY-002,焦作站,山阳区,100,\n' >lots.csv
ctl lots import lots.csv >/dev/null

# ---- year 9999 cannot pin a lot's live state ------------------------------------------------
t=$(now_us)
pf_assert_eq "$(occ JZ-SY-001 "$t - 1000000" "$t")" 1 "an honest observation"
pf_assert_eq "$(occ JZ-SY-001,JZ-SY-001,JZ-SY-002 "$Y9999,$Y9999 - 1,$t" "$t,$t,$t")" 1 \
	"of a batch with two year-9999 observations only the honest one is stored"
grep -q "distrust: refused 2 observation(s) ahead of the clock" warn.txt ||
	pf_fail "no warning for the refusal: $(cat warn.txt)"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy WHERE observed_at > now() + interval '1 day'")" \
	0 "nothing from the future stored"
pf_assert_eq "$(pf_psql "SELECT observed_at < now() FROM parking.lot_state WHERE lot_id = 'JZ-SY-001'")" \
	t "lot_state not pinned"
pf_assert_eq "$(pf_psql "SELECT reason || '|' || lot_id || '|' || topic || '|' || (detail LIKE
	'observed_at 9999-12-31T23:59:59Z is % s ahead of the database''s clock; the ingest functions take at most max_future_s = 600 (parkfeedctl limits); 2 observation(s) of this lot in this batch refused for it, this one stands for all of them')
	|| '|' || ((convert_from(payload, 'UTF8')::json->>'observed_at')::timestamptz
		   = timestamptz '9999-12-31T23:59:59Z')
	FROM parking.rejected")" \
	"future_ts|JZ-SY-001|parking/JZ-SY-001/occupancy|true|true" \
	"the refusal is stored, once for the lot, with its newest observation"
pf_assert_eq "$(pf_psql "SELECT refused_future FROM parking.ingest_limits")" 2 "refusals counted"
t=$(now_us)
pf_assert_eq "$(occ JZ-SY-001 "$t" "$t")" 1 "a later honest observation"
pf_assert_eq "$(pf_psql "SELECT free FROM parking.lot_state WHERE lot_id = 'JZ-SY-001'
	AND observed_at = timestamptz 'epoch' + $t * interval '1 microsecond'")" 40 \
	"lot_state moves on with honest data"
# within max_future_s it is taken; the bound is the operator's
pf_assert_eq "$(occ FUT-1 "$t + 500000000" "$t")" 1 "500 s ahead is within 600"
ctl limits set --max-future-s 100 >/dev/null
pf_assert_eq "$(occ FUT-1 "$t + 500000001" "$t")" 0 "500 s ahead is refused past 100"
ctl limits set --max-future-s 600 >/dev/null

# ---- receive times: never ahead of the database's clock by more than a minute --------------
t=$(now_us)
occ JZ-SY-002 "$t + 1000000" "$t + 24 * $H" >/dev/null
pf_assert_eq "$(pf_psql "SELECT received_at <= now() FROM parking.lot_state WHERE lot_id = 'JZ-SY-002'")" \
	t "a receive time a day ahead is set to the clock"
grep -Eq "distrust: 1 receive time\(s\) up to 86(399|400) s ahead of the database's clock were set to it" \
	warn.txt || pf_fail "no warning for the receive time: $(cat warn.txt)"
pf_assert_eq "$(pf_psql "SELECT corrected_times FROM parking.ingest_limits")" 1 "counted"
occ JZ-SY-002 "$t + 2000000" "$t + 30000000" >/dev/null
pf_assert_eq "$(pf_psql "SELECT received_at = timestamptz 'epoch' + ($t + 30000000) * interval '1 microsecond'
	FROM parking.lot_state WHERE lot_id = 'JZ-SY-002'")" t "30 s ahead (clocks a little apart) is kept"
[[ ! -s warn.txt ]] || pf_fail "a warning for a receive time within a minute: $(cat warn.txt)"

# ---- connections are not backdated ---------------------------------------------------------
printf 'lot_id,name,district,spaces,deadline\nJZ-SY-003,新区,山阳区,50,\n' >new.csv
ctl lots import new.csv >/dev/null
t=$(now_us)
occ JZ-SY-003,NEW-1,NEW-2 "$t,$t,$t" "$t - 400 * 24 * $H,$t - 400 * 24 * $H,$t - 10 * $H" >/dev/null
pf_assert_eq "$(pf_psql "SELECT connected_at = created_at FROM parking.lots WHERE lot_id = 'JZ-SY-003'")" \
	t "a registered lot is not connected before it was registered"
pf_assert_eq "$(pf_psql "SELECT abs(extract(epoch FROM connected_at - (now() - interval '168 hours'))) < 60
	FROM parking.lots WHERE lot_id = 'NEW-1'")" t "a new lot: no earlier than max_backlog_hours"
pf_assert_eq "$(pf_psql "SELECT connected_at = timestamptz 'epoch' + ($t - 10 * $H) * interval '1 microsecond'
	FROM parking.lots WHERE lot_id = 'NEW-2'")" t "a spool drained ten hours late keeps its time"
pf_assert_eq "$(pf_psql "SELECT string_agg(lot_id || ':' || (h.at = l.connected_at), ' ' ORDER BY lot_id)
	FROM parking.stage_history h JOIN parking.lots l USING (lot_id) WHERE h.stage = 'connected'
	  AND lot_id IN ('JZ-SY-003', 'NEW-1', 'NEW-2')")" "JZ-SY-003:true NEW-1:true NEW-2:true" \
	"stage history has the same times"
ctl limits set --max-backlog-hours 1 >/dev/null
occ NEW-3 "$t" "$t - 10 * $H" >/dev/null
pf_assert_eq "$(pf_psql "SELECT abs(extract(epoch FROM connected_at - (now() - interval '1 hour'))) < 60
	FROM parking.lots WHERE lot_id = 'NEW-3'")" t "max_backlog_hours is the operator's"
ctl limits set --max-backlog-hours 168 >/dev/null

# ---- status: times bounded, text cleaned ---------------------------------------------------
t=$(now_us)
daemon "SELECT parking.ingest_status(ARRAY['ST-1'], ARRAY[$Y9999]::bigint[], ARRAY[false],
	ARRAY[E'\\x1b]0;PWNED\\x07sys'], ARRAY[E'1.0\\u009b2J'], ARRAY['parkfeed/1'], ARRAY[true])" \
	>/dev/null 2>warn.txt
pf_assert_eq "$(pf_psql "SELECT (status_at <= now()) || '|' || system || '|' || version || '|' ||
	stage || '|' || (upgraded_at <= now()) FROM parking.lots WHERE lot_id = 'ST-1'")" \
	"true|?]0;PWNED?sys|1.0?2J|upgraded|true" "a year-9999 status is dated now, its text cleaned"
sleep 0.01
t=$(now_us)
daemon "SELECT parking.ingest_status(ARRAY['ST-1'], ARRAY[$t]::bigint[], ARRAY[true],
	ARRAY['later'], ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY[NULL]::boolean[])" >/dev/null
pf_assert_eq "$(pf_psql "SELECT online || '|' || system FROM parking.lots WHERE lot_id = 'ST-1'")" \
	"true|later" "the next honest status applies: the lot is not held offline"
daemon "SELECT parking.ingest_status(ARRAY['ST-OLD'], ARRAY[$t - 900 * 24 * $H]::bigint[],
	ARRAY[true], ARRAY['x'], ARRAY[NULL]::text[], ARRAY['parkfeed/1'], ARRAY[true])" >/dev/null
pf_assert_eq "$(pf_psql "SELECT abs(extract(epoch FROM upgraded_at - (now() - interval '168 hours'))) < 60
	FROM parking.lots WHERE lot_id = 'ST-OLD'")" t "an upgrade is not backdated past max_backlog_hours"

# ---- rejects: times bounded, text cleaned --------------------------------------------------
daemon "SELECT parking.ingest_rejected(ARRAY[$Y9999]::bigint[], ARRAY[E'parking/x\\x1b[2J/occupancy'],
	ARRAY['x'], ARRAY['json_syntax'], ARRAY[E'bad\\x07 \\u009b'], ARRAY['\\x7b'::bytea], ARRAY[1])" \
	>/dev/null 2>/dev/null
pf_assert_eq "$(pf_psql "SELECT (received_at <= now()) || '|' || topic || '|' || detail
	FROM parking.rejected WHERE reason = 'json_syntax'")" "true|parking/x?[2J/occupancy|bad? ?" \
	"a reject's time and text"

# ---- the functions behind the wrappers are not the ingest login's ---------------------------
for sql in "SELECT parking.store_occupancy(ARRAY['X'], ARRAY[$Y9999]::bigint[], ARRAY[0]::bigint[],
		ARRAY[1], ARRAY[1], ARRAY[0], ARRAY[NULL]::text[], ARRAY[NULL]::bigint[], ARRAY['native'])" \
	"SELECT parking.admit_status(ARRAY['X'], ARRAY[$Y9999]::bigint[], ARRAY[true], ARRAY['s'],
		ARRAY['v'], ARRAY['p'], ARRAY[true])" \
	"SELECT parking.apply_status(ARRAY['X'], ARRAY[$Y9999]::bigint[], ARRAY[true], ARRAY['s'],
		ARRAY['v'], ARRAY['p'], ARRAY[true])" \
	"SELECT parking.store_rejected(ARRAY[$Y9999]::bigint[], ARRAY['t'], ARRAY['x'], ARRAY['r'],
		ARRAY['d'], ARRAY['\\x00']::bytea[], ARRAY[1])" \
	"SELECT parking.connect_lots(ARRAY['X'], ARRAY[0]::bigint[])" \
	"SELECT parking.mark_connected(ARRAY['X'], ARRAY[0]::bigint[])" \
	"SELECT parking.set_ingest_bounds(100000, NULL, NULL, 'me')"; do
	if err=$(daemon "$sql" 2>&1); then pf_fail "the ingest login could: $sql"; fi
	[[ $err == *"permission denied"* ]] || pf_fail "$sql: $err"
done

# ---- opt-in limits through the daemon -------------------------------------------------------
pf_mqtt_start
pf_conf_write parkfeed.conf ingest.max_age=3600
pf_daemon_start parkfeed.conf
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20
ctl limits set --max-per-lot-minute 2 >/dev/null
m=$(( ($(date +%s) / 60 - 5) * 60 ))   # a whole minute, five minutes ago
for s in 1 2 3 4 5; do
	pf_pub parking/JZ-RATE-1/occupancy "{\"ts\": $(( (m + s) * 1000 )), \"total\": 10, \"free\": $s}"
done
pf_pub parking/JZ-RATE-1/occupancy "{\"ts\": $(( (m + 61) * 1000 )), \"total\": 10, \"free\": 9}"
pf_pub parking/JZ-OLD-1/occupancy "{\"ts\": $(( ($(date +%s) - 7200) * 1000 )), \"total\": 10, \"free\": 1}"
# (however the daemon batches them: each batch's refusals are one row per lot standing for all)
pf_wait_sql "SELECT refused_rate FROM parking.ingest_limits" 3 20 "three over the cap"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-RATE-1'" 3 20 \
	"two of the first minute and one of the next"
pf_wait_sql "SELECT count(*) FROM parking.rejected WHERE reason = 'too_old'" 1 20 "too_old"
stood=$(pf_psql "SELECT sum((substring(detail from '; (\\d+) observation\\(s\\) of this lot'))::int)
	FROM parking.rejected WHERE reason = 'rate_limited'")
stored_free=$(pf_psql "SELECT string_agg(free::text, ',' ORDER BY observed_at) FROM parking.occupancy
	WHERE lot_id = 'JZ-RATE-1'")
pf_assert_eq "$stored_free" "1,2,9" "the first two of the minute are kept"
pf_assert_eq "$stood" 3 "the rate_limited rows stand for the three refused"
pf_assert_eq "$(pf_psql "SELECT detail ~ '^\"ts\" \\S+Z is 720[0-9] s older than the receive time; at most 3600 s \\(max_age\\) is allowed$'
	FROM parking.rejected WHERE reason = 'too_old' AND lot_id = 'JZ-OLD-1'")" t "too_old with its detail"
pf_daemon_wait_log 'distrust: refused 0 observation\(s\) ahead of the clock and [0-9]+ over the per-lot rate' 10
# a redelivery stores nothing twice
pf_pub parking/JZ-RATE-1/occupancy "{\"ts\": $(( (m + 3) * 1000 )), \"total\": 10, \"free\": 3}"
pf_pub parking/JZ-RATE-1/occupancy "{\"ts\": $(( (m + 2) * 1000 )), \"total\": 10, \"free\": 2}"
pf_pub parking/JZ-RATE-1/occupancy "{\"ts\": $(( (m + 62) * 1000 )), \"total\": 10, \"free\": 8}"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-RATE-1'" 4 20 "the next minute"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-RATE-1'
	AND observed_at < to_timestamp($m + 60)")" 2 "still two in the first minute"
# off again: everything is stored
ctl limits set --max-per-lot-minute 0 >/dev/null
for s in 10 11 12; do
	pf_pub parking/JZ-RATE-1/occupancy "{\"ts\": $(( (m + s) * 1000 )), \"total\": 10, \"free\": 5}"
done
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-RATE-1'" 7 20 "no cap at 0"
pf_daemon_stop
pf_pass
