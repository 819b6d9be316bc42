"""The JIS X 0410 standard regional mesh, third order (3次メッシュ, about 1 km square)."""

from __future__ import annotations

import math

#: A third-order cell is 30 seconds of latitude by 45 seconds of longitude.
CELL_LAT = 30 / 3600
CELL_LON = 45 / 3600


def mesh3(lon: float, lat: float) -> str:
    """The 8-digit third-order mesh code of a point."""
    lat_s = round(lat * 3600, 6)  # seconds; rounding keeps exact cell edges in their cell
    lon_s = round((lon - 100) * 3600, 6)
    p, lat_rest = divmod(lat_s, 2400)
    u, lon_rest = divmod(lon_s, 3600)
    q, lat_rest = divmod(lat_rest, 300)
    v, lon_rest = divmod(lon_rest, 450)
    r = lat_rest // 30
    w = lon_rest // 45
    return f"{int(p):02d}{int(u):02d}{int(q)}{int(v)}{int(r)}{int(w)}"


def mesh3_bounds(code: str) -> tuple[float, float, float, float]:
    """The cell of a code as (min lon, min lat, max lon, max lat)."""
    if len(code) != 8 or not code.isdigit():
        raise ValueError(f"{code!r} is not a third-order mesh code")
    p, u, q, v, r, w = int(code[:2]), int(code[2:4]), *(int(c) for c in code[4:])
    lat = p / 1.5 + q * 5 / 60 + r * 30 / 3600
    lon = u + 100 + v * 7.5 / 60 + w * 45 / 3600
    return (lon, lat, lon + CELL_LON, lat + CELL_LAT)


def mesh3_centre(code: str) -> tuple[float, float]:
    """The centre of a cell as (lon, lat), rounded to 1e-6 degrees."""
    minx, miny, maxx, maxy = mesh3_bounds(code)
    return (round((minx + maxx) / 2, 6), round((miny + maxy) / 2, 6))


def generalise(lon: float, lat: float) -> tuple[float, float, str]:
    """A point replaced by its cell's centre, with the cell code."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError("coordinates must be finite")
    code = mesh3(lon, lat)
    centre = mesh3_centre(code)
    return centre[0], centre[1], code
