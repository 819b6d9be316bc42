"""A link to this view, print, and a keyboard order that follows the map (issue 13, points
6 and 7), in Chromium at 1366×768 and 390×844, in Japanese and English: the address keeps
the centre, zoom and layers and reopens them, junk in it is ignored, the share button copies
the link (or selects it) and says so, the printed page holds the map and its key with the
credits and without the controls, and Tab walks the markers in view from west to east, row
by row, with Enter on a cluster landing on one of its markers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    MAP_STOPS,
    WCAG_22,
    PageWatch,
    describe_axe,
    open_watched_page,
    run_axe,
    tab_through_map,
    wait_for_layer,
)

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
TEXTS = {
    "ja": {"share": "この表示を共有", "copied": "この表示へのリンクをコピーしました。",
           "select": "リンクをコピーできませんでした", "field": "この表示へのリンク",
           "layers": "表示するレイヤー", "evacuation": "指定緊急避難場所",
           "shelters": "指定避難所"},
    "en": {"share": "Share this view", "copied": "The link to this view was copied.",
           "select": "The link could not be copied", "field": "Link to this view",
           "layers": "Layers shown on the map", "evacuation": "Emergency evacuation sites",
           "shelters": "Designated shelters"},
}


def _url(server, lang: str, rest: str = "/") -> str:
    path, hashmark, fragment = rest.partition("#")
    if lang == "en":
        path += ("&" if "?" in path else "?") + "lang=en"
    return server.url + path + hashmark + fragment


def _open(page: Page, url: str, viewport: str) -> None:
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(url)
    wait_for_layer(page, "shelters")


def _view(page: Page) -> dict:
    """The map's centre, zoom and shown layers (ids), as the map itself has them."""
    return page.evaluate("""() => {
        const c = geoappMap.getCenter();
        const shown = Object.keys(geoapp.layers)
            .filter(id => geoappMap.hasLayer(geoapp.layers[id]));
        return {lat: c.lat, lon: c.lng, zoom: geoappMap.getZoom(), layers: shown.sort()};
    }""")


def _hash(page: Page) -> dict[str, str]:
    fragment = urlsplit(page.url).fragment
    return dict(part.split("=", 1) for part in fragment.split("&") if "=" in part)


def _layer_list(page: Page, lang: str, viewport: str):
    """The layer control's checkboxes, unfolded first on a phone."""
    if viewport == "phone":
        page.get_by_role("button", name=TEXTS[lang]["layers"]).click()
    return page.get_by_role("group", name=TEXTS[lang]["layers"])


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_address_follows_the_map_and_reopens_the_same_view(
        page, page_watch, browser, live_server, lang, viewport):
    _open(page, _url(live_server, lang), viewport)
    opened = page.url
    entries = page.evaluate("history.length")
    # Zoom in with the button, pan with the arrow keys: the address follows, in place.
    page.get_by_role("button", name="拡大" if lang == "ja" else "Zoom in", exact=True).click()
    page.wait_for_function("() => location.hash.includes('map=12/')")
    page.locator(".folium-map").focus()
    for key in ("ArrowRight", "ArrowDown"):
        before = page.evaluate("() => geoappMap.getCenter()")
        page.keyboard.press(key)
        # The pan over (Leaflet animates it, and ignores keys meanwhile): the address has
        # the centre it ended on.
        page.wait_for_function("""before => {
            const c = geoappMap.getCenter();
            const panning = geoappMap._panAnim && geoappMap._panAnim._inProgress;
            return !panning && (c.lat !== before.lat || c.lng !== before.lng) &&
                   location.hash.includes(c.lat.toFixed(5) + '/' + c.lng.toFixed(5));
        }""", arg=before)
    # A layer switched on in the list joins the address's layers.
    _layer_list(page, lang, viewport).get_by_role(
        "checkbox", name=TEXTS[lang]["evacuation"]).check()
    wait_for_layer(page, "evacuation_sites")
    view = _view(page)
    fragment = _hash(page)
    assert "evacuation_sites" in fragment["layers"].split(","), fragment
    zoom, lat, lon = fragment["map"].split("/")
    assert int(zoom) == view["zoom"] == 12
    assert abs(float(lat) - view["lat"]) < 1e-5 and abs(float(lon) - view["lon"]) < 1e-5
    # The page's own address is kept (language and all), and nothing was pushed to history.
    assert page.url.split("#")[0] == opened.split("#")[0]
    assert page.evaluate("history.length") == entries

    # The link opened anew (another browser) shows the same view and layers.
    other_watch = PageWatch()
    other = open_watched_page(browser, other_watch)
    try:
        other.set_viewport_size(VIEWPORTS[viewport])
        other.goto(page.url)
        wait_for_layer(other, "evacuation_sites")
        again = _view(other)
        assert again["zoom"] == view["zoom"]
        assert abs(again["lat"] - view["lat"]) < 1e-4 and abs(again["lon"] - view["lon"]) < 1e-4
        assert again["layers"] == view["layers"]
        checkbox = _layer_list(other, lang, viewport).get_by_role(
            "checkbox", name=TEXTS[lang]["evacuation"])
        expect(checkbox).to_be_checked()
        other_watch.assert_clean()
    finally:
        other.context.close()
    page_watch.assert_clean()


def test_a_link_with_layers_switched_off_opens_without_them(page, page_watch, live_server):
    page.goto(live_server.url + "/#map=14/37.95000/139.33000&layers=shelters,community_centres")
    wait_for_layer(page, "community_centres")
    view = _view(page)
    assert view["zoom"] == 14 and abs(view["lat"] - 37.95) < 1e-4
    assert "shelters" in view["layers"] and "community_centres" in view["layers"]
    assert "wifi" not in view["layers"] and "reports" not in view["layers"]
    expect(page.get_by_role("checkbox", name="公衆無線LAN", exact=False).first).not_to_be_checked()
    page_watch.assert_clean()


@pytest.mark.parametrize("junk", [
    "#map=abc/37.9/139.3&layers=<script>alert(1)</script>",
    "#map=99/37.9/139.3",
    "#map=12/95.0/139.3&layers=,,,",
    "#map=12/37.9/139.3/7&layers=nothing,at,all",
    "#map=NaN/Infinity/1e999",
    "#%E0%A4%A",
    "#layers-heading",
])
def test_junk_in_the_address_is_ignored(page, page_watch, live_server, junk):
    page.goto(live_server.url + "/")
    wait_for_layer(page, "shelters")
    default = _view(page)
    page.goto("about:blank")
    page.goto(live_server.url + "/" + junk)
    wait_for_layer(page, "shelters")
    assert _view(page) == default
    page_watch.assert_clean()


def test_the_view_in_the_address_wins_over_a_searched_place_and_keeps_it(
        page, page_watch, live_server):
    page.goto(live_server.url + "/?at=37.9600,139.3400&label=%E7%9B%AE%E5%8D%B0"
              "#map=13/37.94000/139.31000&layers=shelters")
    wait_for_layer(page, "shelters")
    expect(page.get_by_role("button", name=re.compile("目印"))).to_have_count(1)
    page.wait_for_load_state("load")
    view = _view(page)
    assert view["zoom"] == 13
    assert abs(view["lat"] - 37.94) < 1e-4 and abs(view["lon"] - 139.31) < 1e-4
    # A later move keeps the query (the place and its label) and rewrites only the fragment.
    page.evaluate("geoappMap.setZoom(14)")
    page.wait_for_function("() => location.hash.startsWith('#map=14/')")
    assert "?at=37.9600,139.3400&label=" in page.url
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_share_copies_the_link_and_says_so(page, page_watch, live_server, lang, viewport):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _open(page, _url(live_server, lang, "/#map=15/37.94780/139.32720&layers=shelters"),
          viewport)
    button = page.get_by_role("button", name=TEXTS[lang]["share"])
    button.focus()
    page.keyboard.press("Enter")
    status = page.locator(".geoapp-share-status")
    expect(status).to_have_text(TEXTS[lang]["copied"])
    expect(status).to_have_attribute("role", "status")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.url
    assert copied.endswith("#map=15/37.94780/139.32720&layers=shelters")
    # The share UI over the map keeps WCAG 2.x A and AA (but for the map's own 22 px
    # markers, another change of issue 13).
    page.locator(".map-side").scroll_into_view_if_needed()
    results = run_axe(page, WCAG_22)
    violations = [v for v in results["violations"] if not (
        v["id"] == "target-size"
        and all("leaflet-marker-icon" in node["html"] for node in v["nodes"]))]
    assert not violations, describe_axe(violations)
    assert not [r for r in results["incomplete"] if r.get("error")]
    page_watch.assert_clean()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_without_a_clipboard_the_link_is_selected_in_a_field(page, page_watch, live_server,
                                                             lang):
    # A browser without the Clipboard API (an old one, or a page not served securely).
    page.context.add_init_script("Object.defineProperty(navigator, 'clipboard', "
                                 "{value: undefined, configurable: true})")
    _open(page, _url(live_server, lang), "desktop")
    page.get_by_role("button", name=TEXTS[lang]["share"]).click()
    field = page.get_by_role("textbox", name=TEXTS[lang]["field"])
    expect(field).to_be_visible()
    expect(field).to_be_focused()
    expect(field).to_have_value(page.url)
    assert field.evaluate("el => el.readOnly && el.selectionStart === 0 && "
                          "el.selectionEnd === el.value.length")
    expect(page.locator(".geoapp-share-status")).to_contain_text(TEXTS[lang]["select"])
    results = run_axe(page, WCAG_22)
    violations = [v for v in results["violations"] if v["id"] != "target-size"]
    assert not violations, describe_axe(violations)
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_print_shows_the_map_and_its_key_with_the_credits_on_one_page(
        page, page_watch, live_server, lang, viewport):
    _open(page, _url(live_server, lang), viewport)
    page.emulate_media(media="print")
    expect(page.locator(".folium-map")).to_be_visible()
    box = page.locator(".folium-map").bounding_box()
    assert box and box["height"] > 300
    expect(page.locator(".leaflet-tile-loaded").first).to_be_visible()
    # The key: each layer's name with its symbol, and a layer's colours.
    expect(page.locator("#layer-shelters h3 img")).to_be_visible()
    expect(page.locator("#layer-shelters h3")).to_contain_text(TEXTS[lang]["shelters"])
    expect(page.locator(".layer-list .legend li").first).to_be_visible()
    # The controls are left out; the credits stay.
    for hidden in [".leaflet-control-zoom", ".leaflet-control-layers", ".geoapp-share",
                   ".place-search", ".nearest-panel", ".site-header nav"]:
        expect(page.locator(hidden).first).to_be_hidden()
    expect(page.locator(".leaflet-control-attribution")).to_be_visible()
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("地理院タイル")
    expect(page.locator(".site-footer")).to_contain_text("地理院タイル")
    # On A4, all of it fits one page.
    pdf = page.pdf(format="A4", print_background=True)
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf)
    assert len(pages) == 1, f"{len(pages)} printed pages"
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_tab_walks_the_markers_in_view_west_to_east_row_by_row(
        page, page_watch, live_server, lang, viewport):
    # Bus stops, wildlife and the reports' points shown as well: every kind of stop.
    _open(page, _url(live_server, lang, "/#map=14/37.94780/139.32720"), viewport)
    page.evaluate("() => Object.values(geoapp.layers).forEach(l => geoappMap.addLayer(l))")
    for layer_id in page.evaluate("Object.keys(geoapp.layers)"):
        wait_for_layer(page, layer_id)
    page.wait_for_timeout(300)
    stops = tab_through_map(page)
    box = page.locator(".folium-map").bounding_box()
    rows = page.evaluate("geoappView.rows")
    height = box["height"] / rows
    keys = [(min(rows - 1, int(s["y"] // height)), s["x"]) for s in stops]
    assert len(stops) > 5, stops
    assert keys == sorted(keys), "the keyboard's path is not west to east, row by row"
    # Only what is in view: every stop visited lies in the map, and the others are skipped.
    for s in stops:
        assert 0 <= s["x"] <= box["width"] and 0 <= s["y"] <= box["height"], s
    counts = page.evaluate(f"""() => {{
        const map = geoappMap.getContainer().getBoundingClientRect();
        let inside = 0, outside = 0, outsideFocusable = 0;
        document.querySelectorAll({MAP_STOPS!r}).forEach(el => {{
            const r = el.getBoundingClientRect();
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            const inView = (r.width || r.height) && x >= map.left && x <= map.right &&
                           y >= map.top && y <= map.bottom;
            if (inView) {{ inside += 1; }} else {{
                outside += 1;
                if (el.getAttribute('tabindex') !== '-1') {{ outsideFocusable += 1; }}
            }}
        }});
        return {{inside, outside, outsideFocusable}};
    }}""")
    assert len(stops) == counts["inside"], counts
    assert counts["outside"] > 0 and counts["outsideFocusable"] == 0, counts
    assert len({s["label"] for s in stops}) > 1
    # Shift+Tab from after the map comes back to the path's last stop.
    page.keyboard.press("Shift+Tab")
    label = page.evaluate("() => document.activeElement.getAttribute('aria-label') || "
                          "document.activeElement.getAttribute('alt') || ''")
    assert label == stops[-1]["label"]
    print(f"\n{viewport} {lang}: {len(stops)} stops in view, {counts['outside']} out of view")
    page_watch.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_enter_on_a_cluster_lands_on_one_of_its_markers(page, page_watch, live_server, lang,
                                                       viewport):
    _open(page, _url(live_server, lang), viewport)
    page.locator(".leaflet-control-zoom-in").focus()
    for _ in range(100):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('marker-cluster')"):
            break
    else:
        raise AssertionError("no cluster on the keyboard's path")
    children = page.evaluate("""() => {
        const group = geoapp.layers.shelters;
        const el = document.activeElement;
        let found = null;
        group._featureGroup.eachLayer(l => {
            if (l.getElement && l.getElement() === el) { found = l; }
        });
        return found.getAllChildMarkers().map(m => m.options.alt);
    }""")
    zoom = page.evaluate("geoappMap.getZoom()")
    page.keyboard.press("Enter")
    page.wait_for_function("z => geoappMap.getZoom() > z", arg=zoom)
    page.wait_for_function("() => document.activeElement.classList.contains('leaflet-marker-icon')")
    label = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    # One of the cluster's own markers, or a smaller group of them.
    assert label in children or page.evaluate(
        "() => document.activeElement.classList.contains('marker-cluster')"), (label, children)
    assert page.evaluate("() => document.activeElement.getAttribute('tabindex')") == "0"
    page_watch.assert_clean()


def test_the_map_page_stays_under_100_kb(live_server):
    for url in ("/", "/?lang=en"):
        body = httpx.get(live_server.url + url, headers={"Accept": "text/html"}).content
        print(f"\n{url}: {len(body)} bytes")
        assert len(body) < 100_000


def test_a_view_typed_into_the_address_bar_moves_the_map(page, page_watch, live_server):
    page.goto(live_server.url + "/")
    wait_for_layer(page, "shelters")
    page.evaluate("location.hash = '#map=15/37.90000/139.20000&layers=shelters'")
    page.wait_for_function("() => geoappMap.getZoom() === 15")
    view = _view(page)
    assert abs(view["lat"] - 37.9) < 1e-4 and abs(view["lon"] - 139.2) < 1e-4
    assert view["layers"] == ["shelters"]
    # A skip link's own fragment is no view: the map stays where it is.
    page.get_by_role("link", name="地図を飛ばして一覧へ").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#layers-heading")).to_be_focused()
    assert _view(page) == view
    page_watch.assert_clean()
