#!/usr/bin/env bash
# bench/api_bench.sh in its small form (--smoke: 500 lots, 2 s per phase) runs against the
# built programs and produces every figure. No timing is asserted: the machine is shared.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=${PF_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
export PF_SOURCE_DIR=$source_dir
export PF_BUILD_DIR=${PF_BUILD_DIR:-$source_dir/build}
name=integration/api_bench_smoke

fail() {
	printf 'FAIL: %s: %s\n' "$name" "$*" >&2
	exit 1
}
if ! command -v wrk >/dev/null; then
	echo "SKIP: $name: wrk not installed (scripts/deps.sh installs it)"
	echo "PASS: $name"
	exit 0
fi
out=$(mktemp -d "${PF_TMP_ROOT:-/tmp}/pf-api-bench-smoke.XXXXXXXX")
trap 'rm -rf -- "$out"' EXIT
rc=0
bash "$source_dir/bench/api_bench.sh" --smoke --out "$out" >"$out/stdout" 2>"$out/stderr" || rc=$?
(( rc == 0 )) || { tail -n 40 "$out/stderr" >&2; fail "bench/api_bench.sh --smoke exited with status $rc"; }
get() { awk -F= -v k="$1" '$1 == k { v = substr($0, length(k) + 2) } END { print v }' "$out/results.env"; }
num='^[0-9]+([.][0-9]+)?$'
for p in lots_200 lots_gzip lots_304 near_max near_rate static_big static_gz static_small; do
	for f in rps p50_ms p99_ms max_ms; do
		[[ $(get "${p}_$f") =~ $num ]] || fail "figure ${p}_$f missing or not a number: [$(get "${p}_$f")]"
	done
	[[ $(get "${p}_non2xx") == 0 ]] || fail "$p: $(get "${p}_non2xx") answers other than 200/304"
done
for k in api_rss_kib api_peak_rss_kib lots_bytes gz_bytes near_bytes; do
	[[ $(get "$k") =~ $num ]] || fail "figure $k missing: [$(get "$k")]"
done
cat "$out/stdout"
echo "PASS: $name"
