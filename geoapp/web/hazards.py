"""``GET /hazards``: what the hazard overlays show at a point, as JSON or a page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from geoapp.errors import InvalidParameter
from geoapp.hazards import HazardReader, Reading
from geoapp.i18n import Lang, t
from geoapp.maps import symbols
from geoapp.web.context import LangDep, PointLat, PointLon, TemplatesDep
from geoapp.web.negotiation import choose_format
from geoapp.web.ogc import _json
from geoapp.web.problems import documented

router = APIRouter()

_ENTRY = {"type": "object", "properties": {
    "value": {"type": "string"}, "label": {"type": "string"},
    "color": {"type": "string", "description": "the key's colour, #rrggbb"}}}
HAZARDS_SCHEMA = {
    "type": "object",
    "required": ["lat", "lon", "layers", "credit", "notes"],
    "properties": {
        "lat": {"type": "number"}, "lon": {"type": "number"},
        "inside_city": {"type": "boolean"},
        "layers": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "title": {"type": "string"},
            "found": {"type": "array", "items": _ENTRY,
                      "description": "what the overlay draws here; empty: nothing drawn"},
            "pixels": {"type": "array", "items": {"type": "object"},
                       "description": "each tile set's pixel (RGBA), null where no tile"},
            "caveat": {"type": "string"}}}},
        "credit": {"type": "string"}, "credit_ja": {"type": "string"},
        "credit_url": {"type": "string"},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}


def _layers(readings: list[Reading], lang: Lang) -> list[dict[str, Any]]:
    """The readings grouped by overlay, each overlay once, in the catalogue's order."""
    grouped: dict[str, dict[str, Any]] = {}
    for reading in readings:
        spec = reading.layer.spec
        layer = grouped.setdefault(spec.id, {
            "id": spec.id, "title": spec.title(lang), "found": [], "pixels": [],
            "caveat": spec.key_caveat(lang) if spec.key_caveat else ""})
        layer["pixels"].append({"tiles": reading.tiles,
                                "rgba": list(reading.rgba) if reading.rgba else None})
        if reading.entry is not None and all(
                e["value"] != reading.entry.value for e in layer["found"]):
            layer["found"].append({"value": reading.entry.value,
                                   "label": reading.entry.label(lang),
                                   "color": reading.entry.color})
    return list(grouped.values())


@router.get(
    "/hazards", tags=["Places"],
    summary="What the hazard overlays (flood depth, landslide areas) show at a point",
    responses={200: {"description": "The overlays' key entries at the point, or a page",
                     "content": {"application/json": {"schema": HAZARDS_SCHEMA},
                                 "text/html": {}}},
               **documented(502, 503)},
)
def hazards_here(
    request: Request,
    templates: TemplatesDep,
    lang: LangDep,
    lat: PointLat = None,
    lon: PointLon = None,
    f: Annotated[str | None, Query(description="json or html")] = None,
) -> Response:
    """Each hazard overlay's tile pixel at the point, named by the overlay's key.

    A transparent pixel (or no tile) means the overlay draws nothing there; that is not
    "safe", and the answer says so. The tiles come from the hazard map portal (its credit
    is in every answer); when it cannot be reached the answer is 503, when it answers
    something unusable 502.
    """
    fmt = choose_format(request)
    reader: HazardReader = request.app.state.hazards
    if fmt == "html" and lat is None and lon is None:  # the empty form
        return templates.TemplateResponse(request, "hazards.html", {"answer": None})
    if lat is None:
        raise InvalidParameter("lat", "required")
    if lon is None:
        raise InvalidParameter("lon", "required")
    readings = reader.read(lon, lat)
    credit = reader.layers[0].spec.credit if reader.layers else None
    answer = {
        "lat": lat,
        "lon": lon,
        "inside_city": request.app.state.reports.boundary.contains(lon, lat),
        "layers": _layers(readings, lang),
        "credit": credit.text(lang) if credit else "",
        "credit_ja": credit.text("ja") if credit else "",
        "credit_url": (credit.url or "") if credit else "",
        "notes": [t("hazards.not_safe", lang), t("hazards.check_city_map", lang)],
    }
    if fmt == "json":
        return _json(answer, lang=lang)
    return templates.TemplateResponse(request, "hazards.html", {
        "answer": answer,
        "swatch": symbols.swatch,
        "heading": t("hazards.results_heading", lang,
                     point=t("nearest.point", lang, lat=lat, lon=lon)),
    })
