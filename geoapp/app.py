"""The application factory: ``create_app(settings)`` builds a fresh geoapp."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp

from geoapp import __version__
from geoapp.catalog.registry import Catalog
from geoapp.errors import StoreUnavailable
from geoapp.hazards import OFFLINE_BASE, HazardReader, TileFetcher
from geoapp.leader import Leader, lock_for
from geoapp.mail.outbox import Sender, SmtpConfig
from geoapp.mail.render import MailTexts
from geoapp.open311.keys import ApiKeys
from geoapp.photos.media import MediaStore
from geoapp.photos.pool import PhotoPool
from geoapp.places.towns import towns_in
from geoapp.reports.boundary import CityBoundary
from geoapp.reports.layer import ReportSource
from geoapp.reports.service import ReportService
from geoapp.settings import Settings
from geoapp.staff.accounts import Accounts
from geoapp.staff.figures import MapViewCounter
from geoapp.staff.workflow import Workflow
from geoapp.store.engine import check_at_head, migrate, open_engine
from geoapp.store.ratelimit import Allowance, RateStore
from geoapp.store.reports import ReportStore
from geoapp.transit.service import BusService
from geoapp.web import (
    assets,
    caching,
    hazards,
    health,
    intake,
    nearest,
    ogc,
    open311,
    opendata,
    pages,
    problems,
    reports,
    search,
    security,
    staff,
    staff_admin,
    staff_auth,
    tiles,
    transit,
)
from geoapp.web import wildlife as wildlife_web
from geoapp.web.intake_limits import BodyLimit
from geoapp.web.ratelimit import KEY_WINDOW, RateLimiter
from geoapp.web.templating import make_templates
from geoapp.wildlife.mqtt import Subscriber
from geoapp.wildlife.service import WildlifeService
from geoapp.yamlfile import read_yaml


def _openapi(app: FastAPI, settings: Settings) -> dict:
    """The OpenAPI document: the items limit as clients (GDAL) read it, the refusals declared."""
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
    _known_values(app, schema)
    app.openapi_schema = problems.document(schema)
    return app.openapi_schema


def _known_values(app: FastAPI, schema: dict) -> None:
    """Name the values path parameters and report fields may take (others answer 404/422)."""
    layers = [layer.id for layer in app.state.catalog.collections()]
    choices = {"collection_id": layers, "layer_id": layers, "fmt": list(open311.FORMATS),
               "ext": list(opendata.GENERIC), "name": list(opendata.RECOMMENDED)}
    for operation in (op for ops in schema["paths"].values() for op in ops.values()):
        for param in operation.get("parameters", []):
            if param["in"] == "path" and param["name"] in choices:
                param["schema"] = {"type": "string", "enum": choices[param["name"]]}
    post = schema["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]
    fields = post["multipart/form-data"]["schema"]["properties"]
    fields["category"]["enum"] = [c.code for c in app.state.reports.store.categories()]
    west, south, east, north = app.state.reports.boundary.geometry.bounds
    fields["lat"].update(minimum=round(south, 4), maximum=round(north, 4))
    fields["lon"].update(minimum=round(west, 4), maximum=round(east, 4))


def open_reference_store(settings: Settings) -> ReportStore:
    """Open the database; migrate it and add any missing categories, departments and states,
    or with ``migrate_on_start`` off only check that its schema is at head."""
    engine = open_engine(settings.database, statement_timeout=settings.statement_timeout,
                         sqlite_synchronous=settings.sqlite_synchronous)
    store = ReportStore(engine)
    if not settings.migrate_on_start:
        try:
            check_at_head(engine)
        except BaseException:
            engine.dispose()
            raise
        return store
    migrate(engine)
    store.seed(read_yaml(settings.reports_yaml))
    return store


logger = logging.getLogger("geoapp")

#: How often the service sweeps photo files that no report refers to.
SWEEP_EVERY_SECONDS = 3600.0
#: How often the map views counted in memory are written to the database.
MAP_VIEWS_FLUSH_SECONDS = 10.0


async def _every(seconds: float, work: Callable[[], object], name: str) -> None:
    """Run blocking ``work`` in a thread every ``seconds``; a failure is logged, not fatal."""
    while True:
        try:
            await asyncio.to_thread(work)
        except StoreUnavailable as exc:  # an outage, not a bug: one line, no traceback
            logger.warning("%s skipped: %s", name, exc.detail)
        except Exception:  # noqa: BLE001 (keep the loop alive; the next run retries)
            logger.exception("%s failed", name)
        await asyncio.sleep(seconds)


class _Background:
    """The background work: started in the leading process only, stopped when it loses the lead."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Sweep orphan photos, send queued mail, read the buses' feed, subscribe to MQTT."""
        state, settings = self.app.state, self.app.state.settings
        work: list[tuple[float, Callable[[], object], str]] = [
            (SWEEP_EVERY_SECONDS, state.reports.sweep_media, "photo sweep"),
            (SWEEP_EVERY_SECONDS, state.wildlife.sweep_media, "wildlife photo sweep")]
        sender: Sender | None = state.mail_sender
        if sender is not None:
            work.append((settings.mail_interval,
                         lambda: sender.send_due(datetime.now(UTC)), "mail"))
        if settings.gtfs_rt_url:  # the operator's GTFS-Realtime feed of bus positions
            work.append((settings.gtfs_rt_interval,
                         lambda: state.buses.poll(settings.gtfs_rt_url), "GTFS-Realtime feed"))
        self.tasks = [asyncio.create_task(_every(*item)) for item in work]
        subscriber: Subscriber | None = state.wildlife_mqtt
        if subscriber is not None:  # wildlife devices publishing over MQTT; reconnects by itself
            subscriber.start()

    def stop(self) -> None:
        """Cancel the loops and leave the MQTT session (the next leader resumes it)."""
        subscriber: Subscriber | None = self.app.state.wildlife_mqtt
        if subscriber is not None and self.tasks:  # tasks: started, so subscribed
            subscriber.stop()
        for task in self.tasks:
            task.cancel()
        self.tasks = []


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the background work while this process leads; close the database at the end."""
    engine = app.state.reports.store.engine
    background = _Background(app)
    leader = Leader(lock_for(app.state.settings.database), background.start, background.stop)
    app.state.leader = leader
    if app.state.settings.environment != "test":  # the suite builds hundreds of apps
        app.state.photos.start()  # workers ready before the first photo, not spawned by it
    # Every process counts its own map views in memory and writes them now and then, so
    # no page view waits for (or takes) the database's write lock.
    views = asyncio.create_task(_every(MAP_VIEWS_FLUSH_SECONDS,
                                       lambda: app.state.map_views.flush(engine),
                                       "map view counts"))
    await leader.step()  # at once: a lone process leads from its first request on
    election = asyncio.create_task(leader.run())
    try:
        yield
    finally:
        election.cancel()
        views.cancel()
        leader.resign()  # in the loop: it cancels the background tasks
        await asyncio.to_thread(app.state.photos.close)
        try:  # the views counted since the last flush
            await asyncio.to_thread(app.state.map_views.flush, engine)
        except Exception:  # noqa: BLE001 (stopping anyway; the log says what was lost)
            logger.exception("map view counts not written at shutdown")
        engine.dispose()


class GeoApp(FastAPI):
    """FastAPI with the security headers outside everything, Starlette's error layer too.

    ``add_middleware`` would put them inside ServerErrorMiddleware, whose 500 answers (and
    those of any handler registered for ``Exception``) would then leave without them.
    """

    def build_middleware_stack(self) -> ASGIApp:
        """The usual stack, wrapped in the security headers middleware."""
        return security.SecurityHeaders(super().build_middleware_stack(),
                                        self.state.security_policy)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build geoapp: load and check every layer, then wire routes, templates and assets."""
    settings = settings or Settings()
    app = GeoApp(
        title="geoapp — 新発田市 公開マップ API",
        version=__version__,
        description="OGC API – Features for Shibata City's public map layers.",
        openapi_url=None,  # served at /api by geoapp.web.ogc, as OGC API asks
        docs_url=None,  # Swagger UI would load from a CDN; /api?f=html renders instead
        redoc_url=None,
        lifespan=_lifespan,
        dependencies=[Depends(problems.refuse_control_characters)],
    )
    app.state.settings = settings
    store = open_reference_store(settings)
    # One pool for every door that takes photos (form, API, Open311, wildlife ingest).
    app.state.photos = PhotoPool(settings.photo_workers, settings.photo_queue)
    app.state.reports = ReportService(
        store, MediaStore(settings.media),
        CityBoundary(settings.geo_dir / "shibata_boundary_n03.geojson"), app.state.photos,
    )
    app.state.map_views = MapViewCounter()
    app.state.trusted_proxies = intake.parse_networks(settings.trusted_proxies)
    app.state.rate_limiter = RateLimiter(
        RateStore(store.engine, keep=max(settings.report_rate_window, KEY_WINDOW)),
        Allowance(settings.report_rate_limit, settings.report_rate_window,
                  settings.report_refused_limit))
    app.state.accounts = Accounts(store.engine, checks_per_minute=settings.login_checks_per_minute)
    app.state.api_keys = ApiKeys(store.engine)
    mail = MailTexts(settings.templates_dir / "mail")  # one renderer for every mail kind
    app.state.workflow = Workflow(store.engine, settings.base_url, mail)
    app.state.mail_sender = (
        Sender(store.engine, SmtpConfig(
            settings.smtp_host, settings.smtp_port, settings.mail_from,
            starttls=settings.smtp_starttls, username=settings.smtp_username or None,
            password=settings.smtp_password or None))
        if settings.smtp_host else None)
    app.state.buses = BusService(store.engine, areas_file=settings.bus_areas_file,
                                 city=app.state.reports.boundary.contains,
                                 gone_after=settings.bus_gone_after, root=settings.base_url)
    # The towns that reports, detections and the place search name places after: one file.
    towns = towns_in(settings.geo_dir)
    app.state.wildlife = WildlifeService(
        store.engine, settings.media / "wildlife", app.state.reports.boundary,
        mail_root=settings.base_url or "http://127.0.0.1:8000", layer_root=settings.base_url,
        towns=towns, recent_days=settings.wildlife_recent_days, photos=app.state.photos, mail=mail)
    app.state.wildlife_mqtt = (
        Subscriber(app.state.wildlife.ingest, settings.mqtt_url, settings.mqtt_topic_prefix,
                   settings.mqtt_client_id) if settings.mqtt_url else None)
    # Built here, not per request: a bad layer file stops start-up with a clear message.
    app.state.catalog = Catalog.build(settings.layers_dir, settings.geo_dir, settings.data_dir,
                                      reports=ReportSource(store, settings.base_url,
                                                           towns=towns),
                                      transit=app.state.buses.sources,
                                      wildlife=app.state.wildlife.public)
    # The hazard overlays read back at a point; tests never reach the internet by default.
    tile_base = settings.hazard_tile_base or (
        OFFLINE_BASE if settings.environment == "test" else "")
    app.state.hazards = HazardReader(app.state.catalog, tile_base,
                                     TileFetcher(timeout=settings.hazard_tile_timeout))
    app.state.layer_validators = caching.LayerValidators(app.state.catalog, settings)
    app.state.assets = assets.Assets.discover(settings.vendor_dir)
    app.state.security_policy = security.PagePolicy.build(settings, app.state.catalog)
    app.state.templates = make_templates(settings.templates_dir)
    # Level 6: about 3x faster than the default 9 on large GeoJSON for ~2.5% more bytes.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    # Added last, so it wraps the other middlewares: every body is bounded by its door
    # before any of them or any route reads it.
    app.add_middleware(BodyLimit)
    problems.install(app)
    app.add_exception_handler(staff_auth.LoginRedirect, staff_auth.login_redirect_handler)
    app.include_router(pages.router)
    app.include_router(health.router)
    app.include_router(ogc.router)
    app.include_router(tiles.router)
    app.include_router(search.router)
    app.include_router(reports.router)
    app.include_router(staff_auth.router)
    app.include_router(staff.router)
    app.include_router(staff_admin.router)
    app.include_router(open311.router)
    app.include_router(opendata.router)
    app.include_router(transit.router)
    app.include_router(nearest.router)
    app.include_router(hazards.router)
    app.include_router(wildlife_web.router)
    app.include_router(assets.router)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    return app
