"""Importing past sightings from the CSV files prefectures publish, tolerantly.

Accepted: UTF-8 (with or without BOM) or CP932; a position as WKT ``POINT (lon lat)`` or
as 緯度/経度 columns; dates like ``2025.1.9``, ``2025/1/9``, ``2025-01-09``, ``R7.1.9`` or
``令和7年1月9日``; times like ``10時30分頃``, ``17時頃``, ``9:05``; counts like ``1頭``
(full-width digits too; ``-`` means unknown). A row that cannot be read is skipped and
named with its line; importing the same file again adds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from geoapp.errors import ImportRejected, InvalidInput
from geoapp.japantime import JST
from geoapp.reports.boundary import CityBoundary
from geoapp.store.schema import wildlife_detections
from geoapp.wildlife.vocab import VISIBILITIES, choice, species_code

_WKT = re.compile(r"POINT\s*Z?\s*\(\s*([-\d.eE+]+)\s+([-\d.eE+]+)", re.IGNORECASE)
_DATE = re.compile(r"^(\d{4})[./\-年](\d{1,2})[./\-月](\d{1,2})日?$")
_ERA = re.compile(r"^(?:R|令和)(\d{1,2}|元)[./\-年](\d{1,2})[./\-月](\d{1,2})日?$")
_TIME = re.compile(r"(\d{1,2})(?:時|:)(?:(\d{1,2})分?)?")
_COUNT = re.compile(r"(\d+)")
_COLUMNS = {
    "wkt": ("WKT", "wkt", "geometry"),
    "lat": ("緯度", "lat", "latitude"),
    "lon": ("経度", "lon", "lng", "longitude"),
    "date": ("出没日", "目撃日", "日付", "年月日", "date"),
    "time": ("時間", "時刻", "time"),
    "count": ("頭数", "count"),
    "species": ("獣種", "種類", "動物", "species"),
    "town": ("市町名", "市町村名", "市町村"),
    "place": ("場所", "出没場所", "place"),
    "remark": ("備考", "状況", "note"),
}


@dataclass
class ImportResult:
    """What an import did: rows added, rows already there, and rows skipped (line, reason)."""

    added: int = 0
    already: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRejected("the file is neither UTF-8 nor CP932 (Shift_JIS) text")


def parse_date(text: str) -> tuple[int, int, int]:
    """(year, month, day) from the date forms prefectures use; ValueError otherwise."""
    text = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    if match := _DATE.match(text):
        return int(match[1]), int(match[2]), int(match[3])
    if match := _ERA.match(text):
        year = 1 if match[1] == "元" else int(match[1])
        return 2018 + year, int(match[2]), int(match[3])
    raise ValueError(f"unreadable date {text!r}")


def parse_time(text: str) -> tuple[int, int]:
    """(hour, minute) from the first time in text such as 17時30分～19時頃; noon if none."""
    match = _TIME.search(unicodedata.normalize("NFKC", text or ""))
    if not match or int(match[1]) > 23 or int(match[2] or 0) > 59:
        return 12, 0
    return int(match[1]), int(match[2] or 0)


def parse_count(text: str) -> int | None:
    """A head count from text such as 1頭 or ２頭; None when unknown."""
    match = _COUNT.search(unicodedata.normalize("NFKC", text or ""))
    return int(match[1]) if match and int(match[1]) > 0 else None


def _column(header: Sequence[str], name: str) -> str | None:
    names = [h.strip() for h in header]
    for candidate in _COLUMNS[name]:
        if candidate in names:
            return header[names.index(candidate)]
    return None


def import_sightings(engine: sa.Engine, raw: bytes, *, now: datetime,
                     default_species: str = "bear", visibility: str = "mesh",
                     boundary: CityBoundary | None = None) -> ImportResult:
    """Add the sightings of a CSV file; ImportRejected if the file as a whole is unusable."""
    default_code = species_code(default_species)
    visibility = choice(VISIBILITIES, visibility, "visibility")
    reader = csv.DictReader(io.StringIO(_decode(raw), newline=""))
    header = reader.fieldnames or []
    cols = {name: _column(header, name) for name in _COLUMNS}
    if not cols["wkt"] and not (cols["lat"] and cols["lon"]):
        raise ImportRejected("the file has no WKT column and no 緯度/経度 columns")
    if not cols["date"]:
        raise ImportRejected("the file has no date column (出没日, 日付 or date)")
    result = ImportResult()
    rows = []
    for line, record in enumerate(reader, start=2):
        def get(name: str, rec: dict = record) -> str:
            column = cols[name]
            return str(rec.get(column) or "").strip() if column else ""
        try:
            lon = lat = None
            if match := _WKT.search(get("wkt")):
                lon, lat = float(match[1]), float(match[2])
            elif get("lat") and get("lon"):
                lat, lon = float(get("lat")), float(get("lon"))
            if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError("no usable position")
            if boundary is not None and not boundary.contains(lon, lat):
                raise ValueError("the position is outside the city")
            year, month, day = parse_date(get("date"))
            hour, minute = parse_time(get("time"))
            observed = datetime(year, month, day, hour, minute, tzinfo=JST).astimezone(UTC)
            species = species_code(get("species")) if get("species") else default_code
        except (ValueError, InvalidInput) as exc:
            result.skipped.append((line, str(exc)))
            continue
        note = " ".join(p for p in (get("town"), get("place"), get("remark")) if p)
        digest = hashlib.sha256("\x1f".join(f"{k}={v}" for k, v in sorted(
            record.items(), key=lambda kv: str(kv[0]))).encode()).hexdigest()[:32]
        rows.append(dict(device_id=None, dedup_key=f"csv:{digest}", event_id=f"csv:{digest}",
                         event="detection", species=species, count=parse_count(get("count")),
                         confidence=None, observed_at=observed, received_at=now, lon=lon,
                         lat=lat, visibility=visibility, source="csv", photo_key=None,
                         thumb_key=None, note=note[:1000] or None))
    with engine.begin() as conn:  # the whole file or nothing
        known = set(conn.execute(sa.select(wildlife_detections.c.dedup_key).where(
            wildlife_detections.c.dedup_key.in_([r["dedup_key"] for r in rows]))).scalars())
        fresh, seen = [], set()
        for row in rows:
            if row["dedup_key"] in known or row["dedup_key"] in seen:
                result.already += 1
                continue
            seen.add(row["dedup_key"])
            fresh.append(row)
        if fresh:
            conn.execute(wildlife_detections.insert(), fresh)
        result.added = len(fresh)
    return result
