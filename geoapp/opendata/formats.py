"""Writing layers as open-data files: generic GeoJSON, CSV, GeoPackage, and the recommended
national formats (推奨データセット) where one exists.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import orjson
from shapely.geometry import shape

from geoapp.catalog.registry import Layer
from geoapp.features.source import Feature
from geoapp.wifi.csv_format import OLDER_FORMAT_HEADER, AccessPoint

CITY_CODE = "152064"  # 全国地方公共団体コード with its check digit
PREFECTURE, CITY = "新潟県", "新発田市"

#: 指定緊急避難場所一覧 (自治体標準オープンデータセット), 39 columns.
EVACUATION_HEADER = (
    "全国地方公共団体コード,ID,名称,名称_カナ,名称_英字,所在地_全国地方公共団体コード,町字ID,"
    "所在地_連結表記,所在地_都道府県,所在地_市区町村,所在地_町字,所在地_番地以下,建物名等(方書),"
    "緯度,経度,標高,電話番号,内線番号,連絡先メールアドレス,連絡先FormURL,"
    "連絡先備考（その他、SNSなど）,郵便番号,市区町村コード,地方公共団体名,災害種別_洪水,"
    "災害種別_崖崩れ、土石流及び地滑り,災害種別_高潮,災害種別_地震,災害種別_津波,"
    "災害種別_大規模な火事,災害種別_内水氾濫,災害種別_火山現象,指定避難所との重複,想定収容人数,"
    "対象となる町会・自治会,URL,画像,画像_ライセンス,備考"
).split(",")
#: Our hazard properties, in the order of the format's 災害種別 columns.
HAZARDS = ("flood", "landslide", "storm_surge", "earthquake", "tsunami", "large_fire",
           "inland_flood", "volcano")


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV file as Excel opens it (UTF-8 with BOM, CRLF), every cell safe as text."""
    return b"".join(csv_chunks(header, rows))


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]], *,
               per_chunk: int = 1000) -> Iterator[bytes]:
    """The same file as :func:`csv_bytes`, ``per_chunk`` rows at a time, for streaming."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    first = True
    for n, row in enumerate(rows, 1):
        writer.writerow([_cell(v) for v in row])
        if n % per_chunk == 0:
            yield _drain(out, first)
            first = False
    yield _drain(out, first)


def _drain(out: io.StringIO, first: bool) -> bytes:
    """What ``out`` holds as UTF-8 (after the BOM on the first chunk), emptying it."""
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return ("\ufeff" if first else "").encode() + text.encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A spreadsheet would run a cell starting like a formula; keep resident text as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def geojson(features: Iterable[Feature]) -> bytes:
    """A GeoJSON FeatureCollection (RFC 7946, CRS84)."""
    return b"".join(geojson_chunks(features))


def geojson_chunks(features: Iterable[Feature]) -> Iterator[bytes]:
    """The same collection as :func:`geojson`, a thousand features at a time."""
    return collection_chunks(f.to_geojson() for f in features)


def collection_chunks(features: Iterable[dict[str, Any]], *, per_chunk: int = 1000
                      ) -> Iterator[bytes]:
    """A FeatureCollection of GeoJSON feature dicts, encoded ``per_chunk`` at a time.

    One ``orjson.dumps`` per chunk: a buffer per feature would cost several times the
    feature's own size (orjson's output buffers start large).
    """
    head, batch = b'{"type":"FeatureCollection","features":[', []
    for feature in features:
        batch.append(feature)
        if len(batch) == per_chunk:
            yield head + orjson.dumps(batch)[1:-1]
            head, batch = b",", []
    yield (head + orjson.dumps(batch)[1:-1] if batch else head.removesuffix(b",")) + b"]}"


def generic_csv(layer: Layer, features: Iterable[Feature]) -> bytes:
    """The whole file of :func:`generic_csv_chunks`."""
    return b"".join(generic_csv_chunks(layer, features))


def generic_csv_chunks(layer: Layer, features: Iterable[Feature]) -> Iterator[bytes]:
    """One row per feature: id, the declared properties, the geometry type and a latitude and
    longitude (the point itself, or a point inside a line or area). UTF-8 with BOM.

    Shapes are not written as WKT: the city polygon alone is 270 kB, past the 32,767
    characters a spreadsheet cell holds. The GeoJSON and GeoPackage files carry them whole.
    """
    keys = [p.key for p in layer.spec.properties]
    header = ["id", *keys, "geometry_type", "latitude", "longitude"]

    def rows() -> Iterator[list[Any]]:
        for feature in features:
            point = shape(feature.geometry).representative_point()
            yield [feature.id, *(feature.properties.get(k) for k in keys),
                   feature.geometry["type"], f"{point.y:.6f}", f"{point.x:.6f}"]

    return csv_chunks(header, rows())


def geopackage(layer: Layer, features: Iterable[Feature]) -> bytes:
    """A GeoPackage with one table named after the layer (EPSG:4326), as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{layer.id}.gpkg"
        write_geopackage(layer, features, path)
        return path.read_bytes()


def write_geopackage(layer: Layer, features: Iterable[Feature], path: Path, *,
                     per_chunk: int = 1000) -> None:
    """Write a GeoPackage with one table named after the layer (EPSG:4326) at ``path``,
    appending ``per_chunk`` features at a time so a large layer is never whole in memory."""
    batch: list[Feature] = []
    written = False

    def flush() -> None:
        nonlocal written
        frame = gpd.GeoDataFrame(
            [{"id": f.id, **f.properties} for f in batch],
            geometry=[shape(f.geometry) for f in batch], crs="EPSG:4326")
        frame.to_file(path, driver="GPKG", layer=layer.id, engine="pyogrio",
                      mode="a" if written else "w")
        written = True
        batch.clear()

    for feature in features:
        batch.append(feature)
        if len(batch) == per_chunk:
            flush()
    if batch or not written:
        flush()


def _flag(value: Any) -> str:
    return "有" if value else "無"


def evacuation_sites(features: Sequence[Feature]) -> bytes:
    """指定緊急避難場所一覧 in the 自治体標準 39-column form."""
    rows = []
    for f in features:
        p = f.properties
        lon, lat = f.geometry["coordinates"][:2]
        row = {name: "" for name in EVACUATION_HEADER}
        row.update({
            "全国地方公共団体コード": CITY_CODE, "ID": f.id, "名称": p.get("name", ""),
            "所在地_全国地方公共団体コード": CITY_CODE, "所在地_連結表記": p.get("address", ""),
            "所在地_都道府県": PREFECTURE, "所在地_市区町村": CITY,
            "緯度": f"{lat:.6f}", "経度": f"{lon:.6f}", "市区町村コード": CITY_CODE,
            "地方公共団体名": f"{PREFECTURE}{CITY}",
            "指定避難所との重複": _flag(p.get("same_as_shelter")),
        })
        for column, hazard in zip(EVACUATION_HEADER[24:32], HAZARDS, strict=True):
            row[column] = _flag(p.get(hazard))
        rows.append([row[name] for name in EVACUATION_HEADER])
    return csv_bytes(EVACUATION_HEADER, rows)


def wifi_list(points: Sequence[AccessPoint]) -> bytes:
    """公衆無線LANアクセスポイント一覧 in the recommended (older, 18-column) form."""
    rows = [[p.code or CITY_CODE, p.no, PREFECTURE, CITY, p.name, p.name_kana, p.name_en,
             p.address, "", f"{p.lat:.6f}", f"{p.lon:.6f}", p.installer, "", "",
             ",".join(p.ssids), p.area, p.url, p.note] for p in points]
    return csv_bytes(OLDER_FORMAT_HEADER, rows)
