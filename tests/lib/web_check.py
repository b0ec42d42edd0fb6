"""The web page in a real browser, for tests/integration/web.sh.

    web_check.py OUT_DIR

Drives Debian's chromium (headless, a fresh profile, no network of its own) through
chromedriver against the parkfeed-api at $PF_API_URL, and checks the page against the database
of the test's stack (psql on $PF_PG_SUPER_CONNINFO) and `parkfeedctl progress --format csv`
files that web.sh wrote to OUT_DIR. It changes the data while the page is open (a lot made
stale with `parkfeedctl lots set`, an observation published with mosquitto_pub) and checks that
the page follows without a reload. Screenshots, the ledger as PDF and the page's weight go to
OUT_DIR. The browser runs in America/Los_Angeles, so times shown in Asia/Shanghai are the
page's doing. Exits 1 with what differs, or 0."""

import base64
import csv
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zoneinfo

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
COLOURS = {"many": "#1a9641", "some": "#e08600", "few": "#d7301f", "grey": "#8f8f8f"}
DESKTOP = (1366, 900)
PHONE = (390, 844)

API = os.environ["PF_API_URL"]
REDRAWN = (NoSuchElementException, StaleElementReferenceException)
OUT = sys.argv[1]


def fail(msg):
    print(f"web_check: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"web_check: {msg}", file=sys.stderr, flush=True)


# ---- the stack ------------------------------------------------------------------------------


def sql(query):
    out = subprocess.run(
        ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", os.environ["PF_PG_SUPER_CONNINFO"],
         "-c", query], capture_output=True, text=True, check=False)
    if out.returncode:
        fail(f"psql: {out.stderr.strip()}")
    return out.stdout.strip()


def db_lots():
    """Every lot with a position, by id, as the database has it now."""
    rows = json.loads(sql("""SELECT coalesce(json_agg(json_build_object('id', lot_id, 'name', name,
        'district', district, 'address', address, 'free', free, 'total', total, 'freshness', freshness,
        'observed_at', observed_at, 'lon', lon, 'lat', lat)), '[]') FROM parking.lot_map
        WHERE lon IS NOT NULL"""))
    return {r["id"]: r for r in rows}


def db_districts():
    rows = json.loads(sql("SELECT coalesce(json_agg(d), '[]') FROM parking.district_overview d"))
    return {r["district"]: r for r in rows}


def api(path):
    with urllib.request.urlopen(API + path, timeout=10) as r:
        return json.load(r)


def share(lot):
    if lot["freshness"] != "online" or lot["free"] is None or not lot["total"]:
        return "grey"
    s = lot["free"] / lot["total"]
    return "many" if s >= 0.3 else "some" if s >= 0.1 else "few"


def free_text(lot, lang):
    if lot["free"] is None:
        return "无数据" if lang == "zh" else "no data"
    return f"{lot['free']:,}"


def shanghai_hms(rfc3339):
    t = datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return t.astimezone(SHANGHAI).strftime("%H:%M:%S")


# ---- the browser ----------------------------------------------------------------------------


class Browser:
    def __init__(self):
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        profile = os.path.join(OUT, "chromium-profile")
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
                  f"--user-data-dir={profile}", f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        # A zone far from Shanghai: what the page shows in Asia/Shanghai, it converted itself.
        env = dict(os.environ, TZ="America/Los_Angeles", LANG="en_US.UTF-8")
        service = Service("/usr/bin/chromedriver", env=env,
                          log_path=os.path.join(OUT, "chromedriver.log"))
        self.d = webdriver.Chrome(service=service, options=opts)
        self.d.set_script_timeout(20)
        self.events = []  # the performance log, kept (reading it empties it)
        self.console = []
        # Whatever the browser did before the first page (its own start page) is not the page's.
        self.d.get("about:blank")
        self.d.get_log("performance")
        self.d.get_log("browser")
        self.desktop()

    def drain(self):
        for e in self.d.get_log("performance"):
            self.events.append(json.loads(e["message"])["message"])
        for e in self.d.get_log("browser"):
            self.console.append(e)

    def desktop(self):
        self.size(*DESKTOP)

    def size(self, w, h, mobile=False):
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": w, "height": h, "deviceScaleFactor": 1, "mobile": mobile})

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def wait(self, what, cond, timeout=20):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.2,
                                 ignored_exceptions=REDRAWN).until(lambda d: cond())
        except TimeoutException:
            self.shot(f"FAILED-{what.replace(' ', '-')[:40]}")
            fail(f"timed out waiting for {what}")

    def until_agree(self, what, agree, timeout=15):
        """Until agree() says nothing is wrong (None); else fail with what it said last (the
        page may need a refresh or two to catch up with the database)."""
        last = [None]

        def cond():
            last[0] = agree()
            return last[0] is None
        try:
            WebDriverWait(self.d, timeout, poll_frequency=0.3,
                          ignored_exceptions=REDRAWN).until(lambda d: cond())
        except TimeoutException:
            self.shot(f"FAILED-{what.split()[0]}")
            fail(f"{what}: {last[0]}")

    def css(self, selector):
        return self.d.find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector):
        return self.d.find_element(By.CSS_SELECTOR, selector)

    # The page redraws the list, the districts and the markers whenever new data arrives (the
    # demo lots keep reporting), so an element found a moment ago may be gone: every read and
    # click finds its element again and retries once the redraw is over.
    def fresh(self, act, tries=10):
        for i in range(tries):
            try:
                return act()
            except StaleElementReferenceException:
                if i == tries - 1:
                    raise
                time.sleep(0.05)

    def text(self, selector):
        return self.fresh(lambda: self.one(selector).text)

    def attr(self, selector, name):
        return self.fresh(lambda: self.one(selector).get_attribute(name))

    def attrs(self, selector, name):
        return self.fresh(lambda: [e.get_attribute(name) for e in self.css(selector)])

    def click(self, selector):
        self.fresh(lambda: self.one(selector).click())

    def shot(self, name, full=False):
        path = os.path.join(OUT, f"{name}.png")
        if full:
            self.d.save_screenshot(path)  # the first screen, and below the whole page
            path = os.path.join(OUT, f"{name}-full.png")
            m = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})
            w, h = m["cssContentSize"]["width"], m["cssContentSize"]["height"]
            png = self.d.execute_cdp_cmd("Page.captureScreenshot", {
                "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": w, "height": h,
                                                       "scale": 1}})
            with open(path, "wb") as f:
                f.write(base64.b64decode(png["data"]))
        else:
            self.d.save_screenshot(path)
        return path

    def requests(self):
        """(url, type, requestId) of every request the page made, in order."""
        self.drain()
        return [(e["params"]["request"]["url"], e["params"].get("type"), e["params"]["requestId"])
                for e in self.events if e["method"] == "Network.requestWillBeSent"]


def check_console(b, allowed=()):
    b.drain()
    bad = [e for e in b.console if e["level"] in ("SEVERE", "WARNING")
           and not any(a in e["message"] for a in allowed)]
    if bad:
        fail("console messages: " + "; ".join(e["message"] for e in bad[:5]))


def check_origins(b, origins):
    for url, _, _ in b.requests():
        if url.startswith("data:"):
            continue
        if not any(url.startswith(o + "/") for o in origins):
            fail(f"a request outside {origins}: {url}")


# ---- the map page ---------------------------------------------------------------------------


def load_map(b, query="refresh=1"):
    b.d.get(f"{API}/?{query}")
    lots = db_lots()
    b.wait("every lot in the list", lambda: len(b.css("#lots-body tr")) == len(lots))
    return lots


def weight(b, first_request_ids):
    """Bytes transferred (headers included) and content bytes of the given requests."""
    # A 304 has no loadingFinished: what came were its headers.
    done = {e["params"]["requestId"]: e["params"]["response"]["encodedDataLength"]
            for e in b.events if e["method"] == "Network.responseReceived"}
    done.update({e["params"]["requestId"]: e["params"]["encodedDataLength"]
                 for e in b.events if e["method"] == "Network.loadingFinished"})
    sizes = {}
    for e in b.events:
        if e["method"] == "Network.dataReceived":
            rid = e["params"]["requestId"]
            sizes[rid] = sizes.get(rid, 0) + e["params"]["dataLength"]
    wire = sum(done.get(r, 0) for r in first_request_ids)
    content = sum(sizes.get(r, 0) for r in first_request_ids)
    return wire, content


def measure_first_load(b):
    """The map page in a cold cache, no polling: what a first visit transfers."""
    b.d.get(f"{API}/?refresh=3600")
    n = len(db_lots())
    b.wait("the first load", lambda: len(b.css("#lots-body tr")) == n)
    time.sleep(1)
    reqs = b.requests()
    ids = [r for _, _, r in reqs]
    wire, content = weight(b, ids)
    lines = [f"map page, first load with an empty cache: {len(reqs)} requests, "
             f"{wire} bytes transferred, {content} bytes of content (gzip'd where it helps)"]
    for url, typ, rid in reqs:
        w, c = weight(b, [rid])
        lines.append(f"  {w:>8} {c:>8}  {typ or '':<10} {url[len(API):] or '/'}")
    # Chart.js comes only with the first curve.
    before = len(reqs)
    b.click("#lots-body tr:not([data-share='grey']) button")
    b.wait("Chart.js", lambda: b.js("return !!window.Chart && !!Chart.getChart(document.getElementById('curve'))"))
    time.sleep(0.5)
    later = b.requests()[before:]
    wire2, content2 = weight(b, [r for _, _, r in later])
    lines.append(f"the first curve adds {len(later)} requests, {wire2} bytes transferred, "
                 f"{content2} bytes of content:")
    for url, typ, rid in later:
        w, c = weight(b, [rid])
        lines.append(f"  {w:>8} {c:>8}  {typ or '':<10} {url[len(API):]}")
    with open(os.path.join(OUT, "weight.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    log(lines[0])
    log(lines[-1 - len(later)])
    return wire


def measure_refresh(b):
    """What a refresh that finds nothing new costs: conditional GETs answered 304."""
    time.sleep(3)
    b.drain()
    urls = {e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in b.events if e["method"] == "Network.requestWillBeSent"}
    unchanged = [e["params"]["requestId"] for e in b.events if e["method"] == "Network.responseReceived"
                 and e["params"]["response"]["status"] == 304 and "/v1/" in urls.get(e["params"]["requestId"], "")]
    if not unchanged:
        fail("no refresh was answered 304: the page does not send If-None-Match")
    wire, _ = weight(b, unchanged)
    per = {}
    for r in unchanged:
        per.setdefault(urls[r].split("?")[0][len(API):], []).append(weight(b, [r])[0])
    line = (f"a refresh that finds nothing new: {len(per)} requests answered 304, "
            f"{sum(sum(v) / len(v) for v in per.values()):.0f} bytes transferred "
            f"({', '.join(f'{k} {sum(v) / len(v):.0f}' for k, v in sorted(per.items()))})")
    with open(os.path.join(OUT, "weight.txt"), "a") as f:
        f.write(line + "\n")
    log(line)


def list_rows(b):
    return b.js("""return [...document.querySelectorAll('#lots-body tr')].map(tr => ({
        id: tr.dataset.lot, share: tr.dataset.share,
        name: tr.querySelector('.lot-name').textContent,
        free: tr.querySelector('.free').textContent,
        fresh: tr.querySelector('.fresh')?.textContent ?? ''}))""")


def markers(b):
    return b.js("""return [...document.querySelectorAll('path.lot-marker')].map(p => ({
        id: p.dataset.lot, share: p.dataset.share, fill: p.getAttribute('fill'),
        cls: [...p.classList].filter(c => c.startsWith('lot-') && c !== 'lot-marker')}))""")


def check_list_and_markers(b, lang):
    """Every lot with a position in the list with its free spaces, and one marker each, coloured
    by its free share; against the database (the page may need a refresh to catch up)."""
    def agree():
        lots = db_lots()
        rows = {r["id"]: r for r in list_rows(b)}
        ms = {m["id"]: m for m in markers(b)}
        if set(rows) != set(lots) or set(ms) != set(lots) or len(ms) != len(markers(b)):
            return f"lots {sorted(set(lots) ^ set(rows))} {sorted(set(lots) ^ set(ms))}"
        for lid, lot in lots.items():
            r, m, want = rows[lid], ms[lid], share(lot)
            if r["free"] != free_text(lot, lang):
                return f"{lid}: the list says free {r['free']!r}, the database {lot['free']}"
            if r["name"] != (lot["name"] or lid):
                return f"{lid}: named {r['name']!r} in the list, {lot['name']!r} in the database"
            if (r["share"], m["share"], m["fill"], m["cls"]) != (want, want, COLOURS[want], [f"lot-{want}"]):
                return f"{lid}: marker {m}, row {r['share']}, expected {want} ({lot})"
        return None
    b.until_agree("list or markers differ from the database", agree)
    return db_lots()


def check_popup(b, lot, lang):
    b.js("document.querySelector(`path.lot-marker[data-lot='${arguments[0]}']`)"
         ".dispatchEvent(new MouseEvent('click', {bubbles: true}))", lot["id"])
    b.wait("the popup", lambda: b.css(f".leaflet-popup .popup[data-lot='{lot['id']}']") and
           b.js("return getComputedStyle(document.querySelector('.leaflet-popup')).opacity") == "1")
    text = b.js("return document.querySelector('.leaflet-popup .popup').textContent")
    hms = shanghai_hms(lot["observed_at"])
    fresh = {"zh": {"online": "在线", "stale": "数据滞后", "offline": "离线"},
             "en": {"online": "online", "stale": "stale", "offline": "offline"}}[lang][lot["freshness"]]
    for w in (lot["name"], f"{lot['free']:,} / {lot['total']:,}", hms, fresh):
        if w not in text:
            fail(f"the popup of {lot['id']} lacks {w!r} (Asia/Shanghai time {hms}): {text!r}")
    if b.text("#detail-title") != lot["name"]:
        fail(f"the detail panel shows {b.text('#detail-title')!r}, not {lot['name']!r}")


def check_curve(b, path, field):
    """The chart shows the API's buckets."""
    want = [None if x[field] is None else round(x[field]) for x in api(path)["buckets"]]
    b.wait("the curve", lambda: b.js(
        "const c = window.Chart && Chart.getChart(document.getElementById('curve'));"
        "return c ? c.data.datasets[0].data.length : 0") == len(want))
    got = b.js("return Chart.getChart(document.getElementById('curve')).data.datasets[0].data")
    # A bucket may have filled in between the two reads: compare the ones both have.
    same = sum(1 for g, w in zip(got, want) if g == w)
    if same < len(want) - 1 or not any(v is not None for v in got):
        fail(f"{path}: the chart shows {got}, the API {want}")
    label = b.attr("#curve", "aria-label") or ""
    if not label:
        fail("the chart has no text alternative (aria-label)")


def check_filters_and_sort(b):
    lots = db_lots()
    districts = sorted({x["district"] for x in lots.values() if x["district"]})
    d = districts[len(districts) // 2]
    b.fresh(lambda: Select(b.one("#filter-district")).select_by_value(d))
    ids = [r["id"] for r in list_rows(b)]
    want = sorted(k for k, v in lots.items() if v["district"] == d)
    if sorted(ids) != want:
        fail(f"filter {d}: the list shows {ids}, expected {want}")
    b.fresh(lambda: Select(b.one("#filter-district")).select_by_value(""))
    probe = next(v for v in lots.values() if v["name"])
    word = probe["name"].split()[-1][:3]
    box = b.one("#filter-text")
    box.send_keys(word)
    ids = {r["id"] for r in list_rows(b)}
    want = {k for k, v in lots.items() if any(word.lower() in (s or "").lower() for s in
                                              (v["name"], v["address"], k, v["district"]))}
    if ids != want:
        fail(f"text filter {word!r}: the list shows {sorted(ids)}, expected {sorted(want)}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    b.wait("the unfiltered list", lambda: len(b.css("#lots-body tr")) == len(lots))
    # Sort by free spaces: most first, then fewest first; lots without data last both ways.
    b.click("th[data-sort='free'] button")
    for direction in ("descending", "ascending"):
        if b.attr("th[data-sort='free']", "aria-sort") != direction:
            fail(f"aria-sort is not {direction}")
        frees = [lots[r["id"]]["free"] for r in list_rows(b)]
        known = [f for f in frees if f is not None]
        if frees[:len(known)] != sorted(known, reverse=direction == "descending"):
            fail(f"sorted {direction} by free spaces: {frees}")
        b.click("th[data-sort='free'] button")
    b.click("th[data-sort='name'] button")


def check_keyboard(b):
    """From the search box, Tab reaches the list's first lot; Enter selects it; the tabs move
    with the arrow keys."""
    b.click("#filter-text")
    first = b.attr("#lots-body tr", "data-lot")
    for _ in range(6):
        ActionChains(b.d).send_keys(Keys.TAB).perform()
        if b.js("return document.activeElement.closest('#lots-body tr')?.dataset.lot") == first:
            break
    else:
        fail("Tab from the search box does not reach the list's first lot")
    ActionChains(b.d).send_keys(Keys.ENTER).perform()
    b.wait("the detail of the lot chosen with Enter", lambda: b.text("#detail-title") ==
           b.text(f"#lots-body tr[data-lot='{first}'] .lot-name"))
    b.click("#tab-lots")
    ActionChains(b.d).send_keys(Keys.ARROW_RIGHT).perform()
    if b.js("return document.activeElement.id") != "tab-districts" or b.attr("#districts-panel", "hidden") is not None:
        fail("ArrowRight on the tabs does not open the districts")
    ActionChains(b.d).send_keys(Keys.ARROW_LEFT).perform()
    ActionChains(b.d).send_keys(Keys.ESCAPE).perform()
    b.wait("Escape closing the detail", lambda: not b.one("#detail").is_displayed())


def check_districts(b):
    b.click("#tab-districts")

    def agree():
        db = db_districts()
        rows = b.js("""return [...document.querySelectorAll('#districts-body tr')].map(tr => ({
            d: tr.dataset.district, cells: [...tr.querySelectorAll('td')].map(td => td.textContent)}))""")
        if len(rows) != len(db):
            return f"{len(rows)} districts shown, {len(db)} in the database"
        for r in rows:
            x = db.get(r["d"] or None)
            if x is None:
                return f"district {r['d']!r} is not in the database"
            ft = "–" if x["free"] is None else f"{x['free']:,} / {x['total']:,}"
            want = [f"{x['lots']:,}", f"{x['lots_online']:,}", f"{x['lots_stale']:,}",
                    f"{x['lots_offline']:,}", ft]
            if r["cells"] != want:
                return f"{r['d']}: shown {r['cells']}, the database {want}"
        return None
    b.until_agree("the district panel differs from parking.district_overview", agree)
    # A district's button: its lots in the list, its curve.
    name = b.text("#districts-body th button")
    b.click("#districts-body th button")
    b.wait("the district's detail", lambda: b.text("#detail-title") == name)
    check_curve(b, "/v1/districts/" + urllib.request.quote(name) + "/history", "free")
    if b.fresh(lambda: Select(b.one("#filter-district")).first_selected_option.get_attribute("value")) != name:
        fail("choosing a district does not filter the list")
    b.click("#detail-close")
    b.click("#tab-lots")
    b.fresh(lambda: Select(b.one("#filter-district")).select_by_value(""))


def check_near(b, crs="wgs84"):
    suffix = "" if crs == "wgs84" else f"&crs={crs}"
    # A clicked point: the page asks the API's nearest query there (in the map's system).
    m = b.one("#map")
    ActionChains(b.d).move_to_element_with_offset(m, 40, 30).click().perform()
    b.wait("nearest lots of a clicked point", lambda: b.css("#near-list li") and
           b.attr("#near-list", "data-lon"))
    lon = float(b.attr("#near-list", "data-lon"))
    lat = float(b.attr("#near-list", "data-lat"))
    want = [f["properties"]["id"] for f in api(f"/v1/lots?near={lon:.6f},{lat:.6f}&limit=10{suffix}")["features"]]
    got = b.attrs("#near-list li", "data-lot")
    if got != want:
        fail(f"near the clicked point {lon},{lat}: the page lists {got}, the API {want}")
    b.shot("map-desktop-zh-near" if crs == "wgs84" else "map-desktop-tiles-gcj02")
    if crs != "wgs84":
        return
    # The browser's position (WGS-84, whatever the map's system).
    lon, lat = 113.2418, 35.2159
    b.d.execute_cdp_cmd("Browser.grantPermissions", {"origin": API, "permissions": ["geolocation"]})
    b.d.execute_cdp_cmd("Emulation.setGeolocationOverride",
                        {"latitude": lat, "longitude": lon, "accuracy": 10})
    b.click("#near-me")
    b.wait("nearest lots of the browser's position", lambda: b.attr("#near-list", "data-lon") == str(lon))
    want = [f["properties"]["id"] for f in api(f"/v1/lots?near={lon},{lat}&limit=10")["features"]]
    got = b.attrs("#near-list li", "data-lot")
    if got != want:
        fail(f"near the browser's position: the page lists {got}, the API {want}")
    dist = b.text("#near-list li .distance")
    if not dist.endswith(" m") and not dist.endswith(" km"):
        fail(f"a distance reads {dist!r}")
    b.click("#tab-lots")


def make_stale(b, lots, spare):
    """A lot whose controller stops reporting: its expected interval made shorter than its
    silence (parkfeedctl lots set), so the database calls it stale from now on; the page must
    turn it grey at its next refresh, without a reload."""
    lot = next(v for k, v in sorted(lots.items())
               if v["freshness"] == "online" and not k.startswith("X-") and k != spare)
    age = float(sql(f"SELECT extract(epoch FROM now() - received_at) FROM parking.lot_state WHERE lot_id = '{lot['id']}'"))
    if age < 5:
        time.sleep(5 - age)
        age = 5
    interval = max(1, int((age - 1) // 3))  # silent for more than 3x the interval: stale
    documents = sum(1 for _, typ, _ in b.requests() if typ == "Document")
    b.js("window.pfSentinel = 1")
    out = subprocess.run([os.environ["PF_CTL"], "-d", os.environ["PF_OPERATOR_CONNINFO"], "lots",
                          "set", lot["id"], f"expected_interval_s={interval}"],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        fail(f"parkfeedctl lots set: {out.stderr}")
    now = sql(f"SELECT freshness FROM parking.lot_map WHERE lot_id = '{lot['id']}'")
    if now not in ("stale", "offline"):
        fail(f"{lot['id']} is {now} after setting its interval to {interval} s (silent {age:.1f} s)")
    sel = f"path.lot-marker[data-lot='{lot['id']}']"
    b.wait(f"{lot['id']} turning grey", lambda: b.attr(sel, "data-share") == "grey")
    if b.attr(sel, "fill") != COLOURS["grey"]:
        fail(f"{lot['id']} is not filled grey: {b.attr(sel, 'fill')}")
    fresh = b.text(f"#lots-body tr[data-lot='{lot['id']}'] .fresh")
    if fresh not in ("数据滞后", "离线"):
        fail(f"{lot['id']}'s row says {fresh!r}, not stale or offline")
    if b.js("return window.pfSentinel") != 1 or \
            sum(1 for _, typ, _ in b.requests() if typ == "Document") != documents:
        fail("the page reloaded to show the change")
    log(f"{lot['id']} went {now} (interval {interval} s, silent {age:.1f} s) and turned grey without a reload")
    return lot["id"]


def publish_update(b, lots, stale_id):
    """A new observation: the list and the marker follow at the next refresh."""
    lot = next(v for k, v in sorted(lots.items(), reverse=True)
               if v["freshness"] == "online" and k != stale_id and v["total"] and v["total"] > 20)
    free = max(1, lot["total"] // 20)  # under 10%: red
    ts = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    payload = json.dumps({"ts": ts, "total": lot["total"], "free": free})
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", os.environ["PF_MQTT_PORT"], "-q", "1",
                    "-t", f"parking/{lot['id']}/occupancy", "-m", payload], check=True)
    sel = f"#lots-body tr[data-lot='{lot['id']}'] .free"
    b.wait(f"{lot['id']} showing {free} free", lambda: b.text(sel) == f"{free:,}")
    m = f"path.lot-marker[data-lot='{lot['id']}']"
    if b.attr(m, "data-share") != "few":
        fail(f"{lot['id']} with {free} of {lot['total']} free is not red")
    log(f"an observation of {lot['id']} ({free} free) reached the list and the map without a reload")


def show_all(b):
    """The map's own button back to the whole city (for the screenshots)."""
    b.click("#show-all")
    time.sleep(0.6)  # the zoom's animation


def check_outage(b):
    """parkfeed-api stops answering (SIGSTOP: connections accepted, never answered): the page
    gives the requests up, says so and keeps what it shows; answered again, it recovers."""
    pid = int(os.environ["PF_API_PID"])
    rows = len(b.css("#lots-body tr"))
    os.kill(pid, signal.SIGSTOP)
    try:
        b.wait("the page saying the server does not answer",
               lambda: b.one("#alert").is_displayed() and "服务器没有应答" in b.text("#alert"))
        if len(b.css("#lots-body tr")) != rows:
            fail("the list changed while the server did not answer")
    finally:
        os.kill(pid, signal.SIGCONT)
    b.wait("the page recovering", lambda: not b.one("#alert").is_displayed())
    log("a server that does not answer is reported, and the page recovers when it answers again")


def check_language(b, lang):
    want = {"zh": ("zh-CN", "停车场", "名称", "English"), "en": ("en-US", "Lots", "Name", "中文")}[lang]
    got = (b.js("return document.documentElement.lang"), b.text("#tab-lots"),
           b.text("th[data-sort='name'] button"), b.text("#lang-switch"))
    if got != want:
        fail(f"language {lang}: {got}, expected {want}")


def check_fits(b, width, shown=("#map", "#lots-body tr", "#lang-switch", "#filter-text")):
    sw = b.js("return document.documentElement.scrollWidth")
    if sw > width:
        fail(f"the page is {sw} px wide at a {width} px screen: it scrolls sideways")
    for sel in shown:
        if not b.one(sel).is_displayed():
            fail(f"{sel} is not shown at {width} px")


# ---- the ledger -----------------------------------------------------------------------------


def ledger_cells(b):
    return b.js("""const rows = [...document.querySelectorAll('#ledger-table tr')];
        return rows.map(tr => [...tr.children].map(c => c.textContent));""")


def check_ledger(b, year, as_of, lang):
    b.d.get(f"{API}/ledger?year={year}&as_of={as_of}&refresh=2")
    b.wait("the ledger", lambda: len(b.css("#ledger-body tr")) > 0)
    with open(os.path.join(OUT, f"progress-{lang}.csv"), encoding="utf-8") as f:
        want = list(csv.reader(f))
    got = ledger_cells(b)
    if lang == "zh":
        # Chinese: the header too, as `parkfeedctl progress --lang zh` prints it.
        cmp_got, cmp_want = got, want
    else:
        cmp_got, cmp_want = got[1:], want[1:]
        if got[-1][0] != "Total" or want[-1][0] != "total":
            fail(f"the English totals row is {got[-1][0]!r}")
        cmp_got[-1] = ["total"] + cmp_got[-1][1:]
    # Counts carry the language's digit grouping; the CSV has none.
    norm = [[c.replace(",", "") if i in (1, 2) else c for i, c in enumerate(r)] for r in cmp_got]
    if norm != cmp_want:
        fail(f"the ledger ({lang}) differs from parkfeedctl progress --format csv:\n"
             f"page: {norm}\ncsv:  {cmp_want}")
    title = b.text("#ledger-title")
    if str(year) not in title or as_of not in b.text("#ledger-note"):
        fail(f"the ledger's title does not name {year} and {as_of}: {title!r}")
    log(f"the ledger ({lang}) matches parkfeedctl progress --format csv cell by cell ({len(want)} rows)")


def check_print(b, year):
    b.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    hidden = [s for s in ("#ledger-form", ".top") if b.one(s).is_displayed()]
    if hidden:
        fail(f"printed, the ledger still shows {hidden}")
    if not b.one("#ledger-table").is_displayed():
        fail("printed, the ledger has no table")
    b.shot("ledger-print-preview")
    b.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = b.d.execute_cdp_cmd("Page.printToPDF", {"printBackground": False, "preferCSSPageSize": True})
    with open(os.path.join(OUT, f"ledger-{year}.pdf"), "wb") as f:
        f.write(base64.b64decode(pdf["data"]))


# ---- tiles ----------------------------------------------------------------------------------


def check_tiles(b, tile_origin):
    """With [web] tile_url and tile_crs = gcj02 (reloaded by web.sh): the tiles come from their
    server only, the lots are asked for in GCJ-02, the attribution shows."""
    b.d.get(f"{API}/?refresh=2")
    n = len(db_lots())
    b.wait("the page with tiles", lambda: len(b.css("#lots-body tr")) == n and
           b.css(".leaflet-tile-loaded"))
    if b.js("return document.body.dataset.crs") != "gcj02":
        fail("with tile_crs = gcj02 the page does not ask for GCJ-02")
    urls = [u for u, _, _ in b.requests()]
    if not any(u.startswith(f"{API}/v1/lots?crs=gcj02") for u in urls):
        fail("no /v1/lots?crs=gcj02 request")
    if not any(u.startswith(tile_origin + "/") for u in urls):
        fail(f"no tile from {tile_origin}")
    if "© 测试瓦片" not in b.text(".leaflet-control-attribution"):
        fail("the tile attribution is not shown")
    check_near(b, "gcj02")


# ---- the run --------------------------------------------------------------------------------


def main():
    # Stopped by the test's cleanup: quit the browser on the way out (finally below).
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    stage = os.environ.get("WEB_STAGE", "all")
    b = Browser()
    try:
        if stage == "tiles":
            check_tiles(b, os.environ["TILE_ORIGIN"])
            check_console(b)
            check_origins(b, [API, os.environ["TILE_ORIGIN"]])
            return
        year, as_of = os.environ["LEDGER_YEAR"], os.environ["LEDGER_AS_OF"]
        measure_first_load(b)
        check_console(b)
        b.drain()
        b.events.clear()

        lots = load_map(b)
        measure_refresh(b)
        check_language(b, "zh")
        lots = check_list_and_markers(b, "zh")
        log(f"{len(lots)} lots in the list with their free spaces, one marker each, coloured by free share")
        if b.css("#lots-body img, #lots-body b"):
            fail("a lot's name was parsed as HTML")
        shown = next(v for k, v in sorted(lots.items()) if v["free"] is not None and not k.startswith("X-"))
        check_popup(b, shown, "zh")
        check_curve(b, f"/v1/lots/{shown['id']}/history", "free_avg")
        b.shot("map-desktop-zh-lot")
        b.click("#detail-close")
        check_filters_and_sort(b)
        check_keyboard(b)
        check_districts(b)
        check_near(b)
        log("popup, curve, filters, sorting, keyboard, districts and nearest lots work")
        stale = make_stale(b, lots, shown["id"])
        publish_update(b, db_lots(), stale)
        check_list_and_markers(b, "zh")
        check_outage(b)
        b.click("#tab-lots")
        show_all(b)
        b.shot("map-desktop-zh")

        b.click("#lang-switch")
        check_language(b, "en")
        check_list_and_markers(b, "en")
        check_popup(b, db_lots()[shown["id"]], "en")
        b.shot("map-desktop-en")
        b.click("#detail-close")

        b.size(*PHONE, mobile=True)
        time.sleep(0.5)
        check_fits(b, PHONE[0])
        show_all(b)
        b.shot("map-phone-en", full=True)
        b.click("#lang-switch")
        check_language(b, "zh")
        check_list_and_markers(b, "zh")
        b.shot("map-phone-zh", full=True)
        b.desktop()
        check_console(b)

        check_ledger(b, year, as_of, "zh")
        b.shot("ledger-desktop-zh")
        b.click("#lang-switch")
        check_ledger(b, year, as_of, "en")
        b.shot("ledger-desktop-en")
        b.click("#lang-switch")
        b.size(*PHONE, mobile=True)
        b.d.refresh()
        b.wait("the ledger on a phone", lambda: len(b.css("#ledger-body tr")) > 0)
        check_fits(b, PHONE[0], ("#ledger-table", "#lang-switch", "#year"))
        b.shot("ledger-phone-zh", full=True)
        b.desktop()
        check_print(b, year)
        check_console(b)
        check_origins(b, [API])
        log(f"no console error and no request outside {API} in {len(b.requests())} requests")
    finally:
        b.drain()
        with open(os.path.join(OUT, f"requests-{stage}.txt"), "w") as f:
            f.write("\n".join(u for u, _, _ in b.requests()) + "\n")
        with open(os.path.join(OUT, f"console-{stage}.txt"), "w") as f:
            f.write("\n".join(json.dumps(e, ensure_ascii=False) for e in b.console) + "\n")
        b.d.quit()


if __name__ == "__main__":
    main()
