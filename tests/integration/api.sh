#!/usr/bin/env bash
# parkfeed-api against a real PostgreSQL fed by parkfeedd and parkfeed-sim: every endpoint's
# content against the database (tests/lib/api_check.py), nearest lots in order against an
# independent haversine, GCJ-02 and BD-09 coordinates and near=, 304s with If-None-Match, gzip,
# CORS, the web page's files and headers, a table of bad inputs with their problem+json,
# 405/413/414, the ledger byte for byte as parkfeedctl prints it, the curves against the SQL
# functions, the caches, no database text in any answer, two copies giving the same ETags, the
# database going away and coming back, and SIGHUP.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
command -v python3 >/dev/null || pf_fail "python3 missing: install it (scripts/deps.sh)"
pf_pg_start
pf_pg_migrate
pf_mqtt_start
cd "$PF_TMP"

check() { python3 "$PF_SOURCE_DIR/tests/lib/api_check.py" "$@" || pf_fail "api_check $1 ${*:3}"; }
sql_json() { pf_psql "$1" >"$2"; }
get() { pf_api_get "$1" -o "$2" -w '%{http_code}'; }
lots_db() {
	sql_json "SELECT json_agg(json_build_object('lot_id', lot_id, 'name', name, 'district', district,
		'address', address, 'lon', lon, 'lat', lat, 'free', free, 'total', total, 'status', status,
		'observed_us', (extract(epoch FROM observed_at) * 1000000)::int8, 'freshness', freshness)
		ORDER BY lot_id) FROM parking.lot_map" "$1"
}
header() { grep -i "^$1:" "$2" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }

# ---- the registry, the data ----
"$PF_SIM" --seed 5 --emit-lots-csv 120 >lots.csv
printf 'X-NODATA-1,无数据停车场,温县,50,,113.081,34.942,焦作市温县黄河路1号\n' >>lots.csv
printf 'X-NOPOS-1,无位置停车场,温县,40,,,,\nX-NODIST-1,未知区停车场,,30,,113.2,35.2,\n' >>lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null || pf_fail "lots import"
year=$(TZ=Asia/Shanghai date +%Y)
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" targets set "$year" 山阳区 10 >/dev/null
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" targets set "$year" 温县 3 >/dev/null

pf_conf_write parkfeed.conf
pf_daemon_start parkfeed.conf
pf_daemon_wait_log 'mqtt: connected' 20
"$PF_SIM" --port "$PF_MQTT_PORT" --seed 5 --lots 120 --count 360 --seq --burst \
	--formats mixed --base-time $(( $(date +%s) - 3600 )) >sim.out || pf_fail "parkfeed-sim: $(cat sim.out)"
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 360 30 "ingest"
# A lot without a position reports; one lot gets a known history over the last two hours.
curve_lot=$(pf_psql "SELECT min(lot_id) FROM parking.lots WHERE lot_id LIKE 'JZ-SY-%'")
pf_psql "SELECT parking.ingest_occupancy(array_agg(l), array_agg(o), array_agg(r), array_agg(t),
	array_agg(f), array_agg(NULL::int), array_agg('open'::text), array_agg(NULL::bigint),
	array_agg('native'::text))
	FROM (SELECT l, (extract(epoch FROM now() - m * interval '1 minute') * 1000000)::int8 AS o,
	             (extract(epoch FROM now()) * 1000000)::int8 AS r, 200 AS t, f
	      FROM (VALUES ('$curve_lot', 100, 20), ('$curve_lot', 85, 35), ('$curve_lot', 70, 50),
	                   ('$curve_lot', 41, 80), ('$curve_lot', 40, 90), ('X-NOPOS-1', 2, 7))
	           AS v(l, m, f)) x" >/dev/null
pf_daemon_stop

# ---- the web page's files ----
mkdir -p web/js
printf '<!doctype html><title>停车</title><script src="/js/app.js"></script>\n' >web/index.html
printf '<!doctype html><title>台账</title>\n' >web/ledger.html
printf 'console.log("parkfeed");\n' >web/js/app.js
printf 'secret\n' >web/.hidden

pf_api_conf_write api.conf api.max_staleness=2 api.query_cache=30 postgres.reconnect_max=2 \
	web.tile_url='https://{s}.tile.example.org/{z}/{x}/{y}.png' web.tile_attribution='© 测试'
pf_api_start api.conf
pf_api_wait_ready 20
sleep 1 # one more refresh after the last ingest: the snapshot holds it
lots_db db_lots.json

# ---- GeoJSON lots ----
[[ $(get /v1/lots all.json) == 200 ]] || pf_fail "GET /v1/lots"
check lots all.json db_lots.json
for crs in gcj02 bd09 wgs84; do
	[[ $(get "/v1/lots?crs=$crs" crs.json) == 200 ]] || pf_fail "crs=$crs"
	check lots crs.json db_lots.json --crs "$crs"
done
[[ $(get "/v1/lots?district=%E5%B1%B1%E9%98%B3%E5%8C%BA" d.json) == 200 ]] || pf_fail "district="
check lots d.json db_lots.json --district 山阳区
[[ $(get "/v1/lots?district=nowhere" d.json) == 200 ]] || pf_fail "district=nowhere"
pf_assert_eq "$(cat d.json)" '{"type":"FeatureCollection","features":[]}' "an unknown district"
for q in "113.2418 35.2159 10 0" "113.0 35.0 100 0" "113.25 35.21 7 1500" "112.5 34.8 5 2000" "113.3 35.25 100 5000.5"; do
	read -r lon lat limit radius <<<"$q"
	url="/v1/lots?near=$lon,$lat&limit=$limit"
	[[ $radius != 0 ]] && url+="&radius=$radius"
	[[ $(get "$url" near.json) == 200 ]] || pf_fail "$url"
	check near near.json db_lots.json "$lon" "$lat" "$limit" "$radius"
done
[[ $(get "/v1/lots?near=113.2418,35.2159" near.json) == 200 ]] || pf_fail "near, default limit"
pf_assert_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["features"]))' near.json)" 10 "default limit"
check near near.json db_lots.json 113.2418 35.2159 10 0
[[ $(get "/v1/lots?near=113.25,35.22&district=%E5%B1%B1%E9%98%B3%E5%8C%BA&limit=3" near.json) == 200 ]] || pf_fail "near + district"
check near near.json db_lots.json 113.25 35.22 3 0 --district 山阳区
# near= in GCJ-02 and BD-09 means the same place as in WGS-84
for crs in gcj02 bd09; do
	ll=$(python3 -c "import sys; sys.path.insert(0, '$PF_SOURCE_DIR/tests/data/crs'); import chinacrs
x, y = chinacrs.from_wgs84('$crs', 113.2418, 35.2159); print(f'{x:.9f},{y:.9f}')")
	[[ $(get "/v1/lots?near=$ll&limit=8&crs=$crs" near.json) == 200 ]] || pf_fail "near in $crs"
	check near near.json db_lots.json 113.2418 35.2159 8 0 --crs "$crs"
done
pf_log "GeoJSON lots, districts filter, nearest and coordinate systems agree with the database"

# ---- one lot ----
for id in "$curve_lot" X-NODATA-1 X-NOPOS-1 X-NODIST-1; do
	[[ $(get "/v1/lots/$id?crs=gcj02" one.json) == 200 ]] || pf_fail "/v1/lots/$id"
	check feature one.json db_lots.json "$id" --crs gcj02
done
grep -q '"geometry":null' <(pf_api_get /v1/lots/X-NOPOS-1) || pf_fail "X-NOPOS-1 has a geometry"
grep -q '"free":null,"total":null' <(pf_api_get /v1/lots/X-NODATA-1) || pf_fail "X-NODATA-1 has data"

# ---- districts ----
sql_json "SELECT json_agg(d) FROM parking.district_overview d" db_districts.json
[[ $(get /v1/districts districts.json) == 200 ]] || pf_fail "/v1/districts"
check districts districts.json db_districts.json

# ---- NGSI-LD ----
lots_total=$(pf_psql "SELECT count(*) FROM parking.lots")
: >pages.txt
for offset in 0 50 100; do
	url="/ngsi-ld/v1/entities?type=OffStreetParking&options=keyValues&limit=50&offset=$offset&count=true"
	[[ $(pf_api_get "$url" -D h.txt -o "page$offset.json" -w '%{http_code}') == 200 ]] || pf_fail "$url"
	pf_assert_eq "$(header NGSILD-Results-Count h.txt)" "$lots_total" "NGSILD-Results-Count"
	link=$(header Link h.txt)
	if (( offset + 50 < lots_total )); then
		[[ $link == *"offset=$(( offset + 50 ))&limit=50&options=keyValues&count=true>; rel=\"next\""* ]] ||
			pf_fail "no next page in Link: $link"
	else
		[[ $link != *'rel="next"'* ]] || pf_fail "a next page after the last: $link"
	fi
	(( offset == 0 )) || [[ $link == *'rel="prev"'* ]] || pf_fail "no prev page: $link"
	[[ $link == *'rel="http://www.w3.org/ns/json-ld#context"'* ]] || pf_fail "no context Link: $link"
	pf_assert_eq "$(header Content-Type h.txt)" application/json "NGSI-LD Content-Type"
done
python3 -c 'import json,sys; print(json.dumps(sum((json.load(open(f)) for f in sys.argv[1:]), [])))' \
	page0.json page50.json page100.json >entities.json
check entities entities.json db_lots.json
[[ $(get "/ngsi-ld/v1/entities?type=OffStreetParking&limit=1000" norm.json) == 200 ]] || pf_fail "normalized"
check entities norm.json db_lots.json --normalized
[[ $(get "/ngsi-ld/v1/entities?type=Vehicle" other.json) == 200 ]] || pf_fail "type=Vehicle"
pf_assert_eq "$(cat other.json)" "[]" "another type"
pf_api_get "/ngsi-ld/v1/entities?type=OffStreetParking&limit=2" -H 'Accept: application/ld+json' -D h.txt -o ld.json
pf_assert_eq "$(header Content-Type h.txt)" application/ld+json "ld+json Content-Type"
grep -q '"@context":\["https://raw.githubusercontent.com/smart-data-models/dataModel.Parking' ld.json ||
	pf_fail "no @context with Accept: application/ld+json"
[[ $(get "/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:$curve_lot?options=keyValues" e.json) == 200 ]] ||
	pf_fail "one entity"
python3 -c 'import json,sys; print(json.dumps([json.load(open(sys.argv[1]))]))' e.json >e1.json
python3 - "$curve_lot" db_lots.json <<-'EOF' >db_one.json
	import json, sys
	print(json.dumps([r for r in json.load(open(sys.argv[2])) if r["lot_id"] == sys.argv[1]]))
EOF
check entities e1.json db_one.json
pf_log "NGSI-LD entities, paging with Link and NGSILD-Results-Count, both forms agree"

# ---- the ledger and the curves ----
as_of=$(TZ=Asia/Shanghai date +%F)
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" progress --year "$year" --as-of "$as_of" --format json >ledger_ctl.json
[[ $(get "/v1/progress?year=$year&as_of=$as_of" ledger_api.json) == 200 ]] || pf_fail "/v1/progress"
cmp -s ledger_ctl.json ledger_api.json || pf_fail "the ledger differs from parkfeedctl progress --format json: $(diff ledger_ctl.json ledger_api.json | head)"
[[ $(get "/v1/progress?year=$year" ledger_today.json) == 200 ]] || pf_fail "/v1/progress without as_of"
cmp -s ledger_ctl.json ledger_today.json || pf_fail "as_of defaults to today (Asia/Shanghai)"
curve_json() {
	sql_json "SELECT json_agg(json_build_object('start_us', (extract(epoch FROM bucket_start) * 1000000)::int8,
		$2) ORDER BY bucket_start) FROM $1" "$3"
}
compare_curves() { # API_URL SQL_FROM COLUMNS KIND: the same buckets as the function, now
	local try
	for try in 1 2; do
		[[ $(get "$1" curve.json) == 200 ]] || pf_fail "$1"
		curve_json "$2" "$3" db_curve.json
		python3 "$PF_SOURCE_DIR/tests/lib/api_check.py" "$4" curve.json db_curve.json 2>curve.err && return 0
		sleep 1 # a bucket boundary passed between the two reads
	done
	pf_fail "$1: $(cat curve.err)"
}
compare_curves "/v1/lots/$curve_lot/history?hours=2&bucket=15" \
	"parking.lot_occupancy_curve('$curve_lot', 2, 15)" \
	"'samples', samples, 'free_avg', free_avg, 'free_min', free_min, 'free_max', free_max,
	 'total_avg', total_avg, 'occupancy_pct', occupancy_pct" lot-curve
read -r first samples < <(python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["buckets"]
print(b[0]["start"], sum(x["samples"] for x in b))' curve.json)
pf_assert_eq "$samples" "$(pf_psql "SELECT count(*) FROM parking.occupancy WHERE lot_id = '$curve_lot'
	AND observed_at >= '$first'")" "observations in the curve"
(( samples >= 5 )) || pf_fail "the curve lacks the observations of the last two hours"
compare_curves "/v1/districts/%E5%B1%B1%E9%98%B3%E5%8C%BA/history" \
	"parking.district_occupancy_curve('山阳区', 24, 15)" \
	"'lots', lots, 'samples', samples, 'free', free, 'total', total, 'occupancy_pct', occupancy_pct" \
	district-curve
pf_log "the ledger matches parkfeedctl byte for byte; the curves match the SQL functions"

# Answers from the database are cached per question for [api] query_cache (30 s here).
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" targets set "$year" 山阳区 11 >/dev/null
pf_api_get "/v1/progress?year=$year&as_of=$as_of" >again.json
cmp -s ledger_api.json again.json || pf_fail "a cached ledger was asked again within query_cache"

# ---- ETag and 304, gzip, HEAD ----
for url in /v1/lots "/v1/lots?near=113.24,35.21&limit=3" "/v1/lots/$curve_lot" /v1/districts \
	"/v1/progress?year=$year&as_of=$as_of" "/v1/lots/$curve_lot/history" \
	"/ngsi-ld/v1/entities?type=OffStreetParking" /v1/config / /ledger /js/app.js; do
	pf_api_get "$url" -D h.txt -o /dev/null
	etag=$(header ETag h.txt)
	[[ $etag =~ ^\"[0-9a-f]{16}\"$ ]] || pf_fail "$url: ETag [$etag]"
	code=$(pf_api_get "$url" -H "If-None-Match: $etag" -D h304.txt -o body304 -w '%{http_code}')
	pf_assert_eq "$code" 304 "$url with If-None-Match"
	[[ ! -s body304 ]] || pf_fail "$url: a body with 304"
	pf_assert_eq "$(header ETag h304.txt)" "$etag" "$url: ETag of the 304"
	code=$(pf_api_get "$url" -H 'If-None-Match: "0000000000000000"' -o /dev/null -w '%{http_code}')
	pf_assert_eq "$code" 200 "$url with another ETag"
done
pf_api_get /v1/lots -H 'Accept-Encoding: gzip' -D h.txt -o lots.gz
pf_assert_eq "$(header Content-Encoding h.txt)" gzip "Content-Encoding"
[[ $(header Vary h.txt) == *Accept-Encoding* ]] || pf_fail "no Vary: Accept-Encoding"
gz_etag=$(header ETag h.txt)
[[ $gz_etag == *'-gz"' ]] || pf_fail "gzip ETag $gz_etag"
gunzip -c lots.gz | cmp -s - all.json || pf_fail "gunzip of the gzip answer is not the plain answer"
code=$(pf_api_get /v1/lots -H 'Accept-Encoding: gzip' -H "If-None-Match: $gz_etag" -o /dev/null -w '%{http_code}')
pf_assert_eq "$code" 304 "gzip ETag revalidates"
pf_api_get /v1/lots -H 'Accept-Encoding: gzip;q=0' -D h.txt -o /dev/null
[[ -z $(header Content-Encoding h.txt) ]] || pf_fail "gzip;q=0 got gzip"
code=$(curl -s -I "$PF_API_URL/v1/lots" -o h.txt -w '%{http_code}')
pf_assert_eq "$code" 200 "HEAD"
[[ -n $(header ETag h.txt) && $(header Content-Length h.txt) == "$(stat -c %s all.json)" ]] || pf_fail "HEAD headers"
pf_assert_eq "$(header Cache-Control h.txt)" "public, max-age=5" "Cache-Control of data"
pf_log "ETag and 304 on every endpoint, gzip, HEAD"

# ---- CORS ----
pf_api_get /v1/lots -H 'Origin: https://app.example' -D h.txt -o /dev/null
pf_assert_eq "$(header Access-Control-Allow-Origin h.txt)" '*' "CORS *"
[[ $(header Access-Control-Expose-Headers h.txt) == *ETag* ]] || pf_fail "ETag not exposed"
code=$(curl -s -X OPTIONS "$PF_API_URL/v1/lots" -H 'Origin: https://app.example' \
	-H 'Access-Control-Request-Method: GET' -D h.txt -o /dev/null -w '%{http_code}')
pf_assert_eq "$code" 204 "preflight"
[[ $(header Access-Control-Allow-Methods h.txt) == *GET* ]] || pf_fail "preflight methods"

# ---- the web page ----
pf_api_get / -D h.txt -o page.html
pf_assert_eq "$(header Content-Type h.txt)" "text/html; charset=utf-8" "/ Content-Type"
cmp -s page.html web/index.html || pf_fail "/ is not index.html"
csp=$(header Content-Security-Policy h.txt)
[[ $csp == *"img-src 'self' data: https://*.tile.example.org;"* && $csp == *"script-src 'self';"* &&
	$csp == *"frame-ancestors 'none'"* ]] || pf_fail "Content-Security-Policy: $csp"
pf_assert_eq "$(header Cache-Control h.txt)" no-cache "page Cache-Control"
pf_api_get /ledger -o page.html
cmp -s page.html web/ledger.html || pf_fail "/ledger is not ledger.html"
pf_api_get /js/app.js -D h.txt -o app.js
pf_assert_eq "$(header Content-Type h.txt)" "text/javascript; charset=utf-8" "js Content-Type"
[[ -z $(header Content-Security-Policy h.txt) ]] || pf_fail "a script got a page's CSP"
for p in /.hidden /missing.js /js /../api.conf '/%2e%2e/api.conf'; do
	code=$(curl -s --path-as-is "$PF_API_URL$p" -o out.json -w '%{http_code}')
	pf_assert_eq "$code" 404 "$p"
	grep -q secret out.json && pf_fail "$p served a hidden file"
done
pf_api_get /v1/config -o config.json
pf_assert_eq "$(cat config.json)" '{"tile_url":"https://{s}.tile.example.org/{z}/{x}/{y}.png","tile_attribution":"© 测试","tile_crs":"wgs84","version":"'"$("$PF_API" --version | cut -d' ' -f2)"'"}' "/v1/config"

# ---- bad inputs: the documented 4xx, as problem+json saying what was wrong ----
while IFS='|' read -r path status fragment type; do
	[[ -n $path ]] || continue
	code=$(curl -s --path-as-is "$PF_API_URL$path" -D h.txt -o problem.json -w '%{http_code}')
	[[ $code == "$status" ]] || pf_fail "$path: status $code, expected $status ($(cat problem.json))"
	pf_assert_eq "$(header Content-Type h.txt)" application/problem+json "$path Content-Type"
	python3 - "$status" "$fragment" "${type:-about:blank}" <<-'EOF' || pf_fail "$path: $(cat problem.json)"
		import json, sys
		p = json.load(open("problem.json"))
		assert p["status"] == int(sys.argv[1]), p
		assert sys.argv[2] in p["detail"], p
		assert p["type"] == sys.argv[3], p
		assert p["title"], p
	EOF
done <<-'EOF'
	/v1/lots?near=x|400|is not LON,LAT in decimal degrees
	/v1/lots?near=113.2|400|is not LON,LAT
	/v1/lots?near=200,35|400|is out of range
	/v1/lots?near=35.2,113.2|400|the order is LON,LAT
	/v1/lots?near=113,35&limit=0|400|limit "0" is not a whole number 1..100
	/v1/lots?near=113,35&limit=101|400|1..100
	/v1/lots?near=113,35&limit=ten|400|1..100
	/v1/lots?near=113,35&radius=0|400|radius "0" is not a distance in metres
	/v1/lots?near=113,35&radius=100001|400|at most 100000
	/v1/lots?crs=mars|400|crs "mars" is not wgs84, gcj02 or bd09
	/v1/lots?limit=5|400|limit applies to near queries
	/v1/lots?radius=5|400|radius applies to near queries
	/v1/lots?foo=1|400|unknown parameter foo for /v1/lots
	/v1/lots?crs=wgs84&crs=gcj02|400|parameter crs given twice
	/v1/lots?%zz=1|400|not valid percent-encoded UTF-8
	/v1/lots?district=%ff|400|not valid percent-encoded UTF-8
	/v1/lots?district=%0a|400|not valid percent-encoded UTF-8
	/v1/lots/NO-SUCH-LOT|404|no lot NO-SUCH-LOT
	/v1/lots/bad%20id|400|is not a lot id
	/v1/lots/JZ-SY-001?near=1,2|400|unknown parameter near
	/v1/lots/NO-SUCH-LOT/history|404|no lot NO-SUCH-LOT
	/v1/lots/X-NODATA-1/history?hours=0|400|hours "0" is not a whole number 1..48
	/v1/lots/X-NODATA-1/history?bucket=7|400|bucket "7" is not 5, 10, 15, 20, 30 or 60
	/v1/districts/%E6%97%A0/history|404|no district 无
	/v1/districts?x=1|400|takes no parameters
	/v1/progress|400|year is required
	/v1/progress?year=20x3|400|is not a year 2000..2100
	/v1/progress?year=2023&as_of=2023-02-30|400|as_of "2023-02-30" is not a date
	/ngsi-ld/v1/entities|400|needs type|https://uri.etsi.org/ngsi-ld/errors/BadRequestData
	/ngsi-ld/v1/entities?type=OffStreetParking&limit=1001|400|0..1000|https://uri.etsi.org/ngsi-ld/errors/BadRequestData
	/ngsi-ld/v1/entities?type=OffStreetParking&limit=0|400|only allowed with count=true|https://uri.etsi.org/ngsi-ld/errors/BadRequestData
	/ngsi-ld/v1/entities?type=OffStreetParking&q=x|400|unknown parameter q|https://uri.etsi.org/ngsi-ld/errors/BadRequestData
	/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:NOPE|404|no entity|https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound
	/ngsi-ld/v1/entities/nocolon|400|is not a URI|https://uri.etsi.org/ngsi-ld/errors/BadRequestData
	/v1/nothing|404|no such endpoint
	/ngsi-ld/v1/types|404|no such endpoint
EOF
code=$(curl -s -X PUT "$PF_API_URL/v1/lots" -o problem.json -D h.txt -w '%{http_code}')
pf_assert_eq "$code" 405 "PUT"
pf_assert_eq "$(header Allow h.txt)" "GET, HEAD, OPTIONS" "Allow"
code=$(curl -s -X POST --data-binary '{"free":1}' "$PF_API_URL/v1/lots" -o problem.json -w '%{http_code}')
pf_assert_eq "$code" 413 "POST with a body"
grep -q 'requests carry no body here' problem.json || pf_fail "413: $(cat problem.json)"
code=$(curl -s "$PF_API_URL/v1/lots?district=$(printf 'x%.0s' $(seq 2100))" -o problem.json -w '%{http_code}')
pf_assert_eq "$code" 414 "a 2 KiB target"
grep -q 'longer than 2048 bytes' problem.json || pf_fail "414: $(cat problem.json)"
pf_log "bad inputs answer their 4xx with problem+json"

# ---- no database text reaches a client ----
pf_psql "REVOKE EXECUTE ON FUNCTION parking.progress(integer, date) FROM parkfeed_reader" >/dev/null
code=$(get "/v1/progress?year=2030" problem.json)
pf_assert_eq "$code" 503 "a failing ledger query"
grep -qiE 'permission|denied|parking\.|SQLSTATE|function' problem.json && pf_fail "database text leaked: $(cat problem.json)"
grep -q 'permission denied' api.log || pf_fail "the failure is not in the log"
pf_psql "GRANT EXECUTE ON FUNCTION parking.progress(integer, date) TO parkfeed_reader" >/dev/null

# ---- a second copy gives the same answers and ETags ----
first_url=$PF_API_URL
first_pid=$PF_API_PID
pf_api_conf_write api2.conf
pf_api_start api2.conf
pf_api_wait_ready 20
second_pid=$PF_API_PID
second_url=$PF_API_URL
for url in /v1/lots /v1/districts "/v1/lots?near=113.24,35.21&crs=bd09"; do
	a=$(curl -s -D - -o /dev/null "$first_url$url" | grep -i '^etag:')
	b=$(curl -s -D - -o /dev/null "$second_url$url" | grep -i '^etag:')
	pf_assert_eq "$b" "$a" "ETag of $url from two copies"
done
pf_api_stop "$second_pid"
PF_API_URL=$first_url
PF_API_PID=$first_pid

# ---- the database goes away: data still served, /healthz says so ----
etag=$(pf_api_get /v1/lots -D - -o /dev/null | grep -i '^etag:')
pf_pg_stop fast
deadline=$(( SECONDS + 20 ))
until [[ $(pf_api_get /healthz -o health.txt -w '%{http_code}') == 503 ]]; do
	(( SECONDS < deadline )) || pf_fail "/healthz still 200 with the database down"
	sleep 0.2
done
grep -q '^data is [0-9.]* s old (max_staleness 2 s): the database is unreachable' health.txt ||
	pf_fail "/healthz: $(cat health.txt)"
[[ $(pf_api_get /v1/lots -D - -o /dev/null | grep -i '^etag:') == "$etag" ]] || pf_fail "the snapshot is no longer served"
code=$(get "/v1/progress?year=2031" problem.json)
pf_assert_eq "$code" 503 "the ledger without a database"
pf_pg_start_again
pf_api_wait_ready 30
pf_log "served from the snapshot while PostgreSQL was down; healthy again after"

# ---- SIGHUP ----
mark=$(stat -c %s api.log)
printf 'body{}\n' >web/new.css
pf_api_conf_write api.conf api.listen=127.0.0.1:1 api.max_staleness=2 api.query_cache=0 \
	postgres.reconnect_max=2 api.cors_allow_origin=https://map.example.org \
	web.tile_url='https://tiles.example.net/{z}/{x}/{y}.png' web.tile_crs=gcj02
PF_API_URL=$first_url
kill -HUP "$PF_API_PID"
pf_wait_log api.log 'reload applied' 10 "$mark"
tail -c +$(( mark + 1 )) api.log | grep -q '\[api\] listen changed (it takes a restart, not a reload); not applied' ||
	pf_fail "the restart-only key was not named: $(tail -n 5 api.log)"
grep -q '"tile_url":"https://tiles.example.net/{z}/{x}/{y}.png","tile_attribution":null,"tile_crs":"gcj02"' <(pf_api_get /v1/config) ||
	pf_fail "tile_url and tile_crs not reloaded: $(pf_api_get /v1/config)"
[[ $(pf_api_get / -D - -o /dev/null | grep -i '^content-security-policy') == *"img-src 'self' data: https://tiles.example.net;"* ]] ||
	pf_fail "the page policy does not follow tile_url"
pf_assert_eq "$(pf_api_get /new.css)" 'body{}' "a file added before the reload"
pf_api_get /v1/lots -H 'Origin: https://map.example.org' -D h.txt -o /dev/null
pf_assert_eq "$(header Access-Control-Allow-Origin h.txt)" https://map.example.org "CORS origin list"
[[ $(header Vary h.txt) == *Origin* ]] || pf_fail "no Vary: Origin"
pf_api_get /v1/lots -H 'Origin: https://evil.example' -D h.txt -o /dev/null
[[ -z $(header Access-Control-Allow-Origin h.txt) ]] || pf_fail "CORS for an origin not listed"
# query_cache is 0 now: the ledger is asked again and shows the new target
pf_api_get "/v1/progress?year=$year&as_of=$as_of" >again.json
grep -q '"district":"山阳区","target":11' again.json || pf_fail "query_cache=0 still answers from the cache"
mark=$(stat -c %s api.log)
echo 'nonsense' >>api.conf
kill -HUP "$PF_API_PID"
pf_wait_log api.log 'reload refused, keeping the running configuration: api.conf:' 10 "$mark"
pf_api_wait_ready 5
pf_log "SIGHUP applies the reloadable keys, names the others, refuses a broken file"
pf_api_stop
pf_pass
