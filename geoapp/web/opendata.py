"""The open-data page and its downloads (plan initiative 4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from geoapp.catalog.registry import Catalog, Layer
from geoapp.errors import NotFound
from geoapp.opendata import formats
from geoapp.staff import exports, queries
from geoapp.web.caching import cacheable, collection
from geoapp.web.context import CatalogDep, LangDep, TemplatesDep

router = APIRouter(tags=["Open data"])
GENERIC = {
    "geojson": ("application/geo+json", formats.geojson),
    "csv": ("text/csv; charset=utf-8", None),
    "gpkg": ("application/geopackage+sqlite3", None),
}
#: Recommended national formats: file name -> (layer it comes from, title).
RECOMMENDED = {
    "evacuation_sites_152064.csv": ("evacuation_sites",
                                    "指定緊急避難場所一覧（自治体標準 39項目）"),
    "public_wireless_lan_152064.csv": ("wifi",
                                       "公衆無線LANアクセスポイント一覧（推奨データセット）"),
    "reports_open311_bulk.csv": ("reports", "通報一覧（Open311 一括CSV）"),
}


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/opendata", summary="Open data: every public dataset and its downloads",
            response_class=HTMLResponse)
def opendata_page(request: Request, catalog: CatalogDep, templates: TemplatesDep,
                  lang: LangDep) -> Response:
    """The list of public datasets with licence, credit, last update and downloads."""
    return templates.TemplateResponse(request, "opendata.html", {
        "layers": catalog.collections(), "recommended": RECOMMENDED})


@router.get("/opendata/{layer_id}.{ext}", summary="One public layer as GeoJSON, CSV or GeoPackage",
            response_class=Response,
            responses={200: {"content": {kind.split(";")[0]: {} for kind, _ in GENERIC.values()}}})
@cacheable(collection("layer_id"), negotiated=False)
def layer_file(layer_id: str, ext: str, request: Request, catalog: CatalogDep) -> Response:
    """A whole public layer in a generic format."""
    if ext not in GENERIC:
        raise NotFound(f"no format {ext!r}; use geojson, csv or gpkg")
    layer = catalog.collection(layer_id)
    assert layer.source is not None
    features = list(layer.source.features)
    media_type = GENERIC[ext][0]
    if ext == "geojson":
        body = formats.geojson(features)
    elif ext == "csv":
        body = formats.generic_csv(layer, features)
    else:
        body = formats.geopackage(layer, features)
    return _download(body, media_type, f"{layer_id}.{ext}")


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
        body = exports.open311_csv(queries.all_rows(engine))
    return _download(body, "text/csv; charset=utf-8", name)
