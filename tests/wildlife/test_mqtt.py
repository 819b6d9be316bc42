"""MQTT ingest against a real Mosquitto broker of the tests' own, and MQTT to alert e-mail,
on both engines (the `database_url` fixture's store: an SQLite file, then PostGIS)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime

import httpx
import paho.mqtt.client as paho
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from geoapp.app import create_app
from geoapp.settings import Settings
from geoapp.store.engine import open_engine
from geoapp.wildlife.devices import Devices
from tests.conftest import LiveServer, _free_port
from tests.mosquitto import Broker
from tests.staff.test_mail import Collector
from tests.wildlife.conftest import CITY_HALL, EAST, at


def _publish(broker: Broker, prefix: str, device_id: int, body: dict) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}")
    for _ in range(50):  # the broker may be starting
        try:
            client.connect("127.0.0.1", broker.port)
            break
        except OSError:
            time.sleep(0.1)
    client.loop_start()
    info = client.publish(f"{prefix}/devices/{device_id}/detections", json.dumps(body), qos=1)
    info.wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()


def _wait(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def _detections(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT event_id FROM wildlife_detections ORDER BY id")).scalars())


def _mqtt_app(tmp_path, database_url: str, broker: Broker, name: str, kind: str, species: str,
              now: datetime):
    """An app subscribed under a prefix of its own, with one registered device."""
    prefix = f"test-{uuid.uuid4().hex[:8]}/wildlife"
    settings = Settings(environment="test", data_dir=tmp_path / "var", database_url=database_url,
                        mqtt_url=broker.url,
                        mqtt_topic_prefix=prefix,
                        mqtt_client_id=f"geoapp-test-{uuid.uuid4().hex[:8]}")
    app = create_app(settings)
    device, key = app.state.wildlife.devices.register(
        name=name, kind=kind, lon=CITY_HALL[0], lat=CITY_HALL[1],
        species=[species], owner="市", now=now, visibility="exact")
    return app, prefix, device, key


def test_mqtt_detections_are_stored_and_survive_a_broker_restart(tmp_path, database_url, broker,
                                                                   now):
    app, prefix, device, key = _mqtt_app(tmp_path, database_url, broker, "bear cam", "ai_camera",
                                         "bear", now)
    engine = app.state.wildlife.engine
    with TestClient(app) as client:
        subscriber = app.state.wildlife_mqtt
        assert subscriber.connected.wait(10) and subscriber.subscribed.wait(10)
        assert client.get("/readyz").json()["mqtt"] is True  # this process holds it
        _publish(broker, prefix, device.id, {"key": key, "event_id": "before", "time": at(now),
                                     "species": "bear"})
        _publish(broker, prefix, device.id, {"key": "wrong", "event_id": "bad-key", "time": at(now),
                                     "species": "bear"})
        _publish(broker, prefix, device.id, {"key": key, "event_id": "bad", "time": at(now),
                                     "species": "yeti"})
        _publish(broker, prefix, device.id, {"key": key, "event_id": "before", "time": at(now),
                                     "species": "bear"})  # repeated
        _wait(lambda: _detections(engine) == ["before"])
        broker.restart()
        # Published at once, before geoapp has necessarily reconnected: QoS 1 and the
        # persistent session deliver it when geoapp is back.
        _publish(broker, prefix, device.id, {"key": key, "event_id": "after", "time": at(now),
                                     "species": "bear"})
        _wait(lambda: _detections(engine) == ["before", "after"], timeout=20)
        assert subscriber.connected.is_set() and subscriber.subscribed.is_set()
    time.sleep(0.5)
    assert _detections(engine) == ["before", "after"]


def test_an_mqtt_bear_detection_reaches_a_subscriber_by_e_mail(tmp_path, database_url, broker,
                                                                now):
    collector = Collector()
    smtp = Controller(collector, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    prefix = f"test-{uuid.uuid4().hex[:8]}/wildlife"
    data = tmp_path / "var"
    engine = open_engine(database_url)
    server = None
    try:
        server = LiveServer(data, {
            "GEOAPP_DATABASE_URL": database_url,
            "GEOAPP_SMTP_HOST": "127.0.0.1", "GEOAPP_SMTP_PORT": str(smtp.port),
            "GEOAPP_MAIL_INTERVAL": "0.5", "GEOAPP_MQTT_URL": broker.url,
            "GEOAPP_MQTT_TOPIC_PREFIX": prefix,
            "GEOAPP_MQTT_CLIENT_ID": f"geoapp-e2e-{uuid.uuid4().hex[:8]}",
            "GEOAPP_BASE_URL": "https://map.example.jp"})
        hidden, hidden_key = Devices(engine).register(
            name="secret", kind="sensor", lon=EAST[0], lat=EAST[1], species=["bear"],
            owner="市", now=now, visibility="hidden")
        device, key = Devices(engine).register(
            name="bear cam", kind="ai_camera", lon=CITY_HALL[0], lat=CITY_HALL[1],
            species=["bear"], owner="市", now=now, visibility="exact")
        form = {"email": "resident@example.org", "species": "bear", "area": "city"}
        assert httpx.post(f"{server.url}/wildlife/alerts", data=form).status_code == 200
        confirm = _wait(lambda: collector.messages)[0].get_content()
        link = next(w for w in confirm.split() if "/wildlife/alerts/confirm/" in w)
        path = link.replace("https://map.example.jp", server.url)
        assert httpx.post(path).status_code == 200
        _publish(broker, prefix, hidden.id, {"key": hidden_key, "event_id": "h1", "time": at(now),
                                     "species": "bear"})
        _publish(broker, prefix, device.id, {"key": key, "event_id": "b1", "time": at(now),
                                     "species": "クマ", "count": 1})
        alerts = _wait(lambda: collector.messages[1:] if len(collector.messages) >= 3 else None,
                       timeout=30)
        for message in alerts:
            assert message["To"] == "resident@example.org"
            assert "クマ" in message["Subject"]
            body = message.get_content()
            assert "/wildlife/alerts/unsubscribe/" in body
            assert "139.39" not in body and "37.95000" not in body  # the hidden one
        assert any(f"{CITY_HALL[1]:.5f}" in m.get_content() for m in alerts)
        assert httpx.get(f"{server.url}/collections/wildlife_detections/items").json()[
            "numberMatched"] == 1
    finally:
        if server is not None:
            server.stop()
        smtp.stop()
        engine.dispose()


def test_a_message_the_store_fails_on_is_delivered_again_not_lost(tmp_path, database_url,
                                                                    broker, now):
    app, prefix, device, key = _mqtt_app(tmp_path, database_url, broker, "boar sensor", "sensor",
                                         "boar", now)
    engine = app.state.wildlife.engine
    with TestClient(app):
        subscriber = app.state.wildlife_mqtt
        assert subscriber.connected.wait(10)
        real_receive = subscriber.ingest.receive
        failures = []

        def failing_once(*args, **kwargs):
            if not failures:
                failures.append(1)
                raise RuntimeError("database unavailable")  # an outage, not a bad message
            return real_receive(*args, **kwargs)

        subscriber.ingest.receive = failing_once
        _publish(broker, prefix, device.id, {"key": key, "event_id": "outage", "time": at(now),
                                     "species": "boar"})
        _wait(lambda: failures == [1])
        assert _detections(engine) == []
        broker.restart()  # the unacknowledged message comes back on reconnection
        _wait(lambda: _detections(engine) == ["outage"], timeout=20)
