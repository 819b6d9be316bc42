"""Parsing the OGC API query parameters from text into plain values (or InvalidParameter)."""

from __future__ import annotations

import math

from geoapp.errors import InvalidParameter
from geoapp.features.source import BBox


def parse_bbox(text: str, *, crs84: bool = True) -> BBox:
    """A bbox from four numbers (a 6-number 3D bbox drops heights).

    In CRS84 the numbers are minLon,minLat,maxLon,maxLat and are range-checked; in another
    CRS they are that CRS's own axes, checked only for order (the CRS module projects them).
    """
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise InvalidParameter("bbox", "give 4 numbers: minLon,minLat,maxLon,maxLat")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameter("bbox", f"{text!r} is not a list of numbers") from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidParameter("bbox", "numbers must be finite")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    minx, miny, maxx, maxy = numbers
    if not crs84:
        if minx > maxx or miny > maxy:
            raise InvalidParameter("bbox", "each lower corner value must not exceed the upper")
        return (minx, miny, maxx, maxy)
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise InvalidParameter("bbox", "longitudes must lie between -180 and 180")
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidParameter("bbox", "latitudes must lie between -90 and 90")
    if miny > maxy:
        raise InvalidParameter("bbox", "the lower latitude is greater than the upper one")
    if minx > maxx:
        # A bbox across the antimeridian never touches Japan; refuse it rather than misread it.
        raise InvalidParameter("bbox", "bboxes crossing the antimeridian are not supported")
    return (minx, miny, maxx, maxy)


def parse_int(name: str, text: str | None, *, default: int, minimum: int) -> int:
    """A whole number parameter at least ``minimum``."""
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(name, f"{text!r} is not a whole number") from None
    if value < minimum:
        raise InvalidParameter(name, f"must be at least {minimum}")
    return value


def parse_limit(text: str | None, *, default: int, maximum: int) -> int:
    """The page size: the default when absent, clamped to the maximum when too large."""
    return min(parse_int("limit", text, default=default, minimum=1), maximum)
