"""Shared fixtures: apps built by the factory, and a real geoapp served by uvicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from geoapp.app import create_app
from geoapp.photos.media import MediaStore
from geoapp.places.towns import Towns, towns_in
from geoapp.reports.boundary import CityBoundary
from geoapp.reports.service import ReportService
from geoapp.settings import Settings
from geoapp.store.engine import migrate, open_engine
from geoapp.store.reports import ReportStore
from tests.pgcluster import PgCluster
from tests.pgcluster import pg_cluster as _pg_cluster

ROOT = Path(__file__).resolve().parent.parent


def city_towns() -> Towns:
    """The shipped towns (data/geo), as the app reads them for places."""
    return towns_in(ROOT / "data" / "geo")
#: Real format samples the tests read (see tests/data/PROVENANCE.md); never outside the checkout.
TEST_DATA = ROOT / "tests" / "data"


#: The PostgreSQL server the suite may create databases on (trust auth on this machine).
POSTGRES_ADMIN_URL = os.environ.get(
    "GEOAPP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _admin() -> sa.Engine:
    return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT",
                            poolclass=sa.pool.NullPool)


@contextmanager
def postgis_database(label: str) -> Iterator[str]:
    """A new, empty PostGIS database of the caller's own (named after this process, so
    parallel workers never share one); its URL, and the database dropped afterwards."""
    name = f"geoapp_test_{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def store_of_its_own(engine: str, data_dir: Path, label: str) -> Iterator[str]:
    """The URL of a new store on ``engine`` ("sqlite" or "postgis"), for a server a whole
    module shares: an SQLite file in ``data_dir``, or a PostGIS database dropped after."""
    if engine == "sqlite":
        yield f"sqlite:///{data_dir / 'geoapp.sqlite3'}"
        return
    with postgis_database(label) as url:
        yield url


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """A fresh PostGIS database for this test run, migrated, dropped at the end."""
    with postgis_database("session") as url:
        engine = open_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of the module's own that its tests may stop and start."""
    with _pg_cluster() as cluster:
        yield cluster


def _empty_postgis(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "TRUNCATE login_failures, login_checks, rate_hits, "
            "wildlife_subscriptions, wildlife_detections, wildlife_devices, "
            "transit_positions, transit_vehicles, transit_calendar_dates, "
            "transit_calendar, transit_stop_times, transit_trips, transit_stops, transit_routes, "
            "transit_agencies, transit_feed, admin_events, "
            "api_keys, report_events, subscribers, outbox, response_templates, map_views, "
            "staff_sessions, staff_users, transitions, report_photos, report_cells, reports, "
            "categories, statuses, departments RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgis"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on both engines: an SQLite file, then the PostGIS database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'geoapp.sqlite3'}"
    url = request.getfixturevalue("postgis_url")
    _empty_postgis(url)
    return url


ENGINES = ("sqlite", "postgis")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give every test that uses a module's own server (built on ``store_engine``) the
    engines it runs on: SQLite, and PostGIS too when marked ``both_engines``. Module-scoped,
    so a module's SQLite tests share one server and its PostGIS tests another."""
    if "store_engine" in metafunc.fixturenames:
        marked = metafunc.definition.get_closest_marker("both_engines") is not None
        metafunc.parametrize("store_engine", ENGINES if marked else ENGINES[:1], scope="module")


@pytest.fixture(scope="module")
def store_engine() -> str:
    """The engine of a module server's store (parametrised by pytest_generate_tests)."""
    return "sqlite"


REFERENCE_DATA = yaml.safe_load((ROOT / "data" / "reports.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def store(database_url: str) -> Iterator[ReportStore]:
    """A migrated, seeded report store on each engine in turn."""
    engine = open_engine(database_url)
    migrate(engine)
    report_store = ReportStore(engine)
    report_store.seed(REFERENCE_DATA)
    yield report_store
    engine.dispose()


@pytest.fixture
def service(store: ReportStore, tmp_path: Path) -> ReportService:
    """The report service over each engine, with a media folder of its own."""
    boundary = CityBoundary(ROOT / "data" / "geo" / "shibata_boundary_n03.geojson")
    return ReportService(store, MediaStore(tmp_path / "media"), boundary)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a fresh geoapp whose writable data lives in a temporary folder."""
    return Settings(environment="test", data_dir=tmp_path / "var")


@pytest.fixture
def engine_settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for a fresh geoapp on each engine in turn (SQLite, then PostGIS)."""
    return Settings(environment="test", data_dir=tmp_path / "var", database_url=database_url)


@pytest.fixture
def engine_client(engine_settings: Settings) -> Iterator[TestClient]:
    """A client of a geoapp on each engine in turn."""
    with TestClient(create_app(engine_settings)) as test_client:
        yield test_client


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of a geoapp built in-process."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: How long a LiveServer may take to answer /healthz after it is started.
STARTUP_SECONDS = 90


class LiveServer:
    """A geoapp served by uvicorn in its own process, as in production."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {**os.environ, "GEOAPP_ENVIRONMENT": "test",
                   "GEOAPP_DATA_DIR": str(data_dir), **(env or {})}
        # The server's log goes to a file, never to a pipe nobody reads: once a pipe's
        # buffer is full the server blocks on its next access-log line and stops answering.
        handle, log_name = tempfile.mkstemp(prefix=f"geoapp-{self.port}-", suffix=".log")
        self.log = Path(log_name)
        with os.fdopen(handle, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "geoapp", "serve", "--port", str(self.port)],
                env=environ, stdout=log, stderr=subprocess.STDOUT,
            )
        # Generous: a loaded machine running the suite in parallel may take this long to
        # start Python and migrate a new store; a healthy start answers within seconds.
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log.read_text(errors="replace")
                raise RuntimeError(f"geoapp exited at start-up:\n{output}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"geoapp did not answer within {STARTUP_SECONDS} s")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a power cut or OOM killer would."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """End the server process."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real geoapp for the session's client and browser tests."""
    server = LiveServer(tmp_path_factory.mktemp("live-var"))
    yield server
    server.stop()
