#!/usr/bin/env bash
# bench/broker_sync.sh: how long `parkfeedctl broker sync` takes for many lots, against a
# throwaway PostgreSQL and a mosquitto loading its dynamic-security plugin (tests/lib/env.sh),
# with the shipped broker configuration's message_size_limit (64 KiB).
#
#   bench/broker_sync.sh [--lots N] [--out DIR] [--offline]
#
# Phases, each timed (wall clock of the parkfeedctl process) with the broker's CPU over it:
#   first     the registry's N lots and 2 daemons into an empty plugin configuration
#   resync    the same again: nothing to change
#   changes   10 lots retired and 10 new lots registered, then one sync
# With --offline the first phase is `broker sync --offline` into the plugin's file before the
# broker starts (parkfeedctl's own CPU is reported), and the broker's start-up with the N
# accounts is timed; resync and changes are live syncs as without it.
# Also reported: the plugin's JSON file size, and the longest a probe client waited for an
# echo of its own QoS 0 message during the first sync (with --offline: during the changes)
# (the broker does nothing else while the plugin works on a message of commands).
set -euo pipefail

lots=10000
out=""
offline=0
while (( $# )); do
	case $1 in
	--lots) lots=$2; shift ;;
	--out) out=$2; shift ;;
	--offline) offline=1 ;;
	-h|--help) sed -n "2,18p" "$0"; exit 0 ;;
	*) echo "broker_sync.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

source "$(dirname "$0")/../tests/lib/env.sh"
PF_TEST_NAME=bench/broker_sync
pf_env_init
pf_pg_start
pf_pg_migrate
pf_dynsec_init admin
(( offline )) || pf_mqtt_start "${PF_DYNSEC_CONF[@]}" "message_size_limit 65536"
cd "$PF_TMP"

ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }
broker_args() {
	broker=(--host 127.0.0.1 --port "$PF_MQTT_PORT" --admin-user admin
		--admin-password-file "$PF_DYNSEC_ADMIN_PASSWORD_FILE" "${daemons[@]}")
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PF_MQTT_PID/stat"; }
report=()
daemons=(--daemon parkfeed-1 --daemon parkfeed-2)

# timed NAME: one broker sync, its wall time and the broker's CPU over it
timed() {
	local name=$1 t0 t1 c0 c1
	shift
	c0=$(cpu_ticks)
	t0=${EPOCHREALTIME/./}
	ctl broker sync "${broker[@]}" "$@" >"$name.out" 2>"$name.err" ||
		{ cat "$name.err" >&2; pf_fail "$name: broker sync failed"; }
	t1=${EPOCHREALTIME/./}
	c1=$(cpu_ticks)
	report+=("$(printf '%-8s %8.2f s wall, broker CPU %7.2f s  | %s' "$name" \
		"$(( t1 - t0 ))e-6" "$(( c1 - c0 ))e-2" "$(tail -n 1 "$name.err" | sed 's/^parkfeedctl: //')")")
	pf_log "${report[-1]}"
}

# timed_offline NAME: broker sync --offline into the stopped broker's file, its wall time and
# parkfeedctl's own CPU
timed_offline() {
	local name=$1 t
	shift
	TIMEFORMAT='%R %U %S'
	{ time ctl broker sync --offline "$PF_DYNSEC_FILE" "${daemons[@]}" "$@" >"$name.out" \
		2>"$name.err"; } 2>"$name.time" || { cat "$name.err" >&2; pf_fail "$name: offline sync failed"; }
	read -r -a t <"$name.time"
	report+=("$(printf '%-8s %8.2f s wall, parkfeedctl CPU %6.2f s  | %s' "$name" "${t[0]}" \
		"$(awk -v u="${t[1]}" -v s="${t[2]}" 'BEGIN { print u + s }')" "$(grep 'broker sync' "$name.err" | tail -n 1 | sed 's/^parkfeedctl: //')")")
	pf_log "${report[-1]}"
}

# the longest a probe message took, or the longest pause between two sends (a publisher
# waits for the broker to take its connection); each line: receive time (s.ns), send time (µs)
probe_gap() {
	awk '{ d = ($1 * 1e6 - $2) / 1000; if (d > m) m = d
		if (NR > 1 && ($2 - p) / 1000 > m) m = ($2 - p) / 1000; p = $2 }
		END { printf "%d", m }' probe.recv
}

# A probe: every 100 ms a QoS 0 message to itself, stamped; how late it arrives is how long
# the broker stopped serving clients.
probe() {
	local cmd
	for cmd in "createRole probe" "addRoleACL probe publishClientSend probe/# allow" \
		"addRoleACL probe subscribePattern probe/# allow" "createClient probe -p probe-pw" \
		"addClientRole probe probe"; do
		# shellcheck disable=SC2086  # the words of the command
		mosquitto_ctrl -h 127.0.0.1 -p "$PF_MQTT_PORT" -u admin \
			-P "$(cat "$PF_DYNSEC_ADMIN_PASSWORD_FILE")" dynsec $cmd >/dev/null 2>&1 ||
			pf_fail "mosquitto_ctrl dynsec $cmd"
	done
	mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" -u probe -P probe-pw -t probe/t -F '%U %p' \
		>probe.recv 2>/dev/null &
	pf_track_pid $!
	(
		while :; do
			mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -u probe -P probe-pw -t probe/t \
				-m "${EPOCHREALTIME/./}" 2>/dev/null || true
			sleep 0.1
		done
	) &
	probe_pid=$!
	pf_track_pid "$probe_pid"
}

"$PF_SIM" --emit-lots-csv "$lots" >lots.csv
ctl lots import lots.csv >/dev/null
pf_log "registry: $lots lots"

if (( offline )); then
	timed_offline first --credentials-out first.csv
	t0=${EPOCHREALTIME/./}
	pf_mqtt_start "${PF_DYNSEC_CONF[@]}" "message_size_limit 65536"
	t1=${EPOCHREALTIME/./}
	report+=("$(printf 'broker start with the file: %.2f s (until it listens)' "$(( t1 - t0 ))e-6")")
	pf_log "${report[-1]}"
	broker_args
	timed resync
	probe
	sleep 1
else
	broker_args
	probe
	sleep 1
	timed first --credentials-out first.csv
	kill "$probe_pid" 2>/dev/null || true
	gap_ms=$(probe_gap)
	timed resync
fi
[[ ! -s resync.out ]] || pf_fail "the re-sync printed credentials"

pf_psql "UPDATE parking.lots SET retired_at = now() WHERE lot_id IN
	(SELECT lot_id FROM parking.lots ORDER BY lot_id LIMIT 10)" >/dev/null
# the simulator's own header: its columns grow with the registry's
{ head -n 1 lots.csv; "$PF_SIM" --emit-lots-csv $(( lots + 10 )) | tail -n 10; } >new.csv
ctl lots import new.csv >/dev/null
timed changes
if (( offline )); then
	kill "$probe_pid" 2>/dev/null || true
	gap_ms=$(probe_gap)
fi

summary=$(printf '%s\n' "${report[@]}"
	echo "plugin file: $(stat -c %s "$PF_DYNSEC_FILE") bytes; credentials printed: $(( $(wc -l <first.csv) - 1 )) in first, $(( $(wc -l <changes.out) > 0 ? $(wc -l <changes.out) - 1 : 0 )) in changes"
	echo "longest gap a probe client saw while the $( (( offline )) && echo changes || echo first) sync ran (sent every 100 ms): ${gap_ms} ms")
printf '%s\n' "$summary"
if [[ -n $out ]]; then
	mkdir -p "$out"
	printf '%s\n' "$summary" >"$out/broker_sync$( (( offline )) && echo -offline).txt"
	cp first.err resync.err changes.err "$out/"
fi
pf_pass
