"""``GET /search``: places by name (towns, the public layers' features, report numbers),
as JSON for the map's search box and as a page that works without JavaScript."""

from __future__ import annotations

from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from geoapp.catalog.registry import Catalog
from geoapp.errors import InvalidParameter
from geoapp.features.params import parse_int
from geoapp.i18n import DEFAULT_LANG, Lang, t
from geoapp.places import towns
from geoapp.places.search import MAX_RESULTS, Kind, Place, PlaceIndex
from geoapp.web.context import CatalogDep, LangDep, TemplatesDep, base_url
from geoapp.web.negotiation import choose_format
from geoapp.web.problems import documented

#: Longer queries are refused: no place name comes near it, and each one costs a scan.
MAX_QUERY = 100
DEFAULT_LIMIT = 10

router = APIRouter(tags=["Search"])


class SearchResult(BaseModel):
    """One place found."""

    kind: Kind
    kind_label: str = Field(description="What it is, in the answer's language")
    name: str = Field(description="Its name in the answer's language where the data has one")
    collection: str | None = Field(description="The layer (collection id) of a feature; "
                                               "'reports' for a report; null for a town")
    id: str | None = Field(description="The feature id, or the report number")
    lon: float
    lat: float
    url: str = Field(description="Its page (a feature's or report's), or the map at a town")


class SearchAnswer(BaseModel):
    """The places matching ``q``, best first (exact, prefix, address, substring)."""

    query: str
    numberReturned: int  # noqa: N815 (OGC API's name)
    results: list[SearchResult]
    credits: list[str] = Field(description="Credits of the data the results come from")


def _index(request: Request, catalog: Catalog) -> PlaceIndex:
    state = request.app.state
    index = getattr(state, "places", None)
    if index is None:  # built on first use: start-up reads no more than before
        index = state.places = PlaceIndex(towns.towns_in(state.settings.geo_dir), catalog)
    return index


def _kind_label(place: Place, catalog: Catalog, lang: Lang) -> str:
    if place.kind == "feature" and place.collection:
        return catalog.collection(place.collection).spec.title(lang)
    return t(f"search_kind_{place.kind}", lang)


def _name(place: Place, lang: Lang) -> str:
    name = place.name_en if lang != DEFAULT_LANG and place.name_en else place.name
    if place.kind == "report":
        return t("search_report_name", lang, number=place.id, category=name)
    return name


def map_url(root: str, lat: float, lon: float, name: str, lang: Lang) -> str:
    """The public map centred on a place with a labelled marker (geoapp-search.js)."""
    query = {"at": f"{lat:.6f},{lon:.6f}", "label": name}
    if lang != DEFAULT_LANG:
        query["lang"] = lang
    return f"{root}/?{urlencode(query)}"


def _url(root: str, place: Place, name: str, lang: Lang) -> str:
    suffix = "" if lang == DEFAULT_LANG else f"&lang={lang}"
    if place.kind == "report":
        return f"{root}/reports/{place.id}" + (f"?lang={lang}" if suffix else "")
    if place.kind == "feature":
        return f"{root}/collections/{place.collection}/items/{place.id}?f=html{suffix}"
    return map_url(root, place.lat, place.lon, name, lang)


def _query(q: str | None, *, required: bool) -> str:
    text = (q or "").strip()
    if not text and (required or q is not None):
        raise InvalidParameter("q", "give the place, town or report number to search for")
    if len(text) > MAX_QUERY:
        raise InvalidParameter("q", f"at most {MAX_QUERY} characters")
    return text


@router.get("/search", summary="Search places: towns, named features, report numbers",
            response_model=SearchAnswer,
            responses={200: {"content": {"text/html": {}}}, **documented(400)})
def search(
    request: Request,
    catalog: CatalogDep,
    templates: TemplatesDep,
    lang: LangDep,
    q: str | None = Query(None, description="What to look for: a town (大字・町丁目), a "
                          "facility's name or a report number; widths, kana, 「1丁目」/「一丁目」 "
                          "and a leading 新発田市 do not matter; at most 100 characters. "
                          "Required, except with f=html (which then answers the empty form)"),
    limit: str | None = Query(None, description=f"Results at most (1–{MAX_RESULTS}, "
                              f"default {DEFAULT_LIMIT})"),
    f: str | None = Query(None, description="json (default) or html"),
) -> Response:
    """Places whose name matches ``q``, best first, at most ``limit``."""
    fmt = choose_format(request)
    text = _query(q, required=fmt == "json")
    count = parse_int("limit", limit, default=DEFAULT_LIMIT, minimum=1, maximum=MAX_RESULTS,
                      clamp=True)
    reports = next((la.source for la in catalog.collections() if la.id == "reports"), None)
    places = (_index(request, catalog).search(
        text, count, report=(lambda n: reports.get(str(n))) if reports else None)
        if text else [])
    root = base_url(request)
    results = []
    for place in places:
        name = _name(place, lang)
        results.append(SearchResult(
            kind=place.kind,
            kind_label=_kind_label(place, catalog, lang), name=name,
            collection=place.collection, id=place.id, lon=place.lon, lat=place.lat,
            url=_url(root, place, name, lang)))
    credits = [towns.CREDIT] if any(p.kind == "town" for p in places) else []
    if fmt == "html":
        return templates.TemplateResponse(request, "search.html", {
            "q": text, "results": results, "towns_credit": towns.CREDIT,
            "towns_credit_url": towns.CREDIT_URL, "licence_url": towns.LICENCE_URL,
            "layers": [catalog.collection(c) for c in dict.fromkeys(
                p.collection for p in places if p.collection)],
            "map_url": lambda r: map_url(root, r.lat, r.lon, r.name, lang)})
    answer = SearchAnswer(query=text, numberReturned=len(results), results=results,
                          credits=credits)
    return Response(orjson.dumps(answer.model_dump()), media_type="application/json",
                    headers={"Content-Language": lang})
