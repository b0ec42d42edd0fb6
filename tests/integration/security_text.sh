#!/usr/bin/env bash
# Text from a hostile controller or a hostile CSV never drives the operator's terminal: a status
# payload full of terminal escapes (window title, line erase, cursor up, C1 CSI) is stored with
# '?' in their place; text that reached the database some other way is shown escaped by
# parkfeedctl's human formats (lots show, tables, Markdown) and escaped per format in CSV and
# JSON; a CSV with a NUL byte is refused with its line, and import errors quote CSV escaped.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start
cd "$PF_TMP"

ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }
# no_controls FILE WHAT: no byte of FILE is a C0 control other than a line feed, DEL, or C1
no_controls() {
	if LC_ALL=C grep -naP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$1" >controls.txt; then
		pf_fail "$2 holds control characters: $(od -c controls.txt | head -5)"
	fi
}

printf 'lot_id,name,district,spaces,deadline\nJZ-SY-001,人民公园,山阳区,320,2023-06-30\n' >lots.csv
ctl lots import lots.csv >/dev/null

pf_conf_write parkfeed.conf
pf_daemon_start parkfeed.conf
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20

# ---- a hostile controller: its status text is stored with '?' for each control -------------
pf_pub parking/JZ-SY-001/status '{"online": true, "system": "\u001b]0;PWNED\u0007\u001b[2K\u001b[1Aok", "version": "2.1\u009b2J\u007f", "protocol": "\u001b]52;c;cm0gLXJmIH4=\u0007parkfeed/1"}'
pf_wait_sql "SELECT status_at IS NOT NULL FROM parking.lots WHERE lot_id = 'JZ-SY-001'" t 20 \
	"hostile status stored"
pf_assert_eq "$(pf_psql "SELECT system || '|' || version || '|' || protocol FROM parking.lots
	WHERE lot_id = 'JZ-SY-001'")" '?]0;PWNED??[2K?[1Aok|2.1?2J?|?]52;c;cm0gLXJmIH4=?parkfeed/1' \
	"controls replaced at ingest"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.lots
	WHERE system ~ '[\x01-\x1f\x7f-\x9f]' OR version ~ '[\x01-\x1f\x7f-\x9f]'
	   OR protocol ~ '[\x01-\x1f\x7f-\x9f]'")" 0 "no control character in the registry"
pf_assert_eq "$(pf_psql "SELECT stage FROM parking.lots WHERE lot_id = 'JZ-SY-001'")" planned \
	"a protocol with an escape in front is not compliant"
ctl lots show JZ-SY-001 >show.txt || pf_fail "lots show"
no_controls show.txt "lots show of the hostile status"
grep -qxF 'system               ?]0;PWNED??[2K?[1Aok' show.txt || pf_fail "system line: $(cat show.txt)"
pf_daemon_stop

# ---- text that reached the database another way (psql, a stolen login): shown escaped ------
pf_psql "UPDATE parking.lots SET name = E'\\x1b]0;PWNED\\x07\\x1b[2K人民公园', address = E'line\\nbreak\\u009b',
	version = E'\\x1b[31mred' WHERE lot_id = 'JZ-SY-001'" >/dev/null
ctl lots show JZ-SY-001 >show.txt || pf_fail "lots show"
no_controls show.txt "lots show"
grep -qxF 'name                 \x1b]0;PWNED\x07\x1b[2K人民公园' show.txt ||
	pf_fail "lots show name: $(grep '^name' show.txt)"
grep -qxF 'address              line\x0abreak\u009b' show.txt ||
	pf_fail "lots show address: $(grep '^address' show.txt)"
grep -qxF 'version              \x1b[31mred' show.txt || pf_fail "lots show version"
ctl lots list >list.txt || pf_fail "lots list"
no_controls list.txt "lots list (table)"
grep -qF 'JZ-SY-001  \x1b]0;PWNED\x07\x1b[2K人民公园  山阳区' list.txt ||
	pf_fail "lots list table: $(cat list.txt)"
# CSV keeps the text as stored, in quotes; JSON escapes it as JSON does
ctl lots list --format csv >list.csv || pf_fail "lots list csv"
grep -qF 'JZ-SY-001,"' list.csv || pf_fail "CSV field not quoted: $(head -2 list.csv)"
python3 - list.csv <<-'PY' || pf_fail "CSV does not read back"
	import csv, sys
	rows = list(csv.reader(open(sys.argv[1], encoding="utf-8", newline="")))
	assert rows[1][1] == "\x1b]0;PWNED\x07\x1b[2K人民公园", rows[1]
	PY
ctl lots list --format json >list.json || pf_fail "lots list json"
no_controls list.json "lots list (json)"
grep -qF '"name":"\u001b]0;PWNED\u0007\u001b[2K人民公园"' list.json || pf_fail "json: $(cat list.json)"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d[0]["name"].startswith("\x1b]0;PWNED")' \
	list.json || pf_fail "JSON does not read back"
ctl progress --year 2023 --as-of 2023-12-31 >progress.txt || pf_fail "progress"
no_controls progress.txt "progress (overdue list)"
grep -qF '\x1b]0;PWNED\x07\x1b[2K人民公园' progress.txt || pf_fail "overdue name: $(cat progress.txt)"
ctl progress --year 2023 --as-of 2023-12-31 --format md >progress.md || pf_fail "progress md"
no_controls progress.md "progress (Markdown)"

# ---- a hostile CSV: a NUL is refused with its line; quoted content is escaped in errors -----
printf 'lot_id,name,district,spaces,deadline\nJZ-SY-002,ok,山阳区,1,\nJZ-SY-003,cut\0here,山阳区,1,\n' >nul.csv
if ctl lots import nul.csv 2>err.txt; then pf_fail "a CSV with a NUL byte was imported"; fi
grep -qF 'nul.csv:3: field 2 holds a NUL byte (on line 3)' err.txt || pf_fail "NUL: $(cat err.txt)"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.lots")" 1 "nothing of nul.csv applied"
printf 'lot_id,name,district,spaces,deadline\n\033]0;PWNED\007,x,山阳区,\033[2Jmany,\n' >esc.csv
if ctl lots import esc.csv 2>err.txt; then pf_fail "esc.csv was imported"; fi
no_controls err.txt "import errors"
grep -qF "esc.csv:2: lot_id '\\x1b]0;PWNED\\x07' is not 1..64" err.txt || pf_fail "echo: $(cat err.txt)"
grep -qF "spaces '\\x1b[2Jmany'" err.txt || pf_fail "echo of spaces: $(cat err.txt)"
pf_pass
