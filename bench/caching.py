"""What a 304 saves: full answers against revalidations (If-None-Match) of layer data.

    .venv/bin/python bench/caching.py                     # SQLite, 5,000 synthetic reports
    .venv/bin/python bench/caching.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432
    .venv/bin/python bench/caching.py --reports 50000 --clients 8 --duration 5

Loads SYNTHETIC reports (random points in Shibata's bbox, fixed seed) straight into a fresh
store, serves it with ``geoapp serve --workers 2`` from this checkout, and for each URL runs
``--clients`` keep-alive clients for ``--duration`` seconds twice: plain GETs (200, the
whole answer) and GETs carrying the answer's ETag (304, no body). Prints requests per
second, median latency and the ratio.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from common import HOST, free_port, hammer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's geoapp, not the one .venv was installed from

from geoapp.app import open_reference_store  # noqa: E402
from geoapp.settings import Settings  # noqa: E402
from geoapp.store.schema import reports  # noqa: E402

URLS = [
    "/collections/reports/items?limit=100",
    "/collections/reports/items?bbox=139.30,37.93,139.36,37.97&limit=100",
    "/collections/reports",
    "/collections/shelters/items?limit=100",
    "/collections",
]
SHIBATA = (139.24, 37.79, 139.68, 38.05)


def load(settings: Settings, count: int) -> None:
    """Migrate and seed the store, then insert ``count`` synthetic public reports."""
    store = open_reference_store(settings)
    status = next(s.code for s in store.statuses() if s.public_group == "new")
    category = store.categories()[0].code
    rng = random.Random(11)
    now = datetime.now(UTC)
    rows = [{"category_code": category, "status_code": status,
             "description": f"SYNTHETIC report {n}", "attributes": {}, "supporters": 0,
             "lon": rng.uniform(SHIBATA[0], SHIBATA[2]), "lat": rng.uniform(SHIBATA[1], SHIBATA[3]),
             "lang": "ja", "source": "api", "created_at": now, "updated_at": now,
             "priority": 2, "version": 1} for n in range(count)]
    with store.engine.begin() as conn:
        for start in range(0, count, 5000):
            conn.execute(reports.insert(), rows[start:start + 5000])
    store.engine.dispose()


def serve(settings: Settings, database_url: str, log: Path) -> tuple[subprocess.Popen, int]:
    """``geoapp serve --workers 2`` from this checkout, once it answers."""
    port = free_port()
    env = {**os.environ, "GEOAPP_DATA_DIR": str(settings.data_dir),
           "GEOAPP_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "geoapp", "serve", "--host", HOST, "--port", str(port),
         "--workers", "2"], cwd=ROOT, env=env, stdout=log.open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"geoapp did not start; see {log}")


def main() -> int:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--database-url", default="",
                        help="a PostgreSQL server URL (a database is made and dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="geoapp-bench-cache-") as tmp:
        data_dir = Path(tmp) / "var"
        database_url, admin, name = f"sqlite:///{data_dir / 'geoapp.sqlite3'}", None, ""
        if args.database_url:
            server = args.database_url.rstrip("/")
            name = f"geoapp_bench_cache_{secrets.token_hex(3)}"
            admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            database_url = f"{server}/{name}"
        try:
            settings = Settings(data_dir=data_dir, database_url=database_url)
            load(settings, args.reports)
            process, port = serve(settings, database_url, Path(tmp) / "geoapp.log")
            try:
                engine = "PostGIS" if admin else "SQLite"
                print(f"{engine}, {args.reports:,} SYNTHETIC reports, {args.clients} clients, "
                      f"{args.duration:.0f} s each, geoapp serve --workers 2")
                print(f"{'URL':<70} {'200/s':>7} {'ms':>7} {'304/s':>7} {'ms':>7} {'ratio':>6}")
                for url in URLS:
                    conn = http.client.HTTPConnection(HOST, port, timeout=30)
                    conn.request("GET", url)
                    first = conn.getresponse()
                    first.read()
                    etag = first.getheader("ETag")
                    gzip = {"Accept-Encoding": "gzip"}
                    full = hammer(port, url, args.clients, args.duration, gzip)
                    cached = hammer(port, url, args.clients, args.duration,
                                    {**gzip, "If-None-Match": etag})
                    flag = "" if full[2] == {200} and cached[2] == {304} else \
                        f"  WARNING statuses {sorted(full[2])} / {sorted(cached[2])}"
                    print(f"{url:<70} {full[0]:>7.0f} {full[1]:>7.1f} {cached[0]:>7.0f} "
                          f"{cached[1]:>7.1f} {cached[0] / full[0]:>5.1f}×{flag}")
            finally:
                os.killpg(process.pid, 15)
                process.wait(timeout=15)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
