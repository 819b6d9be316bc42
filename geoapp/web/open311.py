"""Open311 GeoReport v2 under /open311/v2/, in JSON and XML.

POST requests go through the same `ReportService.submit` as the form and the JSON API:
one write path, one set of rules, one photo pipeline.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from geoapp.errors import (
    Forbidden,
    GeoappError,
    InvalidInput,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
    status_for,
)
from geoapp.features.params import parse_datetime, parse_id, parse_int
from geoapp.japantime import JST
from geoapp.open311 import documents as doc
from geoapp.open311.keys import ApiKey
from geoapp.reports.service import ReportService, Submission
from geoapp.staff import queries
from geoapp.staff.accounts import StaffUser
from geoapp.staff.workflow import ActionRequest
from geoapp.web.context import base_url
from geoapp.web.intake import answer_lang, api_key_before_body
from geoapp.web.intake_forms import read_form, read_submission
from geoapp.web.problems import documented

#: Open311's error body, in JSON ([{"code": 404, "description": "…"}]) or in XML.
_ERRORS = {"content": {
    "application/json": {"schema": {"type": "array", "items": {
        "type": "object", "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}},
    "text/xml": {}}}
#: What every operation here may answer (declared in the OpenAPI document at /api).
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/xml": {}}},
    400: {"description": "Invalid parameters or fields", **_ERRORS},
    403: {"description": "api_key missing or not valid", **_ERRORS},
    # A path that matches no operation at all gets geoapp's problem body instead.
    404: {"description": "Unknown format, service, request or jurisdiction", "content": {
        **_ERRORS["content"], **documented(404)[404]["content"]}},
    429: {"description": "Too many submissions; see Retry-After", **_ERRORS},
}
router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"], responses=ANSWERS)
DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
CHANGESET = "2026-11-25T00:00:00+09:00"  # when this endpoint's behaviour last changed
_CONTENT = {"json": "application/json", "xml": "text/xml; charset=utf-8"}
FORMATS = tuple(_CONTENT)


def _format(fmt: str) -> str:
    if fmt not in _CONTENT:
        raise NotFound(f"unknown format {fmt!r}; use .json or .xml")
    return fmt


def _answer(fmt: str, body: Any, root: str, item: str, status: int = 200,
            item_names: dict[str, str] | None = None) -> Response:
    if fmt == "xml":
        return Response(doc.to_xml(root, item, body, item_names), status_code=status,
                        media_type=_CONTENT["xml"])
    return Response(orjson.dumps(body), status_code=status, media_type=_CONTENT["json"])


def _status_of(error: GeoappError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Forbidden | Unauthorized):
        return 403
    if isinstance(error, RateLimited | PayloadTooLarge | StoreUnavailable):
        return status_for(error)  # 429, 413, 503: the one status table
    return 400  # the spec's status for everything else


async def _guard(fmt: str, work: Callable[[], Awaitable[Response] | Response]) -> Response:
    """Run a handler; any error becomes the standard Open311 error body in ``fmt``.

    A plain function (one that only reads the store) runs in a worker thread, so its
    database calls never hold up the event loop.
    """
    fmt = fmt if fmt in _CONTENT else "json"
    try:
        if inspect.iscoroutinefunction(work):
            return await work()
        return await asyncio.to_thread(work)  # type: ignore[arg-type]
    except GeoappError as error:
        status = _status_of(error)
        response = _answer(fmt, doc.error(status, error.detail), "errors", "error", status)
        if isinstance(error, RateLimited | StoreUnavailable):
            response.headers["Retry-After"] = str(error.retry_after)
        return response


def _params(request: Request) -> dict[str, str]:
    """Query parameters with empty values treated as absent (clients send `status=`)."""
    return {k: v for k, v in request.query_params.items() if v != ""}


def _check_jurisdiction(values: dict[str, Any]) -> None:
    given = values.get("jurisdiction_id")
    if given and given != doc.JURISDICTION:
        raise NotFound(f"unknown jurisdiction_id {given!r}; this is {doc.JURISDICTION}")


def _service(request: Request) -> ReportService:
    return request.app.state.reports


def _request_docs(request: Request, rows: list[Any]) -> list[dict[str, Any]]:
    service = _service(request)
    categories = {c.code: c for c in service.store.categories(active_only=False)}
    states = {s.code: s for s in service.store.statuses()}
    departments = {d.code: d for d in service.store.departments()}
    root = base_url(request)
    lang = answer_lang(request)  # Japanese unless Accept-Language asks for another
    out = []
    for report in rows:
        category = categories[report.category_code]
        media = (f"{root}/media/{report.photos[0].media_key}" if report.photos
                 else report.attributes.get("media_url"))
        out.append(doc.request(report, category, states[report.status_code],
                               departments[category.department_code], media, lang))
    return out


@router.get("/discovery.{fmt}", summary="Discovery")
async def discovery(fmt: str, request: Request) -> Response:
    """Where this endpoint is and what it speaks."""
    def work() -> Response:
        root = base_url(request)
        body = {"changeset": CHANGESET, "contact": "新発田市 道路管理担当",
                "key_service": f"{root}/staff/admin/apikeys",
                "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2",
                               "url": f"{root}/open311/v2", "changeset": CHANGESET,
                               "type": "production",
                               "formats": ["application/json", "text/xml"]}]}
        return _answer(_format(fmt), body, "discovery", "discovery")
    return await _guard(fmt, work)


@router.get("/services.{fmt}", summary="Service list (the report categories)")
async def services(fmt: str, request: Request) -> Response:
    """Every category taken today, with its group (department) and keywords."""
    def work() -> Response:
        _check_jurisdiction(_params(request))
        service = _service(request)
        departments = {d.code: d for d in service.store.departments()}
        lang = answer_lang(request)
        body = [doc.service(c, departments[c.department_code], lang)
                for c in service.categories_open(datetime.now(UTC))]
        return _answer(_format(fmt), body, "services", "service")
    return await _guard(fmt, work)


@router.get("/services/{code}.{fmt}", summary="Service definition")
async def service_definition(code: str, fmt: str, request: Request) -> Response:
    """A category's extra attributes (e.g. the street light's number)."""
    def work() -> Response:
        _check_jurisdiction(_params(request))
        category = next((c for c in _service(request).store.categories() if c.code == code),
                        None)
        if category is None:
            raise NotFound(f"no service_code {code!r}")
        return _answer(_format(fmt), doc.definition(category, answer_lang(request)),
                       "service_definition", "service_definition")
    return await _guard(fmt, work)


def _api_key(request: Request, form_key: str | None = None) -> ApiKey:
    """The client's live API key, or Forbidden (403 in Open311's error body)."""
    key = request.app.state.api_keys.check(form_key)
    if key is None:
        raise Forbidden("api_key is missing or not valid")
    return key


def _key_before_body(request: Request) -> ApiKey | None:
    """A key sent in the query or X-Api-Key, checked before the body is read (else None)."""
    early = api_key_before_body(request)
    return _api_key(request, early) if early else None


def _media_url(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > 2000 or not value.startswith(("https://", "http://")):
        raise InvalidInput("media_url", key="error.input.media_url")
    return value


@router.post("/requests.{fmt}", summary="Create a service request (api_key required)",
             responses={201: {"description": "Created", "content": {
                 "application/json": {}, "text/xml": {}}}})
async def create_request(fmt: str, request: Request) -> Response:
    """A new report; multipart `media` (v2.1 draft) carries photos."""
    async def work() -> Response:
        key = _key_before_body(request)  # a bad key is refused unread
        form = await read_submission(request, "media")
        values = {k: v for k, v in form.fields.items() if v != ""}
        _check_jurisdiction(values)
        api_key = key or _api_key(request, values.get("api_key"))
        if ("lat" not in values or "long" not in values) and values.get("address_string"):
            raise InvalidInput("lat", key="error.input.address_not_looked_up")
        name = " ".join(p for p in (values.get("first_name"), values.get("last_name")) if p)
        submission = Submission(
            category=values.get("service_code"), description=values.get("description"),
            lat=values.get("lat"), lon=values.get("long"), lang=form.lang,
            source="open311", email=values.get("email"), name=name or None,
            attributes=form.attributes, photos=form.photos,
            idempotency_key=request.headers.get("idempotency-key"),
            media_url=_media_url(values.get("media_url")),
        )
        # Clients are counted by their key, against the quota admins set for it; a retry of a
        # stored report is answered from the store and is not counted again.
        outcome = await asyncio.to_thread(_service(request).replay, submission)
        if outcome is None:
            with request.app.state.rate_limiter.key_submission(api_key):
                outcome = await asyncio.to_thread(_service(request).submit, submission)
        body = [{"service_request_id": str(outcome.report.id), "service_notice": "",
                 "account_id": None}]
        return _answer(_format(fmt), body, "service_requests", "request",
                       status=201 if outcome.created else 200)
    return await _guard(fmt, work)


def _date(params: dict[str, str], name: str) -> datetime | None:
    text = params.get(name)
    return parse_datetime(name, text, zone=JST) if text else None


@router.get("/requests.{fmt}", summary="Service requests (default: the last 90 days)")
async def list_requests(fmt: str, request: Request) -> Response:
    """Public reports filtered by id, service_code, dates and open/closed status."""
    def work() -> Response:
        params = _params(request)
        _check_jurisdiction(params)
        conditions: dict[str, Any] = {}
        ids = params.get("service_request_id")
        if ids:
            conditions["ids"] = [parse_int("service_request_id", i.strip(), default=0, minimum=1)
                                 for i in ids.split(",") if i.strip()]
        else:
            end = _date(params, "end_date") or datetime.now(UTC)
            conditions["created_to"] = end
            conditions["created_from"] = _date(params, "start_date") or end - DEFAULT_WINDOW
        if params.get("service_code"):
            conditions["categories_in"] = params["service_code"].split(",")
        if params.get("status"):
            wanted_states = {s.strip().lower() for s in params["status"].split(",")}
            if not wanted_states <= {"open", "closed"}:
                raise InvalidParameter("status", "status is open, closed or both")
            if len(wanted_states) == 1:
                conditions["is_open"] = wanted_states == {"open"}
        rows = _service(request).store.search(limit=MAX_RESULTS, **conditions)
        return _answer(_format(fmt), _request_docs(request, rows), "service_requests", "request")
    return await _guard(fmt, work)


@router.get("/requests/{request_id}.{fmt}", summary="One service request")
async def get_request(request_id: str, fmt: str, request: Request) -> Response:
    """One report, as a one-element list."""
    def work() -> Response:
        _check_jurisdiction(_params(request))
        report = _service(request).store.get(parse_id(request_id, "service request"))
        return _answer(_format(fmt), _request_docs(request, [report]), "service_requests",
                       "request")
    return await _guard(fmt, work)


def _update_doc(row: Any, is_open: bool) -> dict[str, Any]:
    return {"update_id": str(row.id), "service_request_id": str(row.report_id),
            "status": "OPEN" if is_open else "CLOSED", "updated_datetime": doc.time(row.at),
            "description": row.body or "", "media_url": ""}


@router.get("/servicerequestupdates.{fmt}", summary="Status updates (mySociety extension)")
async def list_updates(fmt: str, request: Request) -> Response:
    """Public replies and state changes, in a date window (default the last 90 days)."""
    def work() -> Response:
        params = _params(request)
        end = _date(params, "end_date") or datetime.now(UTC)
        start = _date(params, "start_date") or end - DEFAULT_WINDOW
        store = _service(request).store
        states = {s.code: s.is_open for s in store.statuses()}
        rows = queries.public_updates(store.engine, start, end, MAX_RESULTS)
        body = [_update_doc(r, states[(r.after or {}).get("status_code", "received")])
                for r in rows if r.kind != "note"]
        return _answer(_format(fmt), body, "service_request_updates", "request_update")
    return await _guard(fmt, work)


@router.post("/servicerequestupdates.{fmt}", summary="Post a status update (api_key required)")
async def post_update(fmt: str, request: Request) -> Response:
    """A client (e.g. a contractor's system) reports progress: a public reply, maybe closing."""
    async def work() -> Response:
        key = _key_before_body(request)  # a bad key is refused unread
        form = await read_form(request, max_files=0, max_fields=60)
        values = {k: v for k, v in form.multi_items() if isinstance(v, str) and v != ""}

        def apply() -> int:  # the store's part, in a worker thread
            client = key or _api_key(request, values.get("api_key"))
            report_id = values.get("service_request_id", "")
            if not report_id:
                raise InvalidInput("service_request_id", "give the service_request_id")
            store = _service(request).store
            report = store.get(parse_id(report_id, "service request"))
            actor = StaffUser(0, f"api:{client.name}", f"API {client.name}", None, "road", None,
                              True)
            wanted = (values.get("status") or "").upper()
            is_open = next(s.is_open for s in store.statuses() if s.code == report.status_code)
            version = store.version(report.id)
            description = values.get("description")
            now = datetime.now(UTC)
            if wanted == "CLOSED" and is_open:
                action = "fix"
            elif wanted == "OPEN" and not is_open:
                action = "reopen"
            elif wanted in ("OPEN", "CLOSED", ""):
                action = "reply"
            else:
                raise InvalidInput("status", "status is OPEN or CLOSED")
            return request.app.state.workflow.apply(
                report.id, actor, ActionRequest(action, version, body=description), now)

        update_id = await asyncio.to_thread(apply)
        return _answer(_format(fmt), [{"update_id": str(update_id)}],
                       "service_request_updates", "request_update")
    return await _guard(fmt, work)

