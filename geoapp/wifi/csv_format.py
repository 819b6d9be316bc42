"""Reading 公衆無線LANアクセスポイント一覧, the national recommended CSV format.

Both the older 18-column form (with or without 最終確認日) and the newer 自治体標準
form are read by their column names; encodings UTF-8, UTF-8 with BOM and CP932.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from geoapp.errors import ImportRejected

#: canonical field -> the column names it may have, older format first.
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("都道府県コード又は市区町村コード", "全国地方公共団体コード"),
    "no": ("NO", "ID"),
    "name": ("名称",),
    "name_kana": ("名称_カナ",),
    "name_en": ("名称_英語", "名称_英字"),
    "address": ("住所", "所在地_連結表記"),
    "address_extra": ("方書", "建物名等(方書)"),
    "lat": ("緯度",),
    "lon": ("経度",),
    "installer": ("設置者",),
    "phone": ("電話番号",),
    "ssid": ("SSID",),
    "area": ("提供エリア",),
    "url": ("URL",),
    "note": ("備考",),
    "checked": ("最終確認日",),
}
REQUIRED = ("name", "lat", "lon", "ssid")

#: The older recommended format's columns, in order (what geoapp writes back out).
OLDER_FORMAT_HEADER = (
    "都道府県コード又は市区町村コード,NO,都道府県名,市区町村名,名称,名称_カナ,名称_英語,住所,方書,"
    "緯度,経度,設置者,電話番号,内線番号,SSID,提供エリア,URL,備考"
).split(",")


@dataclass(frozen=True)
class AccessPoint:
    """One access point of the list, as read."""

    line: int
    code: str
    no: str
    name: str
    name_kana: str
    name_en: str
    address: str
    lat: float
    lon: float
    installer: str
    ssids: tuple[str, ...]
    area: str
    url: str
    note: str
    checked: str


@dataclass(frozen=True)
class Problem:
    """A row that was skipped, and why."""

    line: int
    reason: str


@dataclass
class WifiList:
    """The sound rows of a list, the problems found, and the encoding it was read in."""

    points: list[AccessPoint]
    problems: list[Problem] = field(default_factory=list)
    encoding: str = "utf-8"


def decode(raw: bytes) -> tuple[str, str]:
    """Text of a CSV file and the encoding it was in (UTF-8 with or without BOM, or CP932)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            "the file is neither UTF-8 nor CP932 (Shift_JIS) text"
        ) from exc


def _split_ssids(value: str) -> tuple[str, ...]:
    for sep in ("、", ";", "；", "/", "／", "\n"):
        value = value.replace(sep, ",")
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def _coordinate(text: str, low: float, high: float) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or not low <= value <= high:
        return None
    return value


def parse(raw: bytes) -> WifiList:
    """Parse a list; ImportRejected if it is unusable as a whole, Problems for bad rows."""
    text, encoding = decode(raw)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ImportRejected("the file is empty")
    header = [h.strip() for h in header]
    where: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for name in names:
            if name in header:
                where[key] = header.index(name)
                break
    missing = [COLUMNS[key][0] for key in REQUIRED if key not in where]
    if missing:
        raise ImportRejected(
            "not a 公衆無線LANアクセスポイント一覧 file: missing column(s) " + ", ".join(missing)
        )
    points: list[AccessPoint] = []
    problems: list[Problem] = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = {key: (row[i].strip() if i < len(row) else "") for key, i in where.items()}
        get = cell.get
        lat = _coordinate(get("lat", ""), -90, 90)
        lon = _coordinate(get("lon", ""), -180, 180)
        reason = None
        if not get("name"):
            reason = "名称 is empty"
        elif lat is None or lon is None:
            reason = f"緯度/経度 {get('lat')!r}, {get('lon')!r} is not a valid coordinate"
        elif not _split_ssids(get("ssid", "")):
            reason = "SSID is empty"
        if reason:
            problems.append(Problem(line, reason))
            continue
        assert lat is not None and lon is not None
        points.append(
            AccessPoint(
                line=line,
                code=get("code", ""),
                no=get("no", "") or str(line - 1),
                name=get("name", ""),
                name_kana=get("name_kana", ""),
                name_en=get("name_en", ""),
                address=" ".join(p for p in (get("address", ""), get("address_extra", "")) if p),
                lat=lat,
                lon=lon,
                installer=get("installer", ""),
                ssids=_split_ssids(get("ssid", "")),
                area=get("area", ""),
                url=get("url", ""),
                note=get("note", ""),
                checked=get("checked", ""),
            )
        )
    if not points:
        raise ImportRejected(
            "no usable rows: " + "; ".join(f"line {p.line}: {p.reason}" for p in problems[:5])
        )
    return WifiList(points=points, problems=problems, encoding=encoding)
