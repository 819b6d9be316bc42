"""Parsing the OGC API query parameters from text into plain values (or InvalidParameter)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

from geoapp.errors import InvalidParameter, NotFound
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


#: Record numbers (reports.id and the other keys) are 32-bit INTEGER on PostgreSQL; the same
#: bound is used on SQLite so that both engines answer alike.
MAX_ID = 2_147_483_647
#: Dates outside these years are refused: far ones overflow date arithmetic (a window of
#: 90 days before 0001-01-01, a +14:00 offset on 9999-12-31) and mean nothing here.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def whole_number(text: str | None) -> int | None:
    """ASCII digits as an int, else None; a number of over 19 digits comes back as MAX_ID * 10.

    ``str.isdigit()`` also says yes to '²' and '١', which int() refuses or reads; and past
    every bound here, the exact value of thousands of digits is not worth converting.
    """
    text = (text or "").strip()
    if not text or not (text.isascii() and text.isdigit()):
        return None
    return int(text) if len(text) <= 19 else MAX_ID * 10


def parse_id(text: str | None, what: str = "record") -> int:
    """A record number from a path: ASCII digits within 1..MAX_ID, else NotFound."""
    value = whole_number(text)
    if value is None or not 1 <= value <= MAX_ID:
        raise NotFound(f"no {what} {text!r}")
    return value


def parse_int(name: str, text: str | None, *, default: int, minimum: int,
              maximum: int = MAX_ID, clamp: bool = False) -> int:
    """A whole number parameter within minimum..maximum (clamped down if ``clamp``)."""
    if text is None or text == "":
        return default
    value = whole_number(text.removeprefix("-"))
    if value is None:
        raise InvalidParameter(name, f"{text!r} is not a whole number")
    if text.startswith("-"):
        value = -value
    if value < minimum:
        raise InvalidParameter(name, f"must be at least {minimum}")
    if value > maximum:
        if clamp:
            return maximum
        raise InvalidParameter(name, f"must be at most {maximum}")
    return value


def parse_datetime(name: str, text: str, *, zone: tzinfo = UTC) -> datetime:
    """An RFC 3339 / ISO 8601 date-time between FIRST_YEAR and LAST_YEAR (``zone`` if none)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(name, f"{text!r} is not an RFC 3339 date-time") from None
    # The local year is checked before any zone arithmetic, which could overflow.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidParameter(name, f"give a date between {FIRST_YEAR} and {LAST_YEAR}")
    return value if value.tzinfo else value.replace(tzinfo=zone)


def parse_limit(text: str | None, *, default: int, maximum: int) -> int:
    """The page size: the default when absent, clamped to the maximum when too large."""
    return parse_int("limit", text, default=default, minimum=1, maximum=maximum, clamp=True)
