"""The public map at ``/`` (and the OGC landing document for clients asking for JSON)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from geoapp.catalog.registry import Layer
from geoapp.i18n import t
from geoapp.maps import symbols
from geoapp.maps.builder import build_map
from geoapp.maps.places import panel_config
from geoapp.places import towns
from geoapp.web.context import CatalogDep, LangDep, SettingsDep, TemplatesDep
from geoapp.web.negotiation import choose_format
from geoapp.web.ogc import _json, landing

router = APIRouter()


def _symbol(layer: Layer) -> str:
    return symbols.data_uri(layer.spec.style.symbol, layer.spec.style.color)


@router.get("/", summary="Landing page (JSON) or the public map (HTML)")
def home(
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    lang: LangDep,
    f: str | None = Query(None, description="html (the map, default for browsers) or json"),
) -> Response:
    """The public map for people; the OGC API landing page for clients asking for JSON."""
    # Browsers ask for text/html first; API clients send JSON or */* (OWSLib) and get JSON.
    if choose_format(request) == "json":
        return _json(landing(request, catalog, lang), lang=lang)
    # Counted in memory; the service writes the counts in batches (no write per view).
    request.app.state.map_views.count(datetime.now(UTC))
    parts = build_map(catalog, settings, request.app.state.assets, lang, settings.base_url)
    wifi_count = ""
    if any(layer.id == "shelters" for layer in catalog.collections()):
        n, total = catalog.count_with_wifi("shelters")
        wifi_count = t("shelters_with_wifi", lang, n=n, total=total)
        if catalog.sample_data_loaded:
            wifi_count = t("marked", lang, text=wifi_count, mark=t("sample", lang))
    return templates.TemplateResponse(
        request,
        "map.html",
        {"map": parts, "catalog": catalog, "symbol": _symbol, "wifi_count": wifi_count,
         "towns_credit": towns.CREDIT, "towns_credit_url": towns.CREDIT_URL,
         "nearest": panel_config(catalog, lang, settings.base_url),
         "map_center": settings.map_center},
    )


@router.get("/healthz", include_in_schema=False)
def health(catalog: CatalogDep) -> dict[str, object]:
    """Liveness for load balancers: the catalogue is loaded."""
    return {"status": "ok", "layers": [layer.id for layer in catalog]}
