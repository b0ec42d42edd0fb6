#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for 10 s from the seed corpora (fuzz/run.sh);
# a crash, leak or broken invariant fails the test. Skipped where clang cannot link a fuzzer.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
cd "$PF_TMP"

cc=${CC_FUZZ:-clang}
if ! command -v "$cc" >/dev/null; then
	pf_skip "$cc not installed (scripts/deps.sh installs clang)"
fi
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' >probe.c
if ! "$cc" -fsanitize=fuzzer,address,undefined probe.c -o probe >probe.log 2>&1; then
	pf_skip "$cc cannot link libFuzzer: $(head -n 1 probe.log) (Debian: libclang-rt-14-dev)"
fi

rc=0
CC=$cc PF_FUZZ_BUILD_DIR=$PF_TMP/fuzz-build "$PF_SOURCE_DIR/fuzz/run.sh" "${PF_FUZZ_SECONDS:-10}" \
	>run.out 2>&1 || rc=$?
cat run.out
if (( rc != 0 )); then
	for f in "$PF_TMP"/fuzz-build/artifacts/*; do
		[[ -f $f ]] && printf 'artifact %s: %s\n' "$f" "$(head -c 200 "$f" | od -An -c | head -n 4)"
	done
	pf_fail "fuzz/run.sh failed (artifacts and logs in $PF_TMP/fuzz-build)"
fi
pf_assert_eq "$(grep -c ' ok: ' run.out)" 6 "targets that ran"
pf_pass
