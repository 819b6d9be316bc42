"""Live positions over HTTP: device keys, 4xx for bad reports, GTFS-Realtime out and in,
the GeoJSON layer with stale and gone positions; the bus map and stop pages."""

from __future__ import annotations

import http.server
import threading
from datetime import UTC, datetime, timedelta

import pytest
from google.transit import gtfs_realtime_pb2

from geoapp.transit.gtfs import read_feed
from geoapp.transit.positions import Position
from tests.conftest import store_of_its_own
from tests.transit.feeds import SAMPLE, write_feed


@pytest.fixture
def client(engine_client):
    """Every test here runs on SQLite and on PostGIS: these doors touch the store."""
    return engine_client


KAWASAKI = {"lat": 35.5315, "lon": 139.6956}


def _setup(client, feed=SAMPLE, sample=True):
    buses = client.app.state.buses
    buses.timetable.replace(read_feed(feed), sample=sample)
    now = datetime.now(UTC)
    key = buses.positions.vehicles.add("bus1", "1号車", now)
    return buses, key


def _post(client, key, **body):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/api/v1/buses/positions", json=body, headers=headers)


def _now_iso(delta: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta)).isoformat()


def test_a_posted_position_is_served_as_geojson_and_gtfs_realtime(engine_client):
    _buses, key = _setup(engine_client)
    answer = _post(engine_client, key, vehicle="bus1", route="25000-1",
                   trip="25000-1-平日（月～金）-001", bearing=90, timestamp=_now_iso(), **KAWASAKI)
    assert answer.status_code == 201, answer.text
    items = engine_client.get("/collections/bus_positions/items").json()
    [bus] = items["features"]
    assert bus["id"] == "bus1" and bus["geometry"]["coordinates"] == [139.6956, 35.5315]
    assert bus["properties"]["route"] == "川56" and bus["properties"]["stale"] is False
    # Japan time with its offset, in the feature as in the open-data CSV built from it.
    assert bus["properties"]["observed_at"].endswith("+09:00")
    csv_text = engine_client.get("/opendata/bus_positions.csv").content.decode("utf-8-sig")
    assert bus["properties"]["observed_at"] in csv_text
    pb = engine_client.get("/gtfs-rt/vehicle-positions")
    assert pb.headers["content-type"] == "application/x-protobuf"
    message = gtfs_realtime_pb2.FeedMessage()
    message.ParseFromString(pb.content)
    [entity] = message.entity
    assert entity.vehicle.vehicle.id == "bus1" and entity.vehicle.vehicle.label == "1号車"
    assert entity.vehicle.trip.route_id == "25000-1"
    assert entity.vehicle.position.latitude == pytest.approx(35.5315, abs=1e-5)
    assert entity.vehicle.position.bearing == 90
    # A later report moves the bus; an older one arriving late does not move it back.
    assert _post(engine_client, key, lat=35.54, lon=139.67, timestamp=_now_iso(1)
                 ).status_code == 201
    assert _post(engine_client, key, lat=35.52, lon=139.66, timestamp=_now_iso(-30)
                 ).status_code == 201
    [bus] = engine_client.get("/collections/bus_positions/items").json()["features"]
    assert bus["geometry"]["coordinates"] == [139.67, 35.54]


@pytest.fixture(scope="module")
def refusing(tmp_path_factory, store_engine):
    """One geoapp on each engine with the sample timetable and bus1, for the many refused
    reports."""
    from fastapi.testclient import TestClient

    from geoapp.app import create_app
    from geoapp.settings import Settings

    data_dir = tmp_path_factory.mktemp(f"buses-{store_engine}")
    with store_of_its_own(store_engine, data_dir, "buses") as url:
        settings = Settings(environment="test", data_dir=data_dir / "var", database_url=url)
        with TestClient(create_app(settings)) as client:
            _buses, key = _setup(client)
            yield client, key


@pytest.mark.both_engines
@pytest.mark.parametrize(("key", "body", "status", "field"), [
    (None, {**KAWASAKI}, 401, None),
    ("wrong-key", {**KAWASAKI}, 401, None),
    ("KEY", {"vehicle": "bus2", **KAWASAKI}, 403, None),
    ("KEY", {"lat": "north", "lon": 139.69}, 422, "lat"),
    ("KEY", {"lat": 95, "lon": 139.69}, 422, "lat"),
    ("KEY", {"lat": 37.9477, "lon": 139.3275}, 422, "lat"),  # Shibata: outside this feed
    ("KEY", {**KAWASAKI, "timestamp": "yesterday"}, 422, "timestamp"),
    ("KEY", {**KAWASAKI, "future": 600}, 422, "timestamp"),
    ("KEY", {**KAWASAKI, "old": -7200}, 422, "timestamp"),
    ("KEY", {**KAWASAKI, "trip": "no-such-trip"}, 422, "trip"),
    ("KEY", {**KAWASAKI, "route": "R9"}, 422, "route"),
    ("KEY", {**KAWASAKI, "bearing": 400}, 422, "bearing"),
])
def test_bad_reports_get_a_clear_4xx(refusing, key, body, status, field):
    client, real_key = refusing
    body = dict(body)
    shift = body.pop("future", 0) or body.pop("old", 0)
    body.setdefault("timestamp", _now_iso(shift))
    answer = _post(client, real_key if key == "KEY" else key, **body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if field:
        assert answer.json()["field"] == field
    assert client.get("/collections/bus_positions/items").json()["features"] == []


def test_malformed_json_is_a_422_in_the_callers_language(client):
    _buses, key = _setup(client)
    answer = client.post("/api/v1/buses/positions", content=b"{lat:", headers={
        "Authorization": f"Bearer {key}", "Accept-Language": "ja"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "本文は JSON オブジェクトにしてください"


def test_positions_go_stale_after_two_minutes_and_disappear_later(client):
    buses, _key = _setup(client)
    now = datetime.now(UTC)
    for vehicle, age in (("fresh", 10), ("stale", 150), ("gone", 1900)):
        buses.positions._keep(Position(vehicle, vehicle, None, None, 35.53, 139.69, None,
                                       None, now - timedelta(seconds=age), "device"))
    features = client.get("/collections/bus_positions/items").json()["features"]
    assert {f["id"]: f["properties"]["stale"] for f in features} == \
        {"fresh": False, "stale": True}


def test_a_gtfs_realtime_feed_is_read_from_the_operators_url(client):
    buses, _key = _setup(client)
    message = gtfs_realtime_pb2.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    for vid, lat in (("op-7", 35.53), ("far", 37.95)):
        entity = message.entity.add()
        entity.id = vid
        entity.vehicle.vehicle.id = vid
        entity.vehicle.trip.route_id = "21000-0"
        entity.vehicle.position.latitude = lat
        entity.vehicle.position.longitude = 139.69 if vid == "op-7" else 139.33
        entity.vehicle.timestamp = int(datetime.now(UTC).timestamp())
    data = message.SerializeToString()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kept, skipped = buses.poll(f"http://127.0.0.1:{server.server_port}/vp.pb")
    finally:
        server.shutdown()
    assert (kept, skipped) == (1, 1)  # the one far outside the service area is skipped
    [bus] = client.get("/collections/bus_positions/items").json()["features"]
    assert bus["id"] == "op-7" and bus["properties"]["route"] == "川57"


def test_routes_and_stops_layers_and_the_stop_page(client, tmp_path):
    _setup(client, write_feed(tmp_path / "v3"), sample=False)
    routes = client.get("/collections/bus_routes/items").json()["features"]
    assert routes[0]["properties"]["color"] == "#00a0e9"
    assert routes[0]["geometry"]["type"] == "MultiLineString"
    stop = client.get("/collections/bus_stops/items/S1").json()
    assert stop["properties"]["name_kana"] == "しばたえきまえ"
    assert "23:59 1 西公園" in stop["properties"]["next_departures"]  # the every-day trip
    page = client.get("/buses/stops/S1?lang=en")
    assert page.status_code == 200 and "Shibata Station" in page.text
    assert "Nishi Park" in page.text and "23:59" in page.text
    data = client.get("/buses/stops/S1?f=json").json()
    assert data["departures"][-1]["trip_id"] == "T4"
    assert client.get("/buses/stops/NOPE").status_code == 404


def test_the_bus_map_marks_a_sample_timetable(client):
    assert "時刻表はまだ登録されていません" in client.get("/buses").text
    _setup(client)
    page = client.get("/buses")
    assert page.status_code == 200
    assert "サンプルデータ（川崎鶴見臨港バス株式会社）" in page.text
    assert "geoappBuses.busLayer" in page.text


def test_reservation_areas_come_from_a_file(tmp_path, settings):
    from fastapi.testclient import TestClient

    from geoapp.app import create_app

    areas = tmp_path / "areas.geojson"
    areas.write_text('{"type":"FeatureCollection","features":[{"type":"Feature",'
                     '"properties":{"id":"north","name":"北部予約区域","reservation":"前日17時まで"},'
                     '"geometry":{"type":"Polygon","coordinates":[[[139.35,38.0],[139.45,38.0],'
                     '[139.45,38.05],[139.35,38.05],[139.35,38.0]]]}}]}', encoding="utf-8")
    with TestClient(create_app(settings.model_copy(update={"bus_areas_file": areas}))) as c:
        [area] = c.get("/collections/bus_areas/items").json()["features"]
        assert area["id"] == "north" and area["properties"]["reservation"] == "前日17時まで"
        key = c.app.state.buses.positions.vehicles.add("dr1", "予約1", datetime.now(UTC))
        assert _post(c, key, lat=38.02, lon=139.40, timestamp=_now_iso()).status_code == 201


def test_the_positions_layer_has_an_etag_that_changes_when_a_bus_moves(client):
    # /collections and the positions' pages take their ETag from every layer's version,
    # the live positions' included (a merge once lost it: every such page answered 500).
    assert client.get("/collections").status_code == 200
    _buses, key = _setup(client)
    assert _post(client, key, lat=35.54, lon=139.67, timestamp=_now_iso()).status_code == 201
    first = client.get("/collections/bus_positions/items")
    assert first.status_code == 200 and first.headers["etag"].startswith('W/"')
    assert _post(client, key, lat=35.55, lon=139.68, timestamp=_now_iso(1)).status_code == 201
    moved = client.get("/collections/bus_positions/items",
                       headers={"If-None-Match": first.headers["etag"]})
    assert moved.status_code == 200  # not 304: the bus is somewhere else now
    assert moved.headers["etag"] != first.headers["etag"]
    assert moved.json()["features"][0]["geometry"]["coordinates"] == [139.68, 35.55]
