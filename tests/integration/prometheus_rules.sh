#!/usr/bin/env bash
# The Prometheus alert rules (config/prometheus/parkfeed-alerts.yml): promtool accepts them,
# their unit tests pass (tests/data/prometheus/parkfeed-alerts.test.yml), and every parkfeed
# metric they name is one a running parkfeedd exports, with the type the rules assume.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
rules=$PF_SOURCE_DIR/config/prometheus/parkfeed-alerts.yml
tests=$PF_SOURCE_DIR/tests/data/prometheus/parkfeed-alerts.test.yml
command -v promtool >/dev/null || pf_fail "promtool missing: install prometheus (scripts/deps.sh)"

out=$(promtool check rules "$rules" 2>&1) || pf_fail "promtool check rules: $out"
pf_log "$(grep -o 'SUCCESS.*' <<<"$out")"
out=$(cd "$(dirname "$tests")" && promtool test rules "$(basename "$tests")" 2>&1) ||
	pf_fail "promtool test rules: $out"
pf_log "promtool test rules: $(grep -c 'alertname:' "$tests") alert checks pass"

pf_pg_start
pf_pg_migrate
pf_mqtt_start
mport=$(pf_free_port)
pf_conf_write "$PF_TMP/parkfeed.conf" metrics.listen="127.0.0.1:$mport"
pf_daemon_start "$PF_TMP/parkfeed.conf"
pf_daemon_wait_log 'metrics: serving' 10
pf_daemon_wait_log 'postgres: connected' 20
# parkfeed_lots appears with the first freshness count, a few seconds after connecting.
for (( i = 0; i < 150; i++ )); do
	curl -sf "http://127.0.0.1:$mport/metrics" >"$PF_TMP/metrics.txt" || true
	grep -q '^parkfeed_lots{' "$PF_TMP/metrics.txt" && break
	sleep 0.1
done
grep -q '^parkfeed_lots{' "$PF_TMP/metrics.txt" || pf_fail "no parkfeed_lots in /metrics after 15 s"

# type_of NAME: the TYPE line of NAME in the scrape, empty if it is not exported.
type_of() {
	awk -v m="$1" '$1 == "#" && $2 == "TYPE" && $3 == m {print $4}' "$PF_TMP/metrics.txt"
}
mapfile -t used < <(grep -oE '\bparkfeed_[a-z0-9_]+' "$rules" | sort -u)
(( ${#used[@]} > 10 )) || pf_fail "found only ${#used[@]} parkfeed metrics in $rules"
for m in "${used[@]}"; do
	t=$(type_of "$m")
	[[ -n $t ]] || pf_fail "the rules use $m, which parkfeedd does not export"
	# increase() and rate() want counters, the rest gauges.
	if grep -Eq "(increase|rate)\\($m\\b" "$rules"; then
		pf_assert_eq "$t" counter "type of $m"
	else
		pf_assert_eq "$t" gauge "type of $m"
	fi
done
pf_log "the ${#used[@]} metrics the rules use are exported with the types they assume"
pf_pass
