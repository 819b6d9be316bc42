"""The MQTT subscriber: each device publishes to its own topic; messages go through Ingest.

Topic: ``{prefix}/devices/{device id}/detections``, payload the same JSON object the HTTP
API takes, with the device's ``key`` in it. geoapp keeps a persistent session (a fixed
client id, clean_session off, QoS 1), so messages published while it reconnects after a
broker restart are delivered when it is back. A rejected message is answered on
``{prefix}/devices/{id}/errors``.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from geoapp.errors import GeoappError, StoreUnavailable
from geoapp.wildlife.ingest import Ingest

logger = logging.getLogger("geoapp.wildlife.mqtt")


def parse_broker(url: str) -> tuple[str, int, str | None, str | None, bool]:
    """(host, port, username, password, tls) from ``mqtt://`` or ``mqtts://`` URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("the MQTT URL must look like mqtt://host:1883 or mqtts://host:8883")
    tls = parts.scheme == "mqtts"
    return (parts.hostname, parts.port or (8883 if tls else 1883),
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None, tls)


class Subscriber:
    """A background MQTT client feeding detections to ``Ingest``; reconnects by itself."""

    def __init__(self, ingest: Ingest, url: str, prefix: str, client_id: str) -> None:
        self.ingest = ingest
        self.host, self.port, username, password, tls = parse_broker(url)
        self.prefix = prefix.strip("/")
        self.connected = threading.Event()
        #: Set once the broker granted the subscription (SUBACK), cleared when the connection
        #: ends: whether this process is the one receiving the devices' messages now.
        self.subscribed = threading.Event()
        # Manual acks: a message is acknowledged only once it is stored (or refused for
        # good), so a database failure leaves it with the broker to be delivered again.
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, manual_ack=True)
        if username:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    @property
    def topic(self) -> str:
        """The subscription: every device's own topic."""
        return f"{self.prefix}/devices/+/detections"

    def start(self) -> None:
        """Connect in the background (and keep reconnecting while the broker is away)."""
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self.subscribed.clear()
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: paho.Client, _userdata: object, _flags: object,
                    reason_code: object, _properties: object) -> None:
        if getattr(reason_code, "is_failure", False):
            logger.warning("MQTT broker refused the connection: %s", reason_code)
            return
        client.subscribe(self.topic, qos=1)
        self.connected.set()
        logger.info("MQTT connected to %s:%s, subscribed to %s", self.host, self.port,
                    self.topic)

    def _on_subscribe(self, _client: paho.Client, _userdata: object, _mid: int,
                      reason_codes: list[ReasonCode], _properties: Properties) -> None:
        if any(code.is_failure for code in reason_codes):
            logger.warning("MQTT broker refused the subscription to %s: %s", self.topic,
                           reason_codes)
            return
        self.subscribed.set()

    def _on_disconnect(self, _client: paho.Client, _userdata: object, _flags: object,
                       reason_code: object, _properties: object) -> None:
        self.connected.clear()
        self.subscribed.clear()
        logger.warning("MQTT disconnected (%s); reconnecting", reason_code)

    def _on_message(self, client: paho.Client, _userdata: object,
                    message: paho.MQTTMessage) -> None:
        parts = message.topic.split("/")
        device = parts[-2] if len(parts) >= 3 else ""
        try:
            if not device.isdigit():
                raise ValueError(f"no device id in topic {message.topic!r}")
            try:
                body = orjson.loads(message.payload)
            except orjson.JSONDecodeError:
                body = None  # Ingest refuses a body that is not an object
            key = body.get("key") if isinstance(body, dict) else None
            received = self.ingest.receive(key, body, source="mqtt", device_id=int(device))
            client.ack(message.mid, message.qos)
            logger.info("MQTT detection %s from device %s (%s)", received.detection.id,
                        device, "stored" if received.created else "repeated")
        except StoreUnavailable:
            # Not a refusal: the database is away. Unacknowledged, the broker delivers the
            # message again (on reconnection) instead of it being lost.
            logger.warning("MQTT message on %s not stored: database unavailable; left "
                           "unacknowledged", message.topic)
        except (GeoappError, ValueError) as exc:
            client.ack(message.mid, message.qos)  # refused for good: retrying cannot help
            detail = getattr(exc, "detail", str(exc))
            logger.warning("MQTT message on %s refused: %s", message.topic, detail)
            if device.isdigit():
                client.publish(f"{self.prefix}/devices/{device}/errors", orjson.dumps(
                    {"status": "refused", "detail": detail,
                     "field": getattr(exc, "field", None)}), qos=0)
        except Exception:  # noqa: BLE001 (one bad message must not stop the subscriber)
            # Not acknowledged: the broker keeps it and delivers it again on reconnection.
            logger.exception("MQTT message on %s failed; left unacknowledged", message.topic)
