"""The staff queue, its map and the exports at scale: pages in SQL, capped counts, the area
through the spatial index, downloads streamed in constant memory.

Every test runs on SQLite and PostGIS with reports inserted straight into the store
(tests/bulk.py), and watches the SQL the app sends with SQLAlchemy's own events.
"""

from __future__ import annotations

import csv
import io
import pathlib
import re
import tempfile
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import geopandas as gpd
import orjson
import sqlalchemy as sa

from geoapp.features.live import COUNT_LIMIT
from geoapp.staff import queries
from geoapp.staff.queries import MAX_PAGE, PER_PAGE
from geoapp.store.schema import reports
from tests.bulk import START, insert_reports, report_row, synthetic_reports


def _engine(app) -> sa.Engine:
    return app.state.reports.store.engine


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _counts(statements: list[str]) -> list[str]:
    return [s for s in statements if re.search(r"\bcount\(", s, re.IGNORECASE)]


def test_a_large_queue_pages_in_sql_and_counts_only_up_to_the_limit(app, staff_client):
    ids = insert_reports(_engine(app), synthetic_reports(COUNT_LIMIT + 500))
    client = staff_client("road")
    with _statements(_engine(app)) as seen:
        first = client.get("/staff/api/reports", params={"status": "all", "sort": "oldest"})
    assert first.status_code == 200
    assert first.json()["total"] is None  # more than COUNT_LIMIT: not counted
    [count] = _counts(seen)
    assert re.search(r"\bLIMIT\b", count)  # bounded: never a count of every report
    numbers = [int(r["id"]) for r in first.json()["reports"]]
    assert numbers == ids[:PER_PAGE]
    second = client.get("/staff/api/reports", params={"status": "all", "page": 2}).json()
    assert [int(r["id"]) for r in second["reports"]] == ids[PER_PAGE:2 * PER_PAGE]
    page = client.get("/staff", params={"status": "all"}).text
    assert f"{COUNT_LIMIT:,} 超" in page and 'rel="next"' in page
    deepest = client.get("/staff/api/reports", params={"status": "all", "page": MAX_PAGE})
    assert deepest.status_code == 200 and len(deepest.json()["reports"]) == PER_PAGE
    too_deep = client.get("/staff/api/reports", params={"status": "all", "page": MAX_PAGE + 1})
    assert too_deep.status_code == 400 and "narrow the filters" in too_deep.json()["detail"]


def test_a_small_queue_is_counted_exactly_and_its_last_page_for_free(app, staff_client):
    insert_reports(_engine(app), synthetic_reports(2 * PER_PAGE + 7))
    client = staff_client("road")
    first = client.get("/staff/api/reports", params={"status": "all"}).json()
    assert first["total"] == 2 * PER_PAGE + 7
    with _statements(_engine(app)) as seen:
        last = client.get("/staff/api/reports", params={"status": "all", "page": 3}).json()
    assert last["total"] == 2 * PER_PAGE + 7 and len(last["reports"]) == 7
    assert _counts(seen) == []  # the page shows where the answer ends: nothing to count
    page = client.get("/staff", params={"status": "all", "page": 3}).text
    assert "3 / 3" in page and 'rel="next"' not in page and 'rel="prev"' in page


def test_every_sort_pages_without_repeating_and_exports_in_the_same_order(app, staff_client):
    engine = _engine(app)
    # Ties on purpose: one priority for many, the same moment for pairs of reports.
    rows = [report_row(139.33, 37.95, created=START + timedelta(hours=n // 2))
            for n in range(3 * PER_PAGE)]
    ids = insert_reports(engine, rows)
    with engine.begin() as conn:
        conn.execute(reports.update().where(reports.c.id.in_(ids[::2])).values(priority=1))
        conn.execute(reports.update().where(reports.c.id.in_(ids[1::6])).values(
            priority=3, updated_at=START + timedelta(days=400)))
    client = staff_client("road")
    for sort in ("oldest", "newest", "priority", "updated"):
        paged: list[int] = []
        for page in (1, 2, 3):
            answer = client.get("/staff/api/reports", params={"status": "all", "sort": sort,
                                                              "page": page}).json()
            paged += [int(r["id"]) for r in answer["reports"]]
        assert sorted(paged) == sorted(ids), sort  # every report once
        exported = client.get("/staff/export.csv", params={"status": "all", "sort": sort})
        table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        numbers = [int(r[0]) for r in table[1:]]
        assert numbers == paged, sort
    by_priority = client.get("/staff/api/reports", params={"status": "all",
                                                           "sort": "priority"}).json()
    assert {r["properties"]["priority"] for r in by_priority["reports"]} == {1}
    newest = client.get("/staff/api/reports", params={"status": "all", "sort": "updated"})
    assert int(newest.json()["reports"][0]["id"]) == max(ids[1::6])  # ties: highest id


def test_the_area_filter_uses_the_spatial_index_and_is_exact(app, staff_client):
    engine = _engine(app)
    box = (139.33, 37.95, 139.34, 37.96)
    inside, edge, outside = insert_reports(engine, [
        report_row(139.335, 37.955), report_row(139.34, 37.96),  # on the corner: inside
        report_row(139.34 + 1e-9, 37.955)])  # a hair east: the rounded index box takes it
    insert_reports(engine, synthetic_reports(300))
    client = staff_client("road")
    with _statements(engine) as seen:
        answer = client.get("/staff/api/reports", params={
            "status": "all", "bbox": ",".join(map(str, box))}).json()
    found = {int(r["id"]) for r in answer["reports"]}
    assert {inside, edge} <= found and outside not in found
    assert all(box[0] <= r["geometry"]["coordinates"][0] <= box[2]
               and box[1] <= r["geometry"]["coordinates"][1] <= box[3]
               for r in answer["reports"])
    index = "reports_rtree" if engine.dialect.name == "sqlite" else "&&"
    assert any(index in s for s in seen)
    assert not any(re.search(r"BETWEEN", s) for s in seen)


def test_the_staff_map_gets_a_bounded_answer_and_the_export_gets_everything(app, staff_client):
    ids = insert_reports(_engine(app), synthetic_reports(1500))
    client = staff_client("road")
    page = client.get("/staff", params={"status": "all"}).text
    # The map's script carries its data URL as JSON (with & written \u0026).
    [url] = {u.replace("\\u0026", "&") for u in re.findall(
        r'/staff/export\.geojson\?[^"]*limit=\d+[^"]*', page)}
    assert "limit=1000" in url and "status=all" in url
    assert "一度に 1,000 件まで" in page  # the map says it does not show them all at once
    drawn = client.get(url)
    body = drawn.json()
    assert body["numberReturned"] == len(body["features"]) == 1000
    assert body["numberMatched"] == 1500
    assert [int(f["id"]) for f in body["features"]] == ids[:1000]
    assert client.get("/staff/export.geojson", params={"limit": "0"}).status_code == 400
    assert client.get("/staff/export.geojson", params={"limit": "x"}).status_code == 400
    everything = client.get("/staff/export.geojson", params={"status": "all"})
    assert everything.headers["content-disposition"].startswith("attachment")
    features = orjson.loads(everything.content)["features"]
    assert [int(f["id"]) for f in features] == ids
    assert "taro@example.jp" not in everything.text



def _map_config(page: str) -> dict:
    """The queue map layer's configuration, as the page's map script carries it."""
    start = page.index("geoapp.featureLayer(") + len("geoapp.featureLayer(")
    return orjson.loads(page[start:page.index(");", start)])


def test_the_queue_map_asks_for_its_view_and_learns_when_more_are_in_it(app, staff_client):
    engine = _engine(app)
    crowded_view, quiet_view = (139.25, 37.90, 139.27, 37.92), (139.39, 37.94, 139.41, 37.96)
    crowded = insert_reports(engine, [report_row(139.255 + (n % 50) * 2e-4,
                                                 37.905 + (n // 50) * 2e-4)
                                      for n in range(1005)])
    quiet = insert_reports(engine, [report_row(139.40, 37.945 + n * 5e-3) for n in range(3)])
    [outside] = insert_reports(engine, [report_row(139.41 + 1e-6, 37.95)])  # a hair east
    client = staff_client("road")
    config = _map_config(client.get("/staff", params={"status": "all"}).text)
    # The browser adds the view's bbox to this URL: it holds the filters, not an area.
    assert config["inView"] is True and config["limit"] == 1000 and config["area"] is None
    assert "bbox" not in config["url"] and "status=all" in config["url"]
    url = config["url"]
    with _statements(engine) as seen:
        quiet_answer = client.get(f"{url}&bbox={','.join(map(str, quiet_view))}").json()
    assert [int(f["id"]) for f in quiet_answer["features"]] == quiet  # not `outside`
    assert quiet_answer["numberReturned"] == quiet_answer["numberMatched"] == 3
    index = "reports_rtree" if engine.dialect.name == "sqlite" else "&&"
    assert any(index in s for s in seen)  # the spatial index chooses the candidates
    crowded_answer = client.get(f"{url}&bbox={','.join(map(str, crowded_view))}").json()
    assert crowded_answer["numberReturned"] == 1000 and crowded_answer["numberMatched"] == 1005
    assert [int(f["id"]) for f in crowded_answer["features"]] == crowded[:1000]  # queue order
    whole_city = client.get(f"{url}&bbox=139.2,37.8,139.7,38.1").json()
    assert whole_city["numberMatched"] == 1005 + 3 + 1
    # The download of the same area has every report of it, not the map's first 1,000.
    download = client.get("/staff/export.geojson", params={
        "status": "all", "bbox": ",".join(map(str, crowded_view))})
    assert sorted(int(f["id"]) for f in orjson.loads(download.content)["features"]) == crowded
    for bad in ("139.41,37.94,139.39,37.96", "139.3,37.9,139.4", "200,37.9,201,38"):
        answer = client.get(f"{url}&bbox={bad}")
        assert answer.status_code == 400 and answer.json()["title"], bad


def test_a_queue_filtered_to_an_area_opens_its_map_on_that_area(app, staff_client):
    client = staff_client("road")
    page = client.get("/staff", params={"status": "all", "bbox": "139.3,37.9,139.35,37.95"})
    config = _map_config(page.text)
    # The view is kept within the filter by the browser; the map opens on the area.
    assert config["area"] == [139.3, 37.9, 139.35, 37.95] and "bbox" not in config["url"]
    assert "fitBounds" in page.text and "[[37.9, 139.3], [37.95, 139.35]]" in page.text


EXPORTS = 20_000


def _streamed(client, url: str, params: dict[str, str]) -> tuple[bytes, int, int]:
    """The first bytes, the size and the server's peak of traced memory while streaming."""
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    size, head, tail = 0, b"", b""
    with client.stream("GET", url, params=params) as answer:
        assert answer.status_code == 200, url
        for chunk in answer.iter_bytes():  # decoded: the GZip layer compresses
            head = head or chunk[:64]
            size += len(chunk)
            tail = (tail + chunk)[-20_000:]
    _, peak = tracemalloc.get_traced_memory()
    return head, size, peak - start


def test_exports_and_downloads_of_20000_reports_stream_in_constant_memory(app, staff_client):
    engine = _engine(app)
    ids = insert_reports(engine, synthetic_reports(EXPORTS, seed=3))
    with engine.connect() as conn:
        public = conn.execute(sa.select(sa.func.count()).select_from(reports).where(
            reports.c.status_code != "closed")).scalar_one()
    client = staff_client("road")
    downloads = [
        ("/staff/export.csv", {"status": "all"}, EXPORTS + 1),
        ("/staff/export.geojson", {"status": "all"}, EXPORTS),
        ("/opendata/recommended/reports_open311_bulk.csv", {}, EXPORTS + 1),
        ("/opendata/reports.geojson", {}, public),
        ("/opendata/reports.csv", {}, public + 1),
    ]
    for url, params, _ in downloads:  # warm up what is made once (templates, SQL caches)
        client.get(url, params={**params, "category": "nothing"})
    tracemalloc.start()
    try:
        # What holding every report costs, as the old exports did before writing a byte.
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        held = list(queries.every_report(engine))
        whole = tracemalloc.get_traced_memory()[1] - start
        del held
        for url, params, expected in downloads:
            head, size, peak = _streamed(client, url, params)
            body = client.get(url, params=params).content
            assert len(body) == size
            if url.endswith(".csv"):
                assert head.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs, once
                rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
                assert len(rows) == expected, url
                if "staff" in url or "open311" in url:
                    assert [int(r[0]) for r in rows[1:]] == ids
            else:
                assert len(orjson.loads(body)["features"]) == expected, url
            assert b"taro@example.jp" not in body
            # A chunk of 1,000 rows at a time, well under all 20,000 rows, which the old
            # code held (and their features, and the whole file) before sending a byte.
            assert peak < whole / 2, (url, peak, whole)
            print(f"{url}: {size / 2**20:.1f} MiB streamed, peak {peak / 2**20:.1f} MiB; "
                  f"all rows held: {whole / 2**20:.1f} MiB")
    finally:
        tracemalloc.stop()


def test_a_geopackage_of_many_reports_is_built_on_disk_in_chunks_and_removed(
        app, staff_client, tmp_path):
    engine = _engine(app)
    insert_reports(engine, synthetic_reports(2500, seed=7))
    with engine.connect() as conn:
        public = conn.execute(sa.select(sa.func.count()).select_from(reports).where(
            reports.c.status_code != "closed")).scalar_one()
    folder = pathlib.Path(tempfile.gettempdir())
    before = set(folder.glob("geoapp-*.gpkg"))
    answer = staff_client("road").get("/opendata/reports.gpkg")
    assert answer.status_code == 200
    path = tmp_path / "reports.gpkg"
    path.write_bytes(answer.content)
    frame = gpd.read_file(path, engine="pyogrio")
    assert len(frame) == public > 2000  # three chunks appended into one table
    assert frame["number"].astype(int).is_monotonic_increasing
    assert "reporter_email" not in frame.columns
    assert set(folder.glob("geoapp-*.gpkg")) <= before  # the temporary file is gone
