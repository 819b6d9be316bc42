"""OGC API – Features Part 2: the coordinate reference systems items can be asked in.

Features are stored in CRS84 (longitude, latitude). A request may ask for another CRS
(`crs`) and give its bbox in another (`bbox-crs`); answers follow each CRS's own axis
order: EPSG:4326 and EPSG:6668 are latitude first, EPSG:6676 is northing first.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import mapping, shape

from geoapp.errors import InvalidParameter
from geoapp.features.source import BBox

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
SUPPORTED: dict[str, str] = {
    CRS84: "OGC:CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/4326": "EPSG:4326",
    "http://www.opengis.net/def/crs/EPSG/0/6668": "EPSG:6668",  # JGD2011
    "http://www.opengis.net/def/crs/EPSG/0/6676": "EPSG:6676",  # JGD2011 / Japan PRCS VIII
}


def check(parameter: str, uri: str | None) -> str:
    """The CRS URI asked for (CRS84 when absent); InvalidParameter if not offered."""
    if not uri:
        return CRS84
    if uri not in SUPPORTED:
        raise InvalidParameter(parameter, f"{uri!r} is not offered; use one of "
                               + ", ".join(SUPPORTED))
    return uri


@lru_cache(maxsize=16)
def _transformer(source: str, target: str) -> Transformer:
    # Authority axis order on both sides (always_xy=False): what the OGC spec asks for.
    return Transformer.from_crs(CRS(SUPPORTED[source]), CRS(SUPPORTED[target]), always_xy=False)


def _apply(transformer: Transformer, coords: np.ndarray) -> np.ndarray:
    x, y = transformer.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def bbox_to_crs84(bbox: tuple[float, float, float, float], uri: str) -> BBox:
    """A bbox given in ``uri``'s axis order, as a CRS84 bbox (edges densified)."""
    if uri == CRS84:
        return bbox
    a1, b1, a2, b2 = bbox
    edge = np.linspace(0.0, 1.0, 21)
    ring = np.concatenate([
        np.column_stack([a1 + (a2 - a1) * edge, np.full_like(edge, b1)]),
        np.column_stack([np.full_like(edge, a2), b1 + (b2 - b1) * edge]),
        np.column_stack([a2 - (a2 - a1) * edge, np.full_like(edge, b2)]),
        np.column_stack([np.full_like(edge, a1), b2 - (b2 - b1) * edge]),
    ])
    out = _apply(_transformer(uri, CRS84), ring)
    if not np.isfinite(out).all():
        raise InvalidParameter("bbox", "the bbox lies outside the area of its CRS")
    return (float(out[:, 0].min()), float(out[:, 1].min()),
            float(out[:, 0].max()), float(out[:, 1].max()))


def geometry_in(geometry: dict[str, Any], uri: str) -> dict[str, Any]:
    """A CRS84 GeoJSON geometry in ``uri``'s coordinates and axis order."""
    if uri == CRS84:
        return geometry
    transformer = _transformer(CRS84, uri)
    moved = shapely.transform(shape(geometry), lambda coords: _apply(transformer, coords))
    return mapping(moved)


def extent_crs(uri: str) -> str:
    """The value of the Content-Crs header for ``uri``."""
    return f"<{uri}>"
