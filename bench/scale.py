"""geoapp at a city's full size, side by side with tipg on the same PostGIS table.

Run on demand, not as a test:

    .venv/bin/python bench/scale.py [--reports 1000000] [--engines sqlite,postgis]
                                    [--repeat 5] [--throughput-reports 5000] [--no-browser]

What it does, in one run:

1. Generates ``--reports`` synthetic reports spread over the city (``tests/bulk.py``: fixed
   seed, realistic mix of states and categories, 5 % closed and so hidden from the public)
   and inserts them in bulk into a fresh SQLite file and a fresh PostGIS database (dropped
   at the end), timing each load.
2. Serves them with ``geoapp serve`` (one worker per engine) and serves the PostGIS table
   with tipg 1.x (``bench/.tipg-venv``, created on first use from PyPI; uvicorn, one
   worker) through a view that holds what the public may see: the same rows, the public
   columns, the generated ``geom`` point and its GiST index.
3. Measures every query of the issue's table on every server, interleaved (one request
   to each server in turn) and repeated ``--repeat`` times after a warm-up, each on a fresh
   connection: ``limit=10``, a 1 km² bbox, the whole city at ``limit=1000``, a deep page
   (tipg: ``offset`` at 90 % of the reports; geoapp: the ``next`` link's cursor for the
   same place, since geoapp bounds ``offset`` at 10,000), ``offset=9000``, page 101 by
   following ``next`` links, the collection's metadata, vector tiles at zoom 10, 14 and 17
   (20 tiles each around random points of the city), and for geoapp alone the staff
   queue's first page, a streamed CSV export (to the last byte), Open311's request list
   and the map page.
4. 304s: 8 clients on one keep-alive connection each, for 5 s, on a cached layer page
   with its ETag (304), against the same page without it (200), and tipg's 200s.
5. The map page: its HTML size and, in headless Chromium (Debian's, through Playwright
   when ``playwright`` is importable, else the Chromium DevTools-free fallback is skipped),
   the time from navigation to the first report marker drawn from vector tiles.
6. Throughput at ``--throughput-reports`` (default 5,000) reports: 8 clients for 10 s on
   ``limit=10``, geoapp on SQLite (2 workers) against tipg on PostGIS (2 workers).

Every figure is printed with its ratio to tipg (tipg ÷ geoapp for times, geoapp ÷ tipg for
requests per second): above 1 means geoapp is faster. A request that takes longer than
120 s is counted as a timeout. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from common import HOST, free_port, hammer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.bulk: the same generator and bulk insert the tests use

from geoapp.features import cursor as cursors  # noqa: E402
from geoapp.features.tiles import Tile  # noqa: E402
from geoapp.store.engine import migrate, open_engine  # noqa: E402
from geoapp.store.reports import ReportStore  # noqa: E402
from geoapp.yamlfile import read_yaml  # noqa: E402
from tests.bulk import CITY_BBOX, insert_reports, synthetic_reports  # noqa: E402

POSTGRES = os.environ.get("GEOAPP_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TIPG_VENV = ROOT / "bench" / ".tipg-venv"
TIMEOUT = 120.0
STAFF_USER, STAFF_PASSWORD = "bench-road", "bench-password-1234"
BBOX_1KM = "139.320,37.940,139.3314,37.949"
CITY = ",".join(str(v) for v in CITY_BBOX)
ZOOMS = (10, 14, 17)
TILES_PER_ZOOM = 20


# -- HTTP -----------------------------------------------------------------------------------

@dataclass
class Answer:
    """One timed answer."""

    seconds: float
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict | None:
        """The body as JSON when it is JSON."""
        if self.headers.get("content-type", "").startswith(("application/geo+json",
                                                             "application/json")):
            return json.loads(self.body)
        return None


def get(port: int, path: str, headers: dict[str, str] | None = None) -> Answer:
    """A GET on a fresh connection, timed to the last byte."""
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    started = time.perf_counter()
    try:
        conn.request("GET", path, headers={"Accept": "application/geo+json, application/json",
                                           "Connection": "close", **(headers or {})})
        answer = conn.getresponse()
        data = answer.read()
    except TimeoutError:
        return Answer(TIMEOUT, 0)
    finally:
        conn.close()
    return Answer(time.perf_counter() - started, answer.status, data,
                  {k.lower(): v for k, v in answer.getheaders()})


def _wait_up(process: subprocess.Popen, port: int, path: str, what: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start-up")
        try:
            if get(port, path).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{what} did not start within 300 s")


# -- servers --------------------------------------------------------------------------------

class Server:
    """A server process in its own session, stopped with its children."""

    name: str
    port: int
    process: subprocess.Popen
    items: str
    collection: str

    def tile(self, tile: Tile) -> str:
        """The path of a tile."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Geoapp(Server):
    """``geoapp serve`` from a source tree, on one database."""

    collection = "/collections/reports"
    items = "/collections/reports/items"

    def __init__(self, tree: Path, database_url: str, data_dir: Path, *,
                 name: str = "geoapp", workers: int = 1) -> None:
        self.name, self.port, self.cookie = name, free_port(), ""
        self.env = {**os.environ, "GEOAPP_ENVIRONMENT": "test",
                    "GEOAPP_DATA_DIR": str(data_dir), "GEOAPP_DATABASE_URL": database_url,
                    "GEOAPP_VENDOR_DIR": str(ROOT / "node_modules"), "PYTHONPATH": str(tree)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "geoapp", "serve", "--port", str(self.port),
             "--workers", str(workers)], cwd=tree, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_up(self.process, self.port, "/healthz", f"geoapp ({name})")

    def tile(self, tile: Tile) -> str:
        return f"{self.collection}/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}"

    def staff_cookie(self) -> str:
        """Create a road-staff account and log in; the session cookie (kept as ``cookie``)."""
        subprocess.run([sys.executable, "-m", "geoapp", "staff", "create", STAFF_USER,
                        "--role", "road", "--password-stdin"], input=STAFF_PASSWORD + "\n",
                       text=True, env=self.env, check=True, capture_output=True)
        page = get(self.port, "/staff/login", {"Accept": "text/html"})
        cookie = page.headers.get("set-cookie", "").split(";", 1)[0]
        token = page.body.decode().split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = (f"csrf={token}&username={STAFF_USER}&password={STAFF_PASSWORD}&next=/staff")
        conn = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
        conn.request("POST", "/staff/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        answer = conn.getresponse()
        answer.read()
        conn.close()
        if answer.status != 303:
            raise RuntimeError(f"staff login answered {answer.status}")
        self.cookie = answer.getheader("set-cookie", "").split(";", 1)[0] or cookie
        return self.cookie


class Tipg(Server):
    """tipg 1.x from its own venv, serving the public view of the reports table."""

    collection = "/collections/public.tipg_reports"
    items = "/collections/public.tipg_reports/items"

    def __init__(self, database_url: str, workers: int = 1) -> None:
        self.name, self.port = "tipg", free_port()
        env = {**os.environ, "DATABASE_URL": database_url.replace("+psycopg", ""),
               "TIPG_DB_SCHEMAS": '["public"]', "TIPG_DB_TABLES": '["public.tipg_reports"]',
               "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
        self.process = subprocess.Popen(
            [str(ensure_tipg() / "uvicorn"), "tipg.main:app", "--host", HOST, "--port",
             str(self.port), "--workers", str(workers), "--no-access-log"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_up(self.process, self.port, "/collections", "tipg")

    def tile(self, tile: Tile) -> str:
        return f"{self.collection}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"


def ensure_tipg() -> Path:
    """bench/.tipg-venv with tipg 1.x and uvicorn; its bin folder."""
    bin_dir = TIPG_VENV / "bin"
    if not (bin_dir / "uvicorn").exists():
        print(f"creating {TIPG_VENV.relative_to(ROOT)} (tipg>=1,<2, uvicorn) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(bin_dir / "pip"), "install", "--quiet", "tipg>=1,<2", "uvicorn"],
                       check=True)
    return bin_dir


#: What tipg serves: the rows and columns the public sees in geoapp, over the same table
#: and its GiST index (a view adds nothing to the plans).
TIPG_VIEW = """CREATE VIEW tipg_reports AS SELECT id, category_code, status_code, description,
    supporters, created_at, updated_at, geom FROM reports WHERE status_code <> 'closed'"""


# -- stores ---------------------------------------------------------------------------------

def _database(engine_name: str, folder: Path, tag: str = "big"
              ) -> tuple[str, sa.Engine | None]:
    if engine_name == "sqlite":
        return f"sqlite:///{folder / f'scale-{tag}.sqlite3'}", None
    name = f"geoapp_scale_{tag}_{os.getpid()}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}", admin


def _drop(url: str, admin: sa.Engine | None) -> None:
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} "
                                 "WITH (FORCE)"))
        admin.dispose()


def load_reports(url: str, count: int) -> None:
    """Migrate and seed the store at ``url`` and bulk-insert ``count`` synthetic reports."""
    engine = open_engine(url, sqlite_synchronous="NORMAL")
    migrate(engine)
    ReportStore(engine).seed(read_yaml(ROOT / "data" / "reports.yaml"))
    insert_reports(engine, synthetic_reports(count))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(TIPG_VIEW))
            conn.execute(sa.text("ANALYZE"))
        else:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def deep_id(url: str, position: int) -> int:
    """The id of the public report at ``position`` in id order (where a deep page starts)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(sa.text(
            "SELECT id FROM reports WHERE status_code <> 'closed' ORDER BY id "
            "LIMIT 1 OFFSET :n"), {"n": position}).scalar_one()
    engine.dispose()
    return found


# -- the queries ----------------------------------------------------------------------------

Probe = Callable[[], Answer]


def _next_links(port: int, path: str, pages: int) -> Answer:
    """The page reached by following ``next`` links ``pages`` times from ``path``."""
    total = 0.0
    for _ in range(pages):
        answer = get(port, path)
        total += answer.seconds
        nxt = [link["href"] for link in (answer.json() or {}).get("links", [])
               if link.get("rel") == "next"]
        if answer.status != 200 or not nxt:
            return Answer(total, answer.status or -1)
        path = nxt[0].split(f"{HOST}:{port}", 1)[-1]
    last = get(port, path)
    return Answer(total + last.seconds, last.status, last.body, last.headers)


def probes(server: Server, count: int, deep_cursor: str | None,
           staff_cookie: str | None) -> dict[str, Probe]:
    """label -> a probe of one query on ``server`` (labels shared across servers)."""
    port, items = server.port, server.items
    found: dict[str, Probe] = {
        "limit=10": lambda: get(port, f"{items}?limit=10"),
        "bbox ~1 km², limit=100": lambda: get(port, f"{items}?bbox={BBOX_1KM}&limit=100"),
        "whole city, limit=1000": lambda: get(port, f"{items}?bbox={CITY}&limit=1000"),
        "offset=9000&limit=10": lambda: get(port, f"{items}?offset=9000&limit=10"),
        "page 101 by next links (sum)": lambda: _next_links(port, f"{items}?limit=10", 100),
        "collection metadata": lambda: get(port, server.collection),
    }
    deep = int(count * 0.9)
    if isinstance(server, Tipg):
        found[f"deep page at {deep:,}"] = lambda: get(port, f"{items}?offset={deep}&limit=10")
    elif deep_cursor:
        found[f"deep page at {deep:,}"] = lambda: get(
            port, f"{items}?limit=10&cursor={deep_cursor}")
    rng = random.Random(7)
    for z in ZOOMS:
        tiles = [_tile_of(z, rng.uniform(CITY_BBOX[0], CITY_BBOX[2]),
                          rng.uniform(CITY_BBOX[1], CITY_BBOX[3])) for _ in range(TILES_PER_ZOOM)]
        found[f"tile z{z}"] = _cycle([lambda t=t: get(port, server.tile(t)) for t in tiles])
    if isinstance(server, Geoapp):
        cookie = {"Cookie": staff_cookie or "", "Accept": "text/html"}
        found["staff queue, first page"] = lambda: get(port, "/staff", cookie)
        found["Open311 requests.json (90 days)"] = lambda: get(port,
                                                               "/open311/v2/requests.json")
        found["map page /"] = lambda: get(port, "/", {"Accept": "text/html"})
    return found


def _tile_of(z: int, lon: float, lat: float) -> Tile:
    x, y = Tile(z, 0, 0).to_tile(lon, lat)
    return Tile(z, int(x // 4096), int(y // 4096))


def _cycle(calls: list[Probe]) -> Probe:
    """A probe that makes the next call of ``calls`` each time (tiles: many per zoom)."""
    state = {"n": 0}

    def probe() -> Answer:
        state["n"] += 1
        return calls[state["n"] % len(calls)]()
    return probe


@dataclass
class Figure:
    """Timings of one query on one server."""

    times: list[float] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    what: str = ""

    def quantile(self, q: float) -> float:
        """The q-quantile of the times, in seconds."""
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def measure(servers: list[Server], plans: dict[str, dict[str, Probe]], repeat: int
            ) -> dict[str, dict[str, Figure]]:
    """query -> server -> Figure, every query timed on every server in turn."""
    labels = list(dict.fromkeys(label for plan in plans.values() for label in plan))
    figures: dict[str, dict[str, Figure]] = {}
    for label in labels:
        runs = [(s.name, plans[s.name][label]) for s in servers if label in plans[s.name]]
        tiles = label.startswith("tile ")
        rounds = TILES_PER_ZOOM * 2 if tiles else repeat
        for _, probe in runs:
            probe()  # warm-up
        row = figures.setdefault(label, {name: Figure() for name, _ in runs})
        for _ in range(rounds):
            for name, probe in runs:
                answer = probe()
                row[name].times.append(answer.seconds)
                row[name].statuses.add(answer.status)
                body = answer.json() if not tiles else None
                if body and "numberReturned" in body:
                    row[name].what = (f"{body['numberReturned']} returned, "
                                      f"matched {body.get('numberMatched', '-')}")
                elif tiles:
                    row[name].what = f"{len(answer.body) / 1024:.1f} KiB last"
    return figures


def print_figures(title: str, figures: dict[str, dict[str, Figure]], names: list[str],
                  peer: str = "tipg") -> None:
    """A table: median / p95 per server, and each geoapp's ratio to the peer."""
    print(f"\n{title}")
    head = f"{'query':34}" + "".join(f"{n + ' p50 / p95 ms':>26}" for n in names)
    others = [n for n in names if n != peer]
    print(head + "".join(f"{'÷ ' + n:>12}" for n in others if peer in names))
    for label, row in figures.items():
        cells, ratios = [], []
        for name in names:
            fig = row.get(name)
            if fig is None:
                cells.append(f"{'—':>26}")
                continue
            status = ",".join(str(s) for s in sorted(fig.statuses))
            cells.append(f"{fig.quantile(0.5) * 1000:,.1f} / {fig.quantile(0.95) * 1000:,.1f}"
                         f" [{status}]".rjust(26))
        if peer in row:
            for name in others:
                if name in row:
                    ratios.append(f"{row[peer].quantile(0.5) / row[name].quantile(0.5):>11.2f}×")
                else:
                    ratios.append(f"{'—':>12}")
        print(f"{label:34}" + "".join(cells) + "".join(ratios))
        whats = [f"{n}: {row[n].what}" for n in names if n in row and row[n].what]
        if whats:
            print(f"{'':34}  " + "; ".join(whats))


# -- 304s, throughput, export, browser -------------------------------------------------------

def revalidations(geoapp: Geoapp, tipg: Tipg | None) -> None:
    """304s a second on a cached layer page against full answers, 8 clients."""
    path = f"{geoapp.items}?bbox={BBOX_1KM}&limit=100"
    etag = get(geoapp.port, path).headers.get("etag", "")
    full, _, s_full = hammer(geoapp.port, path, 8, 5.0)
    cached, _, s_cached = hammer(geoapp.port, path, 8, 5.0, {"If-None-Match": etag})
    line = (f"  {geoapp.name}: 304s {cached:,.0f}/s {sorted(s_cached)}, full answers "
            f"{full:,.0f}/s {sorted(s_full)}: {cached / full:.1f}× the full rate")
    if tipg is not None:
        peer, _, s_peer = hammer(tipg.port, f"{tipg.items}?bbox={BBOX_1KM}&limit=100", 8, 5.0)
        line += f"; tipg full answers {peer:,.0f}/s {sorted(s_peer)}: {cached / peer:.1f}×"
    print(line)


def export(geoapp: Geoapp, cookie: str) -> None:
    """The streamed staff CSV export of every report, timed to the last byte."""
    answer = get(geoapp.port, "/staff/export.csv", {"Cookie": cookie, "Accept": "text/csv"})
    rows = answer.body.count(b"\n") - 1
    print(f"  {geoapp.name}: staff CSV export {answer.status}, {rows:,} rows, "
          f"{len(answer.body) / 2**20:,.1f} MiB in {answer.seconds:.1f} s "
          f"({rows / answer.seconds:,.0f} rows/s)")


def first_marker(geoapp: Geoapp, runs: int = 3) -> None:
    """Seconds from navigation to the first report marker on the public map, in Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("  (playwright is not installed: no browser figures)")
        return
    from tests.browser.helpers import CHROMIUM_ARGS
    html = get(geoapp.port, "/", {"Accept": "text/html"})
    times: list[float] = []
    inside: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(runs):
            page = browser.new_context().new_page()
            # The base map is on the internet, which this machine does not reach.
            page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"),
                       lambda route: route.abort())
            started = time.perf_counter()
            page.goto(f"http://{HOST}:{geoapp.port}/", wait_until="commit")
            page.wait_for_selector(".geoapp-tiles-reports path", state="attached",
                                   timeout=60_000)
            times.append(time.perf_counter() - started)
            # The browser's own clock, from the start of navigation to now.
            inside.append(page.evaluate("performance.now()") / 1000)
            page.context.close()
        browser.close()
    print(f"  {geoapp.name}: map page {len(html.body) / 1024:.1f} KiB of HTML; first report "
          f"marker after {statistics.median(times):.2f} s (median of {runs}, "
          f"worst {max(times):.2f} s; {statistics.median(inside):.2f} s by the page's clock)")


def throughput(count: int, tmp: Path) -> None:
    """8 clients on limit=10 at ``count`` reports: geoapp on SQLite against tipg on PostGIS."""
    print(f"\nthroughput at {count:,} reports: 8 clients, 10 s on limit=10 (2 workers each)")
    sqlite_url, _ = _database("sqlite", tmp, "small")
    pg_url, admin = _database("postgis", tmp, "small")
    servers: list[Server] = []
    try:
        load_reports(sqlite_url, count)
        load_reports(pg_url, count)
        servers = [Geoapp(ROOT, sqlite_url, tmp / "var-small-sqlite", name="geoapp-sqlite",
                          workers=2),
                   Geoapp(ROOT, pg_url, tmp / "var-small-pg", name="geoapp-postgis", workers=2),
                   Tipg(pg_url, 2)]
        got = {}
        for server in servers:
            hammer(server.port, f"{server.items}?limit=10", 8, 2.0)  # warm-up
            got[server.name] = hammer(server.port, f"{server.items}?limit=10", 8, 10.0)
        for name, (per_second, _, statuses) in got.items():
            print(f"  {name:16} {per_second:8,.0f} requests/s {sorted(statuses)}  "
                  f"{per_second / got['tipg'][0]:.2f}× tipg")
    finally:
        for server in servers:
            server.stop()
        _drop(pg_url, admin)


# -- the run --------------------------------------------------------------------------------

def run(args: argparse.Namespace, tmp: Path) -> None:
    """Load both engines, serve them and tipg, and print every figure."""
    engines = args.engines.split(",")
    urls: dict[str, tuple[str, sa.Engine | None]] = {}
    servers: list[Server] = []
    try:
        for engine_name in engines:
            urls[engine_name] = _database(engine_name, tmp, "big")
            started = time.perf_counter()
            load_reports(urls[engine_name][0], args.reports)
            print(f"{engine_name}: {args.reports:,} reports inserted in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
        plans: dict[str, dict[str, Probe]] = {}
        geoapps: list[Geoapp] = []
        for engine_name, (url, _) in urls.items():
            server = Geoapp(ROOT, url, tmp / f"var-{engine_name}", name=engine_name)
            servers.append(server)
            geoapps.append(server)
            cursor = cursors.encode(None, deep_id(url, int(args.reports * 0.9)))
            plans[server.name] = probes(server, args.reports, cursor, server.staff_cookie())
        tipg = None
        if "postgis" in urls:
            tipg = Tipg(urls["postgis"][0])
            servers.append(tipg)
            plans["tipg"] = probes(tipg, args.reports, None, None)
        figures = measure(servers, plans, args.repeat)
        print_figures(f"{args.reports:,} reports: median / p95 over {args.repeat} rounds "
                      f"(tiles: {TILES_PER_ZOOM * 2} each), [statuses], ÷ = tipg median ÷ "
                      f"server median", figures, [s.name for s in servers])
        print("\nrevalidation (8 clients, 5 s each, keep-alive):")
        for geoapp in geoapps:
            revalidations(geoapp, tipg)
        print("\nstreamed export:")
        for geoapp in geoapps:
            export(geoapp, geoapp.cookie)
        if args.browser:
            print("\nthe public map in headless Chromium:")
            for geoapp in geoapps:
                first_marker(geoapp)
    finally:
        for server in servers:
            server.stop()
        for url, admin in urls.values():
            _drop(url, admin)


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,postgis")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--throughput-reports", type=int, default=5000,
                        help="reports for the 8-client throughput run (0: skip it)")
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    args = parser.parse_args()
    ensure_tipg()
    with tempfile.TemporaryDirectory(prefix="geoapp-scale-") as tmp:
        run(args, Path(tmp))
        if args.throughput_reports:
            throughput(args.throughput_reports, Path(tmp))


if __name__ == "__main__":
    main()
