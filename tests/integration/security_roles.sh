#!/usr/bin/env bash
# The permission matrix: what each login role (daemon, operator, reader, district staff) may and
# may not do in the parking schema, printed as a table; district staff see only their district.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

conn_of() { echo "host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=$1"; }
ctl_as() { "$PF_CTL" -d "$(conn_of "$1")" "${@:2}"; }

# ---- migrate stays idempotent with 002 ----------------------------------------------------
"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" migrate >again.out 2>&1 || pf_fail "second migrate: $(cat again.out)"
grep -q '^applied' again.out && pf_fail "second migrate applied something: $(cat again.out)"
pf_assert_eq "$(pf_psql "SELECT string_agg(version::text, ',' ORDER BY version)
	FROM parking.schema_migrations")" \
	"$(cd "$PF_SOURCE_DIR/schema" && ls [0-9][0-9][0-9]_*.sql | sed -E 's/^0*([0-9]+)_.*/\1/' | paste -sd,)" \
	"migrations recorded"

# ---- data: three lots in two districts, fed through the daemon's own interface -------------
cat >lots.csv <<-'EOF'
lot_id,name,district,spaces,deadline
JZ-SY-001,人民公园,山阳区,320,2023-06-30
JZ-SY-002,焦作站,山阳区,200,2023-09-30
JZ-JF-001,解放广场,解放区,150,2023-12-31
EOF
ctl_as pf_operator lots import lots.csv >/dev/null || pf_fail "lots import as operator"
t0=1687132805000000   # 2023-06-19T00:00:05Z
pf_psql_as "$PF_DAEMON_CONNINFO" "SELECT parking.ingest_occupancy(
	ARRAY['JZ-SY-001','JZ-SY-002','JZ-JF-001','JZ-JF-001'],
	ARRAY[$t0,$t0,$t0,$t0 + 60000000]::bigint[], ARRAY[$t0,$t0,$t0,$t0 + 60000000]::bigint[],
	ARRAY[320,200,150,150], ARRAY[70,20,15,14], ARRAY[250,180,135,136],
	ARRAY['open','open','open','open'], ARRAY[1,1,1,2]::bigint[],
	ARRAY['native','native','native','native'])" >/dev/null || pf_fail "ingest as pf_daemon with RLS on"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy")" 4 "ingest stored every row"
pf_assert_eq "$(pf_psql "SELECT string_agg(lot_id || ':' || stage, ' ' ORDER BY lot_id)
	FROM parking.lots")" "JZ-JF-001:connected JZ-SY-001:connected JZ-SY-002:connected" \
	"ingest connected the lots"

# ---- district staff logins -----------------------------------------------------------------
pf_psql "CREATE ROLE pf_district_sy LOGIN; CREATE ROLE pf_district_jf LOGIN;
	CREATE ROLE pf_nologin NOLOGIN; CREATE ROLE pf_creator LOGIN CREATEROLE;
	CREATE ROLE pf_readall LOGIN IN ROLE pg_read_all_data; CREATE ROLE pf_replica LOGIN REPLICATION" \
	>/dev/null
ctl_as pf_operator access grant pf_district_sy 山阳区 >grant.out || pf_fail "access grant"
pf_assert_eq "$(cat grant.out)" "pf_district_sy: may see 山阳区" "grant output"
ctl_as pf_operator access grant pf_district_sy 山阳区 >grant2.out || pf_fail "access grant again"
pf_assert_eq "$(cat grant2.out)" "pf_district_sy: may see 山阳区 (granted already)" "grant again"
ctl_as pf_operator access grant pf_district_jf 解放区 >/dev/null || pf_fail "access grant jf"

# refusals of grant itself, each with a one-line reason
refuse() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		pf_fail "[$*] succeeded, expected a refusal /$want/"
	fi
	[[ $out == *"$want"* ]] || pf_fail "[$*] said [$out], expected /$want/"
	(( $(wc -l <<<"$out") == 1 )) || pf_fail "[$*] error is not one line: [$out]"
}
refuse "member of parkfeed_operator" ctl_as pf_operator access grant pf_operator 山阳区
refuse "no role nobody" ctl_as pf_operator access grant nobody 山阳区
refuse "cannot log in" ctl_as pf_operator access grant pf_nologin 山阳区
refuse "bypasses row-level security" ctl_as pf_operator access grant postgres 山阳区
# roles that reach past row-level security another way: grant themselves roles, read every
# table (partitions have no policies), stream the cluster
refuse "role pf_creator has CREATEROLE" ctl_as pf_operator access grant pf_creator 山阳区
refuse "role pf_readall is a member of pg_read_all_data" ctl_as pf_operator access grant pf_readall 山阳区
refuse "role pf_replica has REPLICATION" ctl_as pf_operator access grant pf_replica 山阳区
refuse "no lot and no target in district 山羊区" ctl_as pf_operator access grant pf_district_sy 山羊区
refuse "permission denied" ctl_as pf_reader access grant pf_district_sy 解放区
refuse "permission denied" ctl_as pf_district_sy access grant pf_district_sy 解放区
refuse "has no grant" ctl_as pf_operator access revoke pf_district_sy 解放区

ctl_as pf_operator access list --format csv >list.csv || pf_fail "access list"
pf_assert_eq "$(cut -d, -f1-3 list.csv)" "role,district,lots
pf_district_jf,解放区,1
pf_district_sy,山阳区,2" "access list"

# ---- the matrix ----------------------------------------------------------------------------
roles=(pf_daemon pf_operator pf_reader pf_district_sy)
# label | SQL (run inside BEGIN ... ROLLBACK) | expected per role, in the order above
# (y = succeeds, n = permission denied)
matrix=(
	"SELECT lots|SELECT count(*) FROM parking.lots|n y n y"
	"SELECT lot_state|SELECT count(*) FROM parking.lot_state|n y n y"
	"SELECT occupancy|SELECT count(*) FROM parking.occupancy|n y n y"
	"SELECT a partition directly|SELECT count(*) FROM parking.occupancy_default|n y n n"
	"SELECT stage_history|SELECT count(*) FROM parking.stage_history|n y n y"
	"SELECT rejected|SELECT count(*) FROM parking.rejected|n y n n"
	"SELECT district_targets|SELECT count(*) FROM parking.district_targets|n y n n"
	"SELECT district_grants|SELECT count(*) FROM parking.district_grants|n y n y"
	"SELECT access_history|SELECT count(*) FROM parking.access_history|n y n n"
	"SELECT lot_history|SELECT count(*) FROM parking.lot_history|n y n n"
	"SELECT lot_availability (view)|SELECT count(*) FROM parking.lot_availability|n y y n"
	"SELECT district_progress (view)|SELECT count(*) FROM parking.district_progress|n y y n"
	"SELECT my_lot_availability|SELECT count(*) FROM parking.my_lot_availability|n y n y"
	"INSERT lots|INSERT INTO parking.lots (lot_id) VALUES ('X-1')|n n n n"
	"UPDATE lots.stage (direct)|UPDATE parking.lots SET stage = 'accepted'|n n n n"
	"UPDATE lots.connected_at|UPDATE parking.lots SET connected_at = now()|n n n n"
	"UPDATE lots.name|UPDATE parking.lots SET name = 'x' WHERE lot_id = 'JZ-SY-001'|n y n n"
	"DELETE lots|DELETE FROM parking.lots|n n n n"
	"TRUNCATE lots|TRUNCATE parking.lots CASCADE|n n n n"
	"INSERT occupancy|INSERT INTO parking.occupancy VALUES ('JZ-SY-001', now(), now(), 1, 1, 0, NULL, NULL, NULL)|n n n n"
	"UPDATE occupancy|UPDATE parking.occupancy SET free = 0|n n n n"
	"DELETE occupancy|DELETE FROM parking.occupancy|n n n n"
	"TRUNCATE occupancy|TRUNCATE parking.occupancy|n n n n"
	"UPDATE lot_state|UPDATE parking.lot_state SET free = 0|n n n n"
	"DELETE rejected|DELETE FROM parking.rejected|n n n n"
	"UPDATE stage_history|UPDATE parking.stage_history SET actor = 'x'|n n n n"
	"DELETE stage_history|DELETE FROM parking.stage_history|n n n n"
	"INSERT district_grants (self)|INSERT INTO parking.district_grants VALUES (current_user, '解放区', now(), 'me')|n n n n"
	"DELETE access_history|DELETE FROM parking.access_history|n n n n"
	"INSERT lot_history|INSERT INTO parking.lot_history (lot_id, field, actor) VALUES ('JZ-SY-001', 'name', 'x')|n n n n"
	"DELETE lot_history|DELETE FROM parking.lot_history|n n n n"
	"INSERT district_targets|INSERT INTO parking.district_targets VALUES (2023, '山阳区', 1)|n n n n"
	"CREATE TABLE in parking|CREATE TABLE parking.x (i int)|n n n n"
	"CREATE FUNCTION in parking|CREATE FUNCTION parking.f() RETURNS int LANGUAGE sql AS 'SELECT 1'|n n n n"
	"ALTER TABLE lots|ALTER TABLE parking.lots ADD COLUMN x int|n n n n"
	"DISABLE ROW LEVEL SECURITY|ALTER TABLE parking.lots DISABLE ROW LEVEL SECURITY|n n n n"
	"DROP POLICY|DROP POLICY district_granted ON parking.lots|n n n n"
	"DROP TABLE rejected|DROP TABLE parking.rejected|n n n n"
	"SET ROLE parkfeed_owner|SET ROLE parkfeed_owner|n n n n"
	"ingest_occupancy()|SELECT parking.ingest_occupancy(ARRAY['JZ-SY-001'], ARRAY[$t0 + 1]::bigint[], ARRAY[$t0]::bigint[], ARRAY[1], ARRAY[1], ARRAY[0], ARRAY[NULL]::text[], ARRAY[NULL]::bigint[], ARRAY['native'])|y n n n"
	"ingest_rejected()|SELECT parking.ingest_rejected(ARRAY[$t0]::bigint[], ARRAY['t'], ARRAY['JZ-SY-001'], ARRAY['json_syntax'], ARRAY['d'], ARRAY['\\x00']::bytea[], ARRAY[1])|y n n n"
	"set_stage()|SELECT parking.set_stage('JZ-SY-001', 'accepted', NULL, 'test', NULL)|n y n n"
	"set_target()|SELECT parking.set_target(2023, '山阳区', 5, 'test')|n y n n"
	"import_lots()|SELECT * FROM parking.import_lots(ARRAY['X-2'], ARRAY['x'], ARRAY['山阳区'], ARRAY[1], ARRAY[NULL]::date[], ARRAY[NULL]::parking.stage[], ARRAY[NULL]::timestamptz[], 'test')|n y n n"
	"grant_district()|SELECT parking.grant_district('pf_district_jf', '山阳区', 'test')|n y n n"
	"maintain_partitions()|SELECT count(*) FROM parking.maintain_partitions(0, 1)|n n n n"
	"SELECT ingest_limits|SELECT count(*) FROM parking.ingest_limits|n y n n"
	"UPDATE ingest_limits (direct)|UPDATE parking.ingest_limits SET max_unregistered_lots = 0|n n n n"
	"set_ingest_limits()|SELECT parking.set_ingest_limits(1, 1, 1, 'test')|n y n n"
	"set_ingest_bounds()|SELECT parking.set_ingest_bounds(1, 1, 1, 'test')|n y n n"
	"store_occupancy() (behind ingest_occupancy)|SELECT parking.store_occupancy(ARRAY['JZ-SY-001'], ARRAY[$t0 + 2]::bigint[], ARRAY[$t0]::bigint[], ARRAY[1], ARRAY[1], ARRAY[0], ARRAY[NULL]::text[], ARRAY[NULL]::bigint[], ARRAY['native'])|n n n n"
	"refuse_unknown_lots()|SELECT parking.refuse_unknown_lots(ARRAY['X-9'], ARRAY[$t0]::bigint[])|n n n n"
)

# try CONNINFO SQL: prints y (succeeded), n (permission denied) or the unexpected error
try() {
	local out rc=0
	out=$(psql -XAtq -v ON_ERROR_STOP=1 -d "$1" 2>&1 <<-EOF
	SET client_min_messages = warning;
	BEGIN;
	$2;
	ROLLBACK;
	EOF
	) || rc=$?
	if (( rc == 0 )); then
		echo y
	elif grep -Eq 'permission denied|must be owner' <<<"$out"; then
		echo n
	else
		echo "error: $(grep -m1 ERROR <<<"$out")"
	fi
}

w=34
{
	printf '\n%-*s' "$w" "permission matrix"
	for r in "${roles[@]}"; do printf ' %-14s' "$r"; done
	printf '\n%s\n' "$(printf -- '-%.0s' $(seq 1 $(( w + 15 * ${#roles[@]} ))))"
	for row in "${matrix[@]}"; do
		label=${row%%|*}
		rest=${row#*|}
		sql=${rest%|*}
		read -r -a want <<<"${rest##*|}"
		printf '%-*s' "$w" "$label"
		for i in "${!roles[@]}"; do
			got=$(try "$(conn_of "${roles[$i]}")" "$sql")
			cell=$([[ $got == y ]] && echo allowed || echo denied)
			[[ $got == "${want[$i]}" ]] || cell="$cell (WRONG: $got)"
			printf ' %-14s' "$cell"
		done
		printf '\n'
	done
	printf '(pf_daemon = parkfeed_ingest, pf_operator = parkfeed_operator, pf_reader = '
	printf 'parkfeed_reader, pf_district_sy = parkfeed_district granted 山阳区)\n\n'
} | tee matrix.txt
bad=()
while IFS= read -r line; do
	[[ $line == *"(WRONG)"* ]] && bad+=("$line")
done <matrix.txt
(( ${#bad[@]} == 0 )) || pf_fail "permission matrix differs in ${#bad[@]} cell(s): ${bad[*]}"

# ---- what each one sees ------------------------------------------------------------------
see() { pf_psql_as "$(conn_of "$1")" "$2"; }
lots_sql="SELECT string_agg(lot_id, ' ' ORDER BY lot_id) FROM"
pf_assert_eq "$(see pf_district_sy "$lots_sql parking.lots")" "JZ-SY-001 JZ-SY-002" "sy: lots"
pf_assert_eq "$(see pf_district_sy "$lots_sql parking.my_lots")" "JZ-SY-001 JZ-SY-002" "sy: my_lots"
pf_assert_eq "$(see pf_district_sy "$lots_sql parking.my_lot_availability")" "JZ-SY-001 JZ-SY-002" \
	"sy: my_lot_availability"
pf_assert_eq "$(see pf_district_sy "$lots_sql parking.lot_state")" "JZ-SY-001 JZ-SY-002" "sy: lot_state"
pf_assert_eq "$(see pf_district_sy "$lots_sql parking.occupancy")" "JZ-SY-001 JZ-SY-002" "sy: occupancy"
pf_assert_eq "$(see pf_district_sy "SELECT count(*) FROM parking.stage_history
	WHERE lot_id NOT LIKE 'JZ-SY-%'")" 0 "sy: stage_history"
pf_assert_eq "$(see pf_district_sy "SELECT string_agg(district || '=' || free, ' ')
	FROM parking.my_district_availability")" "" "sy: old data is not online"
pf_assert_eq "$(see pf_district_sy "SELECT string_agg(role_name || ':' || district, ' ')
	FROM parking.district_grants")" "pf_district_sy:山阳区" "sy: only its own grants"
pf_assert_eq "$(see pf_district_jf "$lots_sql parking.occupancy")" "JZ-JF-001 JZ-JF-001" "jf: occupancy"
pf_assert_eq "$(see pf_district_jf "SELECT count(*) FROM parking.lots WHERE district = '山阳区'")" 0 \
	"jf: a WHERE naming another district finds nothing"
# the operator CLI's read commands work for district staff too, limited the same way
ctl_as pf_district_sy lots list --format csv >sy_list.csv || pf_fail "lots list as district staff"
pf_assert_eq "$(tail -n +2 sy_list.csv | cut -d, -f1 | sort | tr '\n' ' ')" "JZ-SY-001 JZ-SY-002 " \
	"lots list as district staff"
ctl_as pf_district_sy lots show JZ-JF-001 >/dev/null 2>&1 && pf_fail "lots show of another district"
pf_assert_eq "$(see pf_operator "SELECT count(*) FROM parking.lots")" 3 "operator: every lot"
pf_assert_eq "$(see pf_operator "SELECT count(*) FROM parking.occupancy")" 4 "operator: every row"
pf_assert_eq "$(see pf_reader "SELECT count(*) FROM parking.lot_availability")" 3 "reader: every lot"
denied() {
	local out
	out=$(see "$@" 2>&1) && pf_fail "[$2] as $1 succeeded, expected permission denied"
	[[ $out == *"permission denied"* ]] || pf_fail "[$2] as $1 said [$out], expected permission denied"
}
denied pf_district_sy "SET ROLE pf_district_jf"

# a lot moving to another district moves out of sight
pf_psql_as "$PF_OPERATOR_CONNINFO" "UPDATE parking.lots SET district = '解放区'
	WHERE lot_id = 'JZ-SY-002'" >/dev/null
pf_assert_eq "$(see pf_district_sy "$lots_sql parking.occupancy")" "JZ-SY-001" "sy after the move"
pf_assert_eq "$(see pf_district_jf "SELECT count(*) FROM parking.occupancy")" 3 "jf after the move"

# ---- revoke: rows and then the privileges go ----------------------------------------------
ctl_as pf_operator access revoke pf_district_sy 山阳区 >revoke.out || pf_fail "access revoke"
pf_assert_eq "$(cat revoke.out)" "pf_district_sy: may no longer see 山阳区" "revoke output"
denied pf_district_sy "SELECT count(*) FROM parking.lots"
pf_assert_eq "$(pf_psql "SELECT pg_has_role('pf_district_sy', 'parkfeed_district', 'MEMBER')")" f \
	"membership revoked with the last district"
pf_assert_eq "$(pf_psql "SELECT string_agg(action || ':' || role_name || ':' || district || ':'
	|| (actor <> '') || ':' || db_user, ' ' ORDER BY id) FROM parking.access_history")" \
	"grant:pf_district_sy:山阳区:true:pf_operator grant:pf_district_jf:解放区:true:pf_operator revoke:pf_district_sy:山阳区:true:pf_operator" \
	"audit trail"

# ---- ingest is untouched by row-level security: the daemon's login still stores everything -
pf_psql_as "$PF_DAEMON_CONNINFO" "SELECT parking.ingest_occupancy(ARRAY['JZ-NEW-1'],
	ARRAY[$t0]::bigint[], ARRAY[$t0]::bigint[], ARRAY[10], ARRAY[1], ARRAY[9], ARRAY['open'],
	ARRAY[NULL]::bigint[], ARRAY['native'])" >/dev/null || pf_fail "ingest of a new lot"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy")" 5 "new lot stored"
pf_assert_eq "$(see pf_district_jf "SELECT count(*) FROM parking.lots WHERE lot_id = 'JZ-NEW-1'")" 0 \
	"a lot of unknown district is nobody's"

pf_pass
