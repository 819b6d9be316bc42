"""Typed dependencies shared by routes: the catalogue, settings, templates, language."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Query
from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from geoapp.catalog.registry import Catalog
from geoapp.i18n import Lang
from geoapp.settings import Settings
from geoapp.web.intake import answer_lang


# Coroutines on purpose: they only read app state, and FastAPI would otherwise hand each
# plain function to its thread pool (a measurable share of a small items request).
async def _catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


async def _lang(
    request: Request,
    lang: Annotated[str | None, Query(description="ja (default) or en")] = None,
) -> Lang:
    return answer_lang(request, page=True)  # ``lang`` is declared for the API definition


CatalogDep = Annotated[Catalog, Depends(_catalog)]
SettingsDep = Annotated[Settings, Depends(_settings)]
TemplatesDep = Annotated[Jinja2Templates, Depends(_templates)]
LangDep = Annotated[Lang, Depends(_lang)]
#: A point asked for in the query, WGS 84; optional, so a page can show its empty form.
PointLat = Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False,
                                         description="latitude (WGS 84); required for JSON")]
PointLon = Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False,
                                         description="longitude (WGS 84)")]


def base_url(request: Request) -> str:
    """The public URL prefix: the configured one, else the one the request came in on."""
    configured: str = request.app.state.settings.base_url
    return configured or str(request.base_url).rstrip("/")


def url_with(request: Request, path: str, **params: object) -> str:
    """An absolute URL for ``path`` with the request's own query, ``params`` replacing it.

    A parameter set to None is dropped.
    """
    query = dict(request.query_params)
    for key, value in params.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    suffix = f"?{urlencode(query)}" if query else ""
    return f"{base_url(request)}{path}{suffix}"
