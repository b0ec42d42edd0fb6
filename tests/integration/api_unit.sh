#!/usr/bin/env bash
# parkfeed-api's systemd unit and install rules: the unit's sandbox scores <= 2.0 in
# `systemd-analyze security`, it verifies (outside an installed system only the missing binary
# may be reported), and `cmake --install` lays out the program, the unit, the configuration
# and the man pages where the package and the unit expect them.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
src=$PF_SOURCE_DIR
command -v systemd-analyze >/dev/null || pf_fail "systemd-analyze missing: install systemd (scripts/deps.sh)"

out=$(systemd-analyze security --offline=true --no-pager "$src/systemd/parkfeed-api.service" 2>&1) ||
	pf_fail "systemd-analyze security: $out"
[[ $out =~ Overall\ exposure\ level\ for\ [^:]+:\ ([0-9]+\.[0-9]+) ]] ||
	pf_fail "no exposure level: $(tail -n 3 <<<"$out")"
score=${BASH_REMATCH[1]}
awk -v s="$score" 'BEGIN {exit !(s <= 2.0)}' ||
	pf_fail "parkfeed-api.service exposure $score > 2.0: $(grep '✗' <<<"$out" | head -n 20)"
pf_log "parkfeed-api.service: exposure $score"
out=$(cd "$src/systemd" && systemd-analyze verify --man=no parkfeed-api.service 2>&1 || true)
bad=$(grep -vE '/usr/sbin/parkfeed-api is not executable|sysinit\.target not found' <<<"$out" |
	grep -v '^$' || true)
[[ -z $bad ]] || pf_fail "systemd-analyze verify: $bad"
for want in Type=notify DynamicUser=yes "LoadCredential=api-pg-password:" \
	"ExecStart=/usr/sbin/parkfeed-api -c /etc/parkfeed/parkfeed-api.conf" "ExecReload=/bin/kill -HUP"; do
	grep -q "^$want" "$src/systemd/parkfeed-api.service" || pf_fail "the unit lacks $want"
done

[[ -f $PF_BUILD_DIR/cmake_install.cmake ]] || pf_fail "no cmake_install.cmake in $PF_BUILD_DIR"
DESTDIR=$PF_TMP/root cmake --install "$PF_BUILD_DIR" --prefix /usr >"$PF_TMP/install.log" 2>&1 ||
	{ tail -n 20 "$PF_TMP/install.log" >&2; pf_fail "cmake --install failed"; }
for f in /usr/sbin/parkfeed-api /usr/lib/systemd/system/parkfeed-api.service \
	/etc/parkfeed/parkfeed-api.conf /usr/share/man/man8/parkfeed-api.8 \
	/usr/share/man/man5/parkfeed-api.conf.5 /usr/share/parkfeed/schema/009_api.sql; do
	[[ -e $PF_TMP/root$f ]] || pf_fail "$f is not installed"
done
pf_assert_eq "$(stat -c %a "$PF_TMP/root/etc/parkfeed/parkfeed-api.conf")" 644 "config mode"
"$PF_TMP/root/usr/sbin/parkfeed-api" -t -c "$PF_TMP/root/etc/parkfeed/parkfeed-api.conf" >/dev/null 2>&1 ||
	pf_fail "the installed configuration does not check"
# An edited configuration survives a second install; the shipped one goes next to it.
echo "; edited on this site" >>"$PF_TMP/root/etc/parkfeed/parkfeed-api.conf"
DESTDIR=$PF_TMP/root cmake --install "$PF_BUILD_DIR" --prefix /usr >>"$PF_TMP/install.log" 2>&1
grep -q '^; edited on this site$' "$PF_TMP/root/etc/parkfeed/parkfeed-api.conf" || pf_fail "reinstall lost the edit"
[[ -f $PF_TMP/root/etc/parkfeed/parkfeed-api.conf.new ]] || pf_fail "no parkfeed-api.conf.new"
pf_pass
