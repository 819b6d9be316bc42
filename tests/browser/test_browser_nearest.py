"""The map's "nearest shelters" and "hazards here" panel and the hazard keys, in Chromium at
a desktop and a phone size, in Japanese and English: from a tap on the map, from the
phone's location, from the map's centre; and axe (WCAG 2.0–2.2 A/AA) on the map with a
list shown and on the /nearest and /hazards pages. The hazard tiles come from a tile server
this module starts (geoapp reads it; the browser's overlay requests are answered locally)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    HAZARD_HOST,
    WCAG_22,
    answer_overlay_tiles,
    assert_axe_clean,
    settle_map,
    wait_for_layer,
)
from tests.conftest import LiveServer
from tests.test_hazards import FLOOD, LAT, LON, TileServer, _png

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
#: What each language's page calls things.
WORDS = {
    "ja": {"from_here": "ここから最寄りの避難所", "hazards_here": "この場所の災害リスク",
           "found": "5か所：最寄りは", "direction": "の方向", "depth": "3.0〜5.0m未満",
           "locate": "現在地を表示", "flood": "洪水浸水想定区域（想定最大規模）",
           "centre": "地図の中心から探す", "layers": "表示するレイヤー"},
    "en": {"from_here": "Nearest shelters from here", "hazards_here": "Hazards here",
           "found": "5 found: the nearest is", "direction": "about", "depth": "3 m to under 5 m",
           "locate": "Show my location", "flood": "Flood hazard (maximum assumed)",
           "centre": "Search from the map's centre", "layers": "Layers shown on the map"},
}


@pytest.fixture(scope="module")
def tiles() -> Iterator[TileServer]:
    server = TileServer()
    server.put(FLOOD, _png((255, 183, 183, 255)))  # 3–5 m at the test point
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tiles, tmp_path_factory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("nearest-var"),
                      env={"GEOAPP_HAZARD_TILE_BASE": tiles.url})
    yield live
    live.stop()


def _axe_clean(page: Page, label: str) -> None:
    """No violation of WCAG 2.0–2.2 A/AA, target-size (the map's markers) included."""
    settle_map(page)
    assert_axe_clean(page, label, WCAG_22)


def _open(page: Page, server: LiveServer, lang: str, viewport: dict) -> None:
    page.set_viewport_size(viewport)
    page.route(HAZARD_HOST, answer_overlay_tiles)
    page.goto(server.url + ("/" if lang == "ja" else "/?lang=en"))
    wait_for_layer(page, "shelters")
    # Close to the station, where no marker is under the map's centre.
    page.evaluate(f"geoappMap.setView([{LAT}, {LON}], 17, {{animate: false}})")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_tap_on_the_map_lists_the_nearest_five(page, page_watch, server, lang, viewport):
    words = WORDS[lang]
    _open(page, server, lang, viewport)
    page.locator(".folium-map").click()
    page.get_by_role("button", name=words["from_here"]).click()
    items = page.locator("#nearest-results ol.nearest-list > li")
    expect(items).to_have_count(5)
    expect(page.locator("#nearest-status")).to_contain_text(words["found"])
    expect(page.locator("#nearest-status")).to_have_attribute("aria-live", "polite")
    # A headed list: each place is a heading with a link to its page, then how far and where.
    assert page.locator("#nearest-results h3").count() == 1
    # The popup (and the focus in it) is gone: the list's heading has the focus.
    expect(page.locator("#nearest-list-heading")).to_be_focused()
    first = items.first
    expect(first.locator("h4 a")).to_have_attribute(
        "href", f"{server.url}/collections/shelters/items/E1520600047111?f=html"
        + ("" if lang == "ja" else "&lang=en"))
    expect(first).to_contain_text(words["direction"])
    # Drawn on the map: the five places, numbered, each joined to the chosen point.
    expect(page.locator(".nearest-marker")).to_have_count(5)
    assert page.evaluate("() => document.querySelectorAll('.leaflet-overlay-pane path').length"
                         ) >= 5
    _axe_clean(page, f"the map with the nearest list ({lang}, {viewport['width']} px)")
    first.get_by_role("button").click()
    expect(page.locator(".leaflet-popup")).to_contain_text(first.locator("h4").inner_text())
    page_watch.assert_clean()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_phone_s_location_answers_with_the_nearest_shelters_with_wifi(
        page, page_watch, server, lang):
    words = WORDS[lang]
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": LAT, "longitude": LON, "accuracy": 20})
    _open(page, server, lang, PHONE)
    page.locator("#panel-wifi").check()
    page.get_by_role("button", name=words["locate"]).click()
    expect(page.locator("#nearest-results ol.nearest-list > li")).to_have_count(5)
    names = page.locator("#nearest-results h4").all_inner_texts()
    with_wifi = page.evaluate("""() => fetch('/collections/shelters/items?wifi=true&limit=100')
        .then(r => r.json()).then(b => b.features.map(f => f.properties.name))""")
    assert set(names) <= set(with_wifi)
    page_watch.assert_clean()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_evacuation_sites_for_a_hazard_from_the_map_s_centre(page, page_watch, server, lang):
    _open(page, server, lang, DESKTOP)
    page.locator("#panel-layer").select_option("evacuation_sites")
    expect(page.locator("#panel-wifi")).to_be_hidden()
    page.locator("#panel-hazard").select_option("flood")
    page.get_by_role("button", name=WORDS[lang]["centre"]).click()
    expect(page.locator("#nearest-results ol.nearest-list > li")).to_have_count(5)
    hrefs = page.locator("#nearest-results h4 a").evaluate_all("as => as.map(a => a.href)")
    assert all("/collections/evacuation_sites/items/" in href for href in hrefs)
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_hazards_here_and_the_flood_key(page, page_watch, server, lang, viewport):
    words = WORDS[lang]
    _open(page, server, lang, viewport)
    page.locator(".folium-map").click()
    page.get_by_role("button", name=words["hazards_here"]).click()
    results = page.locator("#hazards-results")
    expect(results).to_contain_text(words["depth"])
    expect(results).to_contain_text("出典：ハザードマップポータルサイト")
    expect(page.locator("#nearest-status")).to_contain_text(words["depth"])
    expect(page.locator("#hazards-list-heading")).to_be_focused()
    # The key appears with the overlay and goes with it.
    if viewport is PHONE:
        page.get_by_role("button", name=words["layers"]).click()
    checkbox = page.get_by_role("checkbox", name=words["flood"])
    checkbox.check()
    key = page.locator(".geoapp-key")
    expect(key.locator("li")).to_have_count(6)
    expect(key).to_contain_text(words["depth"])
    _axe_clean(page, f"the map with hazards listed and the flood key ({lang})")
    checkbox.uncheck()
    expect(page.locator(".geoapp-key")).to_have_count(0)
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("path", [
    "/nearest", f"/nearest?lat={LAT}&lon={LON}&f=html",
    f"/nearest?lat={LAT}&lon={LON}&layer=evacuation_sites&hazard=earthquake&f=html&lang=en",
    f"/hazards?lat={LAT}&lon={LON}&f=html", f"/hazards?lat={LAT}&lon={LON}&f=html&lang=en",
    "/hazards?lang=en"])
def test_the_pages_have_no_wcag_violations(page, page_watch, server, path, viewport):
    page.set_viewport_size(viewport)
    page.goto(server.url + path)
    _axe_clean(page, path)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page_watch.assert_clean()


def test_the_form_without_javascript_finds_the_nearest(browser, server):
    context = browser.new_context(java_script_enabled=False, locale="ja-JP")
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name=WORDS["ja"]["centre"]).click()
    expect(page).to_have_url(f"{server.url}/nearest?lat=37.947700&lon=139.327500"
                             "&layer=shelters&hazard=")
    expect(page.locator("ol.nearest-list > li")).to_have_count(5)
    page.locator("#nearest-lat").fill(str(LAT))
    page.locator("#nearest-lon").fill(str(LON))
    page.get_by_role("button", name="探す").click()
    expect(page.locator("ol.nearest-list > li")).to_have_count(5)
    context.close()
