"""Open311 GeoReport v2, driven as a third-party app would drive it."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from geoapp.app import create_app
from geoapp.staff.workflow import ActionRequest
from tests.imaging import phone_jpeg

BASE = "/open311/v2"
CITY_HALL = {"lat": "37.9477", "long": "139.3275"}


@pytest.fixture
def app(engine_settings):
    return create_app(engine_settings)


@pytest.fixture
def api(app):
    with TestClient(app) as client:
        yield client


@pytest.fixture
def key(app):
    return app.state.api_keys.issue("city-app", datetime.now(UTC))


def _post(api, key, fmt="json", files=None, **fields):
    data = {"api_key": key, "service_code": "gutter", "description": "側溝のふたが割れている",
            "email": "app-user@example.org", "first_name": "花子", "last_name": "新発田",
            **CITY_HALL, **fields}
    return api.post(f"{BASE}/requests.{fmt}", data=data, files=files)


def test_discovery_and_services_in_json_and_xml(api):
    assert api.get(f"{BASE}/discovery.json").json()["endpoints"][0]["formats"]
    services = api.get(f"{BASE}/services.json").json()
    gutter = next(s for s in services if s["service_code"] == "gutter")
    assert gutter["metadata"] is False and gutter["type"] == "realtime"
    assert gutter["group"] == "道路管理担当" and "Gutters" in gutter["keywords"]
    xml = ET.fromstring(api.get(f"{BASE}/services.xml").content)
    assert xml.tag == "services" and xml.find("service/service_code").text
    light = api.get(f"{BASE}/services/street_light.json").json()
    attribute = light["attributes"][0]
    assert attribute["variable"] is True and attribute["code"] == "light_number"
    assert attribute["required"] is False and attribute["order"] == 1


def test_an_app_posts_a_request_with_a_photo_and_reads_it_back(api, key, app):
    response = _post(api, key, files=[("media", ("IMG_1.JPG", phone_jpeg(), "image/jpeg"))],
                     jurisdiction_id="city.shibata.lg.jp", **{"attribute[light_number]": ""})
    assert response.status_code == 201
    created = response.json()
    assert isinstance(created, list) and len(created) == 1
    request_id = created[0]["service_request_id"]
    assert isinstance(request_id, str)
    one = api.get(f"{BASE}/requests/{request_id}.json").json()
    assert isinstance(one, list) and len(one) == 1
    record = one[0]
    assert record["status"] == "open" and record["status_notes"] == "受付"
    assert record["requested_datetime"].endswith("+09:00")
    assert isinstance(record["lat"], float) and record["service_code"] == "gutter"
    photo = api.get(record["media_url"].replace("http://testserver", ""))
    assert not Image.open(io.BytesIO(photo.content)).getexif()
    xml = ET.fromstring(api.get(f"{BASE}/requests/{request_id}.xml").content)
    assert xml.tag == "service_requests"
    assert xml.find("request/service_request_id").text == request_id
    assert xml.find("request/status").text == "open"
    everything = api.get(f"{BASE}/requests.json").text
    assert "app-user@example.org" not in everything and "花子" not in everything


def test_the_status_follows_what_staff_do(api, key, app):
    request_id = _post(api, key).json()[0]["service_request_id"]
    road = app.state.accounts.create("road", "a long enough password", "road",
                                     datetime.now(UTC))
    workflow = app.state.workflow
    workflow.apply(int(request_id), road, ActionRequest("start", 1), datetime.now(UTC))
    assert api.get(f"{BASE}/requests/{request_id}.json").json()[0]["status_notes"] == "対応中"
    workflow.apply(int(request_id), road, ActionRequest("fix", 2, body="交換しました"),
                   datetime.now(UTC))
    record = api.get(f"{BASE}/requests/{request_id}.json").json()[0]
    assert record["status"] == "closed" and record["status_notes"] == "対応済"
    updates = api.get(f"{BASE}/servicerequestupdates.json").json()
    assert [u["status"] for u in updates] == ["OPEN", "CLOSED"]
    assert updates[-1]["description"] == "交換しました"


def test_a_contractor_closes_a_request_through_updates(api, key):
    request_id = _post(api, key).json()[0]["service_request_id"]
    posted = api.post(f"{BASE}/servicerequestupdates.json", data={
        "api_key": key, "service_request_id": request_id, "status": "CLOSED",
        "description": "業者が補修しました"})
    assert posted.status_code == 200 and posted.json()[0]["update_id"]
    record = api.get(f"{BASE}/requests/{request_id}.json").json()[0]
    assert record["status"] == "closed"
    assert "業者が補修しました" in api.get(f"/reports/{request_id}").text


def test_filters_empty_parameters_and_the_90_day_window(api, key):
    first = _post(api, key).json()[0]["service_request_id"]
    second = _post(api, key, service_code="obstacle").json()[0]["service_request_id"]
    ids = {r["service_request_id"] for r in api.get(
        f"{BASE}/requests.json?status=&service_code=&start_date=").json()}
    assert ids == {first, second}
    only = api.get(f"{BASE}/requests.json?service_code=obstacle").json()
    assert [r["service_request_id"] for r in only] == [second]
    both = api.get(f"{BASE}/requests.json?service_request_id={first},{second}").json()
    assert len(both) == 2
    assert api.get(f"{BASE}/requests.json?status=closed").json() == []
    old = api.get(f"{BASE}/requests.json?end_date=2020-01-01T00:00:00%2B09:00").json()
    assert old == []


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"api_key": "wrong"}, 403, "api_key"),
        ({"service_code": "teleport"}, 400, "teleport"),
        ({"lat": "37.9161", "long": "139.0236"}, 400, "outside"),
        ({"jurisdiction_id": "city.niigata.lg.jp"}, 404, "jurisdiction"),
        ({"lat": "", "long": "", "address_string": "新発田市中央町3-3-3"}, 400, "lat and long"),
        ({"media_url": "file:///etc/passwd"}, 400, "media_url"),
    ],
)
def test_errors_use_the_standard_body_in_json_and_xml(api, key, fields, status, words):
    response = _post(api, key, **fields)
    assert response.status_code == status
    body = response.json()
    assert body[0]["code"] == status and words in body[0]["description"]
    xml = _post(api, key, fmt="xml", **fields)
    root = ET.fromstring(xml.content)
    assert root.tag == "errors" and root.find("error/code").text == str(status)


def test_unknown_requests_and_formats_are_404(api):
    assert api.get(f"{BASE}/requests/999.json").json()[0]["code"] == 404
    assert api.get(f"{BASE}/requests/999.xml").status_code == 404
    assert api.get(f"{BASE}/services.csv").status_code == 404


def test_revoked_keys_stop_working(api, key, app):
    app.state.api_keys.revoke("city-app", datetime.now(UTC))
    assert _post(api, key).status_code == 403


def test_keys_are_stored_hashed(app, key):
    import sqlalchemy as sa

    with app.state.reports.store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash FROM api_keys")).scalar_one()
    assert stored != key and len(stored) == 64
