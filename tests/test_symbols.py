"""Marker shapes per value: wildlife species differ by shape as well as colour."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from geoapp.catalog.loader import load_specs
from geoapp.errors import LayerConfigError
from geoapp.settings import PROJECT_ROOT

HTML = {"Accept": "text/html"}
LAYERS = PROJECT_ROOT / "layers"
GEO = PROJECT_ROOT / "data" / "geo"


def _layer_config(html: str, layer_id: str) -> dict:
    """The configuration the page gives geoapp-map.js for one fetched layer."""
    for raw in re.findall(r"geoapp\.featureLayer\((\{.*?\})\);\n", html):
        config = json.loads(raw)
        if config["id"] == layer_id:
            return config
    raise AssertionError(f"no fetched layer {layer_id!r} in the page")


def _shape(icon: str) -> str:
    """The SVG element drawing a symbol (the shape, whatever its colour)."""
    svg = unquote(icon.removeprefix("data:image/svg+xml,"))
    return re.search(r"<g [^>]*>(.*)</g>", svg).group(1)


def test_each_species_has_its_own_shape_and_name(client):
    html = client.get("/", headers=HTML).text
    config = _layer_config(html, "wildlife_detections")
    icons = config["icons"]
    assert set(icons) == {"bear", "boar", "monkey", "deer", "other"}
    assert len(set(icons.values())) == 5  # one icon per species
    shapes = {value: _shape(icon) for value, icon in icons.items()}
    assert shapes["bear"].startswith("<path d=\"M11 2.5")  # triangle
    assert shapes["boar"].startswith("<rect")  # square
    assert shapes["monkey"].startswith("<circle")
    assert shapes["deer"].startswith("<path d=\"M11 1.5")  # diamond
    assert len({shapes[s] for s in ("bear", "boar", "monkey", "deer")}) == 4
    # Each marker's text alternative names the species (geoapp-map.js adds colorLabels).
    assert config["colorBy"] == "species"
    assert config["colorLabels"]["bear"] == "クマ"
    assert config["colorLabels"]["boar"] == "イノシシ"
    # The legend beside the map shows the same symbols.
    for value, icon in icons.items():
        assert f'<li data-value="{value}"><img src="{icon}"' in html


def test_layers_without_symbols_keep_their_one_shape(client):
    config = _layer_config(client.get("/", headers=HTML).text, "reports")
    assert config["icons"] and len({_shape(i) for i in config["icons"].values()}) == 1


def _wildlife_with(tmp_path: Path, style: dict) -> Path:
    layers = tmp_path / "layers"
    shutil.copytree(LAYERS, layers)
    path = layers / "wildlife_detections.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["style"].update(style)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return layers


@pytest.mark.parametrize(("style", "message"), [
    ({"symbols": {"bear": "star"}}, "'star' for 'bear' must be one of"),
    ({"symbols": {"bear": "line"}}, "'line' for 'bear' must be one of"),
    ({"symbols": {"yeti": "circle"}}, "needs a colour"),
    ({"color_by": None, "colors": {}, "symbols": {"bear": "circle"}}, "symbols needs color_by"),
])
def test_a_bad_shape_in_a_layer_file_is_refused(tmp_path, style, message):
    layers = _wildlife_with(tmp_path, style)
    with pytest.raises(LayerConfigError) as error:
        load_specs(layers, GEO)
    assert "wildlife_detections.yaml: style:" in error.value.detail
    assert message in error.value.detail
