"""Detections from devices: one check and one write path, on both engines."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import sqlalchemy as sa

from geoapp.errors import Forbidden, InvalidInput, PhotoRejected, Unauthorized
from geoapp.wildlife.mesh import mesh3, mesh3_bounds
from tests.imaging import phone_jpeg
from tests.wildlife.conftest import CITY_HALL, at


def _counts(wild) -> tuple[int, int]:
    with wild.engine.connect() as conn:
        return (conn.execute(sa.text("SELECT count(*) FROM wildlife_detections")).scalar_one(),
                conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one())


def test_a_detection_is_stored_once_per_event_id(wild, devices, now):
    device, key = devices["exact"]
    first = wild.ingest.receive(key, {"event_id": "e1", "time": at(now, 1), "species": "bear",
                                      "count": 2, "confidence": 0.93}, source="http", now=now)
    again = wild.ingest.receive(key, {"event_id": "e1", "time": at(now, 1), "species": "bear"},
                                source="http", now=now)
    assert first.created and not again.created
    assert again.detection.id == first.detection.id
    assert first.detection.count == 2 and first.detection.device_id == device.id
    assert _counts(wild)[0] == 1


def test_japanese_species_names_and_naive_japan_time_are_understood(wild, devices, now):
    _, key = devices["mesh"]
    naive = (now + timedelta(hours=9)).replace(tzinfo=None).isoformat()
    got = wild.ingest.receive(key, {"event_id": 7, "time": naive, "species": "イノシシ"},
                              source="mqtt", now=now).detection
    assert got.species == "boar" and got.observed_at == now and got.event_id == "7"


#: Stand-ins for times relative to the test's own clock (``now``), filled in when it runs.
NOW_, HOUR_AHEAD = "<now>", "<an hour ahead of now>"


@pytest.mark.parametrize(("body", "field"), [
    ({"time": NOW_, "species": "bear"}, "event_id"),
    ({"event_id": "x", "species": "bear"}, "time"),
    ({"event_id": "x", "time": "yesterday", "species": "bear"}, "time"),
    ({"event_id": "x", "time": HOUR_AHEAD, "species": "bear"}, "time"),  # an hour ahead
    ({"event_id": "x", "time": NOW_, "species": "tiger"}, "species"),
    ({"event_id": "x", "time": NOW_, "species": "bear", "count": 0}, "count"),
    ({"event_id": "x", "time": NOW_, "species": "bear", "count": "many"}, "count"),
    ({"event_id": "x", "time": NOW_, "species": "bear", "confidence": 1.5}, "confidence"),
    ({"event_id": "x", "time": NOW_, "species": "bear", "battery": 3}, "battery"),
    ({"event_id": "x", "time": NOW_, "species": "bear", "event": "triggered"}, "event"),
    ({"event_id": "x", "time": NOW_, "species": "bear", "image": "not base64!"}, "image"),
    (["not", "an", "object"], "body"),
])
def test_bad_input_is_refused_and_nothing_is_stored(wild, devices, body, field, now):
    _, key = devices["exact"]
    if isinstance(body, dict) and "time" in body:
        body = {**body, "time": {NOW_: at(now), HOUR_AHEAD: at(now, -60)}.get(body["time"],
                                                                             body["time"])}
    with pytest.raises(InvalidInput) as caught:
        wild.ingest.receive(key, body, source="http", now=now)
    assert caught.value.field == field
    assert caught.value.detail_ja != caught.value.detail  # bilingual
    assert _counts(wild) == (0, 0)


def test_a_bad_key_or_a_retired_device_is_refused(wild, devices, now):
    device, key = devices["exact"]
    body = {"event_id": "x", "time": at(now), "species": "bear"}
    for wrong in (None, "", "not-a-key"):
        with pytest.raises(Unauthorized):
            wild.ingest.receive(wrong, body, source="http", now=now)
    with pytest.raises(Unauthorized):  # another device's topic
        wild.ingest.receive(key, body, source="mqtt", now=now, device_id=device.id + 1)
    wild.devices.set_status(device.id, "retired")
    with pytest.raises(Forbidden):
        wild.ingest.receive(key, body, source="http", now=now)
    assert _counts(wild) == (0, 0)


def test_an_image_goes_through_the_photo_pipeline(wild, devices, now):
    _, key = devices["exact"]
    photo = phone_jpeg()
    got = wild.ingest.receive(key, {"event_id": "img", "time": at(now), "species": "bear",
                                    "image": base64.b64encode(photo).decode()},
                              source="http", now=now).detection
    stored = wild.media.path(got.photo_key).read_bytes()
    assert stored != photo and b"GeoappTestPhone" not in stored and wild.media.exists(got.thumb_key)
    with pytest.raises(PhotoRejected):
        wild.ingest.receive(key, {"event_id": "bad", "time": at(now), "species": "bear",
                                  "image": base64.b64encode(b"hello").decode()},
                            source="http", now=now)
    assert _counts(wild)[0] == 1


def test_a_triggered_trap_alerts_its_officers_at_once(wild, devices, now):
    device, key = devices["trap"]
    got = wild.ingest.receive(key, {"event_id": "t1", "time": at(now), "event": "triggered"},
                              source="http", now=now).detection
    assert got.species == "other" and got.visibility == "hidden"
    with wild.engine.connect() as conn:
        mail = conn.execute(sa.text("SELECT to_addr, subject, body, next_attempt_at "
                                    "FROM outbox")).one()
    assert mail.to_addr == "officer@city.example" and "わな" in mail.subject
    assert f"{device.lat:.6f}" in mail.body  # officers are told where it is


def test_mesh_codes_follow_jis_x_0410():
    assert mesh3(139.745433, 35.658581) == "53393599"  # Tokyo Tower
    assert mesh3(*CITY_HALL) == "56397236"
    minx, miny, maxx, maxy = mesh3_bounds("56397236")
    assert minx <= CITY_HALL[0] < maxx and miny <= CITY_HALL[1] < maxy
