#!/usr/bin/env bash
# parkfeedd's command line: --version, --help, the usage errors (no -c, an extra argument, an
# unknown option: exit 2 with what to do), and -t on a valid file, a typo (FILE:LINE and the
# key meant) and a missing file (exit 1).
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
cd "$PF_TMP"

expect() { # EXIT_STATUS STREAM_FRAGMENT COMMAND...
	local want=$1 fragment=$2 out rc=0
	shift 2
	out=$("$@" 2>&1) || rc=$?
	pf_assert_eq "$rc" "$want" "exit status of $*"
	[[ $out == *"$fragment"* ]] || pf_fail "$*: no [$fragment] in: $out"
}

version=$(sed -n 's/^project(parkfeed VERSION \([0-9.]*\).*/\1/p' "$PF_SOURCE_DIR/CMakeLists.txt")
expect 0 "parkfeedd $version" "$PF_DAEMON" --version
expect 0 "Usage: parkfeedd -c FILE [-t]" "$PF_DAEMON" --help
expect 2 "parkfeedd: no configuration file: give -c FILE (e.g. -c /etc/parkfeed/parkfeed.conf)" \
	"$PF_DAEMON"
expect 2 "parkfeedd: unexpected argument extra (see --help)" "$PF_DAEMON" -c x.conf extra
expect 2 "unrecognized option '--frobnicate'" "$PF_DAEMON" --frobnicate

expect 0 "configuration $PF_SOURCE_DIR/config/parkfeed.conf is valid" \
	"$PF_DAEMON" -t -c "$PF_SOURCE_DIR/config/parkfeed.conf"
printf '[mqtt]\nhots = broker\n' >typo.conf
expect 1 "typo.conf:2: [mqtt] hots: unknown key (did you mean host?)" "$PF_DAEMON" -t -c typo.conf
expect 1 "parkfeedd: cannot read nothere.conf: No such file or directory (check -c PATH)" "$PF_DAEMON" -t -c nothere.conf
pf_pass
