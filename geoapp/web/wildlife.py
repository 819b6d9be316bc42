"""Wildlife over HTTP: device ingest, public detections and alerts, the staff pages."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from geoapp.errors import InvalidInput, InvalidParameter, NotFound
from geoapp.features.params import parse_id, parse_int
from geoapp.features.source import filter_key
from geoapp.i18n import Lang
from geoapp.staff.accounts import Session
from geoapp.web.assets import LONG_CACHE
from geoapp.web.context import LangDep, TemplatesDep
from geoapp.web.intake import client_address, device_key
from geoapp.web.intake_forms import read_form, read_photo
from geoapp.web.negotiation import choose_format
from geoapp.web.problems import documented
from geoapp.web.staff_auth import StaffForm, require
from geoapp.wildlife import detections
from geoapp.wildlife.detections import public_position
from geoapp.wildlife.layer import MAX_DAYS, DetectionSource
from geoapp.wildlife.service import WildlifeService
from geoapp.wildlife.vocab import KINDS, SPECIES, STATUSES, VISIBILITIES

router = APIRouter(tags=["Wildlife"])
GEOJSON = "application/geo+json"
WildlifeOfficer = Annotated[Session, require("wildlife", "admin")]


def _service(request: Request) -> WildlifeService:
    return request.app.state.wildlife


ServiceDep = Annotated[WildlifeService, Depends(_service)]


async def _body(request: Request) -> tuple[Any, bytes | None]:
    """The detection as a dict (JSON, or multipart fields), and an uploaded image.

    The body is bounded by the intake's detection door (one image); the image file is read
    only once its size is known to be within the photo limit.
    """
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await read_form(request, max_files=1, max_fields=20)
        body: dict[str, Any] = {}
        image = None
        try:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if name != "image":
                        raise InvalidInput(name, key="error.input.unknown_file", name=name)
                    image = await read_photo(value, 0)
                else:
                    body[name] = value
        finally:
            await form.close()
        return body, image or None
    raw = await request.body()
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError:
        raise InvalidInput("body", key="error.input.not_json") from None


def _answer(received: Any) -> JSONResponse:
    detection = received.detection
    body = {"id": detection.id, "event_id": detection.event_id, "species": detection.species,
            "observed_at": detection.observed_at.isoformat(), "created": received.created}
    return JSONResponse(body, status_code=201 if received.created else 200)


@router.post("/api/v1/wildlife/detections", summary="A device reports a detection",
             status_code=201, responses={
                 200: {"description": "A repeated event_id: the detection stored first"},
                 **documented(401, 403, 413, 422)})
async def post_detection(request: Request, service: ServiceDep) -> JSONResponse:
    """Store a detection sent with the device's key (header X-Device-Key).

    JSON: event_id, time (ISO 8601), species (bear, boar, monkey, deer, other), count,
    confidence (0–1), event (detection or triggered), image (base64). Or multipart with the
    same fields and an ``image`` file. A repeated event_id answers 200 with the stored one.
    """
    key = device_key(request)
    service.devices.authenticate(key)  # 401 before a byte of the body is read
    body, image = await _body(request)
    received = await asyncio.to_thread(service.ingest.receive, key, body, source="http",
                                       image=image)
    return _answer(received)


def _days(request: Request, default: int) -> int:
    days = parse_int("days", request.query_params.get("days"), default=default, minimum=1)
    if days > MAX_DAYS:
        raise InvalidParameter("days", f"at most {MAX_DAYS}")
    return days


def _listing(request: Request, templates: Any, source: DetectionSource, lang: Lang,
             *, staff: bool, session: Session | None = None) -> Response:
    days = _days(request, source.days)
    species = request.query_params.get("species") or None
    if species is not None and species not in SPECIES:
        raise InvalidParameter("species", f"one of {', '.join(SPECIES)}")
    for name in request.query_params:
        if name not in ("days", "species", "f", "lang"):
            raise InvalidParameter(name, "unknown parameter; use days, species, f, lang")
    window = source.within(days)
    features = [f for f in window.features
                if species is None or filter_key(f.properties["species"]) == species]
    if choose_format(request) == "html":
        return templates.TemplateResponse(request, "wildlife/detections.html", {
            "features": features, "days": days, "species": species, "staff": staff,
            "species_names": SPECIES, "session": session})
    body = {"type": "FeatureCollection", "features": [f.to_geojson() for f in features],
            "numberMatched": len(features), "numberReturned": len(features),
            "geoapp:days": days}
    return Response(orjson.dumps(body), media_type=GEOJSON, headers={"Content-Language": lang})


@router.get("/wildlife/detections", summary="Recent wildlife detections (public)",
            response_class=Response, responses={200: {"content": {GEOJSON: {}, "text/html": {}}}})
def public_detections(request: Request, service: ServiceDep, templates: TemplatesDep,
                      lang: LangDep, days: int | None = Query(None, ge=1, le=MAX_DAYS),
                      species: str | None = None, f: str | None = None) -> Response:
    """Detections of the last ``days`` days, generalised as each device allows."""
    return _listing(request, templates, service.public, lang, staff=False)


@router.get("/wildlife/media/{key}", include_in_schema=False)
def public_media(key: str, service: ServiceDep) -> FileResponse:
    """A detection's photo, only when its device is published exactly."""
    detection = detections.by_media_key(service.engine, key)
    position = public_position(detection) if detection else None
    if position is not None and position.precision == "exact" and service.media.exists(key):
        return FileResponse(service.media.path(key), media_type="image/jpeg",
                            headers={"Cache-Control": LONG_CACHE})
    raise NotFound(f"no photo {key!r}")


# -- Alerts ----------------------------------------------------------------------------------


def _float(form: Any, name: str) -> float | None:
    text = str(form.get(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidInput(name, key="error.input.not_a_number", name=name)
    return value


def _alerts_page(request: Request, templates: Any, **context: Any) -> Response:
    status = context.pop("status", 200)
    base: dict[str, Any] = {"species_names": SPECIES, "error": None, "done": False, "form": {}}
    return templates.TemplateResponse(request, "wildlife/alerts.html", {**base, **context},
                                      status_code=status)


@router.get("/wildlife/alerts", include_in_schema=False)
def alerts_form(request: Request, templates: TemplatesDep) -> Response:
    """The form to subscribe to wildlife alerts."""
    return _alerts_page(request, templates)


@router.post("/wildlife/alerts", include_in_schema=False)
async def subscribe(request: Request, service: ServiceDep, templates: TemplatesDep,
                    lang: LangDep) -> Response:
    """Subscribe (unconfirmed until the link in the mail is opened)."""
    request.app.state.rate_limiter.hit(client_address(request))
    form = await request.form(max_fields=30)
    species = [str(s) for s in form.getlist("species")]
    whole_city = str(form.get("area") or "city") == "city"
    try:
        service.alerts.subscribe(
            email=str(form.get("email") or ""), species=species, lang=lang,
            now=datetime.now(UTC),
            lon=None if whole_city else _float(form, "lon"),
            lat=None if whole_city else _float(form, "lat"),
            radius_m=None if whole_city else _float(form, "radius"))
    except InvalidInput as exc:
        message = exc.message(lang)
        return _alerts_page(request, templates, error=message, form=dict(form),
                            chosen=species, status=422)
    return _alerts_page(request, templates, done=True)


def _token_page(request: Request, templates: Any, action: str, token: str,
                done: bool) -> Response:
    return templates.TemplateResponse(request, "wildlife/token.html",
                                      {"action": action, "token": token, "done": done})


@router.get("/wildlife/alerts/{action}/{token}", include_in_schema=False)
def token_form(action: str, token: str, request: Request, templates: TemplatesDep) -> Response:
    """Confirm or unsubscribe with one button (a GET alone changes nothing)."""
    if action not in ("confirm", "unsubscribe"):
        raise NotFound(f"no page {action!r}")
    return _token_page(request, templates, action, token, done=False)


@router.post("/wildlife/alerts/{action}/{token}", include_in_schema=False)
def token_action(action: str, token: str, request: Request, service: ServiceDep,
                 templates: TemplatesDep) -> Response:
    """Confirm a subscription, or stop one."""
    if action == "confirm":
        done = service.alerts.confirm(token, datetime.now(UTC))
    elif action == "unsubscribe":
        done = service.alerts.unsubscribe(token)
    else:
        raise NotFound(f"no page {action!r}")
    if not done:
        raise NotFound("this link is not known (it may have been used already)")
    return _token_page(request, templates, action, token, done=True)


# -- Staff -----------------------------------------------------------------------------------


def _staff_page(request: Request, templates: Any, service: WildlifeService, session: Session,
                **context: Any) -> Response:
    status = context.pop("status", 200)
    return templates.TemplateResponse(request, "wildlife/staff.html", {
        "session": session, "devices": service.devices.all(), "kinds": KINDS,
        "statuses": STATUSES, "visibilities": VISIBILITIES, "species_names": SPECIES,
        "detections": service.staff.query(limit=50).features, "new_key": None, "new_device": None,
        "error": None, **context}, status_code=status)


@router.get("/staff/wildlife", include_in_schema=False)
def staff_home(request: Request, session: WildlifeOfficer, service: ServiceDep,
               templates: TemplatesDep) -> Response:
    """Devices, registering one, and the latest detections with exact positions."""
    return _staff_page(request, templates, service, session)


@router.post("/staff/wildlife/devices", include_in_schema=False)
def staff_register(request: Request, form: StaffForm, session: WildlifeOfficer, service: ServiceDep,
                   templates: TemplatesDep, lang: LangDep) -> Response:
    """Register a device; its key is shown on this page once."""
    try:
        lon, lat = _float(form, "lon"), _float(form, "lat")
        if lon is None or lat is None:
            raise InvalidInput("location", key="error.input.location_missing")
        device, key = service.devices.register(
            name=str(form.get("name") or ""), kind=str(form.get("kind") or ""), lon=lon,
            lat=lat, species=[str(s) for s in form.getlist("species")],
            owner=str(form.get("owner") or ""), now=datetime.now(UTC),
            officers=str(form.get("officers") or "").replace(",", " ").split(),
            visibility=str(form.get("visibility") or "mesh"))
    except InvalidInput as exc:
        return _staff_page(request, templates, service, session, status=422,
                           error=exc.message(lang))
    return _staff_page(request, templates, service, session, new_key=key, new_device=device)


@router.post("/staff/wildlife/devices/{device_id}/status", include_in_schema=False)
def staff_status(device_id: str, request: Request, form: StaffForm, session: WildlifeOfficer,
                 service: ServiceDep, templates: TemplatesDep) -> Response:
    """Mark a device active, under maintenance or retired."""
    service.devices.set_status(parse_id(device_id, "device"), str(form.get("status") or ""))
    return _staff_page(request, templates, service, session)


@router.get("/staff/wildlife/detections", include_in_schema=False)
def staff_detections(request: Request, session: WildlifeOfficer, service: ServiceDep,
                     templates: TemplatesDep, lang: LangDep) -> Response:
    """Every detection of the window with its exact position (the staff layer)."""
    return _listing(request, templates, service.staff, lang, staff=True, session=session)


@router.get("/staff/wildlife/devices.geojson", include_in_schema=False)
def staff_devices(session: WildlifeOfficer, service: ServiceDep) -> Response:
    """Every device, traps included, at its exact position."""
    features = [{"type": "Feature", "id": str(d.id),
                 "geometry": {"type": "Point", "coordinates": [d.lon, d.lat]},
                 "properties": {"name": d.name, "kind": d.kind, "species": list(d.species),
                                "owner": d.owner, "status": d.status,
                                "visibility": d.public_visibility}}
                for d in service.devices.all()]
    return Response(orjson.dumps({"type": "FeatureCollection", "features": features}),
                    media_type=GEOJSON)


@router.get("/staff/wildlife/media/{key}", include_in_schema=False)
def staff_media(key: str, session: WildlifeOfficer, service: ServiceDep) -> FileResponse:
    """Any detection photo, for wildlife officers."""
    if not service.media.exists(key):
        raise NotFound(f"no photo {key!r}")
    return FileResponse(service.media.path(key), media_type="image/jpeg")
