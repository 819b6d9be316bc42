"""Submitting a report: one write path for the form, the JSON API and (later) Open311.

Everything is checked and every photo processed before anything is written; then the
photos go to the media store and the record commits after them, so a crash leaves
either a whole report or none (orphan photo files are swept later).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from geoapp.errors import Conflict, InvalidInput
from geoapp.geodesy import to_metric
from geoapp.i18n import Lang
from geoapp.japantime import JST
from geoapp.photos.media import MediaStore
from geoapp.photos.pool import PhotoPool
from geoapp.reports.boundary import CityBoundary
from geoapp.store.records import Category, NewReport, Photo, Report
from geoapp.store.reports import DuplicateIdempotencyKey, ReportStore
from geoapp.text import check_text, check_texts

MAX_PHOTOS = 3
MAX_DESCRIPTION = 4000  # Open311's limit, so every door accepts the same reports
MAX_NAME = 100
NEARBY_RADIUS_M = 250.0
FIRST_STATUS = "received"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass
class Submission:
    """What a resident sent, as text and bytes, before any checking."""

    category: str | None
    description: str | None
    lat: str | None
    lon: str | None
    lang: Lang = "ja"
    source: str = "web"
    email: str | None = None
    name: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    photos: Sequence[bytes] = ()
    idempotency_key: str | None = None
    media_url: str | None = None  # Open311's link to a photo held elsewhere (never fetched)


@dataclass(frozen=True)
class Outcome:
    """The stored report, and whether this call created it (False: an idempotent replay)."""

    report: Report
    created: bool


def _invalid(field_name: str, key: str, **values: Any) -> InvalidInput:
    return InvalidInput(field_name, key=f"error.report.{key}", **values)


def _coordinate(name: str, text: str | None, low: float, high: float) -> float:
    if text is None or not text.strip():
        raise _invalid(name, f"{name}_required")
    try:
        value = float(text)
    except ValueError:
        raise _invalid(name, f"{name}_not_a_number", text=text) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise _invalid(name, f"{name}_out_of_range")
    return value


class ReportService:
    """Checks, stores and finds reports; built once at start-up."""

    def __init__(self, store: ReportStore, media: MediaStore, boundary: CityBoundary,
                 photos: PhotoPool | None = None) -> None:
        self.store = store
        self.media = media
        self.boundary = boundary
        self.photos = photos or PhotoPool()  # no pool given: photos processed in-process

    def categories_open(self, now: datetime) -> list[Category]:
        """Categories a resident may choose today (in Japan), in display order."""
        today = now.astimezone(JST).date()
        return [c for c in self.store.categories() if c.in_season(today)]

    def _category(self, code: str | None, now: datetime) -> Category:
        if not code:
            raise _invalid("category", "category_missing")
        for category in self.categories_open(now):
            if category.code == code:
                return category
        raise _invalid("category", "category_unknown", code=code)

    def _attributes(self, category: Category, given: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        declared = {a["code"]: a for a in category.attributes}
        for code, raw in given.items():
            if code not in declared and not (raw or "").strip():
                continue  # the form sends every category's fields; empty ones mean nothing
            if code not in declared:
                raise _invalid(f"attribute[{code}]", "attribute_not_asked", code=code)
            spec = declared[code]
            text = (raw or "").strip()
            if len(text) > int(spec.get("max_length", 200)):
                raise _invalid(f"attribute[{code}]", "attribute_too_long", label=_label(spec))
            if text:
                values[code] = text
        for code, spec in declared.items():
            if spec.get("required") and code not in values:
                raise _invalid(f"attribute[{code}]", "attribute_required", label=_label(spec))
        return values

    def check(self, sub: Submission, now: datetime) -> NewReport:
        """Validate a submission (but not its photos) into a report ready to store."""
        # Control characters first: PostgreSQL refuses NUL, and none belongs in a report.
        for code in sub.attributes:  # the names too: they are echoed in messages
            check_text("attribute", code)
        check_texts({"category": sub.category, "description": sub.description,
                     "lat": sub.lat, "lon": sub.lon, "email": sub.email, "name": sub.name,
                     "media_url": sub.media_url, "Idempotency-Key": sub.idempotency_key,
                     **{f"attribute[{code}]": value for code, value in sub.attributes.items()}},
                    multiline=frozenset({"description"}))
        category = self._category(sub.category, now)
        description = (sub.description or "").strip()
        if not description:
            raise _invalid("description", "description_missing")
        if len(description) > MAX_DESCRIPTION:
            raise _invalid("description", "description_too_long", max=MAX_DESCRIPTION)
        lat = _coordinate("lat", sub.lat, -90, 90)
        lon = _coordinate("lon", sub.lon, -180, 180)
        if not self.boundary.contains(lon, lat):
            raise _invalid("location", "outside_city")
        email = (sub.email or "").strip() or None
        if email and (len(email) > 254 or not _EMAIL.match(email)):
            raise InvalidInput("email", key="error.email")
        name = (sub.name or "").strip() or None
        if name and len(name) > MAX_NAME:
            raise _invalid("name", "name_too_long", max=MAX_NAME)
        if len(sub.photos) > MAX_PHOTOS:
            raise _invalid("photos", "too_many_photos", max=MAX_PHOTOS)
        if category.requires_photo and not sub.photos:
            raise _invalid("photos", "photo_needed", category=category.names())
        key = (sub.idempotency_key or "").strip() or None
        if key and len(key) > 200:
            raise _invalid("Idempotency-Key", "idempotency_key_too_long")
        return NewReport(
            category_code=category.code, description=description, lon=lon, lat=lat,
            lang=sub.lang, source=sub.source,
            attributes={**self._attributes(category, sub.attributes),
                        **({"media_url": sub.media_url} if sub.media_url else {})},
            reporter_name=name, reporter_email=email, idempotency_key=key,
            request_hash=_request_hash(sub),
        )

    def submit(self, sub: Submission, now: datetime | None = None) -> Outcome:
        """Check, process photos, write photos, then commit the record."""
        now = now or datetime.now(UTC)
        new = self.check(sub, now)
        if new.idempotency_key:
            replay = self._replay(new)
            if replay:
                return replay
        processed = self.photos.process_all(sub.photos)
        # Photos first, record second: a crash between them leaves only unreferenced files.
        new.photos = [
            Photo(self.media.put(p.full, "jpg"), self.media.put(p.thumb, "jpg"), p.width, p.height)
            for p in processed
        ]
        try:
            report = self.store.insert(new, status_code=FIRST_STATUS, now=now)
        except DuplicateIdempotencyKey:
            replay = self._replay(new)
            assert replay is not None
            return replay
        return Outcome(report, created=True)

    def replay(self, sub: Submission, now: datetime | None = None) -> Outcome | None:
        """The stored report if ``sub`` is a retry of it (same Idempotency-Key and content).

        None for anything else, including a key reused for other content: that goes
        through ``submit`` (and is counted) like any new submission.
        """
        key = (sub.idempotency_key or "").strip()
        if not key or self.store.by_idempotency_key(key) is None:
            return None
        try:
            return self._replay(self.check(sub, now or datetime.now(UTC)))
        except (InvalidInput, Conflict):
            return None

    def _replay(self, new: NewReport) -> Outcome | None:
        assert new.idempotency_key is not None
        found = self.store.by_idempotency_key(new.idempotency_key)
        if found is None:
            return None
        report, request_hash = found
        if request_hash != new.request_hash:
            raise Conflict("this Idempotency-Key was used for a different report")
        return Outcome(report, created=False)

    def nearby(self, lon: float, lat: float, category: str,
               radius_m: float = NEARBY_RADIUS_M) -> list[tuple[Report, float]]:
        """Open reports of ``category`` within ``radius_m`` (EPSG:6676 metres), nearest first."""
        # A generous lon/lat box asks the spatial index; the exact test is in metres.
        dlat = radius_m / 110_000 * 1.5
        dlon = radius_m / (110_000 * max(math.cos(math.radians(lat)), 0.1)) * 1.5
        open_codes = [s.code for s in self.store.statuses() if s.is_open]
        candidates = self.store.in_bbox((lon - dlon, lat - dlat, lon + dlon, lat + dlat),
                                        categories_in=[category], statuses_in=open_codes)
        if not candidates:
            return []
        xs, ys = to_metric(np.array([lon] + [r.lon for r in candidates]),
                           np.array([lat] + [r.lat for r in candidates]))
        distances = np.hypot(xs[1:] - xs[0], ys[1:] - ys[0])
        found = [(r, float(d)) for r, d in zip(candidates, distances, strict=True)
                 if d <= radius_m]
        return sorted(found, key=lambda pair: pair[1])

    def support(self, report_id: int, now: datetime | None = None) -> Report:
        """'Me too': one more resident affected by an open report."""
        return self.store.add_supporter(report_id, now or datetime.now(UTC))

    def sweep_media(self, older_than_seconds: float = 3600) -> list[str]:
        """Remove photo files no report refers to (left by interrupted submissions)."""
        return self.media.sweep(self.store.media_keys(), older_than_seconds)


def _label(spec: dict[str, Any]) -> dict[str, str]:
    """A category attribute's label in each language its data gives (``label_<lang>``)."""
    return {key[len("label_"):]: value for key, value in spec.items()
            if key.startswith("label_")}


def _request_hash(sub: Submission) -> str:
    """A fingerprint of what was sent, to tell a retry from a different report."""
    digest = hashlib.sha256()
    for part in (sub.category, sub.description, sub.lat, sub.lon, sub.email, sub.name,
                 repr(sorted(sub.attributes.items()))):
        digest.update((part or "").encode() + b"\x00")
    for raw in sub.photos:
        digest.update(hashlib.sha256(raw).digest())
    return digest.hexdigest()
