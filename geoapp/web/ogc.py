"""OGC API – Features, Part 1 Core: conformance, collections, items, one item, the API doc."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from geoapp.catalog.registry import Catalog, Layer
from geoapp.errors import InvalidParameter
from geoapp.features import crs as crs_part2
from geoapp.features.crs import CRS84
from geoapp.features.live import COUNT_LIMIT, StoreSource
from geoapp.features.params import parse_bbox, parse_int, parse_limit
from geoapp.features.source import Page, Summary
from geoapp.i18n import Lang, t
from geoapp.web.caching import cacheable, every_collection
from geoapp.web.caching import collection as one_collection
from geoapp.web.context import CatalogDep, LangDep, SettingsDep, TemplatesDep, base_url, url_with
from geoapp.web.negotiation import choose_format
from geoapp.web.tiles import CONFORMANCE as TILES_CONFORMANCE
from geoapp.web.tiles import TILESETS_VECTOR

GEOJSON = "application/geo+json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    *TILES_CONFORMANCE,
]
#: Parameters items accepts besides the layer's own property names.
ITEMS_PARAMS = {"f", "lang", "bbox", "bbox-crs", "crs", "limit", "offset", "cursor", "datetime"}

router = APIRouter(tags=["OGC API – Features"])


def _json(body: Any, media_type: str = "application/json", lang: Lang = "ja") -> Response:
    return Response(
        orjson.dumps(body), media_type=media_type, headers={"Content-Language": lang}
    )


def _link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def landing(request: Request, catalog: Catalog, lang: Lang) -> dict[str, Any]:
    """The landing page document (served at ``/`` to clients that ask for JSON)."""
    root = base_url(request)
    return {
        "title": t("site_name", lang),
        "description": t("map_title", lang),
        "links": [
            _link(f"{root}/?f=json", "self", "application/json", t("api_home", lang)),
            _link(f"{root}/", "alternate", "text/html", t("map_title", lang)),
            _link(f"{root}/api", "service-desc", OPENAPI_JSON, t("api_definition", lang)),
            _link(f"{root}/api?f=html", "service-doc", "text/html", t("api_definition", lang)),
            _link(f"{root}/conformance", "conformance", "application/json", t("conformance", lang)),
            _link(f"{root}/collections", "data", "application/json", t("collections", lang)),
        ],
    }


def collection_doc(request: Request, layer: Layer, lang: Lang,
                   summary: Summary | None = None) -> dict[str, Any]:
    """The metadata document of one collection (``summary``: its count and extent, if known)."""
    root = base_url(request)
    spec = layer.spec
    assert layer.source is not None
    href = f"{root}/collections/{spec.id}"
    doc: dict[str, Any] = {
        "id": spec.id,
        "title": spec.title(lang),
        "description": spec.description(lang),
        "itemType": "feature",
        "crs": list(crs_part2.SUPPORTED),
        "storageCrs": CRS84,
        "links": [
            _link(href, "self", "application/json", spec.title(lang)),
            _link(f"{href}?f=html", "alternate", "text/html", spec.title(lang)),
            _link(f"{href}/items", "items", GEOJSON, t("features", lang)),
            _link(f"{href}/items?f=html", "items", "text/html", t("list_view", lang)),
        ],
        "geoapp:attribution": spec.credit.text(lang),
        "geoapp:licence": spec.credit.licence,
        "geoapp:updated": layer.updated,
        "geoapp:sample": layer.sample,
        "geoapp:provisional": spec.provisional,
    }
    if isinstance(layer.source, StoreSource):  # served as vector tiles too
        doc["links"].append(_link(f"{href}/tiles", TILESETS_VECTOR, "application/json",
                                  t("vector_tiles", lang)))
    if spec.credit.licence_url:
        doc["links"].append(
            _link(spec.credit.licence_url, "license", "text/html", spec.credit.licence)
        )
    extent = (summary or layer.source.summary()).extent
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [list(extent)], "crs": CRS84}}
    return doc


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request, templates: TemplatesDep, lang: LangDep) -> Response:
    """The conformance classes geoapp implements."""
    if choose_format(request) == "html":
        return templates.TemplateResponse(
            request, "conformance.html", {"lang": lang, "classes": CONFORMANCE}
        )
    return _json({"conformsTo": CONFORMANCE}, lang=lang)


@router.get("/collections", summary="The public feature collections")
@cacheable(every_collection)
def collections(
    request: Request, catalog: CatalogDep, templates: TemplatesDep, lang: LangDep
) -> Response:
    """Every public feature collection."""
    root = base_url(request)
    layers = catalog.collections()
    # One aggregate query per store-backed layer gives both its count and its extent.
    summaries = [layer.summary() for layer in layers]
    docs = [collection_doc(request, layer, lang, summary)
            for layer, summary in zip(layers, summaries, strict=True)]
    if choose_format(request) == "html":
        return templates.TemplateResponse(
            request,
            "collections.html",
            {"lang": lang, "layers": layers, "docs": docs, "summaries": summaries},
        )
    body = {
        "links": [
            _link(f"{root}/collections", "self", "application/json", t("collections", lang)),
            _link(f"{root}/collections?f=html", "alternate", "text/html", t("collections", lang)),
        ],
        "collections": docs,
    }
    return _json(body, lang=lang)


@router.get("/collections/{collection_id}", summary="One collection's metadata")
@cacheable(one_collection("collection_id"))
def collection(
    collection_id: str,
    request: Request,
    catalog: CatalogDep,
    templates: TemplatesDep,
    lang: LangDep,
) -> Response:
    """The metadata of one collection."""
    layer = catalog.collection(collection_id)
    summary = layer.summary()
    doc = collection_doc(request, layer, lang, summary)
    if choose_format(request) == "html":
        return templates.TemplateResponse(
            request, "collection.html",
            {"lang": lang, "layer": layer, "doc": doc, "summary": summary})
    return _json(doc, lang=lang)


def _check_params(request: Request, layer: Layer) -> dict[str, str]:
    """Refuse unknown parameters; return the property filters."""
    keys = {p.key for p in layer.spec.properties}
    filters = {}
    for name, value in request.query_params.multi_items():
        if name in keys:
            filters[name] = value
        elif name not in ITEMS_PARAMS:
            raise InvalidParameter(
                name, f"unknown parameter; this collection accepts {', '.join(sorted(keys))}"
            )
    when = request.query_params.get("datetime")
    if when is not None:
        _check_datetime(when)
    return filters


def _check_datetime(text: str) -> None:
    # These layers carry no time, so a well-formed datetime selects everything.
    for part in text.split("/"):
        if part in ("", ".."):
            continue
        try:
            datetime.fromisoformat(part.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidParameter("datetime", f"{part!r} is not an RFC 3339 date-time") from None


@dataclass(frozen=True)
class _Paging:
    """Links of one items page, and the next/prev hrefs the HTML pager shows."""

    links: list[dict[str, str]]
    next_href: str | None
    prev_href: str | None


def _paging(request: Request, layer: Layer, fmt: str, start: int, size: int, page: Page,
            by_cursor: bool, lang: Lang) -> _Paging:
    path = f"/collections/{layer.id}/items"
    page_type = GEOJSON if fmt == "json" else "text/html"
    links = [
        _link(url_with(request, path), "self", page_type, layer.spec.title(lang)),
        _link(url_with(request, path, f="html"), "alternate", "text/html", t("list_view", lang)),
        _link(url_with(request, path, f="json"), "alternate", GEOJSON, "GeoJSON"),
        _link(f"{base_url(request)}/collections/{layer.id}", "collection", "application/json",
              layer.spec.title(lang)),
    ]
    next_href = prev_href = None
    if page.next_cursor is not None:
        # A keyset cursor: the next page costs what this one did, however deep.
        next_href = url_with(request, path, cursor=page.next_cursor, offset=None, limit=size)
    elif not by_cursor and page.matched is not None and start + size < page.matched:
        next_href = url_with(request, path, offset=start + size, limit=size)
    if next_href is not None:
        links.append(_link(next_href, "next", page_type, t("next_page", lang)))
    # A cursor page has no prev link (OGC API allows leaving it out); offset pages do.
    if start > 0 and not by_cursor:
        prev_href = url_with(request, path, offset=max(0, start - size), limit=size)
        links.append(_link(prev_href, "prev", page_type, t("prev_page", lang)))
    return _Paging(links, next_href, prev_href)


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}, "text/html": {}}}},
)
@cacheable(one_collection("collection_id"))
def items(
    collection_id: str,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    lang: LangDep,
    bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat (in bbox-crs)"),
    crs: str | None = Query(None, description="CRS of the answer (OGC API Part 2)"),
    bbox_crs: str | None = Query(None, alias="bbox-crs", description="CRS of bbox"),
    limit: str | None = Query(None, description="page size; clamped to the maximum"),
    offset: str | None = Query(None, description="features to skip (at most 10,000 in the "
                                                 "store's layers: follow next links further)"),
    cursor: str | None = Query(None, description="where the page starts: the token of "
                                                 "a next link"),
    datetime_: str | None = Query(None, alias="datetime", description="RFC 3339 instant/interval"),
    f: str | None = Query(None, description="json (GeoJSON, default) or html"),
) -> Response:
    """Features of a collection, filtered by bbox and by property values, one page at a time."""
    layer = catalog.collection(collection_id)
    assert layer.source is not None
    fmt = choose_format(request)
    filters = _check_params(request, layer)
    out_crs = crs_part2.check("crs", crs)
    box_crs = crs_part2.check("bbox-crs", bbox_crs)
    box = parse_bbox(bbox, crs84=box_crs == CRS84) if bbox else None
    if box is not None:
        box = crs_part2.bbox_to_crs84(box, box_crs)
    size = parse_limit(limit, default=settings.items_default_limit,
                       maximum=settings.items_max_limit)
    start = parse_int("offset", offset, default=0, minimum=0)
    by_cursor = bool(cursor)
    page = layer.source.query(bbox=box, filters=filters, limit=size, offset=start,
                              cursor=cursor or None)
    paging = _paging(request, layer, fmt, start, size, page, by_cursor, lang)
    if fmt == "html":
        context = {
            "layer": layer, "features": page.features, "matched": page.matched,
            "first": None if by_cursor else start + 1,
            "last": start + len(page.features),
            "next_href": paging.next_href, "prev_href": paging.prev_href,
            "count_limit": COUNT_LIMIT,
        }
        return templates.TemplateResponse(request, "items.html", context)
    # numberMatched is left out when counting would cost more than the page (OGC API
    # allows that); numberReturned is always there.
    counts = {} if page.matched is None else {"numberMatched": page.matched}
    tail = orjson.dumps({
        **counts,
        "numberReturned": len(page.features),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": paging.links,
    })
    encoded = page.encoded
    if out_crs != CRS84:
        encoded = [orjson.dumps({**f.to_geojson(),
                                 "geometry": crs_part2.geometry_in(f.geometry, out_crs)})
                   for f in page.features]
    # Features were encoded once at start-up; a CRS84 page is a join of their bytes.
    body = b'{"type":"FeatureCollection","features":[' + b",".join(encoded) + b"]," + tail[1:]
    return Response(body, media_type=GEOJSON, headers={
        "Content-Language": lang, "Content-Crs": crs_part2.extent_crs(out_crs)})


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}, "text/html": {}}}},
)
@cacheable(one_collection("collection_id"))
def item(
    collection_id: str,
    feature_id: str,
    request: Request,
    catalog: CatalogDep,
    templates: TemplatesDep,
    lang: LangDep,
    f: str | None = Query(None, description="json (GeoJSON, default) or html"),
    crs: str | None = Query(None, description="CRS of the answer (OGC API Part 2)"),
) -> Response:
    """One feature of a collection."""
    layer = catalog.collection(collection_id)
    assert layer.source is not None
    feature = layer.source.get(feature_id)
    out_crs = crs_part2.check("crs", crs)
    if choose_format(request) == "html":
        return templates.TemplateResponse(
            request, "item.html", {"lang": lang, "layer": layer, "feature": feature}
        )
    root = base_url(request)
    href = f"{root}/collections/{layer.id}/items/{feature_id}"
    body = feature.to_geojson()
    body["geometry"] = crs_part2.geometry_in(feature.geometry, out_crs)
    body["links"] = [
        _link(href, "self", GEOJSON, feature_id),
        _link(f"{href}?f=html", "alternate", "text/html", feature_id),
        _link(f"{root}/collections/{layer.id}", "collection", "application/json",
              layer.spec.title(lang)),
    ]
    response = _json(body, GEOJSON, lang)
    response.headers["Content-Crs"] = crs_part2.extent_crs(out_crs)
    return response


@router.get("/api", summary="This API's OpenAPI definition", include_in_schema=False)
def api(request: Request, templates: TemplatesDep, lang: LangDep) -> Response:
    """The OpenAPI definition, as JSON or as a readable page."""
    spec = request.app.openapi()
    if choose_format(request) == "html":
        return templates.TemplateResponse(request, "api.html", {"lang": lang, "spec": spec})
    return JSONResponse(spec, media_type=OPENAPI_JSON)
