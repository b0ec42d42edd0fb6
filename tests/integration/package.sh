#!/usr/bin/env bash
# Packaging: the unit's sandbox scores <= 2.0 in `systemd-analyze security`, the units pass
# `systemd-analyze verify`, and `cpack -G DEB` builds a package with the expected files,
# dependencies, conffile and maintainer scripts. With PF_PACKAGE_INSTALL=1 (scripts/test.sh
# sets it on CI) and root, it also installs the package on this machine: user, directories,
# binaries, units, a reinstall that keeps an edited conffile, then dpkg -r and dpkg -P.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
src=$PF_SOURCE_DIR
command -v systemd-analyze >/dev/null || pf_fail "systemd-analyze missing: install systemd (scripts/deps.sh)"
command -v cpack >/dev/null || pf_fail "cpack missing: install cmake"

# ---- the units, as shipped ----
for unit in parkfeed.service parkfeed-maintain.service; do
	out=$(systemd-analyze security --offline=true --no-pager "$src/systemd/$unit" 2>&1) ||
		pf_fail "systemd-analyze security $unit: $out"
	[[ $out =~ Overall\ exposure\ level\ for\ [^:]+:\ ([0-9]+\.[0-9]+) ]] ||
		pf_fail "no exposure level for $unit: $(tail -n 3 <<<"$out")"
	score=${BASH_REMATCH[1]}
	awk -v s="$score" 'BEGIN {exit !(s <= 2.0)}' ||
		pf_fail "$unit exposure $score > 2.0: $(grep '✗' <<<"$out" | head -n 20)"
	pf_log "$unit: exposure $score"
done
# Outside an installed system only the missing binaries may be reported.
out=$(cd "$src/systemd" && systemd-analyze verify --man=no parkfeed.service \
	parkfeed-maintain.service parkfeed-maintain.timer 2>&1 || true)
bad=$(grep -vE '(/usr/sbin/parkfeedd|/usr/bin/parkfeedctl) is not executable|sysinit\.target not found' <<<"$out" |
	grep -v '^$' || true)
[[ -z $bad ]] || pf_fail "systemd-analyze verify: $bad"

# ---- the package ----
[[ -f $PF_BUILD_DIR/CPackConfig.cmake ]] || pf_fail "no CPackConfig.cmake in $PF_BUILD_DIR"
mkdir -p "$PF_TMP/pkg"
(cd "$PF_BUILD_DIR" && cpack -G DEB --config CPackConfig.cmake -B "$PF_TMP/pkg") \
	>"$PF_TMP/cpack.log" 2>&1 || { tail -n 30 "$PF_TMP/cpack.log" >&2; pf_fail "cpack failed"; }
deb=$(ls "$PF_TMP"/pkg/parkfeed_*.deb 2>/dev/null | head -n 1)
[[ -n $deb ]] || pf_fail "cpack made no .deb: $(tail -n 5 "$PF_TMP/cpack.log")"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$PF_TMP/contents"
for f in /usr/sbin/parkfeedd /usr/bin/parkfeedctl /usr/bin/parkfeed-sim \
	/usr/lib/systemd/system/parkfeed.service /usr/lib/systemd/system/parkfeed-maintain.service \
	/usr/lib/systemd/system/parkfeed-maintain.timer /etc/parkfeed/parkfeed.conf \
	/usr/share/parkfeed/schema/001_base.sql /usr/share/man/man8/parkfeedd.8 \
	/usr/share/man/man1/parkfeedctl.1 /usr/share/man/man5/parkfeed.conf.5; do
	grep -qx -- "$f" "$PF_TMP/contents" || pf_fail "$f is not in the package"
done
grep -q '^/usr/local' "$PF_TMP/contents" && pf_fail "the package installs under /usr/local"
dpkg-deb -I "$deb" >"$PF_TMP/info"
for f in conffiles postinst prerm postrm; do
	grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\*? +$f" "$PF_TMP/info" ||
		pf_fail "control member $f missing: $(cat "$PF_TMP/info")"
done
pf_assert_eq "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)" /etc/parkfeed/parkfeed.conf "conffiles"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in adduser libc6 libmosquitto1 libpq5 libuv1 libmicrohttpd12 libjansson4; do
	[[ $depends == *"$dep"* ]] || pf_fail "Depends lacks $dep: $depends"
done
pf_log "built $(basename "$deb"): Depends: $depends"

if [[ ${PF_PACKAGE_INSTALL:-0} != 1 || $EUID != 0 ]]; then
	pf_log "not installing (set PF_PACKAGE_INSTALL=1 and run as root to install and remove it)"
	pf_pass
	exit 0
fi

# ---- install, reinstall, remove, purge on this machine ----
if dpkg-query -W -f='${Status}' parkfeed 2>/dev/null | grep -q 'installed'; then
	pf_log "parkfeed is installed on this machine already: not touching it; skipping the install checks"
	pf_pass
	exit 0
fi
[[ -e /etc/parkfeed ]] && pf_fail "/etc/parkfeed exists without the package: not touching it"
had_user=0
getent passwd parkfeed >/dev/null && had_user=1
installed=0
pkg_cleanup() {
	(( installed )) && dpkg -P parkfeed >>"$PF_TMP/dpkg.log" 2>&1
	(( had_user )) || { getent passwd parkfeed >/dev/null && deluser --quiet --system parkfeed >/dev/null 2>&1; }
	(( had_user )) || { getent group parkfeed >/dev/null && delgroup --quiet --system parkfeed >/dev/null 2>&1; }
	return 0
}
trap 'rc=$?; pkg_cleanup; (exit $rc); pf__on_exit' EXIT

dpkg_do() {
	printf -- '--- dpkg %s\n' "$*" >>"$PF_TMP/dpkg.log"
	DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold "$@" \
		>>"$PF_TMP/dpkg.log" 2>&1 || { tail -n 20 "$PF_TMP/dpkg.log" >&2; pf_fail "dpkg $* failed"; }
}

installed=1
dpkg_do -i "$deb"
pf_assert_eq "$(dpkg-query -W -f='${Status}' parkfeed)" "install ok installed" "after dpkg -i"
getent passwd parkfeed >/dev/null || pf_fail "no user parkfeed after install"
pf_assert_eq "$(stat -c '%U:%G %a' /var/lib/parkfeed)" "parkfeed:parkfeed 750" "/var/lib/parkfeed"
pf_assert_eq "$(stat -c '%U %a' /etc/parkfeed/credentials)" "root 700" "credentials dir"
pf_assert_eq "$(stat -c '%U %a %s' /etc/parkfeed/credentials/pg-password)" "root 600 0" "pg-password"
version=$(/usr/sbin/parkfeedd --version)
[[ $version == "parkfeedd $(dpkg-deb -f "$deb" Version)" ]] || pf_fail "parkfeedd --version: $version"
/usr/bin/parkfeedctl --help | grep -q '^usage: parkfeedctl' || pf_fail "parkfeedctl --help"
/usr/sbin/parkfeedd -t -c /etc/parkfeed/parkfeed.conf >/dev/null || pf_fail "the shipped config does not check"
out=$(systemd-analyze verify --man=no /usr/lib/systemd/system/parkfeed.service \
	/usr/lib/systemd/system/parkfeed-maintain.service \
	/usr/lib/systemd/system/parkfeed-maintain.timer 2>&1) || pf_fail "systemd-analyze verify: $out"
[[ -z $out ]] || pf_fail "systemd-analyze verify: $out"
pf_log "installed: $version, units verify, user and directories in place"

# An edited conffile survives a reinstall.
echo "; edited on this site" >>/etc/parkfeed/parkfeed.conf
dpkg_do -i "$deb"
grep -q '^; edited on this site$' /etc/parkfeed/parkfeed.conf || pf_fail "reinstall lost the edit"
[[ ! -e /etc/parkfeed/parkfeed.conf.dpkg-new ]] || pf_fail "reinstall left parkfeed.conf.dpkg-new"

dpkg_do -r parkfeed
[[ ! -e /usr/sbin/parkfeedd && ! -e /usr/lib/systemd/system/parkfeed.service ]] ||
	pf_fail "dpkg -r left the program or the unit"
grep -q '^; edited on this site$' /etc/parkfeed/parkfeed.conf || pf_fail "dpkg -r removed the edited config"
[[ -d /var/lib/parkfeed ]] || pf_fail "dpkg -r removed the spool directory"
pf_assert_eq "$(dpkg-query -W -f='${Status}' parkfeed)" "deinstall ok config-files" "after dpkg -r"
dpkg_do -P parkfeed
installed=0
[[ ! -e /etc/parkfeed && ! -e /var/lib/parkfeed ]] || pf_fail "dpkg -P left /etc/parkfeed or /var/lib/parkfeed"
dpkg-query -W parkfeed >/dev/null 2>&1 && pf_fail "dpkg -P left the package known to dpkg"
pf_log "install, reinstall (edited conffile kept), remove and purge are clean"
pf_pass
