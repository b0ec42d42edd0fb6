"""Checks of parkfeed-api's answers against the database, for tests/integration/api*.sh.

    api_check.py lots ANSWER DB [--district D] [--crs C]
    api_check.py near ANSWER DB LON LAT LIMIT RADIUS [--crs C] [--district D]
    api_check.py feature ANSWER DB LOT_ID [--crs C]
    api_check.py districts ANSWER DB
    api_check.py entities ANSWER DB [--normalized]
    api_check.py lot-curve ANSWER DB
    api_check.py district-curve ANSWER DB

ANSWER is the API's JSON body, DB a JSON dump of the database made by the test (psql's
json_agg over parking.lot_map, district_overview or a curve function). Distances are computed
here with the haversine formula on the same mean radius, independently of the C code; GCJ-02
and BD-09 with tests/data/crs/chinacrs.py. Prints nothing and exits 0 when they agree, else
says what differs and exits 1."""

import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "crs"))
import chinacrs  # noqa: E402

R = 6371008.8


def fail(msg):
    print("api_check: " + msg, file=sys.stderr)
    sys.exit(1)


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return json.loads(text) if text.strip() else None


def haversine(lon1, lat1, lon2, lat2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R * math.asin(math.sqrt(min(h, 1.0)))


def epoch_us(text):
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(t.timestamp() * 1e6)


def opt(args, name, default=None):
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i : i + 2]
        return value
    return default


def check_props(f, row, where):
    p = f["properties"]
    for k in ("id", "name", "district", "address", "status", "freshness"):
        want = row["lot_id"] if k == "id" else row[k]
        if k == "status" and row["observed_us"] is None:
            want = None
        if p[k] != want:
            fail(f"{where}: properties.{k} is {p[k]!r}, the database says {want!r}")
    for k in ("free", "total"):
        if p[k] != row[k]:
            fail(f"{where}: properties.{k} is {p[k]!r}, the database says {row[k]!r}")
    if row["observed_us"] is None:
        if p["observed_at"] is not None:
            fail(f"{where}: observed_at {p['observed_at']} for a lot without data")
    elif epoch_us(p["observed_at"]) != row["observed_us"]:
        fail(f"{where}: observed_at {p['observed_at']} is not {row['observed_us']} us")


def check_geometry(f, row, crs, where):
    if row["lon"] is None:
        if f["geometry"] is not None:
            fail(f"{where}: a geometry for a lot without position")
        return
    g = f["geometry"]
    if g["type"] != "Point":
        fail(f"{where}: geometry type {g['type']}")
    lon, lat = chinacrs.from_wgs84(crs, row["lon"], row["lat"])
    if abs(g["coordinates"][0] - lon) > 2e-7 or abs(g["coordinates"][1] - lat) > 2e-7:
        fail(f"{where}: coordinates {g['coordinates']} in {crs}, expected [{lon:.7f}, {lat:.7f}]")


def cmd_lots(args):
    crs = opt(args, "--crs", "wgs84")
    district = opt(args, "--district")
    answer, db = load(args[0]), load(args[1])
    rows = {r["lot_id"]: r for r in db}
    if answer.get("type") != "FeatureCollection":
        fail("not a FeatureCollection")
    want = sorted(r["lot_id"] for r in db if r["lon"] is not None and (district is None or r["district"] == district))
    got = [f["properties"]["id"] for f in answer["features"]]
    if got != want:
        fail(f"lots {len(got)} {got[:5]}..., the database has {len(want)} {want[:5]}...")
    for f in answer["features"]:
        row = rows[f["properties"]["id"]]
        check_props(f, row, row["lot_id"])
        check_geometry(f, row, crs, row["lot_id"])
        if "distance_m" in f["properties"]:
            fail(f"{row['lot_id']}: distance_m without near")


def cmd_near(args):
    crs = opt(args, "--crs", "wgs84")
    district = opt(args, "--district")
    answer, db = load(args[0]), load(args[1])
    lon, lat, limit, radius = float(args[2]), float(args[3]), int(args[4]), float(args[5])
    rows = {r["lot_id"]: r for r in db}
    cands = sorted(
        (haversine(lon, lat, r["lon"], r["lat"]), r["lot_id"])
        for r in db
        if r["lon"] is not None and (district is None or r["district"] == district)
    )
    if radius > 0:
        cands = [c for c in cands if c[0] <= radius]
    want = cands[:limit]
    got = [(f["properties"]["distance_m"], f["properties"]["id"]) for f in answer["features"]]
    if len(got) != len(want):
        fail(f"near {lon},{lat}: {len(got)} lots, expected {len(want)}")
    for i, ((gd, gid), (wd, wid)) in enumerate(zip(got, want)):
        if gid not in rows or rows[gid]["lon"] is None:
            fail(f"near {lon},{lat}: #{i} is {gid}, which has no position")
        hd = haversine(lon, lat, rows[gid]["lon"], rows[gid]["lat"])
        # Two lots at the same distance (to a few cm) may come in either order.
        if gid != wid and abs(hd - wd) > 0.05:
            fail(f"near {lon},{lat}: #{i} is {gid} at {gd} m, expected {wid} at {wd:.1f} m")
        if abs(gd - hd) > 0.06:
            fail(f"near {lon},{lat}: {gid} distance_m {gd}, haversine says {hd:.2f}")
        if i and got[i - 1][0] > gd:
            fail(f"near: not nearest first at #{i}")
        check_props(answer["features"][i], rows[gid], gid)
        check_geometry(answer["features"][i], rows[gid], crs, gid)


def cmd_feature(args):
    crs = opt(args, "--crs", "wgs84")
    answer, db = load(args[0]), load(args[1])
    row = {r["lot_id"]: r for r in db}[args[2]]
    if answer.get("type") != "Feature":
        fail("not a Feature")
    check_props(answer, row, args[2])
    check_geometry(answer, row, crs, args[2])


def cmd_districts(args):
    answer, db = load(args[0]), load(args[1])
    key = lambda d: (d["district"] is None, d["district"] or "")  # noqa: E731
    want = sorted(db, key=key)
    if [d["district"] for d in answer] != [d["district"] for d in want]:
        fail(f"districts {[d['district'] for d in answer]}, expected {[d['district'] for d in want]}")
    for a, w in zip(answer, want):
        for k in ("lots", "lots_reporting", "lots_online", "lots_stale", "lots_offline", "free", "total"):
            if a[k] != w[k]:
                fail(f"{w['district']}: {k} is {a[k]!r}, the database says {w[k]!r}")


def cmd_entities(args):
    normalized = "--normalized" in args
    args = [a for a in args if a != "--normalized"]
    answer, db = load(args[0]), load(args[1])
    rows = {r["lot_id"]: r for r in db}
    if [e["id"] for e in answer] != ["urn:ngsi-ld:OffStreetParking:" + r["lot_id"] for r in sorted(db, key=lambda r: r["lot_id"])]:
        fail(f"entities {[e['id'] for e in answer][:5]}... do not match the lots")
    for e in answer:
        row = rows[e["id"].rsplit(":", 1)[1]]
        val = (lambda k: e[k]["value"] if k in e else None) if normalized else (lambda k: e.get(k))
        if e["type"] != "OffStreetParking" or val("name") != row["name"]:
            fail(f"{e['id']}: type or name")
        if val("availableSpotNumber") != row["free"] or val("totalSpotNumber") != row["total"]:
            fail(f"{e['id']}: spots {val('availableSpotNumber')}/{val('totalSpotNumber')}, db {row['free']}/{row['total']}")
        mod = val("occupancyModified")
        if normalized and mod is not None:
            mod = mod["@value"]
            if e["availableSpotNumber"]["observedAt"] != mod:
                fail(f"{e['id']}: observedAt")
        if (mod is None) != (row["observed_us"] is None) or (mod and epoch_us(mod) != row["observed_us"]):
            fail(f"{e['id']}: occupancyModified {mod}")
        loc = val("location")
        if (loc is None) != (row["lon"] is None) or (loc and loc["coordinates"] != [round(row["lon"], 7), round(row["lat"], 7)]):
            fail(f"{e['id']}: location {loc}, db {row['lon']},{row['lat']}")
        if normalized and "location" in e and e["location"]["type"] != "GeoProperty":
            fail(f"{e['id']}: location is not a GeoProperty")


def cmd_curve(args, cols):
    answer, db = load(args[0]), load(args[1])
    if len(answer["buckets"]) != len(db):
        fail(f"{len(answer['buckets'])} buckets, the database has {len(db)}")
    for a, w in zip(answer["buckets"], db):
        if epoch_us(a["start"]) != w["start_us"]:
            fail(f"bucket {a['start']} is not {w['start_us']}")
        for c in cols:
            if (a[c] is None) != (w[c] is None) or (a[c] is not None and abs(a[c] - w[c]) > 1e-9):
                fail(f"bucket {a['start']}: {c} {a[c]!r}, the database says {w[c]!r}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "lots":
        cmd_lots(args)
    elif cmd == "near":
        cmd_near(args)
    elif cmd == "feature":
        cmd_feature(args)
    elif cmd == "districts":
        cmd_districts(args)
    elif cmd == "entities":
        cmd_entities(args)
    elif cmd == "lot-curve":
        cmd_curve(args, ("samples", "free_avg", "free_min", "free_max", "total_avg", "occupancy_pct"))
    elif cmd == "district-curve":
        cmd_curve(args, ("lots", "samples", "free", "total", "occupancy_pct"))
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
