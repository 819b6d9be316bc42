"""Detections as feature sources: the public one (generalised, recent) and the staff one.

The public source publishes a detection only where its device allows: exactly, at the
centre of its 3次メッシュ cell, or not at all (hidden devices and every trap). Photos are
published only for exact devices, as a photo may show where it was taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geoapp.errors import InvalidParameter, NotFound
from geoapp.features.live import StoreSource, parse_whole, same_instant
from geoapp.features.params import parse_id
from geoapp.features.source import BBox, Feature
from geoapp.i18n import Lang
from geoapp.japantime import JST
from geoapp.places.towns import Towns
from geoapp.store import spatial, versions
from geoapp.store.schema import wildlife_detections
from geoapp.wildlife import detections as store
from geoapp.wildlife.detections import (
    Detection,
    detection_from_row,
    public_position,
    public_position_sql,
)
from geoapp.wildlife.mesh import CELL_LAT, CELL_LON, mesh3_bounds
from geoapp.wildlife.vocab import SPECIES, label

DEFAULT_DAYS = 7
MAX_DAYS = 3650
#: Device visibilities whose detections the public layer shows.
PUBLIC_VISIBILITIES = ("exact", "mesh")
#: Candidates the R*Tree may return before a bbox counts as "most of the window": then the
#: window is read on its time index with the exact test alone (as reports do).
RTREE_PROBE = 20_000
#: How far a public position may lie from the stored point it generalises: half a
#: 3次メッシュ cell, and a little more for the rounding of the centre to 1e-6 degrees.
_MESH_REACH = (CELL_LON / 2 + 1e-5, CELL_LAT / 2 + 1e-5)


def alt_text(detection: Detection, lang: Lang) -> str:
    """The text alternative of a detection's symbol: species, count and time."""
    when = detection.observed_at.astimezone(JST).strftime("%Y-%m-%d %H:%M")
    name = label(SPECIES, detection.species, lang)
    count = detection.count
    if lang == "ja":
        return f"{name} {count}頭 {when}" if count else f"{name} {when}"
    return f"{name} ({count}) {when}" if count else f"{name} {when}"


class DetectionSource(StoreSource):
    """Detections of the last ``days`` days as GeoJSON features, public or for staff."""

    # Newest first; the id breaks ties between detections of the same instant.
    order_key = wildlife_detections.c.observed_at
    order_id = wildlife_detections.c.id
    descending = True

    def __init__(self, engine: sa.Engine, *, towns: Towns, staff: bool = False,
                 days: int = DEFAULT_DAYS, root: str = "") -> None:
        self.engine = engine
        self.towns = towns  # what a detection's place is named after
        self.staff = staff
        self.days = days
        self.root = root

    def value_label(self, value: str, lang: Lang) -> str | None:
        """A species' name in ``lang``, from the wildlife vocabulary (None if unknown)."""
        return label(SPECIES, value, lang) if value in SPECIES else None

    def value_names(self, key: str, lang: Lang) -> dict[str, str]:
        """The names in ``lang`` of the species codes (empty for any other property)."""
        return {code: label(SPECIES, code, lang) for code in SPECIES} if key == "species" \
            else {}

    def within(self, days: int) -> DetectionSource:
        """The same source over another window."""
        return DetectionSource(self.engine, towns=self.towns, staff=self.staff, days=days,
                               root=self.root)

    def publish(self, detection: Detection, at: tuple[float, float] | None = None,
                place: str | None = None) -> Feature | None:
        """A detection as a feature (None when the public may not see it).

        ``at`` is the public position as the page's SQL computed it, so that a feature is
        drawn exactly where the bbox test found it.
        """
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
            lon, lat = at or (position.lon, position.lat)
            props.update(precision=position.precision, mesh=position.mesh)
            exact_photo = position.precision == "exact" and detection.thumb_key
            props["thumbnail"] = (f"{self.root}/wildlife/media/{detection.thumb_key}"
                                  if exact_photo else None)
        # The nearest town to the published position (never to a generalised one's exact
        # point), read as "near"; a page passes the names it found at once.
        props["place"] = place if place is not None \
            else self.towns.nearest_names([(lon, lat)])[0]
        geometry = {"type": "Point", "coordinates": [lon, lat]}
        return Feature(str(detection.id), geometry, props)

    # -- the SQL of a page (geoapp.features.live) -----------------------------------------

    def _since(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)

    def _position(self) -> tuple[sa.ColumnElement[float], sa.ColumnElement[float]]:
        table = wildlife_detections
        if self.staff:
            return table.c.lon, table.c.lat
        return public_position_sql(self.engine.dialect.name)

    def _select(self, now: datetime) -> sa.Select:
        table = wildlife_detections
        lon, lat = self._position()
        query = sa.select(table, lon.label("shown_lon"), lat.label("shown_lat")).where(
            table.c.observed_at >= self._since(now))
        if not self.staff:  # hidden devices' detections (every trap's) are never public
            query = query.where(table.c.visibility.in_(PUBLIC_VISIBILITIES))
        return query

    def _candidates(self, conn: sa.Connection, bbox: BBox) -> sa.ColumnElement[bool] | None:
        # The index holds the stored points; a public position may be its mesh cell's
        # centre instead, so the public layer asks for the box grown by that much. The
        # exact test on the published position (_where) comes after either way.
        minx, miny, maxx, maxy = bbox
        grow_x, grow_y = (0.0, 0.0) if self.staff else _MESH_REACH
        grown = (minx - grow_x, miny - grow_y, maxx + grow_x, maxy + grow_y)
        return spatial.candidates(conn, wildlife_detections, grown, RTREE_PROBE)

    def _filter(self, key: str, text: str, now: datetime) -> sa.ColumnElement[bool]:
        table = wildlife_detections
        if key in ("species", "species_ja", "species_en"):
            codes = [code for code in SPECIES
                     if text == (code if key == "species" else
                                 label(SPECIES, code, "ja" if key == "species_ja" else "en"))]
            return table.c.species.in_(codes) if codes else sa.false()
        if key == "count":
            if text == "":
                return table.c.count.is_(None)
            count = parse_whole(text)
            return table.c.count == count if count is not None else sa.false()
        if key == "precision" and not self.staff:
            return table.c.visibility == text if text in PUBLIC_VISIBILITIES else sa.false()
        if key == "mesh" and not self.staff:
            try:
                minx, miny, maxx, maxy = mesh3_bounds(text)
            except ValueError:
                return sa.false()
            return sa.and_(table.c.lon >= minx, table.c.lon < maxx,
                           table.c.lat >= miny, table.c.lat < maxy)
        if key == "thumbnail" and not self.staff:  # published for exact devices only
            shown = sa.and_(table.c.visibility == "exact", table.c.thumb_key.is_not(None))
            prefix = f"{self.root}/wildlife/media/"
            if text == "":
                return sa.not_(shown)
            if not text.startswith(prefix):
                return sa.false()
            return sa.and_(shown, table.c.thumb_key == text.removeprefix(prefix))
        if key == "observed_at":  # published to the minute
            return same_instant(table.c.observed_at, text, timedelta(minutes=1))
        return super()._filter(key, text, now)

    def _publish(self, conn: sa.Connection, rows: Sequence[sa.Row], now: datetime
                 ) -> list[Feature]:
        places = self.towns.nearest_names([(row.shown_lon, row.shown_lat)
                                                for row in rows])
        features = (self.publish(detection_from_row(row), (row.shown_lon, row.shown_lat),
                                 place)
                    for row, place in zip(rows, places, strict=True))
        return [f for f in features if f is not None]

    def _key_to_json(self, value: Any) -> Any:
        return value.isoformat()

    def _key_from_json(self, value: Any) -> Any:
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            moment = None
        if moment is None or moment.tzinfo is None:
            raise InvalidParameter("cursor", "not a page cursor of this collection")
        return moment

    def get(self, feature_id: str) -> Feature:
        """One detection in the window, if it may be seen."""
        found = store.get(self.engine, parse_id(feature_id, "detection"))
        since = self._since(datetime.now(UTC))
        feature = self.publish(found) if found and found.observed_at >= since else None
        if feature is None:
            raise NotFound(f"no detection {feature_id!r}")
        return feature

    def version(self) -> str:
        """The store's wildlife token, and how many detections the window holds now:
        detections leave the window as time passes, with no write to change the token."""
        token = versions.current(self.engine, "wildlife")
        return f"{token}:{store.count_since(self.engine, self._since(datetime.now(UTC)))}"

