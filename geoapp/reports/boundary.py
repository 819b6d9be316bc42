"""Whether a point lies inside the city (the full N03 polygon, prepared once)."""

from __future__ import annotations

from pathlib import Path

import orjson
import shapely
from shapely.geometry import Point, shape


class CityBoundary:
    """The city polygon, prepared for fast point-in-polygon tests."""

    def __init__(self, path: Path) -> None:
        data = orjson.loads(path.read_bytes())
        geometries = [shape(f["geometry"]) for f in data["features"]]
        self.geometry = shapely.union_all(geometries)
        shapely.prepare(self.geometry)

    def contains(self, lon: float, lat: float) -> bool:
        """True when (lon, lat) is inside the city or on its edge."""
        return bool(self.geometry.covers(Point(lon, lat)))
