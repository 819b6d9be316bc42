"""Feature and layer texts are shown literally, never run, on the map and the HTML pages.

A layer is served whose feature names and addresses are HTML and script, and whose own
title, marker label and credit are HTML too (all of it plausible in an imported file or a
careless declaration). Chromium opens the map, clicks each marker, and opens the list and
item pages: ``window.__xss`` must never be set and the text must read as written.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import ROOT, wait_for_layer
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
SVG = '"><svg onload="window.__xss=1">'
TITLE = '試験<img src=x onerror="window.__xss=1">レイヤー'
MARKER = "試験<b>地点</b>"
CREDIT = '出典<img src=x onerror="window.__xss=1">'

FEATURES = [
    {"code": "x1", "name": IMG, "address": SCRIPT, "lon": 139.30, "lat": 37.95},
    {"code": "x2", "name": SCRIPT, "address": SVG, "lon": 139.36, "lat": 37.93},
    {"code": "x3<b>&'", "name": "A & B <i>", "address": "&lt;escaped already&gt;",
     "lon": 139.33, "lat": 37.97},
    {"code": "x4 ?#%", "name": "100% 「テスト」?#", "address": "", "lon": 139.31, "lat": 37.92},
]

LAYER_YAML = f"""
id: crafted
order: 20
title: {{ja: {json.dumps(TITLE)}, en: {json.dumps(TITLE)}}}
description: {{ja: {json.dumps(SCRIPT)}, en: {json.dumps(SCRIPT)}}}
source: {{type: geojson, path: crafted.geojson, id_property: code}}
marker_label: {{ja: {json.dumps(MARKER)}, en: {json.dumps(MARKER)}}}
label_property: name
properties:
  - {{key: name, source: name, label: {{ja: 名称, en: Name}}}}
  - {{key: address, source: address, label: {{ja: {json.dumps(IMG)}, en: Address}}}}
style: {{color: "#0b5394", symbol: square}}
credit:
  text: {{ja: {json.dumps(CREDIT)}, en: {json.dumps(CREDIT)}}}
  url: "javascript:window.__xss=1"
  licence: {json.dumps(SCRIPT)}
  licence_url: " JavaScript:window.__xss=1"
"""


@pytest.fixture(scope="module")
def crafted_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("crafted")
    layers, geo = root / "layers", root / "geo"
    layers.mkdir()
    # The shipped data too: geoapp itself reads the city boundary from the geo folder.
    shutil.copytree(ROOT / "data" / "geo", geo)
    (layers / "crafted.yaml").write_text(LAYER_YAML, encoding="utf-8")
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature",
         "geometry": {"type": "Point", "coordinates": [f["lon"], f["lat"]]},
         "properties": {"code": f["code"], "name": f["name"], "address": f["address"]}}
        for f in FEATURES
    ]}
    (geo / "crafted.geojson").write_text(json.dumps(collection, ensure_ascii=False),
                                         encoding="utf-8")
    server = LiveServer(root / "var", env={"GEOAPP_LAYERS_DIR": str(layers),
                                           "GEOAPP_GEO_DIR": str(geo)})
    yield server
    server.stop()


def _settle(page: Page) -> None:
    """Give any injected handler (an image's onerror, an svg's onload) its chance to run."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)


def _assert_not_run(page: Page) -> None:
    assert page.evaluate("window.__xss") is None, "injected script ran"
    # No element made from the data: no <img src=x>, <svg onload>, <b> or <i> from a value.
    for selector in ("img[src=x]", "svg[onload]", "main b", "main i", ".leaflet-container b"):
        assert page.locator(selector).count() == 0, selector
    # A declared credit URL that is not a web address does not become a link.
    assert page.evaluate("""() => [...document.links].filter(
        a => !/^https?:$/.test(a.protocol)).map(a => a.href)""") == []


def test_map_shows_crafted_texts_literally(page, page_watch, crafted_server):
    page.goto(crafted_server.url + "/")
    assert wait_for_layer(page, "crafted") == len(FEATURES)
    _settle(page)
    _assert_not_run(page)
    # The layer's title and credit, which Leaflet puts into innerHTML, read as written.
    expect(page.get_by_role("group", name="表示するレイヤー")).to_contain_text(TITLE)
    expect(page.locator(".leaflet-control-attribution")).to_contain_text(CREDIT)

    for feature in FEATURES:
        marker = page.get_by_role("button", name=f"{MARKER}: {feature['name']}", exact=True)
        marker.click()
        popup = page.locator(".leaflet-popup")
        expect(popup.locator("h2")).to_have_text(feature["name"])
        expect(popup.locator("p.geoapp-popup-layer")).to_have_text(TITLE)
        shown = [feature["address"]] if feature["address"] else []
        expect(popup.locator("dt")).to_have_text([IMG] * len(shown))
        expect(popup.locator("dd")).to_have_text(shown)
        _settle(page)
        _assert_not_run(page)
        popup.get_by_role("button", name="閉じる").click()
        expect(popup).to_have_count(0)
    page_watch.assert_clean()


def test_list_and_item_pages_show_crafted_texts_literally(page, page_watch, crafted_server):
    page.goto(crafted_server.url + "/collections/crafted/items?f=html&limit=100")
    _settle(page)
    _assert_not_run(page)
    expect(page.locator("h1")).to_have_text(re.compile("^" + re.escape(TITLE)))
    table = page.get_by_role("table")
    expect(table.locator("thead th").first).to_have_text("名称")
    expect(table.locator("thead th").nth(1)).to_have_text(IMG)
    for feature in FEATURES:
        row = table.locator("tbody tr").filter(
            has=page.get_by_role("rowheader", name=feature["name"], exact=True))
        expect(row).to_have_count(1)
        expect(row.locator("td").first).to_have_text(feature["address"])

    for feature in FEATURES:
        page.goto(crafted_server.url + "/collections/crafted/items?f=html&limit=100")
        page.get_by_role("link", name=feature["name"], exact=True).click()
        expect(page.locator("h1")).to_have_text(feature["name"])
        assert page.title().startswith(feature["name"])
        expect(page.get_by_role("table").locator("td").first).to_have_text(feature["code"])
        _settle(page)
        _assert_not_run(page)

    for path in ("/collections/crafted?f=html", "/collections?f=html"):
        page.goto(crafted_server.url + path)
        _settle(page)
        _assert_not_run(page)
        expect(page.locator("main")).to_contain_text(TITLE)
        expect(page.locator("main")).to_contain_text(CREDIT)
    page_watch.assert_clean()
