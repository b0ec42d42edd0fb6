#!/usr/bin/env bash
# parkfeedctl broker sync --offline: the registry's accounts written into the dynamic-security
# plugin's file with the broker stopped; then a real mosquitto loads it: every new password
# works, lot A still cannot publish as lot B, and a live sync finds nothing to do. A re-run
# changes nothing; a file the plugin itself wrote is read back; a broker that has loaded the
# file, a damaged file and a file of something else are refused.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_dynsec_init admin
cd "$PF_TMP"

ctl() { "$PF_CTL" -d "$PF_OPERATOR_CONNINFO" "$@"; }
offline() { ctl broker sync --offline "$PF_DYNSEC_FILE" --daemon parkfeed-1 "$@"; }
live() {
	ctl broker sync --host 127.0.0.1 --port "$PF_MQTT_PORT" --admin-user "$PF_DYNSEC_ADMIN" \
		--admin-password-file "$PF_DYNSEC_ADMIN_PASSWORD_FILE" --daemon parkfeed-1 "$@"
}
pw() { pf_creds_pw "$@"; }
as() { pf_mqtt_as "$@"; }
dynsec_sum() { md5sum <"$PF_DYNSEC_FILE"; }
lot() { printf 'JZ-XW-%03d' "$1"; }
registry=()
register() {
	local i
	for i in "$@"; do registry+=("$(lot "$i")"); done
	printf 'lot_id,name,district,spaces,deadline\n' >lots.csv
	for l in "${registry[@]}"; do printf '%s,修武县停车场 %s,修武县,100,2023-12-31\n' "$l" "${l#JZ-XW-}" >>lots.csv; done
	ctl lots import lots.csv >/dev/null
}
# every USER:PASSWORD given publishes on its own topic, and parkfeed-1 receives each of them
all_publish() {
	local daemon_pw=$1 n=0 up
	shift
	# line-buffered: the SUBACK line is the sign to start publishing
	stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" -u parkfeed-1 -P "$daemon_pw" \
		-i parkfeed-1 -V 5 -d -t 'parking/#' -F 'GOT %t' -C $# -W 30 >recv.out 2>&1 &
	local sub=$!
	pf_track_pid "$sub"
	pf_wait_log recv.out "received SUBACK" 10
	for up in "$@"; do
		as "${up%%:*}" "${up#*:}" mosquitto_pub -q 1 -t "parking/${up%%:*}/occupancy" -m x ||
			pf_fail "${up%%:*} could not publish with its password"
		n=$(( n + 1 ))
	done
	wait "$sub" || pf_fail "parkfeed-1 received $(grep -c '^GOT' recv.out) of $n: $(tail -n 3 recv.out)"
	pf_assert_eq "$(grep '^GOT' recv.out | sort)" \
		"$(for up in "$@"; do echo "GOT parking/${up%%:*}/occupancy"; done | sort)" "topics received"
}

# ---- provisioning 40 lots and a daemon into the file mosquitto_ctrl dynsec init made ---------
register $(seq 1 40)
chmod 640 "$PF_DYNSEC_FILE"
owner=$(stat -c %U:%G "$PF_DYNSEC_FILE")
if (( EUID == 0 )); then chown nobody:nogroup "$PF_DYNSEC_FILE"; owner=nobody:nogroup; fi
offline --credentials-out creds1.csv 2>off1.err || { cat off1.err >&2; pf_fail "first offline sync"; }
pf_log "$(grep 'broker sync --offline:' off1.err)"
grep -q "created 41, enabled 0, disabled 0, repaired 0, unchanged 0; 82 command(s) applied to $PF_DYNSEC_FILE" off1.err ||
	pf_fail "first offline sync: $(cat off1.err)"
pf_assert_eq "$(stat -c %a creds1.csv)" 600 "credentials file mode"
pf_assert_eq "$(tail -n +2 creds1.csv | cut -d, -f1 | sort | uniq -c | tr -s ' ')" " 1 daemon
 40 lot" "kinds of new accounts"
pf_assert_eq "$(stat -c %a "$PF_DYNSEC_FILE")" 640 "the plugin file's mode"
pf_assert_eq "$(stat -c %U:%G "$PF_DYNSEC_FILE")" "$owner" "the plugin file's owner"
pa=$(pw creds1.csv "$(lot 1)")
[[ $pa =~ ^[A-Za-z0-9]{24}$ ]] || pf_fail "password is not 24 letters and digits: [$pa]"
grep -qF "$pa" "$PF_DYNSEC_FILE" && pf_fail "the file holds a clear-text password"
[[ -z $(find . -maxdepth 1 -name "$(basename "$PF_DYNSEC_FILE").*") ]] ||
	pf_fail "a temporary file was left beside the plugin's: $(ls "$PF_DYNSEC_FILE".*)"

# ---- a re-run changes nothing, to the byte ---------------------------------------------------
before=$(dynsec_sum)
offline >rerun.out 2>rerun.err || { cat rerun.err >&2; pf_fail "offline re-run"; }
[[ ! -s rerun.out ]] || pf_fail "the re-run printed credentials: $(cat rerun.out)"
grep -q "created 0, enabled 0, disabled 0, repaired 0, unchanged 41; nothing to change" rerun.err ||
	pf_fail "re-run: $(cat rerun.err)"
pf_assert_eq "$(dynsec_sum)" "$before" "the file after an offline re-run"

# ---- a dry run, then the new lot for real, its password on stdout -----------------------------
register 41
offline --dry-run >dry.out 2>dry.err || { cat dry.err >&2; pf_fail "offline dry run"; }
grep -qF "create client $(lot 41) (client id $(lot 41)" dry.out || pf_fail "dry run: $(cat dry.out)"
pf_assert_eq "$(dynsec_sum)" "$before" "the file after a dry run"
offline --dry-run --credentials-out x.csv 2>/dev/null && pf_fail "--dry-run with --credentials-out accepted"
offline >creds2.csv 2>off2.err || { cat off2.err >&2; pf_fail "offline sync of one new lot"; }
pf_assert_eq "$(cut -d, -f1-3 creds2.csv)" "kind,username,client_id
lot,$(lot 41),$(lot 41)" "credentials on stdout"

# ---- the broker loads it: every password works, A cannot publish as B --------------------------
pf_mqtt_start "${PF_DYNSEC_CONF[@]}"
pd=$(pw creds1.csv parkfeed-1)
ups=()
for i in $(seq 1 40); do ups+=("$(lot "$i"):$(pw creds1.csv "$(lot "$i")")"); done
ups+=("$(lot 41):$(pw creds2.csv "$(lot 41)")")
all_publish "$pd" "${ups[@]}"
pf_log "all 41 lots published with the passwords the offline sync printed"
out=$(as "$(lot 1)" "$pa" mosquitto_pub -q 1 -t "parking/$(lot 2)/occupancy" -m x 2>&1 || true)
[[ $out == *"ot authorized"* ]] || pf_fail "A's publish as B was not refused: [$out]"
out=$(as "$(lot 1)" "$pa" mosquitto_pub -q 1 -t "parking/$(lot 1)/rejected" -m x 2>&1 || true)
[[ $out == *"ot authorized"* ]] || pf_fail "A may write its own rejected topic: [$out]"
out=$(as "$(lot 1)" "${pa}x" mosquitto_pub -q 1 -t "parking/$(lot 1)/occupancy" -m x 2>&1 || true)
[[ $out == *"ot authori"* || $out == *"ad user name or password"* ]] || pf_fail "a wrong password was let in: [$out]"
out=$(mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -u "$(lot 1)" -P "$pa" -i "$(lot 2)" -V 5 \
	-q 1 -t "parking/$(lot 1)/occupancy" -m x 2>&1 || true)
[[ $out == *"ot authori"* ]] || pf_fail "A connected under B's client id: [$out]"

# ---- a broker that has loaded the file is refused; a dry run may look ---------------------------
before=$(dynsec_sum)
if offline >running.out 2>running.err; then pf_fail "offline sync ran under a running broker"; fi
grep -q "mosquitto (pid $PF_MQTT_PID) has loaded $PF_DYNSEC_FILE: stop it first" running.err ||
	pf_fail "running broker: $(cat running.err)"
ln -s "$PF_DYNSEC_FILE" link.json
if ctl broker sync --offline link.json >/dev/null 2>link.err; then pf_fail "offline sync through a symlink ran under a running broker"; fi
grep -q "mosquitto (pid $PF_MQTT_PID) has loaded $PF_DYNSEC_FILE" link.err || pf_fail "symlink: $(cat link.err)"
offline --dry-run >/dev/null 2>dry2.err || { cat dry2.err >&2; pf_fail "dry run beside a running broker"; }
pf_assert_eq "$(dynsec_sum)" "$before" "the file after the refused run"

# ---- offline and live agree: the live sync finds nothing to do -----------------------------------
live >live1.out 2>live1.err || { cat live1.err >&2; pf_fail "live sync after offline"; }
grep -q "created 0, enabled 0, disabled 0, repaired 0, unchanged 42; 0 command" live1.err ||
	pf_fail "live sync after offline: $(cat live1.err)"

# ---- live changes; then the file the plugin wrote, offline again --------------------------------
ctl broker retire "$(lot 2)" --note "closed" >/dev/null
register 42
live >creds3.csv 2>live2.err || { cat live2.err >&2; pf_fail "live sync with changes"; }
grep -q "created 1, enabled 0, disabled 1" live2.err || pf_fail "live changes: $(cat live2.err)"
ctl broker passwd "$(lot 3)" --host 127.0.0.1 --port "$PF_MQTT_PORT" --admin-user admin \
	--admin-password-file "$PF_DYNSEC_ADMIN_PASSWORD_FILE" >creds4.csv 2>/dev/null || pf_fail "passwd"
mosquitto_ctrl -h 127.0.0.1 -p "$PF_MQTT_PORT" -u admin -P "$(cat "$PF_DYNSEC_ADMIN_PASSWORD_FILE")" \
	dynsec createClient "$(lot 44)" -p other >/dev/null 2>&1 || pf_fail "mosquitto_ctrl createClient"
pf_mqtt_stop
grep -q '"disabled":	true' "$PF_DYNSEC_FILE" || pf_fail "the plugin did not write its file as expected"

ctl broker reinstate "$(lot 2)" >/dev/null
register 43 44
if offline --credentials-out creds5.csv 2>off3.err; then
	pf_fail "an offline sync over a foreign client named like a lot succeeded"
fi
grep -q "lot $(lot 44): the broker already has a client $(lot 44) that is not this lot's" off3.err ||
	pf_fail "conflict not reported: $(cat off3.err)"
grep -q "created 1, enabled 1, disabled 0, repaired 0, unchanged 42;" off3.err ||
	pf_fail "offline sync of the plugin's own file: $(cat off3.err)"
pf_assert_eq "$(cut -d, -f2 creds5.csv)" "username
$(lot 43)" "the other lots go on beside a conflict"
before=$(dynsec_sum)
offline >/dev/null 2>off4.err && pf_fail "the conflict went away by itself"
grep -q "nothing to change" off4.err || pf_fail "re-run of the plugin's file: $(cat off4.err)"
pf_assert_eq "$(dynsec_sum)" "$before" "the file after a re-run"

pf_mqtt_start_again
all_publish "$pd" "$(lot 2):$(pw creds1.csv "$(lot 2)")" "$(lot 3):$(pw creds4.csv "$(lot 3)")" \
	"$(lot 42):$(pw creds3.csv "$(lot 42)")" "$(lot 43):$(pw creds5.csv "$(lot 43)")" \
	"$(lot 5):$(pw creds1.csv "$(lot 5)")"
pf_log "reinstated, re-passworded, live-made and offline-made accounts all work"
live >/dev/null 2>live3.err && pf_fail "the live sync missed the conflict"
grep -q "created 0, enabled 0, disabled 0, repaired 0, unchanged 44; 0 command" live3.err ||
	pf_fail "live sync after the second offline sync: $(cat live3.err)"

# ---- damaged files and files of something else are refused, and left alone ----------------------
refused() {
	local file=$1 want=$2 sum
	sum=$({ md5sum <"$file"; } 2>/dev/null || true)
	if ctl broker sync --offline "$file" >refused.out 2>refused.err; then
		pf_fail "offline sync of $file succeeded"
	fi
	grep -qF -- "$want" refused.err || pf_fail "$file: expected [$want], got [$(cat refused.err)]"
	pf_assert_eq "$(wc -l <refused.err)" 1 "lines of error about $file"
	pf_assert_eq "$({ md5sum <"$file"; } 2>/dev/null || true)" "$sum" "$file after a refusal"
	[[ ! -s refused.out ]] || pf_fail "a refused sync printed: $(cat refused.out)"
}
head -c 700 "$PF_DYNSEC_FILE" >truncated.json
refused truncated.json "is not the dynamic-security plugin's file, or is damaged"
refused mosquitto.conf "is not the dynamic-security plugin's file, or is damaged"
printf '{"listeners": [{"port": 1883}]}' >foreign.json
refused foreign.json "not a dynamic-security file"
sed '0,/"salt":[^"]*"[^"]*"/s//"salt": "AAAA"/' "$PF_DYNSEC_FILE" >badsalt.json
refused badsalt.json "\"salt\" is not 12 bytes in base64 (mosquitto would drop the account)"
: >empty.json
refused empty.json "is empty: mosquitto would start from it without any account"
refused missing.json "create it with mosquitto_ctrl dynsec init"
ctl broker passwd "$(lot 1)" --offline "$PF_DYNSEC_FILE" 2>/dev/null && pf_fail "passwd --offline accepted"

# a broker that runs on another file does not stand in the way
cp "$PF_DYNSEC_FILE" copy.json
ctl broker sync --offline copy.json --daemon parkfeed-1 >/dev/null 2>copy.err || true
grep -q "nothing to change" copy.err || pf_fail "a copy beside a running broker: $(cat copy.err)"

# a second broker that loads the copy through an include_dir, named relative to its directory
mkdir -p second/conf.d
cp copy.json second/state.json
printf 'listener %s 127.0.0.1\nallow_anonymous false\ninclude_dir conf.d\n%s\n' \
	"$(pf_free_port)" "$( (( EUID == 0 )) && echo 'user root')" >second/mosquitto.conf
printf 'plugin %s\nplugin_opt_config_file state.json\n' "$(pf_dynsec_plugin)" >second/conf.d/dynsec.conf
(cd second && exec mosquitto -c mosquitto.conf) >second.log 2>&1 &
second=$!
pf_track_pid "$second"
pf_wait_log second.log "mosquitto version [0-9.]+ running" 10
if ctl broker sync --offline second/state.json >/dev/null 2>second.err; then
	pf_fail "offline sync ran under a broker that includes the file"
fi
grep -q "mosquitto (pid $second) has loaded $PF_TMP/second/state.json" second.err ||
	pf_fail "include_dir: $(cat second.err)"
kill "$second"
wait "$second" || true
ctl broker sync --offline second/state.json --daemon parkfeed-1 >/dev/null 2>second2.err || true
grep -q "nothing to change" second2.err || pf_fail "after the second broker stopped: $(cat second2.err)"
pf_pass
