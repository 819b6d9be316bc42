"""Layer data is cacheable: ETags from the data's version, 304 answers, Cache-Control per layer."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from geoapp.app import create_app
from geoapp.errors import LayerConfigError
from geoapp.settings import PROJECT_ROOT, Settings
from tests.wildlife.conftest import CITY_HALL as WILD_CITY_HALL
from tests.wildlife.conftest import at

LAYERS = PROJECT_ROOT / "layers"
REPORTS = "/collections/reports/items"
CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}

# Every kind of layer-data answer: metadata, pages (GeoJSON and HTML), one feature, downloads.
CACHED = [
    "/collections",
    "/collections?f=html",
    "/collections/shelters",
    "/collections/shelters/items?limit=5&lang=en",
    "/collections/shelters/items?f=html",
    "/collections/shelters/items/E1520600001111",
    REPORTS,
    "/collections/reports",
    "/collections/wildlife_detections/items",
    "/collections/bus_stops/items",
    "/opendata/shelters.geojson",
    "/opendata/evacuation_sites.csv",
    "/opendata/recommended/public_wireless_lan_152064.csv",
    "/opendata/recommended/reports_open311_bulk.csv",
]


def _post_report(client: TestClient, description: str) -> str:
    response = client.post("/api/v1/reports", data={
        "category": "gutter", "description": description, **CITY_HALL})
    assert response.status_code == 201, response.text
    return response.json()["number"]


@pytest.mark.parametrize("url", CACHED)
def test_a_repeat_view_is_a_304_without_a_body(engine_client, url):
    first = engine_client.get(url)
    assert first.status_code == 200 and first.content
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    again = engine_client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert "Accept-Encoding" in again.headers["vary"]
    # A client holding another version (or several, one of them current) is answered alike.
    assert engine_client.get(url, headers={"If-None-Match": 'W/"stale"'}).status_code == 200
    both = engine_client.get(url, headers={"If-None-Match": f'"stale", {etag}'})
    assert both.status_code == 304


def test_the_etag_depends_on_the_query_the_language_and_the_format(engine_client):
    url = "/collections/shelters/items"
    tags = {
        engine_client.get(url).headers["etag"],
        engine_client.get(url, params={"lang": "en"}).headers["etag"],
        engine_client.get(url, params={"limit": 3}).headers["etag"],
        engine_client.get(url, headers={"Accept": "text/html"}).headers["etag"],
    }
    assert len(tags) == 4
    answer = engine_client.get(url)
    assert "Accept" in answer.headers["vary"]
    # The JSON answer's ETag does not validate the HTML view of the same URL.
    html = engine_client.get(url, headers={"Accept": "text/html",
                                           "If-None-Match": answer.headers["etag"]})
    assert html.status_code == 200 and "<html" in html.text


def test_a_new_report_changes_the_reports_etag(engine_client):
    before = engine_client.get(REPORTS)
    number = _post_report(engine_client, "ETag のための通報")
    after = engine_client.get(REPORTS, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert number in {f["id"] for f in after.json()["features"]}
    # The feature itself, the collection list and the Open311 download change too.
    for url in ("/collections", "/opendata/recommended/reports_open311_bulk.csv"):
        assert engine_client.get(url).headers["etag"] != before.headers["etag"]
    # Other layers keep theirs: a report says nothing new about the shelters.
    shelters = engine_client.get("/collections/shelters/items")
    assert engine_client.get("/collections/shelters/items", headers={
        "If-None-Match": shelters.headers["etag"]}).status_code == 304


def test_a_report_posted_through_another_process_changes_the_etag(engine_settings):
    """Two apps on one database, as two workers behind a load balancer."""
    with TestClient(create_app(engine_settings)) as one, \
            TestClient(create_app(engine_settings)) as other:
        before = one.get(REPORTS).headers["etag"]
        assert other.get(REPORTS).headers["etag"] == before  # the version is the store's
        number = _post_report(other, "別のプロセスから")
        answer = one.get(REPORTS, headers={"If-None-Match": before})
        assert answer.status_code == 200 and answer.headers["etag"] != before
        assert number in {f["id"] for f in answer.json()["features"]}
        assert one.get(REPORTS).headers["etag"] == other.get(REPORTS).headers["etag"]


def test_a_me_too_changes_the_features_etag(engine_client):
    number = _post_report(engine_client, "同じ問題")
    url = f"{REPORTS}/{number}"
    before = engine_client.get(url).headers["etag"]
    assert engine_client.get(url, headers={"If-None-Match": before}).status_code == 304
    assert engine_client.post(f"/api/v1/reports/{number}/supporters").status_code == 200
    after = engine_client.get(url, headers={"If-None-Match": before})
    assert after.status_code == 200 and after.json()["properties"]["supporters"] == 1


def test_a_new_wildlife_detection_changes_its_etag(engine_client):
    app = engine_client.app
    now = datetime.now(UTC).replace(microsecond=0)
    _, key = app.state.wildlife.devices.register(
        name="cam", kind="ai_camera", lon=WILD_CITY_HALL[0], lat=WILD_CITY_HALL[1],
        species=["bear"], owner="市", now=now, visibility="exact")
    url = "/collections/wildlife_detections/items"
    before = engine_client.get(url).headers["etag"]
    posted = engine_client.post("/api/v1/wildlife/detections", headers={"X-Device-Key": key},
                                json={"event_id": "e1", "time": at(now), "species": "bear"})
    assert posted.status_code == 201
    after = engine_client.get(url, headers={"If-None-Match": before})
    assert after.status_code == 200 and len(after.json()["features"]) == 1


def test_file_layer_etags_survive_a_restart(tmp_path):
    urls = ["/collections/shelters/items?limit=7", "/collections/boundary",
            "/opendata/evacuation_sites.csv"]
    tags = []
    for run in range(2):  # two starts of the service, each with its own fresh store
        settings = Settings(environment="test", data_dir=tmp_path / f"var{run}")
        with TestClient(create_app(settings)) as client:
            tags.append([client.get(url).headers["etag"] for url in urls])
    assert tags[0] == tags[1]


def _layers_with(tmp_path: Path, **caches: object) -> Path:
    target = tmp_path / "layers"
    shutil.copytree(LAYERS, target)
    for layer_id, cache in caches.items():
        path = target / f"{layer_id}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["cache"] = cache
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def test_cache_control_comes_from_each_layer_file(tmp_path):
    layers = _layers_with(tmp_path, shelters={"max_age": 1234}, boundary={"no_cache": True})
    settings = Settings(environment="test", data_dir=tmp_path / "var", layers_dir=layers)
    with TestClient(create_app(settings)) as client:
        def control(url: str) -> str:
            return client.get(url).headers["cache-control"]
        assert control("/collections/shelters/items") == "public, max-age=1234"
        assert control("/opendata/shelters.csv") == "public, max-age=1234"
        assert control("/collections/boundary") == "public, no-cache"
        # The shipped files: a day for the shelters' neighbours, seconds for buses.
        assert control("/collections/evacuation_sites/items") == "public, max-age=86400"
        assert control("/collections/bus_positions/items") == "public, max-age=5"
        assert control(REPORTS) == "public, no-cache"
        # A list made of several layers is as cautious as the most cautious one.
        assert control("/collections") == "public, no-cache"


@pytest.mark.parametrize("cache", [{"max_age": 60, "no_cache": True}, {}, {"max_age": -1},
                                   {"max_age": "a day"}, {"maxage": 60}])
def test_a_bad_cache_declaration_is_refused_naming_the_file(tmp_path, cache):
    layers = _layers_with(tmp_path, shelters=cache)
    with pytest.raises(LayerConfigError) as error:
        create_app(Settings(environment="test", data_dir=tmp_path / "var", layers_dir=layers))
    assert "shelters.yaml" in error.value.detail and "cache" in error.value.detail


def test_errors_carry_no_validators(engine_client):
    missing = engine_client.get("/collections/nope/items")
    assert missing.status_code == 404 and "etag" not in missing.headers
    bad = engine_client.get("/collections/shelters/items", params={"limit": "many"})
    assert bad.status_code == 400 and "etag" not in bad.headers
