"""The city's towns (大字・町丁目) with their representative points, and the nearest one.

The data (Geolonia 住所データ, CC BY 4.0) gives one representative point per town, not its
outline: a point can only be said to be *near* a town, never *in* it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import orjson

from geoapp.geodesy import to_metric
from geoapp.settings import PROJECT_ROOT

#: The file in data/geo/ and the credit shown wherever its names are used.
TOWNS_FILE = "shibata_towns_geolonia.json"
CREDIT = "Geolonia 住所データ（CC BY 4.0）。国土交通省 位置参照情報を加工"
CREDIT_URL = "https://github.com/geolonia/japanese-addresses"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"


@dataclass(frozen=True, slots=True)
class Town:
    """One 大字・町丁目 (with its 小字 when the data names one) and its representative point."""

    town: str
    koaza: str
    lon: float
    lat: float

    @property
    def name(self) -> str:
        """The name people read: 「大手町一丁目」, or 「小舟渡字神明前」 with a 小字."""
        return f"{self.town}字{self.koaza}" if self.koaza else self.town


@dataclass(frozen=True, slots=True)
class NearestTown:
    """The town whose representative point is nearest, and how far that point is."""

    town: Town
    metres: float


class Towns:
    """Every town of the city, with their points projected once for distances in metres."""

    def __init__(self, towns: list[Town]) -> None:
        if not towns:
            raise ValueError("no towns")
        self.towns = towns
        x, y = to_metric(np.array([t.lon for t in towns]), np.array([t.lat for t in towns]))
        self._xy = np.column_stack([x, y])
        # For many points at once: towns about their centre (small numbers keep float64
        # exact) and their squared norms, so nearest is one matrix product (nearest_names).
        self._centre = self._xy.mean(axis=0)
        self._txy = (self._xy - self._centre).T.copy()
        self._norms = (self._txy ** 2).sum(axis=0)

    @classmethod
    def load(cls, path: Path) -> Towns:
        """Read Geolonia's JSON array of ``{town, koaza, lat, lng}``."""
        rows = orjson.loads(path.read_bytes())
        return cls([Town(str(r["town"]), str(r.get("koaza") or ""), float(r["lng"]),
                         float(r["lat"])) for r in rows])

    def __len__(self) -> int:
        return len(self.towns)

    def nearest(self, lon: float, lat: float) -> NearestTown:
        """The town whose representative point is nearest to ``lon``/``lat`` (CRS84), with
        the straight-line distance in metres measured in EPSG:6676."""
        x, y = to_metric(np.array([lon]), np.array([lat]))
        d = np.hypot(self._xy[:, 0] - x[0], self._xy[:, 1] - y[0])
        i = int(np.argmin(d))
        return NearestTown(self.towns[i], float(d[i]))

    def nearest_names(self, points: Sequence[tuple[float, float]]) -> list[str]:
        """The names of the nearest towns to many ``(lon, lat)`` points at once (a page of
        features): one projection and one distance matrix, not a search per point."""
        if not points:
            return []
        lon_lat = np.array(points, dtype=float)
        x, y = to_metric(lon_lat[:, 0], lon_lat[:, 1])
        xy = np.column_stack([x, y]) - self._centre
        # |p - t|² = |p|² - 2 p·t + |t|²; |p|² is the same for every town, so the nearest
        # minimises |t|² - 2 p·t: two outer products, not a loop (nor BLAS, whose threads
        # cost more than they save on a matrix this thin).
        score = self._norms - 2.0 * (np.outer(xy[:, 0], self._txy[0])
                                     + np.outer(xy[:, 1], self._txy[1]))
        nearest = np.argmin(score, axis=1)
        return [self.towns[int(i)].name for i in nearest]


@lru_cache(maxsize=4)
def towns_in(geo_dir: Path) -> Towns:
    """The towns of ``geo_dir``'s towns file, read once per folder."""
    return Towns.load(geo_dir / TOWNS_FILE)


def nearest_town(lon: float, lat: float, geo_dir: Path | None = None) -> NearestTown:
    """The town whose representative point is nearest to ``lon``/``lat`` (CRS84), with the
    distance to that point in metres (EPSG:6676).

    Say 「大手町一丁目付近（約120 m）」, never "in": the data has points, not outlines.
    ``geo_dir`` defaults to the shipped ``data/geo/``.
    """
    folder = geo_dir or PROJECT_ROOT / "data" / "geo"
    return towns_in(folder).nearest(lon, lat)
