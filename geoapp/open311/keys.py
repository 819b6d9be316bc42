"""API keys for clients that post through Open311: shown once, stored hashed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from geoapp.errors import Conflict, NotFound
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


class ApiKeys:
    """Issuing, checking and revoking API keys."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def issue(self, name: str, now: datetime) -> str:
        """A new key for client ``name``; the only time the key itself is seen."""
        check_text("name", name)
        key = new_key()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(api_keys.c.id).where(api_keys.c.name == name)).first():
                raise Conflict(f"a key named {name!r} exists; revoke it or pick another name")
            conn.execute(api_keys.insert().values(name=name, key_hash=key_hash(key),
                                                  created_at=now))
        return key

    def check(self, key: str | None) -> ApiKey | None:
        """The live key matching ``key``, or None."""
        if not key:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(
                api_keys.c.key_hash == key_hash(key), api_keys.c.revoked_at.is_(None))).first()
        return ApiKey(row.id, row.name, row.created_at, row.revoked_at) if row else None

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
            return [ApiKey(r.id, r.name, r.created_at, r.revoked_at) for r in rows]
