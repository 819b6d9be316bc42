"""Public reports as a feature source: the same interface the file layers have.

Only public fields are published: never the reporter's name or e-mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from geoapp.errors import NotFound
from geoapp.features.source import BBox, Feature, Page, filter_key
from geoapp.store.records import Report
from geoapp.store.reports import ReportStore


class ReportSource:
    """Reports the public may see (every state but 'closed'), as GeoJSON features."""

    def __init__(self, store: ReportStore, root: str = "") -> None:
        self.store = store
        self.root = root  # URL prefix for report pages and photos

    def _visible(self) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        categories = {c.code: c for c in self.store.categories(active_only=False)}
        statuses = {s.code: s for s in self.store.statuses()}
        shown = [code for code, s in statuses.items() if s.public_group != "closed"]
        return categories, statuses, shown

    def publish(self, report: Report, categories: Mapping[str, Any],
                statuses: Mapping[str, Any]) -> Feature:
        """A report as a public feature."""
        category = categories[report.category_code]
        status = statuses[report.status_code]
        thumb = report.photos[0].thumb_key if report.photos else None
        props = {
            "number": str(report.id),
            "category": category.name_ja,
            "category_en": category.name_en,
            "category_code": category.code,
            "status": status.name_ja,
            "status_en": status.name_en,
            "status_code": status.code,
            "status_group": status.public_group,
            "description": report.description,
            "supporters": report.supporters,
            "photos": len(report.photos),
            "thumbnail": f"{self.root}/media/{thumb}" if thumb else None,
            "url": f"{self.root}/reports/{report.id}",
            "created_at": report.created_at.isoformat(timespec="seconds"),
            "updated_at": report.updated_at.isoformat(timespec="seconds"),
        }
        geometry = {"type": "Point", "coordinates": [report.lon, report.lat]}
        return Feature(str(report.id), geometry, props)

    def _features(self, bbox: BBox | None) -> list[Feature]:
        categories, statuses, shown = self._visible()
        reports = self.store.in_bbox(bbox, statuses_in=shown)
        return [self.publish(r, categories, statuses) for r in reports]

    def query(self, *, bbox: BBox | None = None, filters: Mapping[str, str] | None = None,
              limit: int, offset: int = 0) -> Page:
        """Public reports in ``bbox`` matching ``filters``, one page of them."""
        features = self._features(bbox)
        for key, wanted in (filters or {}).items():
            features = [f for f in features if filter_key(f.properties.get(key)) == wanted]
        chosen = features[offset: offset + limit]
        return Page(chosen, [orjson.dumps(f.to_geojson()) for f in chosen], len(features))

    def get(self, feature_id: str) -> Feature:
        """One public report by number."""
        categories, statuses, shown = self._visible()
        if not feature_id.isdigit():
            raise NotFound(f"no report {feature_id!r}")
        report = self.store.get(int(feature_id))
        if report.status_code not in shown:
            raise NotFound(f"no report {feature_id!r}")
        return self.publish(report, categories, statuses)

    @property
    def features(self) -> list[Feature]:
        """Every public report (for counts and lists)."""
        return self._features(None)

    @property
    def extent(self) -> BBox | None:
        """The bbox of the public reports, or None when there are none."""
        features = self.features
        if not features:
            return None
        lons = [f.geometry["coordinates"][0] for f in features]
        lats = [f.geometry["coordinates"][1] for f in features]
        return (min(lons), min(lats), max(lons), max(lats))

    def __len__(self) -> int:
        return len(self.features)
