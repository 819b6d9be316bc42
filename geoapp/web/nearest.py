"""``GET /nearest``: the nearest shelters or evacuation sites to a point, as JSON or a page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from geoapp import nearest as domain
from geoapp.errors import InvalidParameter
from geoapp.features.params import parse_int
from geoapp.i18n import Lang, t
from geoapp.web.context import CatalogDep, LangDep, PointLat, PointLon, TemplatesDep, base_url
from geoapp.web.negotiation import choose_format
from geoapp.web.ogc import _json

router = APIRouter()

_FEATURE_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"type": "string"},
        "geometry": {"type": "object", "description": "a GeoJSON Point (lon, lat)"},
        "properties": {"type": "object", "properties": {
            "layer": {"type": "string", "enum": list(domain.LAYERS)},
            "name": {"type": "string"},
            "address": {"type": "string"},
            "distance_m": {"type": "number", "description": "straight line, EPSG:6676"},
            "bearing_deg": {"type": "number", "description": "clockwise from grid north"},
            "direction": {"type": "string", "enum": list(domain.COMPASS)},
            "direction_label": {"type": "string", "description": "in the answer's language"},
            "wifi": {"type": "boolean"},
            "url": {"type": "string", "description": "the place's page"},
        }},
    },
}
NEAREST_SCHEMA = {
    "type": "object",
    "required": ["type", "features", "inside_city", "query"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": _FEATURE_SCHEMA},
        "inside_city": {"type": "boolean",
                        "description": "false: the point is outside Shibata City (still answered)"},
        "notes": {"type": "array", "items": {"type": "string"}},
        "query": {"type": "object"},
    },
}


def distance_text(metres: float, lang: Lang) -> str:
    """A distance as people read it: to 10 m below 1 km, to 0.1 km above."""
    if metres < 1000:
        return t("nearest.metres", lang, n=f"{round(metres, -1):,.0f}")
    return t("nearest.kilometres", lang, n=f"{metres / 1000:,.1f}")


def _place(request: Request, near: domain.Near, layer: str, lang: Lang) -> dict[str, Any]:
    props = near.feature.properties
    suffix = "" if lang == "ja" else f"&lang={lang}"
    item = quote(near.feature.id, safe="")
    url = f"{base_url(request)}/collections/{layer}/items/{item}?f=html{suffix}"
    direction = t(f"compass.{near.compass}", lang)
    answer: dict[str, Any] = {
        "layer": layer,
        "name": str(props.get("name") or near.feature.id),
        "address": str(props.get("address") or ""),
        "distance_m": round(near.distance_m, 1),
        "distance_text": distance_text(near.distance_m, lang),
        "bearing_deg": round(near.bearing_deg, 1),
        "direction": near.compass,
        "direction_label": direction,
        "url": url,
    }
    if "wifi" in props:
        answer["wifi"] = bool(props["wifi"])
    return {"type": "Feature", "id": near.feature.id,
            "geometry": {"type": "Point", "coordinates": [near.lon, near.lat]},
            "properties": answer}


def _text(value: str | None) -> str | None:
    """A form field's value, None when left empty (a select's "any")."""
    value = (value or "").strip()
    return value or None


@router.get(
    "/nearest", tags=["Places"],
    summary="The nearest designated shelters or emergency evacuation sites to a point",
    responses={200: {"description": "Nearest first (GeoJSON FeatureCollection), or a page",
                     "content": {"application/json": {"schema": NEAREST_SCHEMA},
                                 "text/html": {}}}},
)
def nearest_places(
    request: Request,
    catalog: CatalogDep,
    templates: TemplatesDep,
    lang: LangDep,
    lat: PointLat = None,
    lon: PointLon = None,
    layer: Annotated[str, Query(description="what to look for",
                                json_schema_extra={"enum": list(domain.LAYERS)})] = "shelters",
    wifi: Annotated[bool, Query(description="only shelters with public Wi-Fi")] = False,
    hazard: Annotated[str | None, Query(
        description="only evacuation sites designated for this hazard",
        json_schema_extra={"enum": ["", *domain.HAZARDS]})] = None,
    limit: Annotated[str | None, Query(
        description=f"how many (1 to {domain.MAX_LIMIT}, default 5)",
        json_schema_extra={"type": "integer", "minimum": 1,
                           "maximum": domain.MAX_LIMIT})] = None,
    f: Annotated[str | None, Query(description="json or html")] = None,
) -> Response:
    """Places nearest first, by straight-line distance in EPSG:6676, with their direction.

    A point outside the city is answered too (``inside_city`` false, with a note): the
    list then holds only Shibata's own places.
    """
    fmt = choose_format(request)
    form = {"lat": lat, "lon": lon, "layer": layer, "wifi": wifi, "hazard": _text(hazard),
            "limit": limit}
    if fmt == "html" and lat is None and lon is None:  # the empty form
        return templates.TemplateResponse(request, "nearest.html",
                                          {"form": form, "answer": None, "error": None,
                                           "hazards": domain.HAZARDS})
    try:
        if lat is None:
            raise InvalidParameter("lat", "required")
        if lon is None:
            raise InvalidParameter("lon", "required")
        query = domain.Query(lon=lon, lat=lat, layer=layer, wifi=wifi, hazard=_text(hazard),
                             limit=parse_int("limit", limit, default=5, minimum=1,
                                             maximum=domain.MAX_LIMIT))
    except InvalidParameter as exc:
        if fmt != "html":
            raise
        # The form again, saying what to change, rather than an error page.
        return templates.TemplateResponse(request, "nearest.html",
                                          {"form": form, "answer": None, "error": exc,
                                           "hazards": domain.HAZARDS},
                                          status_code=400)
    source = catalog.collection(query.layer).source
    assert source is not None  # a collection always has features
    found = domain.nearest(source.features, query)
    inside = request.app.state.reports.boundary.contains(query.lon, query.lat)
    notes = [] if inside else [t("nearest.outside_city", lang)]
    notes.append(t("nearest.straight_line", lang))
    answer = {
        "type": "FeatureCollection",
        "features": [_place(request, near, query.layer, lang) for near in found],
        "inside_city": inside,
        "notes": notes,
        "query": {"lat": query.lat, "lon": query.lon, "layer": query.layer,
                  "wifi": query.wifi, "hazard": query.hazard, "limit": query.limit},
    }
    if fmt == "json":
        return _json(answer, lang=lang)
    what = t(f"nearest.layer_{query.layer}", lang)
    if query.hazard:
        what = t("marked", lang, text=what, mark=t(f"hazard_name.{query.hazard}", lang))
    elif query.wifi:
        what = t("marked", lang, text=what, mark=t("wifi_yes", lang))
    heading = t("nearest.results_heading", lang, what=what,
                point=t("nearest.point", lang, lat=query.lat, lon=query.lon))
    return templates.TemplateResponse(request, "nearest.html",
                                      {"form": form, "answer": answer, "error": None,
                                       "heading": heading, "hazards": domain.HAZARDS})
