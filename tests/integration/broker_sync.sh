#!/usr/bin/env bash
# parkfeedctl broker sync against a real mosquitto loading its dynamic-security plugin: one
# account per registered lot, confined to its own topics; two daemons in one shared group,
# each with its own account; a retired lot refused and back with its old password when
# reinstated; a new lot's password printed once; a re-sync and a dry run change nothing.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_dynsec_init admin
pf_mqtt_start "${PF_DYNSEC_CONF[@]}"
cd "$PF_TMP"

ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }
broker=(--host 127.0.0.1 --port "$PF_MQTT_PORT" --admin-user "$PF_DYNSEC_ADMIN"
	--admin-password-file "$PF_DYNSEC_ADMIN_PASSWORD_FILE")
# parkfeed-3 stands in for a daemon publishing rejects (a second connection under a running
# daemon's account would take over its session)
sync() { ctl broker sync "${broker[@]}" --daemon parkfeed-1 --daemon parkfeed-2 --daemon parkfeed-3 "$@"; }
pw() { pf_creds_pw "$@"; }
as() { pf_mqtt_as "$@"; }
obs() { printf '{"ts": "%s", "total": 100, "free": %s}' "$1" "$2"; }
count() { pf_psql "SELECT count(*) FROM parking.occupancy WHERE lot_id = '$1'"; }
dynsec_sum() { md5sum <"$PF_DYNSEC_FILE"; }

import() {
	printf 'lot_id,name,district,spaces,deadline\n' >lots.csv
	for lot in "$@"; do
		printf '%s,停车场 %s,山阳区,100,2023-12-31\n' "$lot" "${lot#JZ-SY-}" >>lots.csv
	done
	ctl lots import lots.csv >/dev/null
}

# ---- first sync: two lots, two daemons --------------------------------------------------------
import JZ-SY-001 JZ-SY-002
sync --credentials-out creds1.csv 2>sync1.err || { cat sync1.err >&2; pf_fail "first sync"; }
pf_log "$(tail -n 1 sync1.err)"
pf_assert_eq "$(stat -c %a creds1.csv)" 600 "credentials file mode"
pf_assert_eq "$(cut -d, -f1-3 creds1.csv)" "kind,username,client_id
lot,JZ-SY-001,JZ-SY-001
lot,JZ-SY-002,JZ-SY-002
daemon,parkfeed-1,parkfeed-1
daemon,parkfeed-2,parkfeed-2
daemon,parkfeed-3,parkfeed-3" "new accounts in the credentials file"
pa=$(pw creds1.csv JZ-SY-001)
pb=$(pw creds1.csv JZ-SY-002)
[[ $pa =~ ^[A-Za-z0-9]{24}$ ]] || pf_fail "password is not 24 letters and digits: [$pa]"
[[ $pa != "$pb" ]] || pf_fail "two accounts got the same password"
grep -qF "$pa" "$PF_DYNSEC_FILE" && pf_fail "the broker's file holds a clear-text password"
(umask 077 && pw creds1.csv parkfeed-1 >d1.pass && pw creds1.csv parkfeed-2 >d2.pass)
p3=$(pw creds1.csv parkfeed-3)

# ---- two daemons in one shared group, each its own account, client id and spool ---------------
for i in 1 2; do
	pf_conf_write "d$i.conf" mqtt.username="parkfeed-$i" mqtt.client_id="parkfeed-$i" \
		mqtt.password_file="$PF_TMP/d$i.pass" mqtt.shared_group=parkfeed \
		spool.dir="$PF_TMP/spool$i"
	mkdir -p "spool$i"
	pf_daemon_start "d$i.conf"
	pf_daemon_wait_log "mqtt: connected to 127.0.0.1:$PF_MQTT_PORT as parkfeed-$i" 20
	declare "daemon$i=$PF_DAEMON_PID"
done
# shellcheck disable=SC2154  # declared above
for i in 1 2; do
	pid=daemon$i
	pf_alive "${!pid}" || pf_fail "daemon $i is gone"
done

for s in $(seq 10 29); do
	as JZ-SY-001 "$pa" mosquitto_pub -q 1 -t parking/JZ-SY-001/occupancy \
		-m "$(obs "2023-06-19T08:00:$s+08:00" "$s")"
done
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-SY-001'" 20 20 \
	"lot A's messages through two daemons"
grep -q "already connected, closing old connection" mosquitto.log &&
	pf_fail "a daemon's connection replaced another's: $(grep 'closing old connection' mosquitto.log | head -n 1)"
pf_log "two daemons share the group, each connected as its own account"

# ---- lot A cannot publish as lot B, nor write its own rejected topic ------------------------------
out=$(as JZ-SY-001 "$pa" mosquitto_pub -q 1 -t parking/JZ-SY-002/occupancy \
	-m "$(obs 2023-06-19T09:00:00+08:00 1)" 2>&1 || true)
[[ $out == *"ot authorized"* ]] || pf_fail "A's publish as B was not refused: [$out]"
out=$(as JZ-SY-001 "$pa" mosquitto_pub -q 1 -t parking/JZ-SY-001/rejected -m '{}' 2>&1 || true)
[[ $out == *"ot authorized"* ]] || pf_fail "A may write its own rejected topic: [$out]"
# a known-good message after them, on the same path, proves they had their chance
as JZ-SY-001 "$pa" mosquitto_pub -q 1 -t parking/JZ-SY-001/occupancy \
	-m "$(obs 2023-06-19T09:00:01+08:00 2)"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-SY-001'" 21 20 "A after B"
pf_assert_eq "$(count JZ-SY-002)" 0 "A's message published as B reached parkfeed"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected")" 0 "rejects from refused publishes"

# ---- A reads its own rejected topic, not B's --------------------------------------------------------
as JZ-SY-001 "$pa" mosquitto_sub -t parking/JZ-SY-001/rejected -C 1 -W 10 >echo.out 2>&1 &
sub=$!
pf_track_pid "$sub"
sleep 0.5
as parkfeed-3 "$p3" mosquitto_pub -q 0 -t parking/JZ-SY-001/rejected \
	-m '{"reason":"bad_type","detail":"d","received_at":"2023-06-19T01:00:00Z","topic":"t"}'
wait "$sub" || pf_fail "A did not get its rejected message: $(cat echo.out)"
grep -q '"reason":"bad_type"' echo.out || pf_fail "A's rejected message: $(cat echo.out)"
# the contract's way to test by hand: publish and wait for the answer on one connection
as JZ-SY-001 "$pa" mosquitto_rr -q 1 -W 10 -t parking/JZ-SY-001/occupancy \
	-e parking/JZ-SY-001/rejected -m "$(obs 2023-06-19T09:30:00+08:00 7)" >rr.out 2>&1 &
rr=$!
pf_track_pid "$rr"
sleep 0.5
as parkfeed-3 "$p3" mosquitto_pub -q 0 -t parking/JZ-SY-001/rejected -m '{"reason":"future_ts"}'
wait "$rr" || pf_fail "mosquitto_rr as A got no answer: $(cat rr.out)"
grep -q future_ts rr.out || pf_fail "mosquitto_rr as A: $(cat rr.out)"
out=$(as JZ-SY-001 "$pa" mosquitto_sub -t parking/JZ-SY-002/rejected -C 1 -W 3 2>&1 || true)
[[ $out == *"denied"* ]] || pf_fail "A may subscribe to B's rejected topic: [$out]"
out=$(as JZ-SY-001 "$pa" mosquitto_sub -t 'parking/+/rejected' -C 1 -W 3 2>&1 || true)
[[ $out == *"denied"* ]] || pf_fail "A may subscribe to every rejected topic: [$out]"
out=$(mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -u JZ-SY-001 -P "$pa" -i JZ-SY-002 -V 5 \
	-q 1 -t parking/JZ-SY-001/occupancy -m x 2>&1 || true)
[[ $out == *"ot authori"* ]] || pf_fail "A connected under B's client id: [$out]"
pf_log "A is confined to its own topics and client id"

# ---- a re-sync changes nothing ----------------------------------------------------------------
before=$(dynsec_sum)
sync >resync.out 2>resync.err || { cat resync.err >&2; pf_fail "re-sync"; }
[[ ! -s resync.out ]] || pf_fail "re-sync printed credentials again: $(cat resync.out)"
grep -q "created 0, enabled 0, disabled 0, repaired 0, unchanged 5; 0 command" resync.err ||
	pf_fail "re-sync was not a no-op: $(cat resync.err)"
pf_assert_eq "$(dynsec_sum)" "$before" "the broker's accounts after a re-sync"

# ---- retire B: its client is refused ----------------------------------------------------------
ctl broker retire JZ-SY-002 >/dev/null 2>&1 && pf_fail "retire without --note was accepted"
ctl broker retire JZ-SY-002 --note "lot closed for good" >/dev/null
# B connected while it is retired: disabling the client disconnects it
as JZ-SY-002 "$pb" mosquitto_sub -t parking/JZ-SY-002/rejected >bsub.out 2>&1 &
bsub=$!
pf_track_pid "$bsub"
sleep 0.5
pf_alive "$bsub" || pf_fail "B could not connect before it was retired: $(cat bsub.out)"
sync --credentials-out creds2.csv 2>sync2.err || { cat sync2.err >&2; pf_fail "sync after retire"; }
for _ in $(seq 100); do pf_alive "$bsub" || break; sleep 0.1; done
pf_alive "$bsub" && pf_fail "the retired lot's connected client was not disconnected"
grep -q "disabled 1" sync2.err || pf_fail "retired lot not disabled: $(cat sync2.err)"
[[ ! -e creds2.csv ]] || pf_fail "a credentials file without new accounts was left behind"
out=$(as JZ-SY-002 "$pb" mosquitto_pub -q 1 -t parking/JZ-SY-002/occupancy \
	-m "$(obs 2023-06-19T10:00:00+08:00 3)" 2>&1 || true)
[[ $out == *"ot authori"* ]] || pf_fail "a retired lot's client connected: [$out]"
pf_log "retired lot refused: $out"

# ---- a new lot: its account works, and only its password is printed ------------------------------
import JZ-SY-001 JZ-SY-002 JZ-SY-003
sync >creds3.csv 2>sync3.err || { cat sync3.err >&2; pf_fail "sync with a new lot"; }
pf_assert_eq "$(cut -d, -f1-2 creds3.csv)" "kind,username
lot,JZ-SY-003" "only the new lot's password printed"
pc=$(pw creds3.csv JZ-SY-003)
as JZ-SY-003 "$pc" mosquitto_pub -q 1 -t parking/JZ-SY-003/occupancy \
	-m "$(obs 2023-06-19T10:00:00+08:00 4)"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-SY-003'" 1 20 "new lot"

# ---- reinstated: B is back with its old password, which is not printed again ---------------------
ctl broker reinstate JZ-SY-002 >/dev/null
sync >creds4.out 2>sync4.err || { cat sync4.err >&2; pf_fail "sync after reinstate"; }
[[ ! -s creds4.out ]] || pf_fail "reinstating printed a password: $(cat creds4.out)"
grep -q "enabled 1" sync4.err || pf_fail "reinstated lot not enabled: $(cat sync4.err)"
as JZ-SY-002 "$pb" mosquitto_pub -q 1 -t parking/JZ-SY-002/occupancy \
	-m "$(obs 2023-06-19T10:00:00+08:00 5)"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-SY-002'" 1 20 "reinstated lot"

# ---- a dry run prints the plan and changes nothing ----------------------------------------------
import JZ-SY-001 JZ-SY-002 JZ-SY-003 JZ-SY-004
before=$(dynsec_sum)
ctl broker sync "${broker[@]}" --daemon parkfeed-1 --daemon parkfeed-2 --dry-run >dry.out 2>dry.err ||
	{ cat dry.err >&2; pf_fail "dry run"; }
for want in "create role parkfeed-lot:JZ-SY-004" "create client JZ-SY-004" \
	"disable client parkfeed-3"; do
	grep -qF "$want" dry.out || pf_fail "dry run does not say '$want': $(cat dry.out)"
done
grep -qi "password" dry.out && pf_fail "dry run printed a password"
pf_assert_eq "$(dynsec_sum)" "$before" "the broker's accounts after a dry run"
out=$(mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -u JZ-SY-004 -P x -V 5 -t t -m x 2>&1 || true)
[[ $out == *"ot authori"* || $out == *"ad user name or password"* ]] ||
	pf_fail "the dry run created an account: [$out]"
ctl broker sync "${broker[@]}" --dry-run --credentials-out x.csv 2>/dev/null &&
	pf_fail "--dry-run with --credentials-out accepted"

# ---- an account the broker has that is not a lot's is left alone ------------------------------
mosquitto_ctrl -h 127.0.0.1 -p "$PF_MQTT_PORT" -u "$PF_DYNSEC_ADMIN" \
	-P "$(cat "$PF_DYNSEC_ADMIN_PASSWORD_FILE")" dynsec createClient JZ-SY-005 -p other \
	>/dev/null 2>&1 || pf_fail "mosquitto_ctrl createClient"
import JZ-SY-001 JZ-SY-002 JZ-SY-003 JZ-SY-004 JZ-SY-005
if sync >creds5.csv 2>sync5.err; then
	pf_fail "sync over a foreign account named like a lot succeeded"
fi
grep -q "lot JZ-SY-005: the broker already has a client JZ-SY-005 that is not this lot's" sync5.err ||
	pf_fail "conflict not reported: $(cat sync5.err)"
pf_assert_eq "$(cut -d, -f2 creds5.csv)" "username
JZ-SY-004" "the other lots go on"

# ---- passwd: a new password, the old one refused ----------------------------------------------
ctl broker passwd JZ-SY-003 "${broker[@]}" >creds6.csv 2>passwd.err || { cat passwd.err >&2; pf_fail "passwd"; }
pc2=$(pw creds6.csv JZ-SY-003)
[[ -n $pc2 && $pc2 != "$pc" ]] || pf_fail "passwd gave no new password"
out=$(as JZ-SY-003 "$pc" mosquitto_pub -q 1 -t parking/JZ-SY-003/occupancy -m x 2>&1 || true)
[[ $out == *"ot authori"* || $out == *"ad user name or password"* ]] ||
	pf_fail "the old password still works: [$out]"
as JZ-SY-003 "$pc2" mosquitto_pub -q 1 -t parking/JZ-SY-003/occupancy \
	-m "$(obs 2023-06-19T11:00:00+08:00 6)"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-SY-003'" 2 20 "after passwd"
ctl broker passwd JZ-SY-005 "${broker[@]}" >/dev/null 2>&1 &&
	pf_fail "passwd changed an account that is not parkfeed's"

pf_assert_eq "$(pf_psql "SELECT string_agg(action || ':' || lot_id, ' ' ORDER BY id) FROM parking.retirement_history")" \
	"retire:JZ-SY-002 reinstate:JZ-SY-002" "retirement audit trail"
pf_assert_eq "$(grep -c 'mqtt: connected to' daemon.log)" 2 \
	"daemon connections (nothing the syncs did may kick a daemon off)"
for i in 1 2; do
	pid=daemon$i
	pf_daemon_stop "${!pid}"
done
pf_pass
