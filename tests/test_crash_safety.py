"""A server killed mid-submission leaves either whole reports or none: never half of one.

Both engines: the server is given the `database_url` fixture's store (an SQLite file, or
this run's PostGIS database emptied), which the test reads back through SQLAlchemy.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Sized
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from geoapp.photos.media import MediaStore
from tests.conftest import LiveServer
from tests.imaging import phone_jpeg

pytestmark = pytest.mark.live

PHOTOS_PER_REPORT = 2


def _serve(data_dir: Path, database_url: str, **env: str) -> LiveServer:
    """`geoapp serve` on the test's store (migrated and seeded by the server)."""
    return LiveServer(data_dir, env={"GEOAPP_DATABASE_URL": database_url, **env})


def _stored(database_url: str) -> list[tuple[int, list[str]]]:
    """Each stored report with the media keys its rows name."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM reports ORDER BY id")).scalars().all()
        keys = {i: [] for i in ids}
        for row in conn.execute(sa.text(
                "SELECT report_id, media_key, thumb_key FROM report_photos")):
            keys[row.report_id] += [row.media_key, row.thumb_key]
    engine.dispose()
    return sorted(keys.items())


def _assert_whole(data_dir: Path, database_url: str) -> int:
    """Every stored report has all its photos on disk; returns how many reports there are."""
    media = MediaStore(data_dir / "media")
    reports = _stored(database_url)
    for report_id, keys in reports:
        assert len(keys) == 2 * PHOTOS_PER_REPORT, f"report {report_id} lost photo rows"
        for key in keys:
            assert media.exists(key), f"report {report_id} refers to missing {key}"
    return len(reports)


def _multipart(photos: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (("category", "gutter"), ("description", "側溝が壊れています"),
                        ("lat", "37.9477"), ("lon", "139.3275")):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for index, photo in enumerate(photos):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
                     f'filename="p{index}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
                     + photo + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), boundary


def test_a_kill_while_the_upload_is_arriving_stores_nothing(tmp_path, database_url):
    data_dir = tmp_path / "var"
    server = _serve(data_dir, database_url)
    body, boundary = _multipart([phone_jpeg(3000, 2000), phone_jpeg(3000, 2000)])
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            f"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode()
            + body[: len(body) // 2])
        time.sleep(0.5)
        server.kill()
    server = _serve(data_dir, database_url)  # the store opens again after the crash
    try:
        assert _assert_whole(data_dir, database_url) == 0
        health = httpx.get(f"{server.url}/collections/reports/items").json()
        assert health["numberMatched"] == 0
    finally:
        server.stop()


def _wait_for(seen: Sized, count: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while len(seen) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("kill_after_answers", [0, 1, 3])
def test_a_kill_during_processing_leaves_whole_reports_or_none(tmp_path, database_url,
                                                                kill_after_answers):
    data_dir = tmp_path / "var"
    server = _serve(data_dir, database_url, GEOAPP_REPORT_RATE_LIMIT="1000")
    # Different photos for every submission, so each one's files can be told apart.
    bodies = [_multipart([phone_jpeg(3000, 2000, colour=(n * 30, i * 100, 60))
                          for i in range(PHOTOS_PER_REPORT)]) for n in range(8)]
    answered: dict[int, int] = {}  # submission -> status
    delivered: set[int] = set()  # submissions whose whole body was sent

    def submit(n: int, body: bytes, boundary: str) -> None:
        def chunks():
            for start in range(0, len(body), 64 * 1024):
                yield body[start:start + 64 * 1024]
            delivered.add(n)  # asked for more after the last chunk was written

        try:
            response = httpx.post(
                f"{server.url}/api/v1/reports", content=chunks(), timeout=30,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                         "Content-Length": str(len(body))})
            answered[n] = response.status_code
        except httpx.TransportError:
            pass  # the server died under this request

    threads = [threading.Thread(target=submit, args=(n, *pair))
               for n, pair in enumerate(bodies)]
    for thread in threads:
        thread.start()
    # Kill once the server has answered this many: the rest are being processed then.
    _wait_for(answered, kill_after_answers)
    if kill_after_answers == 0:
        _wait_for(delivered, len(bodies))
        time.sleep(0.3)  # every body sent, photos being decoded
    server.kill()
    for thread in threads:
        thread.join(timeout=30)

    # The kill landed inside processing: a submission the server had received whole was
    # never answered (not merely cut off while its body was still arriving).
    died_in_processing = delivered - set(answered)
    assert died_in_processing, (
        f"no kill landed inside processing: {len(answered)} answered, "
        f"{len(delivered)} delivered of {len(bodies)}")
    statuses = list(answered.values())
    stored = _assert_whole(data_dir, database_url)
    assert stored >= statuses.count(201)  # every answered report survived the crash
    print(f"kill after {kill_after_answers} answers: {statuses.count(201)} answered, "
          f"{len(died_in_processing)} died inside processing, {stored} stored, "
          f"{len(list(MediaStore(data_dir / 'media').keys()))} photo files")
    server = _serve(data_dir, database_url)
    try:
        listed = httpx.get(f"{server.url}/collections/reports/items?limit=100").json()
        assert listed["numberMatched"] == stored
        # Files of submissions that died before their commit are orphans; the sweep takes them.
        media = MediaStore(data_dir / "media")
        referenced = {key for _, keys in _stored(database_url) for key in keys}
        media.sweep(referenced, older_than_seconds=0)
        assert set(media.keys()) == referenced
        assert _assert_whole(data_dir, database_url) == stored
    finally:
        server.stop()
