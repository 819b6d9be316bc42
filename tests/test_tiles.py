"""OGC API – Tiles: the store's layers as Mapbox Vector Tiles, on SQLite and on PostGIS.

Tiles are decoded with mapbox-vector-tile's decoder and compared with the reports put in:
which points a tile holds, where, with which properties, and how a zoomed-out tile counts.
"""

from __future__ import annotations

import math
import random

import mapbox_vector_tile
import pytest
import sqlalchemy as sa

from geoapp.features.tiles import EXTENT, GRID, MAX_POINTS, MEDIA_TYPE, POINTS_FROM, Tile
from geoapp.store.schema import reports
from tests.bulk import insert_reports, report_row

# A z17 tile in the middle of Shibata (about 300 m wide) and its neighbourhood.
Z17 = Tile(17, 116235, 51309)


def _tile_url(tile: Tile, collection: str = "reports") -> str:
    return f"/collections/{collection}/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}"


def _inside(tile: Tile, fx: float, fy: float) -> tuple[float, float]:
    """The lon/lat at the fraction (fx, fy) of the tile's width and height from its NW corner."""
    return tile.lon(tile.x + fx), tile.lat(tile.y + fy)


def _decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})


def _insert(client, rows) -> list[int]:
    return insert_reports(client.app.state.reports.store.engine, rows)


def test_a_deep_tile_holds_its_points_with_public_properties_only(engine_client) -> None:
    lon, lat = _inside(Z17, 0.25, 0.75)
    far_lon, far_lat = _inside(Z17, 1.5, 0.5)  # half a tile east: in the neighbour only
    near_lon, near_lat = _inside(Z17, -0.005, 0.5)  # just west, within the buffer
    inside, outside, buffered, closed = _insert(engine_client, [
        report_row(lon, lat, category="gutter", status="in_progress"),
        report_row(far_lon, far_lat),
        report_row(near_lon, near_lat),
        report_row(lon, lat, status="closed"),  # never public
    ])
    answer = engine_client.get(_tile_url(Z17))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == MEDIA_TYPE
    assert b"taro@example.jp" not in answer.content and "太郎".encode() not in answer.content
    layer = _decode(answer.content)["reports"]
    assert layer["extent"] == EXTENT
    by_id = {f["id"]: f for f in layer["features"]}
    assert set(by_id) == {inside, buffered}
    point = by_id[inside]
    assert point["properties"] == {"number": inside, "category_code": "gutter",
                                   "status_group": "progress"}
    x, y = point["geometry"]["coordinates"]
    assert abs(x - EXTENT * 0.25) <= 1 and abs(y - EXTENT * 0.75) <= 1
    bx, _ = by_id[buffered]["geometry"]["coordinates"]
    assert bx < 0  # drawn just beyond the west edge, so its symbol is not cut
    neighbour = engine_client.get(_tile_url(Tile(17, Z17.x + 1, Z17.y)))
    ids = {f["id"] for f in _decode(neighbour.content)["reports"]["features"]}
    assert ids == {outside}


def test_a_zoomed_out_tile_counts_points_per_cell(engine_client) -> None:
    tile = Tile(10, Z17.x >> 7, Z17.y >> 7)  # the z10 tile holding Z17
    crowd = [_inside(tile, 0.51 + i / 10_000, 0.52) for i in range(30)]
    alone = _inside(tile, 0.1, 0.1)
    outside = _inside(tile, 1.2, 0.5)
    _insert(engine_client, [report_row(lon, lat) for lon, lat in crowd]
            + [report_row(*alone), report_row(*outside),
               report_row(*alone, status="closed")])
    answer = engine_client.get(_tile_url(tile))
    assert answer.status_code == 200
    features = _decode(answer.content)["reports"]["features"]
    counts = sorted(f["properties"]["count"] for f in features)
    assert counts == [1, 30]  # the one outside the tile and the closed one are not counted
    assert all(set(f["properties"]) == {"count"} for f in features)
    group = next(f for f in features if f["properties"]["count"] == 30)
    x, y = group["geometry"]["coordinates"]
    # Drawn at the crowd's mean position, inside its cell.
    assert abs(x - EXTENT * 0.5115) <= 2 and abs(y - EXTENT * 0.52) <= 2
    assert int(x * GRID / EXTENT) == int(0.5115 * GRID)


def _expected_grid(tile: Tile, points: list[tuple[float, float]]) -> dict:
    """The grid a tile should show of ``points`` (lon, lat): per cell (column, row), the
    count and the mean position, computed here from the points themselves."""
    cells: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for lon, lat in points:
        x, y = tile.to_tile(lon, lat)
        if 0 <= x < EXTENT and 0 <= y < EXTENT:
            cells.setdefault((int(x * GRID // EXTENT), int(y * GRID // EXTENT)), []).append(
                (lon, lat))
    return {cell: (len(found), tile.to_tile(sum(p[0] for p in found) / len(found),
                                            sum(p[1] for p in found) / len(found)))
            for cell, found in cells.items()}


def _assert_grid(answer_body: bytes, tile: Tile, points: list[tuple[float, float]]) -> None:
    """The decoded tile shows exactly the expected cells, counts and mean positions."""
    features = _decode(answer_body)["reports"]["features"] if answer_body else []
    expected = _expected_grid(tile, points)
    shown = {}
    for feature in features:
        x, y = feature["geometry"]["coordinates"]
        cell = (math.floor(x * GRID / EXTENT), math.floor(y * GRID / EXTENT))
        assert cell not in shown  # one feature a cell, drawn inside its own cell
        shown[cell] = (feature["properties"]["count"], (x, y))
    assert {c: n for c, (n, _) in shown.items()} == {c: n for c, (n, _) in expected.items()}
    for cell, (_, (x, y)) in shown.items():
        ex, ey = expected[cell][1]
        assert abs(x - ex) <= 1 and abs(y - ey) <= 1, cell  # the points' mean position


@pytest.mark.parametrize("zoom", [7, 10, 13])
def test_a_zoomed_out_tile_follows_inserts_hidden_states_moves_and_deletes(
        engine_client, zoom: int) -> None:
    tile = Tile(zoom, Z17.x >> (17 - zoom), Z17.y >> (17 - zoom))
    rng = random.Random(zoom)
    # Points over the whole tile and a little beyond, a few crowds sharing a cell, and a
    # closed report (never counted). Kept off the very edges of cells and of the tile.
    spots = [(rng.uniform(-0.1, 1.1), rng.uniform(-0.1, 1.1)) for _ in range(120)]
    spots += [(0.53 + i / 997, 0.21 + i / 1009) for i in range(15)]
    spots = [(fx, fy) for fx, fy in spots
             if min(abs(fx * GRID - round(fx * GRID)), abs(fy * GRID - round(fy * GRID))) > 0.01]
    points = [_inside(tile, fx, fy) for fx, fy in spots]
    ids = _insert(engine_client, [report_row(lon, lat) for lon, lat in points]
                  + [report_row(*points[0], status="closed")])
    public = dict(zip(ids, points, strict=False))
    url = _tile_url(tile)
    _assert_grid(engine_client.get(url).content, tile, list(public.values()))

    engine = engine_client.app.state.reports.store.engine
    hidden, moved, deleted = ids[1], ids[2], ids[3]
    moved_to = _inside(tile, 0.9031, 0.0967)
    with engine.begin() as conn:
        conn.execute(reports.update().where(reports.c.id == hidden).values(status_code="closed"))
        conn.execute(reports.update().where(reports.c.id == moved)
                     .values(lon=moved_to[0], lat=moved_to[1]))
        conn.execute(reports.delete().where(reports.c.id == deleted))
        # A change that is neither place nor state leaves the counts as they are.
        conn.execute(reports.update().where(reports.c.id == ids[4]).values(supporters=3))
    del public[hidden], public[deleted]
    public[moved] = moved_to
    _assert_grid(engine_client.get(url).content, tile, list(public.values()))

    with engine.begin() as conn:  # back to a public state: counted again
        conn.execute(reports.update().where(reports.c.id == hidden)
                     .values(status_code="in_progress"))
    public[hidden] = points[1]
    _assert_grid(engine_client.get(url).content, tile, list(public.values()))


def test_a_zoomed_out_tile_reads_stored_cells_not_the_reports(engine_client) -> None:
    tile = Tile(10, Z17.x >> 7, Z17.y >> 7)
    _insert(engine_client, [report_row(*_inside(tile, 0.3, 0.3))])
    seen = _statements_of(engine_client, _tile_url(tile))
    tiles = [s for s in seen if "report_cells" in s]
    assert len(tiles) == 1 and not any("FROM reports" in s for s in seen)


def _statements_of(client, url: str) -> list[str]:
    """The SQL the app sends while answering ``url``."""
    engine = client.app.state.reports.store.engine
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("zoom", [POINTS_FROM, 17])
def test_a_deep_tile_too_full_for_points_is_a_grid(engine_client, zoom: int) -> None:
    tile = Tile(zoom, Z17.x >> (17 - zoom), Z17.y >> (17 - zoom))
    lon, lat = _inside(tile, 0.5, 0.5)
    _insert(engine_client, [report_row(lon, lat)] * (MAX_POINTS + 1))
    features = _decode(engine_client.get(_tile_url(tile)).content)["reports"]["features"]
    assert [f["properties"] for f in features] == [{"count": MAX_POINTS + 1}]
    # The stored cells said so: no point was read to find out (the points' query names
    # them by number); to z14 the grid itself is summed from cells (deeper, its 16 × 16
    # cells would be finer than the deepest stored level, so the points are counted).
    seen = _statements_of(engine_client, _tile_url(tile))
    assert not any("AS number" in s for s in seen)
    assert any("FROM reports" in s for s in seen) == (zoom > POINTS_FROM)
    # One point fewer than the limit after a delete: the tile holds points again.
    engine = engine_client.app.state.reports.store.engine
    with engine.begin() as conn:
        conn.execute(reports.delete().where(reports.c.id == 1))
        conn.execute(reports.delete().where(reports.c.id == 2))
    features = _decode(engine_client.get(_tile_url(tile)).content)["reports"]["features"]
    assert len(features) == MAX_POINTS - 1 and "number" in features[0]["properties"]


def test_an_empty_tile_is_an_empty_answer(engine_client) -> None:
    answer = engine_client.get(_tile_url(Tile(5, 3, 3)))
    assert answer.status_code == 200
    assert _decode(answer.content) == {}


def test_tiles_are_revalidated_by_etag_until_the_data_changes(engine_client) -> None:
    lon, lat = _inside(Z17, 0.5, 0.5)
    _insert(engine_client, [report_row(lon, lat)])
    first = engine_client.get(_tile_url(Z17))
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    again = engine_client.get(_tile_url(Z17), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    _insert(engine_client, [report_row(lon, lat)])
    changed = engine_client.get(_tile_url(Z17), headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert len(_decode(changed.content)["reports"]["features"]) == 2


@pytest.mark.parametrize("path", [
    "/collections/reports/tiles/WebMercatorQuad/23/0/0",  # deeper than served
    "/collections/reports/tiles/WebMercatorQuad/2/4/0",  # row past the matrix
    "/collections/reports/tiles/WebMercatorQuad/2/0/4",  # column past the matrix
    "/collections/reports/tiles/WebMercatorQuad/-1/0/0",
    "/collections/reports/tiles/WebMercatorQuad/x/0/0",
    "/collections/reports/tiles/WebMercatorQuad/1/0/1.5",
    "/collections/reports/tiles/WebMercatorQuad/1/0/%C2%B9",  # a digit, but not ASCII
    "/collections/reports/tiles/WorldCRS84Quad/1/0/0",
    "/collections/shelters/tiles/WebMercatorQuad/1/0/0",  # a file layer: no tiles
    "/collections/nothing/tiles/WebMercatorQuad/1/0/0",
    "/collections/shelters/tiles",
    "/tileMatrixSets/WorldCRS84Quad",
])
def test_bad_tiles_are_404_problems(client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_the_tileset_list_leads_to_the_tiles(client) -> None:
    collection = client.get("/collections/reports").json()
    tilesets_href = next(link["href"] for link in collection["links"]
                         if link["rel"].endswith("/tilesets-vector"))
    listing = client.get(tilesets_href).json()
    (entry,) = listing["tilesets"]
    assert entry["dataType"] == "vector"
    assert entry["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    self_href = next(link["href"] for link in entry["links"] if link["rel"] == "self")
    doc = client.get(self_href).json()
    template = next(link["href"] for link in doc["links"] if link["rel"] == "item")
    url = template.format(tileMatrix=0, tileRow=0, tileCol=0)
    assert client.get(url).headers["content-type"] == MEDIA_TYPE
    scheme = next(link["href"] for link in doc["links"]
                  if link["rel"].endswith("/tiling-scheme"))
    tms = client.get(scheme).json()
    assert tms["id"] == "WebMercatorQuad" and tms["tileMatrices"][3]["matrixWidth"] == 8
    shelters = client.get("/collections/shelters").json()
    assert not any(link["rel"].endswith("/tilesets-vector") for link in shelters["links"])
    conformance = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conformance

