#!/usr/bin/env bash
# bench/shared_drain.sh: how fast 1, 2 and 3 parkfeedd in one [mqtt] shared_group drain a
# backlog, against a throwaway mosquitto and PostgreSQL. See docs/benchmarks.md.
set -euo pipefail

usage() {
	cat <<-'EOF'
	Usage: bench/shared_drain.sh [OPTION]...
	For each group size: a fresh broker session store, the group's daemons started once (their
	sessions subscribe to $share/bench/parking/+/occupancy), stopped, a backlog published,
	the daemons started again and timed until every message is committed.

	  --messages N   backlog size (default 300000)
	  --lots N       lots of the backlog (default 500)
	  --groups LIST  comma-separated group sizes (default 1,2,3)
	  --rounds N     rounds of every size, interleaved (default 2)
	  --out DIR      keep the report and logs in DIR
	  -h, --help     this help

	Binaries come from $PF_BUILD_DIR (default: build/ of the source tree).
	EOF
}

messages=300000
lots=500
groups=1,2,3
rounds=2
out=""
while (( $# )); do
	case $1 in
	--messages) messages=$2; shift ;;
	--lots) lots=$2; shift ;;
	--groups) groups=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--out) out=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench/shared_drain.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$messages" "$lots" "$rounds"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench/shared_drain.sh: not a positive integer: $v" >&2; exit 2; }
done
[[ $groups =~ ^[1-9](,[1-9])*$ ]] || { echo "bench/shared_drain.sh: --groups wants N[,N...] of 1-9" >&2; exit 2; }

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pf_pg_start
pf_pg_migrate
# As bench/run.sh: nothing dropped from a backlog queued for an offline session, and no cap
# on unacknowledged messages (the daemons acknowledge after each fdatasync).
pf_mqtt_start "max_queued_messages 0" "max_inflight_messages 0"

say "# parkfeed: drain of one backlog by 1, 2 and 3 daemons in one shared group, $(date '+%F %T %Z')"
say ""
say "$(host_line)"
say "backlog $messages messages over $lots lots, daemons at their defaults; every round a fresh"
say "broker session store, a new base time (no row is a repeat)"
say ""
say "| daemons | run | drain s | msg/s | machine busy cores | load average after |"
say "|---|---|---|---|---|---|"

round_no=0
# drain K: one timed round of K daemons
drain() {
	local k=$1 i base t0 t1 got rows b0 a0 b1 a1
	round_no=$(( round_no + 1 ))
	base=$(( $(date +%s) - 30 * 86400 + round_no * 86400 ))
	# a session store of this round only: earlier groups' sessions would get the backlog too
	pf_mqtt_stop
	rm -f "$PF_TMP/mqtt/mosquitto.db"
	pf_mqtt_start_again
	local -a pids=()
	for (( i = 1; i <= k; i++ )); do
		mkdir -p "$PF_TMP/spool-$round_no-$i"
		pf_conf_write "$PF_TMP/d-$round_no-$i.conf" mqtt.client_id="bench-$round_no-$i" \
			mqtt.shared_group=bench spool.dir="$PF_TMP/spool-$round_no-$i"
		pf_daemon_start "$PF_TMP/d-$round_no-$i.conf"
		pids+=("$PF_DAEMON_PID")
	done
	for _ in $(seq 300); do
		(( $(grep -c "as bench-$round_no-" "$PF_TMP/daemon.log" || true) >= k )) && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do pf_daemon_stop "$pid"; done
	"$PF_SIM" --port "$PF_MQTT_PORT" --burst --count "$messages" --lots "$lots" --seq \
		--base-time "$base" >"$PF_TMP/sim-$round_no.out" || pf_fail "parkfeed-sim failed"
	local before
	before=$(pf_psql "SELECT count(*) FROM parking.occupancy")
	read -r b0 a0 <<<"$(busy)"
	t0=$(now_ms)
	pids=()
	for (( i = 1; i <= k; i++ )); do
		pf_daemon_start "$PF_TMP/d-$round_no-$i.conf"
		pids+=("$PF_DAEMON_PID")
	done
	# every lot's newest message in (lot_state: one row per lot, cheap to ask), then every row
	while :; do
		got=$(pf_psql "SELECT coalesce(sum(seq + 1), 0) FROM parking.lot_state
			WHERE observed_at >= to_timestamp($base)")
		[[ $got == "$messages" ]] && break
		(( $(now_ms) - t0 < 1800000 )) || pf_fail "round $round_no: not drained after 1800 s"
		sleep 0.1
	done
	while :; do
		rows=$(( $(pf_psql "SELECT count(*) FROM parking.occupancy") - before ))
		(( rows >= messages )) && break
		sleep 0.1
	done
	t1=$(now_ms)
	read -r b1 a1 <<<"$(busy)"
	(( rows == messages )) || pf_fail "round $round_no stored $rows rows, expected $messages"
	for pid in "${pids[@]}"; do pf_daemon_stop "$pid"; done
	say "| $k | $round_no | $(calc "sprintf(\"%.1f\", ($t1 - $t0) / 1000)") |" \
		"$(calc "int($messages * 1000 / ($t1 - $t0) + 0.5)") |" \
		"$(calc "sprintf(\"%.2f\", $(nproc) * ($b1 - $b0) / ($a1 - $a0))")" \
		"| $(cut -d' ' -f1-3 /proc/loadavg) |"
}

for (( r = 0; r < rounds; r++ )); do
	for k in ${groups//,/ }; do
		drain "$k"
	done
done
say ""
say "(the daemons, mosquitto and PostgreSQL share the machine's $(nproc) cores; the drain time"
say "runs from starting the daemons to the last row committed)"
if [[ -n $out ]]; then
	mkdir -p "$out"
	cp "$report" "$PF_TMP/daemon.log" "$out/"
	pf_log "report and logs in $out"
fi
pf_pass
