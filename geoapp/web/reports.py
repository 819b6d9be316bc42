"""Residents' reports over HTTP: the form, the receipt, the report page, the JSON API, photos.

Both the form and the API hand a `Submission` to the one `ReportService.submit`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from geoapp.errors import InvalidInput, NotFound
from geoapp.i18n import Lang, pick_lang
from geoapp.maps.picker import build_picker_map, build_report_map
from geoapp.reports.service import MAX_PHOTOS, Outcome, ReportService, Submission
from geoapp.staff.queries import events
from geoapp.store.records import Report
from geoapp.web.assets import LONG_CACHE
from geoapp.web.context import CatalogDep, LangDep, SettingsDep, TemplatesDep, base_url
from geoapp.web.intake import client_address
from geoapp.web.problems import request_lang

router = APIRouter()
#: Three photos of 15 MB each and the text fields: anything larger is refused unread.
MAX_BODY = MAX_PHOTOS * 15 * 1024 * 1024 + 1024 * 1024


def _service(request: Request) -> ReportService:
    return request.app.state.reports


ServiceDep = Annotated[ReportService, Depends(_service)]


async def _submit(service: ReportService, submission: Submission) -> Outcome:
    # A thread, as submit blocks on the database and on the photo pool (which bounds the CPU).
    return await asyncio.to_thread(service.submit, submission)


async def _read_form(request: Request) -> FormData:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise InvalidInput("photos", "the upload is too large (at most 3 photos of 15 MB)",
                           detail_ja="送信データが大きすぎます（写真は1枚15MBまで、3枚まで）")
    return await request.form(max_files=MAX_PHOTOS + 5, max_fields=50)


async def _submission(form: FormData, lang: Lang, source: str,
                      idempotency_key: str | None) -> Submission:
    photos: list[bytes] = []
    for item in form.getlist("photos"):
        if isinstance(item, UploadFile):
            data = await item.read()
            if data or item.filename:  # an empty file input sends a nameless, empty part
                photos.append(data)
    attributes = {
        key[len("attribute["):-1]: str(value)
        for key, value in form.multi_items()
        if key.startswith("attribute[") and key.endswith("]") and isinstance(value, str)
    }

    def text(name: str) -> str | None:
        value = form.get(name)
        return value if isinstance(value, str) else None

    lat, lon = text("lat"), text("lon")
    landmark = text("landmark")
    if (not lat or not lon) and landmark and "," in landmark:
        lat, lon = (part.strip() for part in landmark.split(",", 1))
    return Submission(
        category=text("category"), description=text("description"), lat=lat, lon=lon,
        lang=lang, source=source, email=text("email"), name=text("name"),
        attributes=attributes, photos=photos, idempotency_key=idempotency_key,
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
        "category": {"code": category.code, "ja": category.name_ja, "en": category.name_en},
        "status": {"code": status.code, "ja": status.name_ja, "en": status.name_en,
                   "group": status.public_group, "open": status.is_open},
        "description": report.description,
        "attributes": report.attributes,
        "location": {"lat": report.lat, "lon": report.lon},
        "supporters": report.supporters,
        "photos": [{"url": f"{root}/media/{p.media_key}",
                    "thumbnail": f"{root}/media/{p.thumb_key}",
                    "width": p.width, "height": p.height} for p in report.photos],
        "created_at": report.created_at.isoformat(timespec="seconds"),
        "updated_at": report.updated_at.isoformat(timespec="seconds"),
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


@router.post("/reports/new", include_in_schema=False)
async def report_form_submit(request: Request, service: ServiceDep, catalog: CatalogDep,
                             settings: SettingsDep, templates: TemplatesDep) -> Response:
    """Store a report sent by the form, or show the form again with what went wrong."""
    form = await _read_form(request)
    lang = pick_lang(str(form.get("lang") or request.query_params.get("lang") or "ja"))
    try:
        request.app.state.rate_limiter.hit(client_address(request))
        submission = await _submission(form, lang, "web", None)
        outcome = await _submit(service, submission)
    except InvalidInput as error:
        context = _form_context(request, service, catalog, settings, lang)
        values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        message = error.detail_ja if lang == "ja" else error.detail
        return templates.TemplateResponse(
            request, "reports/new.html",
            {**context, "values": values, "error": message, "error_field": error.field,
             "lang": lang},
            status_code=422,
        )
    suffix = "?lang=en" if lang == "en" else ""
    return RedirectResponse(f"/reports/{outcome.report.id}/receipt{suffix}", status_code=303)


def _report_or_404(service: ReportService, number: str) -> Report:
    if not number.isdigit():
        raise NotFound(f"no report {number!r}")
    return service.store.get(int(number))


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
        "map": build_report_map(settings, request.app.state.assets, lang, report.lat, report.lon),
        "supported": request.query_params.get("supported") == "1",
    })


@router.post("/reports/{number}/support", include_in_schema=False)
async def support_form(number: str, request: Request, service: ServiceDep) -> Response:
    """'Me too' from the form: count the resident, then show the report."""
    form = await request.form()
    lang = pick_lang(str(form.get("lang") or "ja"))
    request.app.state.rate_limiter.hit(client_address(request))
    report = _report_or_404(service, number)
    service.support(report.id)
    suffix = "&lang=en" if lang == "en" else ""
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
)
async def api_post_report(
    request: Request,
    service: ServiceDep,
    idempotency_key: Annotated[str | None, Header(
        description="Send the same key when retrying: one report, however many tries")] = None,
) -> JSONResponse:
    """Post a report; a retry with the same Idempotency-Key returns the first report."""
    request.app.state.rate_limiter.hit(client_address(request))
    form = await _read_form(request)
    lang = pick_lang(str(form.get("lang") or request_lang(request)))
    outcome = await _submit(service, await _submission(form, lang, "api", idempotency_key))
    body = public_json(request, outcome.report, service)
    return JSONResponse(body, status_code=201 if outcome.created else 200,
                        headers={"Location": body["url"]})


@router.get(f"{API}/reports/nearby", tags=["Reports"],
            summary="Open reports of a category within 250 m (to add 'me too' instead)")
def api_nearby(request: Request, service: ServiceDep, lat: float, lon: float,
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
             summary="'Me too': count one more resident affected")
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
        {"code": c.code, "ja": c.name_ja, "en": c.name_en,
         "department": {"code": c.department_code,
                        "ja": departments[c.department_code].name_ja,
                        "en": departments[c.department_code].name_en},
         "requires_photo": c.requires_photo, "season": c.season, "attributes": c.attributes}
        for c in service.categories_open(datetime.now(UTC))
    ])
