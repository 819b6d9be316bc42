"""Layer declarations: every file loads, and bad ones are refused with a clear message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from geoapp.app import create_app
from geoapp.catalog.loader import load_specs
from geoapp.catalog.registry import Catalog
from geoapp.cli import cli
from geoapp.errors import LayerConfigError
from geoapp.settings import PROJECT_ROOT, Settings

LAYERS = PROJECT_ROOT / "layers"
GEO = PROJECT_ROOT / "data" / "geo"


@pytest.mark.parametrize("path", sorted(LAYERS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_layer_file_declares_what_the_map_needs(path):
    spec = next(s for s in load_specs(LAYERS, GEO) if s.id == path.stem)
    assert spec.title.ja and spec.title.en and spec.description.ja and spec.description.en
    assert spec.credit.text.ja and spec.credit.licence
    if not spec.is_tiles:
        assert spec.properties and spec.label_property


@pytest.fixture
def catalog(settings) -> Catalog:
    return create_app(settings).state.catalog


def test_the_catalogue_loads_the_real_shibata_data(catalog):
    counts = {layer.id: len(layer.source) for layer in catalog if layer.source is not None}
    assert counts == {"boundary": 1, "shelters": 59, "evacuation_sites": 59,
                      "community_centres": 7, "wifi": 10, "reports": 0,
                      "wildlife_detections": 0, "bus_areas": 0, "bus_routes": 0,
                      "bus_stops": 0, "bus_positions": 0}
    boundary = catalog.collection("boundary").source.features[0]
    assert len(boundary.geometry["coordinates"][0]) == 7668  # the full N03 ring, not simplified


def test_hazard_overlays_are_off_by_default_and_credited(catalog):
    overlays = [layer for layer in catalog if layer.spec.is_tiles]
    assert {layer.id for layer in overlays} == {"hazard_flood", "hazard_landslide"}
    for layer in overlays:
        assert layer.spec.style.show is False
        assert "ハザードマップポータルサイト" in layer.spec.credit.text.ja


def test_community_centres_are_labelled_provisional(catalog):
    spec = catalog.collection("community_centres").spec
    assert spec.provisional and "暫定" in spec.title.ja


def _copy_layers(tmp_path: Path) -> Path:
    target = tmp_path / "layers"
    shutil.copytree(LAYERS, target)
    return target


def _edit(path: Path, **changes: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": {"ja": "避難所"}}, "title.en"),
        ({"id": "other"}, "must match the file name"),
        ({"source": {"type": "geojson", "path": "missing.geojson"}}, "missing.geojson"),
        ({"style": {"color": "blue"}}, "style.color"),
        ({"label_property": "nope"}, "label_property"),
        ({"title_by": "nope"}, "title_by"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_a_bad_declaration_is_refused_naming_the_file_and_field(tmp_path, changes, message):
    layers = _copy_layers(tmp_path)
    _edit(layers / "shelters.yaml", **changes)
    with pytest.raises(LayerConfigError) as error:
        load_specs(layers, GEO)
    assert "shelters.yaml" in error.value.detail and message in error.value.detail


def test_the_validate_command_reports_every_layer(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["layers", "validate"])
    assert result.exit_code == 0, result.output
    assert "shelters" in result.output and "59 features" in result.output
    assert "[sample]" in result.output and "[provisional]" in result.output


def test_the_validate_command_fails_on_a_broken_file(monkeypatch, tmp_path):
    layers = _copy_layers(tmp_path)
    (layers / "broken.yaml").write_text("id: broken\ntitle: [", encoding="utf-8")
    monkeypatch.setenv("GEOAPP_LAYERS_DIR", str(layers))
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(cli, ["layers", "validate"])
    assert result.exit_code == 1
    assert "broken.yaml: not valid YAML" in result.output


def test_the_reports_layer_cannot_be_built_without_the_store():
    with pytest.raises(LayerConfigError, match="needs the store"):
        Catalog.build(LAYERS, GEO, PROJECT_ROOT / "var-unused")


def test_the_app_refuses_to_start_with_a_broken_layer(tmp_path):
    layers = _copy_layers(tmp_path)
    _edit(layers / "wifi.yaml", public="maybe")
    with pytest.raises(LayerConfigError, match="wifi.yaml"):
        create_app(Settings(layers_dir=layers, data_dir=tmp_path / "var"))
