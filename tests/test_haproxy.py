"""Three geoapp processes on one PostGIS database behind HAProxy (Debian's package).

Reports, bus positions and bear sightings go in through the balancer while the process
leading the background work is killed (SIGKILL): every report the balancer acknowledged is
in the store once, the bus's last acknowledged position is the stored one, another process
leads within 10 s, and every mail queued in the outbox, before and after the death, is sent
exactly once (aiosmtpd), the sightings' alerts included.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from geoapp.app import create_app
from geoapp.mail.outbox import enqueue
from geoapp.settings import Settings
from geoapp.store.engine import open_engine
from geoapp.store.schema import reports, transit_positions
from geoapp.transit.gtfs import read_feed
from tests.conftest import LiveServer, _empty_postgis
from tests.staff.test_mail import _free_port
from tests.test_leader import TAKEOVER_SECONDS, _leads, _wait_for, smtp  # noqa: F401
from tests.transit.feeds import SAMPLE

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None,
                                reason="haproxy is installed by scripts/setup --test")

CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}
#: On the sample timetable's routes (Kawasaki), so inside its service area.
KAWASAKI = (35.5315, 139.6956)
ALERTED = "alerts@example.org"


def _haproxy(tmp_path, servers: list[LiveServer]) -> tuple[subprocess.Popen, str]:
    """HAProxy in the foreground, round robin over ``servers``, health-checked on /readyz."""
    port = _free_port()
    backends = "\n".join(f"    server g{i} 127.0.0.1:{s.port} check inter 300ms fall 1 rise 1"
                         for i, s in enumerate(servers))
    config = tmp_path / "haproxy.cfg"
    config.write_text(f"""global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend geoapp
    bind 127.0.0.1:{port}
    default_backend geoapps
backend geoapps
    balance roundrobin
    option httpchk GET /readyz
{backends}
""")
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait_for(lambda: _answers(url), 10)
    return process, url


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _post(url: str, n: int) -> int | None:
    """Post report ``n`` through the balancer, retrying with its Idempotency-Key as a
    client should; its number once acknowledged, None if it never was."""
    key = f"haproxy-{n}-{uuid.uuid4()}"
    for _ in range(10):
        try:
            answer = httpx.post(f"{url}/api/v1/reports", headers={"Idempotency-Key": key},
                                data={"category": "gutter", "description": f"側溝 {n}",
                                      **CITY_HALL}, timeout=10)
        except httpx.TransportError:
            time.sleep(0.3)
            continue
        if answer.status_code in (200, 201):
            return int(answer.json()["number"])
        time.sleep(0.3)  # 502/503 while the balancer notices the dead process
    return None


def _prepare(postgis_url: str, tmp_path) -> tuple[str, str]:
    """The sample timetable with one bus, and a bear camera with a confirmed whole-city
    alert subscriber: the bus's key and the camera's key."""
    app = create_app(Settings(environment="test", data_dir=tmp_path / "setup",
                              database_url=postgis_url))
    now = datetime.now(UTC)
    buses = app.state.buses
    buses.timetable.replace(read_feed(SAMPLE), sample=True)
    bus_key = buses.positions.vehicles.add("bus1", "1号車", now)
    wildlife = app.state.wildlife
    _, camera_key = wildlife.devices.register(
        name="城址公園カメラ", kind="ai_camera", lon=float(CITY_HALL["lon"]),
        lat=float(CITY_HALL["lat"]), species=["bear"], owner="市", now=now,
        visibility="exact")
    token = wildlife.alerts.subscribe(email=ALERTED, species=["bear"], lang="ja", now=now)
    assert wildlife.alerts.confirm(token, now)
    app.state.reports.store.engine.dispose()
    return bus_key, camera_key


def _detect(url: str, key: str, n: int) -> bool:
    """Post bear sighting ``n`` through the balancer (a retry of a stored event is a 200)."""
    body = {"event_id": f"bear-{n}", "time": datetime.now(UTC).isoformat(), "species": "bear"}
    for _ in range(10):
        try:
            answer = httpx.post(f"{url}/api/v1/wildlife/detections", json=body, timeout=10,
                                headers={"X-Device-Key": key})
        except httpx.TransportError:
            time.sleep(0.3)
            continue
        if answer.status_code in (200, 201):
            return True
        time.sleep(0.3)
    return False


def _move(url: str, key: str, n: int) -> float | None:
    """Post the bus's n-th position through the balancer; its latitude once acknowledged."""
    lat = KAWASAKI[0] + n * 1e-5
    body = {"vehicle": "bus1", "route": "25000-1", "lat": lat, "lon": KAWASAKI[1],
            "timestamp": datetime.now(UTC).isoformat()}
    for _ in range(10):
        try:
            answer = httpx.post(f"{url}/api/v1/buses/positions", json=body, timeout=10,
                                headers={"Authorization": f"Bearer {key}"})
        except httpx.TransportError:
            time.sleep(0.3)
            continue
        if answer.status_code == 201:
            return lat
        time.sleep(0.3)
    return None


def test_three_processes_behind_haproxy_lose_nothing_when_the_leader_dies(
        postgis_url, tmp_path, smtp):  # noqa: F811
    _empty_postgis(postgis_url)
    key, camera = _prepare(postgis_url, tmp_path)
    controller, collector = smtp
    env = {"GEOAPP_DATABASE_URL": postgis_url, "GEOAPP_SMTP_HOST": "127.0.0.1",
           "GEOAPP_SMTP_PORT": str(controller.port), "GEOAPP_MAIL_INTERVAL": "0.3",
           "GEOAPP_REPORT_RATE_LIMIT": "100000", "GEOAPP_BASE_URL": "https://map.example.jp"}
    servers = [LiveServer(tmp_path / name, env=env) for name in ("a", "b", "c")]
    balancer = None
    engine = open_engine(postgis_url)
    try:
        balancer, url = _haproxy(tmp_path, servers)
        _wait_for(lambda: sum(_leads(s) for s in servers) == 1, TAKEOVER_SECONDS)
        [leader] = [s for s in servers if _leads(s)]
        subjects = [f"【新発田市】お知らせ {n}" for n in range(6)]
        with engine.begin() as conn:
            for subject in subjects[:3]:
                enqueue(conn, "resident@example.org", subject, "本文", datetime.now(UTC))
        acknowledged = [_post(url, n) for n in range(20)]
        moves = [_move(url, key, n) for n in range(10)]
        sightings = [_detect(url, camera, n) for n in range(3)]
        leader.kill()  # SIGKILL: no shutdown code runs
        killed_at = time.monotonic()
        with engine.begin() as conn:
            for subject in subjects[3:]:
                enqueue(conn, "resident@example.org", subject, "本文", datetime.now(UTC))
        for n in range(20, 40):
            acknowledged.append(_post(url, n))
            moves.append(_move(url, key, n))
        sightings += [_detect(url, camera, n) for n in range(3, 6)]
        rest = [s for s in servers if s is not leader]
        _wait_for(lambda: any(_leads(s) for s in rest), TAKEOVER_SECONDS)
        assert time.monotonic() - killed_at < TAKEOVER_SECONDS + 5
        assert sum(_leads(s) for s in rest) == 1
        assert None not in acknowledged  # the balancer kept answering through the death
        with engine.connect() as conn:
            stored = set(conn.execute(sa.select(reports.c.id)).scalars())
            bus = conn.execute(sa.select(transit_positions.c.lat)).scalar_one()
        assert set(acknowledged) <= stored and len(stored) == len(set(acknowledged)) == 40
        assert None not in moves and bus == pytest.approx(moves[-1])  # the last one it took
        assert all(sightings)
        # The confirmation request, the queued notices and one alert per sighting.
        expected = 1 + len(subjects) + len(sightings)
        _wait_for(lambda: len(collector.messages) >= expected, 60)  # a bound, not a speed
        time.sleep(10 * 0.3)  # ten mail intervals more: nothing is sent twice
        notices = [m["Subject"] for m in collector.messages if m["To"] != ALERTED]
        assert sorted(notices) == sorted(subjects)
        alerted = [m for m in collector.messages if m["To"] == ALERTED]
        assert len(alerted) == 1 + len(sightings) and len(collector.messages) == expected
    finally:
        engine.dispose()
        if balancer is not None:
            balancer.terminate()
            balancer.wait(timeout=10)
        for server in servers:
            server.stop()
