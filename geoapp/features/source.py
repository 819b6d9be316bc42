"""An in-memory feature source with a bbox index and pre-encoded features.

Layers built from files are small enough (thousands of features) to hold in memory.
Each feature is encoded to GeoJSON bytes once, at start-up, so answering a page is a
bbox mask over NumPy arrays and a join of byte strings: no per-request parsing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import shapely
from shapely.geometry import box, shape

from geoapp.errors import InvalidParameter, NotFound

BBox = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature as published: id, geometry (GeoJSON dict) and properties."""

    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]

    def to_geojson(self) -> dict[str, Any]:
        """The feature as a GeoJSON dict."""
        return {
            "type": "Feature",
            "id": self.id,
            "geometry": self.geometry,
            "properties": self.properties,
        }


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query: its features, how many matched in all, and where the next starts.

    ``matched`` is None when counting would cost more than the page (OGC API lets
    ``numberMatched`` be omitted); ``next_cursor`` is the keyset token of the next page of a
    store-backed source (None for in-memory sources, which page by offset, and on the last).
    """

    features: list[Feature]
    encoded: list[bytes]
    matched: int | None
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """How many features a source has and their bbox, as /collections and the map show."""

    count: int
    extent: BBox | None


def filter_key(value: Any) -> str:
    """How a property value compares with a filter given as text in a URL."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


@dataclass
class MemorySource:
    """Features held in memory, queried by bbox, property equality, limit and offset."""

    features: Sequence[Feature]
    _by_id: dict[str, int] = field(init=False, repr=False)
    _bounds: np.ndarray = field(init=False, repr=False)
    _is_point: np.ndarray = field(init=False, repr=False)
    _geoms: np.ndarray = field(init=False, repr=False)
    _encoded: list[bytes] = field(init=False, repr=False)
    _values: dict[str, np.ndarray] = field(init=False, repr=False)
    _digest: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {}
        for index, feature in enumerate(self.features):
            if feature.id in self._by_id:
                raise ValueError(f"duplicate feature id {feature.id!r}")
            self._by_id[feature.id] = index
        self._geoms = np.array([shape(f.geometry) for f in self.features], dtype=object)
        self._bounds = (
            shapely.bounds(self._geoms) if len(self.features) else np.empty((0, 4))
        )
        self._is_point = np.array(
            [f.geometry.get("type") == "Point" for f in self.features], dtype=bool
        )
        self._encoded = [orjson.dumps(f.to_geojson()) for f in self.features]
        # The data's version is its content, hashed once: the same file gives the same
        # version after a restart and in every process (a file's mtime would not).
        self._digest = hashlib.sha256(b"\n".join(self._encoded)).hexdigest()[:32]
        keys = {key for f in self.features for key in f.properties}
        self._values = {
            key: np.array([filter_key(f.properties.get(key)) for f in self.features], dtype=object)
            for key in keys
        }

    def __len__(self) -> int:
        return len(self.features)

    def summary(self) -> Summary:
        """The count and the extent of the features."""
        return Summary(len(self.features), self.extent)

    @property
    def extent(self) -> BBox | None:
        """The bbox of all features, or None when there are none."""
        if not len(self.features):
            return None
        b = self._bounds
        return (
            float(b[:, 0].min()),
            float(b[:, 1].min()),
            float(b[:, 2].max()),
            float(b[:, 3].max()),
        )

    def query(
        self,
        *,
        bbox: BBox | None = None,
        filters: Mapping[str, str] | None = None,
        limit: int,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page:
        """Features intersecting ``bbox`` whose properties equal ``filters``, one page of them."""
        if cursor is not None:
            # In memory an offset costs nothing, so file layers page by offset only.
            raise InvalidParameter("cursor", "this collection pages with offset")
        mask = np.ones(len(self.features), dtype=bool)
        if bbox is not None and len(self.features):
            minx, miny, maxx, maxy = bbox
            b = self._bounds
            mask &= (b[:, 0] <= maxx) & (b[:, 2] >= minx) & (b[:, 1] <= maxy) & (b[:, 3] >= miny)
            # Points are exact after the bounds test; other shapes are refined on their geometry.
            refine = mask & ~self._is_point
            if refine.any():
                hit = shapely.intersects(self._geoms[refine], box(*bbox))
                mask[np.flatnonzero(refine)[~hit]] = False
        for key, wanted in (filters or {}).items():
            values = self._values.get(key)
            if values is None:
                mask[:] = False
            else:
                mask &= values == wanted
        indices = np.flatnonzero(mask)
        chosen = indices[offset : offset + limit]
        return Page(
            features=[self.features[i] for i in chosen],
            encoded=[self._encoded[i] for i in chosen],
            matched=int(indices.size),
        )

    def iter_features(self) -> Iterator[Feature]:
        """Every feature, in order (the store-backed sources read them a page at a time)."""
        return iter(self.features)

    def version(self) -> str:
        """A hash of every feature: it changes exactly when the features do."""
        return self._digest

    def get(self, feature_id: str) -> Feature:
        """The feature with this id; NotFound if there is none."""
        index = self._by_id.get(feature_id)
        if index is None:
            raise NotFound(f"no feature {feature_id!r}")
        return self.features[index]

    def encoded(self, feature_id: str) -> bytes:
        """The feature with this id as GeoJSON bytes."""
        self.get(feature_id)
        return self._encoded[self._by_id[feature_id]]
