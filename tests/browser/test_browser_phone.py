"""The phone layout (issue 13, point 4, and its accessibility findings) in Chromium, at a
phone's 390×844 and a desktop's 1366×768, in Japanese and English: a popup opens as a sheet
no control covers; the credits fold behind an ⓘ button on a phone, with no link a stray tap
can follow; the layer list folds on every screen size; every marker, group, report point and
control is at least 24×24 CSS px; no public page scrolls sideways at 320 CSS px; and axe
(WCAG 2.0–2.2 A/AA, target-size included) finds nothing on the map with a popup open, on
the staff queue and on every public page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from geoapp.staff.accounts import Accounts
from geoapp.store.engine import open_engine
from geoapp.wildlife.devices import Devices
from tests.browser.helpers import (
    HAZARD_HOST,
    WCAG_22,
    answer_overlay_tiles,
    assert_axe_clean,
    settle_map,
    wait_for_layer,
)
from tests.bulk import insert_reports, report_row
from tests.conftest import LiveServer, store_of_its_own
from tests.test_hazards import FLOOD, LAT, LON, TileServer, _png

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 768}}
PASSWORD = "correct horse battery staple"
#: Three reports near city hall, a few hundred metres apart.
REPORTS = [(139.3240, 37.9460), (139.3275, 37.9477), (139.3310, 37.9495)]
WORDS = {
    "ja": {"credits": "地図の出典", "layers": "表示するレイヤー", "close": "閉じる",
           "shelter": "指定避難所: 紫雲寺小学校"},
    "en": {"credits": "Map credits", "layers": "Layers shown on the map", "close": "Close",
           "shelter": "Designated shelter: 紫雲寺小学校"},
}


@dataclass
class Site:
    server: LiveServer
    reports: list[int]

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, store_engine: str) -> Iterator[Site]:
    """geoapp with three reports, a staff account, a wildlife camera with two detections,
    and the hazard overlay read from a local tile server."""
    tiles = TileServer()
    tiles.put(FLOOD, _png((255, 183, 183, 255)))
    data_dir = tmp_path_factory.mktemp(f"phone-{store_engine}")
    with store_of_its_own(store_engine, data_dir, "browser_phone") as database_url:
        server = LiveServer(data_dir, env={"GEOAPP_DATABASE_URL": database_url,
                                           "GEOAPP_HAZARD_TILE_BASE": tiles.url})
        engine = open_engine(database_url)  # migrated by the server
        try:
            now = datetime.now(UTC)
            Accounts(engine).create("road", PASSWORD, "road", now, display_name="道路 一郎")
            numbers = insert_reports(engine, [report_row(lon, lat) for lon, lat in REPORTS])
            _, key = Devices(engine).register(
                name="大手町カメラ", kind="ai_camera", lon=139.3275, lat=37.9477,
                species=["bear", "monkey"], owner="農林水産課", now=now,
                officers=["officer@city.example"], visibility="exact")
            for event, species in (("e-1", "bear"), ("e-2", "monkey")):
                answer = httpx.post(f"{server.url}/api/v1/wildlife/detections",
                                    headers={"X-Device-Key": key},
                                    json={"event_id": event, "species": species, "count": 1,
                                          "time": (now - timedelta(minutes=30)).isoformat()})
                assert answer.status_code == 201, answer.text
            yield Site(server, numbers)
        finally:
            server.stop()
            engine.dispose()
            tiles.stop()


def _public_pages(site: Site) -> list[str]:
    return [
        "/", "/collections?f=html", "/collections/shelters?f=html",
        "/collections/shelters/items?f=html&limit=100",
        "/collections/shelters/items/E1520600001111?f=html",
        "/collections/wifi/items?f=html&limit=100",
        "/collections/reports/items?f=html",
        "/reports/new", f"/reports/{site.reports[0]}", "/opendata", "/api?f=html",
        "/conformance?f=html", "/search?q=大手町&f=html",
        f"/nearest?lat={LAT}&lon={LON}&f=html", f"/hazards?lat={LAT}&lon={LON}&f=html",
        "/wildlife/detections?f=html", "/wildlife/alerts", "/buses",
    ]


def _with_lang(path: str, lang: str) -> str:
    if lang == "ja":
        return path
    return path + ("&" if "?" in path else "?") + "lang=en"


def _axe_clean(page: Page, label: str) -> None:
    """No violation of WCAG 2.0–2.2 A/AA, target-size (the map's markers) included."""
    settle_map(page)
    results = assert_axe_clean(page, label, WCAG_22)
    assert "target-size" in results["passes"] + [r["id"] for r in results["incomplete"]], label


def _open_map(page: Page, site: Site, lang: str, viewport: str) -> None:
    page.set_viewport_size(VIEWPORTS[viewport])
    page.route(HAZARD_HOST, answer_overlay_tiles)
    page.goto(site.url + _with_lang("/", lang))
    for layer_id in ("boundary", "shelters", "wifi"):
        wait_for_layer(page, layer_id)
    page.wait_for_load_state("networkidle")


def _open_shelter_by_keyboard(page: Page, lang: str) -> None:
    """Zoom to 紫雲寺小学校's marker, focus it and press Enter, as a keyboard user does."""
    page.evaluate("""() => new Promise(done => {
        const group = geoapp.layers.shelters;
        const marker = group.getLayers().find(m => m.feature.id === 'E1520600001111');
        group.zoomToShowLayer(marker, () => setTimeout(done, 400));
    })""")
    marker = page.get_by_role("button", name=WORDS[lang]["shelter"])  # and its Wi-Fi
    marker.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".leaflet-popup")).to_have_count(1)
    expect(page.locator(".leaflet-popup .geoapp-popup-title")).to_have_text("紫雲寺小学校")


#: What covers the open popup: each visible map control, and the page's search box, whose
#: box meets the popup's; and whether a tap on the close button and on the title reaches them.
COVERAGE = """() => {
    const popup = document.querySelector('.leaflet-popup .geoapp-popup').closest('.leaflet-popup');
    const p = popup.getBoundingClientRect();
    const meets = r => r.width > 0 && r.height > 0 && r.left < p.right && p.left < r.right
                       && r.top < p.bottom && p.top < r.bottom;
    const covering = [...document.querySelectorAll('.leaflet-control, .place-search')]
        .filter(el => meets(el.getBoundingClientRect())).map(el => el.className);
    const reached = el => {
        const r = el.getBoundingClientRect();
        return el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
    };
    return {covering, popup: [p.left, p.top, p.right, p.bottom],
            map: (r => [r.left, r.top, r.right, r.bottom])(
                document.querySelector('.folium-map').getBoundingClientRect()),
            close: reached(popup.querySelector('.leaflet-popup-close-button')),
            title: reached(popup.querySelector('.geoapp-popup'))};
}"""


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_popup_is_covered_by_no_control_and_the_map_passes_axe(page, page_watch, site, lang,
                                                                 viewport):
    _open_map(page, site, lang, viewport)
    _axe_clean(page, f"the map ({lang}, {viewport}) as it opens")
    _open_shelter_by_keyboard(page, lang)
    page.wait_for_timeout(300)  # the markers nudged apart after the zoom
    seen = page.evaluate(COVERAGE)
    assert seen["covering"] == [], seen
    assert seen["close"] and seen["title"], seen
    sheet = page.locator(".leaflet-popup.geoapp-sheet")
    if viewport == "phone":
        # A sheet along the map's bottom, the map's full width, in sight on the screen.
        expect(sheet).to_have_count(1)
        popup, box = seen["popup"], seen["map"]
        assert abs(popup[0] - box[0]) <= 2 and abs(popup[2] - box[2]) <= 2, seen
        assert box[3] - 60 <= popup[3] <= box[3], seen  # above the ⓘ button
        assert popup[3] <= VIEWPORTS["phone"]["height"] + 1, seen
    else:
        expect(sheet).to_have_count(0)  # on a desktop it points at its marker
    _axe_clean(page, f"the map ({lang}, {viewport}) with a shelter's popup open")
    # The close button closes it, and focus goes back to the marker.
    page.get_by_role("button", name=WORDS[lang]["close"], exact=True).click()
    expect(page.locator(".leaflet-popup")).to_have_count(0)
    page_watch.assert_clean()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_report_point_is_a_24px_target_and_its_popup_a_sheet(page, page_watch, site, lang):
    _open_map(page, site, lang, "phone")
    lon, lat = REPORTS[1]
    page.evaluate(f"geoappMap.setView([{lat}, {lon}], 16, {{animate: false}})")
    point = page.locator(f".geoapp-tiles-reports path[data-number='{site.reports[1]}']")
    expect(point).to_have_count(1)
    size = point.bounding_box()
    assert size is not None and size["width"] >= 24 and size["height"] >= 24, size
    point.click()
    expect(page.locator(".leaflet-popup.geoapp-sheet .geoapp-popup")).to_have_count(1)
    page.wait_for_timeout(300)  # the map moved the point clear of the sheet
    seen = page.evaluate(COVERAGE)
    assert seen["covering"] == [] and seen["close"], seen
    _axe_clean(page, f"the map ({lang}, phone) with a report's popup open")
    page_watch.assert_clean()


#: Width and height of every target on the map: markers, groups, report points, controls
#: (not the credits' links: words in a line of text, which 2.5.8 leaves as they are).
TARGETS = """() => [...document.querySelectorAll(
        '.folium-map .leaflet-marker-icon, .folium-map .geoapp-tiles path[tabindex], '
        + '.folium-map .leaflet-control:not(.leaflet-control-attribution) a, '
        + '.folium-map .leaflet-control button')]
    .map(el => [el.getAttribute('aria-label') || el.className.baseVal || el.className,
                el.getBoundingClientRect()])
    .filter(([, r]) => r.width > 0)
    .map(([name, r]) => [name, Math.round(r.width * 10) / 10, Math.round(r.height * 10) / 10])"""


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_target_on_the_map_is_at_least_24px(page, site, viewport):
    _open_map(page, site, "ja", viewport)
    page.evaluate("""() => ['evacuation_sites', 'community_centres'].forEach(
        id => geoapp.layers[id].addTo(geoappMap))""")
    if viewport == "phone":  # the list's own buttons too (a desktop opens with it shown)
        page.get_by_role("button", name="表示するレイヤー").click()
    wait_for_layer(page, "evacuation_sites")
    lon, lat = REPORTS[1]
    page.evaluate(f"geoappMap.setView([{lat}, {lon}], 15, {{animate: false}})")
    wait_for_layer(page, "reports")
    targets = page.evaluate(TARGETS)
    kinds = " ".join(str(name) for name, _, _ in targets)
    kinds_there = ["指定避難所", "公衆無線LAN", "通報", "拡大", "表示するレイヤー"]
    if viewport == "phone":
        kinds_there.append("地図の出典")
    for kind in kinds_there:
        assert kind in kinds, (kind, targets)
    small = [t for t in targets if t[1] < 24 or t[2] < 24]
    assert small == [], small


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_credits_fold_behind_a_button_on_a_phone(page, site, lang, viewport):
    _open_map(page, site, lang, viewport)
    credits = page.locator(".leaflet-control-attribution")
    # Leaflet's own credit is plain text at any size: no link that leaves the site.
    expect(credits).to_contain_text("Leaflet")
    expect(credits.get_by_role("link", name="Leaflet")).to_have_count(0)
    gsi = credits.get_by_role("link", name="地理院タイル")
    button = page.get_by_role("button", name=WORDS[lang]["credits"], exact=True)
    if viewport == "desktop":
        expect(button).to_have_count(0)
        expect(gsi).to_be_visible()
        return
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_have_text("ⓘ")
    # Folded, no link of the credits can be hit at all.
    assert page.evaluate("""() => [...document.querySelectorAll(
        '.leaflet-control-attribution a')].every(a => a.getClientRects().length === 0)""")
    box = button.bounding_box()
    assert box is not None and box["width"] >= 24 and box["height"] >= 24, box
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(gsi).to_be_visible()  # the GSI terms' credit, one tap away
    assert gsi.get_attribute("href") == "https://maps.gsi.go.jp/development/ichiran.html"
    page.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()
    expect(gsi).to_be_hidden()
    button.click()
    expect(gsi).to_be_visible()
    page.locator(".folium-map").click(position={"x": 200, "y": 200})  # a tap on the map
    expect(gsi).to_be_hidden()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_layer_list_folds_on_a_desktop_too(page, site, lang):
    _open_map(page, site, lang, "desktop")
    toggle = page.get_by_role("button", name=WORDS[lang]["layers"])
    checkbox = page.locator(".leaflet-control-layers-overlays input").first
    # A desktop opens with the list shown; its button folds it, by keyboard or pointer.
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(checkbox).to_be_visible()
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(checkbox).to_be_hidden()
    page.keyboard.press("Space")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(checkbox).to_be_visible()
    # A tap on the map leaves an open list open on a desktop; the button folds it.
    # (far from the list, so the popup the tap opens does not fold it out of its way).
    page.locator(".folium-map").click(position={"x": 150, "y": 480})
    expect(checkbox).to_be_visible()
    toggle.click()
    expect(checkbox).to_be_hidden()
    # Adding a layer (the list changes) does not open a folded list again.
    page.evaluate("geoapp.layers.evacuation_sites.addTo(geoappMap)")
    wait_for_layer(page, "evacuation_sites")
    expect(checkbox).to_be_hidden()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_public_page_scrolls_sideways_at_320px(page, page_watch, site, lang):
    page.set_viewport_size({"width": 320, "height": 640})
    page.route(HAZARD_HOST, answer_overlay_tiles)
    wide = {}
    for path in _public_pages(site):
        page.goto(site.url + _with_lang(path, lang))
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > 320:
            wide[path] = width
    assert wide == {}, wide
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_public_page_passes_axe(page, page_watch, site, lang, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.route(HAZARD_HOST, answer_overlay_tiles)
    for path in _public_pages(site)[1:]:  # the map has its own test, with a popup open
        page.goto(site.url + _with_lang(path, lang))
        page.wait_for_load_state("networkidle")
        _axe_clean(page, f"{path} ({lang}, {viewport})")
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_detections_table_scrolls_by_keyboard(page, site, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(site.url + "/wildlife/detections?f=html")
    region = page.get_by_role("region", name="鳥獣の出没情報")
    expect(region).to_have_attribute("tabindex", "0")
    region.focus()
    expect(region).to_be_focused()
    expect(region.get_by_role("table")).to_contain_text("クマ")


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_staff_queue_passes_axe(page, page_watch, site, lang, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(f"{site.url}/staff/login?next=/staff")
    page.get_by_label("ユーザー名").fill("road")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_url(f"{site.url}/staff")
    page.goto(site.url + _with_lang("/staff", lang))
    page.wait_for_function("() => window.geoapp && geoapp.layers.staff_reports"
                           " && geoapp.layers.staff_reports.geoappLoaded")
    page.wait_for_timeout(300)
    assert page.evaluate("geoapp.layers.staff_reports.getLayers().length") == len(REPORTS)
    # The filter button is whole: a tap on it reaches it, nothing of the map lies over it.
    apply = page.locator("form.filters button[type=submit]")
    apply.scroll_into_view_if_needed()
    box = apply.bounding_box()
    assert box is not None and box["height"] >= 24
    assert apply.evaluate("""el => {
        const r = el.getBoundingClientRect();
        return el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
    }""")
    _axe_clean(page, f"the staff queue ({lang}, {viewport})")
    page_watch.assert_clean()
