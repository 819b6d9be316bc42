"""The public map in Chromium: it loads offline and cleanly, draws every shelter, names its
markers in Japanese, works from the keyboard and leads to an HTML table for each layer.

The session's server (SQLite) serves the module; the loading test runs against a server
over PostGIS too, whose store-backed layers (reports, wildlife, buses) come from there."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import wait_for_layer
from tests.conftest import LiveServer, store_of_its_own

pytestmark = pytest.mark.browser

#: Every feature layer the map fetches, with how many features each has.
FETCHED = {"boundary": 1, "shelters": 59, "evacuation_sites": 59, "community_centres": 7}
SHIUNJI = "指定避難所: 紫雲寺小学校（Wi-Fiあり）"
CLUSTER_NAME = re.compile(r"^指定避難所: (\d+)か所のまとまり（選ぶと拡大）$")


def open_map(page: Page, url: str) -> list[str]:
    """Open the map, show its hidden layers (fetched only once shown) and wait for every
    layer it fetches; their ids."""
    page.goto(url)
    page.wait_for_function("window.geoapp && Object.keys(geoapp.layers).length > 0")
    fetched = page.evaluate("Object.keys(geoapp.layers)")
    page.evaluate("() => Object.values(geoapp.layers).forEach(l => geoappMap.addLayer(l))")
    for layer_id in fetched:
        wait_for_layer(page, layer_id)
    return fetched


@pytest.fixture(scope="module")
def server(request, store_engine, tmp_path_factory):
    """The session's server on SQLite; a server of the module's own on PostGIS."""
    if store_engine == "sqlite":
        yield request.getfixturevalue("live_server")
        return
    data_dir = tmp_path_factory.mktemp(f"map-var-{store_engine}")
    with store_of_its_own(store_engine, data_dir, "browser_map") as url:
        live = LiveServer(data_dir, env={"GEOAPP_DATABASE_URL": url})
        yield live
        live.stop()


@pytest.mark.both_engines
def test_map_loads_offline_without_errors(page, page_watch, server):
    fetched = open_map(page, server.url + "/")
    assert "reports" in fetched  # a layer from the store
    assert set(FETCHED) | {"wifi"} <= set(fetched)
    page.wait_for_load_state("networkidle")
    page_watch.assert_clean()
    # The base map was asked for (and answered here), and its credit is shown with it.
    assert page_watch.tile_requests, "the map requested no base-map tiles"
    assert all("/xyz/pale/" in url for url in page_watch.tile_requests)
    expect(page.locator(".leaflet-tile-loaded").first).to_be_visible()
    expect(page.locator(".leaflet-control-attribution").get_by_role(
        "link", name="地理院タイル")).to_be_visible()
    for layer_id, count in FETCHED.items():
        assert page.evaluate("id => geoapp.layers[id].getLayers().length", layer_id) == count
    # No layer reported a loading failure to the user.
    assert page.locator("#map-status").text_content() == ""


def test_shelters_layer_draws_all_59_with_japanese_names(page, live_server):
    page.goto(live_server.url + "/")
    assert wait_for_layer(page, "shelters") == 59

    # Fit the whole layer in view: every shelter is on the map, alone or inside a
    # group whose name says how many it holds.
    page.evaluate("""() => new Promise(done => {
        geoappMap.once('moveend', () => setTimeout(done, 500));
        geoappMap.fitBounds(geoapp.layers.shelters.getBounds(), {animate: false});
    })""")
    shown = 0
    groups = 0
    pane = page.locator(".leaflet-marker-pane")
    for name in pane.locator("[role=button]").evaluate_all(
            "els => els.map(e => e.getAttribute('aria-label'))"):
        assert name, "a marker or group has no accessible name"
        match = CLUSTER_NAME.match(name)
        if match:
            shown += int(match.group(1))
            groups += 1
        elif name.startswith("指定避難所: "):
            assert re.fullmatch(r"指定避難所: .+（Wi-Fi(あり|なし)）", name), name
            shown += 1
    assert groups, "at this zoom some shelters should be grouped"
    assert shown == 59

    # Zoomed in to one school, its marker is a button named in Japanese.
    page.evaluate("""name => new Promise(done => {
        const group = geoapp.layers.shelters;
        const marker = group.getLayers().find(m => m.feature.properties.name === name);
        group.zoomToShowLayer(marker, () => setTimeout(done, 300));
    })""", "紫雲寺小学校")
    marker = page.get_by_role("button", name=SHIUNJI, exact=True)
    expect(marker).to_be_visible()
    assert marker.get_attribute("alt") == SHIUNJI
    assert marker.get_attribute("aria-label") == SHIUNJI


def test_sample_notice_and_english_page(page, live_server):
    page.goto(live_server.url + "/")
    notice = page.locator("#sample-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("サンプルデータ")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert "新発田市" in page.title()

    page.goto(live_server.url + "/?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.title() == "Shibata City map: shelters and Wi-Fi | Shibata City Public Map"
    expect(page.locator("#sample-notice")).to_be_visible()
    expect(page.locator("#sample-notice")).to_have_text(
        "Note: the public Wi-Fi information is sample data. These access points do not exist.")
    wait_for_layer(page, "shelters")
    # The map's own controls speak English too.
    expect(page.get_by_role("button", name="Zoom in", exact=True)).to_be_visible()
    expect(page.get_by_role("group", name="Layers shown on the map")).to_be_visible()


@pytest.mark.parametrize("path", ["/", "/?lang=en", "/collections/shelters/items?f=html"])
def test_page_can_be_zoomed_and_has_title_and_language(page, live_server, path):
    page.goto(live_server.url + path)
    viewports = page.locator("meta[name=viewport]")
    assert viewports.count() == 1, "one viewport declaration, not Folium's as well"
    content = viewports.get_attribute("content").replace(" ", "").lower()
    assert "user-scalable=no" not in content and "user-scalable=0" not in content
    scale = re.search(r"maximum-scale=([\d.]+)", content)
    assert scale is None or float(scale.group(1)) >= 2, content
    assert page.title().strip()
    assert page.locator("html").get_attribute("lang") in ("ja", "en")


def _tab_until(page: Page, test: str, limit: int = 150) -> dict:
    """Press Tab until the focused element passes ``test`` (a JS predicate); its description."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        found = page.evaluate(f"""() => {{
            const el = document.activeElement;
            return ({test})(el) ? {{label: el.getAttribute('aria-label'), tag: el.tagName}} : null;
        }}""")
        if found:
            return found
    raise AssertionError(f"no element matching {test} within {limit} presses of Tab")


def test_marker_opens_its_popup_from_the_keyboard(page, live_server):
    page.goto(live_server.url + "/")
    wait_for_layer(page, "shelters")
    found = _tab_until(page, "el => el.tagName === 'IMG' && "
                             "(el.getAttribute('aria-label') || '').startsWith('指定避難所: ')")
    name = re.fullmatch(r"指定避難所: (.+)（Wi-Fi(あり|なし)）", found["label"]).group(1)

    page.keyboard.press("Enter")
    popup = page.locator(".leaflet-popup")
    expect(popup).to_be_visible()
    expect(popup.locator("h2")).to_have_text(name)
    expect(popup.get_by_role("link")).to_have_attribute("href", re.compile(
        r"/collections/shelters/items/[^/?]+\?f=html"))
    expect(popup.get_by_role("button", name="閉じる")).to_be_visible()
    # Focus moved into the popup, so a screen reader reads it out.
    assert page.evaluate("document.activeElement.closest('.leaflet-popup') !== null")

    # Escape closes it and puts focus back on the marker.
    page.keyboard.press("Escape")
    expect(popup).to_have_count(0)
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == found["label"]


def test_marker_group_expands_from_the_keyboard(page, live_server):
    page.goto(live_server.url + "/")
    wait_for_layer(page, "shelters")
    zoom = page.evaluate("geoappMap.getZoom()")
    found = _tab_until(page, "el => el.classList.contains('marker-cluster')")
    assert CLUSTER_NAME.match(found["label"]), found
    page.keyboard.press("Enter")
    page.wait_for_function("z => geoappMap.getZoom() > z", arg=zoom)


def test_controls_come_before_the_markers_and_the_map_can_be_skipped(page, live_server):
    page.goto(live_server.url + "/")
    wait_for_layer(page, "shelters")
    # Tab reaches the zoom button before any marker.
    found = _tab_until(page, "el => el.closest('.leaflet-control') !== null || "
                             "el.classList.contains('leaflet-marker-icon')")
    assert found["label"] == "拡大", found
    # A skip link jumps over the map's many stops to the layer lists.
    page.goto(live_server.url + "/")
    skip = page.get_by_role("link", name="地図を飛ばして一覧へ")
    skip.focus()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "layers-heading"


def test_each_layer_links_to_its_table_and_shelters_table_has_59_rows(page, live_server):
    collections = {c["id"] for c in page.request.get(
        live_server.url + "/collections?f=json").json()["collections"]}
    assert set(FETCHED) | {"wifi"} <= collections
    page.goto(live_server.url + "/")
    items = page.locator(".layer-list > li")
    listed = set()
    for index in range(items.count()):
        item = items.nth(index)
        layer_id = item.get_attribute("id").removeprefix("layer-")
        link = item.get_by_role("link", name=re.compile("^一覧を表で見る"))
        if layer_id not in collections:  # a raster overlay: nothing to tabulate
            expect(link).to_have_count(0)
            continue
        listed.add(layer_id)
        expect(link).to_have_count(1)
        # The link's name says which layer's table it opens.
        title = item.locator("h3").inner_text().strip()
        assert title.startswith(link.evaluate("a => a.textContent.split(': ')[1].trim()"))
        assert link.get_attribute("href") == f"/collections/{layer_id}/items?f=html&limit=100"
    assert listed == collections, "every collection is in the side list with its table"

    page.locator("#layer-shelters").get_by_role("link", name=re.compile("^一覧を表で見る")).click()
    page.wait_for_url(re.compile(r"/collections/shelters/items\?f=html&limit=100$"))
    table = page.get_by_role("table", name="指定避難所")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(59)
    expect(table.get_by_role("rowheader", name="紫雲寺小学校")).to_be_visible()


def test_on_a_phone_the_layer_list_folds_away_from_the_zoom_buttons(page, live_server):
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(live_server.url + "/")
    wait_for_layer(page, "shelters")
    zoom_in = page.get_by_role("button", name="拡大", exact=True)
    # Nothing covers the zoom button: a tap on its centre reaches it.
    assert zoom_in.evaluate("""el => {
        const r = el.getBoundingClientRect();
        return el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
    }""")
    toggle = page.get_by_role("button", name="表示するレイヤー")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    checkbox = page.get_by_role("checkbox", name="指定緊急避難場所")
    expect(checkbox).to_be_hidden()

    toggle.focus()
    page.keyboard.press("Enter")
    expect(checkbox).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    # Tab moves on into the list; a layer can be switched on from the keyboard.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "checkbox"
    checkbox.focus()
    page.keyboard.press("Space")
    expect(checkbox).to_be_checked()
    wait_for_layer(page, "evacuation_sites")
    page.wait_for_function("geoappMap.hasLayer(geoapp.layers.evacuation_sites)")
    # Escape folds it and gives focus back to the button; so does a tap on the button.
    page.keyboard.press("Escape")
    expect(checkbox).to_be_hidden()
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(checkbox).to_be_visible()
    toggle.click()
    expect(checkbox).to_be_hidden()


def test_a_layer_that_fails_to_load_is_reported_on_the_page(page, live_server):
    page.route("**/collections/shelters/items?*", lambda route: route.fulfill(
        status=503, content_type="application/problem+json", body="{}"))
    page.goto(live_server.url + "/")
    wait_for_layer(page, "wifi")
    status = page.locator("#map-status")
    expect(status).to_have_text("レイヤーを読み込めませんでした: 指定避難所")
    expect(status).to_be_visible()
    assert not page.evaluate("geoapp.layers.shelters.geoappLoaded")
