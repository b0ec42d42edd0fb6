#!/usr/bin/env bash
# Slow clients cannot starve /healthz and /metrics: 40 connections from one address that
# trickle a request a byte at a time hold at most the per-address share of the metrics
# server, /healthz and /metrics keep answering from another address, and a client that
# never finishes its request is cut off at the deadline however steadily it trickles; the
# refusals do not flood the log.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
pf_pg_start
pf_pg_migrate
pf_mqtt_start

mport=$(pf_free_port)
conf=$PF_TMP/parkfeed.conf
pf_conf_write "$conf" metrics.listen="127.0.0.1:$mport"
pf_daemon_start "$conf"
pf_daemon_wait_log 'metrics: serving' 10
pf_daemon_wait_log 'postgres: connected' 20
pf_daemon_wait_log 'mqtt: connected' 20

# slow N SOURCE SECONDS: N connections from SOURCE (another loopback address), each sending
# a request header a byte every 0.3 s for SECONDS; prints how many the server accepted and
# kept beyond the first second, and the longest any of them stayed open.
cat >"$PF_TMP/slow.py" <<'EOF'
import socket, sys, time
n, src, secs, port = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
socks, opened = [], {}
for i in range(n):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
    opened[s] = time.monotonic()
closed, t0, pos = {}, time.monotonic(), 0
while time.monotonic() - t0 < secs and len(closed) < n:
    for s in socks:
        if s in closed:
            continue
        try:
            if s.recv(4096) == b"":
                closed[s] = time.monotonic()
                continue
        except BlockingIOError:
            pass
        except OSError:
            closed[s] = time.monotonic()
            continue
        try:
            s.send(req[pos % len(req):pos % len(req) + 1])
        except OSError:
            closed[s] = time.monotonic()
    pos += 1
    time.sleep(0.3)
kept = sum(1 for s in socks if s not in closed or closed[s] - opened[s] > 1.0)
longest = max([closed.get(s, time.monotonic()) - opened[s] for s in socks])
print(kept, round(longest, 1))
EOF

python3 "$PF_TMP/slow.py" 40 127.0.0.2 12 "$mport" >"$PF_TMP/slow.out" &
slow=$!
sleep 1.5
ok=0
for try in 1 2 3 4; do
	code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/healthz" || true)
	[[ $code == 200 ]] && ok=$(( ok + 1 ))
	curl -sf -m 2 "http://127.0.0.1:$mport/metrics" | grep -q '^parkfeed_up' ||
		pf_fail "/metrics did not answer while slow clients held connections (try $try)"
	sleep 0.5
done
pf_assert_eq "$ok" 4 "/healthz answers while 40 slow clients hold connections"
wait "$slow"
read -r kept longest <"$PF_TMP/slow.out"
pf_log "slow clients kept past their first second: $kept of 40; longest open: $longest s"
(( kept <= 8 )) || pf_fail "one address kept $kept connections (at most 8 per address)"
# The deadline is 5 s from accept; the check runs every second.
[[ ${longest%.*} -lt 8 ]] || pf_fail "a trickling client stayed $longest s (deadline 5 s)"
pf_daemon_wait_log 'metrics: a client sent no complete request within 5000 ms' 5
# libmicrohttpd's line per refused connection is rate-limited: the journal is not flooded
n=$(grep -c 'metrics: Server reached connection limit' "$PF_TMP/daemon.log" || true)
(( n <= 5 )) || pf_fail "$n lines of refused connections in the log (at most 5 per 10 s)"
pf_daemon_stop
pf_pass
