"""Exports of the filtered queue: Open311 bulk CSV (optionally Japanese headers) and GeoJSON."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from geoapp.japantime import JST
from geoapp.opendata.formats import collection_chunks, csv_chunks
from geoapp.staff.queries import QueueRow

OPEN311_COLUMNS = ("service_request_id", "requested_datetime", "updated_datetime",
                   "closed_date", "status_description", "status_notes", "source",
                   "service_name", "service_subtype", "description", "agency_responsible",
                   "address", "lat", "long")
#: The exports name categories, states and departments in Japanese, the city's own names
#: (the codes beside them are for machines), whatever language the staff page is in.
EXPORT_LANG = "ja"
JAPANESE_HEADERS = ("受付番号", "受付日時", "更新日時", "完了日時", "状況", "状況メモ", "受付経路",
                    "種類", "細分類", "内容", "担当部署", "住所", "緯度", "経度")


def _time(value: Any) -> str:
    return value.astimezone(JST).isoformat(timespec="seconds") if value else ""


def open311_csv(rows: Iterable[QueueRow], *, japanese_headers: bool = False) -> bytes:
    """The Open311 bulk CSV, UTF-8 with a BOM so Excel reads it as such."""
    return b"".join(open311_csv_chunks(rows, japanese_headers=japanese_headers))


def open311_csv_chunks(rows: Iterable[QueueRow], *, japanese_headers: bool = False
                       ) -> Iterator[bytes]:
    """The Open311 bulk CSV a thousand rows at a time, for a streamed download."""
    return csv_chunks(JAPANESE_HEADERS if japanese_headers else OPEN311_COLUMNS, (
        (row.id, _time(row.created_at), _time(row.updated_at), _time(row.closed_at),
         "open" if row.closed_at is None else "closed", row.status_name(EXPORT_LANG), "geoapp",
         row.category_name(EXPORT_LANG), "", row.description, row.department_name(EXPORT_LANG),
         "",
         f"{row.lat:.6f}", f"{row.lon:.6f}")
        for row in rows))


def feature(row: QueueRow) -> dict[str, Any]:
    """A report as a GeoJSON feature (staff fields included, never the reporter's contact)."""
    return {
        "type": "Feature", "id": str(row.id),
        "geometry": {"type": "Point", "coordinates": [row.lon, row.lat]},
        "properties": {
            "number": str(row.id), "category": row.category_name(EXPORT_LANG),
            # The code too: the staff map names it in the page's language (title_by).
            "category_code": row.category_code,
            "status": row.status_name(EXPORT_LANG),
            "status_code": row.status_code, "status_group": row.status_group,
            "department": row.department_name(EXPORT_LANG), "priority": row.priority,
            "assignee": row.assignee, "supporters": row.supporters,
            "description": row.description, "created_at": _time(row.created_at),
            "updated_at": _time(row.updated_at), "url": f"/staff/reports/{row.id}"}}


def geojson(rows: Iterable[QueueRow], **members: Any) -> dict[str, Any]:
    """The reports as a GeoJSON FeatureCollection, with any further ``members``."""
    return {"type": "FeatureCollection", "features": [feature(row) for row in rows],
            **members}


def geojson_chunks(rows: Iterable[QueueRow]) -> Iterator[bytes]:
    """The same FeatureCollection as :func:`geojson`, a thousand features at a time."""
    return collection_chunks(feature(row) for row in rows)
