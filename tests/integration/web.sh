#!/usr/bin/env bash
# The web page in a real browser: Debian's chromium, headless with a fresh profile, driven by
# chromedriver through python3-selenium (tests/lib/web_check.py), against a throwaway stack
# (PostgreSQL, mosquitto, parkfeedd, parkfeed-sim, parkfeed-api serving build/web, the tree the
# installation lays out, its libraries linked from the libjs-* packages).
#
# Checked against the database: every lot with a position is in the list with its free spaces,
# has one marker coloured by its free share; the popup (times in Asia/Shanghai from a browser in
# Los Angeles), the curves, filters, sorting, the keyboard, the district panel, the nearest lots
# of a clicked point and of the browser's position; a lot made stale with `parkfeedctl lots set`
# turns grey and a published observation shows, both without a reload; both languages, desktop
# and phone widths; /ledger cell by cell against `parkfeedctl progress --format csv`, and its
# print form; no console message and no request outside the page's origin. Then with
# [web] tile_url (a local tile server) and tile_crs = gcj02: tiles from there only, lots in
# GCJ-02. Screenshots, the ledger as PDF and the page's weight (weight.txt) are copied to
# build/test-artifacts/web/.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
py=/usr/bin/python3 # Debian's, where python3-selenium is
for f in /usr/bin/chromium /usr/bin/chromedriver "$py"; do
	[[ -x $f ]] || pf_fail "$f missing: install chromium, chromium-driver and python3-selenium (scripts/deps.sh)"
done
"$py" -c 'import selenium' 2>/dev/null || pf_fail "python3-selenium missing: install it (scripts/deps.sh)"
web=$PF_BUILD_DIR/web
for f in index.html ledger.html js/app.js vendor/leaflet/leaflet.min.js vendor/leaflet/leaflet.css \
	vendor/chart.js/chart.min.js; do
	[[ -r $web/$f ]] || pf_fail "$web/$f missing: build the tree (cmake --build) with libjs-leaflet and libjs-chart.js installed (scripts/deps.sh)"
done
pf_pg_start
pf_pg_migrate
pf_mqtt_start
cd "$PF_TMP"
out=$PF_TMP/web-artifacts
mkdir -p "$out"

# ---- lots in every district; one that never reported, one without a position ----
{
	"$PF_SIM" --seed 11 --emit-lots-csv 40 --with-stages
	printf 'X-NODATA-1,无数据停车场,温县,50,,planned,2026-01-05,113.081,34.942,焦作市温县黄河路1号\n'
	printf 'X-NOPOS-1,无位置停车场,温县,40,,planned,2026-01-05,,,\n'
	# A name with markup: the page must show it as text.
	printf 'X-HTML-1,<img src=x onerror=alert(1)> <b>标记</b> 停车场,山阳区,30,,planned,2026-01-05,113.27,35.22,\n'
} >lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null || pf_fail "lots import"
# Fresh for an hour: the page's colours stay put while the test runs, but for the lot it makes
# stale on purpose.
pf_psql "UPDATE parking.lots SET expected_interval_s = 3600" >/dev/null
year=$(TZ=Asia/Shanghai date +%Y)
as_of=$(TZ=Asia/Shanghai date +%F)
# Targets around each district's number of lots: rates below, at and above 100%, ties.
i=0
while IFS='|' read -r district n; do
	factors=(120 100 80 150 100 60 200 90 100 75 110)
	target=$(( (n * ${factors[i % 11]} + 50) / 100 ))
	"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" targets set "$year" "$district" "$(( target > 0 ? target : 1 ))" >/dev/null
	i=$(( i + 1 ))
done < <(pf_psql "SELECT district, count(*) FROM parking.lots GROUP BY 1 ORDER BY 1")

# ---- a day of history for every lot (each quarter hour, busiest at noon), then live data ----
pf_psql "SELECT parking.ingest_occupancy(array_agg(l), array_agg(o), array_agg(r), array_agg(t),
	array_agg(f), array_agg(NULL::int), array_agg('open'::text), array_agg(NULL::bigint),
	array_agg('native'::text))
	FROM (SELECT lot_id AS l, (extract(epoch FROM at) * 1000000)::int8 AS o,
	             (extract(epoch FROM now()) * 1000000)::int8 AS r, spaces AS t,
	             greatest(0, least(spaces, round(spaces * (0.62 - 0.42 * sin(pi() *
	                 (extract(hour FROM at AT TIME ZONE 'Asia/Shanghai') +
	                  extract(minute FROM at AT TIME ZONE 'Asia/Shanghai') / 60 - 7) / 12)))))::int AS f
	      FROM parking.lots, generate_series(15, 1440, 15) m,
	           LATERAL (SELECT now() - m * interval '1 minute' AS at) a
	      WHERE lot_id LIKE 'JZ-%') x" >/dev/null
pf_conf_write parkfeed.conf
pf_daemon_start parkfeed.conf
pf_daemon_wait_log 'mqtt: connected' 20
"$PF_SIM" --port "$PF_MQTT_PORT" --seed 11 --lots 40 --count 120 --seq --burst \
	--base-time $(( $(date +%s) - 300 )) >sim.out || pf_fail "parkfeed-sim: $(cat sim.out)"
pf_wait_sql "SELECT count(*) FROM parking.lot_state WHERE observed_at > now() - interval '6 minutes'" 40 30 "ingest"

"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" progress --year "$year" --as-of "$as_of" --format csv --lang zh >"$out/progress-zh.csv"
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" progress --year "$year" --as-of "$as_of" --format csv --lang en >"$out/progress-en.csv"

# ---- parkfeed-api serving build/web ----
pf_api_conf_write api.conf web.root="$web"
pf_api_start api.conf
pf_api_wait_ready 20
listen=${PF_API_URL#http://}
# The libraries are links into the packages: served as the packages have them.
for f in leaflet/leaflet.min.js leaflet/leaflet.css chart.js/chart.min.js; do
	pf_api_get "/vendor/$f" -o served
	cmp -s served "/usr/share/javascript/$f" || pf_fail "/vendor/$f is not /usr/share/javascript/$f"
done
csp=$(pf_api_get / -D - -o /dev/null | grep -i '^content-security-policy:' | tr -d '\r')
[[ $csp == *"script-src 'self';"* && $csp == *"img-src 'self' data:;"* ]] || pf_fail "the page's policy: $csp"

run_browser() { # STAGE: web_check.py in the background, so that a signal ends it (and its browser)
	local rc=0
	WEB_STAGE=$1 LEDGER_YEAR=$year LEDGER_AS_OF=$as_of \
		"$py" "$PF_SOURCE_DIR/tests/lib/web_check.py" "$out" &
	local pid=$!
	pf_track_pid "$pid"
	wait "$pid" || rc=$?
	(( rc == 0 )) || pf_fail "the page in the browser ($1): see above; screenshots in $out"
}
t0=$SECONDS
run_browser all
pf_log "the page in chromium: $(( SECONDS - t0 )) s"

# ---- a tile server, in GCJ-02 like AMap's: tiles allowed from there only ----
tport=$(pf_free_port)
"$py" "$PF_SOURCE_DIR/tests/lib/tile_server.py" "$tport" tiles.log &
pf_track_pid $!
export TILE_ORIGIN=http://127.0.0.1:$tport
until curl -sf -o /dev/null "$TILE_ORIGIN/0/0/0.png"; do sleep 0.1; done
mark=$(stat -c %s api.log)
pf_api_conf_write api.conf web.root="$web" api.listen="$listen" \
	web.tile_url="$TILE_ORIGIN/{z}/{x}/{y}.png" web.tile_attribution='© 测试瓦片' web.tile_crs=gcj02
kill -HUP "$PF_API_PID"
pf_wait_log api.log 'reload applied' 10 "$mark"
csp=$(pf_api_get / -D - -o /dev/null | grep -i '^content-security-policy:' | tr -d '\r')
[[ $csp == *"img-src 'self' data: $TILE_ORIGIN;"* ]] || pf_fail "the policy does not allow the tiles: $csp"
run_browser tiles
(( $(grep -c '\.png$' tiles.log) > 1 )) || pf_fail "no tiles were asked for"

# ---- what the run leaves: screenshots, the ledger as PDF, the page's weight ----
keep=$PF_BUILD_DIR/test-artifacts/web
rm -rf "$keep"
mkdir -p "$keep"
cp "$out"/*.png "$out"/*.pdf "$out"/weight.txt "$keep"/
pf_log "weight: $(head -n 1 "$out/weight.txt")"
pf_log "screenshots, the ledger as PDF and weight.txt in $keep:"
for f in "$keep"/*; do
	printf '  %s\n' "$f" >&2
done
pf_api_stop
pf_daemon_stop
pf_pass
