"""The map page's view script (geoapp-view.js) is given every public layer's id by the
name its layer-control entry has, so a link to the view names layers in either language."""

from __future__ import annotations

import json
import re

import pytest

from geoapp.settings import PROJECT_ROOT

HTML = {"Accept": "text/html"}


def _view_config(html: str) -> dict:
    found = re.findall(r"geoapp\.setupView\(\w+, (\{.*?\})\);\n", html)
    assert len(found) == 1, "the map page sets the view up once"
    return json.loads(found[0])


def _control_names(html: str) -> list[str]:
    """The overlay names of the page's Leaflet layer control, as the page declares them."""
    block = re.search(r"\boverlays :\s+\{(.*?)\n\s*\},", html, re.S)
    assert block, "no layer control in the page"
    return [json.loads(name) for name in re.findall(r'^\s*("(?:[^"\\]|\\.)*") : \w+,$',
                                                      block.group(1), re.M)]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_layer_in_the_control_has_its_id_for_the_address(client, lang):
    html = client.get("/", params={"lang": lang}, headers=HTML).text
    config = _view_config(html)
    names = _control_names(html)
    ids = [entry["id"] for entry in config["layers"]]
    public = [c["id"] for c in client.get("/collections", params={"f": "json"}).json()[
        "collections"]]
    # Each named layer is one entry of the control, in the control's order; the
    # collections are all among them (the hazard overlays are layers without one).
    assert [entry["name"] for entry in config["layers"]] == names
    assert len(set(ids)) == len(ids)
    assert set(public) <= set(ids)
    assert {"hazard_flood", "hazard_landslide"} <= set(ids)
    assert config["share"] == {"ja": "この表示を共有", "en": "Share this view"}[lang]


def test_the_view_script_comes_after_the_map_script_and_prints(client):
    html = client.get("/", headers=HTML).text
    assert html.index("geoapp-map.js") < html.index("geoapp-view.js")
    assert "geoapp-view.css" in html
    css = (PROJECT_ROOT / "geoapp" / "static" / "geoapp-view.css").read_text(encoding="utf-8")
    assert "@media print" in css
