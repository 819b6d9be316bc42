"""The spatial indexes of the store's point tables, one way on both engines.

A table indexed here has ``id``, ``lon`` and ``lat`` columns and, per engine: on SQLite an
R*Tree ``<table>_rtree(id, min_lon, max_lon, min_lat, max_lat)`` kept by triggers, on
PostGIS a generated ``geom`` point with a GiST index (migrations 0001 for reports, 0009 for
wildlife detections). The indexes keep rounded boxes (the R*Tree 32-bit floats, GiST float
boxes), so they only choose candidates: pair them with an exact test of the coordinates.
"""

from __future__ import annotations

import sqlalchemy as sa

from geoapp.features.source import BBox


def index_clause(dialect: str, table: sa.Table, bbox: BBox) -> sa.ColumnElement[bool]:
    """The spatial index's (rounded, inclusive) clause for rows of ``table`` in ``bbox``."""
    minx, miny, maxx, maxy = bbox
    if dialect == "postgresql":
        # The generated geometry column lives only in the database (see the migrations).
        envelope = sa.func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
        return sa.literal_column(f"{table.name}.geom").op("&&", return_type=sa.Boolean)(
            envelope)
    return table.c.id.in_(sa.text(
        f"SELECT id FROM {table.name}_rtree WHERE max_lon >= :minx AND min_lon <= :maxx "
        "AND max_lat >= :miny AND min_lat <= :maxy"
    ).bindparams(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
        .columns(sa.column("id", sa.Integer)))


def candidates(conn: sa.Connection, table: sa.Table, bbox: BBox, probe: int
               ) -> sa.ColumnElement[bool] | None:
    """The spatial index's clause for ``bbox``, or None where scanning in order is cheaper.

    PostgreSQL's planner weighs the GiST index against the other indexes by itself. SQLite
    cannot: a box holding most of the table is answered faster by reading the table in
    order with the exact test, so the R*Tree is asked first whether it would return more
    than ``probe`` rows.
    """
    clause = index_clause(conn.dialect.name, table, bbox)
    if conn.dialect.name == "postgresql":
        return clause
    minx, miny, maxx, maxy = bbox
    count = sa.text(
        f"SELECT count(*) FROM (SELECT 1 FROM {table.name}_rtree WHERE max_lon >= :minx "
        "AND min_lon <= :maxx AND max_lat >= :miny AND min_lat <= :maxy LIMIT :n)"
    ).bindparams(minx=minx, miny=miny, maxx=maxx, maxy=maxy, n=probe + 1)
    return clause if conn.execute(count).scalar_one() <= probe else None
