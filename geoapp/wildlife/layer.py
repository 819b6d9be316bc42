"""Detections as feature sources: the public one (generalised, recent) and the staff one.

The public source publishes a detection only where its device allows: exactly, at the
centre of its 3次メッシュ cell, or not at all (hidden devices and every trap). Photos are
published only for exact devices, as a photo may show where it was taken.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geoapp.errors import NotFound
from geoapp.features.live import LiveSource
from geoapp.features.params import parse_id
from geoapp.features.source import BBox, Feature
from geoapp.i18n import Lang
from geoapp.japantime import JST
from geoapp.store import versions
from geoapp.wildlife import detections as store
from geoapp.wildlife.detections import Detection, public_position
from geoapp.wildlife.vocab import SPECIES, label

DEFAULT_DAYS = 7
MAX_DAYS = 3650


def alt_text(detection: Detection, lang: Lang) -> str:
    """The text alternative of a detection's symbol: species, count and time."""
    when = detection.observed_at.astimezone(JST).strftime("%Y-%m-%d %H:%M")
    name = label(SPECIES, detection.species, lang)
    count = detection.count
    if lang == "ja":
        return f"{name} {count}頭 {when}" if count else f"{name} {when}"
    return f"{name} ({count}) {when}" if count else f"{name} {when}"


class DetectionSource(LiveSource):
    """Detections of the last ``days`` days as GeoJSON features, public or for staff."""

    def __init__(self, engine: sa.Engine, *, staff: bool = False, days: int = DEFAULT_DAYS,
                 root: str = "") -> None:
        self.engine = engine
        self.staff = staff
        self.days = days
        self.root = root

    def within(self, days: int) -> DetectionSource:
        """The same source over another window."""
        return DetectionSource(self.engine, staff=self.staff, days=days, root=self.root)

    def publish(self, detection: Detection) -> Feature | None:
        """A detection as a feature (None when the public may not see it)."""
        props: dict[str, Any] = {
            "species": detection.species,
            "species_ja": label(SPECIES, detection.species, "ja"),
            "species_en": label(SPECIES, detection.species, "en"),
            "count": detection.count,
            "observed_at": detection.observed_at.astimezone(JST).isoformat(timespec="minutes"),
            "label": alt_text(detection, "ja"),
            "label_en": alt_text(detection, "en"),
        }
        if self.staff:
            lon, lat = detection.lon, detection.lat
            props.update(precision="exact", event=detection.event, source=detection.source,
                         device_id=detection.device_id, visibility=detection.visibility,
                         confidence=detection.confidence, note=detection.note or "",
                         photo=f"{self.root}/staff/wildlife/media/{detection.photo_key}"
                         if detection.photo_key else None)
        else:
            position = public_position(detection)
            if position is None:
                return None
            lon, lat = position.lon, position.lat
            props.update(precision=position.precision, mesh=position.mesh)
            exact_photo = position.precision == "exact" and detection.thumb_key
            props["thumbnail"] = (f"{self.root}/wildlife/media/{detection.thumb_key}"
                                  if exact_photo else None)
        geometry = {"type": "Point", "coordinates": [lon, lat]}
        return Feature(str(detection.id), geometry, props)

    def _features(self, bbox: BBox | None) -> list[Feature]:
        since = datetime.now(UTC) - timedelta(days=self.days)
        features = [f for f in map(self.publish, store.recent(self.engine, since))
                    if f is not None]
        if bbox is not None:
            minx, miny, maxx, maxy = bbox
            features = [f for f in features
                        if minx <= f.geometry["coordinates"][0] <= maxx
                        and miny <= f.geometry["coordinates"][1] <= maxy]
        return features


    def get(self, feature_id: str) -> Feature:
        """One detection in the window, if it may be seen."""
        found = store.get(self.engine, parse_id(feature_id, "detection"))
        since = datetime.now(UTC) - timedelta(days=self.days)
        feature = self.publish(found) if found and found.observed_at >= since else None
        if feature is None:
            raise NotFound(f"no detection {feature_id!r}")
        return feature

    def version(self) -> str:
        """The store's wildlife token, and how many detections the window holds now:
        detections leave the window as time passes, with no write to change the token."""
        since = datetime.now(UTC) - timedelta(days=self.days)
        token = versions.current(self.engine, "wildlife")
        return f"{token}:{store.count_since(self.engine, since)}"



