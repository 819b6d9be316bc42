"""Coordinate reference systems geoapp works in, and the one place that transforms."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import Transformer

#: JGD2011 / Japan Plane Rectangular CS VIII: metric work (distances, radii) in Niigata.
METRIC_EPSG = 6676


@lru_cache(maxsize=8)
def _to_metric(epsg: int) -> Transformer:
    return Transformer.from_crs("OGC:CRS84", f"EPSG:{epsg}", always_xy=True)


def to_metric(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project CRS84 lon/lat arrays to EPSG:6676 easting/northing in metres."""
    x, y = _to_metric(METRIC_EPSG).transform(np.asarray(lon), np.asarray(lat))
    return np.asarray(x), np.asarray(y)
