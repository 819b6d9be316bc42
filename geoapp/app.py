"""The application factory: ``create_app(settings)`` builds a fresh geoapp."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.gzip import GZipMiddleware

from geoapp import __version__
from geoapp.catalog.registry import Catalog
from geoapp.settings import Settings
from geoapp.web import assets, ogc, pages, problems
from geoapp.web.templating import make_templates


def _openapi(app: FastAPI, settings: Settings) -> dict:
    """The OpenAPI document, with the items limit described as clients (GDAL) read it."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                         description=app.description)
    schema["openapi"] = "3.0.3"
    items = schema["paths"]["/collections/{collection_id}/items"]["get"]
    for param in items["parameters"]:
        if param["name"] == "limit":
            param["schema"] = {"type": "integer", "minimum": 1,
                               "maximum": settings.items_max_limit,
                               "default": settings.items_default_limit}
        elif param["name"] == "offset":
            param["schema"] = {"type": "integer", "minimum": 0, "default": 0}
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build geoapp: load and check every layer, then wire routes, templates and assets."""
    settings = settings or Settings()
    app = FastAPI(
        title="geoapp — 新発田市 公開マップ API",
        version=__version__,
        description="OGC API – Features for Shibata City's public map layers.",
        openapi_url=None,  # served at /api by geoapp.web.ogc, as OGC API asks
        docs_url=None,  # Swagger UI would load from a CDN; /api?f=html renders instead
        redoc_url=None,
    )
    app.state.settings = settings
    # Built here, not per request: a bad layer file stops start-up with a clear message.
    app.state.catalog = Catalog.build(settings.layers_dir, settings.geo_dir, settings.data_dir)
    app.state.assets = assets.Assets.discover(settings.vendor_dir)
    app.state.templates = make_templates(settings.templates_dir)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    problems.install(app)
    app.include_router(pages.router)
    app.include_router(ogc.router)
    app.include_router(assets.router)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    return app
