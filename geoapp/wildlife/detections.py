"""Stored detections, and where the public may see each one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from geoapp.store.schema import wildlife_detections
from geoapp.wildlife.mesh import CELL_LAT, CELL_LON, generalise


@dataclass(frozen=True)
class Detection:
    """One stored detection, with its exact position (for staff only)."""

    id: int
    device_id: int | None
    event_id: str
    event: str
    species: str
    count: int | None
    confidence: float | None
    observed_at: datetime
    received_at: datetime
    lon: float
    lat: float
    visibility: str
    source: str
    photo_key: str | None
    thumb_key: str | None
    note: str | None


@dataclass(frozen=True)
class PublicPosition:
    """Where the public may see a detection: exact, or a 3次メッシュ cell's centre."""

    lon: float
    lat: float
    precision: str  # exact or mesh
    mesh: str


def public_position(detection: Detection) -> PublicPosition | None:
    """The position the public may see, or None for a hidden device (and every trap)."""
    if detection.visibility == "exact":
        lon, lat, code = generalise(detection.lon, detection.lat)
        return PublicPosition(detection.lon, detection.lat, "exact", code)
    if detection.visibility == "mesh":
        lon, lat, code = generalise(detection.lon, detection.lat)
        return PublicPosition(lon, lat, "mesh", code)
    return None


def _round6(value: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[float]:
    # PostgreSQL rounds to digits only as numeric; SQLite rounds doubles.
    if dialect == "postgresql":
        return sa.cast(sa.func.round(sa.cast(value, sa.Numeric), 6), sa.Float)
    return sa.func.round(value, 6)


def _cell_centre(value: sa.ColumnElement[float], offset: float, cell: float, dialect: str
                 ) -> sa.ColumnElement[float]:
    seconds = _round6((value - offset) * 3600, dialect)  # as mesh3 rounds, edges stay put
    step = cell * 3600
    return _round6((sa.func.floor(seconds / step) * step + step / 2) / 3600 + offset, dialect)


def public_position_sql(dialect: str) -> tuple[sa.ColumnElement[float], sa.ColumnElement[float]]:
    """:func:`public_position`'s longitude and latitude as SQL, for bbox tests and paging.

    Exact devices' detections keep their point; the others move to their 3次メッシュ
    cell's centre, computed as :mod:`geoapp.wildlife.mesh` does.
    """
    table = wildlife_detections
    exact = table.c.visibility == "exact"
    lon = sa.case((exact, table.c.lon),
                  else_=_cell_centre(table.c.lon, 100, CELL_LON, dialect))
    lat = sa.case((exact, table.c.lat), else_=_cell_centre(table.c.lat, 0, CELL_LAT, dialect))
    return lon, lat


def detection_from_row(row: sa.Row) -> Detection:
    """A detection from a table row."""
    # row.count would be the tuple method: a Row is a tuple.
    return Detection(row.id, row.device_id, row.event_id, row.event, row.species,
                     row._mapping["count"],
                     row.confidence, row.observed_at, row.received_at, row.lon, row.lat,
                     row.visibility, row.source, row.photo_key, row.thumb_key, row.note)


def count_since(engine: sa.Engine, since: datetime) -> int:
    """How many detections were observed since ``since`` (on the observed_at index)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(wildlife_detections)
                            .where(wildlife_detections.c.observed_at >= since)).scalar_one()


def get(engine: sa.Engine, detection_id: int) -> Detection | None:
    """One detection, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(wildlife_detections).where(
            wildlife_detections.c.id == detection_id)).first()
    return detection_from_row(row) if row else None


def media_keys(engine: sa.Engine) -> set[str]:
    """Every photo key a detection refers to."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(wildlife_detections.c.photo_key,
                                      wildlife_detections.c.thumb_key))
        return {k for row in rows for k in row if k}


def by_media_key(engine: sa.Engine, key: str) -> Detection | None:
    """The detection whose photo or thumbnail is stored under ``key``, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(wildlife_detections).where(sa.or_(
            wildlife_detections.c.photo_key == key,
            wildlife_detections.c.thumb_key == key)).limit(1)).first()
    return detection_from_row(row) if row else None
