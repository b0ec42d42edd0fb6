# bench/lib.sh: what the benchmarks (run.sh, feed_latency.sh, shared_drain.sh) share. Source it
# after the options are read: it starts the test environment (tests/lib/env.sh) and checks the
# programs.
#
#   say TEXT...      a line of the report ($report) and of the output
#   calc EXPR        floating point through awk
#   now_ms           milliseconds since the epoch
#   busy             "BUSY TOTAL" clock ticks of the machine (/proc/stat: everything but idle
#                    and iowait, steal included)
#   cpu_ticks PID    utime + stime of a process
#   host_line        the machine, in one line of the report

bench_lib_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PF_SOURCE_DIR=${PF_SOURCE_DIR:-$(cd "$bench_lib_here/.." && pwd)}
export PF_SOURCE_DIR
export PF_TEST_NAME=bench
# shellcheck source=../tests/lib/env.sh
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
[[ -x $PF_DAEMON && -x $PF_SIM && -x $PF_CTL ]] ||
	pf_fail "build first: $PF_DAEMON, $PF_SIM and $PF_CTL are needed (PF_BUILD_DIR=$PF_BUILD_DIR)"
report=$PF_TMP/report.md

say() { printf '%s\n' "$*" | tee -a "$report"; }
calc() { awk "BEGIN { printf \"%s\", $1 }"; }
now_ms() {
	local t=${EPOCHREALTIME//[!0-9]/}
	echo $(( 10#$t / 1000 ))
}
busy() {
	local user nice sys idle iowait irq softirq steal
	read -r _ user nice sys idle iowait irq softirq steal _ </proc/stat
	echo "$(( user + nice + sys + irq + softirq + steal )) $(( user + nice + sys + idle + iowait + irq + softirq + steal ))"
}
cpu_ticks() {
	local st
	read -r st <"/proc/$1/stat"
	st=${st##*) }
	# shellcheck disable=SC2086  # split into fields on purpose
	set -- $st
	echo $(( ${12} + ${13} ))
}
host_line() {
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
		"$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average" \
		"at start $(cut -d' ' -f1-3 /proc/loadavg)"
}
