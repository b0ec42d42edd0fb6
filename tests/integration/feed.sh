#!/usr/bin/env bash
# The live feed and the echo of rejects, against a real broker and PostgreSQL: after ingest
# every lot's retained message (QoS 1) is the entity parkfeed-api serves for it, byte for byte,
# and agrees with the database; every district's is /v1/districts' object; a report that
# changes nothing publishes nothing, a change republishes; a refused message's reason reaches
# its lot's rejected topic (valid against docs/schema) and no other lot's.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
command -v python3 >/dev/null || pf_fail "python3 missing: install it (scripts/deps.sh)"
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null ||
	pf_fail "python3-jsonschema is not installed: run scripts/deps.sh"
pf_pg_start
pf_pg_migrate
pf_mqtt_start
cd "$PF_TMP"
sub() { mosquitto_sub -h 127.0.0.1 -p "$PF_MQTT_PORT" "$@"; }

"$PF_SIM" --seed 11 --emit-lots-csv 40 >lots.csv
printf 'X-NOPOS-1,无位置停车场,温县,40,,,,\n' >>lots.csv
"$PF_CTL" -d "$PF_OPERATOR_CONNINFO" lots import lots.csv >/dev/null || pf_fail "lots import"
nlots=41

mport=$(pf_free_port)
PF_METRICS_URL=http://127.0.0.1:$mport
pf_conf_write parkfeed.conf feed.topic_prefix=availability feed.echo_rejects=true \
	metrics.listen=127.0.0.1:$mport
pf_daemon_start parkfeed.conf
pf_daemon_wait_log 'mqtt: connected' 20

# ---- every lot reports: one retained message per lot and per district ----
"$PF_SIM" --port "$PF_MQTT_PORT" --seed 11 --lots 40 --count 40 --burst --seq --formats mixed \
	--base-time $(( $(date +%s) - 60 )) >sim.out || pf_fail "parkfeed-sim: $(cat sim.out)"
pf_pub parking/X-NOPOS-1/occupancy '{"ts": '"$(( $(date +%s) * 1000 - 5000 ))"', "total": 40, "free": 7}'
pf_wait_sql "SELECT count(*) FROM parking.lot_state" "$nlots" 30 "ingest"
ndistricts=$(pf_psql "SELECT count(DISTINCT district) FROM parking.lots")
pf_wait_metric 'parkfeed_feed_published_total{kind="lot"}' "$nlots" 20
# settled: every lot and district the commits touched asked about, nothing waiting or in flight
settled() {
	local i
	for (( i = 0; i < 100; i++ )); do
		pf_scrape
		[[ $(pf_metric parkfeed_feed_asking) == 0 && $(pf_metric parkfeed_feed_queued) == 0 &&
			$(pf_metric parkfeed_feed_inflight) == 0 ]] && return 0
		sleep 0.1
	done
	pf_fail "the feed did not settle: asking $(pf_metric parkfeed_feed_asking), queued $(pf_metric parkfeed_feed_queued), in flight $(pf_metric parkfeed_feed_inflight)"
}
settled

# What the broker retains, as a new subscriber gets it (QoS, retain flag, topic, payload).
retained() {
	sub -t 'availability/#' -q 1 --retained-only -W 2 -F '%q %r %t %p' >"$1" 2>/dev/null || true
}
retained feed1.txt
pf_assert_eq "$(grep -c '^1 1 availability/lots/' feed1.txt)" "$nlots" "retained QoS 1 lot messages"
pf_assert_eq "$(grep -c '^1 1 availability/districts/' feed1.txt)" "$ndistricts" \
	"retained QoS 1 district messages"

# ---- the same entity as parkfeed-api's, and the database's values ----
pf_psql "SELECT json_agg(json_build_object('lot_id', l.lot_id, 'name', l.name,
	'district', l.district, 'lon', l.lon, 'lat', l.lat, 'free', s.free, 'total', s.total,
	'observed_us', (extract(epoch FROM s.observed_at) * 1000000)::int8))
	FROM parking.lots l JOIN parking.lot_state s USING (lot_id)" >db.json
pf_api_conf_write api.conf
mkdir -p web
pf_api_start api.conf
pf_api_wait_ready 20
for lot in $(pf_psql "SELECT lot_id FROM parking.lot_state ORDER BY 1"); do
	pf_api_get "/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:$lot?options=keyValues" \
		>"api-$lot.json"
	grep "^1 1 availability/lots/$lot " feed1.txt | cut -d' ' -f4- | tr -d '\n' >"feed-$lot.json"
	cmp -s "api-$lot.json" "feed-$lot.json" ||
		pf_fail "lot $lot: the feed says $(cat "feed-$lot.json"), parkfeed-api $(cat "api-$lot.json")"
done
pf_api_get /v1/districts >api-districts.json
python3 - feed1.txt db.json api-districts.json <<-'EOF' || pf_fail "feed against the database"
	import datetime, json, sys
	feed = {}
	for line in open(sys.argv[1], encoding="utf-8"):
	    qos, retain, topic, payload = line.rstrip("\n").split(" ", 3)
	    feed[topic] = json.loads(payload)
	db = {r["lot_id"]: r for r in json.load(open(sys.argv[2]))}
	for lot, r in db.items():
	    e = feed["availability/lots/" + lot]
	    assert e["id"] == "urn:ngsi-ld:OffStreetParking:" + lot, e
	    assert e["type"] == "OffStreetParking", e
	    assert e["name"] == r["name"] and e.get("areaServed") == r["district"], (e, r)
	    assert e["availableSpotNumber"] == r["free"] and e["totalSpotNumber"] == r["total"], (e, r)
	    t = datetime.datetime.fromisoformat(e["occupancyModified"].replace("Z", "+00:00"))
	    assert round(t.timestamp() * 1000000) == r["observed_us"], (e, r)
	    if r["lon"] is None:
	        assert "location" not in e, e
	    else:
	        assert e["location"]["type"] == "Point", e
	        lon, lat = e["location"]["coordinates"]
	        assert abs(lon - r["lon"]) < 1e-7 and abs(lat - r["lat"]) < 1e-7, (e, r)
	api = {d["district"]: d for d in json.load(open(sys.argv[3]))}
	districts = [t for t in feed if t.startswith("availability/districts/")]
	assert districts, "no district message"
	for t in districts:
	    name = t[len("availability/districts/"):]
	    assert feed[t] == api[name], (feed[t], api[name])
	    assert feed[t]["lots_online"] >= 1 and feed[t]["free"] is not None, feed[t]
	EOF

# ---- only on change: a report with the same counts publishes nothing, a new count does ----
lot_a=$(pf_psql "SELECT min(lot_id) FROM parking.lot_state WHERE lot_id LIKE 'JZ-%'")
lot_b=$(pf_psql "SELECT max(lot_id) FROM parking.lot_state WHERE lot_id LIKE 'JZ-%'")
# free, total and status as lot_state has them, as JSON members
counts() {
	pf_psql "SELECT format('\"total\": %s, \"free\": %s%s', total, free,
		coalesce(', \"status\": \"' || status || '\"', '')) FROM parking.lot_state
		WHERE lot_id = '$1'"
}
same_a=$(counts "$lot_a")
read -r total_b free_b < <(pf_psql "SELECT total || ' ' || free FROM parking.lot_state WHERE lot_id = '$lot_b'" | tr '|' ' ')
before=$(pf_psql "SELECT count(*) FROM parking.occupancy")
pf_pub "parking/$lot_a/occupancy" '{"ts": '"$(( $(date +%s) * 1000 - 2000 ))"', '"$same_a"'}'
pf_wait_sql "SELECT count(*) FROM parking.occupancy" $(( before + 1 )) 10 "unchanged report stored"
free_b2=$(( free_b > 0 ? free_b - 1 : 1 ))
pf_pub "parking/$lot_b/occupancy" '{"ts": '"$(( $(date +%s) * 1000 - 1000 ))"', "total": '"$total_b"', "free": '"$free_b2"'}'
pf_wait_metric 'parkfeed_feed_published_total{kind="lot"}' $(( nlots + 1 )) 20
settled
retained feed2.txt
grep -q "^1 1 availability/lots/$lot_b .*\"availableSpotNumber\":$free_b2," feed2.txt ||
	pf_fail "lot $lot_b's retained message did not change to free $free_b2: $(grep "/$lot_b " feed2.txt)"
cmp -s <(grep " availability/lots/$lot_a " feed1.txt) <(grep " availability/lots/$lot_a " feed2.txt) ||
	pf_fail "lot $lot_a was published again though its counts did not change"
pf_scrape
pf_assert_eq "$(pf_metric 'parkfeed_feed_dropped_total{kind="lot"}')" 0 "dropped"

# ---- the echo: a refused message's reason on its own lot's rejected topic only ----
sub -t 'parking/+/rejected' -v -W 60 >echo.txt 2>&1 &
echo_pid=$!
pf_track_pid "$echo_pid"
# The subscription is in place once a probe of ours reaches it (the daemon reads no rejected
# topic; QoS 0 echoes published before it would be lost).
for _ in $(seq 100); do
	pf_pub parking/PROBE/rejected probe 0
	grep -q '^parking/PROBE/rejected probe' echo.txt && break
	sleep 0.1
done
grep -q '^parking/PROBE/rejected probe' echo.txt || pf_fail "the echo subscriber did not start"
pf_pub "parking/$lot_a/occupancy" '{"ts": "2023-06-19T08:00:05+08:00", "total": 320, "free": 100, "occupied": 250}'
pf_pub "parking/$lot_b/occupancy" '{"ts": '"$(( $(date +%s) * 1000 ))"', "total": '"$total_b"', "free": '"$free_b2"'}'
pf_pub "parking/$lot_a/occupancy" '{"ts": "2023-06-19T08:00:06+08:00", "total": 320}'
# The third message of the three is refused too: once its echo is in, the others' would be.
for _ in $(seq 200); do
	(( $(grep -vc '^parking/PROBE/' echo.txt) >= 2 )) && break
	sleep 0.1
done
grep -v '^parking/PROBE/' echo.txt >echoes.txt || true
(( $(wc -l <echoes.txt) == 2 )) || pf_fail "expected two echoes, got: $(cat echo.txt)"
pf_assert_eq "$(cut -d' ' -f1 echoes.txt | sort -u)" "parking/$lot_a/rejected" "echo topics"
python3 - echoes.txt "$PF_SOURCE_DIR/docs/schema" "$lot_a" <<-'EOF' || pf_fail "echo payloads"
	import datetime, json, os, sys
	import jsonschema
	store = {}
	for f in os.listdir(sys.argv[2]):
	    s = json.load(open(os.path.join(sys.argv[2], f), encoding="utf-8"))
	    store[s["$id"]] = s
	schema = store["urn:parkfeed:schema:rejected-echo"]
	resolver = jsonschema.RefResolver.from_schema(schema, store=store)
	check = jsonschema.Draft202012Validator(schema, resolver=resolver)
	reasons = []
	for line in open(sys.argv[1], encoding="utf-8"):
	    topic, payload = line.rstrip("\n").split(" ", 1)
	    e = json.loads(payload)
	    check.validate(e)
	    assert list(e) == ["reason", "detail", "received_at", "topic"], e
	    assert e["topic"] == "parking/%s/occupancy" % sys.argv[3], e
	    t = datetime.datetime.fromisoformat(e["received_at"].replace("Z", "+00:00"))
	    assert abs(t.timestamp() - datetime.datetime.now().timestamp()) < 120, e
	    reasons.append(e["reason"])
	assert reasons == ["inconsistent_counts", "missing_field"], reasons
	EOF
pf_wait_sql "SELECT count(*) FROM parking.rejected WHERE lot_id = '$lot_a'" 2 10 "rejects stored"
pf_wait_metric 'parkfeed_feed_published_total{kind="rejected"}' 2 10

pf_daemon_stop
grep -Eq 'AddressSanitizer|runtime error' "$PF_TMP/daemon.log" && pf_fail "sanitizer report"
pf_pass
