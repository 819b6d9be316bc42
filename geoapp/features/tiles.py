"""Mapbox Vector Tiles of a store-backed layer in the WebMercatorQuad tile matrix set.

A tile is ONE SQL query on either engine: the source's own public rows, the same bbox
test as its pages (spatial index, then the exact test), and either the points (deep zoom)
or a density grid (shallow zoom, or a tile too full to draw point by point). A source whose
store keeps counts per cell (:class:`Cells`, reports) has its grid summed from the stored
cells, a bounded number of rows whatever the number of points; any other source's points
are counted per cell with ``GROUP BY``. PostGIS encodes the tile itself (``ST_AsMVT``); on
SQLite the rows are encoded by ``mapbox-vector-tile``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mapbox_vector_tile
import shapely
import sqlalchemy as sa

from geoapp.errors import NotFound
from geoapp.features.params import whole_number

if TYPE_CHECKING:
    from geoapp.features.live import StoreSource

MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
#: The one tile matrix set served: its id and its URI in the OGC register.
TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
#: Deepest zoom served (about 2 cm a pixel at Shibata's latitude: deeper shows nothing new).
MAX_ZOOM = 22
#: Tile coordinates span 0..EXTENT; points up to BUFFER beyond the edge are kept, so a
#: symbol on the edge is drawn whole by both tiles it overlaps.
EXTENT = 4096
BUFFER = 64
#: From this zoom on, points are drawn one by one (a z14 tile is about 1.8 km wide here).
POINTS_FROM = 14
#: A deeper tile holding more points than this is drawn as a density grid all the same:
#: more points than this on 256 px are a blot, not markers, and encoding them costs more
#: than the 50 ms a tile may take (a z14 tile holds ~3,300 at 1,000,000 reports).
MAX_POINTS = 2000
#: Cells per tile side in a density grid (16 screen pixels a cell on a 256 px tile).
GRID = 16
#: GRID as zoom levels: a grid cell of a zoom-z tile is a tile of zoom z + 4.
_GRID_ZOOMS = GRID.bit_length() - 1
#: Half the Web Mercator world's width, in metres.
_HALF_WORLD = math.pi * 6378137.0


@dataclass(frozen=True)
class Cells:
    """Counts of a source's points per WebMercatorQuad tile, kept by its store.

    ``table`` has the columns ``level`` (a zoom), ``cx``, ``cy`` (the tile's column and row
    at that zoom), ``count``, ``sum_lon`` and ``sum_lat`` (of the points counted), and
    holds every level of ``levels``; ``where`` says which of its rows the public may see.
    """

    table: sa.Table
    levels: tuple[int, ...]
    where: tuple[sa.ColumnElement[bool], ...] = ()

    def level_for(self, tile: Tile) -> int | None:
        """The stored level a grid of ``tile`` sums (the nearest as deep as its cells, i.e.
        zoom z + 4), or None when no level is that deep."""
        deep_enough = [level for level in self.levels if level >= tile.z + _GRID_ZOOMS]
        return min(deep_enough) if deep_enough else None


@dataclass(frozen=True)
class Tile:
    """One tile of WebMercatorQuad: zoom, column (x) and row (y, from the north)."""

    z: int
    x: int
    y: int

    def lon(self, column: float) -> float:
        """The longitude of a column edge (``column`` may be fractional)."""
        return column / 2 ** self.z * 360.0 - 180.0

    def lat(self, row: float) -> float:
        """The latitude of a row edge (``row`` may be fractional)."""
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / 2 ** self.z))))

    def bounds(self, buffer: float = 0.0) -> tuple[float, float, float, float]:
        """minLon, minLat, maxLon, maxLat of the tile, grown by ``buffer`` tile units."""
        grow = buffer / EXTENT
        return (self.lon(self.x - grow), self.lat(self.y + 1 + grow),
                self.lon(self.x + 1 + grow), self.lat(self.y - grow))

    def to_tile(self, lon: float, lat: float) -> tuple[float, float]:
        """A position in tile units (0..EXTENT, y downwards), as ST_AsMVTGeom computes it."""
        size = 2 ** self.z
        column = (lon + 180.0) / 360.0 * size
        merc = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
        row = (1 - merc / math.pi) / 2 * size
        return (column - self.x) * EXTENT, (row - self.y) * EXTENT


def parse_tile(tile_matrix_set: str, z: str, y: str, x: str) -> Tile:
    """A tile from the path's text: ASCII digits within the matrix's range, else NotFound."""
    if tile_matrix_set != TMS_ID:
        raise NotFound(f"no tile matrix set {tile_matrix_set!r}; this service has {TMS_ID}")
    zoom = whole_number(z)
    if zoom is None or zoom > MAX_ZOOM:
        raise NotFound(f"no tile matrix {z!r}: zoom levels are 0 to {MAX_ZOOM}")
    row, column = whole_number(y), whole_number(x)
    if row is None or column is None or row >= 2 ** zoom or column >= 2 ** zoom:
        raise NotFound(f"no tile {y!r}/{x!r} at zoom {zoom}: rows and columns are 0 to "
                       f"{2 ** zoom - 1}")
    return Tile(zoom, column, row)


def render(source: StoreSource, layer: str, tile: Tile) -> bytes:
    """The tile of ``source`` as MVT bytes, its one layer named ``layer`` (empty: no data)."""
    now = source._now()
    lon, lat = source._position()
    # MVT feature ids are whole numbers; a layer keyed by text (bus ids) has none.
    with_id = source.order_id.type.python_type is int
    cells = source._cells(now)
    with source.engine.connect() as conn:
        # Stored cells tell at once whether a deep tile is too full for points, rather than
        # reading MAX_POINTS + 1 of them first.
        if tile.z >= POINTS_FROM and not (
                cells is not None and _stored_count(conn, cells, tile) > MAX_POINTS):
            box = tile.bounds(BUFFER)
            points = source._select(now).where(*source._where(conn, box, {}, now)) \
                .with_only_columns(source.order_id.label("id"), lon.label("lon"),
                                   lat.label("lat"), *source._tile_properties(now),
                                   maintain_column_froms=True).limit(MAX_POINTS + 1)
            body, count = _encode(conn, points, layer, tile, with_id=with_id)
            if count <= MAX_POINTS:
                return body
        # The grid counts only the tile's own points (no buffer), so no point counts twice.
        level = cells.level_for(tile) if cells is not None else None
        grid = _grid(source, conn, tile, now) if cells is None or level is None \
            else _stored_grid(cells, level, tile)
        return _encode(conn, grid, layer, tile, with_id=False)[0]


def _stored_count(conn: sa.Connection, cells: Cells, tile: Tile) -> int:
    """How many public points the tile holds, from the nearest stored level >= its zoom
    (0 when no level is that deep: the points are read and counted then)."""
    deep_enough = [level for level in cells.levels if level >= tile.z]
    if not deep_enough:
        return 0
    t, span = cells.table, min(deep_enough) - tile.z
    first_x, first_y, last = tile.x << span, tile.y << span, (1 << span) - 1
    return conn.execute(sa.select(sa.func.coalesce(sa.func.sum(t.c.count), 0)).where(
        t.c.level == min(deep_enough), t.c.cx.between(first_x, first_x + last),
        t.c.cy.between(first_y, first_y + last), *cells.where)).scalar_one()


def _stored_grid(cells: Cells, level: int, tile: Tile) -> sa.Select:
    """The tile's GRID × GRID cells summed from the stored cells of ``level``, at the mean
    position of their points.

    Grid cells are the tiles of zoom z + 4 (Mercator-aligned), each the sum of
    2^(level - z - 4) × as many stored cells; empty ones are left out.
    """
    t = cells.table
    span, shift = level - tile.z, level - tile.z - _GRID_ZOOMS
    first_x, first_y, last = tile.x << span, tile.y << span, (1 << span) - 1

    def grid_key(column: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
        return column.op(">>", return_type=sa.Integer)(shift) if shift else column

    count = sa.func.sum(t.c.count)
    return sa.select(count.label("count"), (sa.func.sum(t.c.sum_lon) / count).label("lon"),
                     (sa.func.sum(t.c.sum_lat) / count).label("lat")).where(
        t.c.level == level, t.c.cx.between(first_x, first_x + last),
        t.c.cy.between(first_y, first_y + last), *cells.where,
    ).group_by(grid_key(t.c.cx), grid_key(t.c.cy)).having(count > 0)


def _grid(source: StoreSource, conn: sa.Connection, tile: Tile, now: Any) -> sa.Select:
    """Points counted per cell of a GRID × GRID division of the tile, at their mean position.

    Cells are equal steps of longitude and latitude within the tile (Mercator's stretch
    across one tile is a fraction of a cell); the mean position always lies in the cell.
    """
    minx, miny, maxx, maxy = box = tile.bounds()
    lon, lat = source._position()
    cell_x = _floor(conn, (lon - minx) * (GRID / (maxx - minx)))
    cell_y = _floor(conn, (maxy - lat) * (GRID / (maxy - miny)))
    # One whole-number key per cell (a point on the east or south edge makes index GRID):
    # grouping by one key sorts about twice as fast as by the pair.
    cell = cell_x * (GRID + 1) + cell_y
    return source._select(now).where(*source._where(conn, box, {}, now)).with_only_columns(
        sa.func.count().label("count"), sa.func.avg(lon).label("lon"),
        sa.func.avg(lat).label("lat"), maintain_column_froms=True).group_by(cell)


def _floor(conn: sa.Connection, value: sa.ColumnElement[float]) -> sa.ColumnElement[int]:
    # Values are never negative here (the bbox test comes first): SQLite's CAST truncates,
    # which is floor for them, where PostgreSQL's rounds; floor() is there in every SQLite.
    if conn.dialect.name == "postgresql":
        return sa.func.floor(value)
    return sa.cast(value, sa.Integer)


def _encode(conn: sa.Connection, rows: sa.Select, layer: str, tile: Tile, *,
            with_id: bool) -> tuple[bytes, int]:
    """The rows (``lon``, ``lat``, maybe ``id``, the rest properties) as a tile, and their
    number."""
    if conn.dialect.name == "postgresql":
        return _encode_in_postgis(conn, rows, layer, tile, with_id=with_id)
    features = []
    for row in conn.execute(rows).mappings():
        x, y = tile.to_tile(row["lon"], row["lat"])
        shown = ("lon", "lat", "id") if with_id else ("lon", "lat")
        feature = {"geometry": shapely.Point(x, y),  # not WKT: the encoder parses that
                   "properties": {k: v for k, v in row.items() if k not in shown}}
        if with_id:
            feature["id"] = row["id"]
        features.append(feature)
    if not features or len(features) > MAX_POINTS:
        return b"", len(features)
    body = mapbox_vector_tile.encode(
        [{"name": layer, "features": features}],
        default_options={"extents": EXTENT, "y_coord_down": True})
    return body, len(features)


def _encode_in_postgis(conn: sa.Connection, rows: sa.Select, layer: str, tile: Tile, *,
                       with_id: bool) -> tuple[bytes, int]:
    f = sa.func
    q = rows.subquery("q")
    point = f.ST_Transform(f.ST_SetSRID(f.ST_MakePoint(q.c.lon, q.c.lat), 4326), 3857)
    geom = f.ST_AsMVTGeom(point, f.ST_TileEnvelope(tile.z, tile.x, tile.y), EXTENT, BUFFER,
                          True).label("geom")
    t = sa.select(*(c for c in q.c if c.key not in ("lon", "lat")), geom).subquery("t")
    extra = ["id"] if with_id else []
    # The count comes with the tile, so a tile too full for points costs one query.
    body, count = conn.execute(sa.select(
        f.ST_AsMVT(sa.literal_column("t"), layer, EXTENT, "geom", *extra), f.count()
    ).select_from(t)).one()
    return bytes(body or b""), count
