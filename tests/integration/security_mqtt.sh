#!/usr/bin/env bash
# The shipped broker config (config/mosquitto/) with its dynamic-security plugin, the accounts
# parkfeedctl broker sync makes in it (over TLS, configured by [broker]), and TLS: anonymous
# clients are refused, a controller publishes only under its own lot and client id, parkfeedd
# ingests over TLS with its own account, a wrong CA is a clear error, and no password shows up
# where it should not.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
for tool in openssl mosquitto_ctrl; do
	command -v "$tool" >/dev/null || pf_fail "$tool not found: run scripts/deps.sh"
done
cd "$PF_TMP"
shipped=$PF_SOURCE_DIR/config/mosquitto

# ---- a throwaway CA, a broker certificate for localhost and 127.0.0.1, a client certificate
mkdir tls && chmod 700 tls
ossl() { openssl "$@" >>tls/openssl.log 2>&1 || pf_fail "openssl $1 failed: $(tail -n 3 tls/openssl.log)"; }
ca() {  # ca NAME: a self-signed CA
	ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=parkfeed test $1" \
		-keyout "tls/$1.key" -out "tls/$1.crt"
}
leaf() {  # leaf NAME CN EXTENSIONS: a key and a certificate signed by ca
	ossl req -new -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "tls/$1.key" -out "tls/$1.csr"
	printf '%s\n' "$3" >"tls/$1.ext"
	ossl x509 -req -in "tls/$1.csr" -CA tls/ca.crt -CAkey tls/ca.key -CAcreateserial -days 2 \
		-extfile "tls/$1.ext" -out "tls/$1.crt"
}
ca ca
ca other          # a CA that signed nothing of ours
leaf broker 127.0.0.1 "subjectAltName = DNS:localhost, IP:127.0.0.1
extendedKeyUsage = serverAuth"
leaf client parkfeed "extendedKeyUsage = clientAuth"

# ---- the plugin's file with its admin account; the registry with two lots ----------------------
pf_dynsec_init admin
pf_pg_start
pf_pg_migrate
printf 'lot_id,name,district,spaces,deadline\nJZ-SY-001,甲,山阳区,100,2023-12-31\nJZ-SY-002,乙,山阳区,100,2023-12-31\n' >lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null || pf_fail "lots import"

# ---- the broker: the shipped config, paths and ports made local ----------------------------------
tls_port=$(pf_free_port)
[[ -r $shipped/parkfeed-broker.conf ]] || pf_fail "config/mosquitto/parkfeed-broker.conf missing"
plugin=$(sed -n 's/^plugin //p' "$shipped/parkfeed-broker.conf")
if [[ ! -r $plugin ]]; then
	pf_log "note: the shipped plugin path $plugin is not on this machine; using $(pf_dynsec_plugin)"
	plugin=$(pf_dynsec_plugin)
fi
# pf_mqtt_start writes the loopback listener itself (on a free port) and log_dest stderr;
# every other line of the shipped file is kept, in order, so the TLS listener keeps its options.
mapfile -t conf < <(sed -E \
	-e "s|^plugin .*|plugin $plugin|" \
	-e "s|^plugin_opt_config_file .*|plugin_opt_config_file $PF_DYNSEC_FILE|" \
	-e "s|^persistence_location .*|persistence_location $PF_TMP/mqtt/|" \
	-e "s|^listener 8883\$|listener $tls_port 127.0.0.1|" \
	-e "s|^cafile .*|cafile $PF_TMP/tls/ca.crt|" \
	-e "s|^certfile .*|certfile $PF_TMP/tls/broker.crt|" \
	-e "s|^keyfile .*|keyfile $PF_TMP/tls/broker.key|" \
	"$shipped/parkfeed-broker.conf" | grep -Ev '^[[:space:]]*(#|$)|^listener 1883 |^log_dest ')
for want in "allow_anonymous false" "plugin $plugin" "plugin_opt_config_file $PF_DYNSEC_FILE" \
	"persistence true" "message_size_limit 65536" "per_listener_settings false"; do
	[[ " ${conf[*]} " == *" $want "* ]] || pf_fail "shipped broker config lacks '$want'"
done
pf_mqtt_start "${conf[@]}"
for _ in $(seq 50); do pf__listening "$tls_port" "$PF_MQTT_PID" && break; sleep 0.1; done
pf__listening "$tls_port" "$PF_MQTT_PID" || pf_fail "no TLS listener on $tls_port"

# ---- accounts: parkfeedctl broker sync over TLS, as [broker] of its config file says ----------
{
	echo "[postgres]"
	echo "conninfo = $PF_OPERATOR_CONNINFO"
	echo "[broker]"
	echo "host = localhost"
	echo "port = $tls_port"
	echo "username = $PF_DYNSEC_ADMIN"
	echo "password_file = $PF_DYNSEC_ADMIN_PASSWORD_FILE"
	echo "tls_ca_file = $PF_TMP/tls/ca.crt"
	echo "daemons = parkfeed-1"
} >ctl.conf
"$PF_CTL" -c ctl.conf broker sync --credentials-out accounts.csv 2>sync.err ||
	{ cat sync.err >&2; pf_fail "broker sync over TLS"; }
account_pw() { awk -F, -v u="$1" '$2 == u { print $4 }' accounts.csv; }
daemon_pw=$(account_pw parkfeed-1)
sy1_pw=$(account_pw JZ-SY-001)
[[ -n $daemon_pw && -n $sy1_pw && -n $(account_pw JZ-SY-002) ]] ||
	pf_fail "accounts made: $(cut -d, -f1-2 accounts.csv)"
printf '%s\n' "$daemon_pw" >mqtt.pass
chmod 600 mqtt.pass

# pub_tls USER PASSWORD TOPIC PAYLOAD: a controller publishing over TLS, QoS 1
pub_tls() {
	mosquitto_pub -h localhost -p "$tls_port" --cafile tls/ca.crt -u "$1" -P "$2" -i "$1" -q 1 \
		-t "$3" -m "$4"
}
obs() { printf '{"ts": %s, "total": 100, "free": %s, "occupied": %s}' "$1" "$2" $(( 100 - $2 )); }
ms=$(( $(date +%s) * 1000 ))

# ---- anonymous and wrong passwords are refused, on both listeners --------------------------------
refused() {
	local out
	if out=$("$@" 2>&1); then
		pf_fail "[$*] was accepted"
	fi
	[[ $out == *"not authori"* || $out == *"Connection Refused"* || $out == *"refused"* ]] ||
		pf_fail "[$*] failed, but not as a refusal: [$out]"
}
refused mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -q 1 -t parking/JZ-SY-001/occupancy -m x
refused mosquitto_pub -h localhost -p "$tls_port" --cafile tls/ca.crt -q 1 \
	-t parking/JZ-SY-001/occupancy -m x
refused pub_tls JZ-SY-001 wrong-password parking/JZ-SY-001/occupancy x
pf_log "anonymous and wrong-password clients refused"

# ---- parkfeedd over TLS with its own account (and a client certificate) --------------------------
pf_conf_write parkfeed.conf mqtt.host=localhost mqtt.port="$tls_port" mqtt.username=parkfeed-1 \
	mqtt.client_id=parkfeed-1 \
	mqtt.password_file="$PF_TMP/mqtt.pass" mqtt.tls_ca_file="$PF_TMP/tls/ca.crt" \
	mqtt.tls_cert_file="$PF_TMP/tls/client.crt" mqtt.tls_key_file="$PF_TMP/tls/client.key"
pf_daemon_start parkfeed.conf
pf_daemon_wait_log 'mqtt: connected to localhost' 20

pub_tls JZ-SY-001 "$sy1_pw" parking/JZ-SY-001/occupancy "$(obs "$ms" 40)" || pf_fail "own lot publish"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-SY-001'" 1 15 \
	"controller's own message stored"

# a publish to another lot's topic is dropped by the broker: the controller is not told
pub_tls JZ-SY-001 "$sy1_pw" parking/JZ-SY-002/occupancy "$(obs $(( ms + 1000 )) 41)" ||
	pf_fail "the foreign publish should look accepted to the client (QoS 1, MQTT 3.1.1)"
# ... and a known-good message after it, on the same path, proves the first had its chance
pub_tls JZ-SY-001 "$sy1_pw" parking/JZ-SY-001/occupancy "$(obs $(( ms + 2000 )) 42)" ||
	pf_fail "second own lot publish"
pf_wait_sql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-SY-001'" 2 15 \
	"known-good message after the foreign one"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.occupancy WHERE lot_id = 'JZ-SY-002'")" 0 \
	"foreign publish stored"
pf_assert_eq "$(pf_psql "SELECT count(*) FROM parking.rejected")" 0 "foreign publish arrived at all"
pf_assert_eq "$(pf_psql "SELECT stage FROM parking.lots WHERE lot_id = 'JZ-SY-002'")" planned \
	"foreign publish connected the other lot"
# client ids are bound to accounts: a controller cannot take another's session or last will
out=$(mosquitto_pub -h localhost -p "$tls_port" --cafile tls/ca.crt -u JZ-SY-001 -P "$sy1_pw" \
	-i JZ-SY-002 -q 1 -t parking/JZ-SY-001/occupancy -m x 2>&1 || true)
[[ $out == *"not authori"* || $out == *"Connection Refused"* ]] ||
	pf_fail "JZ-SY-001 connected under JZ-SY-002's client id: [$out]"
grep -q "as parkfeed-1 (" mosquitto.log || pf_fail "the daemon's client id is not its account"
grep -q "Denied PUBLISH from JZ-SY-001.*parking/JZ-SY-002/occupancy" mosquitto.log ||
	pf_log "note: this mosquitto does not log denied publishes"
pf_log "ACL: own lot stored, foreign lot dropped by the broker"

# ---- the daemon's password: not in its log, not in its command line or environment -------------
grep -qF "$daemon_pw" daemon.log && pf_fail "the MQTT password appears in the daemon log"
# (matched in the shell: a grep given the password would put it in ps output itself)
ps_out=$(ps -eo args=)
[[ $ps_out == *"$daemon_pw"* ]] && pf_fail "the MQTT password appears in ps output"
tr '\0' '\n' </proc/"$PF_DAEMON_PID"/cmdline | grep -qF "$daemon_pw" &&
	pf_fail "the MQTT password appears in the daemon's command line"
tr '\0' '\n' </proc/"$PF_DAEMON_PID"/environ | grep -qF "$daemon_pw" &&
	pf_fail "the MQTT password appears in the daemon's environment"
pf_daemon_stop

# ---- a wrong CA: the broker's certificate does not verify, and the log says so ---------------
pf_conf_write wrongca.conf mqtt.host=localhost mqtt.port="$tls_port" mqtt.username=parkfeed-1 \
	mqtt.client_id=parkfeed-1 \
	mqtt.password_file="$PF_TMP/mqtt.pass" mqtt.tls_ca_file="$PF_TMP/tls/other.crt"
pf_daemon_start wrongca.conf
# libmosquitto reports a failed handshake as MOSQ_ERR_TLS ("A TLS error occurred.")
pf_daemon_wait_log 'mqtt: .*TLS' 20
line=$(tail -c +$(( PF_DAEMON_LOG_OFFSET + 1 )) daemon.log | grep -E 'mqtt: .*TLS' | head -n 1)
pf_log "wrong CA: $line"
tail -c +$(( PF_DAEMON_LOG_OFFSET + 1 )) daemon.log | grep -q 'mqtt: connected' &&
	pf_fail "connected with a CA that did not sign the broker's certificate"
pf_daemon_stop

grep -qF "$daemon_pw" daemon.log && pf_fail "the MQTT password appears in the daemon log"
# the plugin keeps salted hashes; the broker log masks what the admin sent
for pw in "$daemon_pw" "$sy1_pw"; do
	grep -qF "$pw" "$PF_DYNSEC_FILE" && pf_fail "the plugin's file holds a clear-text password"
	grep -qF "$pw" mosquitto.log sync.err && pf_fail "a password appears in a log"
done
pf_pass
