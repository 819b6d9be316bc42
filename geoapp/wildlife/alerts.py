"""Alert subscriptions (double opt-in, unsubscribe links) and the mails detections cause.

Matching and mail text use only the position the public may see: a hidden device's
detections (every trap's) reach whole-city subscribers only, and say no more than "in the
city", so no subscriber can locate a trap by drawing small circles.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa

from geoapp.errors import InvalidInput
from geoapp.geodesy import to_metric
from geoapp.i18n import Lang
from geoapp.mail.outbox import enqueue
from geoapp.mail.render import MailTexts
from geoapp.reports.boundary import CityBoundary
from geoapp.store.schema import staff_users, wildlife_subscriptions
from geoapp.text import check_text
from geoapp.wildlife.detections import Detection, public_position
from geoapp.wildlife.devices import Device
from geoapp.wildlife.vocab import SPECIES, names, species_code

MIN_RADIUS_M = 200.0
MAX_RADIUS_M = 20_000.0
#: Detections observed longer ago than this are stored but alert nobody (a late backlog).
ALERT_WITHIN = timedelta(hours=3)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class Alerts:
    """Subscriptions, and queuing the alert mails a new detection causes."""

    def __init__(self, engine: sa.Engine, boundary: CityBoundary, root: str,
                 mail: MailTexts | None = None) -> None:
        self.engine = engine
        self.boundary = boundary
        self.root = root  # URL prefix for links in mails
        self.mail = mail or MailTexts()

    # Subscriptions ---------------------------------------------------------------------

    def subscribe(self, *, email: str, species: Sequence[str], lang: Lang, now: datetime,
                  lon: float | None = None, lat: float | None = None,
                  radius_m: float | None = None) -> str:
        """Record an unconfirmed subscription and queue the mail asking to confirm it."""
        check_text("email", email)  # the address pattern lets NUL through
        email = (email or "").strip()
        if len(email) > 254 or not _EMAIL.match(email):
            raise InvalidInput("email", key="error.email")
        codes = sorted({species_code(s) for s in species})
        if not codes:
            raise InvalidInput("species", key="error.alerts.species_missing")
        area = (lon, lat, radius_m)
        if any(v is not None for v in area):
            if any(v is None or not math.isfinite(v) for v in area):
                raise InvalidInput("area", key="error.alerts.area_incomplete")
            assert lon is not None and lat is not None and radius_m is not None
            if not self.boundary.contains(lon, lat):
                raise InvalidInput("location", key="error.alerts.point_outside_city")
            if not MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M:
                raise InvalidInput("radius", key="error.alerts.radius",
                                   min=MIN_RADIUS_M, max=MAX_RADIUS_M)
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(wildlife_subscriptions.insert().values(
                email=email, lang=lang, species=codes, lon=lon, lat=lat, radius_m=radius_m,
                token=token, created_at=now, confirmed_at=None, active=True))
            subject, body = self.mail.render(
                "alert_confirm", lang, species=[names(SPECIES, c) for c in codes],
                link=f"{self.root}/wildlife/alerts/confirm/{token}")
            enqueue(conn, email, subject, body, now)
        return token

    def confirm(self, token: str, now: datetime) -> bool:
        """Confirm a subscription (double opt-in); False for an unknown token."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(wildlife_subscriptions).where(
                wildlife_subscriptions.c.token == token,
                wildlife_subscriptions.c.active.is_(True))).first()
            if row is None:
                return False
            if row.confirmed_at is None:
                conn.execute(wildlife_subscriptions.update().where(
                    wildlife_subscriptions.c.id == row.id).values(confirmed_at=now))
        return True

    def unsubscribe(self, token: str) -> bool:
        """Stop a subscription; False for an unknown or already stopped one."""
        with self.engine.begin() as conn:
            return bool(conn.execute(wildlife_subscriptions.update().where(
                wildlife_subscriptions.c.token == token,
                wildlife_subscriptions.c.active.is_(True)).values(active=False)).rowcount)

    # Alerts ----------------------------------------------------------------------------

    def _matching(self, conn: sa.Connection, detection: Detection) -> list[sa.Row]:
        rows = conn.execute(sa.select(wildlife_subscriptions).where(
            wildlife_subscriptions.c.active.is_(True),
            wildlife_subscriptions.c.confirmed_at.is_not(None))).all()
        rows = [r for r in rows if detection.species in r.species]
        position = public_position(detection)
        whole_city = [r for r in rows if r.radius_m is None]
        circles = [r for r in rows if r.radius_m is not None]
        if position is None or not circles:
            return whole_city  # a hidden position is matched against nothing smaller
        xs, ys = to_metric(np.array([position.lon] + [r.lon for r in circles]),
                           np.array([position.lat] + [r.lat for r in circles]))
        distances = np.hypot(xs[1:] - xs[0], ys[1:] - ys[0])
        near = [r for r, d in zip(circles, distances, strict=True) if d <= r.radius_m]
        return whole_city + near

    def queue_for(self, conn: sa.Connection, detection: Detection, device: Device | None,
                  now: datetime) -> int:
        """Queue, in the caller's transaction, every mail a new detection causes."""
        queued = 0
        if device is not None and detection.event == "triggered":
            queued += self._queue_officers(conn, detection, device, now)
        if device is not None and device.status != "active":
            return queued  # a device under maintenance may be tested: no public alerts
        if detection.observed_at < now - ALERT_WITHIN:
            return queued
        for row in self._matching(conn, detection):
            subject, body = self.subscriber_mail(detection, row.lang, row.token)
            enqueue(conn, row.email, subject, body, now)
            queued += 1
        return queued

    def subscriber_mail(self, detection: Detection, lang: Lang, token: str) -> tuple[str, str]:
        """The alert mail to one subscriber: only what the public may know."""
        return self.mail.render(
            "alert_detection", lang, species=names(SPECIES, detection.species),
            count=detection.count or 1, observed_at=detection.observed_at,
            position=public_position(detection),
            listing=f"{self.root}/wildlife/detections?f=html&lang={lang}",
            unsubscribe=f"{self.root}/wildlife/alerts/unsubscribe/{token}")

    def _queue_officers(self, conn: sa.Connection, detection: Detection, device: Device,
                        now: datetime) -> int:
        """A trap was triggered: tell the officers responsible at once, with its position."""
        subject, body = self.mail.render(
            "trap_triggered", "ja", device=device, observed_at=detection.observed_at,
            species=names(SPECIES, detection.species), link=f"{self.root}/staff/wildlife")
        addresses = list(device.officers)
        if not addresses:  # no one named: every active wildlife officer with an address
            addresses = list(conn.execute(sa.select(staff_users.c.email).where(
                staff_users.c.role == "wildlife", staff_users.c.active.is_(True),
                staff_users.c.email.is_not(None))).scalars())
        for address in addresses:
            enqueue(conn, address, subject, body, now)
        return len(addresses)
