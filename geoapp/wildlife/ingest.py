"""Taking in a detection from a device (HTTP or MQTT): one check and one write path.

Everything is checked and the image processed before anything is written; the image
files go first and the detection commits after them with its alert mails, in one
transaction, so a failure leaves no detection and no mail (orphan image files are swept).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geoapp.errors import Forbidden, InvalidInput
from geoapp.japantime import JST
from geoapp.photos.media import MediaStore
from geoapp.photos.pool import PhotoPool
from geoapp.store.schema import wildlife_detections
from geoapp.text import check_texts
from geoapp.wildlife.alerts import Alerts
from geoapp.wildlife.detections import Detection, detection_from_row
from geoapp.wildlife.devices import Devices
from geoapp.wildlife.vocab import EVENTS, species_code

#: A device clock may run a little fast; later than this is refused.
FUTURE_SLACK = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_COUNT = 1000
FIELDS = frozenset({"event_id", "time", "species", "count", "confidence", "event", "image",
                    "key"})


@dataclass(frozen=True)
class Received:
    """The stored detection, and whether this call stored it (False: a repeated event id)."""

    detection: Detection
    created: bool


def _invalid(field: str, key: str, **values: Any) -> InvalidInput:
    return InvalidInput(field, key=f"error.detection.{key}", **values)


def _time(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise _invalid("time", "time_missing")
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("time", "time_malformed", value=value) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=JST)  # field devices keep Japanese local time
    if at > now + FUTURE_SLACK:
        raise _invalid("time", "time_future")
    if at < EARLIEST:
        raise _invalid("time", "time_past")
    return at.astimezone(UTC)


def _count(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid("count", "count_not_whole")
    try:
        count = int(value)
    except ValueError:
        raise _invalid("count", "count_not_whole") from None
    if not 1 <= count <= MAX_COUNT:
        raise _invalid("count", "count_range", max=MAX_COUNT)
    return count


def _confidence(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _invalid("confidence", "confidence")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and 0 <= number <= 1):
        raise _invalid("confidence", "confidence")
    return number


def _image(value: Any) -> bytes | None:
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise _invalid("image", "image_not_text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("image", "image_not_base64") from None


class Ingest:
    """Checks and stores detections from devices, and queues the alerts they cause."""

    def __init__(self, engine: sa.Engine, devices: Devices, media: MediaStore,
                 alerts: Alerts, photos: PhotoPool | None = None) -> None:
        self.engine = engine
        self.devices = devices
        self.media = media
        self.alerts = alerts
        self.photos = photos or PhotoPool()  # no pool given: images processed in-process

    def receive(self, key: str | None, body: Any, *, source: str, now: datetime | None = None,
                device_id: int | None = None, image: bytes | None = None) -> Received:
        """Check and store one detection; a repeated event id returns the stored one."""
        now = now or datetime.now(UTC)
        device = self.devices.authenticate(key, device_id)
        if device.status == "retired":
            raise Forbidden(f"device {device.id} is retired and may not report")
        if not isinstance(body, Mapping):
            raise _invalid("body", "not_an_object")
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise _invalid(unknown[0], "unknown_field", name=unknown[0])
        check_texts({name: value for name, value in body.items()
                     if isinstance(value, str) and name != "image"})
        event_id = body.get("event_id")
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            event_id = str(event_id)
        if not isinstance(event_id, str) or not 1 <= len(event_id.strip()) <= 200:
            raise _invalid("event_id", "event_id")
        event_id = event_id.strip()
        event = body.get("event") or "detection"
        if event not in EVENTS:
            raise _invalid("event", "event_unknown", events=", ".join(EVENTS))
        if event == "triggered" and device.kind != "trap":
            raise _invalid("event", "trap_only")
        observed = _time(body.get("time"), now)
        if body.get("species") is None and event == "triggered":
            species = "other"  # a trap knows it closed, not always on what
        else:
            species = species_code(body.get("species"))
        count = _count(body.get("count"))
        confidence = _confidence(body.get("confidence"))
        raw_image = image if image is not None else _image(body.get("image"))
        dedup = f"{device.id}:{event_id}"
        stored = self._find(dedup)
        if stored is not None:
            return Received(stored, created=False)
        photo = self.photos.process(raw_image, 0) if raw_image else None
        photo_key = thumb_key = None
        if photo is not None:  # files first, record second: a crash leaves only orphans
            photo_key = self.media.put(photo.full, "jpg")
            thumb_key = self.media.put(photo.thumb, "jpg")
        values = dict(device_id=device.id, dedup_key=dedup, event_id=event_id, event=event,
                      species=species, count=count, confidence=confidence,
                      observed_at=observed, received_at=now, lon=device.lon, lat=device.lat,
                      visibility=device.public_visibility, source=source,
                      photo_key=photo_key, thumb_key=thumb_key, note=None)
        try:
            with self.engine.begin() as conn:
                row = conn.execute(wildlife_detections.insert().values(**values)
                                   .returning(*wildlife_detections.c)).one()
                detection = detection_from_row(row)
                self.alerts.queue_for(conn, detection, device, now)
        except sa.exc.IntegrityError:
            stored = self._find(dedup)  # the same event arrived twice at once
            if stored is None:
                raise
            return Received(stored, created=False)
        return Received(detection, created=True)

    def _find(self, dedup: str) -> Detection | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(wildlife_detections).where(
                wildlife_detections.c.dedup_key == dedup)).first()
        return detection_from_row(row) if row else None

