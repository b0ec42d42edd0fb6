#!/usr/bin/python3
"""The examples of docs/contract.md (and its Chinese twin) checked against the schemas and
against a running parkfeedd.

An example is a fenced block whose info string is `LANG KIND key=value...`:

  KIND            what it is                              keys
  good-occupancy  stored as one observation               topic, format, observed (UTC),
                                                          and any of total free occupied
                                                          status seq (the stored values)
  bad-occupancy   refused                                 topic, reason, schema=valid|invalid
  good-status     applied to the lot                      topic, and any of online system
                                                          version protocol
  bad-status      refused                                 topic, reason, schema=valid|invalid
  rejected-echo   what parkfeedd tells the controller     (none)

`schema=` says whether the schema alone already refuses a bad example (JSON ones only: a
block that is not JSON must be json_syntax). Commands:

  docs            both languages carry the same examples; every example against its schema;
                  every reason code the code can produce is in both reason tables (and
                  nothing else is), and in the rejected-echo schema
  run CONNINFO PORT
                  publish every example to the broker on 127.0.0.1:PORT, then check in
                  PostgreSQL (CONNINFO) that each good one was stored as it says and each
                  bad one refused with its reason
"""
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import jsonschema

ROOT = os.environ.get("PF_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = [os.path.join(ROOT, "docs", "contract.md"), os.path.join(ROOT, "docs", "contract.zh.md")]
SCHEMA_DIR = os.path.join(ROOT, "docs", "schema")
KINDS = {
    "good-occupancy": ("topic", "format", "observed"),
    "bad-occupancy": ("topic", "reason"),
    "good-status": ("topic",),
    "bad-status": ("topic", "reason"),
    "rejected-echo": (),
}
FENCE = re.compile(r"^```(\S+)\s+(\S+)(.*)$")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


# ---- extraction -------------------------------------------------------------------------

def extract(path):
    """Examples of one file, in order: dicts with kind, attrs, body (str), line."""
    out = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or m.group(2) not in KINDS:
            i += 1
            continue
        start, attrs = i + 1, {}
        for tok in m.group(3).split():
            if "=" not in tok:
                fail(f"{path}:{start}: '{tok}' in the info string is not key=value")
                continue
            k, v = tok.split("=", 1)
            attrs[k] = v
        i += 1
        body = []
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            fail(f"{path}:{start}: example block never closed")
        for k in KINDS[m.group(2)]:
            if k not in attrs:
                fail(f"{path}:{start}: {m.group(2)} example lacks {k}=")
        out.append({"lang": m.group(1), "kind": m.group(2), "attrs": attrs,
                    "body": "\n".join(body), "where": f"{os.path.basename(path)}:{start}"})
        i += 1
    return out


def lot_of(topic):
    parts = topic.split("/")
    return parts[-2] if len(parts) >= 3 else ""


# ---- schemas ----------------------------------------------------------------------------

def load_schemas():
    store = {}
    for name in sorted(os.listdir(SCHEMA_DIR)):
        if name.endswith(".schema.json"):
            s = json.load(open(os.path.join(SCHEMA_DIR, name), encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(s)
            store[s["$id"]] = s
    return store


def validator(store, sid):
    schema = store["urn:parkfeed:schema:" + sid]
    resolver = jsonschema.RefResolver.from_schema(schema, store=store)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


def schema_for(ex):
    if ex["kind"] == "good-occupancy":
        return {"native": "native-occupancy", "vendor": "vendor-occupancy",
                "fiware": "fiware-keyvalues", "ngsi-ld": "ngsi-ld-normalized"}.get(
                    ex["attrs"]["format"])
    return {"bad-occupancy": "occupancy", "good-status": "status", "bad-status": "status",
            "rejected-echo": "rejected-echo"}[ex["kind"]]


def check_schemas(examples, store):
    for ex in examples:
        sid, where = schema_for(ex), ex["where"]
        if sid is None:
            fail(f"{where}: unknown format={ex['attrs'].get('format')}")
            continue
        try:
            doc = json.loads(ex["body"])
        except ValueError:
            doc = None
        good = ex["kind"].startswith("good") or ex["kind"] == "rejected-echo"
        if doc is None:
            plain_status = ex["kind"] == "good-status" and ex["body"].strip() in ("online", "offline")
            if not plain_status and ex["attrs"].get("reason") != "json_syntax":
                fail(f"{where}: not JSON, and not a json_syntax example")
            continue
        errors = list(validator(store, sid).iter_errors(doc))
        if good:
            if errors:
                fail(f"{where}: valid example fails {sid}: {errors[0].message}")
            if ex["kind"] == "good-occupancy" and list(
                    validator(store, "occupancy").iter_errors(doc)):
                fail(f"{where}: valid example fails occupancy.schema.json")
            continue
        want = ex["attrs"].get("schema")
        if want not in ("valid", "invalid"):
            fail(f"{where}: a bad JSON example needs schema=valid or schema=invalid")
        elif want == "invalid" and not errors:
            fail(f"{where}: says the schema refuses it, but {sid} accepts it")
        elif want == "valid" and errors:
            fail(f"{where}: says the schema accepts it, but {sid} refuses it: "
                 f"{errors[0].message}")


def check_unique(examples):
    """Each example must be able to prove itself: no two share what the check looks up."""
    seen = {}
    for ex in examples:
        a = ex["attrs"]
        if ex["kind"] == "good-occupancy":
            key = ("obs", lot_of(a["topic"]), to_us(a["observed"]))
        elif ex["kind"] == "good-status":
            key = ("status", lot_of(a["topic"]))
        elif ex["kind"].startswith("bad"):
            key = ("reject", a["topic"], ex["body"])
        else:
            continue
        if key in seen:
            fail(f"{ex['where']}: same {key[0]} key as {seen[key]}: give it its own lot or time")
        seen[key] = ex["where"]


# ---- reason codes -----------------------------------------------------------------------

def code_reasons():
    """Every reason code the daemon (record.c's table) and the schema (SQL) can store."""
    rec = open(os.path.join(ROOT, "daemon", "record.c"), encoding="utf-8").read()
    codes = set(re.findall(r'\[PF_REJ_[A-Z0-9_]+\]\s*=\s*"([a-z0-9_]+)"', rec)) - {"none"}
    if len(codes) < 10:
        fail("found fewer than 10 reason codes in daemon/record.c: has its table moved?")
    sqldir = os.path.join(ROOT, "schema")
    for name in sorted(os.listdir(sqldir)):
        if name.endswith(".sql"):
            sql = open(os.path.join(sqldir, name), encoding="utf-8").read()
            codes |= set(re.findall(r"reason\s*=\s*'([a-z0-9_]+)'", sql))
    return codes


def doc_reasons(path):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"<!-- reason-codes -->(.*?)<!-- /reason-codes -->", text, re.S)
    if not m:
        fail(f"{path}: no <!-- reason-codes --> table")
        return set()
    return set(re.findall(r"^\|\s*`([a-z0-9_]+)`\s*\|", m.group(1), re.M))


def check_reasons(store):
    codes = code_reasons()
    for path in DOCS:
        documented = doc_reasons(path)
        for c in sorted(codes - documented):
            fail(f"{os.path.basename(path)}: reason code {c} (produced by the code) is not "
                 f"in the reason table: document it and what a vendor must fix")
        for c in sorted(documented - codes):
            fail(f"{os.path.basename(path)}: reason table lists {c}, which nothing produces")
    echo = set(store["urn:parkfeed:schema:rejected-echo"]["properties"]["reason"]["examples"])
    if echo != codes:
        fail(f"rejected-echo.schema.json lists {sorted(echo ^ codes)} differently from the code")
    return codes


def docs_command():
    store = load_schemas()
    en, zh = extract(DOCS[0]), extract(DOCS[1])
    key = lambda ex: (ex["lang"], ex["kind"], ex["attrs"], ex["body"])
    if [key(e) for e in en] != [key(e) for e in zh]:
        for a, b in zip(en, zh):
            if key(a) != key(b):
                fail(f"{a['where']} and {b['where']} differ: the two languages must carry "
                     f"the same examples, in the same order")
                break
        else:
            fail(f"contract.md has {len(en)} examples, contract.zh.md {len(zh)}")
    check_schemas(en, store)
    check_unique(en)
    codes = check_reasons(store)
    kinds = {}
    for ex in en:
        kinds[ex["kind"]] = kinds.get(ex["kind"], 0) + 1
    shown = {ex["attrs"]["reason"] for ex in en if "reason" in ex["attrs"]}
    print(f"{len(en)} examples ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); "
          f"{len(codes)} reason codes documented, {len(shown)} shown by an example; "
          f"{len(store)} schemas")


# ---- against parkfeedd ------------------------------------------------------------------

def psql(conninfo, sql):
    r = subprocess.run(["psql", "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", conninfo,
                        "-c", sql], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    return [line.split("\t") for line in r.stdout.splitlines()]


def to_us(text):
    d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((d - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc))
               / datetime.timedelta(microseconds=1))


def publish(examples, port):
    with tempfile.TemporaryDirectory() as tmp:
        for n, ex in enumerate(examples):
            path = os.path.join(tmp, f"{n}.payload")
            with open(path, "wb") as f:
                f.write(ex["body"].encode("utf-8"))
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                            "-t", ex["attrs"]["topic"], "-f", path], check=True)


def state(conninfo):
    occ = {}
    for lot, us, total, free, occupied, fmt, status, seq in psql(
            conninfo, "SELECT lot_id, (extract(epoch FROM observed_at) * 1000000)::bigint, "
            "total, free, occupied, format, coalesce(status, ''), coalesce(seq::text, '') "
            "FROM parking.occupancy"):
        occ[(lot, int(us))] = {"total": total, "free": free, "occupied": occupied,
                               "format": fmt, "status": status, "seq": seq}
    rej = {}
    for topic, hexpayload, reason in psql(
            conninfo, "SELECT topic, encode(payload, 'hex'), reason FROM parking.rejected"):
        rej.setdefault((topic, bytes.fromhex(hexpayload)), []).append(reason)
    lots = {}
    for lot, online, system, version, protocol in psql(
            conninfo, "SELECT lot_id, coalesce(online::text, ''), coalesce(system, ''), "
            "coalesce(version, ''), coalesce(protocol, '') FROM parking.lots "
            "WHERE status_at IS NOT NULL"):
        lots[lot] = {"online": online, "system": system, "version": version,
                     "protocol": protocol}
    return occ, rej, lots


def verdict(ex, occ, rej, lots):
    """None when the example did what it says, else why not."""
    a, topic = ex["attrs"], ex["attrs"].get("topic", "")
    got = rej.get((topic, ex["body"].encode("utf-8")))
    if ex["kind"].startswith("bad"):
        if not got:
            return f"no reject stored (expected {a['reason']})"
        return None if a["reason"] in got else f"rejected as {got}, expected {a['reason']}"
    if got:
        return f"rejected as {got}"
    if ex["kind"] == "good-status":
        row = lots.get(lot_of(topic))
        if row is None:
            return "no status applied to the lot"
        for k in ("online", "system", "version", "protocol"):
            if k in a and row[k] != a[k]:
                return f"{k} is {row[k]!r}, the example says {a[k]!r}"
        return None
    row = occ.get((lot_of(topic), to_us(a["observed"])))
    if row is None:
        return f"no observation of {lot_of(topic)} at {a['observed']} stored"
    for k in ("format", "total", "free", "occupied", "status", "seq"):
        if k in a and row[k] != a[k]:
            return f"stored {k} is {row[k]!r}, the example says {a[k]!r}"
    return None


def run_command(conninfo, port):
    examples = [ex for ex in extract(DOCS[0]) if ex["kind"] != "rejected-echo"]
    if failures:
        return
    publish(examples, port)
    deadline = time.monotonic() + 30
    while True:
        occ, rej, lots = state(conninfo)
        results = [(ex, verdict(ex, occ, rej, lots)) for ex in examples]
        if all(v is None for _, v in results) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    for ex, v in results:
        if v is not None:
            fail(f"{ex['where']} ({ex['kind']} on {ex['attrs'].get('topic')}): {v}")
    n_bad = sum(1 for ex in examples if ex["kind"].startswith("bad"))
    n_rej = sum(len(v) for v in rej.values())
    if n_rej != n_bad:
        fail(f"{n_rej} rejects stored for {n_bad} bad examples")
    print(f"{len(examples)} examples published: "
          f"{sum(1 for ex in examples if ex['kind'].startswith('good'))} stored as documented, "
          f"{n_bad} refused with the documented reason")


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "docs":
        docs_command()
    elif len(sys.argv) == 4 and sys.argv[1] == "run":
        run_command(sys.argv[2], int(sys.argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
