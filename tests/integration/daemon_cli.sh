#!/usr/bin/env bash
# parkfeedd's command line: --version, --help, the usage errors (no -c, an extra argument, an
# unknown option: exit 2 with what to do), and -t on a valid file, a typo (FILE:LINE and the
# key meant) and a missing file (exit 1).
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
cd "$PF_TMP"

version=$(sed -n 's/^project(parkfeed VERSION \([0-9.]*\).*/\1/p' "$PF_SOURCE_DIR/CMakeLists.txt")
pf_expect_run 0 "parkfeedd $version" "$PF_DAEMON" --version
pf_expect_run 0 "Usage: parkfeedd -c FILE [-t]" "$PF_DAEMON" --help
pf_expect_run 2 "parkfeedd: no configuration file: give -c FILE (e.g. -c /etc/parkfeed/parkfeed.conf)" \
	"$PF_DAEMON"
pf_expect_run 2 "parkfeedd: unexpected argument extra (see --help)" "$PF_DAEMON" -c x.conf extra
pf_expect_run 2 "unrecognized option '--frobnicate'" "$PF_DAEMON" --frobnicate

pf_expect_run 0 "configuration $PF_SOURCE_DIR/config/parkfeed.conf is valid" \
	"$PF_DAEMON" -t -c "$PF_SOURCE_DIR/config/parkfeed.conf"
printf '[mqtt]\nhots = broker\n' >typo.conf
pf_expect_run 1 "typo.conf:2: [mqtt] hots: unknown key (did you mean host?)" "$PF_DAEMON" -t -c typo.conf
pf_expect_run 1 "parkfeedd: cannot read nothere.conf: No such file or directory (check -c PATH)" "$PF_DAEMON" -t -c nothere.conf
pf_pass
