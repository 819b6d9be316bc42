"""API keys for clients that post through Open311: shown once, stored hashed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from geoapp.errors import Conflict, InvalidInput, NotFound
from geoapp.keys import key_hash, new_key
from geoapp.store.schema import api_keys
from geoapp.text import check_text


@dataclass(frozen=True)
class ApiKey:
    """An issued key (without the key itself)."""

    id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None
    quota_per_hour: int


#: Accepted posts per hour a new key may make, until an admin sets another quota.
DEFAULT_QUOTA = 1000
MAX_QUOTA = 1_000_000


def _key(row: sa.Row) -> ApiKey:
    return ApiKey(row.id, row.name, row.created_at, row.revoked_at, row.quota_per_hour)


def check_quota(quota: int) -> int:
    """A quota an admin may set (1 to MAX_QUOTA posts per hour); InvalidInput otherwise."""
    if not 1 <= quota <= MAX_QUOTA:
        raise InvalidInput("quota", key="error.input.quota_range", max=MAX_QUOTA)
    return quota


class ApiKeys:
    """Issuing, checking and revoking API keys."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def issue(self, name: str, now: datetime, quota: int | None = None) -> str:
        """A new key for client ``name`` (DEFAULT_QUOTA posts per hour unless given).

        The only time the key itself is seen.
        """
        quota = check_quota(DEFAULT_QUOTA if quota is None else quota)
        check_text("name", name)
        key = new_key()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(api_keys.c.id).where(api_keys.c.name == name)).first():
                raise Conflict(f"a key named {name!r} exists; revoke it or pick another name")
            conn.execute(api_keys.insert().values(name=name, key_hash=key_hash(key),
                                                  created_at=now, quota_per_hour=quota))
        return key

    def check(self, key: str | None) -> ApiKey | None:
        """The live key matching ``key``, or None."""
        if not key:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(
                api_keys.c.key_hash == key_hash(key), api_keys.c.revoked_at.is_(None))).first()
        return _key(row) if row else None

    def set_quota(self, name: str, quota: int) -> None:
        """Change how many posts per hour a live key may make (applies at once)."""
        check_quota(quota)
        with self.engine.begin() as conn:
            done = conn.execute(api_keys.update().where(
                api_keys.c.name == name, api_keys.c.revoked_at.is_(None)
            ).values(quota_per_hour=quota)).rowcount
        if not done:
            raise NotFound(f"no live key named {name!r}")

    def revoke(self, name: str, now: datetime) -> None:
        """Stop a key working at once."""
        check_text("name", name)
        with self.engine.begin() as conn:
            done = conn.execute(api_keys.update().where(
                api_keys.c.name == name, api_keys.c.revoked_at.is_(None)
            ).values(revoked_at=now)).rowcount
        if not done:
            raise NotFound(f"no live key named {name!r}")

    def all(self) -> list[ApiKey]:
        """Every key issued, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.id.desc()))
            return [_key(r) for r in rows]
