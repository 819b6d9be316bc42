"""`geoapp backup` while reports arrive, `geoapp restore` into a fresh store: served identically.

Both engines: the source store is the `database_url` fixture's; a PostGIS restore goes into
databases this test creates and drops on 127.0.0.1:5432.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from geoapp.app import create_app
from geoapp.settings import Settings
from geoapp.store.engine import open_engine
from tests.conftest import POSTGRES_ADMIN_URL, LiveServer
from tests.imaging import phone_jpeg

#: Both servers build links from this, so a report's JSON is the same byte for byte.
BASE = "http://geoapp.test"
CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}


def _geoapp(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the real `geoapp` command with a store's settings."""
    return subprocess.run([sys.executable, "-m", "geoapp", *args], capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "GEOAPP_ENVIRONMENT": "test", **env})


class Stores:
    """Fresh empty stores to restore into: folders, and PostGIS databases dropped at the end."""

    def __init__(self, engine: str, tmp_path: Path) -> None:
        self.engine, self.tmp_path, self.databases = engine, tmp_path, []

    def new(self, name: str) -> dict[str, str]:
        """The settings of a new empty store."""
        data_dir = self.tmp_path / name
        if self.engine == "sqlite":
            url = f"sqlite:///{data_dir / 'geoapp.sqlite3'}"
        else:
            database = f"geoapp_test_restore_{os.getpid()}_{secrets.token_hex(4)}"
            with self._admin() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {database}"))
            self.databases.append(database)
            url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
        return {"GEOAPP_DATA_DIR": str(data_dir), "GEOAPP_DATABASE_URL": url,
                "GEOAPP_BASE_URL": BASE}

    def drop(self) -> None:
        """Drop the databases made here (and only those)."""
        with self._admin() as conn:
            for database in self.databases:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))

    def _admin(self) -> sa.Connection:
        return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT",
                                poolclass=sa.pool.NullPool).connect()


@pytest.fixture
def stores(database_url: str, tmp_path: Path) -> Iterator[Stores]:
    made = Stores("sqlite" if database_url.startswith("sqlite") else "postgis", tmp_path)
    yield made
    if made.databases:
        made.drop()


def _post_report(url: str, n: int) -> httpx.Response:
    photo = phone_jpeg(480, 360, colour=(n * 37 % 256, n * 11 % 256, 90))
    return httpx.post(f"{url}/api/v1/reports", timeout=60,
                      data={"category": "gutter", "description": f"側溝の詰まり {n}", **CITY_HALL},
                      files=[("photos", (f"IMG_{n}.jpg", photo, "image/jpeg"))])


class Writer(threading.Thread):
    """Posts reports with a photo, one after another, until stopped; keeps the acknowledged."""

    def __init__(self, url: str, first: int) -> None:
        super().__init__(daemon=True)
        self.url, self.n, self.numbers, self.failures = url, first, [], []
        self.halt, self.started_one = threading.Event(), threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            answer = _post_report(self.url, self.n)
            self.n += 1
            if answer.status_code == 201:
                self.numbers.append(answer.json()["number"])
                self.started_one.set()
            else:
                self.failures.append((answer.status_code, answer.text[:300]))


def _media(server: LiveServer, link: str) -> bytes:
    answer = httpx.get(server.url + link.removeprefix(BASE), timeout=30)
    assert answer.status_code == 200, link
    return answer.content


def _detections(server: LiveServer) -> dict:
    answer = httpx.get(f"{server.url}/wildlife/detections?days=30",
                       headers={"Accept": "application/geo+json"}, timeout=30)
    assert answer.status_code == 200
    return answer.json()


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_backup_taken_while_reports_arrive_restores_identically(database_url, stores,
                                                                   tmp_path):
    live_env = {"GEOAPP_DATA_DIR": str(tmp_path / "live"), "GEOAPP_DATABASE_URL": database_url,
                "GEOAPP_BASE_URL": BASE, "GEOAPP_REPORT_RATE_LIMIT": "100000"}
    source = LiveServer(tmp_path / "live", live_env)
    restored_server = None
    try:
        # A wildlife camera with a photo: its media live in media/wildlife/.
        registered = _geoapp(["wildlife", "register", "城址カメラ", "--kind", "ai_camera",
                              "--lat", CITY_HALL["lat"], "--lon", CITY_HALL["lon"],
                              "--species", "bear", "--visibility", "exact"], live_env)
        assert registered.returncode == 0, registered.stderr
        device_key = registered.stdout.split()[-1]
        detection = httpx.post(
            f"{source.url}/api/v1/wildlife/detections", headers={"X-Device-Key": device_key},
            json={"event_id": "e1", "time": datetime.now(UTC).isoformat(), "species": "bear",
                  "image": base64.b64encode(phone_jpeg(400, 300)).decode()}, timeout=60)
        assert detection.status_code == 201, detection.text
        before = [_post_report(source.url, n).json()["number"] for n in range(3)]

        writer = Writer(source.url, first=100)
        writer.start()
        assert writer.started_one.wait(60)
        made = _geoapp(["backup", str(tmp_path / "backup")], live_env)
        writer.halt.set()
        writer.join(60)
        assert made.returncode == 0, made.stderr
        assert writer.failures == []
        acknowledged = before + writer.numbers

        manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
        counts = manifest["counts"]
        assert len(before) < counts["reports"] <= len(acknowledged)
        assert counts["report_photos"] == counts["reports"]
        assert counts["wildlife_detections"] == 1
        # Each photo is stored full-size and as a thumbnail.
        assert {p["store"] for p in manifest["photos"]} == {"reports", "wildlife"}
        assert len(manifest["photos"]) == 2 * (counts["report_photos"] + 1)
        assert manifest["missing_photos"] == []

        target = stores.new("restored")
        done = _geoapp(["restore", str(tmp_path / "backup")], target)
        assert done.returncode == 0, done.stderr
        assert f"reports {counts['reports']}" in done.stdout

        # The writer's posts are in the restored rate limit too: lift it for this client.
        restored_server = LiveServer(tmp_path / "restored",
                                     {**target, "GEOAPP_REPORT_RATE_LIMIT": "100000"})
        served = 0
        for number in acknowledged:
            original = httpx.get(f"{source.url}/api/v1/reports/{number}", timeout=30)
            copy = httpx.get(f"{restored_server.url}/api/v1/reports/{number}", timeout=30)
            if copy.status_code == 404:  # acknowledged after the snapshot
                assert number not in before
                continue
            served += 1
            assert copy.status_code == 200 and copy.json() == original.json()
            for photo in copy.json()["photos"]:
                for link in (photo["url"], photo["thumbnail"]):
                    assert _media(restored_server, link) == _media(source, link)
        assert served == counts["reports"]

        wildlife = _detections(restored_server)
        assert wildlife == _detections(source) and len(wildlife["features"]) == 1
        thumbnail = wildlife["features"][0]["properties"]["thumbnail"]
        assert _media(restored_server, thumbnail) == _media(source, thumbnail)

        # A report made on the restored store is data a second restore would destroy.
        extra = _post_report(restored_server.url, 999).json()["number"]
        refused = _geoapp(["restore", str(tmp_path / "backup")], target)
        assert refused.returncode == 1
        assert "already holds data" in refused.stderr and "Traceback" not in refused.stderr
        assert httpx.get(f"{restored_server.url}/api/v1/reports/{extra}").status_code == 200
        restored_server.stop()  # the procedure: stop the service, restore, start it

        forced = _geoapp(["restore", "--force", str(tmp_path / "backup")], target)
        assert forced.returncode == 0, forced.stderr
        restored_server = LiveServer(tmp_path / "restored", target)
        assert httpx.get(f"{restored_server.url}/api/v1/reports/{extra}").status_code == 404
        assert httpx.get(f"{restored_server.url}/api/v1/reports/{before[0]}").json() == \
            httpx.get(f"{source.url}/api/v1/reports/{before[0]}").json()
    finally:
        source.stop()
        if restored_server is not None:
            restored_server.stop()


def test_restore_refuses_a_tampered_backup_before_changing_anything(database_url, stores,
                                                                     tmp_path):
    live_env = {"GEOAPP_DATA_DIR": str(tmp_path / "live"), "GEOAPP_DATABASE_URL": database_url}
    source = LiveServer(tmp_path / "live", live_env)
    try:
        assert _post_report(source.url, 1).status_code == 201
        made = _geoapp(["backup", str(tmp_path / "backup")], live_env)
        assert made.returncode == 0, made.stderr
    finally:
        source.stop()
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    photo = tmp_path / "backup" / manifest["photos"][0]["path"]
    original = photo.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x01
    photo.write_bytes(bytes(damaged))

    target = stores.new("restored")
    tables = _tables(target["GEOAPP_DATABASE_URL"]) if "postgresql" in target[
        "GEOAPP_DATABASE_URL"] else []
    refused = _geoapp(["restore", str(tmp_path / "backup")], target)
    assert refused.returncode == 1
    assert manifest["photos"][0]["key"] in refused.stderr and "damaged" in refused.stderr
    assert "nothing was changed" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "restored" / "media").exists()
    if target["GEOAPP_DATABASE_URL"].startswith("sqlite"):
        assert not (tmp_path / "restored" / "geoapp.sqlite3").exists()
    else:
        assert _tables(target["GEOAPP_DATABASE_URL"]) == tables

    # The database file is checked too: one changed byte in it is refused the same way.
    photo.write_bytes(original)
    database = next(p for p in (tmp_path / "backup").iterdir() if p.name.startswith("database"))
    data = bytearray(database.read_bytes())
    data[-1] ^= 0x01
    database.write_bytes(bytes(data))
    refused = _geoapp(["restore", str(tmp_path / "backup")], target)
    assert refused.returncode == 1 and "differs from the manifest" in refused.stderr


def test_backup_wants_a_new_folder(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.txt").write_text("an earlier backup")
    refused = _geoapp(["backup", str(dest)], {"GEOAPP_DATA_DIR": str(tmp_path / "var")})
    assert refused.returncode == 1
    assert "not an empty folder" in refused.stderr and "Traceback" not in refused.stderr
    assert [p.name for p in dest.iterdir()] == ["old.txt"]


def test_restore_refuses_a_folder_that_is_not_a_backup(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "database.sqlite3").write_bytes(b"interrupted")
    refused = _geoapp(["restore", str(tmp_path / "half")],
                      {"GEOAPP_DATA_DIR": str(tmp_path / "var")})
    assert refused.returncode == 1
    assert "no manifest.json" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "var").exists()


def test_sqlite_commits_are_synced_fully_by_default(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    # NORMAL only when asked for, through the setting the benchmark uses.
    settings = Settings(environment="test", data_dir=tmp_path / "var",
                        sqlite_synchronous="NORMAL")
    engine = create_app(settings).state.reports.store.engine
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 1
    engine.dispose()
