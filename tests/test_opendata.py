"""Open data downloads, read back with standard readers."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import geopandas as gpd
import pyogrio
import pytest

from geoapp.opendata.formats import EVACUATION_HEADER
from geoapp.staff.exports import OPEN311_COLUMNS
from geoapp.wifi.csv_format import OLDER_FORMAT_HEADER, parse


@pytest.fixture
def client(engine_client):
    """Every test here runs on SQLite and on PostGIS: these doors touch the store."""
    return engine_client


LAYERS = ("boundary", "shelters", "evacuation_sites", "community_centres", "wifi", "reports",
          "wildlife_detections", "bus_routes", "bus_stops", "bus_positions", "bus_areas")


def _rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 only with a BOM
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_the_page_lists_every_public_dataset_with_licence_and_downloads(client):
    html = client.get("/opendata").text
    for layer in LAYERS:
        for ext in ("geojson", "csv", "gpkg"):
            assert f"/opendata/{layer}.{ext}" in html
    assert "国土地理院コンテンツ利用規約" in html and "サンプル" in html
    assert "/opendata/recommended/evacuation_sites_152064.csv" in html


@pytest.mark.parametrize("layer", LAYERS)
def test_geojson_and_geopackage_read_back_with_geopandas(client, tmp_path, layer):
    expected = client.get(f"/collections/{layer}/items?limit=1").json()["numberMatched"]
    geojson = tmp_path / f"{layer}.geojson"
    geojson.write_bytes(client.get(f"/opendata/{layer}.geojson").content)
    gpkg = tmp_path / f"{layer}.gpkg"
    gpkg.write_bytes(client.get(f"/opendata/{layer}.gpkg").content)
    assert len(gpd.read_file(geojson, engine="pyogrio")) == expected
    frame = gpd.read_file(gpkg, engine="pyogrio")
    assert len(frame) == expected and frame.crs.to_epsg() == 4326
    assert [name for name, _ in pyogrio.list_layers(gpkg)] == [layer]


def test_the_shelters_geopackage_keeps_the_wifi_columns(client, tmp_path):
    path = tmp_path / "shelters.gpkg"
    path.write_bytes(client.get("/opendata/shelters.gpkg").content)
    frame = gpd.read_file(path)
    assert frame["wifi"].sum() == 9 and "wifi_ssids" in frame.columns


def test_generic_csv_has_the_declared_properties_and_coordinates(client):
    rows = _rows(client.get("/opendata/shelters.csv").content)
    assert rows[0] == ["id", "name", "address", "wifi", "wifi_ssids", "same_as_emergency_site",
                       "intended_for", "gsi_no", "geometry_type", "latitude", "longitude"]
    assert len(rows) == 60 and rows[1][0] == "E1520600001111"
    assert rows[1][-3:] == ["Point", "38.014285", "139.318100"]
    boundary = _rows(client.get("/opendata/boundary.csv").content)
    assert boundary[1][-3] == "Polygon"
    assert max(len(cell) for row in boundary for cell in row) < 32_767  # fits a spreadsheet


def test_times_in_csv_files_are_japan_time_with_their_offset(client):
    """A person opening a CSV reads local time; a machine reads the offset (ISO 8601)."""
    client.post("/api/v1/reports", data={"category": "gutter", "description": "側溝",
                                         "lat": "37.9477", "lon": "139.3275"})
    rows = _rows(client.get("/opendata/reports.csv").content)
    record = dict(zip(rows[0], rows[1], strict=True))
    posted = client.get("/api/v1/reports/1").json()["created_at"]
    for column in ("created_at", "updated_at"):
        assert record[column].endswith("+09:00"), record
        assert datetime.fromisoformat(record[column]) == datetime.fromisoformat(posted)
    bulk = _rows(client.get("/opendata/recommended/reports_open311_bulk.csv").content)
    assert bulk[1][1].endswith("+09:00") and bulk[1][2].endswith("+09:00")


def test_evacuation_sites_in_the_39_column_municipal_standard(client):
    rows = _rows(client.get("/opendata/recommended/evacuation_sites_152064.csv").content)
    assert rows[0] == EVACUATION_HEADER and len(rows[0]) == 39
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(records) == 59
    assert {r["全国地方公共団体コード"] for r in records} == {"152064"}
    assert sum(r["災害種別_洪水"] == "有" for r in records) == 41
    assert {r["災害種別_火山現象"] for r in records} == {"無"}
    assert all(37.8 < float(r["緯度"]) < 38.1 for r in records)


def test_wifi_in_the_recommended_format_reads_back_with_geoapp_s_own_importer(client):
    content = client.get("/opendata/recommended/public_wireless_lan_152064.csv").content
    rows = _rows(content)
    assert rows[0] == OLDER_FORMAT_HEADER
    assert len(parse(content).points) == 10
    assert all("サンプル" in row[-1] for row in rows[1:])  # the sample says so in 備考


def test_public_reports_as_open311_bulk_csv_without_contacts(client):
    client.post("/api/v1/reports", data={"category": "gutter", "description": "側溝",
                                         "lat": "37.9477", "lon": "139.3275",
                                         "email": "hidden@example.org", "name": "秘密"})
    content = client.get("/opendata/recommended/reports_open311_bulk.csv").content
    rows = _rows(content)
    assert tuple(rows[0]) == OPEN311_COLUMNS and rows[1][0] == "1"
    assert b"hidden@example.org" not in content and "秘密".encode() not in content


def test_unknown_downloads_are_404(client):
    assert client.get("/opendata/shelters.shp").status_code == 404
    assert client.get("/opendata/nope.geojson").status_code == 404
    assert client.get("/opendata/recommended/secret.csv").status_code == 404
