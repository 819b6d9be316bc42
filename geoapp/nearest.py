"""The nearest shelters or evacuation sites to a point, by straight-line distance (no HTTP).

Distances and directions are worked out on the plane of EPSG:6676 (JGD2011 / Japan Plane
Rectangular CS VIII, the zone of Niigata), in metres. The direction is the grid bearing
rounded to eight compass points; in Shibata grid north is within a degree of true north,
far less than the 45° a compass point spans.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geoapp.errors import InvalidParameter
from geoapp.features.source import Feature
from geoapp.geodesy import to_metric

#: The layers a nearest search may ask for.
LAYERS = ("shelters", "evacuation_sites")
#: The hazards an emergency evacuation site is designated for (its boolean properties).
HAZARDS = ("flood", "landslide", "storm_surge", "earthquake", "tsunami", "large_fire",
           "inland_flood", "volcano")
#: The eight compass points, clockwise from north (texts: ``compass.<point>``).
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
#: The most places one answer lists.
MAX_LIMIT = 50


@dataclass(frozen=True)
class Query:
    """What is asked: from where, which layer, and the filters."""

    lon: float
    lat: float
    layer: str = "shelters"
    wifi: bool = False
    hazard: str | None = None
    limit: int = 5

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise InvalidParameter("layer", f"give one of {', '.join(LAYERS)}")
        if self.wifi and self.layer != "shelters":
            # Only the shelters are matched with the Wi-Fi list.
            raise InvalidParameter("wifi", "only the shelters layer can be filtered by Wi-Fi")
        if self.hazard is not None:
            if self.layer != "evacuation_sites":
                raise InvalidParameter(
                    "hazard", "only emergency evacuation sites are designated per hazard")
            if self.hazard not in HAZARDS:
                raise InvalidParameter("hazard", f"give one of {', '.join(HAZARDS)}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidParameter("limit", f"must be between 1 and {MAX_LIMIT}")


@dataclass(frozen=True)
class Near:
    """One place found: the feature, how far (metres) and which way (degrees, compass)."""

    feature: Feature
    distance_m: float
    bearing_deg: float

    @property
    def compass(self) -> str:
        """The bearing as one of the eight compass points (N, NE, ... NW)."""
        return compass_point(self.bearing_deg)

    @property
    def lon(self) -> float:
        """The place's longitude."""
        return float(self.feature.geometry["coordinates"][0])

    @property
    def lat(self) -> float:
        """The place's latitude."""
        return float(self.feature.geometry["coordinates"][1])


def compass_point(bearing_deg: float) -> str:
    """The compass point (of eight) nearest a bearing in degrees clockwise from north."""
    return COMPASS[int(math.floor(bearing_deg % 360 / 45 + 0.5)) % 8]


def _wanted(feature: Feature, query: Query) -> bool:
    if feature.geometry.get("type") != "Point":
        return False
    if query.wifi and not feature.properties.get("wifi"):
        return False
    return query.hazard is None or bool(feature.properties.get(query.hazard))


def nearest(features: Sequence[Feature], query: Query) -> list[Near]:
    """The ``query.limit`` point features nearest the query's point that pass its filters,
    nearest first (ties by feature id, so the order is stable)."""
    chosen = [f for f in features if _wanted(f, query)]
    if not chosen:
        return []
    lons = np.array([f.geometry["coordinates"][0] for f in chosen] + [query.lon], dtype=float)
    lats = np.array([f.geometry["coordinates"][1] for f in chosen] + [query.lat], dtype=float)
    x, y = to_metric(lons, lats)
    dx, dy = x[:-1] - x[-1], y[:-1] - y[-1]
    distances = np.hypot(dx, dy)
    bearings = np.degrees(np.arctan2(dx, dy)) % 360
    order = sorted(range(len(chosen)), key=lambda i: (float(distances[i]), chosen[i].id))
    return [Near(chosen[i], float(distances[i]), float(bearings[i]))
            for i in order[: query.limit]]
