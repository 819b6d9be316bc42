"""The community bus as feature sources: routes, stops (with their next departures),
reservation-based service areas, and live bus positions."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import shapely
import sqlalchemy as sa
from shapely.geometry import Point, shape

from geoapp.errors import LayerConfigError, NotFound
from geoapp.features.live import StoreSource, parse_whole, same_instant
from geoapp.features.source import BBox, Feature, MemorySource, Page, Summary
from geoapp.japantime import iso
from geoapp.store import schema
from geoapp.transit.positions import STALE_AFTER, Position, Positions
from geoapp.transit.timetable import Timetable

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Cached:
    """A MemorySource rebuilt when the timetable changes (or every ``ttl`` seconds)."""

    def __init__(self, timetable: Timetable, ttl: float | None = None,
                 clock: Clock = _utc_now) -> None:
        self.timetable = timetable
        self.ttl = ttl
        self.clock = clock
        self._key: tuple[int, int] | None = None
        self._source = MemorySource([])

    def _build(self, now: datetime) -> list[Feature]:
        raise NotImplementedError

    def _current(self) -> MemorySource:
        now = self.clock()
        bucket = int(now.timestamp() // self.ttl) if self.ttl else 0
        key = (self.timetable.version(), bucket)
        if key != self._key:
            self._source = MemorySource(self._build(now))
            self._key = key
        return self._source

    def query(self, *, bbox: BBox | None = None, filters: Mapping[str, str] | None = None,
              limit: int, offset: int = 0, cursor: str | None = None) -> Page:
        """Features in ``bbox`` matching ``filters``, one page of them."""
        return self._current().query(bbox=bbox, filters=dict(filters or {}), limit=limit,
                                     offset=offset, cursor=cursor)

    def summary(self) -> Summary:
        """The count and the extent of the features."""
        return self._current().summary()

    def get(self, feature_id: str) -> Feature:
        """One feature; NotFound if there is none."""
        return self._current().get(feature_id)

    def version(self) -> str:
        """The hash of the features as now built (next departures and ages change with time)."""
        return self._current().version()

    @property
    def extent(self) -> BBox | None:
        """The bbox of all features."""
        return self._current().extent

    @property
    def features(self) -> list[Feature]:
        """Every feature."""
        return list(self._current().features)

    def iter_features(self) -> Iterator[Feature]:
        """Every feature, in order."""
        return self._current().iter_features()

    def __len__(self) -> int:
        return len(self._current())


class RouteSource(_Cached):
    """Bus routes as lines in their route colours."""

    def _build(self, now: datetime) -> list[Feature]:
        features = []
        for route in self.timetable.routes():
            if not route["geometry"]:
                continue
            props = {
                "route_id": route["route_id"], "short_name": route["short_name"],
                "name": route["long_name"], "name_en": route["long_name_en"] or "",
                "origin": route["origin"] or "", "destination": route["destination"] or "",
                "color": route["color"], "text_color": route["text_color"],
            }
            features.append(Feature(route["route_id"], route["geometry"], props))
        return features


class StopSource(_Cached):
    """Bus stops with their names, readings and the next departures today (Japan time)."""

    def __init__(self, timetable: Timetable, root: str = "", clock: Clock = _utc_now) -> None:
        super().__init__(timetable, ttl=30, clock=clock)
        self.root = root

    def _build(self, now: datetime) -> list[Feature]:
        departures = self.timetable.departures(now, per_stop=3)
        stops = self.timetable.stops()
        children: dict[str, list[str]] = {}
        for stop in stops:
            if stop["parent_station"]:
                children.setdefault(stop["parent_station"], []).append(stop["stop_id"])
        features = []
        for stop in stops:
            ids = [stop["stop_id"], *children.get(stop["stop_id"], [])]
            leaving = sorted((d for i in ids for d in departures.get(i, [])),
                             key=lambda d: d.seconds)[:3]
            props = {
                "stop_id": stop["stop_id"], "name": stop["name"],
                "name_kana": stop["name_kana"] or "", "name_en": stop["name_en"] or "",
                "next_departures": "; ".join(f"{d.time} {d.route_name} {d.headsign}"
                                             for d in leaving),
                "url": f"{self.root}/buses/stops/{stop['stop_id']}",
            }
            geometry = {"type": "Point", "coordinates": [stop["lon"], stop["lat"]]}
            features.append(Feature(stop["stop_id"], geometry, props))
        return features


class VehicleSource(StoreSource):
    """The buses' latest positions; older than two minutes they are marked stale."""

    order_key = order_id = schema.transit_positions.c.vehicle_id

    def __init__(self, positions: Positions, clock: Clock = _utc_now) -> None:
        self.positions = positions
        self.engine = positions.engine
        self.clock = clock

    def _now(self) -> datetime:
        return self.clock()

    def _select(self, now: datetime) -> sa.Select:
        table = schema.transit_positions
        return sa.select(table).where(table.c.observed_at >= now - self.positions.gone_after)

    def _position(self) -> tuple[sa.ColumnElement[float], sa.ColumnElement[float]]:
        return schema.transit_positions.c.lon, schema.transit_positions.c.lat

    def _filter(self, key: str, text: str, now: datetime) -> sa.ColumnElement[bool]:
        table = schema.transit_positions
        if key in ("vehicle_id", "label"):
            return table.c[key] == text
        if key in ("trip_id", "route_id"):  # published as "" when the bus did not say
            return table.c[key].is_(None) | (table.c[key] == "") if text == "" \
                else table.c[key] == text
        if key == "route":
            names = {r["route_id"]: r["short_name"] or r["long_name"]
                     for r in self.positions.timetable.routes()}
            named = table.c.route_id.in_([i for i, name in names.items() if name == text])
            if text != "":
                return named
            # Published as "" too: no route, or one the timetable does not know.
            return sa.or_(table.c.route_id.is_(None), table.c.route_id.not_in(list(names)),
                          named)
        if key == "stale" and text in ("true", "false"):
            older = table.c.observed_at < now - STALE_AFTER
            return older if text == "true" else sa.not_(older)
        if key == "age_seconds":
            age = parse_whole(text)
            if age is None:
                return sa.false()
            return sa.and_(table.c.observed_at <= now - timedelta(seconds=age),
                           table.c.observed_at > now - timedelta(seconds=age + 1))
        if key == "bearing":
            try:
                return table.c.bearing == float(text)
            except ValueError:
                return table.c.bearing.is_(None) if text == "" else sa.false()
        if key == "observed_at":  # published to the second
            return same_instant(table.c.observed_at, text, timedelta(seconds=1))
        if key == "stale":
            return sa.false()
        return super()._filter(key, text, now)

    def _publish(self, conn: sa.Connection, rows: Sequence[sa.Row], now: datetime
                 ) -> list[Feature]:
        routes = {r["route_id"]: r for r in self.positions.timetable.routes()}
        features = []
        for row in rows:
            p = Position(**row._mapping)
            route = routes.get(p.route_id or "")
            props = {
                "vehicle_id": p.vehicle_id, "label": p.label, "trip_id": p.trip_id or "",
                "route_id": p.route_id or "",
                "route": (route["short_name"] or route["long_name"]) if route else "",
                "color": route["color"] if route else "",
                "bearing": p.bearing,  # the time in Japan time, with its +09:00 offset
                "observed_at": iso(p.observed_at),
                "age_seconds": int((now - p.observed_at).total_seconds()),
                "stale": p.stale(now),
            }
            features.append(Feature(p.vehicle_id, {"type": "Point",
                                                   "coordinates": [p.lon, p.lat]}, props))
        return features

    def get(self, feature_id: str) -> Feature:
        """One bus's latest position; NotFound if it has none (or it is gone)."""
        page = self.query(filters={"vehicle_id": feature_id}, limit=1)
        if not page.features:
            raise NotFound(f"no bus {feature_id!r}")
        return page.features[0]

    def version(self) -> str:
        """The hash of the positions as now published: every feature's age and staleness
        change with the clock, with no write, so no store token would do (one row a bus)."""
        return MemorySource(self.features).version()


def read_areas(path: Path | None) -> list[Feature]:
    """Reservation-based (予約制) service areas from a GeoJSON file of polygons."""
    if path is None:
        return []
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise LayerConfigError(f"bus areas file {path}: {exc}") from None
    features = []
    for index, item in enumerate(data.get("features", []), start=1):
        geometry = item.get("geometry") or {}
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise LayerConfigError(f"bus areas file {path}: feature {index} is not a polygon")
        props = item.get("properties") or {}
        features.append(Feature(str(props.get("id") or index), geometry, {
            "name": str(props.get("name", "")), "name_en": str(props.get("name_en", "")),
            "description": str(props.get("description", "")),
            "reservation": str(props.get("reservation", "")),
        }))
    return features


class ServiceArea:
    """Where buses may report from: near the timetable's stops or in a reservation area,
    else (before any import) inside the city."""

    #: Margin around the stops' bbox, in degrees (about 3 km).
    MARGIN = 0.03

    def __init__(self, timetable: Timetable, areas: list[Feature],
                 city: Callable[[float, float], bool]) -> None:
        self.timetable = timetable
        self.city = city
        self.areas = shapely.union_all([shape(f.geometry) for f in areas]) if areas else None
        if self.areas is not None:
            shapely.prepare(self.areas)
        self._extent: tuple[int, BBox | None] = (-1, None)

    def __call__(self, lon: float, lat: float) -> bool:
        """Whether (lon, lat) is in the service area."""
        version = self.timetable.version()
        if self._extent[0] != version:
            self._extent = (version, self.timetable.extent())
        extent = self._extent[1]
        if self.areas is not None and self.areas.covers(Point(lon, lat)):
            return True
        if extent is None:
            return self.areas is None and self.city(lon, lat)
        m = self.MARGIN
        return extent[0] - m <= lon <= extent[2] + m and extent[1] - m <= lat <= extent[3] + m


def sources(timetable: Timetable, positions: Positions, areas: list[Feature],
            root: str = "") -> dict[str, Any]:
    """The feature source behind each ``transit`` layer kind."""
    return {
        "routes": RouteSource(timetable),
        "stops": StopSource(timetable, root),
        "vehicles": VehicleSource(positions),
        "areas": MemorySource(areas),
    }
