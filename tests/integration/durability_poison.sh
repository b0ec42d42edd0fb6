#!/usr/bin/env bash
# Poison data: a row PostgreSQL itself refuses never blocks the pipeline and never loops.
# Its batch is retried record by record; the good rows are stored, the refused one lands in
# parking.rejected as db_refused with PostgreSQL's reason.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start "max_queued_messages 0"

# The database refuses one lot's rows (as a constraint or a bad extension would).
pf_psql "CREATE FUNCTION public.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		IF NEW.lot_id = 'JZ-POISON' THEN
			RAISE EXCEPTION 'lot JZ-POISON is refused here' USING ERRCODE = '22023';
		END IF;
		RETURN NEW;
	END \$\$;
	CREATE TRIGGER refuse_poison BEFORE INSERT ON parking.occupancy_default
		FOR EACH ROW EXECUTE FUNCTION public.refuse_poison();" >/dev/null

conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf"
pf_daemon_start "$conf"
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20
pf_daemon_stop

# A backlog, so the poison rows share batches with good ones. Old timestamps land in the
# default partition, where the trigger is.
for i in $(seq 1 200); do
	printf '{"ts": "2001-01-01T00:%02d:%02d+08:00", "total": 10, "free": 1}\n' $(( i / 60 )) $(( i % 60 ))
done >"$PF_TMP/good.txt"
mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -q 1 -t parking/JZ-GOOD/occupancy -l <"$PF_TMP/good.txt"
pf_pub parking/JZ-POISON/occupancy '{"ts": "2001-01-01T00:00:00+08:00", "total": 10, "free": 1}'
pf_pub parking/JZ-POISON/occupancy '{"ts": "2001-01-01T00:00:01+08:00", "total": 10, "free": 2}'
sed 's/2001-01-01T00/2001-01-01T01/' "$PF_TMP/good.txt" |
	mosquitto_pub -h 127.0.0.1 -p "$PF_MQTT_PORT" -q 1 -t parking/JZ-GOOD/occupancy -l

pf_daemon_start "$conf"
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 400 60 "good rows around the poison"
pf_wait_sql "SELECT count(*) FROM parking.rejected WHERE reason = 'db_refused' AND lot_id = 'JZ-POISON'" 2 30 \
	"poison rows rejected"
pf_assert_eq "$(pf_psql "SELECT bool_and(detail LIKE '%JZ-POISON is refused%') FROM parking.rejected")" t \
	"the reject carries PostgreSQL's reason"
# And the pipeline goes on normally afterwards.
pf_pub parking/JZ-GOOD/occupancy '{"ts": "2002-01-01T00:00:00+08:00", "total": 10, "free": 3}'
pf_wait_sql "SELECT count(*) FROM parking.occupancy" 401 20 "after the poison"
pf_daemon_stop
grep -q 'storing its records one at a time' "$PF_TMP/daemon.log" || pf_fail "no isolation logged"
pf_pass
