#!/usr/bin/env bash
# bench/ingest_bench.sh: server-side cost of parking.ingest_occupancy per batch, on generated
# batches (500 lots reporting in turn, as parkfeed-sim --seq sends them), in a throwaway
# PostgreSQL; with --variant FILE (SQL that creates parking.ingest_occupancy with the same
# signature) the variant is timed against the schema's function on the same batches.
#
#   bench/ingest_bench.sh [--rows N] [--batch N] [--rounds N] [--variant FILE]
#
# Each round loads N rows into empty tables with each version in turn; the batches are sent as
# SQL text literals, so the server parses the arrays as it does the daemon's parameters.
set -euo pipefail

rows=200000
batch=5000
rounds=2
variant=
while (( $# )); do
	case $1 in
	--rows) rows=$2; shift ;;
	--batch) batch=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--variant) variant=$(realpath "$2"); shift ;;
	-h | --help) sed -n '2,9p' "$0"; exit 0 ;;
	*) echo "ingest_bench.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PF_SOURCE_DIR=${PF_SOURCE_DIR:-$(cd "$here/.." && pwd)}
export PF_SOURCE_DIR
export PF_TEST_NAME=ingest_bench
# shellcheck source-path=SCRIPTDIR/.. source=tests/lib/env.sh
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate

versions=(ingest_occupancy)
if [[ -n $variant ]]; then
	# The schema's function, kept under another name for the comparison.
	pf_psql "ALTER FUNCTION parking.ingest_occupancy(text[], bigint[], bigint[], integer[],
		integer[], integer[], text[], bigint[], text[]) RENAME TO ingest_occupancy_current" \
		>/dev/null
	pf_psql <"$variant" >/dev/null
	pf_psql "ALTER FUNCTION parking.ingest_occupancy(text[], bigint[], bigint[], integer[],
		integer[], integer[], text[], bigint[], text[]) RENAME TO ingest_occupancy_variant" \
		>/dev/null
	versions=(ingest_occupancy_current ingest_occupancy_variant)
fi

base_us=$(( ($(date +%s) - 3 * 86400) * 1000000 ))
now_us=$(( $(date +%s) * 1000000 ))
batches=$PF_TMP/batches.sql
pf_psql >"$batches" <<-SQL
	SELECT format('SELECT parking.FN(%L, %L, %L, %L, %L, %L, %L, %L, %L);',
	              array_agg(lot ORDER BY i), array_agg($base_us + k * 1000000 ORDER BY i),
	              array_agg($now_us + i ORDER BY i), array_agg(300 ORDER BY i),
	              array_agg(k % 300 ORDER BY i), array_agg(300 - k % 300 ORDER BY i),
	              array_agg('open'::text ORDER BY i), array_agg(k ORDER BY i),
	              array_agg('native'::text ORDER BY i))
	FROM (SELECT i, i / 500 AS k,
	             'JZ-' || (ARRAY['QY','MZ','WX','BA','WZ','XW','JF','SY','MC','ZZ','GX'])[i % 11 + 1]
	             || '-' || lpad((i % 500)::text, 3, '0') AS lot
	      FROM generate_series(0, $rows - 1) AS i) s
	GROUP BY i / $batch ORDER BY i / $batch
SQL

run() {
	local fn=$1 t0 t1
	pf_psql "TRUNCATE parking.occupancy, parking.lots CASCADE" >/dev/null
	pf_psql "CHECKPOINT" >/dev/null
	t0=${EPOCHREALTIME//[!0-9]/}
	sed "s/parking\.FN(/parking.$fn(/" "$batches" | pf_psql >/dev/null
	t1=${EPOCHREALTIME//[!0-9]/}
	awk -v f="$fn" -v us=$(( 10#$t1 - 10#$t0 )) -v n="$rows" -v b="$batch" 'BEGIN {
		printf "%-26s %8.2f s  %7.0f rows/s  %6.2f ms per %d-row batch\n",
		       f, us / 1e6, n / (us / 1e6), us / 1e3 / (n / b), b }'
	[[ $(pf_psql "SELECT count(*) FROM parking.occupancy") == "$rows" ]] ||
		pf_fail "$fn did not store $rows rows"
}

printf 'load average %s; %d rows in batches of %d\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$rows" "$batch"
for (( r = 1; r <= rounds; r++ )); do
	for fn in "${versions[@]}"; do
		run "$fn"
	done
done
printf 'load average %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
