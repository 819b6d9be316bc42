"""A base for feature sources read live from the store (reports, detections).

Subclasses say which features exist in a bbox; paging, property filters, the extent and
the count are the same for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from geoapp.features.source import BBox, Feature, Page, filter_key


class LiveSource:
    """Features computed on each request from the store; small enough to page in memory."""

    def _features(self, bbox: BBox | None) -> list[Feature]:
        """Every public feature in ``bbox`` (all of them when None)."""
        raise NotImplementedError

    def query(self, *, bbox: BBox | None = None, filters: Mapping[str, str] | None = None,
              limit: int, offset: int = 0) -> Page:
        """Features in ``bbox`` whose properties equal ``filters``, one page of them."""
        features = self._features(bbox)
        for key, wanted in (filters or {}).items():
            features = [f for f in features if filter_key(f.properties.get(key)) == wanted]
        chosen = features[offset: offset + limit]
        return Page(chosen, [orjson.dumps(f.to_geojson()) for f in chosen], len(features))

    @property
    def features(self) -> list[Feature]:
        """Every public feature."""
        return self._features(None)

    @property
    def extent(self) -> BBox | None:
        """The bbox of the features, or None when there are none."""
        features = self.features
        if not features:
            return None
        lons = [f.geometry["coordinates"][0] for f in features]
        lats = [f.geometry["coordinates"][1] for f in features]
        return (min(lons), min(lats), max(lons), max(lats))

    def __len__(self) -> int:
        return len(self.features)
