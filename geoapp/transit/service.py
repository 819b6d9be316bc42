"""The community bus as one object the app holds: timetable, positions, areas, layers."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from geoapp.transit.layers import ServiceArea, read_areas, sources
from geoapp.transit.positions import Positions
from geoapp.transit.timetable import Timetable

logger = logging.getLogger("geoapp.transit")

#: The largest GTFS-Realtime answer read from the operator's URL.
MAX_FEED_BYTES = 5_000_000


class BusService:
    """Everything the bus pages, APIs and layers need, over one store."""

    def __init__(self, engine: sa.Engine, *, areas_file: Path | None,
                 city: Callable[[float, float], bool], gone_after: int, root: str = "") -> None:
        self.timetable = Timetable(engine)
        areas = read_areas(areas_file)
        self.in_area = ServiceArea(self.timetable, areas, city)
        self.positions = Positions(engine, self.timetable, self.in_area,
                                   timedelta(seconds=gone_after))
        self.sources = sources(self.timetable, self.positions, areas, root)

    def poll(self, url: str, timeout: float = 10.0) -> tuple[int, int]:
        """Read the operator's GTFS-Realtime feed once; (kept, skipped) positions."""
        request = urllib.request.Request(url, headers={"Accept": "application/x-protobuf"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (http(s) only, checked in settings)
            data = answer.read(MAX_FEED_BYTES + 1)
        if len(data) > MAX_FEED_BYTES:
            raise ValueError(f"the GTFS-Realtime feed at {url} is larger than {MAX_FEED_BYTES} B")
        kept, skipped = self.positions.ingest_feed(data, datetime.now(UTC))
        if skipped:
            logger.warning("GTFS-Realtime feed: %d positions skipped (outside the area, in the "
                           "future or too old)", skipped)
        return kept, skipped
