"""Vector tile latency at scale: p50/p95 of the reports' tiles at zoom 10, 14 and 17.

Run on demand, not as a test:

    .venv/bin/python bench/tiles.py [--reports 100000] [--engines sqlite,postgis]
                                    [--tiles 60]

It loads ``--reports`` synthetic reports (``tests/bulk.py``, as ``bench/scale.py`` does)
into a fresh SQLite file and a fresh PostGIS database (dropped at the end), serves them
with ``geoapp serve`` from this checkout, and fetches ``--tiles`` tiles per zoom, each
holding a random point of the city (fixed seed; a z10 tile covers most of the city, so
there the same few tiles repeat), each on a fresh connection and without If-None-Match,
so every request builds its tile. One warm-up pass first. Prints how long the reports took
to insert, then p50, p95 and the worst, with the statuses, the mean tile size and the
features per tile.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import mapbox_vector_tile
import sqlalchemy as sa
from common import HOST
from scale import ROOT, Geoapp, _database, load_reports

sys.path.insert(0, str(ROOT))

from geoapp.features.tiles import Tile  # noqa: E402
from tests.bulk import CITY_BBOX  # noqa: E402

ZOOMS = (10, 14, 17)


def _tile_of(z: int, lon: float, lat: float) -> Tile:
    origin = Tile(z, 0, 0)
    x, y = origin.to_tile(lon, lat)
    return Tile(z, int(x // 4096), int(y // 4096))


def _get(port: int, path: str) -> tuple[float, int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    started = time.perf_counter()
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    return time.perf_counter() - started, answer.status, data


def measure(port: int, count: int) -> None:
    """Fetch ``count`` tiles per zoom and print the figures."""
    rng = random.Random(17)
    minx, miny, maxx, maxy = CITY_BBOX
    for z in ZOOMS:
        tiles = [_tile_of(z, rng.uniform(minx, maxx), rng.uniform(miny, maxy))
                 for _ in range(count)]
        paths = [f"/collections/reports/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}" for t in tiles]
        for path in paths[:5]:
            _get(port, path)  # warm-up
        times, statuses, sizes, features = [], set(), [], []
        for path in paths:
            elapsed, status, body = _get(port, path)
            times.append(elapsed)
            statuses.add(status)
            sizes.append(len(body))
            layer = mapbox_vector_tile.decode(body).get("reports", {}) if body else {}
            features.append(len(layer.get("features", [])))
        times.sort()
        p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
        print(f"  z{z:<3} p50 {statistics.median(times) * 1000:7.1f} ms   p95 "
              f"{p95 * 1000:7.1f} ms   worst {times[-1] * 1000:7.1f} ms   status "
              f"{sorted(statuses)}   {statistics.mean(sizes) / 1024:6.1f} KB   "
              f"{statistics.mean(features):7.1f} features/tile (max {max(features)})")


def run(engine_name: str, reports: int, count: int) -> None:
    """Load the reports into one engine, serve them and measure the tiles."""
    with tempfile.TemporaryDirectory(prefix="geoapp-tiles-") as tmp:
        url, admin = _database(engine_name, Path(tmp))
        try:
            started = time.perf_counter()
            load_reports(url, reports)
            # Bulk insertion pays for the triggers that keep report_cells (migration 0009).
            print(f"\n{engine_name}: {reports:,} reports inserted in "
                  f"{time.perf_counter() - started:.1f} s")
            server = Geoapp(ROOT, url, Path(tmp) / "var")
            try:
                measure(server.port, count)
            finally:
                server.stop()
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    name = url.rsplit("/", 1)[1]
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                admin.dispose()


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite,postgis")
    parser.add_argument("--tiles", type=int, default=60)
    args = parser.parse_args()
    for engine_name in args.engines.split(","):
        run(engine_name, args.reports, args.tiles)


if __name__ == "__main__":
    main()
