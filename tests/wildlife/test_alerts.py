"""Alert subscriptions: double opt-in, unsubscribe, matching by species and area, privacy."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from geoapp.errors import InvalidInput
from tests.wildlife.conftest import CITY_HALL, EAST, at


def _outbox(wild) -> list[sa.Row]:
    with wild.engine.connect() as conn:
        return conn.execute(sa.text("SELECT to_addr, subject, body FROM outbox ORDER BY id")).all()


def _subscribe(wild, now, email, *, species=("bear",), around=None, radius=1000.0, lang="ja"):
    lon, lat = around if around else (None, None)
    token = wild.alerts.subscribe(email=email, species=species, lang=lang, now=now, lon=lon,
                                  lat=lat, radius_m=radius if around else None)
    assert wild.alerts.confirm(token, now)
    return token


def test_nothing_is_sent_before_the_confirmation_link_is_opened(wild, devices, now):
    token = wild.alerts.subscribe(email="a@example.org", species=["bear"], lang="en", now=now)
    confirm = _outbox(wild)
    assert len(confirm) == 1 and f"/wildlife/alerts/confirm/{token}" in confirm[0].body
    _, key = devices["exact"]
    wild.ingest.receive(key, {"event_id": "1", "time": at(now), "species": "bear"},
                        source="http", now=now)
    assert len(_outbox(wild)) == 1  # unconfirmed: no alert
    assert wild.alerts.confirm(token, now) and not wild.alerts.confirm("nope", now)
    wild.ingest.receive(key, {"event_id": "2", "time": at(now), "species": "bear"},
                        source="http", now=now)
    alert = _outbox(wild)[-1]
    assert "Bear" in alert.subject and f"/wildlife/alerts/unsubscribe/{token}" in alert.body
    assert wild.alerts.unsubscribe(token) and not wild.alerts.unsubscribe(token)
    wild.ingest.receive(key, {"event_id": "3", "time": at(now), "species": "bear"},
                        source="http", now=now)
    assert len(_outbox(wild)) == 2


def test_alerts_match_species_and_area(wild, devices, now):
    _subscribe(wild, now, "near@example.org", around=CITY_HALL)
    _subscribe(wild, now, "far@example.org", around=EAST)
    _subscribe(wild, now, "boar@example.org", species=("boar",))
    _subscribe(wild, now, "city@example.org")
    before = len(_outbox(wild))
    _, key = devices["exact"]
    wild.ingest.receive(key, {"event_id": "1", "time": at(now), "species": "bear"},
                        source="http", now=now)
    got = {row.to_addr for row in _outbox(wild)[before:]}
    assert got == {"near@example.org", "city@example.org"}


def test_a_hidden_device_reaches_only_whole_city_subscribers_and_never_says_where(wild, devices,
                                                                                   now):
    _subscribe(wild, now, "circle@example.org", around=EAST, radius=200)
    _subscribe(wild, now, "city@example.org")
    _subscribe(wild, now, "city-en@example.org", lang="en")
    before = len(_outbox(wild))
    for name in ("hidden", "trap"):
        device, key = devices[name]
        event = "triggered" if name == "trap" else "detection"
        wild.ingest.receive(key, {"event_id": "1", "time": at(now), "species": "bear",
                                  "event": event}, source="http", now=now)
    alerts = [r for r in _outbox(wild)[before:] if r.to_addr != "officer@city.example"]
    assert {r.to_addr for r in alerts} == {"city@example.org", "city-en@example.org"}
    for row in alerts:
        assert "37.95" not in row.body and "139.39" not in row.body
        # Neither the device's name nor the trap's, which would tell where they stand.
        assert "hidden device" not in row.body and "trap device" not in row.body
        assert "公開していません" in row.body or "not published" in row.body


def test_a_mesh_device_is_told_as_its_cell(wild, devices, now):
    _subscribe(wild, now, "city@example.org")
    _, key = devices["mesh"]
    wild.ingest.receive(key, {"event_id": "1", "time": at(now), "species": "bear"},
                        source="http", now=now)
    body = _outbox(wild)[-1].body
    assert "56397236" in body and f"{CITY_HALL[1]:.5f}" not in body


def test_old_detections_and_devices_in_maintenance_alert_no_one(wild, devices, now):
    _subscribe(wild, now, "city@example.org")
    before = len(_outbox(wild))
    device, key = devices["exact"]
    wild.ingest.receive(key, {"event_id": "old", "time": at(now, 60 * 24), "species": "bear"},
                        source="http", now=now)
    wild.devices.set_status(device.id, "maintenance")
    wild.ingest.receive(key, {"event_id": "test", "time": at(now), "species": "bear"},
                        source="http", now=now)
    assert len(_outbox(wild)) == before


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"email": "not-mail"}, "email"),
    ({"species": []}, "species"),
    ({"species": ["dragon"]}, "species"),
    ({"lon": 139.0, "lat": 35.0, "radius_m": 1000.0}, "location"),
    ({"lon": CITY_HALL[0], "lat": CITY_HALL[1], "radius_m": 10.0}, "radius"),
    ({"lon": CITY_HALL[0], "lat": None, "radius_m": 1000.0}, "area"),
])
def test_bad_subscriptions_are_refused(wild, kwargs, field, now):
    args = {"email": "a@example.org", "species": ["bear"], "lang": "ja", "now": now, **kwargs}
    with pytest.raises(InvalidInput) as caught:
        wild.alerts.subscribe(**args)
    assert caught.value.field == field
    assert _outbox(wild) == []
