#!/usr/bin/env bash
# parkfeedctl lots import with bad files: every bad row reported as FILE:LINE, nothing applied;
# stages of a re-import never move a lot backwards.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }

# rejected whole: expect_bad FILE "FILE:LINE: fragment"...
expect_bad() {
	local f=$1 err
	shift
	if err=$(ctl lots import "$f" 2>&1); then pf_fail "$f was accepted"; fi
	for want in "$@"; do
		grep -qF -- "$want" <<<"$err" || pf_fail "$f: no [$want] in: $err"
	done
	pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.lots")" 0 "$f: nothing applied"
	pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.stage_history")" 0 "$f: no history"
}

H=lot_id,name,district,spaces,deadline,stage,stage_at
printf '%s\nA-1,a,温县,1,2023-01-01,connected,2023-02-01\nA-2,b,温县,1,2023-01-01,finished,2023-02-01\nA-3,c,温县,1,2023-01-01,,\nA-4,d,温县,1,2023-01-01,done,\n' "$H" >stage.csv
expect_bad stage.csv "stage.csv:3: stage 'finished'" "stage.csv:5: stage 'done'"

printf '%s\nA-1,a,温县,1,2023-02-30,,\nA-2,b,温县,1,2023/01/01,,\nA-3,c,温县,x,2023-01-01,,\nA-4,d,温县,1,2023-01-01,connected,2023-13-01\nA-5,e,温县,1,2023-01-01,connected,\n' "$H" >date.csv
expect_bad date.csv "date.csv:2: deadline '2023-02-30'" "date.csv:3: deadline" "date.csv:4: spaces 'x'" \
	"date.csv:5: stage_at '2023-13-01'" "date.csv:6: stage connected needs stage_at"

printf 'lot_id,name,spaces,deadline\nA-1,a,1,2023-01-01\n' >missing.csv
expect_bad missing.csv "missing.csv:1: missing column 'district'"

printf 'lot_id,name,district,spaces,deadline,colour\nA-1,a,温县,1,2023-01-01,red\n' >unknown.csv
expect_bad unknown.csv "unknown.csv:1: unknown column 'colour'"

printf 'lot_id,name,district,spaces,deadline\nA-1,ok,温县,1,2023-01-01\nA-2,\xe6\xb8,温县,1,2023-01-01\nA-3,\xff,温县,1,2023-01-01\n' >utf8.csv
expect_bad utf8.csv "utf8.csv:3: not valid UTF-8" "utf8.csv:4: not valid UTF-8"

printf 'lot_id,name,district,spaces,deadline\nA-1,a,温县,1,2023-01-01\nA-2,b,温县,1,2023-01-01\nA-1,c,温县,1,2023-01-01\nbad id!,d,温县,1,\nA-5,"unclosed,温县,1,\n' >dup.csv
expect_bad dup.csv "dup.csv:4: duplicate lot_id 'A-1' (first on line 2)" "dup.csv:5: lot_id 'bad id!'" \
	"dup.csv:6: quoted field opened on line 6 is never closed"

printf 'lot_id,name,district,spaces,deadline\nA-1,a,温县,1\nA-2,"multi\nline",温县,1,2023-01-01\nA-3,x"y,温县,1,2023-01-01\n' >fields.csv
expect_bad fields.csv "fields.csv:2: 4 fields, the header has 5" "fields.csv:5: field 2: a quote"

: >empty.csv
expect_bad empty.csv "empty.csv:1: empty file"
if ctl lots import /nonexistent.csv 2>/dev/null; then pf_fail "missing file accepted"; fi

# a good file with a multi-line quoted name: line numbers after it stay right, and it applies
printf '%s\r\nA-1,"two\nlines",温县,1,2023-01-01,upgraded,2023-02-01 08:30\r\nA-2,b,,,,,\r\n' "$H" >good.csv
ctl lots import good.csv >/dev/null || pf_fail "good.csv rejected"
pf_assert_eq "$(pf_psql "SELECT lot_id || ':' || stage || ':' || coalesce(district, 'NULL') ||
	':' || coalesce(to_char(upgraded_at AT TIME ZONE 'Asia/Shanghai', 'MM-DD HH24:MI'), '')
	FROM parking.lots ORDER BY 1")" "$(printf 'A-1:upgraded:温县:02-01 08:30\nA-2:planned:NULL:')" \
	"good.csv applied"
# a re-import with an earlier stage keeps the registry's stage; a later one moves it
printf '%s\nA-1,a,温县,1,2023-01-01,upgrading,2023-01-15\nA-2,b,,,,connected,2023-03-01\n' "$H" >again.csv
out=$(ctl lots import again.csv)
[[ $out == *"1 stage changes"*"1 rows' stages are behind"* ]] || pf_fail "again.csv: $out"
pf_assert_eq "$(pf_psql "SELECT string_agg(lot_id || ':' || stage, ' ' ORDER BY lot_id)
	FROM parking.lots")" "A-1:upgraded A-2:connected" "stages after re-import"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.stage_history WHERE actor = 'import'")" 2 \
	"import history rows"
pf_pass
