"""Store-backed collections answer every page with one SQL query, at any size.

Each test runs on SQLite (R*Tree) and PostGIS (GiST) with a few thousand reports inserted
straight into the store, and watches the SQL the app sends with SQLAlchemy's own events.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from geoapp.app import create_app
from geoapp.features.live import COUNT_LIMIT, MAX_OFFSET
from geoapp.features.source import filter_key
from geoapp.staff.figures import figures, fiscal_year
from geoapp.store.schema import transit_positions, wildlife_detections
from geoapp.wildlife.layer import DetectionSource
from geoapp.wildlife.mesh import generalise
from tests.bulk import add_photo, insert_reports, report_row, synthetic_reports
from tests.conftest import city_towns

ITEMS = "/collections/reports/items"


def _engine_of(app) -> sa.Engine:
    return app.state.reports.store.engine


def _engine(client) -> sa.Engine:
    return _engine_of(client.app)


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[tuple[str, object]]]:
    """Every statement (SQL and parameters) the engine sends while the block runs."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _pages(client, url: str) -> Iterator[dict]:
    """Every page from ``url`` on, following next links."""
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        yield body
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)


def _public(rows: list[dict]) -> list[int]:
    return [i for i, row in enumerate(rows) if row["status_code"] != "closed"]


@pytest.fixture
def city(engine_client):
    """3,000 synthetic reports over the city: (client, their rows, their ids)."""
    rows = list(synthetic_reports(3000))
    ids = insert_reports(_engine(engine_client), rows)
    return engine_client, rows, ids


def test_limit_10_is_ten_reports_a_next_link_and_an_exact_count(city):
    client, rows, ids = city
    body = client.get(ITEMS, params={"limit": 10}).json()
    public = [ids[i] for i in _public(rows)]
    assert body["numberReturned"] == 10
    assert [int(f["id"]) for f in body["features"]] == public[:10]
    assert body["numberMatched"] == len(public)
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert "cursor=" in links["next"] and "offset" not in links["next"]
    assert "taro@example.jp" not in str(body) and "新発田 太郎" not in str(body)


def test_following_next_visits_every_report_once_in_order_as_new_ones_arrive(city):
    client, rows, ids = city
    engine = _engine(client)
    seen: list[int] = []
    arrived: list[int] = []
    for page in _pages(client, f"{ITEMS}?limit=400"):
        seen += [int(f["id"]) for f in page["features"]]
        if len(arrived) < 3:  # residents keep reporting while a client pages
            arrived += insert_reports(engine, [report_row(139.33, 37.95)])
        assert "prev" not in {link["rel"] for link in page["links"]}
    public = [ids[i] for i in _public(rows)]
    assert len(seen) == len(set(seen)), "a report came twice"
    assert seen == sorted(seen)
    assert seen == public + arrived  # every one, in order; the new ones at the end


def test_a_deep_offset_is_refused_with_a_pointer_to_the_next_link(city):
    client, _, _ = city
    answer = client.get(ITEMS, params={"offset": MAX_OFFSET + 1})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "next link" in answer.json()["detail"]
    fine = client.get(ITEMS, params={"offset": 2000, "limit": 5})
    assert fine.status_code == 200 and fine.json()["numberReturned"] == 5


def test_a_cursor_that_is_not_ours_is_a_400(city):
    client, _, _ = city
    # Not base64, not JSON, an id of the wrong type: each a clear 400, never a 500.
    for bad in ("!!", "garbage", "W251bGwsImEiXQ"):
        answer = client.get(ITEMS, params={"cursor": bad})
        assert answer.status_code == 400, bad
        assert "cursor" in answer.json()["detail"]
    assert client.get("/collections/shelters/items", params={"cursor": "x"}).status_code == 400


@pytest.mark.parametrize("path", ["index", "scan"])
def test_a_bbox_edge_between_two_points_returns_exactly_the_inside_ones(
        engine_client, path, monkeypatch):
    if path == "scan":  # SQLite reads a box holding most reports in id order instead
        monkeypatch.setattr("geoapp.store.reports.RTREE_PROBE", 5)
    engine = _engine(engine_client)
    filler = list(synthetic_reports(500))
    insert_reports(engine, filler)
    # 1e-8 degrees apart (about 1 mm): the R*Tree's 32-bit boxes and GiST's float boxes
    # cannot tell these apart, only the exact test can.
    inside, on_edge, outside = insert_reports(engine, [
        report_row(139.50000000, 37.90000000), report_row(139.50000001, 37.90000000),
        report_row(139.50000002, 37.90000000)])
    body = engine_client.get(ITEMS, params={
        "bbox": "139.49,37.89,139.50000001,37.91", "limit": 1000}).json()
    found = {int(f["id"]) for f in body["features"]}
    assert {inside, on_edge} <= found and outside not in found
    others = [r for r in filler if r["status_code"] != "closed"
              and 139.49 <= r["lon"] <= 139.50000001 and 37.89 <= r["lat"] <= 37.91]
    assert body["numberMatched"] == len(found) == len(others) + 2
    for feature in body["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert 139.49 <= lon <= 139.50000001 and 37.89 <= lat <= 37.91


def test_filters_combine_with_bbox_and_paging(city):
    client, rows, ids = city
    box = (139.30, 37.85, 139.55, 38.00)
    expected = [ids[i] for i, row in enumerate(rows)
                if row["category_code"] == "gutter" and row["status_code"] in ("received",
                                                                               "acknowledged")
                and box[0] <= row["lon"] <= box[2] and box[1] <= row["lat"] <= box[3]]
    assert 20 < len(expected) < 300
    url = f"{ITEMS}?limit=7&category=側溝・排水&status_group=new&bbox={','.join(map(str, box))}"
    seen, matched = [], set()
    for page in _pages(client, url):
        seen += [int(f["id"]) for f in page["features"]]
        matched.add(page["numberMatched"])
        assert all(f["properties"]["category_code"] == "gutter" for f in page["features"])
    assert seen == expected
    assert matched == {len(expected)}


def test_number_matched_is_left_out_when_more_than_the_count_limit_match(engine_client):
    engine = _engine(engine_client)
    insert_reports(engine, (report_row(139.3 + n * 1e-5, 37.95, status="received")
                            for n in range(COUNT_LIMIT + 5)))
    body = engine_client.get(ITEMS, params={"limit": 10}).json()
    assert "numberMatched" not in body and body["numberReturned"] == 10
    selective = engine_client.get(ITEMS, params={"limit": 10, "bbox": "139.3,37.9,139.300105,38"})
    assert selective.json()["numberMatched"] == 11  # the first eleven, 1e-5 degrees apart
    html = engine_client.get(ITEMS, params={"limit": 10, "f": "html"}).text
    assert "10,000 超" in html


def test_a_page_loads_photos_only_for_its_own_reports(city):
    client, rows, ids = city
    engine = _engine(client)
    public = [ids[i] for i in _public(rows)]
    for n in (0, 5, 200, 2500):  # photos on the page and far away from it
        add_photo(engine, public[n], f"photo{n}")
    with _statements(engine) as seen:
        body = client.get(ITEMS, params={"limit": 10}).json()
    on_page = [int(f["id"]) for f in body["features"]]
    photo_queries = [(sql, params) for sql, params in seen if "report_photos" in sql]
    assert len(photo_queries) == 1
    sql, params = photo_queries[0]
    values = list(params.values()) if isinstance(params, dict) else list(params)
    assert sorted(values) == sorted(on_page)  # the IN list is this page's ten ids
    assert len([s for s, _ in seen if re.search(r"\bFROM reports\b", s)]) <= 3
    thumbs = {f["id"]: f["properties"]["thumbnail"] for f in body["features"]}
    assert thumbs[str(public[0])].endswith("/media/photo0-thumb.jpg")
    assert thumbs[str(public[1])] is None


def test_collections_and_the_map_do_not_load_every_report(city):
    client, rows, _ = city
    engine = _engine(client)
    public = [rows[i] for i in _public(rows)]
    with _statements(engine) as seen:
        doc = client.get("/collections/reports").json()
        client.get("/collections")
        client.get("/collections?f=html")
        page = client.get("/", headers={"Accept": "text/html"}).text
    on_reports = [s for s, _ in seen if re.search(r"\bFROM reports\b", s)]
    assert on_reports and all("count(" in s.lower() for s in on_reports), on_reports
    assert not [s for s, _ in seen if "report_photos" in s]
    assert doc["extent"]["spatial"]["bbox"][0] == pytest.approx([
        min(r["lon"] for r in public), min(r["lat"] for r in public),
        max(r["lon"] for r in public), max(r["lat"] for r in public)])
    assert f"（{len(public)}件）" in page


def test_the_count_and_extent_are_read_again_only_after_a_write(city):
    client, rows, _ = city
    engine = _engine(client)
    public = len(_public(rows))
    client.get("/collections/reports")
    with _statements(engine) as seen:
        doc = client.get("/collections/reports").json()
        page = client.get("/", headers={"Accept": "text/html"}).text
    assert not [s for s, _ in seen if re.search(r"\bFROM reports\b", s)]  # remembered
    assert f"（{public}件）" in page
    # A report in another process's write (straight into the store) is seen at once.
    far_east = doc["extent"]["spatial"]["bbox"][0][2] + 0.001
    insert_reports(engine, [report_row(far_east, 37.95)])
    doc = client.get("/collections/reports").json()
    assert doc["extent"]["spatial"]["bbox"][0][2] == pytest.approx(far_east)
    assert f"（{public + 1}件）" in client.get("/", headers={"Accept": "text/html"}).text


def test_map_views_are_counted_in_memory_and_written_in_batches(engine_settings, monkeypatch):
    monkeypatch.setattr("geoapp.app.MAP_VIEWS_FLUSH_SECONDS", 3600)  # only this test flushes
    app = create_app(engine_settings)
    engine = _engine_of(app)
    fy = fiscal_year(datetime.now(UTC))
    with TestClient(app) as client:
        with _statements(engine) as seen:
            for _ in range(3):
                assert client.get("/", headers={"Accept": "text/html"}).status_code == 200
        writes = [s for s, _ in seen if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
        assert writes == []  # SQLite's write lock stays free while people look at the map
        assert app.state.map_views.flush(engine) == 3
        assert figures(engine, fy).map_views == 3
        client.get("/", headers={"Accept": "text/html"})
    # Stopping the service writes what it counted since.
    assert figures(engine, fy).map_views == 4


def test_categories_and_states_are_not_read_on_every_page(city):
    client, _, _ = city
    engine = _engine(client)
    client.get(ITEMS, params={"limit": 5})
    with _statements(engine) as seen:
        client.get(ITEMS, params={"limit": 5, "category": "側溝・排水"})
        client.get(ITEMS, params={"limit": 5, "f": "html"})
    assert not [s for s, _ in seen if re.search(r"\bFROM (categories|statuses)\b", s)]
    store = client.app.state.reports.store
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE categories SET name_ja = '側溝' WHERE code = 'gutter'"))
    store.forget_reference()  # what `geoapp store seed` does in this process
    renamed = client.get(ITEMS, params={"limit": 1, "category": "側溝"}).json()
    assert renamed["numberReturned"] == 1


def _detection(n: int, *, lon: float, lat: float, visibility: str, when: datetime) -> dict:
    return {"device_id": None, "dedup_key": f"test:{n}", "event_id": str(n),
            "event": "detection", "species": "bear" if n % 2 else "boar", "count": 1,
            "confidence": 0.9, "observed_at": when, "received_at": when, "lon": lon,
            "lat": lat, "visibility": visibility, "source": "http", "thumb_key": None}


def test_wildlife_pages_by_cursor_and_tests_the_public_position(engine_client):
    engine = _engine(engine_client)
    now = datetime.now(UTC).replace(microsecond=0)
    # Several detections of the same minute: the cursor's id breaks the tie.
    rows = [_detection(n, lon=139.30 + n * 0.001, lat=37.95, when=now - timedelta(minutes=n // 4),
                       visibility=("exact", "mesh", "hidden")[n % 3]) for n in range(60)]
    with engine.begin() as conn:
        conn.execute(wildlife_detections.insert(), rows)
    url = "/collections/wildlife_detections/items?limit=7"
    seen = [f for page in _pages(engine_client, url) for f in page["features"]]
    ids = [int(f["id"]) for f in seen]
    assert len(ids) == len(set(ids)) == 40  # the hidden third is never public
    assert [f["properties"]["observed_at"] for f in seen] == sorted(
        (f["properties"]["observed_at"] for f in seen), reverse=True)
    mesh = next(r for n, r in enumerate(rows) if r["visibility"] == "mesh")
    centre_lon, centre_lat, _ = generalise(mesh["lon"], mesh["lat"])
    # A box around the raw point but not the cell's centre misses it, and the reverse.
    tight = f"{centre_lon - 1e-6},{centre_lat - 1e-6},{centre_lon + 1e-6},{centre_lat + 1e-6}"
    around = engine_client.get(url, params={"bbox": tight}).json()
    assert {tuple(f["geometry"]["coordinates"]) for f in around["features"]} == {
        (centre_lon, centre_lat)}
    raw = f"{mesh['lon'] - 1e-6},{mesh['lat'] - 1e-6},{mesh['lon'] + 1e-6},{mesh['lat'] + 1e-6}"
    assert abs(mesh["lon"] - centre_lon) > 1e-4  # the raw point is far from its cell's centre
    missed = engine_client.get(url, params={"bbox": raw}).json()
    assert str(rows.index(mesh) + 1) not in {f["id"] for f in missed["features"]}
    bears = engine_client.get(url, params={"species": "bear", "precision": "mesh"}).json()
    assert bears["numberMatched"] == len([r for r in rows if r["species"] == "bear"
                                          and r["visibility"] == "mesh"])


@pytest.mark.parametrize("path", ["index", "scan"])
def test_a_wildlife_bbox_uses_the_spatial_index_and_only_the_exact_test_decides(
        engine_client, path, monkeypatch):
    if path == "scan":  # SQLite reads a box holding most of the window on its time index
        monkeypatch.setattr("geoapp.wildlife.layer.RTREE_PROBE", 2)
    engine = _engine(engine_client)
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(5)
    rows = [_detection(n, lon=rng.uniform(139.3, 139.6), lat=rng.uniform(37.85, 37.95),
                       when=now - timedelta(minutes=n), visibility="exact") for n in range(40)]
    # 1e-8 degrees apart: only the exact test can tell these apart.
    for n, lon in enumerate((139.50000000, 139.50000001, 139.50000002)):
        rows.append(_detection(100 + n, lon=lon, lat=37.9, when=now, visibility="exact"))
    # A mesh device's detection is public at its cell's centre: a box holding the centre
    # but not the stored point finds it; one holding the stored point only does not.
    centre_lon, centre_lat, _ = generalise(139.4510, 37.9030)
    rows.append(_detection(200, lon=139.4510, lat=37.9030, when=now, visibility="mesh"))
    with engine.begin() as conn:
        conn.execute(wildlife_detections.insert(), rows)
    ids = {row["dedup_key"]: n + 1 for n, row in enumerate(rows)}
    url = "/collections/wildlife_detections/items"
    box = (139.49, 37.89, 139.50000001, 37.91)
    with _statements(engine) as seen:
        body = engine_client.get(url, params={"bbox": ",".join(map(str, box)),
                                              "limit": 1000}).json()
    found = {int(f["id"]) for f in body["features"]}
    inside = {ids[r["dedup_key"]] for r in rows if r["visibility"] == "exact"
              and box[0] <= r["lon"] <= box[2] and box[1] <= r["lat"] <= box[3]}
    assert found == inside and ids["test:101"] in found and ids["test:102"] not in found
    (page,) = [s for s, _ in seen if "ORDER BY wildlife_detections.observed_at" in s]
    index = "FROM wildlife_detections_rtree" if engine.dialect.name == "sqlite" else "geom &&"
    assert (index in page) == (path == "index" or engine.dialect.name == "postgresql")

    around_centre = (centre_lon - 1e-5, centre_lat - 1e-5, centre_lon + 1e-5, centre_lat + 1e-5)
    around_point = (139.4510 - 1e-5, 37.9030 - 1e-5, 139.4510 + 1e-5, 37.9030 + 1e-5)
    for bbox, expected in ((around_centre, {ids["test:200"]}), (around_point, set())):
        answer = engine_client.get(url, params={"bbox": ",".join(map(str, bbox))}).json()
        assert {int(f["id"]) for f in answer["features"]} == expected
    staff = DetectionSource(engine, towns=city_towns(), staff=True)
    assert {int(f.id) for f in staff.query(bbox=around_point, limit=10).features} == {
        ids["test:200"]}
    assert {int(f.id) for f in staff.query(bbox=box, limit=100).features} == inside


def test_bus_positions_page_in_sql_with_stale_filter(engine_client):
    engine = _engine(engine_client)
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as conn:
        conn.execute(transit_positions.insert(), [
            {"vehicle_id": f"bus{n:02d}", "label": f"{n}号車", "trip_id": None,
             "route_id": None, "lat": 37.95, "lon": 139.30 + n * 0.01, "bearing": None,
             "speed": None, "observed_at": now - timedelta(seconds=50 * n), "source": "device"}
            for n in range(6)])
    url = "/collections/bus_positions/items?limit=2"
    seen = [f["id"] for page in _pages(engine_client, url) for f in page["features"]]
    assert seen == [f"bus{n:02d}" for n in range(6)]
    stale = engine_client.get(url, params={"stale": "true", "limit": 10}).json()
    assert {f["id"] for f in stale["features"]} == {"bus03", "bus04", "bus05"}
    box = engine_client.get(url, params={"bbox": "139.30,37.9,139.325,38", "limit": 10}).json()
    assert {f["id"] for f in box["features"]} == {"bus00", "bus01", "bus02"}
    assert engine_client.get("/collections/bus_positions/items/bus04").json()["id"] == "bus04"


def _each_property_finds_its_feature(client, collection: str, feature_id: str,
                                     refused: set[str]) -> None:
    """Filtering by each published value of a feature finds that feature (the SQL and the
    published properties agree); composed properties are refused with a 400."""
    url = f"/collections/{collection}/items"
    feature = client.get(f"{url}/{feature_id}").json()
    layer = client.app.state.catalog.collection(collection)
    for prop in layer.spec.properties:
        value = filter_key(feature["properties"].get(prop.key))
        answer = client.get(url, params={prop.key: value, "limit": 10000})
        if prop.key in refused:
            assert answer.status_code == 400, prop.key
            continue
        assert answer.status_code == 200, (prop.key, answer.text)
        found = [f["id"] for f in answer.json()["features"]]
        assert feature_id in found, (prop.key, value)
        assert all(filter_key(f["properties"].get(prop.key)) == value
                   for f in answer.json()["features"]), prop.key


def test_every_published_property_filters_in_sql(engine_client):
    engine = _engine(engine_client)
    now = datetime.now(UTC).replace(microsecond=0)
    ids = insert_reports(engine, synthetic_reports(40))
    add_photo(engine, ids[0], "first")
    public = engine_client.get(ITEMS, params={"limit": 100}).json()["features"]
    for feature in (public[0], public[-1]):
        # The nearest town is worked out per page, not kept: it does not filter.
        _each_property_finds_its_feature(engine_client, "reports", feature["id"], {"place"})
    rows = [_detection(n, lon=139.30 + n * 0.01, lat=37.95, when=now - timedelta(minutes=n),
                       visibility=("exact", "mesh")[n % 2]) for n in range(6)]
    rows[0]["thumb_key"] = "abc-thumb.jpg"
    with engine.begin() as conn:
        conn.execute(wildlife_detections.insert(), rows)
    for detection_id in ("1", "2", "3"):
        _each_property_finds_its_feature(engine_client, "wildlife_detections", detection_id,
                                         {"label", "label_en", "place"})
    with engine.begin() as conn:
        conn.execute(transit_positions.insert(), [
            {"vehicle_id": "bus1", "label": "1号車", "trip_id": None, "route_id": "r1",
             "lat": 37.95, "lon": 139.3, "bearing": 90.0, "speed": None,
             "observed_at": now - timedelta(seconds=30), "source": "device"}])
    _each_property_finds_its_feature(engine_client, "bus_positions", "bus1", set())


def test_reading_every_report_goes_page_by_page_without_counting(city):
    client, rows, ids = city
    engine = _engine(client)
    source = client.app.state.catalog.collection("reports").source
    with _statements(engine) as seen:
        every = [int(f.id) for f in source.iter_features()]
    assert every == [ids[i] for i in _public(rows)]
    pages = [s for s, _ in seen if re.search(r"\bFROM reports\b", s)]
    assert len(pages) == len(every) // 1000 + 1  # chunks of 1000, no count among them
    assert not [s for s in pages if "count(" in s.lower()]
    photo_lists = [p for s, p in seen if "report_photos" in s]
    assert max(len(p) for p in photo_lists) <= 1000


def test_the_list_view_pages_by_cursor_too(city):
    client, rows, ids = city
    public = [ids[i] for i in _public(rows)]
    first = client.get(ITEMS, params={"f": "html", "limit": 100, "lang": "en"}).text
    assert f"Showing 1 to 100 of {len(public)}" in first
    href = re.search(r'<a href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "cursor=" in href
    second = client.get(href).text
    assert f"Showing 100 of {len(public)}" in second
    assert f">{public[100]}<" in second and f">{public[99]}<" not in second
    assert 'rel="prev"' not in second
