"""The submission rate limit kept in the store, so every process on one database shares it.

A sliding log: one row per counted submission, ``refused`` for those answered 4xx. A
reservation is taken before a submission runs (so parallel requests cannot all slip in under
the limit) and is afterwards kept, marked refused, or released.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from geoapp.errors import RateLimited
from geoapp.store.schema import rate_hits


@dataclass(frozen=True)
class Allowance:
    """At most ``limit`` accepted and ``refused_limit`` refused submissions per ``window`` s."""

    limit: int
    window: int
    refused_limit: int


class RateStore:
    """Reservations against an allowance, counted in the ``rate_hits`` table."""

    def __init__(self, engine: sa.Engine, keep: int) -> None:
        self.engine = engine
        #: Rows older than this many seconds are removed (the longest window in use).
        self.keep = keep

    def _serialise(self, conn: sa.Connection, key: str, now: datetime) -> None:
        """Make concurrent reservations for one key (from any process) take turns."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        # On SQLite this first write takes the database's write lock until commit; on
        # PostgreSQL it is only the cleanup that keeps the table bounded.
        conn.execute(rate_hits.delete().where(rate_hits.c.at < now - timedelta(seconds=self.keep)))

    def reserve(self, key: str, allowance: Allowance, now: datetime) -> int:
        """Count one submission for ``key`` (its row id); RateLimited if an allowance is spent."""
        since = now - timedelta(seconds=allowance.window)
        with self.engine.begin() as conn:
            self._serialise(conn, key, now)
            counts = conn.execute(
                sa.select(rate_hits.c.refused, sa.func.count(), sa.func.min(rate_hits.c.at))
                .where(rate_hits.c.key == key, rate_hits.c.at > since)
                .group_by(rate_hits.c.refused)).all()
            for refused, count, oldest in counts:
                if count >= (allowance.refused_limit if refused else allowance.limit):
                    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
                    wait = max(1, math.ceil((oldest - since).total_seconds()))
                    what = "refused submissions" if refused else "submissions"
                    raise RateLimited(f"too many {what} from this client; try again in {wait} s",
                                      wait)
            return conn.execute(rate_hits.insert().values(key=key, refused=False, at=now)
                                .returning(rate_hits.c.id)).scalar_one()

    def mark_refused(self, hit_id: int) -> None:
        """The submission was refused (4xx): count it against the refused allowance instead."""
        with self.engine.begin() as conn:
            conn.execute(rate_hits.update().where(rate_hits.c.id == hit_id).values(refused=True))

    def release(self, hit_id: int) -> None:
        """The submission failed on our side: it does not count at all."""
        with self.engine.begin() as conn:
            conn.execute(rate_hits.delete().where(rate_hits.c.id == hit_id))
