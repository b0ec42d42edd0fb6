#!/usr/bin/env bash
# parkfeedctl lots set-stage / lots set: one step forward only, backwards or skipping refused
# unless --force with a note, every change in stage_history; lots set changes registry fields.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }

printf 'lot_id,name,district,spaces,deadline\nWZ-1,温县一号,温县,100,2023-09-30\n' >l.csv
ctl lots import l.csv >/dev/null

ctl lots set-stage WZ-1 upgrading --at 2023-03-01 --note "work started" >/dev/null ||
	pf_fail "one step forward refused"
# skipping a stage is refused and says what to do
if err=$(ctl lots set-stage WZ-1 connected 2>&1); then pf_fail "skip accepted"; fi
[[ $err == *"--force"* && $err == *"note"* ]] || pf_fail "skip error does not say --force: $err"
[[ $(wc -l <<<"$err") == 1 ]] || pf_fail "error is not one line: $err"
# backwards is refused
if ctl lots set-stage WZ-1 planned 2>/dev/null; then pf_fail "backwards accepted"; fi
# --force without a note is refused, before connecting
if err=$(ctl lots set-stage WZ-1 planned --force 2>&1); then pf_fail "force without note"; fi
[[ $err == *"--note"* ]] || pf_fail "force without note: $err"
# unknown stage and unknown lot
if ctl lots set-stage WZ-1 finished 2>/dev/null; then pf_fail "unknown stage accepted"; fi
if err=$(ctl lots set-stage NOPE upgraded 2>&1); then pf_fail "unknown lot accepted"; fi
[[ $err == *"NOPE"* ]] || pf_fail "unknown lot error: $err"

ctl lots set-stage WZ-1 upgraded --at '2023-04-01 10:00' >/dev/null
ctl lots set-stage WZ-1 connected --at 2023-05-01 --note "acceptance test ok" >/dev/null
pf_assert_eq "$(pf_psql "SELECT stage, to_char(connected_at AT TIME ZONE 'Asia/Shanghai',
	'YYYY-MM-DD HH24:MI') FROM parking.lots WHERE lot_id = 'WZ-1'")" \
	"connected|2023-05-01 00:00" "connected, at local midnight"
ctl lots set-stage WZ-1 upgrading --force --note "controller replaced, not reporting" \
	--at 2023-06-01 >/dev/null || pf_fail "forced move back refused"
pf_assert_eq "$(pf_psql "SELECT stage || ' ' || (connected_at IS NULL) || ' ' ||
	(upgraded_at IS NULL) FROM parking.lots WHERE lot_id = 'WZ-1'")" "upgrading true true" \
	"moving back clears the later stages' times"
ctl lots set-stage WZ-1 accepted --force --note "accepted on site" --at 2023-07-01 >/dev/null
pf_assert_eq "$(pf_psql "SELECT stage || ' ' || to_char(connected_at AT TIME ZONE
	'Asia/Shanghai', 'YYYY-MM-DD') FROM parking.lots WHERE lot_id = 'WZ-1'")" \
	"accepted 2023-07-01" "forced skip to accepted sets connected_at too"

pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.stage_history WHERE lot_id = 'WZ-1'")" 5 \
	"five audited changes"
pf_assert_eq "$(pf_psql "SELECT string_agg(coalesce(from_stage::text, '-') || '>' || stage,
	' ' ORDER BY id) FROM parking.stage_history WHERE lot_id = 'WZ-1'")" \
	"planned>upgrading upgrading>upgraded upgraded>connected connected>upgrading upgrading>accepted" \
	"history"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.stage_history WHERE lot_id = 'WZ-1'
	AND note LIKE '[forced]%' AND db_user = 'pf_operator'")" 2 "forced changes marked"
pf_assert_eq "$(pf_psql "SELECT note || '|' || actor FROM parking.stage_history
	WHERE lot_id = 'WZ-1' AND stage = 'connected'")" "acceptance test ok|${SUDO_USER:-$(id -un)}" \
	"note and actor recorded"

# the operator cannot write history or stages directly
if pf_psql_as "$PF_OPERATOR_CONNINFO" "UPDATE parking.lots SET stage = 'planned'" 2>/dev/null; then
	pf_fail "operator updated stage directly"
fi
if pf_psql_as "$PF_OPERATOR_CONNINFO" "DELETE FROM parking.stage_history" 2>/dev/null; then
	pf_fail "operator deleted history"
fi

# lots set
ctl lots set WZ-1 name=温县一号停车场 spaces=120 expected_interval_s=30 address= >/dev/null ||
	pf_fail "lots set"
pf_assert_eq "$(pf_psql "SELECT name || ' ' || spaces || ' ' || expected_interval_s || ' ' ||
	(address IS NULL) FROM parking.lots WHERE lot_id = 'WZ-1'")" "温县一号停车场 120 30 true" \
	"lots set values"
if ctl lots set WZ-1 spaces=-3 2>/dev/null; then pf_fail "negative spaces accepted"; fi
if ctl lots set WZ-1 stage=planned 2>/dev/null; then pf_fail "lots set stage accepted"; fi
if ctl lots set NOPE name=x 2>/dev/null; then pf_fail "lots set on unknown lot"; fi
show=$(ctl lots show WZ-1) || pf_fail "lots show"
grep -q "^name  *温县一号停车场$" <<<"$show" || pf_fail "lots show: $show"
pf_assert_eq "$(ctl lots list --district 温县 --format csv | cut -d, -f1,6)" \
	"$(printf 'lot_id,stage\nWZ-1,accepted')" "lots list"
pf_assert_eq "$(ctl lots list --stage planned --format json)" "[]" "lots list empty json"
pf_pass
