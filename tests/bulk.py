"""Many reports fast: synthetic reports spread over the city, inserted straight into the store.

Rows go in through the reports table with one executemany per chunk, so each engine's
own machinery runs as for a posted report (SQLite's triggers fill the R*Tree, PostGIS
computes the generated point); only the form's checks and the photo pipeline are skipped.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geoapp.store.schema import categories, report_photos, reports

#: Shibata's bbox (minLon, minLat, maxLon, maxLat), as bench/features_vs_pygeoapi.py uses.
CITY_BBOX = (139.24, 37.79, 139.68, 38.05)
#: Public states and how often synthetic reports are in each (closed ones are hidden).
STATES = {"received": 40, "acknowledged": 15, "in_progress": 15, "fixed": 25, "closed": 5}
CATEGORIES = ("pavement", "gutter", "street_light", "traffic_safety", "illegal_dumping", "park")
START = datetime(2025, 4, 1, tzinfo=UTC)


def synthetic_reports(count: int, *, seed: int = 11, bbox: tuple[float, float, float, float]
                      = CITY_BBOX) -> Iterator[dict[str, Any]]:
    """``count`` report rows at random (fixed seed) points of ``bbox``, in time order."""
    rng = random.Random(seed)
    states, weights = list(STATES), list(STATES.values())
    minx, miny, maxx, maxy = bbox
    for n in range(count):
        created = START + timedelta(minutes=7 * n)
        yield report_row(rng.uniform(minx, maxx), rng.uniform(miny, maxy),
                         category=rng.choice(CATEGORIES),
                         status=rng.choices(states, weights)[0], created=created,
                         description=f"synthetic report {n}")


def report_row(lon: float, lat: float, *, category: str = "pavement",
               status: str = "received", created: datetime = START,
               description: str = "段差があります") -> dict[str, Any]:
    """One row of the reports table (with a reporter, who must never show in public)."""
    return {
        "category_code": category, "status_code": status, "description": description,
        "lon": lon, "lat": lat, "attributes": {}, "supporters": 0,
        "reporter_name": "新発田 太郎", "reporter_email": "taro@example.jp", "lang": "ja",
        "source": "web", "created_at": created, "updated_at": created, "priority": 2,
        "version": 1,
    }


def insert_reports(engine: sa.Engine, rows: Iterable[Mapping[str, Any]], *,
                   chunk: int = 5000) -> list[int]:
    """Insert report rows in chunks; their ids, in insertion order."""
    with engine.connect() as conn:
        routing = dict(conn.execute(sa.select(categories.c.code, categories.c.department_code))
                       .all())
    ids: list[int] = []
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            first = conn.execute(sa.select(sa.func.coalesce(sa.func.max(reports.c.id), 0))
                                 ).scalar_one()
            conn.execute(reports.insert(), batch)
            ids.extend(conn.execute(sa.select(reports.c.id).where(reports.c.id > first)
                                    .order_by(reports.c.id)).scalars())
        batch.clear()

    for row in rows:
        batch.append({**row, "department_code": routing[row["category_code"]]})
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    return ids


def add_photo(engine: sa.Engine, report_id: int, key: str) -> None:
    """Give a report one photo (the media file itself is not needed by the layer)."""
    with engine.begin() as conn:
        conn.execute(report_photos.insert().values(
            report_id=report_id, position=0, media_key=f"{key}.jpg",
            thumb_key=f"{key}-thumb.jpg", width=2048, height=1536))
