"""Wildlife over HTTP: ingest statuses, the public layer, staff access, privacy."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from geoapp.app import create_app
from tests.imaging import phone_jpeg
from tests.staff.conftest import PASSWORD, login
from tests.wildlife.conftest import CITY_HALL, EAST, at

API = "/api/v1/wildlife/detections"


@pytest.fixture
def app(engine_settings, now):
    app = create_app(engine_settings)
    for name, role in (("wild", "wildlife"), ("road", "road")):
        app.state.accounts.create(name, PASSWORD, role, now)
    return app


@pytest.fixture
def client(app):
    with TestClient(app) as client:
        yield client


def _register(app, now, name, kind, visibility, pos):
    return app.state.wildlife.devices.register(
        name=name, kind=kind, lon=pos[0], lat=pos[1], species=["bear"], owner="市", now=now,
        visibility=visibility)


def test_ingest_answers_clear_statuses(app, client, now):
    device, key = _register(app, now, "cam", "ai_camera", "exact", CITY_HALL)
    body = {"event_id": "a", "time": at(now), "species": "bear"}
    assert client.post(API, json=body, headers={"X-Device-Key": key}).status_code == 201
    again = client.post(API, json=body, headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 200 and again.json()["created"] is False
    assert client.post(API, json=body).status_code == 401
    assert client.post(API, json=body, headers={"X-Device-Key": "wrong"}).status_code == 401
    bad = client.post(API, content=b"{not json", headers={"X-Device-Key": key,
                                                          "Content-Type": "application/json"})
    assert bad.status_code == 422 and bad.json()["field"] == "body"
    future = client.post(API, json={**body, "event_id": "f", "time": at(now, -600)},
                         headers={"X-Device-Key": key, "Accept-Language": "en"})
    assert future.status_code == 422 and "future" in future.json()["detail"]
    unknown = client.post(API, json={**body, "event_id": "u", "species": "yeti"},
                          headers={"X-Device-Key": key})
    assert unknown.status_code == 422 and unknown.json()["field"] == "species"
    photo = client.post(API, data={"event_id": "p", "time": at(now), "species": "bear"},
                        files={"image": ("c.jpg", phone_jpeg(), "image/jpeg")},
                        headers={"X-Device-Key": key})
    assert photo.status_code == 201
    app.state.wildlife.devices.set_status(device.id, "retired")
    assert client.post(API, json={**body, "event_id": "r"},
                       headers={"X-Device-Key": key}).status_code == 403
    items = client.get("/collections/wildlife_detections/items").json()
    assert items["numberMatched"] == 2
    thumb = next(f["properties"]["thumbnail"] for f in items["features"]
                 if f["properties"]["thumbnail"])
    assert client.get(thumb).status_code == 200


def test_no_public_endpoint_reveals_a_hidden_device_or_a_trap(app, client, now):
    secret_points = [(139.3712345, 37.9612345), (139.3823456, 37.9523456)]
    for (lon, lat), kind, visibility in zip(secret_points, ("sensor", "trap"),
                                            ("hidden", "exact"), strict=True):
        _, key = _register(app, now, f"secret {kind}", kind, visibility, (lon, lat))
        event = {"event_id": "s", "time": at(now), "species": "bear"}
        if kind == "trap":
            event["event"] = "triggered"
        assert client.post(API, json=event, headers={"X-Device-Key": key}).status_code == 201
    _, key = _register(app, now, "mesh cam", "ir_camera", "mesh", EAST)
    client.post(API, json={"event_id": "m", "time": at(now), "species": "bear"},
                headers={"X-Device-Key": key})
    pages = ["/collections/wildlife_detections/items?limit=100",
             "/collections/wildlife_detections/items?f=html&limit=100",
             "/collections/wildlife_detections", "/collections", "/wildlife/detections",
             "/wildlife/detections?f=html&days=3650", "/opendata",
             "/opendata/wildlife_detections.geojson", "/opendata/wildlife_detections.csv",
             "/", "/?f=json", "/api"]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        text = response.text
        for lon, lat in secret_points + [EAST]:
            for number in (lon, lat):
                assert f"{number:.4f}"[:-1] not in text, (page, number)
    features = client.get("/wildlife/detections").json()["features"]
    assert [f["properties"]["precision"] for f in features] == ["mesh"]
    assert client.get("/collections/wildlife_detections/items/1").status_code == 404


def test_staff_see_exact_positions_and_others_do_not(app, now):
    _register(app, now, "trap 1", "trap", "exact", (139.3712345, 37.9612345))
    with TestClient(app) as officer, TestClient(app) as road, TestClient(app) as anyone:
        login(officer, "wild")
        login(road, "road")
        devices = officer.get("/staff/wildlife/devices.geojson").json()["features"]
        assert devices[0]["geometry"]["coordinates"] == [139.3712345, 37.9612345]
        assert road.get("/staff/wildlife/devices.geojson").status_code == 403
        assert anyone.get("/staff/wildlife/detections",
                          headers={"Accept": "application/json"}).status_code == 401
        page = officer.get("/staff/wildlife")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        refused = officer.post("/staff/wildlife/devices", data={"name": "x"})
        assert refused.status_code == 403
        made = officer.post("/staff/wildlife/devices", data={
            "csrf": csrf, "name": "猿センサー", "kind": "sensor", "lat": "37.95",
            "lon": "139.33", "species": ["monkey"], "visibility": "exact"})
        assert made.status_code == 200
        key = re.search(r'<code id="new-key">([^<]+)</code>', made.text).group(1)
        assert key not in officer.get("/staff/wildlife").text  # shown once
        assert app.state.wildlife.devices.authenticate(key).name == "猿センサー"
