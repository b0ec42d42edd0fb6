#!/usr/bin/env bash
# A database in a Chinese encoding (EUC_CN): the daemon speaks UTF-8 to it (client_encoding),
# so a status naming its system in Chinese and a reject whose detail quotes Chinese text are
# stored as they were sent, in batches, with nothing refused and nothing isolated.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
# The harness asks for UTF-8 for psql through PGCLIENTENCODING, which the server would also
# take as its default: start it, and later the daemon, without.
unset PGCLIENTENCODING
pf_pg_start
export PGCLIENTENCODING=UTF8
pf_psql "CREATE DATABASE parkfeed_cn ENCODING 'EUC_CN' LC_COLLATE 'C' LC_CTYPE 'C'
	TEMPLATE template0" >/dev/null
cn="host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed_cn user=postgres"
"$PF_CTL" -d "$cn" migrate >"$PF_TMP/migrate-cn.log" 2>&1 ||
	pf_fail "migrate on EUC_CN: $(cat "$PF_TMP/migrate-cn.log")"
pf_mqtt_start

conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" postgres.conninfo="$cn"
unset PGCLIENTENCODING
pf_daemon_start "$conf"
export PGCLIENTENCODING=UTF8
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
pf_pub parking/JZ-SY-001/status '{"online":true,"system":"智慧停车系统","version":"2.1","protocol":"parkfeed/1"}'
pf_pub parking/JZ-SY-001/occupancy "{\"ts\":\"$now\",\"total\":320,\"free\":70}"
pf_pub parking/JZ-SY-002/occupancy '{"ts":"昨天","total":10,"free":1}'
q() { pf_psql_as "$cn" "$1"; }
for _ in $(seq 100); do
	[[ $(q "SELECT count(*) FROM parking.rejected") == 1 &&
		$(q "SELECT count(*) FROM parking.occupancy") == 1 &&
		$(q "SELECT coalesce(system, '') FROM parking.lots WHERE lot_id = 'JZ-SY-001'") != "" ]] && break
	sleep 0.1
done
pf_assert_eq "$(q "SELECT system FROM parking.lots WHERE lot_id = 'JZ-SY-001'")" "智慧停车系统" \
	"Chinese status text in an EUC_CN database"
pf_assert_eq "$(q "SELECT reason FROM parking.rejected")" "bad_type" "the reject's reason"
q "SELECT detail FROM parking.rejected" | grep -q '昨天' ||
	pf_fail "the reject's detail lost its Chinese text: $(q "SELECT detail FROM parking.rejected")"
pf_assert_eq "$(q "SELECT convert_from(payload, 'UTF8') FROM parking.rejected")" \
	'{"ts":"昨天","total":10,"free":1}' "the raw payload, byte for byte"
pf_assert_eq "$(q "SELECT count(*) FROM parking.rejected WHERE reason = 'db_refused'")" 0 \
	"nothing refused by PostgreSQL"
grep -q 'storing its records one at a time' "$PF_TMP/daemon.log" &&
	pf_fail "a batch was refused and isolated: $(grep -m1 'refused' "$PF_TMP/daemon.log")"
pf_daemon_stop
pf_pass
