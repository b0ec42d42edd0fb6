#!/usr/bin/env bash
# Self-test of tests/lib/env.sh: the throwaway PostgreSQL and mosquitto every integration test
# stands on, the daemon helpers (against a stand-in daemon), and cleanup that leaves nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/env.sh"
pf_env_init

# ---- ports
p1=$(pf_free_port)
p2=$(pf_free_port)
[[ $p1 != "$p2" ]] || pf_fail "pf_free_port handed out $p1 twice"
(( p1 >= 20000 && p1 <= 60999 )) || pf_fail "port $p1 out of range"

# ---- PostgreSQL
pf_pg_start
pf_assert_eq "$(pf_psql 'SELECT 1 + 1')" 2 "psql as superuser"
pf_assert_eq "$(pf_psql 'SELECT current_database() || current_user')" parkfeedpostgres "database and user"
pf_assert_eq "$(pf_psql "SHOW server_encoding")" UTF8 "server encoding"
pf_assert_eq "$(pf_psql "SELECT '焦作市' || length('焦作市')")" "焦作市3" "UTF-8 round trip"
pf_assert_eq "$(pf_psql "SHOW fsync")" off "test settings applied"
pf_assert_eq "$(echo 'SELECT 6 * 7;' | pf_psql)" 42 "pf_psql reads SQL from stdin"
pf_assert_eq "$(psql -XAtq -c 'SELECT 1')" 1 "PG* environment points at the test cluster"
listen=$(ss -ltnH "sport = :$PF_PG_PORT" | awk '{print $4}' | sort -u | tr '\n' ' ')
pf_assert_eq "$listen" "127.0.0.1:$PF_PG_PORT " "PostgreSQL listens on loopback only"
if pf_psql 'SELECT * FROM no_such_table' 2>/dev/null; then
	pf_fail "pf_psql must fail on an SQL error"
fi

pf_wait_sql "SELECT 'ready'" ready 2
if (pf_wait_sql "SELECT 1" 2 0.5 "deliberate") 2>"$PF_TMP/wait.err"; then
	pf_fail "pf_wait_sql did not time out"
fi
grep -q 'deliberate: after 0.5s \[SELECT 1\] gave \[1\], expected \[2\]' "$PF_TMP/wait.err" ||
	pf_fail "pf_wait_sql timeout message: $(cat "$PF_TMP/wait.err")"

if [[ -x $PF_CTL ]]; then
	pf_pg_migrate
	pf_pg_migrate   # idempotent, roles included
	pf_assert_eq "$(pf_psql_as "$PF_DAEMON_CONNINFO" 'SELECT current_user')" pf_daemon "daemon login"
	pf_assert_eq "$(pf_psql "SELECT string_agg(r.rolname || '>' || g.rolname, ' ' ORDER BY r.rolname)
		FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
		WHERE r.rolname LIKE 'pf\_%'")" \
		"pf_daemon>parkfeed_ingest pf_operator>parkfeed_operator pf_reader>parkfeed_reader" \
		"login roles and their groups"
	pf_assert_eq "$(pf_psql_as "$PF_READER_CONNINFO" 'SELECT 1')" 1 "reader login"
	pf_assert_eq "$(pf_psql_as "$PF_OPERATOR_CONNINFO" 'SELECT 1')" 1 "operator login"
else
	pf_fail "parkfeedctl is not built ($PF_CTL): cannot test pf_pg_migrate"
fi

pf_psql "CREATE TABLE harness_t (x int); INSERT INTO harness_t VALUES (42)"
pid_before=$(pf__pg_pid)
pf_pg_restart immediate
[[ $(pf__pg_pid) != "$pid_before" ]] || pf_fail "postmaster pid unchanged after restart"
pf_assert_eq "$(pf_psql 'SELECT x FROM harness_t')" 42 "committed row survives an immediate restart"
pf_pg_stop fast
if pf_psql 'SELECT 1' 2>/dev/null; then pf_fail "PostgreSQL still answers after pf_pg_stop"; fi
pf_pg_start_again
pf_assert_eq "$(pf_psql 'SELECT count(*) FROM harness_t')" 1 "start again on the same port"

# ---- mosquitto
pf_mqtt_start "max_queued_messages 5000" "autosave_interval 5"
grep -qx 'max_queued_messages 5000' "$PF_TMP/mosquitto.conf" || pf_fail "extra config line missing"
pf_assert_eq "$(grep -c '^autosave_interval' "$PF_TMP/mosquitto.conf")" 1 "extra line replaces a default"
listen=$(ss -ltnH "sport = :$PF_MQTT_PORT" | awk '{print $4}' | sort -u | tr '\n' ' ')
pf_assert_eq "$listen" "127.0.0.1:$PF_MQTT_PORT " "mosquitto listens on loopback only"

# Round trip. The subscriber may not be subscribed yet when the first message goes out.
mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" -t harness/rt -C 1 -W 10 >"$PF_TMP/rt.out" &
sub=$!
for _ in $(seq 50); do
	pf_pub harness/rt "hello 焦作" 1
	pf_alive "$sub" || break
	sleep 0.1
done
wait "$sub" || pf_fail "mosquitto_sub got nothing"
pf_assert_eq "$(cat "$PF_TMP/rt.out")" "hello 焦作" "pub/sub round trip"

# Raw bytes from a file, and the empty payload, through a persistent session.
sub=(mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" -i harness-raw -c -q 1 -t harness/raw)
"${sub[@]}" -E
pf_pub_file harness/raw "$PF_TMP/raw.bin" 2>/dev/null && pf_fail "pf_pub_file of a missing file succeeded"
printf 'a\xff\x00b' >"$PF_TMP/raw.bin"
pf_pub_file harness/raw "$PF_TMP/raw.bin"
pf_pub harness/raw ""
"${sub[@]}" -C 2 -W 5 -N >"$PF_TMP/raw.out" || pf_fail "raw payloads not received"
cmp -s "$PF_TMP/raw.bin" "$PF_TMP/raw.out" || pf_fail "pf_pub_file changed the bytes: $(od -c "$PF_TMP/raw.out")"

# Persistence: a retained message and a persistent session's queued message survive a restart.
pf_pub harness/retained "kept" 1 -r
mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" -i harness-q -c -q 1 -t harness/q -E
pf_pub harness/q "queued" 1
pid_before=$PF_MQTT_PID
pf_mqtt_restart
[[ $PF_MQTT_PID != "$pid_before" ]] || pf_fail "mosquitto pid unchanged after restart"
pf_assert_eq "$(mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" -t harness/retained -C 1 -W 5)" kept \
	"retained message after restart"
pf_assert_eq "$(mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" -i harness-q -c -q 1 -t harness/q -C 1 -W 5)" \
	queued "queued message of a persistent session after restart"

# ---- daemon config
pf_conf_write "$PF_TMP/a.conf" mqtt.keepalive=30 ingest.clock_skew=60 -log.level \
	"postgres.conninfo=host=127.0.0.1 port=1 dbname=x" aliases.remain_parking_space=free
cat >"$PF_TMP/a.expected" <<EOF
[mqtt]
host = 127.0.0.1
port = $PF_MQTT_PORT
client_id = parkfeed-test
topic_prefix = parking
qos = 1
keepalive = 30

[postgres]
conninfo = host=127.0.0.1 port=1 dbname=x

[spool]
dir = $PF_TMP/spool

[log]

[ingest]
clock_skew = 60

[aliases]
remain_parking_space = free

EOF
diff -u "$PF_TMP/a.expected" "$PF_TMP/a.conf" >&2 || pf_fail "pf_conf_write output"
pf_conf_write "$PF_TMP/b.conf"
grep -qx "conninfo = $PF_DAEMON_CONNINFO" "$PF_TMP/b.conf" || pf_fail "default conninfo is the daemon's"

# ---- daemon helpers, against a stand-in that behaves like parkfeedd on signals
real_daemon=$PF_DAEMON
cat >"$PF_TMP/standin" <<'EOF'
#!/usr/bin/env bash
trap 'echo "stopping on SIGTERM"; exit "${STANDIN_RC:-0}"' TERM
echo "standin started with $*"
echo "ready"
while :; do sleep 0.05; done
EOF
chmod +x "$PF_TMP/standin"
PF_DAEMON=$PF_TMP/standin
pf_daemon_start "$PF_TMP/b.conf"
pf_daemon_wait_log '^ready$' 5
grep -q "standin started with -c $PF_TMP/b.conf" "$PF_TMP/daemon.log" || pf_fail "daemon arguments"
pf_daemon_stop
pf_daemon_wait_log 'stopping on SIGTERM' 1
pf_daemon_start "$PF_TMP/b.conf"
if (pf_daemon_wait_log 'stopping on SIGTERM' 0.5) 2>/dev/null; then
	pf_fail "pf_daemon_wait_log saw a line from before the latest start"
fi
pf_daemon_log_mark
if (pf_daemon_wait_log ready 0.3) 2>/dev/null; then
	pf_fail "pf_daemon_wait_log saw a line from before pf_daemon_log_mark"
fi
pf_daemon_kill
if (STANDIN_RC=3 pf_daemon_start "$PF_TMP/b.conf"; pf_daemon_wait_log ready 5; pf_daemon_stop) \
	2>"$PF_TMP/stop.err"; then
	pf_fail "pf_daemon_stop accepted exit status 3"
fi
grep -q 'exited with status 3' "$PF_TMP/stop.err" || pf_fail "pf_daemon_stop message: $(cat "$PF_TMP/stop.err")"
PF_DAEMON=$real_daemon

# ---- cleanup: run a test in a child shell, then look for anything it left behind
# A child test: starts everything, reports its directory, then ends as told ($1).
# shellcheck disable=SC2016  # the script is expanded by the child shell
inner=(env -u PF_KEEP_TMP -u PF_VALGRIND PF_TEST_NAME=harness-inner bash -c '
	set -euo pipefail
	source "$1"
	pf_env_init
	echo "$PF_TMP" >"$2"
	pf_pg_start
	pf_mqtt_start
	PF_DAEMON=$3
	pf_conf_write "$PF_TMP/c.conf"
	pf_daemon_start "$PF_TMP/c.conf"
	pf_daemon_wait_log ready 5
	sleep 300 &
	pf_track_pid $!
	echo started >>"$2"
	case $4 in
	pass) exit 0 ;;
	fail) pf_fail "deliberate failure" ;;
	wait) wait ;;
	esac
	' inner "$PF_SOURCE_DIR/tests/lib/env.sh" "$PF_TMP/inner.path" "$PF_TMP/standin")

left_behind() {
	local dir=$1
	pgrep -af -- "$dir" || true
	pf__pids_in_dir "$dir"
}

for mode in pass fail wait sigkill; do
	rm -f "$PF_TMP/inner.path"
	rc=0
	if [[ $mode == wait || $mode == sigkill ]]; then
		"${inner[@]}" wait >/dev/null 2>"$PF_TMP/inner.err" &
		ipid=$!
		for _ in $(seq 300); do
			[[ -f $PF_TMP/inner.path ]] && (( $(wc -l <"$PF_TMP/inner.path") >= 2 )) && break
			sleep 0.1
		done
		if [[ $mode == wait ]]; then
			kill -TERM "$ipid"
			expect_rc=143
		else
			# No trap runs: the watchdog has to stop what the test started.
			kill -KILL "$ipid"
			expect_rc=137
		fi
		wait "$ipid" 2>/dev/null || rc=$?
	else
		"${inner[@]}" "$mode" >/dev/null 2>"$PF_TMP/inner.err" || rc=$?
		expect_rc=0
		[[ $mode == fail ]] && expect_rc=1
	fi
	itmp=$(head -n 1 "$PF_TMP/inner.path")
	[[ $itmp == /*/pf.* ]] || pf_fail "inner test did not report its directory"
	pf_assert_eq "$rc" "$expect_rc" "exit status of an inner test that ends with '$mode'"
	if [[ $mode == sigkill ]]; then
		for _ in $(seq 150); do
			[[ -z $(left_behind "$itmp") ]] && break
			sleep 0.1
		done
		sleep 0.5
		grep -q 'gone without cleanup' "$itmp/watchdog.log" || pf_fail "the watchdog did not act"
	fi
	left=$(left_behind "$itmp")
	[[ -z $left ]] || pf_fail "processes left behind by an inner test ($mode): $left"
	if [[ $mode == pass ]]; then
		[[ ! -e $itmp ]] || pf_fail "directory $itmp not removed after a passing test"
	else
		[[ -d $itmp ]] || pf_fail "directory $itmp removed after a failed test ($mode)"
		if [[ $mode != sigkill ]]; then
			grep -q "files kept in $itmp" "$PF_TMP/inner.err" || pf_fail "kept directory not reported"
			grep -q -- '----- PostgreSQL log' "$PF_TMP/inner.err" || pf_fail "no PostgreSQL log tail"
			grep -q -- '----- daemon log' "$PF_TMP/inner.err" || pf_fail "no daemon log tail"
		fi
		rm -rf -- "$itmp"
	fi
	pf_log "cleanup after '$mode' verified"
done

pf_pass
