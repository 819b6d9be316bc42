"""Public reports as a feature source: the same interface the file layers have.

Only public fields are published: never the reporter's name or e-mail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geoapp.errors import NotFound
from geoapp.features.live import StoreSource, parse_whole, same_instant
from geoapp.features.params import parse_id
from geoapp.features.source import BBox, Feature
from geoapp.features.tiles import Cells
from geoapp.i18n import Lang
from geoapp.japantime import iso
from geoapp.places.towns import Towns
from geoapp.store import versions
from geoapp.store.records import Report
from geoapp.store.reports import ReportStore
from geoapp.store.schema import REPORT_CELL_LEVELS, report_cells, report_photos, reports

#: Properties filtered through a reference table: (table, its field the property shows).
_REFERENCE_FILTERS = {
    "category": ("categories", "name_ja"), "category_en": ("categories", "name_en"),
    "category_code": ("categories", "code"),
    "status": ("statuses", "name_ja"), "status_en": ("statuses", "name_en"),
    "status_code": ("statuses", "code"), "status_group": ("statuses", "public_group"),
}


class ReportSource(StoreSource):
    """Reports the public may see (every state but 'closed'), as GeoJSON features."""

    order_key = order_id = reports.c.id
    remember_summary = True  # version() is the store's reports token, one small read

    def __init__(self, store: ReportStore, root: str = "", *, towns: Towns) -> None:
        self.store = store
        self.engine = store.engine
        self.root = root  # URL prefix for report pages and photos
        self.towns = towns  # what a report's place is named after

    def value_names(self, key: str, lang: Lang) -> dict[str, str]:
        """The names in ``lang`` of the codes the property ``key`` holds (category_code,
        status_code; empty for any other), for titles and popups."""
        if key == "category_code":
            return {c.code: c.name(lang) for c in self.store.categories(active_only=False)}
        if key == "status_code":
            return {s.code: s.name(lang) for s in self.store.statuses()}
        return {}

    def _visible(self) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        categories = {c.code: c for c in self.store.categories(active_only=False)}
        statuses = {s.code: s for s in self.store.statuses()}
        shown = [code for code, s in statuses.items() if s.public_group != "closed"]
        return categories, statuses, shown

    def publish(self, report: Report, categories: Mapping[str, Any],
                statuses: Mapping[str, Any], place: str | None = None) -> Feature:
        """A report as a public feature; ``place`` is its nearest town's name (found here
        when not given: a page finds its reports' towns at once)."""
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
            # Japan time with its offset (as Open311 and the wildlife layer): the same
            # instant for machines, the local time for a person reading a CSV or a popup.
            "created_at": iso(report.created_at),
            "updated_at": iso(report.updated_at),
            # The nearest town's representative point: 「大手町一丁目」, read as "near".
            "place": place if place is not None
            else self.towns.nearest_names([(report.lon, report.lat)])[0],
        }
        geometry = {"type": "Point", "coordinates": [report.lon, report.lat]}
        return Feature(str(report.id), geometry, props)

    # -- the SQL of a page (geoapp.features.live) -----------------------------------------

    def _select(self, now: datetime) -> sa.Select:
        _, statuses, shown = self._visible()
        hidden = [code for code in statuses if code not in shown]
        # "Not closed" rather than "in the shown states": no index serves a NOT IN, so both
        # engines read the primary key in order and stop at the limit, where an IN on the
        # state index would sort every public report first.
        return self.store.public_select().where(reports.c.status_code.not_in(hidden))

    def _position(self) -> tuple[sa.ColumnElement[float], sa.ColumnElement[float]]:
        return reports.c.lon, reports.c.lat

    def _tile_properties(self, now: datetime) -> list[sa.ColumnElement[Any]]:
        # Enough to draw and name a point; the popup fetches the rest from the feature.
        _, statuses, _ = self._visible()
        group = sa.case({code: s.public_group for code, s in statuses.items()},
                        value=reports.c.status_code, else_=sa.null())
        return [reports.c.id.label("number"), reports.c.category_code.label("category_code"),
                group.label("status_group")]

    def _candidates(self, conn: sa.Connection, bbox: BBox) -> sa.ColumnElement[bool] | None:
        return self.store.candidates(conn, bbox)

    def _cells(self, now: datetime) -> Cells | None:
        # The same states as _select hides, so a cell counts exactly the public points.
        _, statuses, shown = self._visible()
        hidden = [code for code in statuses if code not in shown]
        return Cells(report_cells, REPORT_CELL_LEVELS,
                     (report_cells.c.status_code.not_in(hidden),))

    def _filter(self, key: str, text: str, now: datetime) -> sa.ColumnElement[bool]:
        if key in _REFERENCE_FILTERS:
            table, field = _REFERENCE_FILTERS[key]
            rows = self.store.categories(active_only=False) if table == "categories" \
                else self.store.statuses()
            codes = [r.code for r in rows if getattr(r, field) == text]
            column = reports.c.category_code if table == "categories" else reports.c.status_code
            return column.in_(codes) if codes else sa.false()
        if key in ("number", "url"):
            prefix = "" if key == "number" else f"{self.root}/reports/"
            number = parse_whole(text.removeprefix(prefix)) if text.startswith(prefix) else None
            return reports.c.id == number if number is not None else sa.false()
        if key in ("supporters", "description"):
            value = parse_whole(text) if key == "supporters" else text
            return reports.c[key] == value if value is not None else sa.false()
        if key == "photos":
            count = parse_whole(text)
            photos = sa.select(sa.func.count()).where(
                report_photos.c.report_id == reports.c.id).scalar_subquery()
            return photos == count if count is not None else sa.false()
        if key == "thumbnail":
            first = sa.select(report_photos.c.thumb_key).where(
                report_photos.c.report_id == reports.c.id, report_photos.c.position == 0
            ).scalar_subquery()
            prefix = f"{self.root}/media/"
            if text == "":
                return first.is_(None)
            return first == text.removeprefix(prefix) if text.startswith(prefix) else sa.false()
        if key in ("created_at", "updated_at"):
            return same_instant(reports.c[key], text, timedelta(seconds=1))
        return super()._filter(key, text, now)

    def _publish(self, conn: sa.Connection, rows: Sequence[sa.Row], now: datetime
                 ) -> list[Feature]:
        categories, statuses, _ = self._visible()
        # One more query per page: the photos of this page's reports, never of any other.
        photos = self.store.photos_of(conn, [row.id for row in rows])
        found = [self.store.report_of(row, photos) for row in rows]
        places = self.towns.nearest_names([(r.lon, r.lat) for r in found])
        return [self.publish(report, categories, statuses, place)
                for report, place in zip(found, places, strict=True)]

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

