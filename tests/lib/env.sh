# tests/lib/env.sh: throwaway PostgreSQL, mosquitto and parkfeedd for integration tests.
#
# Source it, call pf_env_init, then start what the test needs:
#
#   source "$(dirname "$0")/../lib/env.sh"
#   pf_env_init
#   pf_pg_start; pf_pg_migrate; pf_mqtt_start
#   pf_conf_write "$PF_TMP/parkfeed.conf" ingest.clock_skew=60
#   pf_daemon_start "$PF_TMP/parkfeed.conf"
#   pf_pub parking/JZ-JF-001/occupancy '{"ts":...}'
#   pf_wait_sql "SELECT count(*) FROM parking.occupancy" 1 10
#   pf_daemon_stop
#   pf_pass
#
# Everything lives under $PF_TMP (a fresh mktemp -d) and listens on 127.0.0.1 only, on free
# ports, so tests can run in parallel. An EXIT/INT/TERM trap stops whatever was started and
# removes $PF_TMP; it is kept (and its path printed) when the test fails or PF_KEEP_TMP=1,
# and on failure the tails of the daemon, mosquitto and PostgreSQL logs go to stderr.
#
# pf_fail exits the shell it runs in: inside $(...) or ( ... ) that is only the subshell.
# A signal to the test shell is handled once its foreground command returns (bash's rule), so
# run long programs in the background and `wait` for them if the test must stay interruptible.
#
# Functions: pf_env_init pf_free_port pf_track_pid pf_alive
#   PostgreSQL: pf_pg_start pf_pg_stop pf_pg_start_again pf_pg_restart pf_pg_migrate
#               pf_psql pf_psql_as pf_wait_sql
#   mosquitto:  pf_mqtt_start pf_mqtt_stop pf_mqtt_kill pf_mqtt_start_again pf_mqtt_restart
#               pf_pub pf_pub_file
#               pf_dynsec_plugin pf_dynsec_init pf_creds_pw pf_mqtt_as
#   parkfeedd:  pf_conf_write pf_daemon_start pf_daemon_stop pf_daemon_kill pf_daemon_log_mark
#               pf_daemon_wait_log
#   metrics:    pf_scrape pf_metric pf_wait_metric pf_wait_health (at $PF_METRICS_URL)
#   parkfeed-api: pf_api_conf_write pf_api_start pf_api_stop pf_api_wait_ready pf_api_get
#   standby:    pf_pg_standby_start (a streaming replica of the test cluster)
#   systemd:    pf_notify_listen pf_wait_notify (a stand-in for the notification socket)
#   reporting:  pf_log pf_fail pf_pass pf_skip pf_assert_eq pf_expect_run pf_wait_log
# Files in $PF_TMP: daemon.log, mosquitto.log (its conf: mosquitto.conf), pg.log, pg/ (data),
# pgsock/, spool/, api.log, pg-standby/ (data) and pg-standby.log.
#
# Environment: PF_SOURCE_DIR, PF_BUILD_DIR (set by CTest), PF_KEEP_TMP=1, PF_VALGRIND=1
# (run the daemon under valgrind), PF_TMP_ROOT (default /tmp; every parent must be
# traversable by the postgres user and the socket path must stay short).

# ---------------------------------------------------------------------------------------
# Messages and assertions

pf_log() {
	local t=${EPOCHREALTIME//[!0-9]/}
	printf '[%s %s.%03d] %s\n' "${PF_TEST_NAME:-test}" "$(date +%H:%M:%S)" \
		$(( (10#$t / 1000) % 1000 )) "$*" >&2
}

pf_fail() {
	printf 'FAIL: %s: %s\n' "${PF_TEST_NAME:-test}" "$*" >&2
	exit 1
}

pf_pass() {
	printf 'PASS: %s\n' "${PF_TEST_NAME:-test}"
}

# pf_skip REASON: the test cannot run here; CTest reports it as skipped (exit status 77,
# tests/CMakeLists.txt), never as passed.
pf_skip() {
	printf 'SKIP: %s: %s\n' "${PF_TEST_NAME:-test}" "$*"
	exit 77
}

# pf_assert_eq ACTUAL EXPECTED MSG
pf_assert_eq() {
	if [[ "$1" != "$2" ]]; then
		pf_fail "${3:-values differ}: expected [$2], got [$1]"
	fi
}

# pf_expect_run STATUS FRAGMENT COMMAND...: COMMAND exits with STATUS and its output (stdout
# and stderr) contains FRAGMENT.
pf_expect_run() {
	local want=$1 fragment=$2 out rc=0
	shift 2
	out=$("$@" 2>&1) || rc=$?
	pf_assert_eq "$rc" "$want" "exit status of $*"
	[[ $out == *"$fragment"* ]] || pf_fail "$*: no [$fragment] in: $out"
}

# pf_wait_log FILE REGEX [TIMEOUT_S] [FROM_BYTE]: until a line of FILE written after byte
# FROM_BYTE (default 0) matches the extended REGEX.
pf_wait_log() {
	local file=$1 re=$2 timeout=${3:-10} from=${4:-0} deadline
	pf__now
	deadline=$(( PF__NOW_MS + $(pf__to_ms "$timeout") ))
	until tail -c +$(( from + 1 )) "$file" 2>/dev/null | grep -Eq -- "$re"; do
		pf__now
		(( PF__NOW_MS < deadline )) ||
			pf_fail "no line /$re/ in $(basename "$file") within ${timeout}s: $(tail -n 3 "$file" 2>/dev/null)"
		sleep 0.1
	done
}

# ---------------------------------------------------------------------------------------
# Small internals

# Milliseconds since the epoch, in the global PF__NOW_MS (no subshell).
pf__now() {
	local t=${EPOCHREALTIME//[!0-9]/}
	PF__NOW_MS=$(( 10#$t / 1000 ))
}

# Seconds ("10", "2.5") to milliseconds.
pf__to_ms() {
	local s=$1 i f=""
	[[ $s =~ ^[0-9]*(\.[0-9]*)?$ && -n $s ]] || pf_fail "not a number of seconds: [$s]"
	i=${s%%.*}
	[[ $s == *.* ]] && f=${s#*.}
	f=${f}000
	echo $(( 10#${i:-0} * 1000 + 10#${f:0:3} ))
}

# pf_alive PID: true while PID runs (unlike kill -0, false for an exited, unreaped child).
pf_alive() {
	local st
	[[ -n ${1:-} ]] || return 1
	{ read -r st </proc/"$1"/stat; } 2>/dev/null || return 1
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}

# pf__wait_dead PID TIMEOUT_S: 0 once PID is gone, 1 on timeout.
pf__wait_dead() {
	local pid=$1 deadline
	pf__now
	deadline=$(( PF__NOW_MS + $(pf__to_ms "$2") ))
	while pf_alive "$pid"; do
		pf__now
		(( PF__NOW_MS < deadline )) || return 1
		sleep 0.05
	done
	return 0
}

# pf__stop_pid PID SIGNAL TIMEOUT_S: signal, wait, SIGKILL after the timeout, reap if ours.
pf__stop_pid() {
	local pid=$1 sig=$2 t=$3
	[[ -n $pid ]] || return 0
	if pf_alive "$pid"; then
		kill -s "$sig" "$pid" 2>/dev/null || true
		if ! pf__wait_dead "$pid" "$t"; then
			printf '%s: pid %s ignored SIG%s for %ss, sending SIGKILL\n' \
				"${PF_TEST_NAME:-test}" "$pid" "$sig" "$t" >&2
			kill -s KILL "$pid" 2>/dev/null || true
			pf__wait_dead "$pid" 5 || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

# pids whose working directory is DIR or below it (PostgreSQL backends live in the data dir).
pf__pids_in_dir() {
	local d=$1 p cwd
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		[[ $cwd == "$d" || $cwd == "$d"/* ]] && echo "${p#/proc/}"
	done
	return 0
}

pf__tail() {
	local label=$1 file=$2 n=$3
	[[ -s $file ]] || return 0
	printf -- '----- %s (last %d lines of %s) -----\n' "$label" "$n" "$file" >&2
	tail -n "$n" "$file" >&2
}

# ---------------------------------------------------------------------------------------
# Setup and teardown

pf_env_init() {
	local here
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	PF_SOURCE_DIR=${PF_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
	PF_BUILD_DIR=${PF_BUILD_DIR:-$PF_SOURCE_DIR/build}
	PF_DAEMON=${PF_DAEMON:-$PF_BUILD_DIR/daemon/parkfeedd}
	PF_CTL=${PF_CTL:-$PF_BUILD_DIR/tools/parkfeedctl/parkfeedctl}
	PF_SIM=${PF_SIM:-$PF_BUILD_DIR/tools/sim/parkfeed-sim}
	PF_API=${PF_API:-$PF_BUILD_DIR/api/parkfeed-api}
	PF_TEST_NAME=${PF_TEST_NAME:-integration/$(basename "$0" .sh)}
	export PF_SOURCE_DIR PF_BUILD_DIR PF_DAEMON PF_CTL PF_SIM PF_API

	# State of an enclosing test (a test may run another one) is not ours to stop or use.
	unset PF_PG_DATA PF_PG_SOCK PF_PG_PORT PF_PG_SUPER_CONNINFO PF_MQTT_PORT PF_MQTT_PID \
		PF_DAEMON_PID PF_DAEMON_CONNINFO PF_OPERATOR_CONNINFO PF_READER_CONNINFO \
		PF_API_PID PF_API_URL PF_STANDBY_DATA PF_STANDBY_PORT PF_STANDBY_READER_CONNINFO \
		PGHOST PGPORT PGUSER PGDATABASE

	# Tools from the system, found where Debian puts them even if PATH lacks sbin.
	PF_MOSQUITTO=${PF_MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
	if [[ -z ${PF_PG_BINDIR:-} ]]; then
		PF_PG_BINDIR=/usr/lib/postgresql/15/bin
		if [[ ! -x $PF_PG_BINDIR/initdb ]] && command -v pg_config >/dev/null; then
			PF_PG_BINDIR=$(pg_config --bindir)
		fi
	fi
	PF_RUNUSER=${PF_RUNUSER:-$(command -v runuser || echo /usr/sbin/runuser)}
	export PF_MOSQUITTO PF_PG_BINDIR PF_RUNUSER

	# Our connections say exactly where they go; nothing from the caller's environment.
	unset PGSERVICE PGSERVICEFILE PGOPTIONS PGHOSTADDR PGPASSWORD PGPASSFILE PGSSLMODE \
		PGTARGETSESSIONATTRS PGAPPNAME
	export PGCLIENTENCODING=UTF8

	PF_TMP=$(mktemp -d "${PF_TMP_ROOT:-/tmp}/pf.XXXXXXXX")
	chmod 755 "$PF_TMP"         # the postgres user must reach pg/ and pgsock/ below it
	export PF_TMP
	: >"$PF_TMP/.ports"
	chmod 644 "$PF_TMP/.ports"

	PF__DAEMON_PIDS=()
	PF__OTHER_PIDS=()
	PF_DAEMON_PID=""
	PF_MQTT_PID=""
	PF__CLEANED=0
	trap 'pf__on_exit' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	pf__watchdog
}

# pf_track_pid PID: stop PID (SIGTERM, then SIGKILL after 10 s) when the test ends.
pf_track_pid() {
	PF__OTHER_PIDS+=("$1")
	pf__note_pid "$1"
}

# Every process we start goes into $PF_TMP/.pids, for the watchdog.
pf__note_pid() {
	echo "$1" >>"$PF_TMP/.pids"
}

# A detached process that outlives a SIGKILL of this shell (CTest's timeout sends one, and no
# trap runs then): once this shell is gone without having cleaned up, it stops the processes
# in .pids and the PostgreSQL cluster, and leaves $PF_TMP for inspection.
pf__watchdog() {
	: >"$PF_TMP/.pids"
	# shellcheck disable=SC2016  # expanded by the watchdog's own shell
	(cd / && PF__WATCH_PARENT=$$ PF__WATCH_DIR=$PF_TMP setsid -f bash -c '
		d=$PF__WATCH_DIR
		while kill -0 "$PF__WATCH_PARENT" 2>/dev/null; do sleep 1; done
		[[ -f $d/.pids ]] || exit 0
		pids=$(cat "$d/.pids")
		pg=""
		[[ -r $d/pg/postmaster.pid ]] && read -r pg <"$d/pg/postmaster.pid"
		echo "$(date "+%F %T") test shell $PF__WATCH_PARENT gone without cleanup; stopping" \
			$pids $pg >>"$d/watchdog.log"
		kill -TERM $pids 2>/dev/null
		[[ -n $pg ]] && kill -QUIT "$pg" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			alive=0
			for p in $pids $pg; do kill -0 "$p" 2>/dev/null && alive=1; done
			(( alive )) || break
			sleep 0.5
		done
		kill -KILL $pids $pg 2>/dev/null
	' pf-watchdog </dev/null >/dev/null 2>&1)
}

pf__on_exit() {
	local rc=$?
	(( PF__CLEANED )) && return 0
	PF__CLEANED=1
	trap - INT TERM
	set +e
	rm -f "$PF_TMP/.pids"     # the watchdog stands down
	pf__cleanup "$rc"
	exit "$rc"
}

pf__cleanup() {
	local rc=$1 pid t

	for pid in "${PF__OTHER_PIDS[@]}"; do
		pf__stop_pid "$pid" TERM 10
	done
	t=10
	[[ ${PF_VALGRIND:-0} == 1 ]] && t=60
	for pid in "${PF__DAEMON_PIDS[@]}"; do
		pf__stop_pid "$pid" TERM "$t"
	done
	pf__stop_pid "$PF_MQTT_PID" TERM 20
	pf__pg_kill
	pf__pg_kill_dir "${PF_STANDBY_DATA:-}"

	if (( rc != 0 )); then
		pf__tail "daemon log" "$PF_TMP/daemon.log" 80
		pf__tail "mosquitto log" "$PF_TMP/mosquitto.log" 30
		pf__tail "PostgreSQL log" "$PF_TMP/pg.log" 40
		pf__tail "parkfeed-api log" "$PF_TMP/api.log" 40
	fi
	if (( rc != 0 )) || [[ ${PF_KEEP_TMP:-0} == 1 ]]; then
		printf '%s: exit status %d; files kept in %s\n' "${PF_TEST_NAME:-test}" "$rc" "$PF_TMP" >&2
	elif [[ -n ${PF_TMP:-} && -d $PF_TMP ]]; then
		rm -rf -- "$PF_TMP"
	fi
}

# ---------------------------------------------------------------------------------------
# Ports

# pf_free_port: print a TCP port free on 127.0.0.1, never the same twice in one test.
# Drawn from 20000-60999 below the kernel's ephemeral range (32768 by default), so that an
# outgoing connection cannot be sitting on the port when a server is restarted on it.
pf_free_port() {
	local p i lo=20000 hi=60999 eph_lo eph_hi
	if read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
		(( eph_lo > lo + 2000 )); then
		(( hi = eph_lo - 1 < hi ? eph_lo - 1 : hi ))
	fi
	for (( i = 0; i < 500; i++ )); do
		p=$(( lo + SRANDOM % (hi - lo + 1) ))
		grep -qx "$p" "$PF_TMP/.ports" && continue
		[[ -z $(ss -ltnH "sport = :$p" 2>/dev/null) ]] || continue
		echo "$p" >>"$PF_TMP/.ports"
		echo "$p"
		return 0
	done
	pf_fail "no free TCP port found"
}

# pf__listening PORT PID: PID (or a child of it) listens on PORT.
pf__listening() {
	ss -ltnpH "sport = :$1" 2>/dev/null | grep -q "pid=$2,"
}

# ---------------------------------------------------------------------------------------
# PostgreSQL

# Run a PostgreSQL server program as the postgres OS user when we are root.
pf__pg() {
	local prog=$PF_PG_BINDIR/$1
	shift
	[[ -x $prog ]] || pf_fail "$prog not found: install postgresql-15 (scripts/deps.sh)"
	if (( EUID == 0 )); then
		(cd / && "$PF_RUNUSER" -u postgres -- "$prog" "$@")
	else
		(cd / && "$prog" "$@")
	fi
}

pf__pg_mkdir() {
	mkdir -p "$@"
	chmod 700 "$@"
	if (( EUID == 0 )); then
		id postgres >/dev/null 2>&1 || pf_fail "no postgres OS user: install postgresql-15 (scripts/deps.sh)"
		chown postgres: "$@"
	fi
}

pf__pg_ctl() {
	local rc=0
	pf__pg pg_ctl -D "$PF_PG_DATA" "$@" >>"$PF_TMP/pg_ctl.log" 2>&1 || rc=$?
	return "$rc"
}

pf__pg_pid() {
	local pid=""
	[[ -r $PF_TMP/pg/postmaster.pid ]] && read -r pid <"$PF_TMP/pg/postmaster.pid"
	echo "$pid"
}

# Stop the cluster right away (end of test): SIGQUIT is PostgreSQL's immediate shutdown.
pf__pg_kill() {
	pf__pg_kill_dir "${PF_PG_DATA:-}"
}

# pf__pg_kill_dir DATADIR: the same for the cluster in DATADIR (the standby too).
pf__pg_kill_dir() {
	local dir=$1 pid=""
	[[ -n $dir ]] || return 0
	[[ -r $dir/postmaster.pid ]] && read -r pid <"$dir/postmaster.pid"
	[[ -n $pid ]] && pf__stop_pid "$pid" QUIT 20
	for pid in $(pf__pids_in_dir "$dir"); do
		kill -s KILL "$pid" 2>/dev/null
	done
	return 0
}

pf_pg_start() {
	local port try
	PF_PG_DATA=$PF_TMP/pg
	PF_PG_SOCK=$PF_TMP/pgsock
	pf__pg_mkdir "$PF_PG_DATA" "$PF_PG_SOCK"
	touch "$PF_TMP/pg.log"
	(( EUID == 0 )) && chown postgres: "$PF_TMP/pg.log"

	if ! pf__pg initdb -D "$PF_PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 -A trust \
		--no-sync --no-instructions >"$PF_TMP/initdb.log" 2>&1; then
		cat "$PF_TMP/initdb.log" >&2
		pf_fail "initdb failed"
	fi
	cat >>"$PF_PG_DATA/postgresql.conf" <<-EOF

	# integration test settings (tests/lib/env.sh)
	listen_addresses = '127.0.0.1'
	unix_socket_directories = '$PF_PG_SOCK'
	fsync = off
	synchronous_commit = on
	full_page_writes = off
	max_connections = 50
	shared_buffers = 128MB
	logging_collector = off
	log_line_prefix = '%m [%p] %q%u@%d '
	EOF

	for try in 1 2 3; do
		port=$(pf_free_port)
		echo "port = $port" >>"$PF_PG_DATA/postgresql.conf"
		if pf__pg_ctl start -w -t 60 -l "$PF_TMP/pg.log"; then
			break
		fi
		# Most likely someone took the port between the check and the bind: try another.
		pf_log "PostgreSQL did not start on port $port (attempt $try)"
		(( try < 3 )) || { pf__tail "pg_ctl" "$PF_TMP/pg_ctl.log" 20; pf_fail "PostgreSQL does not start"; }
	done

	PF_PG_PORT=$port
	PGHOST=127.0.0.1
	PGPORT=$port
	PGUSER=postgres
	PGDATABASE=parkfeed
	PF_PG_SUPER_CONNINFO="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=postgres"
	export PF_PG_DATA PF_PG_SOCK PF_PG_PORT PGHOST PGPORT PGUSER PGDATABASE PF_PG_SUPER_CONNINFO

	psql -XAtq -v ON_ERROR_STOP=1 -d "host=127.0.0.1 port=$port dbname=postgres user=postgres" \
		-c "CREATE DATABASE parkfeed" || pf_fail "cannot create database parkfeed"
	pf_log "PostgreSQL on 127.0.0.1:$port, data in $PF_PG_DATA"
}

# pf_pg_stop [fast|immediate|smart]
pf_pg_stop() {
	pf__pg_ctl stop -m "${1:-fast}" -w -t 60 ||
		{ pf__tail "pg_ctl" "$PF_TMP/pg_ctl.log" 20; pf_fail "pg_ctl stop -m ${1:-fast} failed"; }
}

# Start the existing cluster again, on the same port.
pf_pg_start_again() {
	pf__pg_ctl start -w -t 120 -l "$PF_TMP/pg.log" ||
		{ pf__tail "pg_ctl" "$PF_TMP/pg_ctl.log" 20; pf_fail "PostgreSQL does not start again"; }
}

# pf_pg_restart [fast|immediate|smart]
pf_pg_restart() {
	pf_pg_stop "${1:-fast}"
	pf_pg_start_again
}

# Create the schema with parkfeedctl and one login role per group role.
pf_pg_migrate() {
	[[ -x $PF_CTL ]] || pf_fail "parkfeedctl is not built: $PF_CTL"
	if ! "$PF_CTL" -d "$PF_PG_SUPER_CONNINFO" migrate >"$PF_TMP/migrate.log" 2>&1; then
		cat "$PF_TMP/migrate.log" >&2
		pf_fail "parkfeedctl migrate failed"
	fi
	pf_psql <<-'SQL' >/dev/null
	SET client_min_messages = warning;
	DO $$
	DECLARE
	    r record;
	BEGIN
	    FOR r IN SELECT * FROM (VALUES ('pf_daemon', 'parkfeed_ingest'),
	                                   ('pf_operator', 'parkfeed_operator'),
	                                   ('pf_reader', 'parkfeed_reader')) AS v(login, grp)
	    LOOP
	        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.login) THEN
	            EXECUTE format('CREATE ROLE %I LOGIN', r.login);
	        END IF;
	        EXECUTE format('GRANT %I TO %I', r.grp, r.login);
	    END LOOP;
	END
	$$;
	SQL
	PF_DAEMON_CONNINFO="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=pf_daemon"
	PF_OPERATOR_CONNINFO="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=pf_operator"
	PF_READER_CONNINFO="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=pf_reader"
	export PF_DAEMON_CONNINFO PF_OPERATOR_CONNINFO PF_READER_CONNINFO
}

# pf_psql "SQL": run as superuser in parkfeed, print the unaligned result.
# With no argument the SQL is read from stdin.
pf_psql() {
	pf_psql_as "$PF_PG_SUPER_CONNINFO" "$@"
}

# pf_psql_as CONNINFO "SQL" (or SQL on stdin)
pf_psql_as() {
	local conninfo=$1
	shift
	if (( $# )); then
		psql -XAtq -v ON_ERROR_STOP=1 -d "$conninfo" -c "$1"
	else
		psql -XAtq -v ON_ERROR_STOP=1 -d "$conninfo" -f -
	fi
}

# pf_wait_sql "SQL" EXPECTED TIMEOUT_S [MSG]: poll every 0.2 s until the output is EXPECTED.
# Errors while polling (server restarting, table not there yet) count as "not yet".
pf_wait_sql() {
	local sql=$1 expected=$2 timeout=${3:-10} msg=${4:-} out="" deadline
	pf__now
	deadline=$(( PF__NOW_MS + $(pf__to_ms "$timeout") ))
	while :; do
		if out=$(pf_psql "$sql" 2>&1) && [[ $out == "$expected" ]]; then
			return 0
		fi
		pf__now
		if (( PF__NOW_MS >= deadline )); then
			pf_fail "${msg:+$msg: }after ${timeout}s [$sql] gave [$out], expected [$expected]"
		fi
		sleep 0.2
	done
}

# ---------------------------------------------------------------------------------------
# mosquitto

# pf_mqtt_start [config lines...]: a broker on a free port of 127.0.0.1. A line whose first
# word is one of the defaults below replaces that default; other lines are added.
pf_mqtt_start() {
	local port try
	PF_MQTT_EXTRA=("$@")
	mkdir -p "$PF_TMP/mqtt"
	for try in 1 2 3; do
		port=$(pf_free_port)
		pf__mqtt_conf "$port"
		if pf__mqtt_launch; then
			pf_log "mosquitto on 127.0.0.1:$port"
			return 0
		fi
		pf_log "mosquitto did not start on port $port (attempt $try)"
	done
	pf__tail "mosquitto log" "$PF_TMP/mosquitto.log" 20
	pf_fail "mosquitto does not start"
}

pf__mqtt_conf() {
	local port=$1 line key skip extra
	local -a defaults=(
		"allow_anonymous true"
		"persistence true"
		"persistence_location $PF_TMP/mqtt/"
		"autosave_interval 30"
		"log_timestamp_format %Y-%m-%dT%H:%M:%S"
	)
	(( EUID == 0 )) && defaults+=("user root")   # stay root: no dropping to user mosquitto
	{
		echo "# integration test broker (tests/lib/env.sh)"
		echo "listener $port 127.0.0.1"
		# stderr is flushed line by line, a log_dest file is not; it goes to mosquitto.log
		echo "log_dest stderr"
		for line in "${defaults[@]}"; do
			key=${line%% *}
			skip=0
			for extra in "${PF_MQTT_EXTRA[@]}"; do
				[[ ${extra%% *} == "$key" ]] && skip=1
			done
			(( skip )) || echo "$line"
		done
		for extra in "${PF_MQTT_EXTRA[@]}"; do
			echo "$extra"
		done
	} >"$PF_TMP/mosquitto.conf"
	PF_MQTT_PORT=$port
	export PF_MQTT_PORT
}

# Start mosquitto with the current config and wait until it listens.
pf__mqtt_launch() {
	local deadline
	"$PF_MOSQUITTO" -c "$PF_TMP/mosquitto.conf" </dev/null >>"$PF_TMP/mosquitto.log" 2>&1 &
	PF_MQTT_PID=$!
	pf__note_pid "$PF_MQTT_PID"
	pf__now
	deadline=$(( PF__NOW_MS + 10000 ))
	while ! pf__listening "$PF_MQTT_PORT" "$PF_MQTT_PID"; do
		if ! pf_alive "$PF_MQTT_PID"; then
			wait "$PF_MQTT_PID" 2>/dev/null || true
			PF_MQTT_PID=""
			return 1
		fi
		pf__now
		if (( PF__NOW_MS >= deadline )); then
			pf__stop_pid "$PF_MQTT_PID" KILL 5
			PF_MQTT_PID=""
			return 1
		fi
		sleep 0.05
	done
	export PF_MQTT_PID
}

# Stop the broker (SIGTERM; it saves its persistence file on the way out).
pf_mqtt_stop() {
	[[ -n $PF_MQTT_PID ]] || pf_fail "pf_mqtt_stop: mosquitto is not running"
	pf__stop_pid "$PF_MQTT_PID" TERM 20
	PF_MQTT_PID=""
}

# Start the broker again with the same config, port and persistence directory.
pf_mqtt_start_again() {
	if ! pf__mqtt_launch; then
		pf__tail "mosquitto log" "$PF_TMP/mosquitto.log" 20
		pf_fail "mosquitto does not start again on port $PF_MQTT_PORT"
	fi
}

# Kill the broker (SIGKILL: nothing saved since its last autosave, no connection closed cleanly).
pf_mqtt_kill() {
	[[ -n $PF_MQTT_PID ]] || pf_fail "pf_mqtt_kill: mosquitto is not running"
	pf__stop_pid "$PF_MQTT_PID" KILL 10
	PF_MQTT_PID=""
}

pf_mqtt_restart() {
	pf_mqtt_stop
	pf_mqtt_start_again
}

# pf_pub TOPIC PAYLOAD [QOS] [mosquitto_pub options...], e.g. pf_pub t "$p" 1 -r
pf_pub() {
	local topic=$1 payload=$2 qos=${3:-1}
	shift 2
	(( $# )) && shift
	if [[ -z $payload ]]; then
		mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -t "$topic" -q "$qos" -n "$@"
	else
		mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -t "$topic" -q "$qos" -m "$payload" "$@"
	fi
}

# pf_pub_file TOPIC FILE [QOS] [mosquitto_pub options...]: the file's bytes, as they are.
pf_pub_file() {
	local topic=$1 file=$2 qos=${3:-1}
	shift 2
	(( $# )) && shift
	mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -t "$topic" -q "$qos" -f "$file" "$@"
}

# ---------------------------------------------------------------------------------------
# mosquitto's dynamic-security plugin (accounts and ACLs kept by the broker itself)

# pf_dynsec_plugin: print the path of the plugin Debian's mosquitto package ships.
pf_dynsec_plugin() {
	local so
	so=$(dpkg -L mosquitto 2>/dev/null | grep -m1 '/mosquitto_dynamic_security\.so$' || true)
	[[ -n $so && -r $so ]] || pf_fail "mosquitto_dynamic_security.so not found: install mosquitto (scripts/deps.sh)"
	echo "$so"
}

# pf_dynsec_init [ADMIN]: a fresh plugin configuration in $PF_TMP/dynsec.json holding only the
# admin account ADMIN (default admin) with a random password, written to
# $PF_TMP/dynsec-admin.pass (0600). Sets PF_DYNSEC_FILE, PF_DYNSEC_ADMIN,
# PF_DYNSEC_ADMIN_PASSWORD_FILE, and PF_DYNSEC_CONF: the broker config lines that load it
# (pf_mqtt_start "${PF_DYNSEC_CONF[@]}").
pf_dynsec_init() {
	local admin=${1:-admin} pw plugin
	command -v mosquitto_ctrl >/dev/null || pf_fail "mosquitto_ctrl not found: install mosquitto-clients"
	plugin=$(pf_dynsec_plugin)
	pw=adm-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
	PF_DYNSEC_FILE=$PF_TMP/dynsec.json
	PF_DYNSEC_ADMIN=$admin
	PF_DYNSEC_ADMIN_PASSWORD_FILE=$PF_TMP/dynsec-admin.pass
	rm -f "$PF_DYNSEC_FILE"
	mosquitto_ctrl dynsec init "$PF_DYNSEC_FILE" "$admin" "$pw" >"$PF_TMP/dynsec-init.log" 2>&1 ||
		{ cat "$PF_TMP/dynsec-init.log" >&2; pf_fail "mosquitto_ctrl dynsec init failed"; }
	(umask 077 && printf '%s\n' "$pw" >"$PF_DYNSEC_ADMIN_PASSWORD_FILE")
	PF_DYNSEC_CONF=("allow_anonymous false" "plugin $plugin" "plugin_opt_config_file $PF_DYNSEC_FILE")
	export PF_DYNSEC_FILE PF_DYNSEC_ADMIN PF_DYNSEC_ADMIN_PASSWORD_FILE
}

# pf_creds_pw FILE USER: the password a credentials CSV of parkfeedctl broker hands over for USER.
pf_creds_pw() { awk -F, -v u="$2" '$2 == u { print $4 }' "$1"; }

# pf_mqtt_as USER PASSWORD TOOL [ARGS...]: mosquitto_pub, _sub or _rr as that account, with the
# client id the plugin binds to it (USER), MQTT 5 (a refused publish then says so).
pf_mqtt_as() {
	local u=$1 p=$2 tool=$3
	shift 3
	"$tool" -h 127.0.0.1 -p "$PF_MQTT_PORT" -u "$u" -P "$p" -i "$u" -V 5 "$@"
}

# ---------------------------------------------------------------------------------------
# parkfeedd

# pf_conf_write FILE [section.key=value ...] [-section.key ...]
# Writes a daemon config with the test defaults; section.key=value replaces a default or adds
# a key (and its section); -section.key drops a default.
pf_conf_write() {
	local -a daemon_order=(mqtt.host mqtt.port mqtt.client_id mqtt.topic_prefix mqtt.qos mqtt.keepalive
		postgres.conninfo spool.dir log.level)
	local -A daemon_val=(
		[mqtt.host]=127.0.0.1
		[mqtt.port]=${PF_MQTT_PORT:-1883}
		[mqtt.client_id]=parkfeed-test
		[mqtt.topic_prefix]=parking
		[mqtt.qos]=1
		[mqtt.keepalive]=10
		[postgres.conninfo]=${PF_DAEMON_CONNINFO:-${PF_PG_SUPER_CONNINFO:-}}
		[spool.dir]=$PF_TMP/spool
		[log.level]=info
	)
	pf__ini_write daemon_order daemon_val "$@"
	mkdir -p "$PF_TMP/spool"
}

# pf__ini_write ORDER VALUES FILE [section.key=value ...] [-section.key ...]: an INI file from
# the defaults in the arrays named ORDER (section.key, in file order) and VALUES (section.key
# -> value), changed by the arguments.
pf__ini_write() {
	local -n order=$1 val=$2
	local file=$3 arg key sec k
	shift 3
	for arg in "$@"; do
		if [[ $arg == -* ]]; then
			unset 'val[${arg#-}]'
			continue
		fi
		[[ $arg =~ ^[A-Za-z0-9_]+\.[^=]+= ]] || pf_fail "pf_conf_write: expected section.key=value, got [$arg]"
		key=${arg%%=*}
		[[ -v val[$key] ]] || order+=("$key")
		val[$key]=${arg#*=}
	done
	local -a sections=()
	for key in "${order[@]}"; do
		sec=${key%%.*}
		[[ " ${sections[*]} " == *" $sec "* ]] || sections+=("$sec")
	done
	{
		for sec in "${sections[@]}"; do
			printf '[%s]\n' "$sec"
			for key in "${order[@]}"; do
				[[ ${key%%.*} == "$sec" && -v val[$key] ]] || continue
				k=${key#*.}
				printf '%s = %s\n' "$k" "${val[$key]}"
			done
			printf '\n'
		done
	} >"$file"
}

# pf_daemon_start CONF [more parkfeedd args...]: run in the background, output appended to
# $PF_TMP/daemon.log. Sets PF_DAEMON_PID (the latest daemon started).
pf_daemon_start() {
	local conf=$1
	shift
	local -a cmd=("$PF_DAEMON" -c "$conf" "$@")
	[[ -x $PF_DAEMON ]] || pf_fail "parkfeedd is not built: $PF_DAEMON"
	if [[ ${PF_VALGRIND:-0} == 1 ]]; then
		cmd=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
			--track-fds=no -q "${cmd[@]}")
	fi
	pf_daemon_log_mark
	printf -- '--- %s: %s\n' "$(date '+%F %T')" "${cmd[*]}" >>"$PF_TMP/daemon.log"
	"${cmd[@]}" </dev/null >>"$PF_TMP/daemon.log" 2>&1 &
	PF_DAEMON_PID=$!
	PF__DAEMON_PIDS+=("$PF_DAEMON_PID")
	pf__note_pid "$PF_DAEMON_PID"
	export PF_DAEMON_PID
}

# pf_daemon_stop [PID]: SIGTERM; the daemon must exit 0 within 10 s (60 s under valgrind).
pf_daemon_stop() {
	local pid=${1:-$PF_DAEMON_PID} t=10 rc=0
	[[ ${PF_VALGRIND:-0} == 1 ]] && t=60
	[[ -n $pid ]] || pf_fail "pf_daemon_stop: no daemon started"
	kill -s TERM "$pid" 2>/dev/null || true
	if ! pf__wait_dead "$pid" "$t"; then
		kill -s KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pf_fail "parkfeedd (pid $pid) did not exit within ${t}s of SIGTERM"
	fi
	wait "$pid" 2>/dev/null || rc=$?
	(( rc == 0 )) || pf_fail "parkfeedd (pid $pid) exited with status $rc after SIGTERM"
}

# pf_daemon_kill [PID]: SIGKILL and reap.
pf_daemon_kill() {
	local pid=${1:-$PF_DAEMON_PID}
	[[ -n $pid ]] || pf_fail "pf_daemon_kill: no daemon started"
	kill -s KILL "$pid" 2>/dev/null || true
	pf__wait_dead "$pid" 10 || pf_fail "parkfeedd (pid $pid) survives SIGKILL"
	wait "$pid" 2>/dev/null || true
}

# pf_daemon_log_mark: from now on pf_daemon_wait_log looks only at lines written after this
# point (pf_daemon_start sets the mark too). Use it before provoking a line seen earlier.
pf_daemon_log_mark() {
	touch "$PF_TMP/daemon.log"
	PF_DAEMON_LOG_OFFSET=$(stat -c %s "$PF_TMP/daemon.log")
}

# pf_daemon_wait_log PATTERN [TIMEOUT_S]: wait for an output line matching the extended regex
# PATTERN, written since the latest pf_daemon_start or pf_daemon_log_mark. Fails early if the
# daemon has exited.
pf_daemon_wait_log() {
	local pattern=$1 timeout=${2:-10} deadline dead=0
	pf__now
	deadline=$(( PF__NOW_MS + $(pf__to_ms "$timeout") ))
	while :; do
		if tail -c +$(( ${PF_DAEMON_LOG_OFFSET:-0} + 1 )) "$PF_TMP/daemon.log" 2>/dev/null |
			grep -Eq -- "$pattern"; then
			return 0
		fi
		(( dead )) && pf_fail "parkfeedd exited without logging /$pattern/"
		pf_alive "${PF_DAEMON_PID:-}" || dead=1
		pf__now
		(( PF__NOW_MS < deadline )) || pf_fail "no daemon log line /$pattern/ within ${timeout}s"
		(( dead )) || sleep 0.1
	done
}

# ---------------------------------------------------------------------------------------
# The daemon's /metrics and /healthz, at $PF_METRICS_URL (e.g. http://127.0.0.1:PORT)

# pf_scrape: GET /metrics into $PF_TMP/metrics.txt.
pf_scrape() {
	curl -sf "$PF_METRICS_URL/metrics" >"$PF_TMP/metrics.txt" || pf_fail "GET /metrics failed"
}

# pf_metric NAME{labels}: its value in the last pf_scrape, or "missing".
pf_metric() {
	awk -v m="$1" '$1 == m {print $2; found = 1} END {if (!found) print "missing"}' \
		"$PF_TMP/metrics.txt"
}

# pf_wait_metric NAME VALUE TIMEOUT_S
pf_wait_metric() {
	local i
	for (( i = 0; i < $3 * 10; i++ )); do
		pf_scrape
		[[ $(pf_metric "$1") == "$2" ]] && return 0
		sleep 0.1
	done
	pf_fail "metric $1: expected $2, got $(pf_metric "$1")"
}

# pf_wait_health CODE TIMEOUT_S [BODY_REGEX]: /healthz answers CODE with a body matching.
pf_wait_health() {
	local want=$1 t=$2 re=${3:-.} i code=
	for (( i = 0; i < t * 10; i++ )); do
		code=$(curl -s -o "$PF_TMP/healthz.txt" -w '%{http_code}' "$PF_METRICS_URL/healthz" || true)
		[[ $code == "$want" ]] && grep -Eq -- "$re" "$PF_TMP/healthz.txt" && return 0
		sleep 0.1
	done
	pf_fail "/healthz: expected $want /$re/, got $code: $(cat "$PF_TMP/healthz.txt" 2>/dev/null)"
}

# ---------------------------------------------------------------------------------------
# parkfeed-api

# pf_api_conf_write FILE [section.key=value ...] [-section.key ...]: a parkfeed-api config
# with the test defaults (the reader login, a free port, a fast refresh, no rate limit, a web
# root in $PF_TMP/web); sets PF_API_URL from its [api] listen.
pf_api_conf_write() {
	local file=$1 listen
	shift
	local -a api_order=(postgres.conninfo postgres.connect_timeout api.listen api.refresh_ms
		api.rate_limit web.root log.level)
	local -A api_val=(
		[postgres.conninfo]=${PF_READER_CONNINFO:-}
		[postgres.connect_timeout]=3
		[api.listen]=127.0.0.1:$(pf_free_port)
		[api.refresh_ms]=300
		[api.rate_limit]=0
		[web.root]=$PF_TMP/web
		[log.level]=info
	)
	pf__ini_write api_order api_val "$file" "$@"
	listen=$(sed -n 's/^listen = //p' "$file" | tail -n 1)
	PF_API_URL=http://$listen
	export PF_API_URL
}

# pf_api_start CONF [more parkfeed-api args...]: run in the background, output appended to
# $PF_TMP/api.log; stopped at the end of the test. Sets PF_API_PID.
pf_api_start() {
	local conf=$1
	shift
	[[ -x $PF_API ]] || pf_fail "parkfeed-api is not built: $PF_API"
	printf -- '--- %s: %s -c %s %s\n' "$(date '+%F %T')" "$PF_API" "$conf" "$*" >>"$PF_TMP/api.log"
	"$PF_API" -c "$conf" "$@" </dev/null >>"$PF_TMP/api.log" 2>&1 &
	PF_API_PID=$!
	pf_track_pid "$PF_API_PID"
	export PF_API_PID
}

# pf_api_stop [PID]: SIGTERM; parkfeed-api must exit 0 within 10 s.
pf_api_stop() {
	local pid=${1:-$PF_API_PID} rc=0
	[[ -n $pid ]] || pf_fail "pf_api_stop: no parkfeed-api started"
	kill -s TERM "$pid" 2>/dev/null || true
	if ! pf__wait_dead "$pid" 10; then
		kill -s KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pf_fail "parkfeed-api (pid $pid) did not exit within 10 s of SIGTERM"
	fi
	wait "$pid" 2>/dev/null || rc=$?
	(( rc == 0 )) || pf_fail "parkfeed-api (pid $pid) exited with status $rc after SIGTERM"
}

# pf_api_wait_ready [TIMEOUT_S] [URL]: until /healthz answers 200.
pf_api_wait_ready() {
	local timeout=${1:-20} url=${2:-$PF_API_URL} deadline out=""
	pf__now
	deadline=$(( PF__NOW_MS + $(pf__to_ms "$timeout") ))
	while :; do
		out=$(curl -s -m 2 "$url/healthz" -w ' %{http_code}' 2>/dev/null || true)
		[[ $out == *' 200' ]] && return 0
		pf_alive "${PF_API_PID:-}" || pf_fail "parkfeed-api exited: $(tail -n 5 "$PF_TMP/api.log")"
		pf__now
		(( PF__NOW_MS < deadline )) || pf_fail "parkfeed-api not healthy within ${timeout}s: $out"
		sleep 0.1
	done
}

# pf_api_get PATH [curl args...]: the body of GET PATH (any status).
pf_api_get() {
	local path=$1
	shift
	curl -s -m 10 "$@" "$PF_API_URL$path"
}

# pf_pg_standby_start: a hot standby of the test cluster, made with pg_basebackup -R and
# streaming from it, on a port of its own. Sets PF_STANDBY_PORT and PF_STANDBY_READER_CONNINFO.
pf_pg_standby_start() {
	local port pid
	[[ -n ${PF_PG_PORT:-} ]] || pf_fail "pf_pg_standby_start: start the primary first"
	PF_STANDBY_DATA=$PF_TMP/pg-standby
	pf__pg_mkdir "$PF_STANDBY_DATA" "$PF_TMP/pgsock-standby"
	touch "$PF_TMP/pg-standby.log"
	(( EUID == 0 )) && chown postgres: "$PF_TMP/pg-standby.log"
	pf__pg pg_basebackup -h 127.0.0.1 -p "$PF_PG_PORT" -U postgres -D "$PF_STANDBY_DATA" -R \
		-X stream -c fast --no-sync >"$PF_TMP/basebackup.log" 2>&1 ||
		{ cat "$PF_TMP/basebackup.log" >&2; pf_fail "pg_basebackup failed"; }
	port=$(pf_free_port)
	cat >>"$PF_STANDBY_DATA/postgresql.conf" <<-EOF

	# the standby (tests/lib/env.sh)
	port = $port
	unix_socket_directories = '$PF_TMP/pgsock-standby'
	hot_standby = on
	EOF
	pf__pg pg_ctl -D "$PF_STANDBY_DATA" start -w -t 60 -l "$PF_TMP/pg-standby.log" \
		>>"$PF_TMP/pg_ctl.log" 2>&1 ||
		{ pf__tail "standby log" "$PF_TMP/pg-standby.log" 20; pf_fail "the standby does not start"; }
	read -r pid <"$PF_STANDBY_DATA/postmaster.pid"
	pf__note_pid "$pid"
	PF_STANDBY_PORT=$port
	PF_STANDBY_READER_CONNINFO="host=127.0.0.1 port=$port dbname=parkfeed user=pf_reader"
	export PF_STANDBY_DATA PF_STANDBY_PORT PF_STANDBY_READER_CONNINFO
	pf_log "standby on 127.0.0.1:$port, streaming from :$PF_PG_PORT"
}

# ---------------------------------------------------------------------------------------
# systemd's notification socket

# pf_notify_listen SOCKET LOGFILE: pf-notify-listen on SOCKET (a path, or @name), one line per
# datagram in LOGFILE; stopped at the end of the test. Returns once it is bound.
pf_notify_listen() {
	local tool=$PF_BUILD_DIR/tests/pf-notify-listen
	[[ -x $tool ]] || pf_fail "not built: $tool"
	"$tool" "$1" "$2" &
	pf_track_pid $!
	for _ in $(seq 100); do
		grep -q '^# ready' "$2" 2>/dev/null && return 0
		sleep 0.05
	done
	pf_fail "pf-notify-listen did not bind $1"
}

# pf_wait_notify LOGFILE REGEX [TIMEOUT_S] [MIN_COUNT]: until MIN_COUNT (default 1) datagrams
# match REGEX (datagrams are logged as "MS<tab>KEY=VALUE|KEY=VALUE").
pf_wait_notify() {
	local f=$1 re=$2 t=${3:-10} n=${4:-1} i
	for (( i = 0; i < t * 10; i++ )); do
		(( $(grep -cE -- "$re" "$f" || true) >= n )) && return 0
		sleep 0.1
	done
	pf_fail "no notification /$re/ (x$n) within ${t}s; got: $(cut -c1-200 "$f" | tail -n 5)"
}
