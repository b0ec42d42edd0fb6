#!/usr/bin/env bash
# The whole test run, as CI does it: the formatting check; unit and integration tests in a
# warning-free build; again under AddressSanitizer + UndefinedBehaviorSanitizer; the daemon's
# ingest test under valgrind; the unit tests and the daemon's threaded paths under
# ThreadSanitizer.
#
#   ./scripts/test.sh            install missing packages, run every stage
#   ./scripts/test.sh --quick    only the formatting check and the first build and test run
#   ./scripts/test.sh --no-deps  do not run scripts/deps.sh
#   ./scripts/test.sh --jobs N   run N tests at a time (default: the number of CPUs; every
#                                test has its own servers on its own ports)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
deps=1
jobs=${PF_CTEST_JOBS:-$(nproc)}
while (( $# )); do
	case $1 in
	--quick) quick=1 ;;
	--no-deps) deps=0 ;;
	--jobs|-j) jobs=${2:?--jobs needs a number}; shift ;;
	-h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "test.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done

(( deps )) && ./scripts/deps.sh

summary=()
total_passed=0
total_failed=0
total_skipped=0
failed=0

banner() {
	printf '\n==== %s ====\n' "$*"
}

# record STAGE STATUS DETAIL
record() {
	summary+=("$(printf '%-36s %-8s %s' "$1" "$2" "$3")")
	[[ $2 == ok || $2 == skipped ]] || failed=1
}

# build STAGE DIR cmake-args...: configure and build; 0 on success.
build() {
	local stage=$1 dir=$2 t0=$SECONDS
	shift 2
	banner "$stage: configure and build $dir/"
	if cmake -S . -B "$dir" "$@" && cmake --build "$dir" -j2; then
		return 0
	fi
	record "$stage: build" FAILED "$dir/ ($(( SECONDS - t0 )) s)"
	return 1
}

# run_ctest STAGE DIR ctest-args...: run CTest in DIR, add its counts to the totals.
run_ctest() {
	local stage=$1 dir=$2 log rc line n nfail nskip t0=$SECONDS
	shift 2
	log=$dir/ctest-last.log
	banner "$stage: ctest in $dir/"
	set +e
	(cd "$dir" && ctest --output-on-failure --no-tests=error -j "$jobs" "$@") 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
	# CTest counts a skipped test (exit status 77) among the passed ones: count it apart.
	nskip=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$log" || true)
	if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
		nfail=${BASH_REMATCH[1]}
		n=${BASH_REMATCH[2]}
		total_passed=$(( total_passed + n - nfail - nskip ))
		total_failed=$(( total_failed + nfail ))
		total_skipped=$(( total_skipped + nskip ))
		(( nskip == 0 )) || line="$line, $nskip skipped"
	else
		line="no test summary from ctest"
		total_failed=$(( total_failed + 1 ))
	fi
	if (( rc == 0 )); then
		record "$stage: ctest" ok "$line ($(( SECONDS - t0 )) s)"
	else
		record "$stage: ctest" FAILED "$line ($(( SECONDS - t0 )) s)"
	fi
}

start=$SECONDS

# 0. Formatting: every C file as clang-format (.clang-format) leaves it.
banner "0 format: clang-format --dry-run"
mapfile -t c_files < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -path ./build\* -prune -o -name '*.[ch]' -print)
if clang-format --dry-run --Werror "${c_files[@]}" >format.log 2>&1; then
	record "0 format" ok "${#c_files[@]} files"
else
	grep -E '^[^ ]+:[0-9]+:[0-9]+: error' format.log | sed 's/: error.*//' | sort -u | head -n 20
	record "0 format" FAILED "$(grep -cE ': error' format.log) places (clang-format -i FILE mends them)"
fi
rm -f format.log

# On CI (CI=true, a throwaway machine) the first stage's package test also installs and
# removes the .deb it builds (tests/integration/package.sh); elsewhere it only builds it.
pkg_install=${PF_PACKAGE_INSTALL:-0}
[[ ${CI:-} == true ]] && pkg_install=${PF_PACKAGE_INSTALL:-1}

# 1. Warnings are errors; every test.
if build "1 plain" build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPF_WERROR=ON -DPF_SANITIZE=OFF; then
	PF_PACKAGE_INSTALL=$pkg_install run_ctest "1 plain" build
	build_ok=1
else
	build_ok=0
fi

if (( ! quick && build_ok )); then
	# 2. The same suite with the sanitizers. verify_asan_link_order=0 lets tests LD_PRELOAD
	#    libfaketime into sanitized programs. Left out: the fuzz smoke run (it builds its own
	#    sanitized clang binaries), the package test and the benchmark smoke runs (neither
	#    tests anything the first stage did not), and the hardening check (it reads the
	#    flags of a release build off the binaries; a sanitizer build has others).
	if build "2 asan+ubsan" build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPF_WERROR=ON -DPF_SANITIZE=ON; then
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_ctest "2 asan+ubsan" build-asan -E '^integration/(fuzz_smoke|package|bench_smoke|api_bench_smoke|hardening)$'
	fi

	# 3. The daemon under valgrind (tests/lib/env.sh wraps it when PF_VALGRIND=1).
	if [[ -f tests/integration/ingest.sh ]]; then
		PF_VALGRIND=1 run_ctest "3 valgrind" build -R '^integration/ingest$'
	else
		record "3 valgrind: ctest" skipped "tests/integration/ingest.sh does not exist"
	fi

	# 4. ThreadSanitizer on what runs on more than one thread: the unit tests (the writer's
	#    spool jobs on libuv's thread pool) and the daemon's spool jobs, metrics thread and
	#    reconnects (the other integration tests add nothing here that stage 1 did not see).
	if build "4 tsan" build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPF_WERROR=ON -DPF_TSAN=ON; then
		TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
			run_ctest "4 tsan" build-tsan \
			-R '^(unit/.*|integration/(ingest|metrics|durability_kill|writer_storm|systemd_notify))$'
	fi
elif (( quick )); then
	record "2 asan+ubsan, 3 valgrind, 4 tsan" skipped "--quick"
fi

banner "summary ($(( SECONDS - start )) s)"
printf '%s\n' "${summary[@]}"
if (( failed )); then
	echo "RESULT: FAILED"
else
	echo "RESULT: all stages passed"
fi
echo "tests: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$failed"
