"""axe-core in Chromium: no WCAG 2.0 A/AA violation (JIS X 8341-3 AA) on the map or the
HTML pages, including the map's Leaflet, markercluster and locate controls and its popups."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.helpers import (
    assert_axe_clean,
    describe_axe,
    hide_map_panes,
    run_axe,
    wait_for_layer,
)

pytestmark = pytest.mark.browser

HTML_PAGES = [
    "/collections/shelters?f=html",
    "/collections/shelters/items?f=html&limit=100",
    "/collections?f=html",
    "/collections/shelters/items/E1520600001111?f=html",  # 紫雲寺小学校
    "/collections/wifi/items?f=html&limit=100&lang=en",
    "/api?f=html",
]


def _open_popup(page: Page, layer_id: str) -> None:
    page.evaluate("""id => new Promise(done => {
        const group = geoapp.layers[id];
        const marker = group.getLayers()[0];
        const open = () => { marker.openPopup(); setTimeout(done, 400); };
        if (group.zoomToShowLayer) { group.zoomToShowLayer(marker, open); } else { open(); }
    })""", layer_id)
    assert page.locator(".leaflet-popup").count() == 1


PHONE = {"width": 375, "height": 740}


@pytest.mark.parametrize(("path", "viewport"), [("/", None), ("/?lang=en", None), ("/", PHONE)],
                         ids=["ja", "en", "ja-phone"])
def test_map_page_has_no_wcag_violations(page, live_server, path, viewport):
    if viewport:
        page.set_viewport_size(viewport)
    page.goto(live_server.url + path)
    for layer_id in ("boundary", "shelters", "wifi"):
        wait_for_layer(page, layer_id)
    page.wait_for_load_state("networkidle")
    results = assert_axe_clean(page, f"{path} as it opens (markers grouped)")
    # The rules that matter most here did run.
    ran = results["passes"] + [rule["id"] for rule in results["incomplete"]]
    for rule in ("color-contrast", "image-alt", "html-has-lang", "document-title",
                 "meta-viewport", "aria-command-name", "link-name"):
        assert rule in ran, rule
    if viewport:  # the layer list is folded on a phone: open it
        page.get_by_role("button", name="表示するレイヤー").click()
    assert "label" in run_axe(page, {"runOnly": {"type": "rule", "values": ["label"]}})[
        "passes"], "the layer checkboxes were not checked"

    # Every other layer switched on, zoomed in and a popup open: more controls, more markers.
    page.evaluate("""() => ['evacuation_sites', 'community_centres'].forEach(
        id => geoapp.layers[id].addTo(geoappMap))""")
    _open_popup(page, "shelters")
    assert_axe_clean(page, f"{path} with a shelter's popup open")
    _open_popup(page, "wifi")
    assert_axe_clean(page, f"{path} with a Wi-Fi popup open")


def test_text_around_the_map_has_enough_contrast(page, live_server):
    """axe cannot judge text near the map while the map's panes (clipped by the map, but
    still laid out beyond it) seem to overlap it. With the panes hidden it checks the
    heading, the notice, the layer list and the map's controls."""
    page.goto(live_server.url + "/")
    wait_for_layer(page, "shelters")
    hide_map_panes(page)
    results = run_axe(page, {"runOnly": {"type": "rule", "values": ["color-contrast"]}})
    assert not results["violations"], describe_axe(results["violations"])
    unsure = [n for rule in results["incomplete"] for n in rule["nodes"]
              if "content contains only non-text" not in n["summary"]]
    assert not unsure, describe_axe(results["incomplete"])
    assert "color-contrast" in results["passes"]


@pytest.mark.parametrize("path", HTML_PAGES)
def test_html_page_has_no_wcag_violations(page, page_watch, live_server, path):
    page.goto(live_server.url + path)
    assert_axe_clean(page, path)
    page_watch.assert_clean()


def test_axe_does_report_a_planted_violation(page, live_server):
    """The harness is live: an image without a text alternative is caught."""
    page.goto(live_server.url + "/collections?f=html")
    page.evaluate("""() => {
        const img = document.createElement('img');
        img.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';
        img.width = 20; img.height = 20;
        document.querySelector('main').appendChild(img);
    }""")
    with pytest.raises(AssertionError, match="image-alt"):
        assert_axe_clean(page, "the collections page with a planted image")
