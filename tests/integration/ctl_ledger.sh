#!/usr/bin/env bash
# parkfeedctl progress: import a few thousand lots with history across the 11 districts, set
# targets, and check every number, rank and the total row of the ledger (csv, json, md)
# against values computed here independently, at several --as-of cutoffs.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
export LC_ALL=C.UTF-8
cd "$PF_TMP"

ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }

# ---- the lots: lots.csv to import; truth.tsv: district, deadline, stage, local day reached
awk -v n=3300 'BEGIN {
	split("沁阳市 孟州市 温县 博爱县 武陟县 修武县 解放区 山阳区 马村区 中站区 高新区", D, " ")
	split("planned upgrading upgraded connected accepted", S, " ")
	print "lot_id,name,district,spaces,deadline,stage,stage_at" > "lots.csv"
	srand(20230619)
	for (i = 1; i <= n; i++) {
		k = i % 11 + 1
		d = D[k]
		dl = sprintf("%d-%02d-%02d", 2022 + (i * 7) % 3, (i * 5) % 12 + 1, (i * 3) % 28 + 1)
		# districts differ in how far they are: 0.3 .. 0.8 of lots connected or accepted
		x = rand()
		s = x < 0.3 + k * 0.05 ? (rand() < 0.7 ? "connected" : "accepted") : S[int(rand() * 3) + 1]
		at = sprintf("%d-%02d-%02d", 2022 + (i % 2), (i * 11) % 12 + 1, (i * 17) % 28 + 1)
		name = "停车场" i "号"
		if (i % 97 == 0)
			name = "\"Lot, \"\"" i "\"\"\""
		sat = (s == "planned" && i % 2) ? "" : at
		printf "JZ-%05d,%s,%s,%d,%s,%s,%s\r\n", i, name, d, 50 + i % 400, dl, s, sat > "lots.csv"
		printf "%s\t%s\t%s\t%s\n", d, dl, s, at > "truth.tsv"
	}
	# either side of the end of 2023-06-30 in Asia/Shanghai
	print "JZ-EDGE-1,edge one,高新区,10,2023-06-01,connected,2023-06-30 23:59:59" > "lots.csv"
	print "JZ-EDGE-2,edge two,高新区,10,2023-06-01,connected,2023-06-30T16:00:00Z" > "lots.csv"
	printf "高新区\t2023-06-01\tconnected\t2023-06-30\n" > "truth.tsv"
	printf "高新区\t2023-06-01\tconnected\t2023-07-01\n" > "truth.tsv"
}'

out=$(ctl lots import lots.csv) || pf_fail "import failed"
pf_log "$out"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.lots")" 3302 "lots imported"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.stage_history WHERE actor = 'import'")" \
	"$(awk -F'\t' '$3 != "planned"' truth.tsv | wc -l)" "one history row per imported stage"
pf_assert_eq "$(pf_psql "SELECT name FROM parking.lots WHERE lot_id = 'JZ-00097'")" \
	'Lot, "97"' "quoted name"
# importing the same file again changes nothing
out=$(ctl lots import lots.csv)
[[ $out == *"0 new, 3302 updated), 0 stage changes"* ]] || pf_fail "re-import: $out"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.stage_history")" \
	"$(awk -F'\t' '$3 != "planned"' truth.tsv | wc -l)" "re-import writes no history"

# ---- targets: nine explicit ones for 2023 (one zero); 马村区 and 高新区 use their deadlines
printf '%s\n' 沁阳市:300 孟州市:100 温县:280 博爱县:150 武陟县:350 修武县:20 解放区:310 \
	山阳区:290 中站区:0 >targets.txt
while IFS=: read -r d t; do
	ctl targets set 2023 "$d" "$t" >/dev/null || pf_fail "targets set $d"
done <targets.txt
ctl targets set 2023 温县 1 >/dev/null
ctl targets set 2023 温县 280 >/dev/null
ctl targets set 2024 温县 999 >/dev/null
pf_assert_eq "$(pf_psql "SELECT string_agg(coalesce(old_target::text, '-') || '>' || target, ' '
	ORDER BY id) FROM parking.target_history WHERE district = '温县'")" \
	"->280 280>1 1>280 ->999" "target audit rows"
pf_assert_eq "$(pf_psql "SELECT count(DISTINCT actor) FROM parking.target_history")" 1 \
	"targets audited with the actor"
pf_assert_eq "$(ctl targets list --year 2023 --format csv | head -2)" \
	"$(printf 'year,district,target\n2023,中站区,0')" "targets list"

# ---- the expected ledger, computed from truth.tsv and targets.txt
expected() {   # expected YEAR AS_OF -> csv rows (no header), then "total,...", sorted as shown
	awk -F'\t' -v year="$1" -v asof="$2" '
	FILENAME == "targets.txt" { split($0, kv, ":"); tgt[kv[1]] = kv[2]; has[kv[1]] = 1; next }
	{
		if (substr($2, 1, 4) == year) due[$1]++
		if (($3 == "connected" || $3 == "accepted") && $4 <= asof) done[$1]++
		seen[$1] = 1
	}
	END {
		for (d in seen) if (!(d in has) && due[d] > 0) { tgt[d] = due[d]; has[d] = 1 }
		n = 0
		for (d in has) { n++; name[n] = d; t[n] = tgt[d] + 0; c[n] = done[d] + 0
			r[n] = t[n] > 0 ? int((c[n] * 20000 + t[n]) / (2 * t[n])) : -1
			capped[n] = r[n] > 10000 ? 10000 : r[n]
			T += t[n]; C += c[n] }
		for (i = 1; i <= n; i++) {
			cr = 1; rr = 1
			for (j = 1; j <= n; j++) { if (c[j] > c[i]) cr++; if (capped[j] > capped[i]) rr++ }
			rate = r[i] < 0 ? "-" : sprintf("%d.%02d%%", int(r[i] / 100), r[i] % 100)
			printf "%d\t%s,%d,%d,%d,%s,%d\n", cr, name[i], t[i], c[i], cr, rate, rr | "LC_ALL=C sort -t\"\t\" -k1,1n -k2,2 | cut -f2"
		}
		close("LC_ALL=C sort -t\"\t\" -k1,1n -k2,2 | cut -f2")
		tr = T > 0 ? int((C * 20000 + T) / (2 * T)) : -1
		printf "total,%d,%d,,%s,\n", T, C, tr < 0 ? "-" : sprintf("%d.%02d%%", int(tr / 100), tr % 100)
	}' targets.txt truth.tsv
}

header="district,target,completed,completed_rank,rate,rate_rank"
for as_of in 2023-06-30 2023-07-01 2023-03-15 2022-12-31 2023-12-31; do
	want=$(expected 2023 "$as_of")
	got=$(ctl progress --year 2023 --as-of "$as_of" --format csv) || pf_fail "progress $as_of"
	pf_assert_eq "$got" "$header"$'\n'"$want" "progress csv as of $as_of"
done
pf_log "ledger as of 2023-06-30:"$'\n'"$(ctl progress --year 2023 --as-of 2023-06-30 --format csv)"

# the cutoff is the end of the day in Asia/Shanghai: EDGE-1 counts on 06-30, EDGE-2 on 07-01
c630=$(ctl progress --year 2023 --as-of 2023-06-30 --format csv | grep '^高新区' | cut -d, -f3)
c701=$(ctl progress --year 2023 --as-of 2023-07-01 --format csv | grep '^高新区' | cut -d, -f3)
edge=$(awk -F'\t' '$1 == "高新区" && ($3 == "connected" || $3 == "accepted") && $4 == "2023-07-01"' truth.tsv | wc -l)
pf_assert_eq "$((c701 - c630))" "$edge" "as-of cutoff at midnight Asia/Shanghai"

# json: same numbers
json=$(ctl progress --year 2023 --as-of 2023-06-30 --format json)
want_json=$(expected 2023 2023-06-30 | awk -F, -v q='"' '
	$1 != "total" { rows = rows (rows ? ",\n  " : "\n  ") "{" q "district" q ":" q $1 q ",\"target\":" $2 ",\"completed\":" $3 ",\"completed_rank\":" $4 ",\"rate\":" ($5 == "-" ? "null" : q $5 q) ",\"rate_rank\":" $6 "}" }
	$1 == "total" { total = "{\"district\":\"total\",\"target\":" $2 ",\"completed\":" $3 ",\"rate\":" ($5 == "-" ? "null" : q $5 q) "}" }
	END { printf "{\"year\":2023,\"as_of\":\"2023-06-30\",\"rows\":[%s],\n\"total\":%s}\n", rows, total }')
pf_assert_eq "$json" "$want_json" "progress json"
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["rows"]) == 11' <<<"$json" ||
		pf_fail "json does not parse"
fi

# zh csv: Chinese header and 合计
zh=$(ctl progress --year 2023 --as-of 2023-06-30 --format csv --lang zh)
pf_assert_eq "$(head -1 <<<"$zh")" "县（市、区）,全年任务目标,完成数,完成情况排名,完成率,完成率排名" "zh header"
pf_assert_eq "$(tail -1 <<<"$zh" | cut -d, -f1)" "合计" "zh total"

# md and table: the overdue count as computed here
overdue=$(awk -F'\t' -v a=2023-06-30 '$2 < a && !(($3 == "connected" || $3 == "accepted") && $4 <= a)' truth.tsv | wc -l)
md=$(ctl progress --year 2023 --as-of 2023-06-30 --format md)
grep -q "^\*\*Overdue lots (deadline passed, not connected by 2023-06-30): $overdue\$" <<<"$md" ||
	pf_fail "md overdue count, expected $overdue"
pf_assert_eq "$(grep -c '^| ' <<<"$md")" 14 "md table: header, rule, 11 districts, total"
table=$(ctl progress --year 2023 --as-of 2023-06-30 --lang zh)
grep -q "逾期未接入停车场（截至2023-06-30）：$overdue" <<<"$table" || pf_fail "table overdue count"
# table lines (header and districts) have equal display widths
widths=$(sed -n '/^县（市、区）/,/^合计/p' <<<"$table" | grep -v -e '^---' -e '^合计' | python3 -c '
import sys, unicodedata
for l in sys.stdin:
    l = l.rstrip("\n")
    print(sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in l))' | sort -u | wc -l)
pf_assert_eq "$widths" 1 "zh table columns aligned"

# progress for a year with no targets and no deadlines: just the total row
pf_assert_eq "$(ctl progress --year 2031 --as-of 2031-01-01 --format csv)" \
	"$header"$'\n'"total,0,0,,-," "empty year"

# the reader may use the views, not the tables
pf_psql_as "$PF_READER_CONNINFO" "SELECT count(*) FROM parking.district_progress" >/dev/null ||
	pf_fail "reader cannot read district_progress"
if pf_psql_as "$PF_READER_CONNINFO" "SELECT count(*) FROM parking.lots" 2>/dev/null; then
	pf_fail "reader can read parking.lots"
fi
pf_pass
