"""The device registry: sensors, cameras and traps, each with a key shown once, stored hashed.

Keys are 256-bit random tokens, so a plain SHA-256 is enough (no password stretching).
A trap's position is never public, whatever visibility was asked for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from geoapp.errors import InvalidInput, NotFound, Unauthorized
from geoapp.keys import key_hash, new_key
from geoapp.store.schema import wildlife_devices
from geoapp.text import check_texts
from geoapp.wildlife.vocab import KINDS, STATUSES, VISIBILITIES, choice, species_code

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Device:
    """A registered device (never its key)."""

    id: int
    name: str
    kind: str
    lon: float
    lat: float
    species: tuple[str, ...]
    owner: str
    officers: tuple[str, ...]
    status: str
    visibility: str
    created_at: datetime

    @property
    def public_visibility(self) -> str:
        """How the public may see it: a trap is always hidden."""
        return "hidden" if self.kind == "trap" else self.visibility


def _device(row: sa.Row) -> Device:
    return Device(row.id, row.name, row.kind, row.lon, row.lat, tuple(row.species), row.owner,
                  tuple(row.officers), row.status, row.visibility, row.created_at)


def _position(lon: float, lat: float) -> tuple[float, float]:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
            and -90 <= lat <= 90):
        raise InvalidInput("location", key="error.device.location")
    return lon, lat


class Devices:
    """Registering, finding and retiring devices."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def register(self, *, name: str, kind: str, lon: float, lat: float,
                 species: Sequence[str], owner: str, now: datetime,
                 officers: Sequence[str] = (), visibility: str = "mesh",
                 status: str = "active") -> tuple[Device, str]:
        """A new device and its key; the only time the key itself is seen."""
        check_texts({"name": name, "kind": kind, "owner": owner, "visibility": visibility,
                     "status": status, "officers": " ".join(officers)})
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name", key="error.device.name")
        kind = choice(KINDS, kind, "kind")
        visibility = "hidden" if kind == "trap" else choice(VISIBILITIES, visibility,
                                                            "visibility")
        status = choice(STATUSES, status, "status")
        codes = sorted({species_code(s) for s in species})
        if not codes:
            raise InvalidInput("species", key="error.device.species")
        emails = [e.strip() for e in officers if e.strip()]
        for email in emails:
            if not _EMAIL.match(email):
                raise InvalidInput("officers", key="error.device.officer", email=email)
        lon, lat = _position(lon, lat)
        key = new_key()
        with self.engine.begin() as conn:
            device_id = conn.execute(wildlife_devices.insert().values(
                name=name, kind=kind, lon=lon, lat=lat, species=codes,
                owner=owner.strip() or "新発田市", officers=emails, status=status,
                visibility=visibility, key_hash=key_hash(key), created_at=now,
            ).returning(wildlife_devices.c.id)).scalar_one()
        return self.get(device_id), key

    def get(self, device_id: int) -> Device:
        """One device; NotFound if there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(wildlife_devices).where(
                wildlife_devices.c.id == device_id)).first()
        if row is None:
            raise NotFound(f"no device {device_id}")
        return _device(row)

    def all(self) -> list[Device]:
        """Every device, by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(wildlife_devices).order_by(wildlife_devices.c.id))
            return [_device(r) for r in rows]

    def authenticate(self, key: str | None, device_id: int | None = None) -> Device:
        """The device a key belongs to; Unauthorized for a missing, wrong or foreign key."""
        if not key:
            raise Unauthorized("send the device key (header X-Device-Key)")
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(wildlife_devices).where(
                wildlife_devices.c.key_hash == key_hash(key))).first()
        if row is None or (device_id is not None and row.id != device_id):
            raise Unauthorized("the device key is not valid")
        return _device(row)

    def set_status(self, device_id: int, status: str) -> Device:
        """Mark a device active, under maintenance or retired."""
        status = choice(STATUSES, status, "status")
        with self.engine.begin() as conn:
            done = conn.execute(wildlife_devices.update().where(
                wildlife_devices.c.id == device_id).values(status=status)).rowcount
        if not done:
            raise NotFound(f"no device {device_id}")
        return self.get(device_id)
