#!/usr/bin/env bash
# Registry changes are audited whoever makes them: lots import, lots set and an operator's own
# UPDATE each leave a row per changed field in parking.lot_history with the actor (what
# parkfeedctl names, else the login) and the login; a lot moved to another district is on
# record. lots import --dry-run shows what an import would change, district moves first, and
# changes nothing. Ingest never writes there; nobody but the trigger does.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }
op() { pf_psql_as "$PF_OPERATOR_CONNINFO" "$@"; }
actor=${SUDO_USER:-$(id -un)}   # as parkfeedctl names the person running it
history() {
	pf_psql "SELECT string_agg(concat_ws(':', lot_id, field, coalesce(old_value, '-'),
		coalesce(new_value, '-'), actor, db_user), ' | ' ORDER BY id) FROM parking.lot_history
		WHERE id > ${1:-0}"
}
last_id() { pf_psql "SELECT coalesce(max(id), 0) FROM parking.lot_history"; }

printf 'lot_id,name,district,spaces,deadline\nJZ-SY-001,人民公园,山阳区,320,2023-06-30\nJZ-SY-002,焦作站,山阳区,,\n' >lots.csv
ctl lots import lots.csv >/dev/null
pf_assert_eq "$(history)" "JZ-SY-001:district:-:山阳区:$actor:pf_operator | JZ-SY-001:name:-:人民公园:$actor:pf_operator | JZ-SY-001:spaces:-:320:$actor:pf_operator | JZ-SY-001:deadline:-:2023-06-30:$actor:pf_operator | JZ-SY-001:expected_interval_s:-:60:$actor:pf_operator | JZ-SY-002:district:-:山阳区:$actor:pf_operator | JZ-SY-002:name:-:焦作站:$actor:pf_operator | JZ-SY-002:expected_interval_s:-:60:$actor:pf_operator" \
	"a new lot's initial values"

# lots set: the actor parkfeedctl names
id=$(last_id)
ctl lots set JZ-SY-001 district=解放区 lon=113.24 lat=35.21 >/dev/null
pf_assert_eq "$(history "$id")" "JZ-SY-001:district:山阳区:解放区:$actor:pf_operator | JZ-SY-001:lon:-:113.24:$actor:pf_operator | JZ-SY-001:lat:-:35.21:$actor:pf_operator" \
	"lots set"
# an operator's own UPDATE: the login, or the actor its transaction names
id=$(last_id)
op "UPDATE parking.lots SET district = '马村区', spaces = 300 WHERE lot_id = 'JZ-SY-001'" >/dev/null
op "BEGIN; SET LOCAL parkfeed.actor = 'alice'; UPDATE parking.lots SET address = '民主路 1 号'
	WHERE lot_id = 'JZ-SY-002'; COMMIT" >/dev/null
op "UPDATE parking.lots SET name = name WHERE lot_id = 'JZ-SY-002'" >/dev/null
pf_assert_eq "$(history "$id")" "JZ-SY-001:district:解放区:马村区:pf_operator:pf_operator | JZ-SY-001:spaces:320:300:pf_operator:pf_operator | JZ-SY-002:address:-:民主路 1 号:alice:pf_operator" \
	"direct UPDATEs, an unchanged value leaves no row"

# nobody writes the trail but the trigger; operators read it, nobody else
for who in "$PF_OPERATOR_CONNINFO" "$PF_DAEMON_CONNINFO" "$PF_READER_CONNINFO"; do
	for sql in "INSERT INTO parking.lot_history (lot_id, field, actor) VALUES ('JZ-SY-001', 'name', 'x')" \
		"UPDATE parking.lot_history SET actor = 'x'" "DELETE FROM parking.lot_history" \
		"TRUNCATE parking.lot_history"; do
		if err=$(pf_psql_as "$who" "$sql" 2>&1); then pf_fail "[$who] could: $sql"; fi
		[[ $err == *"permission denied"* ]] || pf_fail "[$who] $sql: $err"
	done
done
op "SELECT count(*) FROM parking.lot_history" >/dev/null || pf_fail "operators read lot_history"
for who in "$PF_DAEMON_CONNINFO" "$PF_READER_CONNINFO"; do
	if pf_psql_as "$who" "SELECT count(*) FROM parking.lot_history" >/dev/null 2>&1; then
		pf_fail "[$who] reads lot_history"
	fi
done

# ingest moves stages and reports status: no registry change, no row
id=$(last_id)
t=$(pf_psql "SELECT (extract(epoch FROM now()) * 1000000)::bigint")
pf_psql_as "$PF_DAEMON_CONNINFO" "SELECT parking.ingest_occupancy(ARRAY['JZ-SY-002','NEW-1'],
	ARRAY[$t,$t]::bigint[], ARRAY[$t,$t]::bigint[], ARRAY[10,10], ARRAY[1,1], ARRAY[9,9],
	ARRAY[NULL,NULL]::text[], ARRAY[NULL,NULL]::bigint[], ARRAY['native','native'])" >/dev/null
pf_psql_as "$PF_DAEMON_CONNINFO" "SELECT parking.ingest_status(ARRAY['JZ-SY-002'], ARRAY[$t]::bigint[],
	ARRAY[true], ARRAY['sys'], ARRAY['1'], ARRAY['parkfeed/1'], ARRAY[true])" >/dev/null
pf_assert_eq "$(history "$id")" "" "ingest leaves no registry history"

# ---- import --dry-run: what would change, district moves first; nothing changes ------------
snapshot() {
	pf_psql "SELECT md5(string_agg(l::text, ',' ORDER BY lot_id)) FROM parking.lots l"
	pf_psql "SELECT count(*) FROM parking.lot_history"
	pf_psql "SELECT count(*) FROM parking.stage_history"
}
snapshot >before.txt
cat >move.csv <<-'EOF'
lot_id,name,district,spaces,deadline,stage,stage_at
JZ-SY-002,焦作站北广场,解放区,210,,upgrading,2023-05-01
JZ-SY-001,人民公园,马村区,300,2023-06-30,,
NEW-1,新发现,温县,,,,
JZ-NEW-9,新停车场,中站区,40,2023-12-31,,
EOF
ctl lots import --dry-run move.csv >dry.txt || pf_fail "dry run: $(cat dry.txt)"
snapshot >after.txt
cmp -s before.txt after.txt || pf_fail "the dry run changed the database"
pf_assert_eq "$(sed -n 3,8p dry.txt | tr -s ' ')" "JZ-SY-002 district 山阳区 解放区
NEW-1 district 温县
JZ-SY-002 name 焦作站 焦作站北广场
JZ-SY-002 spaces 210
NEW-1 name 新发现
JZ-NEW-9 new lot district 中站区, name 新停车场, spaces 40, deadline 2023-12-31, expected_interval_s 60" \
	"dry run lists the changes, district moves first"
pf_assert_eq "$(head -1 dry.txt | tr -s ' ')" "lot_id change old new" "dry run header"
pf_assert_eq "$(tail -1 dry.txt)" \
	"move.csv: dry run: 4 lots (1 new, 3 updated), 2 district change(s), 0 stage change(s); 1 rows' stages are behind the registry and would be kept; nothing was changed" \
	"dry run summary"
# the real import records exactly that
id=$(last_id)
ctl lots import move.csv >/dev/null
pf_assert_eq "$(pf_psql "SELECT string_agg(lot_id || ':' || field, ' ' ORDER BY id) FROM parking.lot_history
	WHERE id > $id")" \
	"JZ-NEW-9:district JZ-NEW-9:name JZ-NEW-9:spaces JZ-NEW-9:deadline JZ-NEW-9:expected_interval_s JZ-SY-002:district JZ-SY-002:name JZ-SY-002:spaces NEW-1:district NEW-1:name" \
	"the import's rows"
pf_assert_eq "$(pf_psql "SELECT district FROM parking.lots WHERE lot_id = 'JZ-SY-002'")" 解放区 \
	"applied"
# positions and addresses an import sets are in the dry run and the trail alike
printf 'lot_id,name,district,spaces,deadline,lon,lat,address\nJZ-SY-001,人民公园,马村区,300,2023-06-30,113.25,35.22,民主路 9 号\n' >pos.csv
ctl lots import --dry-run pos.csv >dry.txt || pf_fail "dry run with positions: $(cat dry.txt)"
pf_assert_eq "$(sed -n 3,5p dry.txt | tr -s ' ')" "JZ-SY-001 lon 113.24 113.25
JZ-SY-001 lat 35.21 35.22
JZ-SY-001 address 民主路 9 号" "dry run of a position and an address"
id=$(last_id)
ctl lots import pos.csv >/dev/null
pf_assert_eq "$(history "$id")" "JZ-SY-001:lon:113.24:113.25:$actor:pf_operator | JZ-SY-001:lat:35.21:35.22:$actor:pf_operator | JZ-SY-001:address:-:民主路 9 号:$actor:pf_operator" \
	"an import's positions and addresses are audited"
if ctl lots import --force move.csv 2>err.txt; then pf_fail "an unknown option was taken"; fi
grep -q "optionally --dry-run" err.txt || pf_fail "usage: $(cat err.txt)"
pf_pass
