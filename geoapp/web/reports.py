"""Residents' reports over HTTP: the form, the receipt, the report page, the JSON API, photos.

Both the form and the API hand a `Submission` to the one `ReportService.submit`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from geoapp.errors import InvalidInput, NotFound, PayloadTooLarge, status_for
from geoapp.features.params import parse_id
from geoapp.i18n import DEFAULT_LANG, Lang
from geoapp.japantime import iso
from geoapp.maps.picker import build_picker_map, build_report_map
from geoapp.reports.service import MAX_PHOTOS, Outcome, ReportService, Submission
from geoapp.staff.queries import events
from geoapp.store.records import Report
from geoapp.web.assets import LONG_CACHE
from geoapp.web.context import CatalogDep, LangDep, SettingsDep, TemplatesDep, base_url
from geoapp.web.intake import answer_lang, client_address
from geoapp.web.intake_forms import SubmissionForm, read_submission
from geoapp.web.problems import documented

router = APIRouter()


def _service(request: Request) -> ReportService:
    return request.app.state.reports


ServiceDep = Annotated[ReportService, Depends(_service)]


async def _submit(service: ReportService, submission: Submission) -> Outcome:
    # A thread, as submit blocks on the database and on the photo pool (which bounds the CPU).
    return await asyncio.to_thread(service.submit, submission)


def _submission(form: SubmissionForm, source: str, idempotency_key: str | None) -> Submission:
    lat, lon = form.text("lat"), form.text("lon")
    landmark = form.text("landmark")
    if (not lat or not lon) and landmark and "," in landmark:
        lat, lon = (part.strip() for part in landmark.split(",", 1))
    return Submission(
        category=form.text("category"), description=form.text("description"), lat=lat,
        lon=lon, lang=form.lang, source=source, email=form.text("email"),
        name=form.text("name"), attributes=form.attributes, photos=form.photos,
        idempotency_key=idempotency_key,
    )


def public_json(request: Request, report: Report, service: ReportService) -> dict[str, Any]:
    """A report as the public JSON API shows it (no reporter name or e-mail)."""
    root = base_url(request)
    categories = {c.code: c for c in service.store.categories(active_only=False)}
    statuses = {s.code: s for s in service.store.statuses()}
    category, status = categories[report.category_code], statuses[report.status_code]
    return {
        "number": str(report.id),
        "url": f"{root}/reports/{report.id}",
        # Named in every language spoken (ja and en always; pages pick the reader's).
        "category": {"code": category.code, **category.names()},
        "status": {"code": status.code, **status.names(),
                   "group": status.public_group, "open": status.is_open},
        "description": report.description,
        "attributes": report.attributes,
        "location": {"lat": report.lat, "lon": report.lon},
        "supporters": report.supporters,
        "photos": [{"url": f"{root}/media/{p.media_key}",
                    "thumbnail": f"{root}/media/{p.thumb_key}",
                    "width": p.width, "height": p.height} for p in report.photos],
        "created_at": iso(report.created_at),  # Japan time, +09:00
        "updated_at": iso(report.updated_at),
    }


def _form_context(request: Request, service: ReportService, catalog: Any, settings: Any,
                  lang: Lang) -> dict[str, Any]:
    landmarks = []
    for layer_id in ("shelters", "evacuation_sites", "community_centres"):
        try:
            layer = catalog.collection(layer_id)
        except NotFound:
            continue
        for feature in layer.source.features:
            lon, lat = feature.geometry["coordinates"]
            landmarks.append((layer.spec.title(lang), feature.properties.get("name", ""),
                              f"{lat:.6f},{lon:.6f}"))
    return {
        "categories": service.categories_open(datetime.now(UTC)),
        "landmarks": landmarks,
        "map": build_picker_map(settings, request.app.state.assets, lang),
        "max_photos": MAX_PHOTOS,
    }


@router.get("/reports/new", include_in_schema=False)
def report_form(request: Request, service: ServiceDep, catalog: CatalogDep,
                settings: SettingsDep, templates: TemplatesDep, lang: LangDep) -> Response:
    """The report form (mobile first; map, phone location, landmark or coordinates)."""
    context = _form_context(request, service, catalog, settings, lang)
    return templates.TemplateResponse(request, "reports/new.html",
                                      {**context, "values": {}, "error": None})


def _form_again(request: Request, service: ReportService, catalog: Any, settings: Any,
                templates: Any, lang: Lang, values: dict[str, str],
                error: InvalidInput | PayloadTooLarge) -> Response:
    """The form again with what was typed and what went wrong: 422, or 413 when too large."""
    context = _form_context(request, service, catalog, settings, lang)
    return templates.TemplateResponse(
        request, "reports/new.html",
        {**context, "values": values, "error": error.message(lang),
         "error_field": getattr(error, "field", "photos"), "lang": lang},
        status_code=status_for(error),
    )


@router.post("/reports/new", include_in_schema=False)
async def report_form_submit(request: Request, service: ServiceDep, catalog: CatalogDep,
                             settings: SettingsDep, templates: TemplatesDep,
                             page_lang: LangDep) -> Response:
    """Store a report sent by the form, or show the form again with what went wrong."""
    again = partial(_form_again, request, service, catalog, settings, templates)
    try:
        form = await read_submission(request, "photos")
    except (PayloadTooLarge, InvalidInput) as error:  # too large or unreadable: nothing kept
        return again(page_lang, {}, error)  # the language the page is shown in (?lang=)
    try:
        submission = _submission(form, "web", None)
        with request.app.state.rate_limiter.submission(client_address(request)):
            outcome = await _submit(service, submission)
    except InvalidInput as error:
        return again(form.lang, form.fields, error)
    lang = form.lang
    suffix = f"?lang={lang}" if lang != DEFAULT_LANG else ""
    return RedirectResponse(f"/reports/{outcome.report.id}/receipt{suffix}", status_code=303)


def _report_or_404(service: ReportService, number: str) -> Report:
    return service.store.get(parse_id(number, "report"))


@router.get("/reports/{number}/receipt", include_in_schema=False)
def receipt(number: str, request: Request, service: ServiceDep, templates: TemplatesDep,
            lang: LangDep) -> Response:
    """The receipt: the report number and the link to keep."""
    report = _report_or_404(service, number)
    return templates.TemplateResponse(request, "reports/receipt.html", {
        "report": public_json(request, report, service)})


@router.get("/reports/{number}", include_in_schema=False)
def report_page(number: str, request: Request, service: ServiceDep, settings: SettingsDep,
                templates: TemplatesDep, lang: LangDep) -> Response:
    """A report's public page: state, replies, photos and a small map."""
    report = _report_or_404(service, number)
    replies = [e for e in events(service.store.engine, report.id, public_only=True) if e.body]
    return templates.TemplateResponse(request, "reports/show.html", {
        "report": public_json(request, report, service), "replies": replies,
        "created_at": report.created_at, "updated_at": report.updated_at,
        "map": build_report_map(settings, request.app.state.assets, lang, report.lat, report.lon),
        "supported": request.query_params.get("supported") == "1",
    })


@router.post("/reports/{number}/support", include_in_schema=False)
async def support_form(number: str, request: Request, service: ServiceDep) -> Response:
    """'Me too' from the form: count the resident, then show the report."""
    form = await request.form()
    lang = answer_lang(request, form.get("lang"), page=True)
    request.app.state.rate_limiter.hit(client_address(request))
    report = _report_or_404(service, number)
    service.support(report.id)
    suffix = f"&lang={lang}" if lang != DEFAULT_LANG else ""
    return RedirectResponse(f"/reports/{report.id}?supported=1{suffix}", status_code=303)


@router.get("/media/{key}", include_in_schema=False)
def media(key: str, service: ServiceDep) -> FileResponse:
    """A processed photo, by the hash of its bytes (so it may be cached for a year)."""
    if not service.media.exists(key):
        raise NotFound(f"no photo {key!r}")
    return FileResponse(service.media.path(key), media_type="image/jpeg",
                        headers={"Cache-Control": LONG_CACHE})


# -- JSON API --------------------------------------------------------------------------------

API = "/api/v1"


@router.post(
    f"{API}/reports", tags=["Reports"], status_code=201,
    summary="Post a report (multipart: category, description, lat, lon, photos…)",
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["category", "description", "lat", "lon"],
        "properties": {
            "category": {"type": "string", "description": "a code from /api/v1/categories"},
            "description": {"type": "string", "maxLength": 4000},
            "lat": {"type": "number"}, "lon": {"type": "number"},
            "email": {"type": "string", "description": "for updates; never published"},
            "name": {"type": "string", "description": "never published"},
            "lang": {"type": "string", "enum": ["ja", "en"]},
            "attribute[light_number]": {"type": "string"},
            "photos": {"type": "array", "maxItems": MAX_PHOTOS,
                       "items": {"type": "string", "format": "binary"}},
        }}}}}},
    responses={200: {"description": "A retry with the same Idempotency-Key: the first report"},
               **documented(400, 409, 413, 422, 429)},
)
async def api_post_report(
    request: Request,
    service: ServiceDep,
    idempotency_key: Annotated[str | None, Header(
        description="Send the same key when retrying: one report, however many tries")] = None,
) -> JSONResponse:
    """Post a report; a retry with the same Idempotency-Key returns the first report."""
    form = await read_submission(request, "photos")
    submission = _submission(form, "api", idempotency_key)
    # A retry of a stored report is answered from the store and is not counted again.
    outcome = await asyncio.to_thread(service.replay, submission)
    if outcome is None:
        with request.app.state.rate_limiter.submission(client_address(request)):
            outcome = await _submit(service, submission)
    body = public_json(request, outcome.report, service)
    return JSONResponse(body, status_code=201 if outcome.created else 200,
                        headers={"Location": body["url"]})


@router.get(f"{API}/reports/nearby", tags=["Reports"],
            summary="Open reports of a category within 250 m (to add 'me too' instead)")
def api_nearby(request: Request, service: ServiceDep,
               lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
               lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
               category: str) -> JSONResponse:
    """Open reports of the same category within 250 m, nearest first (EPSG:6676 metres)."""
    found = service.nearby(lon, lat, category)
    return JSONResponse([
        {**public_json(request, report, service), "distance_m": round(distance, 1)}
        for report, distance in found
    ])


@router.get(f"{API}/reports/{{number}}", tags=["Reports"], summary="One report (public view)")
def api_get_report(number: str, request: Request, service: ServiceDep) -> JSONResponse:
    """A report's public view."""
    return JSONResponse(public_json(request, _report_or_404(service, number), service))


@router.post(f"{API}/reports/{{number}}/supporters", tags=["Reports"],
             summary="'Me too': count one more resident affected",
             responses=documented(404, 409, 429))
def api_support(number: str, request: Request, service: ServiceDep) -> JSONResponse:
    """Add a supporter to an open report."""
    request.app.state.rate_limiter.hit(client_address(request))
    report = service.support(_report_or_404(service, number).id)
    return JSONResponse(public_json(request, report, service))


@router.get(f"{API}/categories", tags=["Reports"], summary="Categories taken today")
def api_categories(service: ServiceDep) -> JSONResponse:
    """The categories a report may have today, with their departments and extra fields."""
    departments = {d.code: d for d in service.store.departments()}
    return JSONResponse([
        {"code": c.code, **c.names(),
         "department": {"code": c.department_code, **departments[c.department_code].names()},
         "requires_photo": c.requires_photo, "season": c.season, "attributes": c.attributes}
        for c in service.categories_open(datetime.now(UTC))
    ])
