#!/usr/bin/env bash
# parkfeed-api's command line and start-up: --version, -t exit codes and messages (valid file,
# unknown key with FILE:LINE, bad value, missing file, unreadable password file), a port in
# use, and the schema check: an older schema is refused with "run parkfeedctl migrate" (also
# when the reader cannot read the version at all), retried, and served once migrated.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
cd "$PF_TMP"

version=$(sed -n 's/^project(parkfeed VERSION \([0-9.]*\).*/\1/p' "$PF_SOURCE_DIR/CMakeLists.txt")
pf_expect_run 0 "parkfeed-api $version" "$PF_API" --version
pf_expect_run 0 "usage: parkfeed-api -c FILE" "$PF_API" --help
pf_expect_run 2 "no configuration file: give -c FILE" "$PF_API"
pf_expect_run 2 "unexpected argument" "$PF_API" -c x.conf extra

mkdir -p web
pf_api_conf_write ok.conf
pf_expect_run 0 "parkfeed-api: configuration ok.conf is valid" "$PF_API" -t -c ok.conf
pf_expect_run 0 "configuration $PF_SOURCE_DIR/config/parkfeed-api.conf is valid" "$PF_API" -t -c "$PF_SOURCE_DIR/config/parkfeed-api.conf"
out=$("$PF_API" -t -c "$PF_SOURCE_DIR/config/parkfeed-api.conf" 2>&1 >/dev/null)
[[ $out == *"warning: [web] root /usr/share/parkfeed/web is not a directory"* || -d /usr/share/parkfeed/web ]] ||
	pf_fail "no warning for a missing web root: $out"
printf '[api]\nlisten = 127.0.0.1:8080\nthreds = 4\n' >typo.conf
pf_expect_run 1 "parkfeed-api: typo.conf:3: [api] threds: unknown key (did you mean threads?)" "$PF_API" -t -c typo.conf
printf '[api]\nrate_limit = fast\n' >bad.conf
pf_expect_run 1 'bad.conf:2: [api] rate_limit: "fast" is not a whole number (allowed: 0..1000000)' "$PF_API" -t -c bad.conf
printf '[web]\ntile_url = ftp://x/{z}/{x}/{y}\n' >tiles.conf
pf_expect_run 1 'tiles.conf:2: [web] tile_url: "ftp://x/{z}/{x}/{y}" is not a tile URL template' "$PF_API" -t -c tiles.conf
pf_expect_run 1 "cannot read nothere.conf: No such file or directory (check -c PATH)" "$PF_API" -t -c nothere.conf
printf '[postgres]\npassword_file = /nonexistent/pg-password\n' >pw.conf
pf_expect_run 1 "[postgres] password_file: cannot read secret /nonexistent/pg-password: No such file or directory" \
	"$PF_API" -t -c pw.conf
printf '[postgres]\npassword_file = pg-password\n' >cred.conf
pf_expect_run 1 '$CREDENTIALS_DIRECTORY is not set' env -u CREDENTIALS_DIRECTORY "$PF_API" -t -c cred.conf
mkdir -p creds && printf 'secret\n' >creds/pg-password
pf_expect_run 0 "is valid" env CREDENTIALS_DIRECTORY="$PF_TMP/creds" "$PF_API" -t -c cred.conf
pf_log "-t, --version and the configuration's messages"

# A port someone else holds: a clear error, exit 1.
busy=$(pf_free_port)
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', $busy)); s.listen(); time.sleep(30)" &
holder=$!
pf_track_pid "$holder"
for _ in $(seq 50); do ss -ltnH "sport = :$busy" | grep -q . && break; sleep 0.1; done
pf_api_conf_write busy.conf api.listen="127.0.0.1:$busy" postgres.conninfo="host=127.0.0.1 port=1 dbname=x"
pf_expect_run 1 "[api] listen: cannot serve HTTP on 127.0.0.1:$busy: Address already in use" "$PF_API" -c busy.conf
kill "$holder"

# ---- what 009 grants: to parkfeed_reader, and to nobody else but operators' reads ----
pf_pg_start
pf_pg_migrate
may() { # LOGIN SQL: allowed or denied
	if psql -XAtq -v ON_ERROR_STOP=1 -d "host=127.0.0.1 port=$PF_PG_PORT dbname=parkfeed user=$1" \
		-c "$2" >/dev/null 2>perm.err; then echo allowed
	elif grep -q 'permission denied' perm.err; then echo denied
	else pf_fail "$1: $2: $(cat perm.err)"; fi
}
for stmt in "SELECT * FROM parking.lot_map" "SELECT * FROM parking.district_overview" \
	"SELECT * FROM parking.lot_occupancy_curve('x', 24, 15)" \
	"SELECT * FROM parking.district_occupancy_curve('x', 24, 15)" \
	"SELECT max(version) FROM parking.schema_migrations"; do
	pf_assert_eq "$(may pf_reader "$stmt")" allowed "pf_reader: $stmt"
	pf_assert_eq "$(may pf_daemon "$stmt")" denied "pf_daemon: $stmt"
done
pf_assert_eq "$(may pf_operator "SELECT * FROM parking.lot_map")" allowed "operators read every view"
pf_assert_eq "$(may pf_operator "SELECT * FROM parking.lot_occupancy_curve('x', 24, 15)")" denied \
	"the curve functions are the reader's"
pf_assert_eq "$(may pf_reader "SELECT * FROM parking.lots")" denied "pf_reader: the table itself"
pf_assert_eq "$(may pf_reader "SELECT * FROM parking.occupancy")" denied "pf_reader: raw observations"

# ---- the schema version ----
pf_api_conf_write api.conf postgres.reconnect_max=1
# An older schema: the API refuses to serve and says what to do, and keeps trying.
pf_psql "CREATE TABLE public.newer AS SELECT * FROM parking.schema_migrations WHERE version >= 9;
	DELETE FROM parking.schema_migrations WHERE version >= 9" >/dev/null
pf_api_start api.conf
pf_wait_log api.log 'the database schema is at version [0-8]; parkfeed-api needs 9 or later: run parkfeedctl migrate' 20
code=$(pf_api_get /healthz -o health.txt -w '%{http_code}')
pf_assert_eq "$code" 503 "/healthz with an old schema"
grep -q 'no data yet: the database schema is at version [0-8]; parkfeed-api needs 9 or later: run parkfeedctl migrate' health.txt ||
	pf_fail "/healthz: $(cat health.txt)"
code=$(pf_api_get /v1/lots -o lots.json -w '%{http_code}')
pf_assert_eq "$code" 503 "/v1/lots with an old schema"
grep -q 'run parkfeedctl migrate' lots.json || pf_fail "/v1/lots: $(cat lots.json)"
# Once the schema is at 9 or later again (as migrate records it), it serves without a restart.
pf_psql "INSERT INTO parking.schema_migrations SELECT * FROM public.newer" >/dev/null
pf_api_wait_ready 20
pf_log "an old schema is refused with run parkfeedctl migrate, and served once it is current"

# A schema from before the reader could read the version: said the same way.
pf_psql "REVOKE SELECT ON parking.schema_migrations FROM parkfeed_reader" >/dev/null
pf_api_stop
: >api.log
pf_api_start api.conf
pf_wait_log api.log 'cannot read parking.schema_migrations \(permission denied\): the schema is older than version 9 \(run parkfeedctl migrate\) or the login is not a member of parkfeed_reader' 20
pf_api_stop
pf_pass
