#!/usr/bin/env bash
# parkfeedd -t warns, and still passes, when [postgres] conninfo (or the PG* environment for
# what it leaves out) reaches a database that is not on a Unix socket or a loopback address
# without sslmode=verify-full; the warning names the host and what to set. Local connections
# and verified ones pass quietly. No server is needed: -t only reads the configuration.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
cd "$PF_TMP"

# check EXPECT CONNINFO [ENV=VALUE...]: EXPECT is "quiet" or the host the warning must name
check() {
	local expect=$1 conninfo=$2 rc=0
	shift 2
	pf_conf_write t.conf "postgres.conninfo=$conninfo"
	env "$@" "$PF_DAEMON" -t -c t.conf >out.txt 2>err.txt || rc=$?
	(( rc == 0 )) || pf_fail "[$conninfo] -t failed ($rc): $(cat err.txt)"
	grep -q "configuration t.conf is valid" out.txt || pf_fail "[$conninfo] $(cat out.txt)"
	if [[ $expect == quiet ]]; then
		[[ ! -s err.txt ]] || pf_fail "[$conninfo $*] warned: $(cat err.txt)"
		return
	fi
	grep -qF "parkfeedd: warning: [postgres] conninfo reaches $expect, which is not a Unix socket or a loopback address, with sslmode=" err.txt ||
		pf_fail "[$conninfo $*] no warning naming $expect: $(cat err.txt)"
	for want in "sslmode=verify-full" "sslrootcert=FILE" "channel_binding=require" \
		"require_auth=scram-sha-256"; do
		grep -qF "$want" err.txt || pf_fail "[$conninfo] the warning lacks $want"
	done
	(( $(wc -l <err.txt) == 1 )) || pf_fail "[$conninfo] warning is not one line: $(cat err.txt)"
}

check quiet ""
check quiet "host=127.0.0.1 port=5432 dbname=parkfeed user=parkfeed"
check quiet "host=127.10.0.1 dbname=parkfeed"
check quiet "host=localhost dbname=parkfeed"
check quiet "host=::1 dbname=parkfeed"
check quiet "host=/var/run/postgresql dbname=parkfeed"
check quiet "postgresql:///parkfeed?host=/run/postgresql"
check quiet "host=db.example hostaddr=127.0.0.1 dbname=parkfeed"
check quiet "host=db.example dbname=parkfeed sslmode=verify-full sslrootcert=/etc/ssl/db-ca.pem"
check quiet "dbname=parkfeed" PGHOST=/run/postgresql
check db.example "host=db.example dbname=parkfeed user=parkfeed_daemon"
check db.example "host=db.example dbname=parkfeed sslmode=require"
check db.example "host=db.example dbname=parkfeed sslmode=verify-ca channel_binding=require"
check 10.1.2.3 "postgresql://parkfeed_daemon@10.1.2.3:5432/parkfeed?sslmode=require"
check 10.1.2.4 "host=db.example hostaddr=10.1.2.4 dbname=parkfeed"
check db2.example "host=localhost,db2.example dbname=parkfeed target_session_attrs=read-write"
check db.example "dbname=parkfeed" PGHOST=db.example
check quiet "dbname=parkfeed" PGHOST=db.example PGSSLMODE=verify-full
pf_conf_write t.conf "postgres.conninfo=host=db.example"
"$PF_DAEMON" -t -c t.conf >/dev/null 2>err.txt
grep -q "with sslmode=prefer: " err.txt || pf_fail "libpq's default sslmode is not named: $(cat err.txt)"

# a conninfo libpq cannot read is worth a warning too (the daemon would never connect)
pf_conf_write t.conf "postgres.conninfo=host=db.example nosuchoption=1"
"$PF_DAEMON" -t -c t.conf >out.txt 2>err.txt || pf_fail "-t failed on a bad conninfo"
grep -q 'warning: \[postgres\] conninfo does not parse: invalid connection option "nosuchoption"' err.txt ||
	pf_fail "bad conninfo: $(cat err.txt)"
pf_pass
