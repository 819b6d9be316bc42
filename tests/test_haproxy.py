"""Three geoapp processes on one PostGIS database behind HAProxy (Debian's package).

Reports, bus positions and bear sightings go in through the balancer while the process
leading the background work is killed (SIGKILL): every report the balancer acknowledged is
in the store once, the bus's last acknowledged position is the stored one, another process
leads within 10 s, and every mail queued in the outbox, before and after the death, is sent
exactly once (aiosmtpd), the sightings' alerts included.

The three share a Mosquitto broker of the test's own too: a camera publishes detections
before the death (stored, then a burst still in flight), while no process leads, and after
the new leader is up. Every detection the broker acknowledged is stored once, alerted once,
and the new leader is the one holding the subscription.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import paho.mqtt.client as paho
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from geoapp.app import create_app
from geoapp.leader import ADVISORY_KEY
from geoapp.mail.outbox import enqueue
from geoapp.settings import Settings
from geoapp.store.engine import open_engine
from geoapp.store.schema import reports, transit_positions, wildlife_detections
from geoapp.transit.gtfs import read_feed
from tests.conftest import LiveServer, _empty_postgis
from tests.mosquitto import Broker
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


def _prepare(postgis_url: str, tmp_path) -> tuple[str, str, tuple[int, str]]:
    """The sample timetable with one bus, a bear camera posting over HTTP, another
    publishing over MQTT, and a confirmed whole-city bear alert subscriber: the bus's key,
    the HTTP camera's key, and the MQTT camera's number and key."""
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
    mqtt_camera, mqtt_key = wildlife.devices.register(
        name="二王子山カメラ", kind="ai_camera", lon=float(CITY_HALL["lon"]) + 0.01,
        lat=float(CITY_HALL["lat"]), species=["bear"], owner="市", now=now,
        visibility="exact")
    token = wildlife.alerts.subscribe(email=ALERTED, species=["bear"], lang="ja", now=now)
    assert wildlife.alerts.confirm(token, now)
    app.state.reports.store.engine.dispose()
    return bus_key, camera_key, (mqtt_camera.id, mqtt_key)


class Camera:
    """A wildlife camera publishing bear detections to the broker over MQTT, QoS 1."""

    def __init__(self, broker: Broker, prefix: str, device_id: int, key: str) -> None:
        self.topic = f"{prefix}/devices/{device_id}/detections"
        self.key = key
        self.client = paho.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"camera-{uuid.uuid4().hex[:8]}")
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def publish(self, event_id: str) -> paho.MQTTMessageInfo:
        """Send one detection; its info says is_published() once the broker acknowledged it."""
        body = {"key": self.key, "event_id": event_id, "species": "bear",
                "time": datetime.now(UTC).isoformat()}
        return self.client.publish(self.topic, json.dumps(body), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _acknowledged(sent: dict[str, paho.MQTTMessageInfo]) -> list[str]:
    """The event ids of the detections the broker acknowledged (PUBACK), waiting for each."""
    for info in sent.values():
        info.wait_for_publish(timeout=10)
    return [event for event, info in sent.items() if info.is_published()]


def _subscribed(server: LiveServer) -> bool:
    """Whether this process holds the MQTT subscription now (its /readyz says)."""
    return httpx.get(f"{server.url}/readyz", timeout=5).json()["mqtt"]


def _stored_detections(engine: sa.Engine, device_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(wildlife_detections.c.event_id).where(
            wildlife_detections.c.device_id == device_id)).scalars())


class LeadHeld:
    """The test itself takes the lead the moment the leader dies, and keeps it for a while:
    no geoapp process leads (nor is subscribed) until ``release``, so messages published
    meanwhile are certainly published while nobody is connected.

    A blocking pg_advisory_lock queued before the death is granted as the dead leader's
    lock is released, atomically: no process's pg_try_advisory_lock can come in between.
    """

    def __init__(self, postgis_url: str) -> None:
        self.engine = sa.create_engine(postgis_url)
        self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        pid = self.conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        self.waiter = threading.Thread(target=self.conn.execute, args=(
            sa.text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_KEY}), daemon=True)
        self.waiter.start()
        with self.engine.connect() as probe:  # queued behind the leader before it dies
            _wait_for(lambda: probe.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND pid = :pid"), {"pid": pid}).scalar_one() == 1, 10)

    def wait(self) -> None:
        """Until the lock is the test's (the leader has died)."""
        self.waiter.join(timeout=10)
        assert not self.waiter.is_alive(), "the dead leader's lock was not released"

    def release(self) -> None:
        """Give the lead up: a geoapp process takes it at its next attempt."""
        if self.conn.closed:
            return
        if not self.waiter.is_alive():  # else still waiting: closing gives the place up
            self.conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"),
                              {"key": ADVISORY_KEY})
        self.conn.close()
        self.engine.dispose()


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
    key, camera, (mqtt_camera, mqtt_key) = _prepare(postgis_url, tmp_path)
    controller, collector = smtp
    (tmp_path / "mosquitto").mkdir()
    broker = Broker(tmp_path / "mosquitto")
    prefix = f"test-{uuid.uuid4().hex[:8]}/wildlife"
    env = {"GEOAPP_DATABASE_URL": postgis_url, "GEOAPP_SMTP_HOST": "127.0.0.1",
           "GEOAPP_SMTP_PORT": str(controller.port), "GEOAPP_MAIL_INTERVAL": "0.3",
           "GEOAPP_REPORT_RATE_LIMIT": "100000", "GEOAPP_BASE_URL": "https://map.example.jp",
           # One client id for all three: one persistent session, resumed by each leader.
           "GEOAPP_MQTT_URL": broker.url, "GEOAPP_MQTT_TOPIC_PREFIX": prefix,
           "GEOAPP_MQTT_CLIENT_ID": f"geoapp-{uuid.uuid4().hex[:8]}"}
    servers = [LiveServer(tmp_path / name, env=env) for name in ("a", "b", "c")]
    balancer = None
    device = None
    held = None
    engine = open_engine(postgis_url)
    try:
        balancer, url = _haproxy(tmp_path, servers)
        _wait_for(lambda: sum(_leads(s) for s in servers) == 1, TAKEOVER_SECONDS)
        [leader] = [s for s in servers if _leads(s)]
        _wait_for(lambda: _subscribed(leader), 10)
        assert [_subscribed(s) for s in servers if s is not leader] == [False, False]
        device = Camera(broker, prefix, mqtt_camera, mqtt_key)
        published = _acknowledged({f"before-{n}": device.publish(f"before-{n}")
                                   for n in range(3)})
        _wait_for(lambda: len(_stored_detections(engine, mqtt_camera)) == 3, 15)
        subjects = [f"【新発田市】お知らせ {n}" for n in range(6)]
        with engine.begin() as conn:
            for subject in subjects[:3]:
                enqueue(conn, "resident@example.org", subject, "本文", datetime.now(UTC))
        acknowledged = [_post(url, n) for n in range(20)]
        moves = [_move(url, key, n) for n in range(10)]
        sightings = [_detect(url, camera, n) for n in range(3)]
        held = LeadHeld(postgis_url)
        # A burst the leader may be storing, or have stored unacknowledged, as it dies.
        burst = {f"burst-{n}": device.publish(f"burst-{n}") for n in range(5)}
        leader.kill()  # SIGKILL: no shutdown code runs
        killed_at = time.monotonic()
        published += _acknowledged(burst)
        held.wait()
        rest = [s for s in servers if s is not leader]
        # Nobody leads: the broker keeps these for the session, for the next leader.
        published += _acknowledged({f"gap-{n}": device.publish(f"gap-{n}") for n in range(3)})
        assert not any(_leads(s) or _subscribed(s) for s in rest)
        with engine.begin() as conn:
            for subject in subjects[3:]:
                enqueue(conn, "resident@example.org", subject, "本文", datetime.now(UTC))
        held.release()
        for n in range(20, 40):
            acknowledged.append(_post(url, n))
            moves.append(_move(url, key, n))
        sightings += [_detect(url, camera, n) for n in range(3, 6)]
        _wait_for(lambda: any(_leads(s) for s in rest), TAKEOVER_SECONDS)
        assert time.monotonic() - killed_at < TAKEOVER_SECONDS + 5
        assert sum(_leads(s) for s in rest) == 1
        [successor] = [s for s in rest if _leads(s)]
        _wait_for(lambda: _subscribed(successor), 10)  # the new leader holds the subscription
        assert [_subscribed(s) for s in rest if s is not successor] == [False]
        published += _acknowledged({f"after-{n}": device.publish(f"after-{n}")
                                    for n in range(3)})
        assert len(published) == 3 + 5 + 3 + 3  # the broker acknowledged every one
        assert _acknowledged({"before-0": device.publish("before-0")})  # a device's retry
        _wait_for(lambda: len(set(_stored_detections(engine, mqtt_camera))) == len(published),
                  30)
        assert None not in acknowledged  # the balancer kept answering through the death
        with engine.connect() as conn:
            stored = set(conn.execute(sa.select(reports.c.id)).scalars())
            bus = conn.execute(sa.select(transit_positions.c.lat)).scalar_one()
        assert set(acknowledged) <= stored and len(stored) == len(set(acknowledged)) == 40
        assert None not in moves and bus == pytest.approx(moves[-1])  # the last one it took
        assert all(sightings)
        # The confirmation request, the queued notices and one alert per sighting, over
        # HTTP or MQTT (a detection delivered twice is stored once, so alerted once).
        expected = 1 + len(subjects) + len(sightings) + len(published)
        _wait_for(lambda: len(collector.messages) >= expected, 60)  # a bound, not a speed
        time.sleep(10 * 0.3)  # ten mail intervals more: nothing is sent twice
        notices = [m["Subject"] for m in collector.messages if m["To"] != ALERTED]
        assert sorted(notices) == sorted(subjects)
        alerted = [m for m in collector.messages if m["To"] == ALERTED]
        assert len(alerted) == 1 + len(sightings) + len(published)
        assert len(collector.messages) == expected
        assert sorted(_stored_detections(engine, mqtt_camera)) == sorted(published)  # once each
        assert _subscribed(successor)
    finally:
        engine.dispose()
        if device is not None:
            device.close()
        if balancer is not None:
            balancer.terminate()
            balancer.wait(timeout=10)
        for server in servers:
            server.stop()
        if held is not None:  # after the servers: a lock still awaited is granted as they end
            held.waiter.join(timeout=10)
            held.release()
        broker.stop()
