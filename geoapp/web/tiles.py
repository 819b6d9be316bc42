"""OGC API – Tiles for the store-backed layers: tilesets, the tile matrix set, MVT tiles."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from geoapp.catalog.registry import Layer
from geoapp.errors import NotFound
from geoapp.features import tiles
from geoapp.features.live import StoreSource
from geoapp.i18n import Lang
from geoapp.web.caching import cacheable
from geoapp.web.caching import collection as one_collection
from geoapp.web.context import CatalogDep, LangDep, base_url

#: The conformance classes of OGC API – Tiles 1.0 these routes implement.
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]
WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
#: Scale denominator of zoom 0 (0.28 mm pixels, OGC's convention) and its cell size.
_SCALE_0 = 559082264.028717
_CELL_0 = 156543.033928041
_ORIGIN = 20037508.3427892

router = APIRouter(tags=["OGC API – Tiles"])


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def tiled(catalog: Any, collection_id: str) -> Layer:
    """The collection, if it is served as vector tiles (the store's layers), else NotFound."""
    layer = catalog.collection(collection_id)
    if not isinstance(layer.source, StoreSource):
        raise NotFound(f"collection {collection_id!r} has no vector tiles")
    return layer


def matrix_set() -> dict[str, Any]:
    """WebMercatorQuad as OGC 2D Tile Matrix Set 2.0 JSON describes it."""
    return {
        "id": tiles.TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": tiles.TMS_URI,
        "crs": WEB_MERCATOR,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": [
            {"id": str(z), "scaleDenominator": _SCALE_0 / 2 ** z, "cellSize": _CELL_0 / 2 ** z,
             "cornerOfOrigin": "topLeft", "pointOfOrigin": [-_ORIGIN, _ORIGIN],
             "tileWidth": 256, "tileHeight": 256, "matrixWidth": 2 ** z,
             "matrixHeight": 2 ** z}
            for z in range(tiles.MAX_ZOOM + 1)
        ],
    }


def tileset(request: Request, layer: Layer, lang: Lang) -> dict[str, Any]:
    """The tileset metadata of one collection in WebMercatorQuad."""
    root = base_url(request)
    href = f"{root}/collections/{layer.id}/tiles/{tiles.TMS_ID}"
    return {
        "title": layer.spec.title(lang),
        "dataType": "vector",
        "crs": WEB_MERCATOR,
        "tileMatrixSetURI": tiles.TMS_URI,
        "links": [
            {"href": href, "rel": "self", "type": "application/json",
             "title": layer.spec.title(lang)},
            {"href": f"{root}/tileMatrixSets/{tiles.TMS_ID}", "rel": TILING_SCHEME,
             "type": "application/json", "title": tiles.TMS_ID},
            {"href": f"{href}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "rel": "item",
             "type": tiles.MEDIA_TYPE, "templated": True, "title": "Mapbox Vector Tiles"},
            {"href": f"{root}/collections/{layer.id}", "rel": "collection",
             "type": "application/json", "title": layer.spec.title(lang)},
        ],
        "layers": [{"id": layer.id, "dataType": "vector", "geometryDimension": 0,
                    "minTileMatrix": "0", "maxTileMatrix": str(tiles.MAX_ZOOM)}],
    }


@router.get("/tileMatrixSets", summary="The tile matrix sets of the tiles")
def matrix_sets(request: Request) -> Response:
    """The tile matrix sets tiles are served in (WebMercatorQuad only)."""
    root = base_url(request)
    return _json({"tileMatrixSets": [{
        "id": tiles.TMS_ID, "title": matrix_set()["title"], "uri": tiles.TMS_URI,
        "links": [{"href": f"{root}/tileMatrixSets/{tiles.TMS_ID}", "rel": "self",
                   "type": "application/json", "title": tiles.TMS_ID}]}]})


@router.get("/tileMatrixSets/{tile_matrix_set_id}", summary="One tile matrix set")
def matrix_set_doc(tile_matrix_set_id: str) -> Response:
    """The definition of a tile matrix set."""
    if tile_matrix_set_id != tiles.TMS_ID:
        raise NotFound(f"no tile matrix set {tile_matrix_set_id!r}")
    return _json(matrix_set())


@router.get("/collections/{collection_id}/tiles", summary="The tilesets of a collection")
@cacheable(one_collection("collection_id"), negotiated=False)
def tilesets(collection_id: str, request: Request, catalog: CatalogDep,
             lang: LangDep) -> Response:
    """The vector tilesets of a store-backed collection."""
    layer = tiled(catalog, collection_id)
    doc = tileset(request, layer, lang)
    root = base_url(request)
    return _json({
        "links": [{"href": f"{root}/collections/{layer.id}/tiles", "rel": "self",
                   "type": "application/json", "title": layer.spec.title(lang)}],
        "tilesets": [{key: doc[key] for key in
                      ("title", "dataType", "crs", "tileMatrixSetURI", "links")}],
    })


@router.get("/collections/{collection_id}/tiles/{tile_matrix_set_id}",
            summary="A collection's tileset")
@cacheable(one_collection("collection_id"), negotiated=False)
def tileset_doc(collection_id: str, tile_matrix_set_id: str, request: Request,
                catalog: CatalogDep, lang: LangDep) -> Response:
    """The metadata of a collection's tileset in a tile matrix set."""
    layer = tiled(catalog, collection_id)
    if tile_matrix_set_id != tiles.TMS_ID:
        raise NotFound(f"no tile matrix set {tile_matrix_set_id!r}")
    return _json(tileset(request, layer, lang))


@router.get(
    "/collections/{collection_id}/tiles/{tile_matrix_set_id}/{tile_matrix}/{tile_row}/"
    "{tile_col}",
    summary="One vector tile of a collection",
    response_class=Response,
    responses={200: {"description": "The tile (empty where there are no features)",
                     "content": {tiles.MEDIA_TYPE: {"schema": {"type": "string",
                                                               "format": "binary"}}}}},
)
@cacheable(one_collection("collection_id"), negotiated=False)
def tile(collection_id: str, tile_matrix_set_id: str, tile_matrix: str, tile_row: str,
         tile_col: str, request: Request, catalog: CatalogDep) -> Response:
    """A Mapbox Vector Tile: points counted per grid cell when zoomed out, else the points."""
    layer = tiled(catalog, collection_id)
    where = tiles.parse_tile(tile_matrix_set_id, tile_matrix, tile_row, tile_col)
    assert isinstance(layer.source, StoreSource)
    return Response(tiles.render(layer.source, layer.id, where), media_type=tiles.MEDIA_TYPE)
