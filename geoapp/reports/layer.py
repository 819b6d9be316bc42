"""Public reports as a feature source: the same interface the file layers have.

Only public fields are published: never the reporter's name or e-mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geoapp.errors import NotFound
from geoapp.features.live import LiveSource
from geoapp.features.params import parse_id
from geoapp.features.source import BBox, Feature
from geoapp.store import versions
from geoapp.store.records import Report
from geoapp.store.reports import ReportStore


class ReportSource(LiveSource):
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


    def get(self, feature_id: str) -> Feature:
        """One public report by number."""
        categories, statuses, shown = self._visible()
        report = self.store.get(parse_id(feature_id, "report"))
        if report.status_code not in shown:
            raise NotFound(f"no report {feature_id!r}")
        return self.publish(report, categories, statuses)

    def version(self) -> str:
        """The store's reports token: any write to reports, photos, categories or states
        changes it, whichever process made it."""
        return versions.current(self.store.engine, "reports")



