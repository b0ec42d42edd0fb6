#!/usr/bin/env bash
# The benchmark in its small form (bench/run.sh --smoke) runs against the built programs and
# produces every figure. No timing is asserted: the machine running the tests is shared.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=${PF_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
export PF_SOURCE_DIR=$source_dir
export PF_BUILD_DIR=${PF_BUILD_DIR:-$source_dir/build}
name=integration/bench_smoke

out=$(mktemp -d "${PF_TMP_ROOT:-/tmp}/pf-bench-smoke.XXXXXXXX")
trap 'rm -rf -- "$out"' EXIT

fail() {
	printf 'FAIL: %s: %s\n' "$name" "$*" >&2
	exit 1
}

start=$SECONDS
rc=0
bash "$source_dir/bench/run.sh" --smoke --out "$out" >"$out/stdout" 2>"$out/stderr" || rc=$?
if (( rc != 0 )); then
	tail -n 40 "$out/stderr" >&2
	fail "bench/run.sh --smoke exited with status $rc"
fi
elapsed=$(( SECONDS - start ))

[[ -s $out/results.env ]] || fail "no results.env"
get() {
	awk -F= -v k="$1" '$1 == k { v = substr($0, length(k) + 2) } END { print v }' "$out/results.env"
}
num='^[0-9]+([.][0-9]+)?$'
for key in broker_rate copy_rate drain_seconds drain_rate drain_ratio drain_peak_rss_kib \
	drain_cpu_seconds \
	live_2000_p50_ms live_2000_p99_ms live_2000_max_ms live_2000_backlog_end live_2000_cpu_pct \
	live_20000_p50_ms live_20000_p99_ms live_20000_max_ms live_20000_backlog_end \
	live_20000_cpu_pct idle_rss_kib idle_cpu_pct; do
	v=$(get "$key")
	[[ $v =~ $num ]] || fail "figure $key missing or not a number: [$v]"
done
for key in live_2000_bounded live_20000_bounded; do
	v=$(get "$key")
	[[ $v == yes || $v == no ]] || fail "figure $key is [$v], expected yes or no"
done
(( $(get live_2000_rows) > 0 )) || fail "no latency samples at 2000 msg/s"
grep -q '^| drain of 20000 messages |' "$out/stdout" || fail "no results table on stdout"
grep -q '^| idle: CPU |' "$out/stdout" || fail "results table lacks the idle rows"
printf '%s: smoke benchmark took %d s\n' "$name" "$elapsed" >&2
printf 'PASS: %s\n' "$name"
