"""Migrations run once, before the workers; a worker refuses a schema that is not at head."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from typer.testing import CliRunner

from geoapp.app import create_app
from geoapp.cli import cli
from geoapp.errors import SchemaOutOfDate
from geoapp.features.tiles import EXTENT, Tile
from geoapp.settings import Settings
from geoapp.store.engine import MIGRATIONS, current_revision, head_revision, open_engine
from geoapp.store.reports import ReportStore
from geoapp.store.schema import REPORT_CELL_LEVELS, report_cells, wildlife_detections
from geoapp.wildlife.layer import DetectionSource
from tests.bulk import insert_reports, synthetic_reports
from tests.conftest import REFERENCE_DATA, _free_port, city_towns


def _revision(database_url: str) -> str | None:
    engine = open_engine(database_url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def _migrate_to(database_url: str, revision: str) -> None:
    engine = open_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def _drop_schema(database_url: str) -> None:
    """Make the session's PostGIS database empty again (SQLite files are new per test)."""
    if database_url.startswith("sqlite"):
        return
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()


@pytest.fixture
def empty_url(database_url):
    """A store on each engine with no schema at all; PostGIS is migrated back afterwards."""
    _drop_schema(database_url)
    yield database_url
    if not database_url.startswith("sqlite"):
        _drop_schema(database_url)
        _migrate_to(database_url, "head")  # the other tests of the run share this database


def test_a_worker_refuses_a_store_not_at_head_and_names_the_fix(empty_url, tmp_path):
    settings = Settings(environment="test", data_dir=tmp_path / "var", database_url=empty_url,
                        migrate_on_start=False)
    with pytest.raises(SchemaOutOfDate, match="empty .*geoapp store migrate"):
        create_app(settings)
    assert _revision(empty_url) is None  # the refusal changed nothing
    _migrate_to(empty_url, "0005")  # an older geoapp's schema
    with pytest.raises(SchemaOutOfDate, match=f"revision 0005.*needs revision {head_revision()}"):
        create_app(settings)
    _migrate_to(empty_url, "head")
    app = create_app(settings)
    app.state.reports.store.engine.dispose()


def test_revision_0009_fills_the_cells_and_the_detections_index_from_rows_stored_before(
        empty_url):
    _migrate_to(empty_url, "0008")
    engine = open_engine(empty_url)
    ReportStore(engine).seed(REFERENCE_DATA)
    rows = list(synthetic_reports(400))
    insert_reports(engine, rows)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(wildlife_detections.insert(), [
            {"device_id": None, "dedup_key": f"old:{n}", "event_id": str(n),
             "event": "detection", "species": "bear", "count": 1, "confidence": None,
             "observed_at": now, "received_at": now, "lon": lon, "lat": 37.9,
             "visibility": "exact", "source": "csv"}
            for n, lon in enumerate((139.5, 139.50000002))])
    engine.dispose()

    _migrate_to(empty_url, "head")
    engine = open_engine(empty_url)
    try:
        with engine.connect() as conn:
            stored = {(r.level, r.cx, r.cy, r.status_code): (r.count, r.sum_lon, r.sum_lat)
                      for r in conn.execute(sa.select(report_cells))}
        expected: dict[tuple, list] = {}
        for row in rows:
            for level in REPORT_CELL_LEVELS:
                x, y = Tile(level, 0, 0).to_tile(row["lon"], row["lat"])
                cell = expected.setdefault(
                    (level, int(x // EXTENT), int(y // EXTENT), row["status_code"]), [0, 0, 0])
                cell[0] += 1
                cell[1] += row["lon"]
                cell[2] += row["lat"]
        assert stored.keys() == expected.keys()
        for key, (count, sum_lon, sum_lat) in expected.items():
            assert stored[key] == (count, pytest.approx(sum_lon), pytest.approx(sum_lat))
        # The detection stored before 0009 is in its index: a bbox finds it, and only it.
        found = DetectionSource(engine, towns=city_towns(), staff=True).query(
            bbox=(139.49, 37.89, 139.50000001, 37.91), limit=10).features
        assert [f.properties["count"] for f in found] == [1] and found[0].id == "1"
    finally:
        engine.dispose()


def test_the_default_still_migrates_on_start(empty_url, tmp_path):
    app = create_app(Settings(environment="test", data_dir=tmp_path / "var",
                              database_url=empty_url))
    app.state.reports.store.engine.dispose()
    assert _revision(empty_url) == head_revision()


def test_serve_refuses_to_start_on_an_old_schema_when_told_not_to_migrate(
        empty_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GEOAPP_DATABASE_URL", empty_url)
    monkeypatch.setenv("GEOAPP_MIGRATE_ON_START", "false")
    result = CliRunner().invoke(cli, ["serve", "--port", str(_free_port())])
    assert result.exit_code == 2
    assert "geoapp store migrate" in result.output


def test_serve_migrates_once_then_starts_its_workers(empty_url, tmp_path):
    port = _free_port()
    env = {**os.environ, "GEOAPP_ENVIRONMENT": "test", "GEOAPP_DATA_DIR": str(tmp_path / "var"),
           "GEOAPP_DATABASE_URL": empty_url}
    env.pop("GEOAPP_MIGRATE_ON_START", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "geoapp", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "geoapp serve did not answer within 60 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert _revision(empty_url) == head_revision()
        # Both workers started on the migrated, seeded store (categories are there), told
        # to check the schema rather than migrate it again.
        answers = [httpx.get(f"http://127.0.0.1:{port}/api/v1/categories", timeout=5)
                   for _ in range(6)]
        assert all(a.status_code == 200 and a.json() for a in answers)
        workers = _children(process.pid)
        assert len(workers) == 2
        for pid in workers:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert b"GEOAPP_MIGRATE_ON_START=false" in environ
    finally:
        process.terminate()
        process.communicate(timeout=30)


def _children(pid: int) -> list[int]:
    """The worker processes uvicorn's supervisor started (not its helper processes)."""
    out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)],
                         capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line]
