"""The imported timetable in the store: replaced in one transaction, read for layers and
departures. Service days follow the feed's calendar and its exceptions, in Japan time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geoapp.errors import NotFound
from geoapp.japantime import JST
from geoapp.store import schema
from geoapp.transit.gtfs import Feed

#: Written in this order, deleted in the reverse one.
_TABLES = (schema.transit_agencies, schema.transit_routes, schema.transit_stops,
           schema.transit_trips, schema.transit_stop_times, schema.transit_calendar,
           schema.transit_calendar_dates)
_CHUNK = 2000


@dataclass(frozen=True)
class Departure:
    """A bus leaving a stop: when (HH:MM, may pass 24:00), which route, towards where."""

    time: str
    seconds: int
    stop_id: str
    trip_id: str
    route_id: str
    route_name: str
    headsign: str
    headsign_en: str | None
    color: str


def _plain(row: Any) -> dict[str, Any]:
    """A row as a plain dict with str keys (SQLAlchemy's key type trips up orjson)."""
    return {str(k): v for k, v in row.items()}


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


class Timetable:
    """The one active timetable (empty until a feed is imported)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def replace(self, feed: Feed, now: datetime | None = None, *, sample: bool = False) -> int:
        """Make ``feed`` the timetable in one transaction: riders never see half of each."""
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            for table in reversed(_TABLES):
                conn.execute(table.delete())
            rows = (feed.agencies, feed.routes, feed.stops, feed.trips, feed.stop_times,
                    feed.calendar, feed.calendar_dates)
            for table, table_rows in zip(_TABLES, rows, strict=True):
                for start in range(0, len(table_rows), _CHUNK):
                    conn.execute(table.insert(), table_rows[start:start + _CHUNK])
            result = conn.execute(schema.transit_feed.insert().values(
                source_name=feed.source_name, publisher=feed.publisher, version=feed.version,
                timezone=feed.timezone, sample=sample, problems=[str(p) for p in feed.problems],
                imported_at=now))
            inserted = result.inserted_primary_key
            assert inserted is not None
            feed_id = int(inserted[0])
            # Removed after the insert, so the new id is always higher (SQLite reuses ids).
            conn.execute(schema.transit_feed.delete().where(schema.transit_feed.c.id < feed_id))
            return feed_id

    def info(self) -> dict[str, Any] | None:
        """The active feed's name, publisher, version, import time and problems, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.transit_feed)).mappings().first()
        return _plain(row) if row else None

    def version(self) -> int:
        """A number that changes with each import (0 while no timetable is imported)."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(schema.transit_feed.c.id))).scalar()
        return int(value or 0)

    def _all(self, table: sa.Table) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [_plain(r) for r in conn.execute(sa.select(table)).mappings()]

    def routes(self) -> list[dict[str, Any]]:
        """Every route with its line."""
        return self._all(schema.transit_routes)

    def stops(self) -> list[dict[str, Any]]:
        """Every stop (and station)."""
        return self._all(schema.transit_stops)

    def stop(self, stop_id: str) -> dict[str, Any]:
        """One stop; NotFound if the timetable has none of that id."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.transit_stops).where(
                schema.transit_stops.c.stop_id == stop_id)).mappings().first()
        if row is None:
            raise NotFound(f"no bus stop {stop_id!r}")
        return _plain(row)

    def services_on(self, day: date) -> set[str]:
        """The services running on ``day``: the calendar's, with calendar_dates applied."""
        ymd = day.strftime("%Y%m%d")
        weekday = day.weekday()
        running: set[str] = set()
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(schema.transit_calendar)).mappings():
                if row["start_date"] <= ymd <= row["end_date"] and \
                        row["weekdays"][weekday] == "1":
                    running.add(row["service_id"])
            exceptions = conn.execute(sa.select(schema.transit_calendar_dates).where(
                schema.transit_calendar_dates.c.date == ymd)).mappings()
            for row in exceptions:
                if row["exception_type"] == 1:
                    running.add(row["service_id"])
                else:
                    running.discard(row["service_id"])
        return running

    def departures(self, now: datetime, stop_ids: list[str] | None = None,
                   per_stop: int = 5) -> dict[str, list[Departure]]:
        """By stop, the next departures today (Japan time) from ``now`` on, soonest first.

        Trips of yesterday's service still running after midnight (times past 24:00) count.
        A stop's last call (where nobody boards) and calls with no pickup are left out.
        """
        local = now.astimezone(JST)
        today = local.date()
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        found: dict[str, list[Departure]] = {}
        for day, offset in ((today - timedelta(days=1), 86400), (today, 0)):
            services = self.services_on(day)
            if services:
                self._collect(found, services, seconds + offset, offset, stop_ids)
        for stop_id, items in found.items():
            items.sort(key=lambda d: d.seconds)
            del items[per_stop:]
            found[stop_id] = items
        return found

    def _collect(self, found: dict[str, list[Departure]], services: set[str], after: int,
                 offset: int, stop_ids: list[str] | None) -> None:
        st, trips, routes = schema.transit_stop_times, schema.transit_trips, schema.transit_routes
        other = st.alias("last_call")
        last = sa.select(sa.func.max(other.c.stop_sequence)).where(
            other.c.trip_id == st.c.trip_id).scalar_subquery()
        query = (
            sa.select(st.c.stop_id, st.c.departure, st.c.headsign, trips.c.trip_id,
                      trips.c.route_id, trips.c.headsign.label("trip_headsign"),
                      trips.c.headsign_en, routes.c.short_name, routes.c.long_name,
                      routes.c.color)
            .join(trips, trips.c.trip_id == st.c.trip_id)
            .join(routes, routes.c.route_id == trips.c.route_id)
            .where(trips.c.service_id.in_(sorted(services)), st.c.departure >= after,
                   st.c.pickup_type != 1, st.c.stop_sequence < last)
            .order_by(st.c.departure)
        )
        if stop_ids is not None:
            query = query.where(st.c.stop_id.in_(stop_ids))
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                seconds = row["departure"] - offset
                found.setdefault(row["stop_id"], []).append(Departure(
                    _hhmm(seconds), seconds, row["stop_id"], row["trip_id"], row["route_id"],
                    row["short_name"] or row["long_name"],
                    row["headsign"] or row["trip_headsign"] or row["long_name"],
                    row["headsign_en"], row["color"]))

    def has(self, kind: str, value: str) -> bool:
        """Whether the timetable has a ``trip`` or ``route`` of that id."""
        table = schema.transit_trips if kind == "trip" else schema.transit_routes
        col = table.c.trip_id if kind == "trip" else table.c.route_id
        with self.engine.connect() as conn:
            return conn.execute(sa.select(col).where(col == value).limit(1)).first() is not None

    def extent(self) -> tuple[float, float, float, float] | None:
        """The bbox of every stop, or None before an import."""
        s = schema.transit_stops
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sa.func.min(s.c.lon), sa.func.min(s.c.lat),
                                         sa.func.max(s.c.lon), sa.func.max(s.c.lat))).first()
        return None if row is None or row[0] is None else (row[0], row[1], row[2], row[3])
