#!/usr/bin/env bash
# The programs of this build carry the hardening of cmake/hardening.cmake (PF_HARDENING, on by
# default): PIE, RELRO with BIND_NOW, a non-executable stack, the stack protector, fortified
# glibc calls (not under AddressSanitizer, which checks the same calls itself) and, on x86-64,
# control-flow protection. tests/integration/package.sh checks the .deb's programs the same way.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
source "$(dirname "$0")/../lib/hardening.sh"
pf_env_init

cache=$PF_BUILD_DIR/CMakeCache.txt
[[ -f $cache ]] || pf_fail "no CMakeCache.txt in $PF_BUILD_DIR"
setting() {
	sed -n "s/^$1:[A-Z]*=//p" "$cache"
}
hardening=$(setting PF_HARDENING)
sanitize=$(setting PF_SANITIZE)
if [[ ! $hardening =~ ^(ON|on|1|TRUE|true|YES|yes)$ ]]; then
	pf_log "this build was configured with PF_HARDENING=$hardening: nothing to check"
	pf_pass
	exit 0
fi
mode=""
if [[ $sanitize =~ ^(ON|on|1|TRUE|true|YES|yes)$ ]]; then
	mode=nofortify
	pf_log "PF_SANITIZE=ON: not checking _FORTIFY_SOURCE (AddressSanitizer checks those calls)"
fi

failed=0
for prog in "$PF_DAEMON" "$PF_CTL" "$PF_SIM" "$PF_API"; do
	[[ -x $prog ]] || pf_fail "$prog is not built"
	if out=$(pf_hardening_check "$prog" $mode); then
		pf_log "$(basename "$prog"): hardened"
	else
		printf '%s\n' "$out" >&2
		failed=1
	fi
done
(( failed == 0 )) || pf_fail "programs lack hardening (see above)"
pf_pass
