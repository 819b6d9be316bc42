"""The reports layer in Chromium, drawn from vector tiles: points in view come as tiles, a
click fetches the one report for its popup, and layers left hidden are never fetched."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tests.browser.helpers import tab_through_map, wait_for_layer
from tests.bulk import insert_reports, report_row, synthetic_reports
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

#: A spot in the city away from the shelters, where the tested report stands alone.
SPOT = (139.3012, 37.9533)
TILES = "/collections/reports/tiles/WebMercatorQuad/"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> LiveServer:
    data_dir = tmp_path_factory.mktemp("tiles-var")
    live = LiveServer(data_dir)
    engine = sa.create_engine(f"sqlite:///{data_dir / 'geoapp.sqlite3'}")
    ids = insert_reports(engine, [report_row(*SPOT, category="gutter", status="in_progress",
                                             description="<img src=x onerror=alert(1)>")]
                         + list(synthetic_reports(2000)))
    engine.dispose()
    live.report = ids[0]
    yield live
    live.stop()


def _requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


def test_reports_come_from_tiles_and_a_click_opens_the_report(page, page_watch, server) -> None:
    seen = _requests(page)
    page.goto(server.url + "/")
    wait_for_layer(page, "reports")
    # Zoomed out, the city's reports are drawn as counted cells, from tiles only.
    cells = page.locator(".geoapp-tiles-reports path[role=button]")
    expect(cells.first).to_be_attached()
    assert any(TILES in url for url in seen)
    assert not any("/collections/reports/items" in url for url in seen)
    label = cells.first.get_attribute("aria-label")
    assert label.startswith("通報: ") and label.endswith("のまとまり（選ぶと拡大）")

    page.evaluate("spot => geoappMap.setView([spot[1], spot[0]], 17, {animate: false})", SPOT)
    point = page.locator(f".geoapp-tiles-reports path[data-number='{server.report}']")
    expect(point.first).to_be_visible()
    assert point.first.get_attribute("aria-label") == f"通報 {server.report}（対応中）"
    assert point.first.get_attribute("fill") == "#b8860b"  # in progress
    point.first.click()
    popup = page.locator(".leaflet-popup")
    expect(popup.locator("h2")).to_have_text("側溝・排水")
    # The description is shown as text, never as markup.
    expect(popup.locator("dd", has_text="<img src=x onerror=alert(1)>")).to_have_count(1)
    expect(popup.locator("img")).to_have_count(0)
    assert any(url.endswith(f"/collections/reports/items/{server.report}") for url in seen)
    page.wait_for_load_state("networkidle")
    page_watch.assert_clean()


def test_a_point_opens_its_popup_from_the_keyboard(page, page_watch, server) -> None:
    page.goto(server.url + "/")
    wait_for_layer(page, "reports")
    page.evaluate("spot => geoappMap.setView([spot[1], spot[0]], 17, {animate: false})", SPOT)
    point = page.locator(f".geoapp-tiles-reports path[data-number='{server.report}']").first
    expect(point).to_be_visible()
    point.focus()
    page.keyboard.press("Enter")
    content = page.locator(".leaflet-popup-content")
    expect(content.locator("h2")).to_have_text("側溝・排水")
    expect(content).to_be_focused()
    page.keyboard.press("Escape")
    expect(content).to_have_count(0)
    expect(point).to_be_focused()
    page_watch.assert_clean()


def test_an_english_popup_names_the_category_in_english(page, page_watch, server) -> None:
    page.goto(server.url + "/?lang=en")
    wait_for_layer(page, "reports")
    page.evaluate("spot => geoappMap.setView([spot[1], spot[0]], 17, {animate: false})", SPOT)
    point = page.locator(f".geoapp-tiles-reports path[data-number='{server.report}']").first
    expect(point).to_be_visible()
    point.click()
    # The title is the category's name in the page's language (not the Japanese property).
    expect(page.locator(".leaflet-popup h2")).to_have_text("Gutters and drains")
    page_watch.assert_clean()


def test_hidden_layers_are_fetched_only_when_shown(page, page_watch, server) -> None:
    seen = _requests(page)
    page.goto(server.url + "/")
    wait_for_layer(page, "shelters")
    page.wait_for_load_state("networkidle")
    hidden = ("evacuation_sites", "community_centres")
    for layer_id in hidden:
        assert not any(f"/collections/{layer_id}/" in url for url in seen), layer_id
        assert not page.evaluate("id => geoapp.layers[id].geoappLoaded === true", layer_id)
    page.get_by_role("checkbox", name="指定緊急避難場所").check()
    assert wait_for_layer(page, "evacuation_sites") == 59
    assert any("/collections/evacuation_sites/items" in url for url in seen)
    assert not any("/collections/community_centres/" in url for url in seen)
    page_watch.assert_clean()


def test_tab_takes_report_points_and_markers_in_one_west_to_east_path(page, page_watch,
                                                                     server) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(server.url + "/#map=16/37.94780/139.32720&layers=shelters,wifi,reports")
    wait_for_layer(page, "reports")
    page.wait_for_timeout(300)
    stops = tab_through_map(page)
    kinds = {s["tag"] for s in stops}
    assert "path" in kinds and "img" in kinds, kinds  # report points and markers alike
    assert any(s["label"].startswith("通報 ") for s in stops)
    height = page.locator(".folium-map").bounding_box()["height"]
    rows = page.evaluate("geoappView.rows")
    keys = [(min(rows - 1, int(s["y"] // (height / rows))), s["x"]) for s in stops]
    assert keys == sorted(keys), "report points are not in the map's reading order"
    page_watch.assert_clean()
