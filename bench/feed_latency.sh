#!/usr/bin/env bash
# bench/feed_latency.sh: from the commit that changes a lot to its live-feed message arriving
# at a subscriber, against a throwaway mosquitto and PostgreSQL. See docs/benchmarks.md.
set -euo pipefail

usage() {
	cat <<-'EOF'
	Usage: bench/feed_latency.sh [OPTION]...
	parkfeedd with [feed] topic_prefix = availability and a registry of N lots; parkfeed-sim
	publishes live traffic at a fixed rate; mosquitto_sub notes when each lot message arrives.
	Latency = arrival - the commit time of the observation the message reports (its row's
	pg_xact_commit_timestamp(xmin), track_commit_timestamp = on), over every message.

	  --lots N       lots (default 3000)
	  --rates LIST   comma-separated publish rates, msg/s (default 100,1000,5000)
	  --seconds S    seconds per rate (default 30)
	  --inflight N   the daemon's [feed] max_inflight (default: its default)
	  --out DIR      keep the report, the arrivals and the logs in DIR
	  -h, --help     this help

	Binaries come from $PF_BUILD_DIR (default: build/ of the source tree).
	EOF
}

lots=3000
rates=100,1000,5000
seconds=30
inflight=""
out=""
while (( $# )); do
	case $1 in
	--lots) lots=$2; shift ;;
	--rates) rates=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--inflight) inflight=$2; shift ;;
	--out) out=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench/feed_latency.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$lots" "$seconds"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench/feed_latency.sh: not a positive integer: $v" >&2; exit 2; }
done
[[ $rates =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
	{ echo "bench/feed_latency.sh: --rates wants N[,N...]" >&2; exit 2; }

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PF_TMP"

pf_pg_start
printf '# bench/feed_latency.sh: commit times of rows\ntrack_commit_timestamp = on\n' \
	>>"$PF_PG_DATA/postgresql.conf"
pf_pg_restart fast
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0" "max_inflight_messages 0"
"$PF_SIM" --emit-lots-csv "$lots" >lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null || pf_fail "lots import"
mport=$(pf_free_port)
PF_METRICS_URL=http://127.0.0.1:$mport
pf_conf_write parkfeed.conf feed.topic_prefix=availability metrics.listen=127.0.0.1:$mport \
	${inflight:+feed.max_inflight=$inflight}
pf_daemon_start parkfeed.conf
pf_daemon_wait_log 'mqtt: connected' 30
pf_daemon_wait_log 'postgres: connected' 30

say "# parkfeed: live feed latency, $(date '+%F %T %Z')"
say ""
say "$(host_line); $lots lots, $seconds s per rate; [feed] max_inflight ${inflight:-100}"
say ""
say "| publish rate | lot messages | p50 ms | p90 ms | p99 ms | max ms | daemon's part: p50, p99 at most (ms) | daemon CPU | load average after |"
say "|---|---|---|---|---|---|---|---|---|"

# hist_q BEFORE AFTER Q: of the daemon's feed latency histogram between two scrapes, the upper
# bound (ms) of the bucket holding the quantile Q
hist_q() {
	awk -v q="$3" -F'[{}" ]+' '
		$1 == "parkfeed_feed_latency_seconds_bucket" {
			if (FILENAME == ARGV[1]) { b[$3] = $NF; next }
			le[++k] = $3; c[k] = $NF - b[$3]
		}
		END { for (i = 1; i <= k; i++) if (c[i] >= q * c[k]) { print (le[i] == "+Inf" ? "inf" : le[i] * 1000); exit } }' \
		"$1" "$2"
}
for rate in ${rates//,/ }; do
	# arrivals: epoch seconds.nanoseconds, retain flag, topic, payload (the retained messages
	# of the rates before, handed over at the subscription, are not this rate's)
	mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" -q 1 -t 'availability/lots/+' \
		-F '@s.@N %r %t %p' >"arrivals-$rate.txt" 2>/dev/null &
	sub_pid=$!
	pf_track_pid "$sub_pid"
	# subscribed once a retained message of an earlier round, or a probe, arrives
	for _ in $(seq 100); do
		mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -t availability/lots/PROBE -m probe
		grep -q ' 0 availability/lots/PROBE probe' "arrivals-$rate.txt" && break
		sleep 0.1
	done
	pf_scrape
	cp metrics.txt "metrics-$rate-before.txt"
	c0=$(cpu_ticks "$PF_DAEMON_PID")
	"$PF_SIM" --port "$PF_MQTT_PORT" --lots "$lots" --rate "$rate" --duration "$seconds" \
		--stamp --seed "$rate" >"sim-$rate.out" || pf_fail "parkfeed-sim: $(cat "sim-$rate.out")"
	c1=$(cpu_ticks "$PF_DAEMON_PID")
	sleep 2 # the last commits and their messages
	kill "$sub_pid"
	wait "$sub_pid" 2>/dev/null || true
	pf_scrape
	# lot, observed_at (microseconds), arrival (microseconds) of every lot message
	python3 - "arrivals-$rate.txt" >"arrivals-$rate.csv" <<-'EOF'
		import datetime, json, sys
		for line in open(sys.argv[1], encoding="utf-8"):
		    at, retained, topic, payload = line.rstrip("\n").split(" ", 3)
		    if topic.endswith("/PROBE") or retained == "1":
		        continue
		    e = json.loads(payload)
		    t = datetime.datetime.fromisoformat(e["occupancyModified"].replace("Z", "+00:00"))
		    s, ns = at.split(".")
		    print("%s,%d,%d" % (topic.rsplit("/", 1)[1], round(t.timestamp() * 1e6),
		                        int(s) * 1000000 + int(ns) // 1000))
	EOF
	stats=$(pf_psql <<-EOF
		CREATE TEMP TABLE a (lot_id text, observed_us bigint, arrival_us bigint);
		\copy a FROM 'arrivals-$rate.csv' WITH (FORMAT csv)
		SELECT count(*) || '|' ||
		       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || '|' ||
		       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 1) || '|' ||
		       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) || '|' ||
		       round(max(ms)::numeric, 1)
		FROM (SELECT (a.arrival_us - (extract(epoch FROM pg_xact_commit_timestamp(o.xmin))
		              * 1000000)::bigint) / 1000.0 AS ms
		      FROM a JOIN parking.occupancy o ON o.lot_id = a.lot_id
		       AND o.observed_at = timestamptz 'epoch' + a.observed_us * interval '1 microsecond') x;
	EOF
	)
	IFS='|' read -r n p50 p90 p99 max <<<"$stats"
	say "| $rate msg/s | $n | $p50 | $p90 | **$p99** | $max |" \
		"$(hist_q "metrics-$rate-before.txt" metrics.txt 0.5), $(hist_q "metrics-$rate-before.txt" metrics.txt 0.99) |" \
		"$(awk "BEGIN { printf \"%.0f%%\", 100 * ($c1 - $c0) / $(getconf CLK_TCK) / $seconds }") |" \
		"$(cut -d' ' -f1-3 /proc/loadavg) |"
	pf_log "rate $rate: $(cat "sim-$rate.out")"
done
pf_scrape
say ""
say "feed totals: published $(pf_metric 'parkfeed_feed_published_total{kind="lot"}') lot and" \
	"$(pf_metric 'parkfeed_feed_published_total{kind="district"}') district messages," \
	"coalesced $(pf_metric 'parkfeed_feed_coalesced_total{kind="lot"}') lot changes," \
	"dropped $(pf_metric 'parkfeed_feed_dropped_total{kind="lot"}'). The daemon's part is its"
say "parkfeed_feed_latency_seconds histogram over the rate: from learning of the commit to"
say "handing the message to the broker connection."
pf_daemon_stop
if [[ -n $out ]]; then
	mkdir -p "$out"
	cp "$report" arrivals-*.txt daemon.log "$out/"
	pf_log "report and arrivals in $out"
fi
pf_pass
