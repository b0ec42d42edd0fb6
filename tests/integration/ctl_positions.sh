#!/usr/bin/env bash
# Lot positions in the registry: lots import with lon,lat,address (both or neither, range
# checked with line numbers, nothing of a bad file applied, a re-import updates and an empty
# value clears), the warning for a point outside Jiaozuo (import and lots set), lots list and
# lots show printing the position, and parkfeed-sim's CSV placing every lot in its district.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }
positions() {
	pf_psql "SELECT lot_id || ':' || coalesce(lon::text, '-') || ',' || coalesce(lat::text, '-') ||
		':' || coalesce(address, '-') FROM parking.lots ORDER BY lot_id"
}

# rejected whole: expect_bad FILE "FILE:LINE: fragment"...
expect_bad() {
	local f=$1 err before
	shift
	before=$(positions)
	if err=$(ctl lots import "$f" 2>&1); then pf_fail "$f was accepted"; fi
	for want in "$@"; do
		grep -qF -- "$want" <<<"$err" || pf_fail "$f: no [$want] in: $err"
	done
	pf_assert_eq "$(positions)" "$before" "$f: nothing applied"
}

H=lot_id,name,district,spaces,deadline,lon,lat,address
printf '%s\nA-1,a,温县,10,,113.081,34.941,焦作市温县人民路1号\nA-2,b,山阳区,5,,113.255,35.215,\nA-3,c,山阳区,5,,,,\n' "$H" >good.csv
out=$(ctl lots import good.csv 2>&1) || pf_fail "good.csv: $out"
grep -q 'warning' <<<"$out" && pf_fail "a position inside the city warned: $out"
grep -qF '3 lots (3 new, 0 updated), 0 stage changes recorded, 2 positions changed, 1 addresses changed' \
	<<<"$out" || pf_fail "import summary: $out"
pf_assert_eq "$(positions)" "$(printf 'A-1:113.081,34.941:焦作市温县人民路1号\nA-2:113.255,35.215:-\nA-3:-,-:-')" \
	"good.csv applied"

printf '%s\nA-1,a,温县,10,,113.08x,34.941,\nA-2,b,山阳区,5,,181,35.215,\nA-3,c,山阳区,5,,113.2,,\nA-4,d,山阳区,5,,,35.2,\nA-5,e,山阳区,5,,113.2,-90.5,\nA-6,f,山阳区,5,,1e2,35,\nA-7,g,山阳区,5,, 113.2,35.2,\nA-8,h,山阳区,5,,35.2,113.2,\n' "$H" >bad.csv
expect_bad bad.csv "bad.csv:2: lon '113.08x' is not decimal degrees -180..180" \
	"bad.csv:3: lon '181' is not decimal degrees" \
	"bad.csv:4: lon is set but lat is empty (a position needs both, or neither)" \
	"bad.csv:5: lat is set but lon is empty" "bad.csv:6: lat '-90.5' is not decimal degrees -90..90" \
	"bad.csv:7: lon '1e2'" "bad.csv:9: lat '113.2' is not decimal degrees -90..90 (e.g. 35.216; the order is lon,lat)"
# a value with blanks around it is trimmed like every other field, so line 8 is fine
grep -q 'bad.csv:8:' <(ctl lots import bad.csv 2>&1 || true) && pf_fail "bad.csv:8 (blank before the number) refused"

printf 'lot_id,name,district,spaces,deadline,lon\nA-1,a,温县,10,,113.08\n' >lononly.csv
expect_bad lononly.csv "lononly.csv:1: column lon without column lat (a position needs both)"
printf 'lot_id,name,district,spaces,deadline,lat,address\nA-1,a,温县,10,,35.1,x\n' >latonly.csv
expect_bad latonly.csv "latonly.csv:1: column lat without column lon"

# Outside the city: imported, with a warning naming the line; nothing else changes.
printf '%s\nA-1,a,温县,10,,113.081,34.941,焦作市温县人民路1号\nA-2,b,山阳区,5,,116.397,39.909,北京\n' "$H" >far.csv
out=$(ctl lots import far.csv 2>&1) || pf_fail "far.csv refused: $out"
grep -qF 'far.csv:3: warning: lot A-2: position 116.397000,39.909000 is outside Jiaozuo (lon 112.4..113.8, lat 34.7..35.5); imported as it is' \
	<<<"$out" || pf_fail "no warning for far.csv:3: $out"
grep -qF 'far.csv:2: warning' <<<"$out" && pf_fail "warning for a lot inside the city: $out"
pf_assert_eq "$(pf_psql "SELECT lon || ',' || lat || ':' || address FROM parking.lots WHERE lot_id = 'A-2'")" \
	"116.397,39.909:北京" "far.csv applied"

# Re-import: a file without the columns keeps positions; with them, an empty value clears.
printf 'lot_id,name,district,spaces,deadline\nA-1,renamed,温县,10,\n' >nopos.csv
ctl lots import nopos.csv >/dev/null || pf_fail "nopos.csv refused"
pf_assert_eq "$(pf_psql "SELECT name || ':' || lon || ',' || lat || ':' || address FROM parking.lots WHERE lot_id = 'A-1'")" \
	"renamed:113.081,34.941:焦作市温县人民路1号" "a file without positions keeps them"
printf '%s\nA-1,a,温县,10,,,,\nA-2,b,山阳区,5,,113.26,35.22,新地址\n' "$H" >clear.csv
ctl lots import clear.csv >/dev/null 2>&1 || pf_fail "clear.csv refused"
pf_assert_eq "$(positions)" "$(printf 'A-1:-,-:-\nA-2:113.26,35.22:新地址\nA-3:-,-:-')" "clear.csv applied"

# lots set: range checked; outside the city stored with a warning; one of the pair alone is
# refused with a hint when the other is missing.
out=$(ctl lots set A-3 lon=112.0 lat=36.0 2>&1) || pf_fail "lots set outside refused: $out"
grep -qF 'parkfeedctl: warning: lots set: position 112.000000,36.000000 is outside Jiaozuo' <<<"$out" ||
	pf_fail "no warning from lots set: $out"
out=$(ctl lots set A-3 lon=113.2 lat=35.2 2>&1) || pf_fail "lots set inside refused: $out"
[[ -z $out ]] || pf_fail "lots set inside the city printed: $out"
if out=$(ctl lots set A-1 lon=113.2 2>&1); then pf_fail "lon alone on a lot without lat accepted"; fi
grep -qF 'lon and lat go together' <<<"$out" || pf_fail "no hint for lon alone: $out"
if out=$(ctl lots set A-1 lat=91 2>&1); then pf_fail "lat=91 accepted"; fi
grep -qF "lat: bad value '91' (decimal degrees, -90..90)" <<<"$out" || pf_fail "lat=91: $out"

# lots list and lots show print the position.
pf_assert_eq "$(ctl lots list --format csv | cut -d, -f1,10,11)" \
	"$(printf 'lot_id,lon,lat\nA-2,113.26,35.22\nA-3,113.2,35.2\nA-1,,')" "lots list positions"
show=$(ctl lots show A-2)
grep -qE '^lon +113\.26$' <<<"$show" && grep -qE '^lat +35\.22$' <<<"$show" &&
	grep -qE '^address +新地址$' <<<"$show" || pf_fail "lots show: $show"

# parkfeed-sim's registry file: every lot placed near its district's seat, inside the city,
# with an address; it imports without a warning.
"$PF_SIM" --seed 3 --emit-lots-csv 300 --with-stages >sim.csv
out=$(ctl lots import sim.csv 2>&1) || pf_fail "sim.csv refused: $out"
grep -q warning <<<"$out" && pf_fail "sim.csv warned: $out"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.lots WHERE lot_id LIKE 'JZ-%' AND lon BETWEEN 112.4 AND 113.8
	AND lat BETWEEN 34.7 AND 35.5 AND address LIKE '焦作市' || district || '%'")" 300 "sim lots placed"
# each district's lots lie around one point, a few km at most
far=$(pf_psql "WITH c AS (SELECT district, avg(lon) AS lon, avg(lat) AS lat FROM parking.lots
	WHERE lot_id LIKE 'JZ-%' GROUP BY district)
	SELECT count(*) FROM parking.lots l JOIN c USING (district)
	WHERE l.lot_id LIKE 'JZ-%' AND (abs(l.lon - c.lon) > 0.06 OR abs(l.lat - c.lat) > 0.06)")
pf_assert_eq "$far" 0 "sim lots far from their district"
pf_pass
