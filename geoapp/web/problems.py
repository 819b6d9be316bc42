"""Turning errors into responses: RFC 9457 problem JSON for APIs, a readable page for HTML."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from geoapp.errors import (
    GeoappError,
    InvalidInput,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    StoreUnavailable,
    UpstreamUnavailable,
    status_for,
)
from geoapp.i18n import Lang, t
from geoapp.text import control_character
from geoapp.web.intake import answer_lang

PROBLEM_TYPE = "application/problem+json"
logger = logging.getLogger("geoapp.errors")


#: The OpenAPI schema of a problem body (RFC 9457 with geoapp's extension members).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "parameter": {"type": "string", "description": "the query parameter at fault"},
        "field": {"type": "string", "description": "the submitted field at fault"},
        "error_id": {"type": "string", "description": "also in the server's log (500 only)"},
    },
}
_MEANINGS = {
    400: "A parameter is malformed or out of range",
    401: "A key or login is needed",
    403: "The key or account may not do this",
    404: "Nothing has this name or number",
    406: "The format asked for cannot be produced",
    409: "The request clashes with the current state (e.g. a reused Idempotency-Key)",
    413: "The body is over this door's limit",
    422: "The submitted data is invalid; `field` names the culprit",
    429: "Too many submissions from this client; see Retry-After",
    502: "A server geoapp reads from (the hazard tiles) gave an unusable answer",
    503: "The database, or a server geoapp reads from, cannot be reached just now; "
         "see Retry-After",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem answers a route gives (for ``responses=``)."""
    return {status: {"description": _MEANINGS[status], "content": {
        PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for status in statuses}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what geoapp answers when a request is refused.

    FastAPI declares a 422 with its own body for parameter errors; geoapp answers those 400
    with a problem body. Any operation with query parameters may answer 400 (no control
    characters, see ``refuse_control_characters``), any with path parameters 404.
    """
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for operation in (op for ops in schema["paths"].values() for op in ops.values()):
        answers = operation["responses"]
        generated = answers.get("422", {}).get("content", {}).get("application/json", {})
        if generated.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
            del answers["422"]
        where = {p["in"] for p in operation.get("parameters", [])}
        for status, place in (("400", "query"), ("404", "path")):
            if place in where and status not in answers:
                answers[status] = documented(int(status))[int(status)]
        f = next((p for p in operation.get("parameters", []) if p["name"] == "f"), None)
        if f is not None:  # f=html answers a page, and refusals as the readable error page
            f["schema"] = {"type": "string", "enum": ["json", "geojson", "html"]}
            for status, answer in answers.items():
                if status == "200" or status.startswith("4"):
                    answer.setdefault("content", {}).setdefault("text/html", {})
    return schema


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
    lang = answer_lang(request, page=True)
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail, "lang": lang},
        status_code=status,
    )


def error_lang(request: Request) -> Lang:
    """The language of an error answer: the page's for the error page, else the client's."""
    return answer_lang(request, page=_wants_html(request))


def respond(request: Request, status: int, title: str, detail: str, **extra: object) -> Response:
    """An error answer in the format the client reads."""
    if _wants_html(request):
        return _render(request, status, title, detail)
    return problem(status, title, detail, **extra)


async def _geoapp_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GeoappError)
    extra: dict[str, object] = {}
    detail = exc.message(error_lang(request))
    if isinstance(exc, InvalidParameter):
        extra["parameter"] = exc.parameter
    if isinstance(exc, InvalidInput):
        extra["field"] = exc.field
    if isinstance(exc, PayloadTooLarge):
        extra["limit"] = exc.limit  # in bytes, so a client can tell how much would do
    response = respond(request, status_for(exc), exc.title, detail, **extra)
    if isinstance(exc, RateLimited | UpstreamUnavailable):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    """503 with Retry-After while the database is away (the cause is logged, not shown)."""
    assert isinstance(exc, StoreUnavailable)
    response = respond(request, status_for(exc), exc.title,
                       t("store_unavailable", error_lang(request)))
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


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Anything unforeseen: a 500 that names an error id, the same id as in the log."""
    error_id = secrets.token_hex(4)
    logger.error("unexpected error %s on %s %s", error_id, request.method, request.url.path,
                 exc_info=exc)
    response = respond(request, 500, "Internal server error",
                       f"something went wrong on our side (error id {error_id})",
                       error_id=error_id)
    response.headers["X-Error-Id"] = error_id
    return response


async def refuse_control_characters(request: Request) -> None:
    """A dependency of every route: no NUL or other control character in the URL.

    Such text would only reach a lookup (and PostgreSQL refuses NUL even there): a path
    holding one names nothing (404), a query parameter holding one is malformed (400).
    """
    if control_character(request.scope["path"]) is not None:
        raise NotFound("no such page")
    for name, value in request.query_params.multi_items():
        code = control_character(name) or control_character(value)
        if code is not None:
            raise InvalidParameter(name, f"contains a control character ({code})")


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(GeoappError, _geoapp_error)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
