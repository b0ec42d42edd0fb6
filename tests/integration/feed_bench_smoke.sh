#!/usr/bin/env bash
# bench/feed_latency.sh and bench/shared_drain.sh in a small form run against the built
# programs and fill every figure of their reports. No timing is asserted: the machine is shared.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=${PF_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
export PF_SOURCE_DIR=$source_dir
export PF_BUILD_DIR=${PF_BUILD_DIR:-$source_dir/build}
name=integration/feed_bench_smoke

fail() {
	printf 'FAIL: %s: %s\n' "$name" "$*" >&2
	exit 1
}
out=$(mktemp -d "${PF_TMP_ROOT:-/tmp}/pf-feed-bench-smoke.XXXXXXXX")
trap 'rm -rf -- "$out"' EXIT
num='[0-9]+([.][0-9]+)?'

rc=0
bash "$source_dir/bench/feed_latency.sh" --lots 60 --rates 30,120 --seconds 2 --out "$out/lat" \
	>"$out/lat.stdout" 2>"$out/lat.stderr" || rc=$?
(( rc == 0 )) || { tail -n 40 "$out/lat.stderr" >&2; fail "bench/feed_latency.sh exited with status $rc"; }
for rate in 30 120; do
	grep -Eq "^\| $rate msg/s \| [1-9][0-9]* \| $num \| $num \| \*\*$num\*\* \| $num \| $num, $num \| [0-9]+% \|" \
		"$out/lat/report.md" || fail "no figures for $rate msg/s: $(cat "$out/lat/report.md")"
done

rc=0
bash "$source_dir/bench/shared_drain.sh" --messages 3000 --lots 50 --groups 1,2 --rounds 1 \
	--out "$out/drain" >"$out/drain.stdout" 2>"$out/drain.stderr" || rc=$?
(( rc == 0 )) || { tail -n 40 "$out/drain.stderr" >&2; fail "bench/shared_drain.sh exited with status $rc"; }
for k in 1 2; do
	grep -Eq "^\| $k \| [0-9]+ \| $num \| [0-9]+ \| $num \|" "$out/drain/report.md" ||
		fail "no figures for $k daemons: $(cat "$out/drain/report.md")"
done
echo "PASS: $name"
