#!/usr/bin/env bash
# The Grafana dashboards (dashboards/grafana/): every SQL query, with Grafana's macros and
# variables filled in, runs as a login in parkfeed_reader (the PostgreSQL data source's)
# against a migrated database with data and rollups, and returns rows; every PromQL expression
# parses (promtool check rules on a generated rules file) and names only metrics parkfeedd
# exports; every panel uses one of the provisioned data sources.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
source "$PF_SOURCE_DIR/tests/lib/lifecycle.sh"
pf_env_init
command -v jq >/dev/null || pf_fail "jq is not installed (scripts/deps.sh)"
command -v promtool >/dev/null || pf_fail "promtool is not installed: package prometheus (scripts/deps.sh)"
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"
dir=$PF_SOURCE_DIR/dashboards/grafana
dashboards=("$dir"/dashboards/*.json)
(( ${#dashboards[@]} == 3 )) || pf_fail "expected 3 dashboards, found ${#dashboards[@]}"

# ---- data sources: the panels use only the provisioned ones -------------------------------
provisioned=$(grep -E '^\s+uid:' "$dir/provisioning/datasources.yaml" | awk '{print $2}' | sort -u)
used=$(jq -r '.. | objects | select(has("datasource")) | .datasource.uid' "${dashboards[@]}" | sort -u)
pf_assert_eq "$used" "$provisioned" "data sources used = provisioned"
grep -q "path: /usr/share/parkfeed/grafana/dashboards" "$dir/provisioning/dashboards.yaml" ||
	pf_fail "dashboards.yaml does not point where the dashboards are installed"

# ---- a database with data: 3 districts, 3 days, one lot silent since yesterday ------------
pf_lc_feed_setup
cat >lots.csv <<-'EOF'
	lot_id,name,district,spaces,deadline
	JZ-SY-001,人民公园,山阳区,300,2030-01-01
	JZ-SY-002,焦作站,山阳区,300,2030-01-01
	JZ-JF-001,解放广场,解放区,300,2030-01-01
	JZ-WX-001,温县一,温县,300,2030-01-01
	EOF
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null || pf_fail "lots import"
pf_lc_feed "JZ-SY-001 JZ-JF-001 JZ-WX-001" "$(pf_psql "SELECT now() - interval '3 days'")" \
	"$(pf_psql "SELECT now()")" '10 minutes' '0' >/dev/null
pf_lc_feed "JZ-SY-002" "$(pf_psql "SELECT now() - interval '3 days'")" \
	"$(pf_psql "SELECT now() - interval '1 day'")" '10 minutes' '0' >/dev/null
year=$(pf_psql "SELECT extract(year FROM now() AT TIME ZONE 'Asia/Shanghai')")
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" targets set "$year" 山阳区 5 >/dev/null || pf_fail "targets set"
"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" maintain >maintain.out 2>&1 || pf_fail "maintain: $(cat maintain.out)"

# ---- SQL: each query as the reader, over the last 7 days, district 山阳区 --------------------
from=$(pf_psql "SELECT to_char(now() - interval '7 days', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') ")
to=$(pf_psql "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
# Grafana's macros as its PostgreSQL data source expands them.
expand_sql() {
	sed -E -e "s/\\\$__timeFilter\(([^)]*)\)/\1 BETWEEN '$from' AND '$to'/g" \
		-e "s/\\\$__timeFrom\(\)/'$from'/g" -e "s/\\\$__timeTo\(\)/'$to'/g" \
		-e "s/\\\$district/山阳区/g"
}
n=0
while IFS= read -r -d '' item; do
	title=${item%%$'\t'*}
	q=$(expand_sql <<<"${item#*$'\t'}")
	[[ $q != *'$'* ]] || pf_fail "$title: a macro or variable this test does not know: $q"
	out=$(pf_psql_as "$PF_READER_CONNINFO" "$q" 2>&1) || pf_fail "$title: [$q] failed: $out"
	[[ -n $out ]] || pf_fail "$title: [$q] returned no rows"
	n=$(( n + 1 ))
done < <(jq -j '(.title) as $d |
	(.panels[] | .title as $p | .targets[] | select(.datasource.uid == "parkfeed-postgres")
	 | "\($d): \($p)\t\(.rawSql)\u0000"),
	(.templating.list[] | select(.datasource.uid == "parkfeed-postgres")
	 | "\($d): variable \(.name)\t\(.query)\u0000")' "${dashboards[@]}")
(( n >= 10 )) || pf_fail "only $n SQL queries found"
pf_log "$n SQL queries ran as parkfeed_reader and returned rows"

# ---- PromQL: each expression parses and names exported metrics -----------------------------
mapfile -d '' exprs < <(jq -j '(.panels[].targets[] | select(.datasource.uid == "parkfeed-prometheus")
	| "\(.expr)\u0000"),
	(.templating.list[] | select(.datasource.uid == "parkfeed-prometheus") | "\(.query.query)\u0000")' \
	"${dashboards[@]}")
(( ${#exprs[@]} >= 10 )) || pf_fail "only ${#exprs[@]} PromQL expressions found"
{
	echo "groups:"
	echo "  - name: parkfeed_dashboards"
	echo "    rules:"
	for i in "${!exprs[@]}"; do
		e=${exprs[$i]}
		# Grafana's label_values(metric, label) is a variable query, not PromQL: its metric is.
		[[ $e =~ ^label_values\(([a-z_]+),\ *[a-z_]+\)$ ]] && e=${BASH_REMATCH[1]}
		e=${e//\$__rate_interval/5m}
		e=${e//\$__range/1h}
		e=${e//\$instance/.*}
		[[ $e != *'$'* ]] || pf_fail "a Grafana variable this test does not know: ${exprs[$i]}"
		printf "      - record: parkfeed_dashboard:check_%d\n        expr: '%s'\n" "$i" "${e//\'/\'\'}"
	done
} >rules.yml
promtool check rules rules.yml >promtool.out 2>&1 || pf_fail "promtool: $(cat promtool.out)"
grep -q "SUCCESS: ${#exprs[@]} rules found" promtool.out || pf_fail "promtool: $(cat promtool.out)"
# the check does parse: a broken expression is refused
printf 'groups:\n  - name: x\n    rules:\n      - record: x:y\n        expr: sum(rate(parkfeed_up[5m])\n' >broken.yml
promtool check rules broken.yml >/dev/null 2>&1 && pf_fail "promtool accepted a broken expression"
for m in $(printf '%s\n' "${exprs[@]}" | grep -oE 'parkfeed_[a-z_]+' | sed -E 's/_(bucket|sum|count)$//' | sort -u); do
	grep -q "\"$m\"" "$PF_SOURCE_DIR"/daemon/*.c || pf_fail "dashboards use $m, which parkfeedd does not export"
done
pf_log "${#exprs[@]} PromQL expressions parse and name exported metrics"
pf_pass
