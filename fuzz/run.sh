#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for SECONDS: fuzz/run.sh SECONDS [TARGET...]
#
# Targets: normalize topic config csv spool query (default: all, one after the other). Builds into
# $PF_FUZZ_BUILD_DIR (default /tmp/parkfeed-fuzz-$UID); the corpus grown there starts from the
# seeds in fuzz/corpus/<target>/, which are only read. A crash, leak or broken invariant leaves
# its input in $PF_FUZZ_BUILD_DIR/artifacts/ and makes the exit status 1; turn it into a unit
# test of the module it found (tests/unit/test_<module>.c). Prints one summary line per target (executions, coverage).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
secs=${1:-}
[[ $secs =~ ^[0-9]+$ && $secs -gt 0 ]] || { echo "usage: fuzz/run.sh SECONDS [TARGET...]" >&2; exit 2; }
shift
targets=("$@")
(( ${#targets[@]} )) || targets=(normalize topic config csv spool query)

cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (Debian: apt-get install clang)" >&2; exit 2; }
build=${PF_FUZZ_BUILD_DIR:-${TMPDIR:-/tmp}/parkfeed-fuzz-$UID}
mkdir -p "$build/artifacts"

CC=$cc cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/cmake.log" 2>&1 ||
	{ cat "$build/cmake.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1 ||
	{ tail -n 40 "$build/build.log" >&2; exit 1; }

# Inputs large enough for every limit the code enforces, small enough to stay fast.
declare -A max_len=([normalize]=8192 [topic]=600 [config]=4096 [csv]=8192 [spool]=8192
	[query]=4200)

rc=0
for t in "${targets[@]}"; do
	[[ -n ${max_len[$t]:-} ]] || { echo "fuzz: unknown target '$t'" >&2; exit 2; }
	corpus=$build/corpus/$t
	log=$build/fuzz_$t.log
	mkdir -p "$corpus"
	st=0
	(cd "$build" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"./fuzz_$t" -max_total_time="$secs" -max_len="${max_len[$t]}" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
		"$corpus" "$here/corpus/$t") >"$log" 2>&1 || st=$?
	runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
	if (( st != 0 )); then
		rc=1
		printf 'fuzz_%-10s FAILED after %s executions (%s); see %s\n' "$t" "$runs" "$cov" "$log"
		grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" | head -n 8 | sed 's/^/    /'
	else
		printf 'fuzz_%-10s ok: %s executions in %ss, %s, corpus %s files\n' "$t" "$runs" \
			"$secs" "$cov" "$(find "$corpus" -type f | wc -l)"
	fi
done
exit "$rc"
