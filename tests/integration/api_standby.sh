#!/usr/bin/env bash
# parkfeed-api served from a hot standby (a streaming replica made with pg_basebackup -R):
# what is ingested on the primary appears in the standby's answers, /healthz says it reads a
# standby and how far behind it replays, and with [api] max_replica_lag it answers 503 while
# replay is paused (and 200 again once it resumes); the data keeps being served meanwhile.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_pg_standby_start
cd "$PF_TMP"

standby_psql() { psql -XAtq -v ON_ERROR_STOP=1 -d "host=127.0.0.1 port=$PF_STANDBY_PORT dbname=parkfeed user=postgres" -c "$1"; }
ingest() { # LOT FREE: one observation, now, on the primary
	pf_psql "SELECT parking.ingest_occupancy(ARRAY['$1'], ARRAY[(extract(epoch FROM now()) * 1000000)::int8],
		ARRAY[(extract(epoch FROM now()) * 1000000)::int8], ARRAY[100], ARRAY[$2], ARRAY[NULL::int],
		ARRAY['open'], ARRAY[NULL::bigint], ARRAY['native'])" >/dev/null
}
free_of() { pf_api_get "/v1/lots/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["properties"]["free"])'; }

printf 'lot_id,name,district,spaces,deadline,lon,lat\nSB-1,备用一,山阳区,100,,113.25,35.21\nSB-2,备用二,温县,100,,113.08,34.94\n' >lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null
ingest SB-1 11
deadline=$(( SECONDS + 20 ))
until [[ $(standby_psql "SELECT count(*) FROM parking.lot_state" 2>/dev/null) == 1 ]]; do
	(( SECONDS < deadline )) || pf_fail "the standby does not replay"
	sleep 0.2
done
pf_assert_eq "$(standby_psql "SELECT pg_is_in_recovery()")" t "the standby is in recovery"

# The reader login was created on the primary before the base backup: it exists there too.
pf_api_conf_write api.conf postgres.conninfo="$PF_STANDBY_READER_CONNINFO" api.max_replica_lag=2 \
	postgres.reconnect_max=2
pf_api_start api.conf
pf_api_wait_ready 20
health=$(pf_api_get /healthz)
[[ $health =~ ^ok:\ 2\ lots,\ data\ [0-9.]+\ s\ old,\ database\ standby\ \(replay\ lag\ [0-9.]+\ s\)$ ]] ||
	pf_fail "/healthz on a standby: $health"
pf_assert_eq "$(free_of SB-1)" 11 "SB-1 from the standby"
[[ $(pf_api_get /v1/districts) == *'"district":"山阳区","lots":1,"lots_reporting":1,"lots_online":1'* ]] ||
	pf_fail "districts from the standby: $(pf_api_get /v1/districts)"

# Ingest on the primary: the standby's answers follow.
ingest SB-1 22
ingest SB-2 33
deadline=$(( SECONDS + 20 ))
until [[ $(free_of SB-1) == 22 && $(free_of SB-2) == 33 ]]; do
	(( SECONDS < deadline )) || pf_fail "new data on the primary never reached the standby's answers"
	sleep 0.2
done
pf_log "the API on the standby follows what the primary ingests"

# Replay paused: received WAL waits, the lag grows past max_replica_lag, /healthz says so;
# the answers stay those of the last replayed state.
standby_psql "SELECT pg_wal_replay_pause()" >/dev/null
ingest SB-1 44
deadline=$(( SECONDS + 30 ))
until [[ $(pf_api_get /healthz -o health.txt -w '%{http_code}') == 503 ]]; do
	(( SECONDS < deadline )) || pf_fail "/healthz stays 200 with replay paused: $(cat health.txt)"
	ingest SB-2 $(( RANDOM % 50 )) # keeps WAL coming while replay waits
	sleep 0.3
done
grep -qE '^the standby lags [0-9.]+ s behind its primary \(max_replica_lag 2 s\)$' health.txt ||
	pf_fail "/healthz while lagging: $(cat health.txt)"
pf_assert_eq "$(free_of SB-1)" 22 "the lagging standby's state is still served"
standby_psql "SELECT pg_wal_replay_resume()" >/dev/null
pf_api_wait_ready 30
deadline=$(( SECONDS + 20 ))
until [[ $(free_of SB-1) == 44 ]]; do
	(( SECONDS < deadline )) || pf_fail "the standby did not catch up"
	sleep 0.2
done
pf_log "a lagging standby is reported by /healthz, and recovers"

# The ledger is asked on the standby too.
year=$(TZ=Asia/Shanghai date +%Y)
[[ $(pf_api_get "/v1/progress?year=$year" -o ledger.json -w '%{http_code}') == 200 ]] ||
	pf_fail "the ledger from the standby: $(cat ledger.json)"
pf_api_stop
pf_pass
