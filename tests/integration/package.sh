#!/usr/bin/env bash
# Packaging. The units' sandbox scores <= 2.0 in `systemd-analyze security` and they pass
# `systemd-analyze verify`. debian/ builds (dpkg-buildpackage -us -uc -b, in a copy of the
# source tree so the checkout stays clean) a package that lintian passes (error, warning and
# info tags; debian/parkfeed.lintian-overrides explains each override), holding every
# program, unit, manual page and configuration file of the tree, the web page (its libraries
# relative links into the libjs-* packages it depends on), with hardened programs whose
# debug symbols are in parkfeed-dbgsym, the version of the source, and a preinst that knows
# the highest schema it ships.
#
# With PF_PACKAGE_INSTALL=1 and root (scripts/test.sh sets it on CI, a throwaway machine) it
# also works the package on this machine, never starting a service: it installs the previous
# release (0.1.0, built from git with the CPack packaging it had), edits its conffile and
# upgrades it to this one (the schema notice, units, user, conffile, credentials and spool
# kept), reinstalls, removes, purges, and installs afresh with no user parkfeed yet.
# PF_PREV_DEB=FILE uses that .deb as the previous release instead of building it.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
source "$(dirname "$0")/../lib/hardening.sh"
pf_env_init
src=$PF_SOURCE_DIR
# 0.1.0: the last tree packaged with CPack, schema 001 to 005.
prev_release=0099953c10d42a2654072852a556941ce4d2afd4
for tool in systemd-analyze dpkg-buildpackage dh lintian readelf objdump; do
	command -v "$tool" >/dev/null || pf_fail "$tool missing: install it (scripts/deps.sh)"
done

# The programs the package installs (and checks for hardening and debug symbols), and its
# units: every systemd/*.service and *.timer.
programs=(usr/sbin/parkfeedd usr/bin/parkfeedctl usr/bin/parkfeed-sim usr/sbin/parkfeed-api)
units=()
for f in "$src"/systemd/*.service "$src"/systemd/*.timer; do
	units+=("$(basename "$f")")
done

# ---- the units, as shipped ----
for unit in "${units[@]}"; do
	[[ $unit == *.service ]] || continue
	out=$(systemd-analyze security --offline=true --no-pager "$src/systemd/$unit" 2>&1) ||
		pf_fail "systemd-analyze security $unit: $out"
	[[ $out =~ Overall\ exposure\ level\ for\ [^:]+:\ ([0-9]+\.[0-9]+) ]] ||
		pf_fail "no exposure level for $unit: $(tail -n 3 <<<"$out")"
	score=${BASH_REMATCH[1]}
	awk -v s="$score" 'BEGIN {exit !(s <= 2.0)}' ||
		pf_fail "$unit exposure $score > 2.0: $(grep '✗' <<<"$out" | head -n 20)"
	pf_log "$unit: exposure $score"
done
# Outside an installed system only the missing programs may be reported.
out=$(cd "$src/systemd" && systemd-analyze verify --man=no "${units[@]}" 2>&1 || true)
bad=$(grep -vE '/usr/s?bin/parkfeed[-a-z]* is not executable|sysinit\.target not found' <<<"$out" |
	grep -v '^$' || true)
[[ -z $bad ]] || pf_fail "systemd-analyze verify: $bad"

# ---- build the package from a copy of the tree ----
version=$(cd "$src" && dpkg-parsechangelog -S Version)
project_version=$(sed -n 's/^project(parkfeed VERSION \([0-9.]*\) .*/\1/p' "$src/CMakeLists.txt")
pf_assert_eq "$version" "$project_version" "debian/changelog's version vs CMakeLists.txt's"
tree=$PF_TMP/deb/parkfeed-$version
mkdir -p "$tree"
# What git tracks or would track (uncommitted changes included); without git, all but
# build trees.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
		tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$tree"
else
	tar -C "$src" --exclude=./.git --exclude='./build*' --exclude='./obj-*' -cf - . |
		tar -xf - -C "$tree"
fi
t0=$SECONDS
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=2" dpkg-buildpackage -us -uc -b) \
	>"$PF_TMP/dpkg-buildpackage.log" 2>&1 ||
	{ tail -n 40 "$PF_TMP/dpkg-buildpackage.log" >&2; pf_fail "dpkg-buildpackage failed"; }
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$PF_TMP/deb/parkfeed_${version}_$arch.deb
dbgsym=$PF_TMP/deb/parkfeed-dbgsym_${version}_$arch.deb
changes=$PF_TMP/deb/parkfeed_${version}_$arch.changes
[[ -f $deb && -f $dbgsym && -f $changes ]] ||
	pf_fail "dpkg-buildpackage made $(cd "$PF_TMP/deb" && echo *.deb *.changes), not parkfeed and parkfeed-dbgsym"
pf_log "built $(basename "$deb") and $(basename "$dbgsym") in $(( SECONDS - t0 )) s"

# ---- lintian ----
if ! lintian --fail-on error,warning,info -I --pedantic "$changes" >"$PF_TMP/lintian.log" 2>&1; then
	cat "$PF_TMP/lintian.log" >&2
	pf_fail "lintian reports the tags above: fix them or override them with a reason"
fi
grep -E '^[EWIPX]: ' "$PF_TMP/lintian.log" >&2 || true
pf_log "lintian: no errors, warnings or info tags"

# ---- what the package holds ----
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$PF_TMP/contents"
expect=("${programs[@]/#//}"
	/usr/lib/sysusers.d/parkfeed.conf /usr/lib/tmpfiles.d/parkfeed.conf
	/usr/share/parkfeed/prometheus/parkfeed-alerts.yml /usr/share/doc/parkfeed/copyright
	/usr/share/doc/parkfeed/changelog.gz /usr/share/doc/parkfeed/NEWS.Debian.gz)
for u in "${units[@]}"; do
	expect+=("/lib/systemd/system/$u")
done
for f in "$src"/docs/man/*.[1-8]; do
	expect+=("/usr/share/man/man${f##*.}/$(basename "$f").gz")
done
conffiles=()
for f in "$src"/config/*.conf; do
	conffiles+=("/etc/parkfeed/$(basename "$f")")
done
for f in "$src"/schema/[0-9][0-9][0-9]_*.sql; do
	expect+=("/usr/share/parkfeed/schema/$(basename "$f")")
done
# parkfeed-api's web page: every file of web/, and links to the libjs-* libraries it uses
# (cmake/web.cmake names them).
while IFS= read -r f; do
	expect+=("/usr/share/parkfeed/web/${f#"$src"/web/}")
done < <(find "$src/web" -type f)
vendor=$(sed -n 's/^set(PF_WEB_VENDOR "\(.*\)")$/\1/p' "$src/cmake/web.cmake" | tr '|' ' ')
[[ -n $vendor ]] || pf_fail "no PF_WEB_VENDOR in cmake/web.cmake"
for f in "${expect[@]}" "${conffiles[@]}"; do
	grep -qx -- "$f" "$PF_TMP/contents" || pf_fail "$f is not in the package"
done
grep -q '^/usr/local' "$PF_TMP/contents" && pf_fail "the package installs under /usr/local"
pf_assert_eq "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | sort)" \
	"$(printf '%s\n' "${conffiles[@]}" | sort)" "conffiles"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libc6 libmosquitto1 libpq5 libuv1 libmicrohttpd12 libjansson4 libinih1 systemd \
	libjs-leaflet libjs-chart.js; do
	[[ $depends == *"$dep"* ]] || pf_fail "Depends lacks $dep: $depends"
done
# The libraries are relative links (Debian policy) that land in the package depended on.
for lib in $vendor; do
	link=/usr/share/parkfeed/web/vendor/$lib
	target=$(dpkg-deb -c "$deb" | awk -v l=".$link" '$6 == l && $7 == "->" {print $8}')
	[[ -n $target && $target != /* ]] || pf_fail "$link is not a relative link in the package: [$target]"
	resolved=$(realpath -m "$(dirname "$link")/$target")
	pf_assert_eq "$resolved" "/usr/share/javascript/$lib" "where $link leads"
	owner=${lib%%/*}
	[[ $owner == chart.js ]] && owner=libjs-chart.js || owner=libjs-$owner
	if dpkg-query -W -f='${Status}' "$owner" 2>/dev/null | grep -q 'ok installed'; then
		dpkg -S "$resolved" 2>/dev/null | grep -q "^$owner: " ||
			pf_fail "$resolved does not belong to $owner: $(dpkg -S "$resolved" 2>&1)"
	fi
done
new_schema=$(cd "$src/schema" && ls [0-9][0-9][0-9]_*.sql | cut -c1-3 | sort | tail -n 1)
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./preinst >"$PF_TMP/preinst"
grep -qx "new_schema=$new_schema" "$PF_TMP/preinst" ||
	pf_fail "preinst does not say schema $new_schema: $(grep -n 'new_schema=' "$PF_TMP/preinst")"
pf_log "the package holds ${#expect[@]} expected files and ${#conffiles[@]} conffile(s); Depends: $depends"

# The programs: hardened by dpkg-buildflags, stripped, their symbols in -dbgsym.
dpkg-deb -x "$deb" "$PF_TMP/root"
dpkg-deb -x "$dbgsym" "$PF_TMP/dbg"
for prog in "${programs[@]}"; do
	[[ $(readelf -SW "$PF_TMP/root/$prog") == *.debug_info* ]] && pf_fail "/$prog is not stripped"
	id=$(readelf -nW "$PF_TMP/root/$prog" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
	[[ -n $id ]] || pf_fail "/$prog has no build id"
	dbg=$PF_TMP/dbg/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
	[[ -f $dbg ]] || pf_fail "parkfeed-dbgsym has no symbols for /$prog (build id $id)"
	[[ $(readelf -SW "$dbg" 2>/dev/null) == *.debug_info* ]] || pf_fail "$dbg holds no debug information"
	out=$(pf_hardening_check "$PF_TMP/root/$prog" symbols="$dbg") || pf_fail "$out"
done
out=$("$PF_TMP/root/usr/sbin/parkfeedd" --version)
pf_assert_eq "$out" "parkfeedd $version" "parkfeedd --version"
pf_log "programs hardened and stripped, symbols in parkfeed-dbgsym, version $version"

if [[ ${PF_PACKAGE_INSTALL:-0} != 1 || $EUID != 0 ]]; then
	pf_log "not installing (set PF_PACKAGE_INSTALL=1 and run as root to install, upgrade and remove it)"
	pf_pass
	exit 0
fi

# ---- on this machine: previous release, upgrade, reinstall, remove, purge, fresh ----
if dpkg-query -W -f='${Status}' parkfeed 2>/dev/null | grep -q 'installed'; then
	pf_fail "parkfeed is installed on this machine already: not touching it"
fi
[[ -e /etc/parkfeed || -e /var/lib/parkfeed ]] &&
	pf_fail "/etc/parkfeed or /var/lib/parkfeed exists without the package: not touching it"
had_user=0
getent passwd parkfeed >/dev/null && had_user=1
installed=0
pkg_cleanup() {
	(( installed )) && dpkg -P parkfeed >>"$PF_TMP/dpkg.log" 2>&1
	(( had_user )) || { getent passwd parkfeed >/dev/null && userdel parkfeed >/dev/null 2>&1; }
	(( had_user )) || { getent group parkfeed >/dev/null && groupdel parkfeed >/dev/null 2>&1; }
	return 0
}
trap 'rc=$?; pkg_cleanup; (exit $rc); pf__on_exit' EXIT

# dpkg_do ARGS...: run dpkg non-interactively, keeping an edited conffile; its output in
# $PF_TMP/dpkg.out (and appended to dpkg.log).
dpkg_do() {
	printf -- '--- dpkg %s\n' "$*" >>"$PF_TMP/dpkg.log"
	if ! DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold "$@" \
		>"$PF_TMP/dpkg.out" 2>&1; then
		cat "$PF_TMP/dpkg.out" >>"$PF_TMP/dpkg.log"
		tail -n 20 "$PF_TMP/dpkg.out" >&2
		pf_fail "dpkg $* failed"
	fi
	cat "$PF_TMP/dpkg.out" >>"$PF_TMP/dpkg.log"
}
status() {
	dpkg-query -W -f='${Status} ${Version}' parkfeed 2>/dev/null || echo "not known"
}
edited='; edited on this site'
conf=/etc/parkfeed/parkfeed.conf

# The previous release, as its own packaging built it.
mkdir -p "$PF_TMP/prev"
if [[ -n ${PF_PREV_DEB:-} ]]; then
	prev_deb=$PF_PREV_DEB
	prev_schema=$(dpkg-deb -c "$prev_deb" | sed -n 's|.*/usr/share/parkfeed/schema/\([0-9]\{3\}\)_.*|\1|p' | sort | tail -n 1)
else
	git -C "$src" cat-file -e "$prev_release^{commit}" 2>/dev/null ||
		pf_fail "the previous release ($prev_release) is not in this clone's history: fetch it (git fetch --unshallow) or set PF_PREV_DEB to its .deb"
	mkdir -p "$PF_TMP/prev/src"
	git -C "$src" archive "$prev_release" | tar -xf - -C "$PF_TMP/prev/src"
	t0=$SECONDS
	{ cmake -S "$PF_TMP/prev/src" -B "$PF_TMP/prev/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
		cmake --build "$PF_TMP/prev/build" -j2 &&
		(cd "$PF_TMP/prev/build" && cpack -G DEB -B "$PF_TMP/prev/pkg"); } \
		>"$PF_TMP/prev-build.log" 2>&1 ||
		{ tail -n 30 "$PF_TMP/prev-build.log" >&2; pf_fail "building the previous release failed"; }
	prev_deb=$(ls "$PF_TMP"/prev/pkg/parkfeed_*.deb)
	prev_schema=$(cd "$PF_TMP/prev/src/schema" && ls [0-9][0-9][0-9]_*.sql | cut -c1-3 | sort | tail -n 1)
	pf_log "built the previous release $(basename "$prev_deb") in $(( SECONDS - t0 )) s"
fi
prev_version=$(dpkg-deb -f "$prev_deb" Version)
dpkg-deb --fsys-tarfile "$prev_deb" | tar -xOf - ./etc/parkfeed/parkfeed.conf >"$PF_TMP/prev/parkfeed.conf"
dpkg --compare-versions "$prev_version" lt "$version" ||
	pf_fail "the previous release's version $prev_version is not below $version"

installed=1
dpkg_do -i "$prev_deb"
pf_assert_eq "$(status)" "install ok installed $prev_version" "after installing $prev_version"
uid=$(id -u parkfeed)
echo "$edited" >>"$conf"
printf 'secret\n' >/etc/parkfeed/credentials/pg-password
install -d -o parkfeed -g parkfeed -m 0750 /var/lib/parkfeed/spool
install -o parkfeed -g parkfeed -m 0640 /dev/null /var/lib/parkfeed/spool/00000001.seg

# The upgrade.
dpkg_do -i "$deb"
pf_assert_eq "$(status)" "install ok installed $version" "after the upgrade"
notice="parkfeed: this upgrade brings database schema $new_schema (the installed version knows $prev_schema)."
if (( 10#$prev_schema < 10#$new_schema )); then
	grep -qxF "$notice" "$PF_TMP/dpkg.out" ||
		pf_fail "the upgrade from schema $prev_schema to $new_schema did not say so: $(cat "$PF_TMP/dpkg.out")"
	grep -q 'parkfeedctl .*migrate' "$PF_TMP/dpkg.out" || pf_fail "the notice does not name parkfeedctl migrate"
	pf_log "the upgrade said: $notice"
else
	grep -q 'brings database schema' "$PF_TMP/dpkg.out" &&
		pf_fail "a notice about the schema although it stays at $new_schema: $(cat "$PF_TMP/dpkg.out")"
fi
# Units moved from /usr/lib/systemd/system (CPack) to /lib/systemd/system: on a merged-/usr
# system both are one directory, and dpkg must not delete the new file as the old one's.
for u in "${units[@]}"; do
	[[ -f /lib/systemd/system/$u ]] || pf_fail "/lib/systemd/system/$u is gone after the upgrade"
done
out=$(systemd-analyze verify --man=no "${units[@]/#//lib/systemd/system/}" 2>&1) ||
	pf_fail "systemd-analyze verify: $out"
[[ -z $out ]] || pf_fail "systemd-analyze verify: $out"
pf_assert_eq "$(id -u parkfeed)" "$uid" "uid of parkfeed after the upgrade"
grep -qxF "$edited" "$conf" || pf_fail "the upgrade lost the edited $conf"
# dpkg puts the new version's file beside an edited one only if the shipped file changed.
if cmp -s "$PF_TMP/prev/parkfeed.conf" "$src/config/parkfeed.conf"; then
	[[ ! -e $conf.dpkg-dist ]] || pf_fail "$conf.dpkg-dist although the shipped file is unchanged"
else
	cmp -s "$conf.dpkg-dist" "$src/config/parkfeed.conf" ||
		pf_fail "the new configuration is not beside the edited one as $conf.dpkg-dist"
fi
pf_assert_eq "$(stat -c '%U %a' /etc/parkfeed/credentials/pg-password) $(cat /etc/parkfeed/credentials/pg-password)" \
	"root 600 secret" "pg-password after the upgrade"
[[ -f /var/lib/parkfeed/spool/00000001.seg ]] || pf_fail "the upgrade lost the spool"
pf_assert_eq "$(/usr/sbin/parkfeedd --version)" "parkfeedd $version" "installed parkfeedd --version"
pf_log "upgraded $prev_version -> $version: units, user, edited conffile, credentials and spool kept"

# Reinstalling the same version keeps everything and says nothing about the schema.
dpkg_do -i "$deb"
grep -qxF "$edited" "$conf" || pf_fail "the reinstall lost the edit"
[[ ! -e $conf.dpkg-new ]] || pf_fail "the reinstall left $conf.dpkg-new"
grep -q 'brings database schema' "$PF_TMP/dpkg.out" && pf_fail "a schema notice on reinstall"

dpkg_do -r parkfeed
pf_assert_eq "$(status)" "deinstall ok config-files $version" "after dpkg -r"
[[ ! -e /usr/sbin/parkfeedd && ! -e /lib/systemd/system/parkfeed.service ]] ||
	pf_fail "dpkg -r left the program or the unit"
grep -qxF "$edited" "$conf" || pf_fail "dpkg -r removed the edited configuration"
[[ -f /var/lib/parkfeed/spool/00000001.seg ]] || pf_fail "dpkg -r removed the spool"
dpkg_do -P parkfeed
installed=0
[[ ! -e /etc/parkfeed && ! -e /var/lib/parkfeed ]] || pf_fail "dpkg -P left /etc/parkfeed or /var/lib/parkfeed"
[[ $(status) == "not known" ]] || pf_fail "dpkg -P left the package known to dpkg: $(status)"
getent passwd parkfeed >/dev/null || pf_fail "dpkg -P removed the user parkfeed (it must stay)"
pf_log "reinstall, remove (configuration and spool kept) and purge are clean; the user stays"

# A first installation on a machine without the user: systemd-sysusers and systemd-tmpfiles
# make the user, the spool directory and the empty credential files; nothing is enabled.
if (( ! had_user )); then
	userdel parkfeed
	getent group parkfeed >/dev/null && groupdel parkfeed
fi
installed=1
dpkg_do -i "$deb"
grep -q 'parkfeed: edit /etc/parkfeed/parkfeed.conf' "$PF_TMP/dpkg.out" ||
	pf_fail "no first-installation message: $(cat "$PF_TMP/dpkg.out")"
IFS=: read -r _ _ _ _ _ home shell < <(getent passwd parkfeed) || pf_fail "no user parkfeed"
pf_assert_eq "$home $shell" "/var/lib/parkfeed /usr/sbin/nologin" "home and shell of parkfeed"
pf_assert_eq "$(stat -c '%U:%G %a' /var/lib/parkfeed)" "parkfeed:parkfeed 750" "/var/lib/parkfeed"
pf_assert_eq "$(stat -c '%U %a' /etc/parkfeed/credentials)" "root 700" "credentials directory"
for f in mqtt-password pg-password pg-maintain-password api-pg-password; do
	pf_assert_eq "$(stat -c '%U %a %s' /etc/parkfeed/credentials/$f)" "root 600 0" "$f"
done
for u in "${units[@]}"; do
	deb-systemd-helper --quiet was-enabled "$u" && pf_fail "$u is enabled on installation"
done
/usr/sbin/parkfeedd -t -c "$conf" >/dev/null || pf_fail "the shipped configuration does not check"
dpkg_do -P parkfeed
installed=0
pf_log "fresh installation: user, directories and credential files made, nothing enabled"
pf_pass
