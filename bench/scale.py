"""Queries on the store-backed reports collection at scale: this checkout against an older one.

Run on demand, not as a test:

    .venv/bin/python bench/scale.py [--reports 100000] [--engines sqlite,postgis]
                                    [--before COMMIT] [--repeat 5]

It generates ``--reports`` synthetic reports spread over the city (``tests/bulk.py``: fixed
seed, realistic mix of states and categories, 5 % closed and so hidden), inserts them in
bulk into a fresh SQLite file and a fresh PostGIS database (dropped at the end), and for
each engine serves them with ``geoapp serve`` from this checkout and, with ``--before``,
from that commit (``git archive`` into a temporary folder, same database). Each query is
timed ``--repeat`` times after one warm-up, on a fresh connection, and printed as median
and worst with the answer's status, the features returned and ``numberMatched``. A
request that takes longer than 120 s is counted as a timeout. The deep pages (offset 9000,
page 101 by next links) are measured on this checkout only: an older tree reads every
report for each page, so 101 pages of it would take most of an hour at 100,000 reports.

This is the beginning of the issue's ``bench/scale.py``; tipg and the other figures come
later. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from common import HOST, free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.bulk: the same generator and bulk insert the tests use

from geoapp.store.engine import migrate, open_engine  # noqa: E402
from geoapp.store.reports import ReportStore  # noqa: E402
from geoapp.yamlfile import read_yaml  # noqa: E402
from tests.bulk import insert_reports, synthetic_reports  # noqa: E402

POSTGRES = os.environ.get("GEOAPP_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TIMEOUT = 120.0
ITEMS = "/collections/reports/items"
#: (label, path): the issue's table, plus the metadata and the map page.
QUERIES = [
    ("limit=10", f"{ITEMS}?limit=10"),
    ("bbox ~1 km², limit=100", f"{ITEMS}?bbox=139.320,37.940,139.3314,37.949&limit=100"),
    ("whole city, limit=1000", f"{ITEMS}?bbox=139.24,37.79,139.68,38.05&limit=1000"),
    ("offset=9000&limit=10", f"{ITEMS}?offset=9000&limit=10"),
    ("/collections/reports", "/collections/reports"),
    ("/ (the map page)", "/?f=html"),
]


def _get(port: int, path: str) -> tuple[float, int, dict | None]:
    """(seconds, status, JSON body or None) of one GET on a fresh connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    started = time.perf_counter()
    try:
        conn.request("GET", path, headers={"Accept": "text/html" if "f=html" in path
                                           else "application/json", "Connection": "close"})
        answer = conn.getresponse()
        data = answer.read()
    except TimeoutError:
        return TIMEOUT, 0, None
    finally:
        conn.close()
    elapsed = time.perf_counter() - started
    body = None
    if answer.getheader("content-type", "").startswith(("application/geo+json",
                                                         "application/json")):
        body = json.loads(data)
    return elapsed, answer.status, body


def _cursor_deep(port: int) -> tuple[float, int, dict | None]:
    """The 101st page of 10 reached by following next links (the cursor way to go deep)."""
    path = f"{ITEMS}?limit=10"
    for _ in range(100):
        _, status, body = _get(port, path)
        nxt = [link["href"] for link in (body or {}).get("links", []) if link["rel"] == "next"]
        if status != 200 or not nxt:
            return 0.0, status, None
        path = nxt[0].split(f"{HOST}:{port}", 1)[-1]
    return _get(port, path)


class Server:
    """``geoapp serve`` from a source tree, on one database."""

    def __init__(self, tree: Path, database_url: str, data_dir: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "GEOAPP_ENVIRONMENT": "test", "GEOAPP_DATA_DIR": str(data_dir),
               "GEOAPP_DATABASE_URL": database_url,
               "GEOAPP_VENDOR_DIR": str(ROOT / "node_modules"), "PYTHONPATH": str(tree)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "geoapp", "serve", "--port", str(self.port)], cwd=tree,
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"geoapp from {tree} exited at start-up")
            try:
                if _get(self.port, "/healthz")[1] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("geoapp did not start within 120 s")

    def stop(self) -> None:
        """Stop the server."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: Queries left out for an older tree: paging deep there reads every report per page.
DEEP = {"offset=9000&limit=10", "page 101 by next links"}


def measure(port: int, repeat: int, *, deep: bool = True
            ) -> dict[str, tuple[float, float, int, str]]:
    """label -> (median s, worst s, status, what came back) for every query."""
    results: dict[str, tuple[float, float, int, str]] = {}
    probes = [(label, lambda p=path: _get(port, p)) for label, path in QUERIES]
    probes.insert(4, ("page 101 by next links", lambda: _cursor_deep(port)))
    for label, probe in probes:
        if label in DEEP and not deep:
            results[label] = (float("nan"), float("nan"), 0, "not measured")
            continue
        probe()  # warm-up
        times, status, body = [], 0, None
        for _ in range(repeat):
            elapsed, status, body = probe()
            times.append(elapsed)
            if elapsed >= TIMEOUT:
                break
        what = ""
        if body and "numberReturned" in body:
            what = f"{body['numberReturned']} returned, matched {body.get('numberMatched', '-')}"
        results[label] = (statistics.median(times), max(times), status, what)
    return results


def _checkout(commit: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _database(engine_name: str, folder: Path) -> tuple[str, sa.Engine | None]:
    if engine_name == "sqlite":
        return f"sqlite:///{folder / 'scale.sqlite3'}", None
    name = f"geoapp_scale_{os.getpid()}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}", admin


def load_reports(url: str, count: int) -> None:
    """Migrate and seed the store at ``url`` and bulk-insert ``count`` synthetic reports."""
    engine = open_engine(url, sqlite_synchronous="NORMAL")
    migrate(engine)
    ReportStore(engine).seed(read_yaml(ROOT / "data" / "reports.yaml"))
    insert_reports(engine, synthetic_reports(count))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE reports"))
    engine.dispose()


def run(engine_name: str, count: int, trees: dict[str, Path], repeat: int) -> None:
    """Load ``count`` reports into one engine and measure every tree on it."""
    with tempfile.TemporaryDirectory(prefix="geoapp-scale-") as tmp:
        url, admin = _database(engine_name, Path(tmp))
        try:
            started = time.perf_counter()
            load_reports(url, count)
            print(f"\n{engine_name}: {count:,} reports inserted in "
                  f"{time.perf_counter() - started:.1f} s")
            figures = {}
            for label, tree in trees.items():
                server = Server(tree, url, Path(tmp) / f"var-{label}")
                try:
                    figures[label] = measure(server.port, repeat, deep=label == "after")
                finally:
                    server.stop()
            _print(engine_name, figures)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    name = url.rsplit("/", 1)[1]
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                admin.dispose()


def _print(engine_name: str, figures: dict[str, dict]) -> None:
    labels = list(figures)
    print(f"{'query (' + engine_name + ')':34}" + "".join(
        f"{label + ' median / worst':>36}" for label in labels))
    for query in next(iter(figures.values())):
        cells = []
        for label in labels:
            median, worst, status, what = figures[label][query]
            cell = f"{median * 1000:,.0f} / {worst * 1000:,.0f} ms {status}"
            cells.append(f"{cell:>36}")
        print(f"{query:34}" + "".join(cells))
        whats = [figures[label][query][3] for label in labels if figures[label][query][3]]
        if whats:
            print(f"{'':34}" + "".join(f"{w:>36}" for w in
                                       (figures[label][query][3] for label in labels)))


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite,postgis")
    parser.add_argument("--before", help="a commit to measure beside this checkout")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="geoapp-before-") as before_dir:
        trees = {}
        if args.before:
            trees["before"] = _checkout(args.before, Path(before_dir))
        trees["after"] = ROOT
        for engine_name in args.engines.split(","):
            run(engine_name, args.reports, trees, args.repeat)


if __name__ == "__main__":
    main()
