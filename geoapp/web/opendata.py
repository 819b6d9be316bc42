"""The open-data page and its downloads (plan initiative 4)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from geoapp.catalog.registry import Catalog, Layer
from geoapp.errors import NotFound
from geoapp.features.source import Feature
from geoapp.opendata import formats
from geoapp.staff import exports, queries
from geoapp.web.caching import cacheable, collection
from geoapp.web.context import CatalogDep, LangDep, TemplatesDep
from geoapp.web.downloads import attachment, streamed, temporary_file

router = APIRouter(tags=["Open data"])
GENERIC = {
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "gpkg": "application/geopackage+sqlite3",
}
#: Recommended national formats: file name -> (layer it comes from, title).
RECOMMENDED = {
    "evacuation_sites_152064.csv": ("evacuation_sites",
                                    "指定緊急避難場所一覧（自治体標準 39項目）"),
    "public_wireless_lan_152064.csv": ("wifi",
                                       "公衆無線LANアクセスポイント一覧（推奨データセット）"),
    "reports_open311_bulk.csv": ("reports", "通報一覧（Open311 一括CSV）"),
}


def _features(layer: Layer) -> Iterator[Feature]:
    """Every feature of a layer; store-backed layers are read a thousand at a time."""
    assert layer.source is not None
    return layer.source.iter_features()


@router.get("/opendata", summary="Open data: every public dataset and its downloads",
            response_class=HTMLResponse)
def opendata_page(request: Request, catalog: CatalogDep, templates: TemplatesDep,
                  lang: LangDep) -> Response:
    """The list of public datasets with licence, credit, last update and downloads."""
    return templates.TemplateResponse(request, "opendata.html", {
        "layers": catalog.collections(), "recommended": RECOMMENDED})


@router.get("/opendata/{layer_id}.{ext}", summary="One public layer as GeoJSON, CSV or GeoPackage",
            response_class=Response,
            responses={200: {"content": {kind.split(";")[0]: {} for kind in GENERIC.values()}}})
@cacheable(collection("layer_id"), negotiated=False)
def layer_file(layer_id: str, ext: str, request: Request, catalog: CatalogDep) -> Response:
    """A whole public layer in a generic format, streamed (GeoPackage: from a file on disk)."""
    if ext not in GENERIC:
        raise NotFound(f"no format {ext!r}; use geojson, csv or gpkg")
    layer = catalog.collection(layer_id)
    name = f"{layer_id}.{ext}"
    if ext == "geojson":
        return streamed(formats.geojson_chunks(_features(layer)), GENERIC[ext], name)
    if ext == "csv":
        return streamed(formats.generic_csv_chunks(layer, _features(layer)), GENERIC[ext], name)
    # SQLite (GeoPackage's container) needs a file: built on disk, never whole in memory.
    handle, path = tempfile.mkstemp(suffix=".gpkg", prefix="geoapp-")
    os.close(handle)
    try:
        formats.write_geopackage(layer, _features(layer), Path(path))
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return temporary_file(Path(path), GENERIC[ext], name)


def _recommended_layer(catalog: Catalog, args: Mapping[str, Any]) -> list[Layer] | None:
    """The layer a recommended-format file is made from (None for an unknown file)."""
    known = RECOMMENDED.get(args["name"])
    return [catalog.collection(known[0])] if known else None


@router.get("/opendata/recommended/{name}", summary="A layer in its national recommended format",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
@cacheable(_recommended_layer, negotiated=False)
def recommended_file(name: str, request: Request, catalog: CatalogDep) -> Response:
    """指定緊急避難場所一覧, 公衆無線LANアクセスポイント一覧, or the Open311 bulk CSV."""
    if name not in RECOMMENDED:
        raise NotFound(f"no recommended-format file {name!r}")
    layer_id = RECOMMENDED[name][0]
    media_type = "text/csv; charset=utf-8"
    if layer_id == "evacuation_sites":
        layer = catalog.collection(layer_id)
        assert layer.source is not None
        body = formats.evacuation_sites(list(layer.source.features))
    elif layer_id == "wifi":
        if catalog.wifi is None:
            raise NotFound("no Wi-Fi list is loaded")
        body = formats.wifi_list(catalog.wifi.wifi.points)
    else:
        engine = request.app.state.reports.store.engine
        return streamed(exports.open311_csv_chunks(queries.every_report(engine)), media_type,
                        name)
    return attachment(body, media_type, name)
