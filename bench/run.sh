#!/usr/bin/env bash
# bench/run.sh: parkfeed's throughput, latency and footprint against a throwaway mosquitto and
# PostgreSQL, with the two limits (broker delivery, PostgreSQL COPY) measured in the same run.
# See docs/benchmarks.md for what each figure means and the results on the reference machine.
set -euo pipefail

usage() {
	cat <<-'EOF'
	Usage: bench/run.sh [OPTION]...
	Starts a throwaway mosquitto and PostgreSQL on 127.0.0.1 and measures, in one run:
	  A      the broker: a backlog delivered to a null subscriber (persistent session, QoS 1)
	  B      PostgreSQL: COPY of the same rows into parking.occupancy
	  drain  parkfeedd draining the same backlog (queued while it was stopped)
	  live   publish-to-commit latency at fixed publish rates
	  idle   parkfeedd's memory and CPU with lots reporting every 30 s

	  --messages N        backlog size (default 1000000)
	  --lots N            lots of the backlog and of the live traffic (default 500)
	  --live-rates LIST   comma-separated publish rates, msg/s (default 2000,20000)
	  --live-seconds S    seconds per live rate (default 30)
	  --idle-lots N       lots of the idle phase (default 3000)
	  --idle-seconds S    measured seconds of the idle phase (default 60)
	  --smoke             small and quick: 20000 messages, 5 s live, 5 s idle
	  --skip PHASES       comma-separated phases to leave out: a,b,drain,live,idle
	  --profile           also profile the drain: perf (whole machine, cpu-clock) and
	                      pg_stat_statements (statements inside ingest_occupancy too)
	  --out DIR           keep results.env, the report, logs and profiles in DIR
	  -h, --help          this help

	Binaries come from $PF_BUILD_DIR (default: build/ of the source tree); pf-nullsub from
	$PF_BUILD_DIR/bench, else it is compiled into the run's temporary directory.
	EOF
}

messages=1000000
lots=500
live_rates=2000,20000
live_seconds=30
idle_lots=3000
idle_seconds=60
skip=""
profile=0
out=""
while (( $# )); do
	case $1 in
	--messages) messages=$2; shift ;;
	--lots) lots=$2; shift ;;
	--live-rates) live_rates=$2; shift ;;
	--live-seconds) live_seconds=$2; shift ;;
	--idle-lots) idle_lots=$2; shift ;;
	--idle-seconds) idle_seconds=$2; shift ;;
	--smoke) messages=20000; live_seconds=5; idle_seconds=5 ;;
	--skip) skip=$2; shift ;;
	--profile) profile=1 ;;
	--out) out=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$messages" "$lots" "$live_seconds" "$idle_lots" "$idle_seconds"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: not a positive integer: $v" >&2; exit 2; }
done
[[ $live_rates =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
	{ echo "bench/run.sh: --live-rates wants N[,N...]" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"  # the test environment, the programs, say, calc, now_ms, busy, cpu_ticks

skipped() { [[ ",$skip," == *",$1,"* ]]; }

if [[ -n $out ]]; then
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
fi
results=$PF_TMP/results.env
: >"$results"

# key=value lines for scripts (tests/integration/bench_smoke.sh reads them).
result() {
	printf '%s=%s\n' "$1" "$2" >>"$results"
}

clk_tck=$(getconf CLK_TCK)

# tree_ticks PID: utime + stime of a process, of its children that have exited (cutime +
# cstime) and of those still running: PostgreSQL's postmaster and its backends.
tree_ticks() {
	local pid=$1 st sum c
	read -r st <"/proc/$pid/stat"
	st=${st##*) }
	# shellcheck disable=SC2086  # split into fields on purpose
	set -- $st
	sum=$(( ${12} + ${13} + ${14} + ${15} ))
	for c in $(ps -o pid= --ppid "$pid"); do
		sum=$(( sum + $(cpu_ticks "$c" 2>/dev/null || echo 0) ))
	done
	echo "$sum"
}

# status_kib PID FIELD: VmRSS, VmHWM ... in KiB.
status_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# pct TICKS0 TICKS1 MS0 MS1: CPU use between two samples, in % of one core.
pct() {
	calc "sprintf(\"%.2f\", 100 * ($2 - $1) / $clk_tck / (($4 - $3) / 1000))"
}

loadavg() {
	cut -d' ' -f1-3 /proc/loadavg
}

# ---------------------------------------------------------------------------------------
# Programs

NULLSUB=${PF_NULLSUB:-$PF_BUILD_DIR/bench/pf-nullsub}
if [[ ! -x $NULLSUB ]]; then
	NULLSUB=$PF_TMP/pf-nullsub
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$NULLSUB" "$PF_SOURCE_DIR/bench/nullsub.c" \
		-lmosquitto || pf_fail "cannot compile bench/nullsub.c"
fi

# ---------------------------------------------------------------------------------------
# Servers

pf_pg_start
{
	echo "# bench/run.sh: commit times of rows, for publish-to-commit latency"
	echo "track_commit_timestamp = on"
	if (( profile )); then
		echo "shared_preload_libraries = 'pg_stat_statements'"
		echo "pg_stat_statements.track = all"
	fi
} >>"$PF_PG_DATA/postgresql.conf"
pf_pg_restart fast
pf_pg_migrate
(( profile )) && pf_psql "CREATE EXTENSION pg_stat_statements" >/dev/null

# max_queued_messages 0: no limit on what the broker queues for an offline persistent
# session (the default, 1000, silently drops the rest of a backlog). max_inflight_messages 0:
# no limit on unacknowledged QoS 1 messages per client; parkfeedd holds its PUBACKs until the
# spool is fdatasync'd, so with the default 20 the broker would send 20 messages per sync.
pf_mqtt_start "max_queued_messages 0" "max_inflight_messages 0"

conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" mqtt.client_id=parkfeed-bench
topic_filter='parking/+/occupancy'
base_time=$(( $(date +%s) - 3 * 86400 ))
sim() {
	"$PF_SIM" --port "$PF_MQTT_PORT" "$@"
}
backlog() {
	local line
	line=$(sim --burst --count "$messages" --lots "$lots" --seq --base-time "$base_time") ||
		pf_fail "parkfeed-sim could not publish the backlog"
	pf_log "backlog: $line"
	[[ $line =~ \(([0-9]+)\ msg/s\) ]] && result publish_rate "${BASH_REMATCH[1]}"
	return 0
}

host_info() {
	local model mem
	model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	say "# parkfeed benchmark, $(date '+%F %T %Z')"
	say ""
	say "machine: $(nproc) CPUs, ${model:-unknown CPU}, $mem; kernel $(uname -r)"
	say "mosquitto $("$PF_MOSQUITTO" -h 2>/dev/null | awk '/version/ { print $3; exit }')," \
		"PostgreSQL $("$PF_PG_BINDIR/postgres" --version | awk '{ print $3 }'),"\
		"$("$PF_DAEMON" --version 2>&1 | head -n1)"
	say "backlog $messages messages over $lots lots; live ${live_rates//,/ and } msg/s for" \
		"${live_seconds} s each; idle $idle_lots lots every 30 s for ${idle_seconds} s"
	say "load average at start: $(loadavg)"
	say ""
}
host_info

# ---------------------------------------------------------------------------------------
# Limit A: the broker delivering the backlog to a subscriber that only counts

broker_rate=""
if ! skipped a; then
	nullsub_id=pf-bench-nullsub
	"$NULLSUB" --port "$PF_MQTT_PORT" --id "$nullsub_id" --topic "$topic_filter" --create ||
		pf_fail "nullsub could not create its session"
	backlog
	load=$(loadavg)
	mq0=$(cpu_ticks "$PF_MQTT_PID")
	line=$("$NULLSUB" --port "$PF_MQTT_PORT" --id "$nullsub_id" --topic "$topic_filter" \
		--count "$messages" --timeout 30) || pf_fail "nullsub did not receive the backlog: $line"
	# What delivering costs the broker itself, per message (its floor in the drain).
	result broker_cpu_us "$(calc "sprintf(\"%.1f\", ($(cpu_ticks "$PF_MQTT_PID") - $mq0) / $clk_tck * 1e6 / $messages)")"
	"$NULLSUB" --port "$PF_MQTT_PORT" --id "$nullsub_id" --topic "$topic_filter" --forget
	pf_log "A: $line"
	[[ $line =~ ^received\ ([0-9]+)\ in\ ([0-9.]+)\ s\ \(([0-9]+)\ msg/s\) ]] ||
		pf_fail "unexpected nullsub output: $line"
	broker_rate=${BASH_REMATCH[3]}
	result broker_rate "$broker_rate"
	result broker_seconds "${BASH_REMATCH[2]}"
	result broker_load "$load"
fi

# ---------------------------------------------------------------------------------------
# The drain: the same backlog queued for parkfeedd while it is stopped

drain_rate=""
if ! skipped drain; then
	pf_daemon_start "$conf"
	pf_daemon_wait_log 'mqtt: connected' 30
	pf_daemon_wait_log 'postgres: connected' 30
	pf_daemon_stop "$PF_DAEMON_PID"
	backlog

	if (( profile )); then
		pf_psql "SELECT pg_stat_statements_reset()" >/dev/null
	fi
	load=$(loadavg)
	# The three processes share the machine: what each spends per message says which
	# one limits the drain.
	pg_pid=$(pf__pg_pid)
	# All committed: every lot's newest row carries its last seq (a lot's k-th message has
	# seq k - 1), so sum(seq) + count(*) over lot_state is the backlog once the last
	# message of every lot is in, and commits happen in spool order. A cheap query on one
	# row per lot, unlike count(*) on the growing table, asked every 0.1 s by one psql
	# (\watch): a psql and a backend started per poll took 12% of the machine's CPU in a
	# profile of the drain, time the three measured processes did not get.
	mkfifo "$PF_TMP/drain-watch"
	printf '%s\n\\watch 0.1\n' "SELECT coalesce(sum(seq + 1), 0) FROM parking.lot_state" |
		psql -XAtq -d "$PF_PG_SUPER_CONNINFO" >"$PF_TMP/drain-watch" 2>&1 &
	watch_pid=$!
	pf_track_pid "$watch_pid"
	exec {watch_fd}<"$PF_TMP/drain-watch"
	mq0=$(cpu_ticks "$PF_MQTT_PID")
	pg0=$(tree_ticks "$pg_pid")
	read -r m_busy0 m_all0 <<<"$(busy)"
	t0=$(now_ms)
	pf_daemon_start "$conf"
	drain_pid=$PF_DAEMON_PID
	perf_pid=""
	if (( profile )) && command -v perf >/dev/null; then
		perf record -a -g -F 499 -e cpu-clock -o "$PF_TMP/perf.data" \
			>"$PF_TMP/perf-record.log" 2>&1 &
		perf_pid=$!
		pf_track_pid "$perf_pid"
	fi
	deadline=$(( t0 + 1800 * 1000 ))
	got=0
	while :; do
		IFS= read -r -t 60 -u "$watch_fd" got ||
			pf_fail "drain: the polling psql stopped answering ($got committed)"
		[[ $got == "$messages" ]] && break
		pf_alive "$drain_pid" || pf_fail "parkfeedd exited during the drain"
		(( $(now_ms) < deadline )) || pf_fail "drain not finished after 1800 s ($got)"
	done
	t1=$(now_ms)
	read -r m_busy1 m_all1 <<<"$(busy)"
	hwm=$(status_kib "$drain_pid" VmHWM)
	ticks=$(cpu_ticks "$drain_pid")
	mq_ticks=$(( $(cpu_ticks "$PF_MQTT_PID") - mq0 ))
	pg_ticks=$(( $(tree_ticks "$pg_pid") - pg0 ))
	kill "$watch_pid" 2>/dev/null || true
	wait "$watch_pid" 2>/dev/null || true
	exec {watch_fd}<&-
	if [[ -n $perf_pid ]]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
	fi
	pf_daemon_stop "$PF_DAEMON_PID"
	rows=$(pf_psql "SELECT count(*) FROM parking.occupancy")
	[[ $rows == "$messages" ]] || pf_fail "drain stored $rows rows, expected $messages"
	drain_s=$(calc "($t1 - $t0) / 1000")
	drain_rate=$(calc "int($messages / $drain_s + 0.5)")
	result drain_seconds "$drain_s"
	result drain_rate "$drain_rate"
	result drain_peak_rss_kib "$hwm"
	result drain_cpu_seconds "$(calc "$ticks / $clk_tck")"
	result drain_broker_cpu_seconds "$(calc "$mq_ticks / $clk_tck")"
	result drain_pg_cpu_seconds "$(calc "$pg_ticks / $clk_tck")"
	# Busy cores of the whole machine (kernel included) against the three processes' sum.
	result drain_machine_busy_cores "$(calc "sprintf(\"%.2f\", $(nproc) * ($m_busy1 - $m_busy0) / ($m_all1 - $m_all0))")"
	result drain_processes_cores "$(calc "sprintf(\"%.2f\", ($ticks + $mq_ticks + $pg_ticks) / $clk_tck / $drain_s)")"
	result drain_load "$load"
	pf_log "drain: $messages rows in $drain_s s ($drain_rate msg/s), VmHWM $hwm KiB"

	if (( profile )); then
		pf_psql "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
			round(mean_exec_time::numeric, 2) AS mean_ms, rows,
			regexp_replace(left(query, 90), '\s+', ' ', 'g')
			FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" \
			>"$PF_TMP/pg_stat_statements.txt"
		if [[ -s $PF_TMP/perf.data ]]; then
			perf report -i "$PF_TMP/perf.data" --stdio --sort comm --no-children \
				>"$PF_TMP/perf-comm.txt" 2>/dev/null || true
			perf report -i "$PF_TMP/perf.data" --stdio --comm parkfeedd --no-children \
				--sort dso,symbol -g none --percent-limit 0.7 \
				>"$PF_TMP/perf-parkfeedd.txt" 2>/dev/null || true
			perf report -i "$PF_TMP/perf.data" --stdio --comm postgres --no-children \
				--sort dso,symbol -g none --percent-limit 0.7 \
				>"$PF_TMP/perf-postgres.txt" 2>/dev/null || true
			perf report -i "$PF_TMP/perf.data" --stdio --comm parkfeedd --children \
				--sort symbol -g none --percent-limit 3 \
				>"$PF_TMP/perf-parkfeedd-children.txt" 2>/dev/null || true
		fi
	fi
fi

# ---------------------------------------------------------------------------------------
# Limit B: COPY of the same rows into the same table

copy_rate=""
if ! skipped b; then
	copydir=$PF_TMP/copy
	mkdir -p "$copydir"
	(( EUID == 0 )) && chown postgres: "$copydir"
	csv=$copydir/rows.csv
	if [[ $(pf_psql "SELECT count(*) FROM parking.occupancy") != "$messages" ]]; then
		# No drain in this run: rows like the backlog's, made up in SQL.
		pf_psql "TRUNCATE parking.occupancy"
		pf_psql "INSERT INTO parking.occupancy
			SELECT 'JZ-B-' || lpad((i % $lots)::text, 3, '0'),
			       to_timestamp($base_time + i / $lots), now(), 300, 100, 200, 'open',
			       i / $lots + 1, 'native'
			FROM generate_series(0, $messages - 1) AS i" >/dev/null
	fi
	pf_psql "COPY (SELECT * FROM parking.occupancy) TO '$csv' (FORMAT csv)"
	best=""
	for try in 1 2; do
		pf_psql "TRUNCATE parking.occupancy"
		pf_psql "CHECKPOINT"
		load=$(loadavg)
		pg0=$(tree_ticks "$(pf__pg_pid)")
		t0=$(now_ms)
		pf_psql "COPY parking.occupancy FROM '$csv' (FORMAT csv)"
		t1=$(now_ms)
		sleep 0.5 # the backend's CPU reaches the postmaster's children time once it is reaped
		pg_us=$(calc "sprintf(\"%.1f\", ($(tree_ticks "$(pf__pg_pid)") - $pg0) / $clk_tck * 1e6 / $messages)")
		s=$(calc "($t1 - $t0) / 1000")
		r=$(calc "int($messages / $s + 0.5)")
		pf_log "B: COPY $messages rows in $s s ($r rows/s, $pg_us µs of CPU a row), load $load"
		result "copy_rate_$try" "$r"
		if [[ -z $best ]] || (( r > best )); then
			best=$r
			result copy_load "$load"
			result copy_cpu_us "$pg_us"
		fi
	done
	copy_rate=$best
	result copy_rate "$copy_rate"
fi

# The table as after a drain, without autovacuum and a checkpoint falling into the live phase.
pf_psql "VACUUM (ANALYZE) parking.occupancy"
pf_psql "VACUUM (ANALYZE) parking.lot_state"
pf_psql "CHECKPOINT"

if [[ -n $drain_rate && -n $broker_rate && -n $copy_rate ]]; then
	limit=$(( broker_rate < copy_rate ? broker_rate : copy_rate ))
	result drain_ratio "$(calc "sprintf(\"%.2f\", $drain_rate / $limit)")"
fi

# ---------------------------------------------------------------------------------------
# Live: publish-to-commit latency. The sim writes its publish time (epoch ms) into ts, so
# observed_at is the publish time; track_commit_timestamp gives each row's commit time.

if ! skipped live; then
	pf_daemon_start "$conf"
	pf_daemon_wait_log 'mqtt: connected' 30
	pf_daemon_wait_log 'postgres: connected' 30
	live_pid=$PF_DAEMON_PID
	IFS=, read -r -a rates <<<"$live_rates"
	for rate in "${rates[@]}"; do
		# Earlier phases leave hundreds of MB dirty (PostgreSQL runs with fsync = off);
		# the kernel would write them back in bursts every 5 s into this phase, and each
		# burst stalls the spool's fdatasync behind it. Measure the daemon, not them.
		sync
		load=$(loadavg)
		c0=$(cpu_ticks "$live_pid")
		t0=$(now_ms)
		line=$(sim --stamp --rate "$rate" --duration "$live_seconds" --lots "$lots") ||
			pf_fail "parkfeed-sim failed at $rate msg/s"
		t1=$(now_ms)
		[[ $line =~ published\ ([0-9]+)\ .*\(([0-9]+)\ msg/s\) ]] ||
			pf_fail "unexpected parkfeed-sim output: $line"
		published=${BASH_REMATCH[1]}
		achieved=${BASH_REMATCH[2]}
		# ts is the publish time in whole ms, so from t0 on the previous rate's messages
		# (all published before this t0) stay out.
		span="observed_at >= to_timestamp($t0 / 1000.0)
			AND observed_at <= to_timestamp($t1 / 1000.0)"
		# The publisher has had every PUBACK: what is not committed yet is the backlog.
		done_rows=$(pf_psql "SELECT count(*) FROM parking.occupancy WHERE $span")
		backlog_end=$(( published - done_rows ))
		deadline=$(( $(now_ms) + 120000 ))
		while (( done_rows < published )); do
			(( $(now_ms) < deadline )) || pf_fail "live $rate: $done_rows of $published rows after 120 s"
			sleep 0.05
			done_rows=$(pf_psql "SELECT count(*) FROM parking.occupancy WHERE $span")
		done
		catchup_s=$(calc "($(now_ms) - $t1) / 1000")
		c1=$(cpu_ticks "$live_pid")
		# Latency per row; the first and the last third's p50 tell whether lag grows, their
		# p99 whether stalls do.
		third_a="to_timestamp(($t0 + ($t1 - $t0) / 3) / 1000.0)"
		third_b="to_timestamp(($t1 - ($t1 - $t0) / 3) / 1000.0)"
		stats=$(pf_psql "
			SELECT count(*),
			       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
			       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
			       round(max(ms)::numeric, 1),
			       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)
				      FILTER (WHERE observed_at < $third_a))::numeric, 1),
			       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)
				      FILTER (WHERE observed_at > $third_b))::numeric, 1),
			       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)
				      FILTER (WHERE observed_at < $third_a))::numeric, 1),
			       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)
				      FILTER (WHERE observed_at > $third_b))::numeric, 1)
			FROM (SELECT observed_at,
			             extract(epoch FROM pg_xact_commit_timestamp(xmin) - observed_at)
			             * 1000 AS ms
			      FROM parking.occupancy WHERE $span) l")
		IFS='|' read -r n p50 p99 pmax p99_first p99_last p50_first p50_last <<<"$stats"
		# Per second of publishing: rows, p50, p99, max (in the --out directory).
		pf_psql "
			SELECT to_char(date_trunc('second', observed_at), 'HH24:MI:SS'), count(*),
			       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
			       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
			       round(max(ms)::numeric, 1)
			FROM (SELECT observed_at,
			             extract(epoch FROM pg_xact_commit_timestamp(xmin) - observed_at)
			             * 1000 AS ms
			      FROM parking.occupancy WHERE $span) l
			GROUP BY 1 ORDER BY 1" >"$PF_TMP/live-$rate-per-second.txt"
		# Bounded: the rows left when the publisher stopped are committed within 2 s, and
		# the typical lag (p50) of the last third is not far above the first third's. The
		# p99 is not the test: one disk stall late in the run moves it without any backlog.
		bounded=yes
		if awk "BEGIN { exit !($catchup_s > 2 || $p50_last > 2 * $p50_first + 50) }"; then
			bounded=no
		fi
		k=live_$rate
		result "${k}_achieved" "$achieved"
		result "${k}_rows" "$n"
		result "${k}_p50_ms" "$p50"
		result "${k}_p99_ms" "$p99"
		result "${k}_max_ms" "$pmax"
		result "${k}_p99_first_third_ms" "$p99_first"
		result "${k}_p99_last_third_ms" "$p99_last"
		result "${k}_p50_first_third_ms" "$p50_first"
		result "${k}_p50_last_third_ms" "$p50_last"
		result "${k}_backlog_end" "$backlog_end"
		result "${k}_catchup_s" "$catchup_s"
		result "${k}_bounded" "$bounded"
		result "${k}_cpu_pct" "$(pct "$c0" "$c1" "$t0" "$t1")"
		result "${k}_load" "$load"
		pf_log "live $rate: $n rows (published $published at $achieved/s), p50 $p50 ms," \
			"p99 $p99 ms, max $pmax ms, backlog at end $backlog_end, caught up in $catchup_s s"
	done
	result live_peak_rss_kib "$(status_kib "$live_pid" VmHWM)"
	pf_daemon_stop "$PF_DAEMON_PID"
fi

# ---------------------------------------------------------------------------------------
# Idle: a fresh daemon, lots reporting every 30 s

if ! skipped idle; then
	pf_daemon_start "$conf"
	pf_daemon_wait_log 'mqtt: connected' 30
	pf_daemon_wait_log 'postgres: connected' 30
	idle_pid=$PF_DAEMON_PID
	sim --lots "$idle_lots" --interval 30 --duration $(( idle_seconds + 10 )) \
		>"$PF_TMP/idle-sim.log" 2>&1 &
	sim_pid=$!
	pf_track_pid "$sim_pid"
	sleep 3 # connected and publishing
	load=$(loadavg)
	c0=$(cpu_ticks "$idle_pid")
	t0=$(now_ms)
	sleep "$idle_seconds"
	c1=$(cpu_ticks "$idle_pid")
	t1=$(now_ms)
	rss=$(status_kib "$idle_pid" VmRSS)
	hwm=$(status_kib "$idle_pid" VmHWM)
	kill -TERM "$sim_pid" 2>/dev/null || true
	wait "$sim_pid" 2>/dev/null || true
	pf_daemon_stop "$PF_DAEMON_PID"
	result idle_rss_kib "$rss"
	result idle_peak_rss_kib "$hwm"
	result idle_cpu_pct "$(pct "$c0" "$c1" "$t0" "$t1")"
	result idle_load "$load"
	pf_log "idle: VmRSS $rss KiB, CPU $(pct "$c0" "$c1" "$t0" "$t1") % of a core"
fi

# ---------------------------------------------------------------------------------------
# Report

get() {
	awk -F= -v k="$1" '$1 == k { v = substr($0, length(k) + 2) } END { print v }' "$results"
}
mib() {
	local v
	v=$(get "$1")
	[[ -n $v ]] && calc "sprintf(\"%.1f MiB\", $v / 1024)"
}
verdict() {
	if awk "BEGIN { exit !($1) }"; then echo holds; else echo "does not hold"; fi
}

say "| figure | value | target | load avg |"
say "|---|---|---|---|"
if [[ -n $broker_rate ]]; then
	say "| A: broker delivery to a null subscriber | $broker_rate msg/s; mosquitto $(get broker_cpu_us) µs of CPU a message | | $(get broker_load) |"
fi
if [[ -n $copy_rate ]]; then
	say "| B: PostgreSQL COPY (best of 2) | $copy_rate rows/s; PostgreSQL $(get copy_cpu_us) µs of CPU a row | | $(get copy_load) |"
fi
if [[ -n $drain_rate ]]; then
	ratio=$(get drain_ratio)
	tgt=""
	[[ -n $ratio ]] && tgt=">= 0.8 x min(A, B): $(verdict "$ratio >= 0.8")"
	say "| drain of $messages messages | $(get drain_seconds) s, $drain_rate msg/s${ratio:+, ratio $ratio} | $tgt | $(get drain_load) |"
	say "| drain: peak RSS (VmHWM) | $(mib drain_peak_rss_kib) | <= 64 MiB: $(verdict "$(get drain_peak_rss_kib) <= 65536") | |"
	say "| drain: CPU (user + system) | $(get drain_cpu_seconds) s | | |"
	us() { calc "sprintf(\"%.1f\", $(get "$1") * 1e6 / $messages)"; }
	say "| drain: CPU per message | parkfeedd $(us drain_cpu_seconds) µs, mosquitto $(us drain_broker_cpu_seconds) µs, PostgreSQL $(us drain_pg_cpu_seconds) µs (all its processes, this script's polling included) | | |"
	if [[ -n $ratio ]]; then
		# The target's CPU budget against what broker and database spend alone.
		say "| drain: CPU budget at the target | $(nproc) cores at 0.8 x $limit msg/s allow $(calc "sprintf(\"%.1f\", $(nproc) * 1e6 / (0.8 * $limit))") µs a message for all three; the broker alone (in A) spends $(get broker_cpu_us) µs, PostgreSQL alone (in B) $(get copy_cpu_us) µs | | |"
	fi
	say "| drain: busy cores | the three processes $(get drain_processes_cores), the whole machine $(get drain_machine_busy_cores) of $(nproc) (kernel threads, the polling psql and steal included) | | |"
fi
if ! skipped live; then
	for rate in "${rates[@]}"; do
		k=live_$rate
		tgt=""
		if (( rate == 2000 )); then
			tgt="p99 <= 50 ms: $(verdict "$(get "${k}_p99_ms") <= 50")"
		else
			tgt="lag bounded: $(get "${k}_bounded")"
		fi
		say "| live $rate msg/s (achieved $(get "${k}_achieved")), publish to commit | p50 $(get "${k}_p50_ms") ms, p99 $(get "${k}_p99_ms") ms, max $(get "${k}_max_ms") ms; first/last third p50 $(get "${k}_p50_first_third_ms")/$(get "${k}_p50_last_third_ms") ms, p99 $(get "${k}_p99_first_third_ms")/$(get "${k}_p99_last_third_ms") ms; backlog at end $(get "${k}_backlog_end") rows, caught up in $(get "${k}_catchup_s") s; daemon CPU $(get "${k}_cpu_pct") % | $tgt | $(get "${k}_load") |"
	done
fi
if ! skipped idle; then
	say "| idle ($idle_lots lots / 30 s): RSS | $(mib idle_rss_kib) (peak $(mib idle_peak_rss_kib)) | <= 16 MiB: $(verdict "$(get idle_rss_kib) <= 16384") | $(get idle_load) |"
	say "| idle: CPU | $(get idle_cpu_pct) % of a core | < 1 %: $(verdict "$(get idle_cpu_pct) < 1") | |"
fi
say ""
say "load average at the end: $(loadavg)"

if (( profile )); then
	for f in pg_stat_statements.txt perf-comm.txt perf-parkfeedd.txt perf-parkfeedd-children.txt \
		perf-postgres.txt; do
		[[ -s $PF_TMP/$f ]] || continue
		printf '\n----- %s -----\n' "$f"
		grep -v '^#' "$PF_TMP/$f" | grep -v '^$' | head -n 40
	done
fi

if [[ -n $out ]]; then
	cp "$results" "$report" "$out/"
	for f in daemon.log mosquitto.log pg.log pg_stat_statements.txt perf-comm.txt \
		perf-parkfeedd.txt perf-parkfeedd-children.txt perf-postgres.txt; do
		[[ -f $PF_TMP/$f ]] && cp "$PF_TMP/$f" "$out/"
	done
	for f in "$PF_TMP"/live-*-per-second.txt; do
		[[ -f $f ]] && cp "$f" "$out/"
	done
	pf_log "results in $out"
fi
