#!/usr/bin/env bash
# bench/maintain_bench.sh: what `parkfeedctl maintain` costs when it runs every ten minutes,
# in a throwaway PostgreSQL: N lots report every 30 s through parking.ingest_occupancy; after
# an hour of data, each round adds ten minutes of data and runs maintain. Reported per round:
# the whole run (wall time of parkfeedctl) and its steps (the same SQL calls, timed by psql),
# and how long rollup_claim holds writers back; then a run with nothing to do.
#
#   bench/maintain_bench.sh [--lots N] [--rounds N]
set -euo pipefail

lots=2000
rounds=3
while (( $# )); do
	case $1 in
	--lots) lots=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	-h | --help) sed -n '2,9p' "$0"; exit 0 ;;
	*) echo "maintain_bench.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PF_SOURCE_DIR=${PF_SOURCE_DIR:-$(cd "$here/.." && pwd)}
export PF_SOURCE_DIR
export PF_TEST_NAME=maintain_bench
# shellcheck source-path=SCRIPTDIR/.. source=tests/lib/env.sh
source "$PF_SOURCE_DIR/tests/lib/env.sh"
# shellcheck source-path=SCRIPTDIR/.. source=tests/lib/lifecycle.sh
source "$PF_SOURCE_DIR/tests/lib/lifecycle.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_lc_feed_setup
names=$(pf_psql "SELECT string_agg('JZ-B-' || lpad(i::text, 5, '0'), ' ') FROM generate_series(1, $lots) i")
{   # registered, so that the caps on lots registered from the feed do not apply
	echo "lot_id,name,district,spaces,deadline"
	i=0
	for n in $names; do
		echo "$n,lot $n,district $(( i++ % 11 )),300,2030-01-01"
	done
} >"$PF_TMP/lots.csv"
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import "$PF_TMP/lots.csv" >/dev/null || pf_fail "lots import"

# The clock of the data: it starts 70 + 10 * rounds minutes ago, on a ten-minute boundary.
t=$(pf_psql "SELECT date_bin('10 minutes', now() - interval '$(( 70 + 10 * rounds )) minutes', timestamptz 'epoch')")
feed() {   # feed MINUTES: that many minutes of data from $t on
	local to
	to=$(pf_psql "SELECT timestamptz '$t' + interval '$1 minutes'")
	pf_lc_feed "$names" "$t" "$to" '30 seconds' '0' >/dev/null
	t=$to
}
# step SQL: milliseconds psql reports for it, as superuser
step_ms() {
	printf '\\timing on\n%s;\n' "$1" | pf_psql_as "$PF_PG_SUPER_CONNINFO" |
		sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | tail -n 1
}
run_maintain() {   # wall milliseconds of parkfeedctl maintain
	local t0 t1
	t0=${EPOCHREALTIME//[!0-9]/}
	"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" maintain >"$PF_TMP/maintain.out" || pf_fail "maintain failed"
	t1=${EPOCHREALTIME//[!0-9]/}
	echo $(( (10#$t1 - 10#$t0) / 1000 ))
}

printf 'load average %s; %d lots every 30 s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$lots"
feed 60
printf 'first run after an hour of data (%d rows): %s ms\n' $(( lots * 120 )) "$(run_maintain)"
for (( r = 1; r <= rounds; r++ )); do
	feed 10
	claim=$(step_ms "SELECT parking.rollup_claim()")
	refresh=$(step_ms "SELECT * FROM parking.rollup_refresh(20000)")
	fill=$(step_ms "SELECT parking.rollup_fill_days()")
	rest=$(run_maintain)
	printf 'round %d: 10 minutes of data (%d rows): claim %s ms (writers wait at most this), recompute %s ms, days %s ms; the rest of maintain %s ms\n' \
		"$r" $(( lots * 20 )) "$claim" "$refresh" "$fill" "$rest"
done
printf 'a run with nothing to do: %s ms\n' "$(run_maintain)"
printf 'rollup tables: %s\n' "$(pf_psql "SELECT pg_size_pretty(pg_total_relation_size('parking.occupancy_hourly_sums')
	+ pg_total_relation_size('parking.occupancy_daily') + pg_total_relation_size('parking.district_daily'))")"
printf 'load average %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
