"""Live bus positions: device keys, checked position reports, the latest position per bus,
and GTFS-Realtime VehiclePositions in and out."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from google.transit import gtfs_realtime_pb2
from sqlalchemy.dialects import postgresql, sqlite

from geoapp.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from geoapp.keys import key_hash, new_key
from geoapp.store import schema
from geoapp.text import check_text
from geoapp.transit.timetable import Timetable

#: A position older than this is shown as stale (the issue's two minutes).
STALE_AFTER = timedelta(minutes=2)
#: A report from further ahead than this is refused as "in the future" (clock drift allowed).
FUTURE_SLACK = timedelta(seconds=30)
_VEHICLE_ID = r"^[A-Za-z0-9_.\-]{1,60}$"


@dataclass(frozen=True)
class Position:
    """A bus's latest position."""

    vehicle_id: str
    label: str
    trip_id: str | None
    route_id: str | None
    lat: float
    lon: float
    bearing: float | None
    speed: float | None
    observed_at: datetime
    source: str

    def stale(self, now: datetime) -> bool:
        """Whether the position is older than two minutes."""
        return now - self.observed_at > STALE_AFTER


class Vehicles:
    """The buses allowed to post positions, each with a device key stored as its SHA-256."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, vehicle_id: str, label: str, now: datetime) -> str:
        """Register a bus and return its new device key (shown once); Conflict if it exists."""
        if not re.match(_VEHICLE_ID, vehicle_id):
            raise InvalidInput("vehicle", key="error.input.vehicle_id")
        key = new_key()
        table = schema.transit_vehicles
        with self.engine.begin() as conn:
            if conn.execute(sa.select(table.c.vehicle_id).where(
                    table.c.vehicle_id == vehicle_id)).first():
                raise Conflict(f"vehicle {vehicle_id!r} is already registered")
            conn.execute(table.insert().values(vehicle_id=vehicle_id, label=label or vehicle_id,
                                               key_hash=key_hash(key), created_at=now))
        return key

    def remove(self, vehicle_id: str) -> None:
        """Forget a bus, its key and its position; NotFound if it is not registered."""
        with self.engine.begin() as conn:
            conn.execute(schema.transit_positions.delete().where(
                schema.transit_positions.c.vehicle_id == vehicle_id))
            gone = conn.execute(schema.transit_vehicles.delete().where(
                schema.transit_vehicles.c.vehicle_id == vehicle_id)).rowcount
        if not gone:
            raise NotFound(f"no vehicle {vehicle_id!r}")

    def all(self) -> list[dict[str, Any]]:
        """Every registered bus (id, label, when added)."""
        table = schema.transit_vehicles
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.vehicle_id, table.c.label, table.c.created_at)
                                .order_by(table.c.vehicle_id)).mappings()
            return [{str(k): v for k, v in r.items()} for r in rows]

    def for_key(self, key: str | None) -> tuple[str, str]:
        """The (vehicle id, label) a device key belongs to; Unauthorized if none."""
        if not key:
            raise Unauthorized("a device key is needed (Authorization: Bearer KEY)")
        table = schema.transit_vehicles
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(table.c.vehicle_id, table.c.label).where(
                table.c.key_hash == key_hash(key))).first()
        if row is None:
            raise Unauthorized("unknown device key")
        return row[0], row[1]


def _bad(field: str, key: str, **values: Any) -> InvalidInput:
    return InvalidInput(field, key=f"error.bus.{key}", **values)


def _number(body: Mapping[str, Any], name: str, low: float, high: float,
            required: bool = True) -> float | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(name, "not_a_number", name=name)
    if not low <= value <= high:
        raise _bad(name, "range", name=name, low=low, high=high)
    return float(value)


def _moment(value: Any) -> datetime:
    # Overflow: 1e300 seconds, or year 1 at +14:00, lie outside what datetime can hold.
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                return moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise _bad("timestamp", "timestamp")


class Positions:
    """The latest position of each bus, from devices and from a GTFS-Realtime feed."""

    def __init__(self, engine: sa.Engine, timetable: Timetable,
                 in_area: Callable[[float, float], bool], gone_after: timedelta) -> None:
        self.engine = engine
        self.timetable = timetable
        self.in_area = in_area
        self.gone_after = gone_after
        self.vehicles = Vehicles(engine)

    def report(self, key: str | None, body: Any, now: datetime) -> Position:
        """Check a bus's report (JSON object) and keep it as its latest position."""
        vehicle_id, label = self.vehicles.for_key(key)
        if not isinstance(body, Mapping):
            raise _bad("body", "not_an_object")
        asked = body.get("vehicle")
        if asked is not None and asked != vehicle_id:
            raise Forbidden(f"this device key belongs to vehicle {vehicle_id!r}, not {asked!r}")
        position = self._check(vehicle_id, label, body, now)
        self._keep(position)
        return position

    def _check(self, vehicle_id: str, label: str, body: Mapping[str, Any],
               now: datetime) -> Position:
        lat = _number(body, "lat", -90, 90)
        lon = _number(body, "lon", -180, 180)
        assert lat is not None and lon is not None
        bearing = _number(body, "bearing", 0, 360, required=False)
        speed = _number(body, "speed", 0, 70, required=False)
        observed = _moment(body.get("timestamp"))
        if observed > now + FUTURE_SLACK:
            raise _bad("timestamp", "future")
        if now - observed > self.gone_after:
            raise _bad("timestamp", "too_old")
        if not self.in_area(lon, lat):
            raise _bad("lat", "outside_area")
        trip_id, route_id = body.get("trip"), body.get("route")
        for name, value in (("trip", trip_id), ("route", route_id)):
            if isinstance(value, str):
                check_text(name, value)  # before the timetable lookup (PostgreSQL and NUL)
            if value is not None and (not isinstance(value, str)
                                      or not self.timetable.has(name, value)):
                raise _bad(name, "not_in_timetable", name=name, value=value)
        return Position(vehicle_id, label, trip_id, route_id, lat, lon, bearing, speed,
                        observed, "device")

    def _keep(self, position: Position) -> None:
        table = schema.transit_positions
        values = {
            "vehicle_id": position.vehicle_id, "label": position.label,
            "trip_id": position.trip_id, "route_id": position.route_id, "lat": position.lat,
            "lon": position.lon, "bearing": position.bearing, "speed": position.speed,
            "observed_at": position.observed_at, "source": position.source,
        }
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table).values(**values)
        # Reports may arrive out of order: an older one never replaces a newer one.
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.vehicle_id],
            set_={k: insert.excluded[k] for k in values if k != "vehicle_id"},
            where=table.c.observed_at < insert.excluded.observed_at,
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    def current(self, now: datetime) -> list[Position]:
        """Every bus's latest position that is not yet gone, by vehicle id."""
        table = schema.transit_positions
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(
                table.c.observed_at >= now - self.gone_after).order_by(table.c.vehicle_id))
            return [Position(**r) for r in rows.mappings()]

    def to_gtfs_rt(self, now: datetime) -> bytes:
        """The current positions as a GTFS-Realtime VehiclePositions FeedMessage."""
        message = gtfs_realtime_pb2.FeedMessage()
        message.header.gtfs_realtime_version = "2.0"
        message.header.incrementality = gtfs_realtime_pb2.FeedHeader.FULL_DATASET
        message.header.timestamp = int(now.timestamp())
        for position in self.current(now):
            entity = message.entity.add()
            entity.id = position.vehicle_id
            vehicle = entity.vehicle
            if position.trip_id:
                vehicle.trip.trip_id = position.trip_id
            if position.route_id:
                vehicle.trip.route_id = position.route_id
            vehicle.vehicle.id = position.vehicle_id
            vehicle.vehicle.label = position.label
            vehicle.position.latitude = position.lat
            vehicle.position.longitude = position.lon
            if position.bearing is not None:
                vehicle.position.bearing = position.bearing
            if position.speed is not None:
                vehicle.position.speed = position.speed
            vehicle.timestamp = int(position.observed_at.timestamp())
        return message.SerializeToString()

    def ingest_feed(self, data: bytes, now: datetime) -> tuple[int, int]:
        """Keep the positions of a GTFS-Realtime feed; (kept, skipped) as counts."""
        message = gtfs_realtime_pb2.FeedMessage()
        try:
            message.ParseFromString(data)
        except Exception as exc:  # noqa: BLE001 (protobuf raises its own DecodeError)
            raise _bad("feed", "not_a_feed", reason=str(exc)) from None
        kept = skipped = 0
        for entity in message.entity:
            if not entity.HasField("vehicle") or not entity.vehicle.HasField("position"):
                continue
            vp = entity.vehicle
            vehicle_id = vp.vehicle.id or entity.id
            body = {
                "lat": vp.position.latitude, "lon": vp.position.longitude,
                "bearing": vp.position.bearing if vp.position.HasField("bearing") else None,
                "speed": vp.position.speed if vp.position.HasField("speed") else None,
                "timestamp": vp.timestamp or message.header.timestamp or now.timestamp(),
            }
            try:
                position = self._check(vehicle_id[:60], vp.vehicle.label or vehicle_id[:60],
                                       body, now)
            except InvalidInput:
                skipped += 1
                continue
            # Trips and routes are passed through: the operator's feed names its own.
            position = Position(**{**position.__dict__, "source": "feed",
                                   "trip_id": vp.trip.trip_id or None,
                                   "route_id": vp.trip.route_id or None})
            self._keep(position)
            kept += 1
        return kept, skipped
