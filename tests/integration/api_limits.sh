#!/usr/bin/env bash
# parkfeed-api's per-client rate limit: past the burst a client gets 429 with Retry-After and a
# problem saying why, another client does not; /healthz is never limited; behind a trusted
# proxy the client is the X-Forwarded-For address, from anyone else the header is ignored.
set -euo pipefail
source "$PF_SOURCE_DIR/tests/lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
cd "$PF_TMP"

# 1 request/s after a burst of 3: of 20 requests sent one after the other, at least the
# ones sent within the first 16 s beyond the burst are refused, whatever the machine's speed
# (each request takes far less than that).
pf_api_conf_write api.conf api.rate_limit=1 api.rate_burst=3 api.trusted_proxies=127.0.0.1
pf_api_start api.conf
pf_api_wait_ready 20

count_codes() { # PATH [curl args]: "OK LIMITED" of 20 requests
	local ok=0 limited=0 code i
	for i in $(seq 20); do
		code=$(pf_api_get "$@" -o /dev/null -w '%{http_code}')
		case $code in 200) ok=$(( ok + 1 )) ;; 429) limited=$(( limited + 1 )) ;; *) pf_fail "$1: $code" ;; esac
	done
	echo "$ok $limited"
}

read -r ok limited < <(count_codes /healthz)
pf_assert_eq "$ok $limited" "20 0" "/healthz is not limited"

start=$SECONDS
read -r ok limited < <(count_codes /v1/districts -H 'X-Forwarded-For: 198.51.100.1')
elapsed=$(( SECONDS - start ))
(( limited >= 1 && ok >= 3 && ok <= 3 + elapsed + 1 )) ||
	pf_fail "client A: $ok answered, $limited limited in ${elapsed}s (burst 3, 1/s)"
code=$(pf_api_get /v1/districts -H 'X-Forwarded-For: 198.51.100.1' -D h.txt -o problem.json -w '%{http_code}')
pf_assert_eq "$code" 429 "client A again"
retry=$(grep -i '^retry-after:' h.txt | tr -d '\r' | cut -d' ' -f2)
[[ $retry =~ ^[1-9][0-9]*$ ]] || pf_fail "Retry-After [$retry]"
grep -q 'more than 1 requests per second from your address; retry after' problem.json ||
	pf_fail "429 problem: $(cat problem.json)"
grep -q 'application/problem+json' h.txt || pf_fail "429 Content-Type"
grep -q 'client 198.51.100.1 is over 1 requests/s (burst 3): answering 429' api.log ||
	pf_fail "the limit is not logged with the client: $(tail -n 3 api.log)"
# Another client behind the same proxy has its own bucket.
code=$(pf_api_get /v1/districts -H 'X-Forwarded-For: 198.51.100.2' -o /dev/null -w '%{http_code}')
pf_assert_eq "$code" 200 "client B behind the proxy"
pf_api_stop

# Without trusted proxies, X-Forwarded-For changes nothing: every request is 127.0.0.1's.
pf_api_conf_write api2.conf api.rate_limit=1 api.rate_burst=3
pf_api_start api2.conf
pf_api_wait_ready 20
limited=0
start=$SECONDS
for i in $(seq 12); do
	code=$(pf_api_get /v1/districts -H "X-Forwarded-For: 198.51.100.$i" -o /dev/null -w '%{http_code}')
	[[ $code == 429 ]] && limited=$(( limited + 1 ))
done
(( limited >= 12 - 3 - (SECONDS - start) - 1 && limited >= 1 )) ||
	pf_fail "forged X-Forwarded-For from an untrusted peer: only $limited of 12 limited"
pf_api_stop
pf_pass
