"""Turning errors into responses: RFC 9457 problem JSON for APIs, a readable page for HTML."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from geoapp.errors import (
    GeoappError,
    InvalidInput,
    InvalidParameter,
    PayloadTooLarge,
    RateLimited,
    StoreUnavailable,
    status_for,
)
from geoapp.i18n import pick_lang, t
from geoapp.web.intake import answer_lang

PROBLEM_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    """A problem-details response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE)


def _wants_html(request: Request) -> bool:
    if request.query_params.get("f") == "html":
        return True
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def _render(request: Request, status: int, title: str, detail: str) -> Response:
    templates = request.app.state.templates
    lang = pick_lang(request.query_params.get("lang"))
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail, "lang": lang},
        status_code=status,
    )


def respond(request: Request, status: int, title: str, detail: str, **extra: object) -> Response:
    """An error answer in the format the client reads."""
    if _wants_html(request):
        return _render(request, status, title, detail)
    return problem(status, title, detail, **extra)


async def _geoapp_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GeoappError)
    extra: dict[str, object] = {}
    detail = exc.detail
    if isinstance(exc, InvalidParameter):
        extra["parameter"] = exc.parameter
    if isinstance(exc, InvalidInput):
        extra["field"] = exc.field
    if isinstance(exc, PayloadTooLarge):
        extra["limit"] = exc.limit  # in bytes, so a client can tell how much would do
    if isinstance(exc, InvalidInput | PayloadTooLarge) and answer_lang(request) == "ja":
        detail = exc.detail_ja
    response = respond(request, status_for(exc), exc.title, detail, **extra)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    """503 with Retry-After while the database is away (the cause is logged, not shown)."""
    assert isinstance(exc, StoreUnavailable)
    response = respond(request, status_for(exc), exc.title,
                       t("store_unavailable", answer_lang(request)))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
    return respond(request, 400, "Invalid parameter", f"{where}: {first.get('msg')}")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    title = titles.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    response = respond(request, exc.status_code, title, detail)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""
    app.add_exception_handler(GeoappError, _geoapp_error)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
