"""The bus map in Chromium: a bus marker appears and moves when a new position is posted,
without reloading the page; the page is axe-clean."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import expect

from geoapp.store.engine import migrate, open_engine
from geoapp.transit.gtfs import read_feed
from geoapp.transit.positions import Vehicles
from geoapp.transit.timetable import Timetable
from tests.browser.helpers import assert_axe_clean, bus_marker_position
from tests.conftest import LiveServer
from tests.transit.feeds import write_feed

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def bus_server(tmp_path_factory):
    """A geoapp with the test timetable, one registered bus, refreshing every second."""
    data = tmp_path_factory.mktemp("bus-var")
    engine = open_engine(f"sqlite:///{data / 'geoapp.sqlite3'}")
    migrate(engine)
    feed_dir = write_feed(data / "feed")
    Timetable(engine).replace(read_feed(feed_dir))
    shutil.rmtree(feed_dir)
    key = Vehicles(engine).add("bus1", "1号車", datetime.now(UTC))
    engine.dispose()
    server = LiveServer(data, env={"GEOAPP_BUS_REFRESH": "1"})
    yield server, key
    server.stop()


def _post(server, key, lat, lon):
    answer = httpx.post(f"{server.url}/api/v1/buses/positions", json={
        "vehicle": "bus1", "route": "R1", "lat": lat, "lon": lon,
        "timestamp": datetime.now(UTC).isoformat()},
        headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 201, answer.text


def test_a_bus_marker_moves_after_a_new_position_is_posted(page, page_watch, bus_server):
    server, key = bus_server
    _post(server, key, 37.9503, 139.3353)
    page.goto(server.url + "/buses")
    page.wait_for_function("() => window.geoappBuses && geoappBuses.layers.bus_positions "
                           "&& geoappBuses.layers.bus_positions.geoappUpdates > 0")
    assert bus_marker_position(page, "bus_positions", "bus1") == pytest.approx(
        [37.9503, 139.3353])
    marker = page.locator(".geoapp-bus").first
    expect(marker).to_contain_text("バス: 1号車、系統 1")
    page.evaluate("window.__sameDocument = true")
    _post(server, key, 37.9452, 139.3196)
    page.wait_for_function(
        "() => { const m = geoappBuses.layers.bus_positions.geoappMarkers.bus1;"
        " return m && Math.abs(m.getLatLng().lat - 37.9452) < 1e-6; }", timeout=10_000)
    assert page.evaluate("window.__sameDocument") is True  # moved without a reload
    page.wait_for_load_state("networkidle")
    page_watch.assert_clean()
    assert_axe_clean(page, "/buses")


def test_the_public_map_draws_bus_routes_in_their_route_colours(page, page_watch, bus_server):
    server, _ = bus_server
    colour = httpx.get(f"{server.url}/collections/bus_routes/items").json()[
        "features"][0]["properties"]["color"]
    page.goto(server.url + "/")
    page.wait_for_function("() => window.geoapp && geoapp.layers.bus_routes "
                           "&& geoapp.layers.bus_routes.geoappLoaded")
    page.evaluate("() => geoappMap.addLayer(geoapp.layers.bus_routes)")
    strokes = page.evaluate("""() => {
        const out = [];
        geoapp.layers.bus_routes.eachLayer(l => out.push(l.options.color));
        return out; }""")
    assert strokes and set(strokes) == {colour}
    assert colour != "#1f5fa8"  # the route's own colour, not the layer's default
    page_watch.assert_clean()


def test_buses_move_on_the_public_map_too(page, page_watch, bus_server):
    server, key = bus_server
    _post(server, key, 37.9503, 139.3353)
    page.goto(server.url + "/")
    page.wait_for_function("() => window.geoappBuses && geoappBuses.layers.bus_positions "
                           "&& geoappBuses.layers.bus_positions.geoappUpdates > 0")
    page.evaluate("window.__sameDocument = true")
    _post(server, key, 37.9452, 139.3196)
    page.wait_for_function(
        "() => { const m = geoappBuses.layers.bus_positions.geoappMarkers.bus1;"
        " return m && Math.abs(m.getLatLng().lat - 37.9452) < 1e-6; }", timeout=10_000)
    assert page.evaluate("window.__sameDocument") is True
    page_watch.assert_clean()
