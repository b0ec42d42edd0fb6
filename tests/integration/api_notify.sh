#!/usr/bin/env bash
# parkfeed-api and systemd's notification protocol, against a stand-in socket: READY=1 once the
# first snapshot is read (with a STATUS= of what it serves), WATCHDOG=1 while the database
# reader turns, RELOADING=1 + MONOTONIC_USEC= then READY=1 around SIGHUP, STOPPING=1 and exit 0
# on SIGTERM; without a database, READY=1 after [systemd] ready_timeout with STATUS=degraded.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

printf 'lot_id,name,district,spaces,deadline,lon,lat\nN-1,一,山阳区,10,,113.25,35.21\n' >lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null
pf_notify_listen "$PF_TMP/notify.sock" notify.log
pf_api_conf_write api.conf
export NOTIFY_SOCKET=$PF_TMP/notify.sock WATCHDOG_USEC=1000000
pf_api_start api.conf
unset NOTIFY_SOCKET WATCHDOG_USEC
pf_wait_notify notify.log $'\tREADY=1\\|STATUS=1 lots, data [0-9.]+ s old, database primary, [0-9]+ requests/s$' 10
pf_wait_notify notify.log $'\tWATCHDOG=1$' 5 3
n=$(grep -c $'\tWATCHDOG=1$' notify.log)
kill -STOP "$PF_API_PID"
sleep 1.5
pf_assert_eq "$(grep -c $'\tWATCHDOG=1$' notify.log)" "$n" "WATCHDOG=1 while stopped"
kill -CONT "$PF_API_PID"
pf_wait_notify notify.log $'\tWATCHDOG=1$' 5 $(( n + 1 ))
kill -HUP "$PF_API_PID"
pf_wait_notify notify.log $'\tRELOADING=1\\|MONOTONIC_USEC=[0-9]+$' 5
pf_wait_notify notify.log $'\tREADY=1\\|STATUS=1 lots' 5 2
pf_api_stop
pf_wait_notify notify.log $'\tSTOPPING=1$' 2
pf_log "READY, WATCHDOG, RELOADING and STOPPING"

# No database: ready after ready_timeout, degraded, and serving 503 meanwhile.
: >notify.log
pf_api_conf_write api2.conf postgres.conninfo="host=127.0.0.1 port=1 dbname=parkfeed user=pf_reader" \
	systemd.ready_timeout=1
export NOTIFY_SOCKET=$PF_TMP/notify.sock
pf_api_start api2.conf
unset NOTIFY_SOCKET
pf_wait_notify notify.log $'\tREADY=1\\|STATUS=degraded: no data after 1 s: the database is unreachable' 10
pf_assert_eq "$(pf_api_get /healthz -o /dev/null -w '%{http_code}')" 503 "/healthz without a database"
pf_api_stop
pf_pass
