"""Staff pages: the triage queue, a report with its actions and history, exports, figures."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from geoapp.errors import Forbidden, InvalidInput, NotFound
from geoapp.features.live import COUNT_LIMIT, MAX_OFFSET
from geoapp.features.params import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_ID,
    parse_id,
    parse_int,
    whole_number,
)
from geoapp.i18n import DEFAULT_LANG
from geoapp.maps.staff import InView, build_staff_map
from geoapp.staff import exports, figures, queries, replies
from geoapp.staff.accounts import Session
from geoapp.staff.workflow import STATE_ACTIONS, ActionRequest
from geoapp.web.context import LangDep, SettingsDep, TemplatesDep
from geoapp.web.downloads import streamed
from geoapp.web.intake import answer_lang
from geoapp.web.staff_auth import StaffForm, require

router = APIRouter(include_in_schema=False)
TRIAGE = require("admin", "road", "department")
FIGURES = require("admin", "road", "department")


def _engine(request: Request):  # noqa: ANN202
    return request.app.state.reports.store.engine


def _lookups(request: Request) -> dict[str, Any]:
    store = request.app.state.reports.store
    return {"categories": store.categories(active_only=False), "statuses": store.statuses(),
            "departments": store.departments(), "staff": request.app.state.accounts.all()}


#: Reports a staff map draws at most (the first in the queue's order); an export has them all.
MAP_LIMIT = 1000
#: The queue map's status line: how many reports of its view it draws.
MAP_STATUS_ID = "staff-map-status"


def _map_url(params: dict[str, str]) -> str:
    """The staff map's data: the filtered reports, at most MAP_LIMIT of them."""
    return "/staff/export.geojson?" + urlencode({**params, "limit": str(MAP_LIMIT)})


@router.get("/staff")
def queue_page(request: Request, templates: TemplatesDep, settings: SettingsDep, lang: LangDep,
               session: Session = TRIAGE) -> Response:
    """New and open reports as a table and on a map, filtered, sorted and paginated."""
    flt = queries.QueueFilter.parse(dict(request.query_params))
    rows, total = queries.queue(_engine(request), session.user, flt, datetime.now(UTC))
    # More than COUNT_LIMIT match: not counted, so the last page is not known either.
    pages = None if total is None else max(1, -(-total // queries.PER_PAGE))
    more = flt.page < (pages or queries.MAX_PAGE)
    # The map shows the same filtered reports in its view (the first MAP_LIMIT of them):
    # the browser adds the view's bbox, fetches with its session, and again after a move.
    staff_map = build_staff_map(request.app.state.catalog, settings,
                                request.app.state.assets, lang,
                                _map_url(flt.query_string(page=None, bbox=None)),
                                in_view=InView(MAP_LIMIT, MAP_STATUS_ID, flt.bbox))
    return templates.TemplateResponse(request, "staff/queue.html", {
        "session": session, "rows": rows, "total": total, "filter": flt, "pages": pages,
        "more": more, "count_limit": COUNT_LIMIT, "map_limit": MAP_LIMIT,
        "map_status_id": MAP_STATUS_ID,
        "map": staff_map, **_lookups(request)})


@router.get("/staff/api/reports")
def queue_json(request: Request, session: Session = TRIAGE) -> JSONResponse:
    """The queue as JSON, for scripts (the same filters as the page).

    ``total`` is null when more than COUNT_LIMIT reports match (they are not counted).
    """
    flt = queries.QueueFilter.parse(dict(request.query_params))
    rows, total = queries.queue(_engine(request), session.user, flt, datetime.now(UTC))
    return JSONResponse({"total": total, "reports": exports.geojson(rows)["features"]})


def _visible_report(request: Request, session: Session, number: str) -> queries.QueueRow:
    report_id = parse_id(number, "report")
    if not queries.exists(_engine(request), report_id):
        raise NotFound(f"no report {number!r}")
    row = queries.report(_engine(request), session.user, report_id)
    if row is None:
        raise Forbidden("this report is routed to another department")
    return row


@router.get("/staff/reports/{number}")
def report_page(number: str, request: Request, templates: TemplatesDep, settings: SettingsDep,
                lang: LangDep, session: Session = TRIAGE) -> Response:
    """A report in full: photos, location and nearby reports, contact, actions, history."""
    row = _visible_report(request, session, number)
    service = request.app.state.reports
    engine = _engine(request)
    canned = replies.for_category(engine, service.store.get(row.id).category_code)
    transitions = service.store.transitions_from(row.status_code)
    # The report among its neighbours (about 500 m around), all open states included.
    around = f"{row.lon - 0.006},{row.lat - 0.005},{row.lon + 0.006},{row.lat + 0.005}"
    staff_map = build_staff_map(request.app.state.catalog, settings, request.app.state.assets,
                                lang, _map_url({"status": "all", "bbox": around}),
                                center=(row.lat, row.lon), zoom=16)
    return templates.TemplateResponse(request, "staff/report.html", {
        "session": session, "row": row, "report": service.store.get(row.id),
        "contact": service.store.contact(row.id),
        "events": queries.events(engine, row.id),
        "nearby": queries.nearby(engine, session.user, row.lon, row.lat, row.id),
        "allowed": transitions, "state_actions": STATE_ACTIONS, "canned": canned,
        "message": request.query_params.get("done"), "map": staff_map, **_lookups(request)})


def _int(form: Any, name: str) -> int | None:
    """A number field of a staff form: None when empty, 422 when not a usable number."""
    # NFKC: staff typing with a Japanese IME send full-width digits (１２ is 12).
    text = unicodedata.normalize("NFKC", str(form.get(name) or "")).strip()
    if not text:
        return None
    number = whole_number(text)
    if number is None or number > MAX_ID:
        raise InvalidInput(name, key="error.input.not_whole", name=name)
    return number


@router.post("/staff/reports/{number}/actions")
def act(number: str, request: Request, templates: TemplatesDep,
        form: StaffForm, session: Session = TRIAGE) -> Response:
    """Apply one action from the report page; 409 with a clear message if it clashes."""
    row = _visible_report(request, session, number)
    version = _int(form, "version")
    if version is None:
        raise InvalidInput("version", key="error.input.version_missing")
    req = ActionRequest(
        action=str(form.get("action") or ""), version=version,
        body=str(form.get("body") or "") or None, priority=_int(form, "priority"),
        assignee_id=_int(form, "assignee"), department=str(form.get("department") or "")
        or None, duplicate_of=_int(form, "duplicate_of"),
        manager=str(form.get("manager") or "") or None)
    request.app.state.workflow.apply(row.id, session.user, req, datetime.now(UTC))
    lang = answer_lang(request, page=True)
    suffix = f"&lang={lang}" if lang != DEFAULT_LANG else ""
    return RedirectResponse(f"/staff/reports/{row.id}?done={req.action}{suffix}",
                            status_code=303)


@router.get("/staff/export.csv")
def export_csv(request: Request, session: Session = TRIAGE) -> Response:
    """The filtered reports as Open311 bulk CSV (UTF-8 with BOM); ?headers=ja for Japanese.

    Streamed a thousand rows at a time: memory stays the same whatever the number of rows.
    """
    flt = queries.QueueFilter.parse({k: v for k, v in request.query_params.items()
                                     if k != "headers"})
    rows = queries.rows(_engine(request), session.user, flt, datetime.now(UTC))
    return streamed(exports.open311_csv_chunks(
        rows, japanese_headers=request.query_params.get("headers") == "ja"),
        "text/csv; charset=utf-8", "geoapp-reports.csv")


@router.get("/staff/export.geojson")
def export_geojson(request: Request, session: Session = TRIAGE) -> Response:
    """The filtered reports as GeoJSON (staff fields, never the reporter's contact).

    With ``limit`` (1 to 10,000, as the staff maps ask) the first reports in the queue's
    order, with ``numberReturned`` and ``numberMatched`` (when at most COUNT_LIMIT);
    without, every filtered report, streamed as a download.
    """
    flt = queries.QueueFilter.parse(dict(request.query_params))
    now = datetime.now(UTC)
    if (limit := request.query_params.get("limit")) is not None:
        per_page = parse_int("limit", limit, default=MAP_LIMIT, minimum=1,
                             maximum=MAX_OFFSET)
        rows, total = queries.queue(_engine(request), session.user, flt, now,
                                    per_page=per_page)
        counts = {"numberReturned": len(rows)} | ({} if total is None
                                                  else {"numberMatched": total})
        return JSONResponse(exports.geojson(rows, **counts), media_type="application/geo+json")
    return streamed(exports.geojson_chunks(queries.rows(_engine(request), session.user, flt,
                                                        now)),
                    "application/geo+json", "geoapp-reports.geojson")


@router.get("/staff/dashboard")
def dashboard(request: Request, templates: TemplatesDep, lang: LangDep,
              session: Session = FIGURES) -> Response:
    """The plan's figures for a fiscal year, with monthly counts as a chart and a table."""
    now = datetime.now(UTC)
    years = figures.fiscal_years(_engine(request), now)
    fy = parse_int("fy", request.query_params.get("fy"), default=years[0],
                   minimum=FIRST_YEAR, maximum=LAST_YEAR)
    data = figures.figures(_engine(request), fy, lang)
    # Views this process counted and has not written yet belong to the figure too.
    data.map_views += request.app.state.map_views.pending(fy)
    peak = max([n for _, n in data.monthly_posted + data.monthly_handled] + [1])
    return templates.TemplateResponse(request, "staff/dashboard.html", {
        "session": session, "data": data, "years": [(y, figures.era_label(y)) for y in years],
        "peak": peak})


@router.get("/unsubscribe/{token}")
def unsubscribe_form(token: str, request: Request, templates: TemplatesDep) -> Response:
    """Confirm stopping update mails (a GET alone changes nothing: mail scanners follow links)."""
    return templates.TemplateResponse(request, "staff/unsubscribe.html",
                                      {"token": token, "done": False})


@router.post("/unsubscribe/{token}")
def unsubscribe(token: str, request: Request, templates: TemplatesDep) -> Response:
    """Stop update mails for one report."""
    if not request.app.state.reports.store.unsubscribe(token):
        raise NotFound("this link is not known (it may have been used already)")
    return templates.TemplateResponse(request, "staff/unsubscribe.html",
                                      {"token": token, "done": True})
