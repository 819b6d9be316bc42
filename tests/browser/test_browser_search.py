"""The place search box in Chromium: an ARIA 1.2 combobox driven by the keyboard in
Japanese and English, on a desktop (1366×768) and a phone (390×844); choosing a result
moves the map and opens that feature's popup, or a labelled marker for a town; axe
(WCAG 2.0/2.1 A and AA, 2.2 AA) finds nothing on the map with the list open or on the
results page; and no page load asks for anything that is not there (the favicon)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from geoapp.places.towns import CREDIT
from tests.browser.helpers import WCAG_22, describe_axe, run_axe, settle_map, wait_for_layer

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
TEXTS = {
    "ja": {"label": "場所を検索", "marker": "検索した場所: 大手町一丁目", "town": "町名",
           "announce": "件の候補があります", "shelter": "指定避難所"},
    "en": {"label": "Search for a place", "marker": "Searched place: 大手町一丁目",
           "town": "Town", "announce": "suggestions", "shelter": "Designated shelters"},
}


def _assert_axe_22_clean(page: Page, label: str) -> None:
    settle_map(page)
    results = run_axe(page, WCAG_22)
    assert not results["violations"], (
        f"axe-core found WCAG 2.x violations on {label}:\n" + describe_axe(results["violations"]))
    crashed = [rule for rule in results["incomplete"] if rule.get("error")]
    assert not crashed, describe_axe(crashed)


def _open_map(page: Page, url: str, viewport: str) -> None:
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(url)
    wait_for_layer(page, "shelters")


def _type(page: Page, lang: str, text: str):
    box = page.get_by_role("combobox", name=TEXTS[lang]["label"])
    box.focus()
    box.press_sequentially(text, delay=20)
    expect(box).to_have_attribute("aria-expanded", "true")
    return box


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_keyboard_chooses_a_shelter_and_its_popup_opens(page, page_watch, live_server, lang,
                                                        viewport):
    _open_map(page, live_server.url + ("/?lang=en" if lang == "en" else "/"), viewport)
    box = _type(page, lang, "紫雲寺小学校")
    listbox = page.get_by_role("listbox")
    expect(box).to_have_attribute("aria-controls", listbox.get_attribute("id"))
    options = listbox.get_by_role("option")
    expect(options.first).to_contain_text("紫雲寺小学校")
    expect(options.first).to_contain_text(TEXTS[lang]["shelter"])
    expect(page.locator(".place-search-status")).to_contain_text(TEXTS[lang]["announce"])
    # Nothing is chosen until the arrow keys say so; then the input points at the option.
    assert box.get_attribute("aria-activedescendant") is None
    box.press("ArrowDown")
    first_id = options.first.get_attribute("id")
    expect(box).to_have_attribute("aria-activedescendant", first_id)
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    box.press("ArrowUp")
    expect(box).to_have_attribute("aria-activedescendant", first_id)
    box.press("Enter")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(listbox).to_be_hidden()
    # The map moved there and the shelter's own popup opened, with focus in it to be read.
    popup = page.locator(".leaflet-popup")
    expect(popup.locator(".geoapp-popup-title")).to_have_text("紫雲寺小学校")
    assert page.evaluate("() => document.querySelector('.leaflet-popup').contains("
                         "document.activeElement)")
    centre = page.evaluate("() => { const c = geoappMap.getCenter(); return [c.lat, c.lng]; }")
    assert abs(centre[0] - 38.0) < 0.05 and abs(centre[1] - 139.25) < 0.1
    # Escape closes it and gives focus back to the shelter's marker.
    page.keyboard.press("Escape")
    expect(popup).to_have_count(0)
    assert "紫雲寺小学校" in (page.evaluate("() => document.activeElement.getAttribute("
                                          "'aria-label')") or "")
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_town_typed_with_digits_gets_a_labelled_marker_and_the_credit(
        page, page_watch, live_server, lang, viewport):
    _open_map(page, live_server.url + ("/?lang=en" if lang == "en" else "/"), viewport)
    box = _type(page, lang, "新発田市大手町１丁目")
    first = page.get_by_role("listbox").get_by_role("option").first
    expect(first).to_contain_text("大手町一丁目")
    expect(first).to_contain_text(TEXTS[lang]["town"])
    expect(page.locator(".place-search-credit")).to_have_text(CREDIT)  # the towns' credit
    # The list open over the map: WCAG 2.0/2.1/2.2 A and AA hold.
    _assert_axe_22_clean(page, f"the map ({lang}, {viewport}) with the suggestions open")
    box.press("ArrowDown")
    box.press("Enter")
    marker = page.get_by_role("button", name=TEXTS[lang]["marker"])
    expect(marker).to_be_visible()
    expect(page.locator(".leaflet-popup .geoapp-popup-title")).to_have_text("大手町一丁目")
    assert page.evaluate("() => geoappMap.getZoom()") == 16
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("Geolonia")
    # The box adds no sideways scrolling, on the phone either.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page_watch.assert_clean()


def test_escape_closes_the_list_then_clears_the_box(page, live_server):
    _open_map(page, live_server.url + "/", "desktop")
    box = _type(page, "ja", "大手町")
    box.press("Escape")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_value("大手町")
    box.press("Escape")
    expect(box).to_have_value("")
    # Alt+Down or Down opens it again once there are suggestions.
    box.press_sequentially("大手町", delay=20)
    expect(box).to_have_attribute("aria-expanded", "true")


def test_the_list_page_box_leads_to_the_chosen_feature_page(page, page_watch, live_server):
    page.goto(live_server.url + "/collections/shelters/items?f=html&lang=en")
    box = _type(page, "en", "紫雲寺小学校")
    box.press("ArrowDown")
    with page.expect_navigation():
        box.press("Enter")
    assert "/collections/shelters/items/" in page.url and "lang=en" in page.url
    expect(page.locator("h1")).to_contain_text("紫雲寺小学校")
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_results_page_without_javascript_works_and_is_accessible(
        browser, live_server, lang, viewport):
    context = browser.new_context(java_script_enabled=False, viewport=VIEWPORTS[viewport],
                                  locale="ja-JP" if lang == "ja" else "en-GB")
    page = context.new_page()
    try:
        page.goto(live_server.url + ("/?lang=en" if lang == "en" else "/"))
        box = page.get_by_role("textbox", name=TEXTS[lang]["label"])
        box.fill("大手町1丁目")
        with page.expect_navigation():
            box.press("Enter")
        assert "/search?" in page.url and "f=html" in page.url
        expect(page.get_by_role("link", name="大手町一丁目")).to_be_visible()
        expect(page.locator("footer")).to_contain_text(CREDIT)
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/collections?f=html", "/collections/wifi/items?f=html"])
def test_list_pages_with_the_suggestions_open_have_no_wcag_violations(page, page_watch,
                                                                     live_server, path):
    for lang, viewport in (("ja", "desktop"), ("en", "phone")):
        page.set_viewport_size(VIEWPORTS[viewport])
        page.goto(live_server.url + path + ("&lang=en" if lang == "en" else ""))
        _type(page, lang, "紫雲寺")
        _assert_axe_22_clean(page, f"{path} ({lang}, {viewport}) with the suggestions open")
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_results_page_has_no_wcag_violations(page, page_watch, live_server, lang, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(live_server.url + f"/search?q=紫雲寺&f=html&lang={lang}")
    expect(page.locator("ol.search-results li").first).to_be_visible()
    _assert_axe_22_clean(page, f"/search ({lang}, {viewport})")
    # The page's own box is a combobox too; open it and check again.
    box = page.get_by_role("combobox", name=TEXTS[lang]["label"])
    box.fill("")
    _type(page, lang, "大手町")
    _assert_axe_22_clean(page, f"/search ({lang}, {viewport}) with the suggestions open")
    page_watch.assert_clean()


def test_no_page_load_asks_for_a_missing_favicon(page, page_watch, live_server):
    for path in ("/collections/shelters/items?f=json", "/", "/collections?f=html",
                 "/search?q=1&f=html", "/reports/new"):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        # Every page names its icon, and the icon it names is there.
        icon = page.evaluate("() => (document.querySelector('link[rel=icon]') || {}).href")
        if icon:
            assert page.request.get(icon).status == 200
    page_watch.assert_clean()
    # A document that names none (a JSON answer) has the browser ask /favicon.ico.
    icon = page.request.get(live_server.url + "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"


def test_a_map_link_to_a_place_opens_with_a_labelled_marker(page, page_watch, live_server):
    """The results page's "show on the map" links: /?at=LAT,LON&label=NAME."""
    page.goto(live_server.url + "/?lang=en&at=37.950310,139.322865&label=大手町一丁目")
    marker = page.get_by_role("button", name="Searched place: 大手町一丁目")
    expect(marker).to_be_visible()
    expect(page.locator(".leaflet-popup .geoapp-popup-title")).to_have_text("大手町一丁目")
    centre = page.evaluate("() => { const c = geoappMap.getCenter(); return [c.lat, c.lng]; }")
    assert abs(centre[0] - 37.95031) < 1e-4 and abs(centre[1] - 139.322865) < 1e-4
    # Nonsense in the address places nothing and breaks nothing.
    page.goto(live_server.url + "/?at=91,abc&label=<b>x</b>")
    wait_for_layer(page, "shelters")
    expect(page.locator(".place-search-marker")).to_have_count(0)
    page_watch.assert_clean()


#: A spot of this test's own on the session's server, away from other tests' reports.
SEARCH_SPOT = {"lat": "37.905000", "lon": "139.370000"}


def test_a_report_number_leads_to_a_marker_linking_its_page(page, page_watch, live_server):
    posted = httpx.post(live_server.url + "/api/v1/reports", data={
        "category": "gutter", "description": "側溝のふたが割れています",
        **SEARCH_SPOT})
    assert posted.status_code == 201, posted.text
    number = posted.json()["number"]
    _open_map(page, live_server.url + "/", "desktop")
    box = _type(page, "ja", number)
    expect(page.get_by_role("option").first).to_contain_text(f"通報 {number}（側溝・排水）")
    box.press("ArrowDown")
    box.press("Enter")
    marker = page.get_by_role("button", name=f"検索した場所: 通報 {number}（側溝・排水）")
    expect(marker).to_be_visible()
    link = page.locator(".leaflet-popup").get_by_role("link", name="詳しいページを開く")
    expect(link).to_have_attribute("href", re.compile(rf"/reports/{number}$"))
    page_watch.assert_clean()
