#!/usr/bin/env bash
# bench/ingest_bench.sh: server-side cost of parking.ingest_occupancy per batch, on generated
# batches (--lots lots reporting in turn, as parkfeed-sim --seq sends them), in a throwaway
# PostgreSQL; with --variant FILE (SQL that creates parking.ingest_occupancy with the same
# signature; may be given more than once) each variant is timed against the schema's function
# on the same batches; with --copy the COPY paths are timed too, as the daemon's role would run
# them (see bench/variants/copy_partition.sql and copy_staging.sql).
#
#   bench/ingest_bench.sh [--rows N] [--batch N] [--lots N] [--rounds N] [--variant FILE]...
#                         [--copy] [--copy-format binary|text] [--unmarked]
#
# Each round loads N rows into empty tables with each version in turn; the batches are sent as
# SQL text literals, so the server parses the arrays as it does the daemon's parameters.
# Reported per version, best and median of the rounds: wall time per batch and per row, and the
# CPU time of the backend (utime + stime from /proc, less disturbed by other load than wall
# time; 10 ms ticks over the whole run). After each run the stored occupancy and lot_state are
# checksummed: every version must store what the schema's function stores.
#
# With --unmarked the schema's function is also timed with the rollup trigger
# (occupancy_rollup_mark, schema/007) disabled on parking.occupancy and its partitions: the
# difference is what recording the lot-hours for the rollups costs the ingest path.
#
# COPY modes (--copy), each batch in its own transaction, as role pf_daemon (parkfeed_ingest):
#   copy_partition  COPY parking.occupancy_pYYYYMM FROM STDIN (GRANT INSERT on the partitions to
#                   parkfeed_ingest is added for this), then parking.ingest_latest() with the
#                   newest row of each lot (as the daemon would compute it)
#   copy_staging    COPY pg_temp.occupancy_staging FROM STDIN, then parking.ingest_staged()
set -euo pipefail

rows=200000
batch=5000
lots=500
rounds=2
copy=0
unmarked=0
copy_format=binary
variants=()
while (( $# )); do
	case $1 in
	--rows) rows=$2; shift ;;
	--batch) batch=$2; shift ;;
	--lots) lots=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--variant) variants+=("$(realpath "$2")"); shift ;;
	--copy) copy=1 ;;
	--unmarked) unmarked=1 ;;
	--copy-format) copy_format=$2; shift ;;
	-h | --help) sed -n '2,32p' "$0"; exit 0 ;;
	*) echo "ingest_bench.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[[ $copy_format == binary || $copy_format == text ]] || { echo "--copy-format binary|text" >&2; exit 2; }
(( rows % batch == 0 )) || { echo "ingest_bench.sh: --rows must be a multiple of --batch" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PF_SOURCE_DIR=${PF_SOURCE_DIR:-$(cd "$here/.." && pwd)}
export PF_SOURCE_DIR
export PF_TEST_NAME=ingest_bench
# shellcheck source-path=SCRIPTDIR/.. source=tests/lib/env.sh
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate

sig='(text[], bigint[], bigint[], integer[], integer[], integer[], text[], bigint[], text[])'
versions=(ingest_occupancy)
if (( ${#variants[@]} )); then
	# The schema's function, kept under another name for the comparison.
	pf_psql "ALTER FUNCTION parking.ingest_occupancy$sig RENAME TO ingest_occupancy_current" >/dev/null
	versions=(ingest_occupancy_current)
	for v in "${variants[@]}"; do
		name=$(basename "$v" .sql)
		name=${name//[!A-Za-z0-9_]/_}
		pf_psql <"$v" >/dev/null
		pf_psql "ALTER FUNCTION parking.ingest_occupancy$sig RENAME TO ingest_occupancy__$name" >/dev/null
		versions+=("ingest_occupancy__$name")
	done
fi

base_us=$(( ($(date +%s) - 3 * 86400) * 1000000 ))
now_us=$(( $(date +%s) * 1000000 ))
nbatch=$(( rows / batch ))
batches=$PF_TMP/batches.sql
# Row i: lot i % lots (JZ-<district>-<nnn>, one name per lot), observed k = i / lots seconds
# after the base, received i microseconds after now.
gen_rows="SELECT i, i / $lots AS k,
	     'JZ-' || (ARRAY['QY','MZ','WX','BA','WZ','XW','JF','SY','MC','ZZ','GX'])[i % $lots % 11 + 1]
	     || '-' || lpad((i % $lots)::text, 3, '0') AS lot
      FROM generate_series(0, $rows - 1) AS i"
pf_psql >"$batches" <<-SQL
	SELECT format('SELECT parking.FN(%L, %L, %L, %L, %L, %L, %L, %L, %L);',
	              array_agg(lot ORDER BY i), array_agg($base_us + k * 1000000 ORDER BY i),
	              array_agg($now_us + i ORDER BY i), array_agg(300 ORDER BY i),
	              array_agg(k % 300 ORDER BY i), array_agg(300 - k % 300 ORDER BY i),
	              array_agg('open'::text ORDER BY i), array_agg(k ORDER BY i),
	              array_agg('native'::text ORDER BY i))
	FROM ($gen_rows) s
	GROUP BY i / $batch ORDER BY i / $batch
SQL

if (( copy )); then
	pf_psql <"$PF_SOURCE_DIR/bench/variants/copy_partition.sql" >/dev/null
	pf_psql <"$PF_SOURCE_DIR/bench/variants/copy_staging.sql" >/dev/null
	pf_psql "DO \$\$ DECLARE r record; BEGIN
		FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			 WHERE i.inhparent = 'parking.occupancy'::regclass LOOP
			EXECUTE format('GRANT INSERT ON parking.%I TO parkfeed_ingest', r.relname);
		END LOOP; END \$\$" >/dev/null
	# The batches as COPY data, the newest row per lot as ingest_latest calls, and each batch's
	# partition; taken from a load by the schema's function.
	mkdir -p "$PF_TMP/copy"
	sed "s/parking\.FN(/parking.${versions[0]}(/" "$batches" | pf_psql >/dev/null
	pf_psql "CREATE TABLE public.bench_rows AS
		SELECT o.*, o.tableoid::regclass::text AS part,
		       (extract(epoch FROM o.received_at) * 1000000)::bigint - $now_us AS i
		FROM parking.occupancy o" >/dev/null
	pf_psql "SELECT count(DISTINCT part) FROM public.bench_rows GROUP BY i / $batch
		 HAVING count(DISTINCT part) > 1" | grep -q . &&
		pf_fail "a batch spans two partitions (month boundary): run again later"
	copy_sql=$PF_TMP/copy/partition.sql
	staging_sql=$PF_TMP/copy/staging.sql
	: >"$copy_sql"
	echo "SELECT parking.ingest_staging_open();" >"$staging_sql"
	for (( b = 0; b < nbatch; b++ )); do
		f=$PF_TMP/copy/b$b
		pf_psql "\\copy (SELECT lot_id, observed_at, received_at, total, free, occupied, status, seq, format FROM public.bench_rows WHERE i / $batch = $b ORDER BY i) TO '$f' WITH (FORMAT $copy_format)"
		part=$(pf_psql "SELECT min(part) FROM public.bench_rows WHERE i / $batch = $b")
		latest=$(pf_psql "SELECT format('SELECT parking.ingest_latest(%L, %L, %L, %L, %L, %L, %L, %L, %L, %L);',
			array_agg(lot_id), array_agg(obs), array_agg(rec), array_agg(total), array_agg(free),
			array_agg(occupied), array_agg(status), array_agg(seq), array_agg(format), array_agg(first_rec))
			FROM (SELECT DISTINCT ON (lot_id) lot_id, (extract(epoch FROM observed_at) * 1000000)::bigint AS obs,
			             (extract(epoch FROM received_at) * 1000000)::bigint AS rec, total, free, occupied,
			             status, seq, format,
			             (extract(epoch FROM min(received_at) OVER (PARTITION BY lot_id)) * 1000000)::bigint AS first_rec
			      FROM public.bench_rows WHERE i / $batch = $b
			      ORDER BY lot_id, observed_at DESC, received_at DESC) n")
		printf 'BEGIN;\n\\copy %s FROM %s WITH (FORMAT %s)\n%s\nCOMMIT;\n' \
			"$part" "'$f'" "$copy_format" "$latest" >>"$copy_sql"
		printf 'BEGIN;\n\\copy pg_temp.occupancy_staging FROM %s WITH (FORMAT %s)\nSELECT parking.ingest_staged();\nCOMMIT;\n' \
			"'$f'" "$copy_format" >>"$staging_sql"
	done
	pf_psql "DROP TABLE public.bench_rows" >/dev/null
	versions+=(copy_partition copy_staging)
fi

(( unmarked )) && versions+=("${versions[0]}@unmarked")

# marks ENABLE|DISABLE: the rollup trigger on parking.occupancy and every partition.
marks() {
	pf_psql "DO \$\$ DECLARE r regclass; BEGIN
		FOR r IN SELECT tgrelid::regclass FROM pg_trigger WHERE tgname = 'occupancy_rollup_mark' LOOP
			EXECUTE format('ALTER TABLE %s $1 TRIGGER occupancy_rollup_mark', r);
		END LOOP; END \$\$" >/dev/null
}

declare -A wall cpu sums
tck=$(getconf CLK_TCK)
run() {
	local v=$1 t0 t1 conninfo=$PF_PG_SUPER_CONNINFO
	[[ $v == copy_* ]] && conninfo=$PF_DAEMON_CONNINFO
	pf_psql "TRUNCATE parking.occupancy, parking.lots, parking.rollup_pending CASCADE" >/dev/null 2>&1
	if [[ $v == *@unmarked ]]; then marks DISABLE; fi
	pf_psql "CHECKPOINT" >/dev/null
	rm -f "$PF_TMP/cpu"
	t0=${EPOCHREALTIME//[!0-9]/}
	{
		echo 'SELECT pg_backend_pid() AS bp \gset'
		echo '\setenv BP :bp'
		echo "\\! awk '{print \$14 + \$15}' /proc/\$BP/stat >>'$PF_TMP/cpu'"
		case $v in
		copy_partition) cat "$PF_TMP/copy/partition.sql" ;;
		copy_staging) cat "$PF_TMP/copy/staging.sql" ;;
		*) sed "s/parking\.FN(/parking.${v%@*}(/" "$batches" ;;
		esac
		echo "\\! awk '{print \$14 + \$15}' /proc/\$BP/stat >>'$PF_TMP/cpu'"
		echo "SELECT current_user \\g '$PF_TMP/user'"
	} | pf_psql_as "$conninfo" >/dev/null
	t1=${EPOCHREALTIME//[!0-9]/}
	if [[ $v == *@unmarked ]]; then marks ENABLE; fi
	[[ $v != copy_* || $(<"$PF_TMP/user") == pf_daemon ]] || pf_fail "$v did not run as pf_daemon"
	wall[$v]+="$(( 10#$t1 - 10#$t0 )) "
	cpu[$v]+="$(awk -v t="$tck" 'NR == 1 { a = $1 } NR == 2 { printf "%d", ($1 - a) * 1000000 / t }' "$PF_TMP/cpu") "
	[[ $(pf_psql "SELECT count(*) FROM parking.occupancy") == "$rows" ]] ||
		pf_fail "$v did not store $rows rows"
	sums[$v]=$(pf_psql "SELECT md5(string_agg(o::text, ',' ORDER BY o.lot_id, o.observed_at)) FROM parking.occupancy o")/$(
		pf_psql "SELECT md5(string_agg(s::text, ',' ORDER BY s.lot_id)) FROM parking.lot_state s")/$(
		pf_psql "SELECT md5(string_agg(concat_ws('|', l.lot_id, l.registered, l.stage, l.stage_at, l.connected_at), ',' ORDER BY l.lot_id)) FROM parking.lots l")
}

# best and median of a list of microsecond figures: "best median"
stats() {
	tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[1], a[int((NR + 1) / 2)] }'
}

printf 'load average %s; %d rows in batches of %d, %d lots, %d rounds\n' \
	"$(cut -d' ' -f1-3 /proc/loadavg)" "$rows" "$batch" "$lots" "$rounds"
for (( r = 1; r <= rounds; r++ )); do
	for v in "${versions[@]}"; do
		run "$v"
	done
done
printf 'load average %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %26s %26s  %s\n' version 'wall ms/batch (us/row)' 'backend CPU ms/batch (us/row)' 'same result'
for v in "${versions[@]}"; do
	read -r wb wm <<<"$(stats "${wall[$v]}")"
	read -r cb cm <<<"$(stats "${cpu[$v]}")"
	same=yes
	[[ ${sums[$v]} == "${sums[${versions[0]}]}" ]] || same=NO
	awk -v v="$v" -v wb="$wb" -v wm="$wm" -v cb="$cb" -v cm="$cm" -v n="$nbatch" -v rows="$rows" -v s="$same" 'BEGIN {
		printf "%-34s best %6.1f (%5.2f) med %6.1f  best %6.1f (%5.2f) med %6.1f  %s\n",
		       v, wb / 1e3 / n, wb / rows, wm / 1e3 / n, cb / 1e3 / n, cb / rows, cm / 1e3 / n, s }'
done
