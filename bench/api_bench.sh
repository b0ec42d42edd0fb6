#!/usr/bin/env bash
# bench/api_bench.sh: parkfeed-api with N lots (default 10,000) in a throwaway PostgreSQL,
# loaded with wrk on 127.0.0.1, against the HTTP stack's own ceiling in the same run.
#
#   bench/api_bench.sh [--lots N] [--seconds S] [--rate R] [--threads N] [--out DIR] [--smoke]
#
# Phases (each --seconds long, default 10; wrk with 2 threads):
#   lots_200    GET /v1/lots, the whole FeatureCollection (16 connections)
#   lots_gzip   the same with Accept-Encoding: gzip (compressed once per snapshot)
#   lots_304    the same with If-None-Match: its ETag (16 connections)
#   near_max    GET /v1/lots?near=LON,LAT&limit=10 at random points of the city, as fast as it
#               goes (16 connections)
#   near_rate   the same paced at about --rate requests/s (default 1000: 20 connections, each
#               waiting 20 ms between its requests; wrk's latency excludes that wait)
#   static_big, static_gz, static_small
#               pf-api-static (bench/api_static.c): libmicrohttpd set up as parkfeed-api sets
#               it up, answering a fixed body of the size of the /v1/lots answer, of its gzip
#               form, and of a nearest-lot answer: what the HTTP stack alone does here
# Reported: requests/s, p50, p99 and max latency, non-2xx answers, and parkfeed-api's RSS
# (current and peak) after the run. Results go to stdout and, with --out, to DIR/results.env.
# Binaries come from $PF_BUILD_DIR (default build/); build it Release for figures worth
# keeping: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
set -euo pipefail

lots=10000
secs=10
rate=1000
threads=2
out=""
while (( $# )); do
	case $1 in
	--lots) lots=$2; shift ;;
	--seconds) secs=$2; shift ;;
	--rate) rate=$2; shift ;;
	--threads) threads=$2; shift ;;
	--out) out=$2; shift ;;
	--smoke) lots=500; secs=2; rate=200 ;;
	-h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "api_bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$lots" "$secs" "$rate" "$threads"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "api_bench.sh: not a positive integer: $v" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "api_bench.sh: wrk missing (scripts/deps.sh installs it)" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PF_SOURCE_DIR=${PF_SOURCE_DIR:-$(cd "$here/.." && pwd)}
export PF_SOURCE_DIR
export PF_TEST_NAME=api_bench
# shellcheck source-path=SCRIPTDIR/.. source=tests/lib/env.sh
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
static_bin=$PF_BUILD_DIR/bench/pf-api-static
[[ -x $PF_API && -x $PF_SIM && -x $PF_CTL && -x $static_bin ]] ||
	pf_fail "build first: $PF_API, $PF_SIM, $PF_CTL and $static_bin are needed (PF_BUILD_DIR=$PF_BUILD_DIR)"
results=$PF_TMP/results.env
: >"$results"
record() { echo "$1=$2" >>"$results"; }

pf_pg_start
pf_pg_migrate
cd "$PF_TMP"
pf_log "registering $lots lots with positions, one observation each"
"$PF_SIM" --seed 11 --emit-lots-csv "$lots" >lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null
pf_psql "SELECT parking.ingest_occupancy(array_agg(lot_id ORDER BY lot_id),
	array_agg((extract(epoch FROM now() - interval '1 minute') * 1000000)::int8),
	array_agg((extract(epoch FROM now()) * 1000000)::int8), array_agg(spaces),
	array_agg(spaces / 3), array_agg(spaces - spaces / 3), array_agg('open'::text),
	array_agg(NULL::bigint), array_agg('native'::text))
	FROM parking.lots" >/dev/null
# An interval long enough that the lots stay online through the run: the snapshot, its
# rendered answers and ETags stay the same, as between two changes of a lot in service.
pf_psql "UPDATE parking.lots SET expected_interval_s = 3600" >/dev/null

pf_api_conf_write api.conf api.threads="$threads" api.refresh_ms=2000 log.level=notice
pf_api_start api.conf
pf_api_wait_ready 60
lots_bytes=$(curl -s "$PF_API_URL/v1/lots" | wc -c)
near_bytes=$(curl -s "$PF_API_URL/v1/lots?near=113.2418,35.2159&limit=10" | wc -c)
gz_bytes=$(curl -s -H 'Accept-Encoding: gzip' "$PF_API_URL/v1/lots" | wc -c)
etag=$(curl -s -D - -o /dev/null "$PF_API_URL/v1/lots" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
record lots "$lots"
record lots_bytes "$lots_bytes"
record near_bytes "$near_bytes"
record gz_bytes "$gz_bytes"
pf_log "/v1/lots is $lots_bytes bytes, a nearest-lot answer about $near_bytes"

# Random points over the city and its counties; a request picks the next one.
cat >near.lua <<EOF
local pts, i = {}, 0
math.randomseed(7)
for k = 1, 4096 do
  pts[k] = string.format("/v1/lots?near=%.5f,%.5f&limit=10", 112.6 + math.random() * 1.1,
                         34.85 + math.random() * 0.5)
end
request = function() i = i % #pts + 1; return wrk.format("GET", pts[i]) end
EOF
cat >report.lua <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
end
EOF
cat near.lua report.lua >near_max.lua
{ cat near.lua; echo "delay = function() return $(( 20 * 1000 / rate )) end"; cat report.lua; } >near_rate.lua

# run NAME URL CONNECTIONS SCRIPT [wrk options...]
run() {
	local name=$1 url=$2 conns=$3 script=$4 line
	shift 4
	wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s -s "$script" "$@" "$url" >"wrk_$name.out" 2>&1 ||
		pf_fail "wrk $name: $(tail -n 3 "wrk_$name.out")"
	line=$(grep '^RESULT ' "wrk_$name.out") || pf_fail "wrk $name: no result: $(tail -n 3 "wrk_$name.out")"
	for kv in ${line#RESULT }; do
		record "${name}_${kv%%=*}" "${kv#*=}"
	done
	pf_log "$name: ${line#RESULT }"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run lots_200 "$PF_API_URL/v1/lots" 16 report.lua
run lots_gzip "$PF_API_URL/v1/lots" 16 report.lua -H 'Accept-Encoding: gzip'
run lots_304 "$PF_API_URL/v1/lots" 16 report.lua -H "If-None-Match: $etag"
run near_max "$PF_API_URL" 16 near_max.lua
run near_rate "$PF_API_URL" 20 near_rate.lua
read -r _ rss_kib _ < <(grep VmRSS "/proc/$PF_API_PID/status")
read -r _ hwm_kib _ < <(grep VmHWM "/proc/$PF_API_PID/status")
record api_rss_kib "$rss_kib"
record api_peak_rss_kib "$hwm_kib"
pf_log "parkfeed-api RSS $rss_kib KiB, peak $hwm_kib KiB"
pf_api_stop

for size in big gz small; do
	port=$(pf_free_port)
	case $size in big) bytes=$lots_bytes ;; gz) bytes=$gz_bytes ;; small) bytes=$near_bytes ;; esac
	"$static_bin" "$port" "$bytes" "$threads" &
	spid=$!
	pf_track_pid "$spid"
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
	run "static_$size" "http://127.0.0.1:$port/" 16 report.lua
	kill "$spid"
	wait "$spid" 2>/dev/null || true
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
record load_before "\"$load_before\""
record load_after "\"$load_after\""

echo
echo "parkfeed-api, $lots lots, $threads HTTP threads; wrk -t2, ${secs} s per phase, on 127.0.0.1"
printf '%-12s %10s %9s %9s %9s %8s\n' phase "req/s" "p50 ms" "p99 ms" "max ms" non2xx
for p in lots_200 lots_gzip lots_304 near_max near_rate static_big static_gz static_small; do
	g() { awk -F= -v k="$1" '$1 == k {print $2}' "$results"; }
	printf '%-12s %10s %9s %9s %9s %8s\n' "$p" "$(g "${p}_rps")" "$(g "${p}_p50_ms")" \
		"$(g "${p}_p99_ms")" "$(g "${p}_max_ms")" "$(g "${p}_non2xx")"
done
echo "bodies: /v1/lots $lots_bytes bytes ($gz_bytes gzip), nearest $near_bytes bytes"
echo "parkfeed-api RSS after the run: $rss_kib KiB (peak $hwm_kib KiB)"
echo "load average before: $load_before, after: $load_after"
if [[ -n $out ]]; then
	mkdir -p "$out"
	cp "$results" wrk_*.out "$out/"
fi
pf_pass
