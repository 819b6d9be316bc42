"""Which shelter or community centre each Wi-Fi access point serves.

An access point is matched by name when a facility's name and the access point's
name contain one another and the two lie within ``NAME_RADIUS_M``; otherwise to
the nearest facility within ``NEAR_RADIUS_M``. Distances are measured in EPSG:6676,
so metres are metres in Niigata.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geoapp.geodesy import to_metric
from geoapp.wifi.csv_format import AccessPoint

#: A name match is trusted this far: a list may give a building's address, not its AP's.
NAME_RADIUS_M = 500.0
#: Without a name match, an AP this close is taken to serve the facility.
NEAR_RADIUS_M = 60.0

_NOISE = re.compile(r"[\s\u3000()（）「」『』・\-－_]|wi-?fi|フリー|free", re.IGNORECASE)


@dataclass(frozen=True)
class Facility:
    """A place Wi-Fi can serve: a shelter or community centre."""

    id: str
    name: str
    lon: float
    lat: float


def normalise_name(name: str) -> str:
    """A facility or AP name reduced for comparison (width, case, spaces and noise words)."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", name).lower())


def _names_match(a: str, b: str) -> bool:
    return bool(a) and bool(b) and (a in b or b in a)


def match(points: Sequence[AccessPoint], facilities: Sequence[Facility]) -> list[str | None]:
    """For each access point, the id of the facility it serves, or None."""
    if not points or not facilities:
        return [None] * len(points)
    fx, fy = to_metric(
        np.array([f.lon for f in facilities]), np.array([f.lat for f in facilities])
    )
    px, py = to_metric(np.array([p.lon for p in points]), np.array([p.lat for p in points]))
    fnames = [normalise_name(f.name) for f in facilities]
    result: list[str | None] = []
    for i, point in enumerate(points):
        dist = np.hypot(fx - px[i], fy - py[i])
        pname = normalise_name(point.name)
        by_name = [
            j for j in np.argsort(dist)
            if dist[j] <= NAME_RADIUS_M and _names_match(pname, fnames[j])
        ]
        if by_name:
            result.append(facilities[by_name[0]].id)
            continue
        nearest = int(np.argmin(dist))
        result.append(facilities[nearest].id if dist[nearest] <= NEAR_RADIUS_M else None)
    return result
