"""Background work runs in exactly one geoapp process per store, and moves when it dies.

Real processes (uvicorn, as in production) on one SQLite file or one PostGIS database.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from geoapp.leader import ADVISORY_KEY, POLL_SECONDS
from geoapp.mail.outbox import enqueue
from geoapp.store.engine import open_engine
from tests.conftest import LiveServer
from tests.staff.test_mail import Collector, _free_port

#: What the issue asks: another process leads within 10 s of the leader's death.
TAKEOVER_SECONDS = 10


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Collector]]:
    """A real SMTP server (aiosmtpd) keeping what it receives."""
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, collector
    controller.stop()


def _start(database_url: str, tmp_path: Path, name: str, **env: str) -> LiveServer:
    # Each process has a data folder of its own, as on separate machines: what they share
    # is the store (for SQLite, the lock file lies beside the database file).
    return LiveServer(tmp_path / name, env={"GEOAPP_DATABASE_URL": database_url, **env})


def _leads(server: LiveServer) -> bool:
    answer = httpx.get(f"{server.url}/readyz", timeout=5)
    assert answer.status_code == 200
    return answer.json()["leader"]


def _held_by_someone(database_url: str) -> int:
    """How many holders the store's lock has, seen from outside geoapp."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1] + ".leader"
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 1
        finally:
            os.close(fd)  # closing releases it if we got it
        return 0
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = :high AND objid = :low AND objsubid = 1"),
            {"high": ADVISORY_KEY >> 32, "low": ADVISORY_KEY & 0xFFFFFFFF}).scalar_one()
    engine.dispose()
    return count


def _wait_for(condition, seconds: float) -> float:
    """Seconds until ``condition()`` holds; fails after ``seconds``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "condition not met in time"
        time.sleep(0.2)
    return time.monotonic() - start


def test_one_process_leads_and_another_takes_over_within_10_s(database_url, tmp_path):
    servers = [_start(database_url, tmp_path, "a")]
    try:
        servers.append(_start(database_url, tmp_path, "b"))
        servers.append(_start(database_url, tmp_path, "c"))
        time.sleep(2 * POLL_SECONDS)  # every follower has tried at least once more
        leading = [s for s in servers if _leads(s)]
        assert len(leading) == 1 and _held_by_someone(database_url) == 1
        leader = leading[0]
        leader.kill()  # SIGKILL: no shutdown code runs, the lock goes with the process
        rest = [s for s in servers if s is not leader]
        _wait_for(lambda: any(_leads(s) for s in rest), TAKEOVER_SECONDS)
        time.sleep(2 * POLL_SECONDS)
        assert sum(_leads(s) for s in rest) == 1 and _held_by_someone(database_url) == 1
    finally:
        for server in servers:
            server.stop()


def test_mail_is_sent_by_the_leader_only_and_once(database_url, tmp_path, smtp):
    controller, collector = smtp
    env = {"GEOAPP_SMTP_HOST": "127.0.0.1", "GEOAPP_SMTP_PORT": str(controller.port),
           "GEOAPP_MAIL_INTERVAL": "0.3", "GEOAPP_BASE_URL": "https://map.example.jp"}
    leader = _start(database_url, tmp_path, "a", **env)
    follower = None
    try:
        follower = _start(database_url, tmp_path, "b", **env)
        assert _leads(leader) and not _leads(follower)
        # Freeze the leader: it still holds the lock, so nobody may send in its place.
        leader.process.send_signal(signal.SIGSTOP)
        engine = open_engine(database_url)
        with engine.begin() as conn:
            enqueue(conn, "resident@example.org", "【新発田市】通報 No.1", "対応済",
                    datetime.now(UTC))
        engine.dispose()
        time.sleep(10 * 0.3)  # ten of the follower's mail intervals
        assert collector.messages == []
        leader.kill()
        _wait_for(lambda: len(collector.messages) >= 1, TAKEOVER_SECONDS)
        assert _leads(follower)
        time.sleep(10 * 0.3)
        assert [m["Subject"] for m in collector.messages] == ["【新発田市】通報 No.1"]
    finally:
        leader.kill()
        if follower is not None:
            follower.stop()
