#!/usr/bin/env bash
# A live demo of parkfeed on one machine: a throwaway mosquitto and PostgreSQL, Jiaozuo's lots
# registered with this year's targets, parkfeedd ingesting what the lot-controller simulator
# publishes, parkfeed-api serving it over HTTP with the web page (the map and the ledger, live;
# their URLs are on the screen; build/web is the page's tree), and a screen that
# refreshes every 2 s with free spaces per district, what was stored and rejected, and the
# progress ledger. Ctrl-C stops everything and removes its files.
#
#   ./scripts/demo.sh                 run until Ctrl-C
#   ./scripts/demo.sh --duration 60   stop by itself after 60 s
#   options: --no-deps (do not install packages), --lots N (default 220),
#            --rate R (occupancy messages per second, default 40), --keep (keep the files)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

duration=0
deps=1
lots=220
rate=40
seed=7
while (( $# )); do
	case $1 in
	--duration) duration=${2:?--duration needs seconds}; shift ;;
	--no-deps) deps=0 ;;
	--lots) lots=${2:?--lots needs a number}; shift ;;
	--rate) rate=${2:?--rate needs a number}; shift ;;
	--keep) export PF_KEEP_TMP=1 ;;
	-h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $duration =~ ^[0-9]+$ ]] || { echo "demo.sh: --duration wants whole seconds" >&2; exit 2; }

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
[[ -t 2 ]] || say() { printf '==> %s\n' "$*" >&2; }

(( deps )) && ./scripts/deps.sh

say "building into build/ (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 >/dev/null

export PF_SOURCE_DIR=$root PF_BUILD_DIR=$root/build PF_TEST_NAME=demo
# shellcheck source=../tests/lib/env.sh
source "$root/tests/lib/env.sh"
pf_env_init
# Ctrl-C is how a demo ends: a clean exit, and the EXIT trap stops everything.
trap 'echo >&2; say "stopping"; exit 0' INT TERM

say "starting PostgreSQL and mosquitto on free loopback ports"
pf_pg_start
pf_pg_migrate
pf_mqtt_start

year=$(TZ=Asia/Shanghai date +%Y)
say "registering $lots lots and the $year targets"
"$PF_SIM" --seed "$seed" --emit-lots-csv "$lots" --with-stages >"$PF_TMP/lots.csv"
"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" lots import "$PF_TMP/lots.csv" >/dev/null

# Targets: the share of each district's lots the bureau expects connected this year. Above
# 100% means the district must also bring in lots not yet registered.
declare -A share=(
	[沁阳市]=110 [孟州市]=90 [温县]=100 [博爱县]=125 [武陟县]=95 [修武县]=80
	[解放区]=105 [山阳区]=100 [马村区]=130 [中站区]=85 [高新区]=115
)
while IFS='|' read -r district n; do
	target=$(( (n * ${share[$district]:-100} + 50) / 100 ))
	(( target > 0 )) || target=1
	"$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" targets set "$year" "$district" "$target" >/dev/null
done < <(pf_psql "SELECT district, count(*) FROM parking.lots WHERE district IS NOT NULL GROUP BY 1")

say "starting parkfeedd"
pf_conf_write "$PF_TMP/parkfeed.conf" mqtt.client_id=parkfeed-demo mqtt.keepalive=30 \
	feed.topic_prefix=availability feed.echo_rejects=true
pf_daemon_start "$PF_TMP/parkfeed.conf"
sleep 1
pf_alive "$PF_DAEMON_PID" || pf_fail "parkfeedd exited at start: $(tail -n 5 "$PF_TMP/daemon.log")"

say "starting the simulator: $lots lots, $rate messages/s, 2% bad, all formats"
"$PF_SIM" --host 127.0.0.1 --port "$PF_MQTT_PORT" --seed "$seed" --lots "$lots" --rate "$rate" \
	--formats mixed --bad-ratio 0.02 --status </dev/null >"$PF_TMP/sim.log" 2>&1 &
pf_track_pid $!
sim_pid=$!

say "starting parkfeed-api"
pf_api_conf_write "$PF_TMP/parkfeed-api.conf" api.refresh_ms=2000 -api.rate_limit web.root="$PF_BUILD_DIR/web"
pf_api_start "$PF_TMP/parkfeed-api.conf"
pf_api_wait_ready 30
say "the map (live): $PF_API_URL/   the ledger: $PF_API_URL/ledger"
say "parkfeed-api: try $PF_API_URL/v1/lots?near=113.2418,35.2159&limit=3"

# --------------------------------------------------------------------------------------
# The screen

table() {
	PGTZ=Asia/Shanghai psql -X -q -P footer=off -P null=- -d "$PF_PG_SUPER_CONNINFO" -c "$1" 2>&1
}

district_sql="
WITH d AS (SELECT district, count(*) AS lots FROM parking.lots GROUP BY district)
SELECT CASE WHEN grouping(d.district) = 1 THEN '合计 total' ELSE coalesce(d.district, '?') END
           AS \"district 县市区\",
       sum(d.lots) AS lots,
       sum(coalesce(a.lots_online, 0)) AS online,
       sum(a.free) AS \"free 空位\",
       sum(a.total) AS total,
       round(sum(a.total * a.occupancy_pct) / nullif(sum(a.total), 0), 1) AS \"occupancy %\"
FROM d LEFT JOIN parking.district_availability a ON a.district IS NOT DISTINCT FROM d.district
GROUP BY ROLLUP (d.district)
ORDER BY grouping(d.district),
         array_position(ARRAY['沁阳市','孟州市','温县','博爱县','武陟县','修武县',
                              '解放区','山阳区','马村区','中站区','高新区'], d.district), 1"

rejected_sql="SELECT reason, count(*) AS messages, max(received_at)::timestamp(0) AS latest
FROM parking.rejected GROUP BY reason ORDER BY 2 DESC, 1"

start=$SECONDS
last_stored=0
last_t=$SECONDS
tty=0
[[ -t 1 ]] && tty=1

render() {
	local now stored rejected rate_now elapsed=$(( SECONDS - start ))
	now=$(TZ=Asia/Shanghai date '+%F %T')
	stored=$(pf_psql "SELECT count(*) FROM parking.occupancy" 2>/dev/null || echo "?")
	rejected=$(pf_psql "SELECT count(*) FROM parking.rejected" 2>/dev/null || echo "?")
	rate_now="?"
	if [[ $stored =~ ^[0-9]+$ ]] && (( SECONDS > last_t )); then
		rate_now=$(( (stored - last_stored) / (SECONDS - last_t) ))
		last_stored=$stored
		last_t=$SECONDS
	fi
	printf 'parkfeed demo: 焦作市智慧停车 Jiaozuo smart parking   %s (Asia/Shanghai)   running %02d:%02d\n' \
		"$now" $(( elapsed / 60 )) $(( elapsed % 60 ))
	printf 'broker 127.0.0.1:%s   PostgreSQL 127.0.0.1:%s   simulator: %s lots, %s msg/s, 2%% bad\n' \
		"$PF_MQTT_PORT" "$PF_PG_PORT" "$lots" "$rate"
	printf 'web page     %s/ (the map, live)   %s/ledger (the ledger)\n' "$PF_API_URL" "$PF_API_URL"
	printf 'parkfeed-api %s/   (/v1/lots, /v1/lots?near=LON,LAT, /v1/districts, /v1/progress?year=%s,\n' \
		"$PF_API_URL" "$year"
	printf '              /ngsi-ld/v1/entities?type=OffStreetParking, /healthz)\n'
	printf "live feed    mosquitto_sub -p %s -t 'availability/#' -v   (refusals: -t 'parking/+/rejected')\n\n" \
		"$PF_MQTT_PORT"
	echo "Free spaces by district (lots with fresh data)"
	table "$district_sql"
	echo
	printf 'Messages stored: %s (%s/s)   rejected: %s\n' "$stored" "$rate_now" "$rejected"
	if [[ $rejected != 0 ]]; then
		table "$rejected_sql"
	fi
	echo
	echo "Progress ledger $year (parkfeedctl progress --year $year --lang zh)"
	"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" progress --year "$year" --lang zh 2>&1 || true
	echo
	if (( duration )); then
		echo "Stops by itself after ${duration}s; Ctrl-C stops now.   Files: $PF_TMP"
	else
		echo "Ctrl-C stops the demo.   Files: $PF_TMP"
	fi
}

while :; do
	screen=$(render)
	if (( tty )); then
		tput clear 2>/dev/null || printf '\033[H\033[2J'
	else
		printf '\n======== %s ========\n' "$(date '+%T')"
	fi
	printf '%s\n' "$screen"
	pf_alive "$PF_DAEMON_PID" || pf_fail "parkfeedd stopped unexpectedly"
	pf_alive "$PF_API_PID" || pf_fail "parkfeed-api stopped unexpectedly: $(tail -n 5 "$PF_TMP/api.log")"
	pf_alive "$sim_pid" || pf_fail "the simulator stopped unexpectedly: $(tail -n 5 "$PF_TMP/sim.log")"
	if (( duration && SECONDS - start >= duration )); then
		break
	fi
	sleep 2
done
say "demo finished after ${duration}s; stopping"
