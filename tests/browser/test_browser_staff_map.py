"""The staff queue's map in Chromium: it draws the filtered reports of its view, and again
after every move.

More than the map's limit crowd around city hall: it draws the first 1,000 and its status
line asks to zoom in. Moved to an empty place it draws nothing and says so; a report just
beyond the view's east edge appears once the map is dragged (a real mouse drag) to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from geoapp.staff.accounts import Accounts
from geoapp.store.engine import open_engine
from tests.browser.helpers import PageWatch
from tests.bulk import insert_reports, report_row
from tests.conftest import LiveServer, store_of_its_own

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
LAYER = "staff_reports"
#: Somewhere in the city without reports: about 5 km east of city hall.
EMPTY = (37.95, 139.39)


@dataclass
class Site:
    server: LiveServer
    engine: sa.Engine
    crowded: list[int]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, store_engine: str) -> Iterator[Site]:
    """geoapp with 1,005 open reports on a 50 × 21 grid (20 m apart) at city hall."""
    data_dir = tmp_path_factory.mktemp(f"staff-map-{store_engine}")
    with store_of_its_own(store_engine, data_dir, "browser_staff_map") as database_url:
        server = LiveServer(data_dir, env={"GEOAPP_DATABASE_URL": database_url})
        engine = open_engine(database_url)  # migrated by the server
        try:
            Accounts(engine).create("road", PASSWORD, "road", datetime.now(UTC),
                                    display_name="道路 一郎")
            crowded = insert_reports(engine, [
                report_row(139.3225 + (n % 50) * 2e-4, 37.9457 + (n // 50) * 2e-4)
                for n in range(1005)])
            yield Site(server, engine, crowded)
        finally:
            server.stop()
            engine.dispose()


def _drawn(page: Page) -> list[int]:
    """The report numbers the queue's map draws now."""
    return page.evaluate(
        "id => geoapp.layers[id].getLayers().map(l => Number(l.feature.id))", LAYER)


def _wait_drawn(page: Page, condition: str) -> None:
    """Wait until the drawn report numbers (``ids`` in ``condition``) satisfy it."""
    page.wait_for_function(
        f"() => {{ const g = geoapp.layers[{LAYER!r}];"
        f" const ids = g ? g.getLayers().map(l => Number(l.feature.id)) : [];"
        f" return g && g.geoappLoaded && ({condition}); }}", timeout=15_000)


def test_the_queue_map_draws_the_reports_of_its_view_as_it_moves(site: Site, page: Page,
                                                                   page_watch: PageWatch):
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/staff/export.geojson" in r.url
            else None)
    page.goto(f"{site.server.url}/staff/login?next=/staff")
    page.get_by_label("ユーザー名").fill("road")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_url(f"{site.server.url}/staff")
    status = page.locator("#staff-map-status")
    expect(status).to_have_attribute("role", "status")

    # The whole city in view: more reports than the map draws, and it says so.
    _wait_drawn(page, "ids.length === 1000")
    assert sorted(_drawn(page)) == site.crowded[:1000]  # the queue's first, in its order
    expect(status).to_have_text(
        "表示範囲に 1,000 件を超える報告があります。並び順で最初の 1,000 件だけを表示しています。"
        "すべて見るには地図を拡大してください。")

    # Zoomed in on one corner of the grid: every report there, and only those.
    page.evaluate("() => geoappMap.setView([37.9457, 139.3225], 18)")
    _wait_drawn(page, "ids.length > 0 && ids.length < 1000")
    corner = _drawn(page)
    bounds = page.evaluate("() => geoappMap.getBounds().toBBoxString()").split(",")
    west, south, east, north = map(float, bounds)
    with site.engine.connect() as conn:
        in_view = conn.execute(sa.text(
            "SELECT id FROM reports WHERE lon BETWEEN :w AND :e AND lat BETWEEN :s AND :n"),
            {"w": west, "e": east, "s": south, "n": north}).scalars().all()
    assert sorted(corner) == sorted(in_view)
    expect(status).to_have_text(f"地図の表示範囲の報告：{len(corner)} 件")

    # Somewhere empty: nothing drawn, and the line says so.
    page.evaluate("([lat, lon]) => geoappMap.setView([lat, lon], 16)", list(EMPTY))
    _wait_drawn(page, "ids.length === 0")
    expect(status).to_have_text("地図の表示範囲の報告：0 件")

    # A report just beyond the view's east edge (filed now) appears when the map is dragged.
    page.locator(".folium-map").scroll_into_view_if_needed()
    box = page.locator(".folium-map").bounding_box()
    assert box is not None
    beyond = page.evaluate(
        "([x, y]) => { const p = geoappMap.containerPointToLatLng([x, y]);"
        " return [p.lat, p.lng]; }", [box["width"] * 1.25, box["height"] / 2])
    [number] = insert_reports(site.engine, [report_row(beyond[1], beyond[0])])
    assert number not in _drawn(page)
    x, y = box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - box["width"] * 0.6, y, steps=12)  # the view moves east
    page.mouse.up()
    _wait_drawn(page, f"ids.length === 1 && ids[0] === {number}")
    expect(status).to_have_text("地図の表示範囲の報告：1 件")
    marker = page.locator(".leaflet-marker-icon")  # drawn, named, in the view
    expect(marker).to_have_count(1)
    expect(marker).to_be_visible()
    expect(marker).to_have_attribute("aria-label", "通報: 舗装の損傷・穴（受付）")
    # Its popup stays open while the map moves (a marker still in view is kept, not redrawn).
    marker.click()
    popup = page.locator(".leaflet-popup")
    expect(popup.locator("dt", has_text="受付番号").locator("+ dd")).to_have_text(str(number))
    before = page.evaluate(f"() => geoapp.layers[{LAYER!r}].geoappAsked")
    page.evaluate("() => geoappMap.panBy([40, 0], {animate: false})")
    page.wait_for_function(f"n => geoapp.layers[{LAYER!r}].geoappAnswered > n", arg=before)
    assert _drawn(page) == [number]
    assert page.evaluate(f"() => geoapp.layers[{LAYER!r}].getLayers()[0].isPopupOpen()")
    expect(popup).to_be_visible()
    # One request per view, each with the queue's filters, the view's bbox and the limit.
    assert len(asked) >= 5
    assert all(re.search(r"[?&]bbox=[-0-9.]+,[-0-9.]+,[-0-9.]+,[-0-9.]+(&|$)", url)
               and "limit=1000" in url and "status=open" in url for url in asked), asked
    page_watch.assert_clean()
