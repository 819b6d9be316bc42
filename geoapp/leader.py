"""Which one of the geoapp processes on a store runs the background work.

Mail, the MQTT subscription, the GTFS-Realtime reader and the photo sweeps must run in
exactly one process, however many workers and machines serve the store. Every process
tries to take a lock every few seconds; the one holding it leads. The lock dies with its
holder, so when the leader dies another process leads within a poll or two:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of
  its own, held open. The server drops the lock with the connection: at once when the
  process dies, within the TCP keepalive (about 10 s) when its machine vanishes.
- SQLite (one machine): an exclusive ``flock`` on a file beside the database file; the
  kernel releases it when the process dies, however it dies.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from geoapp.store.engine import CONNECT_TIMEOUT, TCP_USER_TIMEOUT_MS

logger = logging.getLogger(__name__)

#: Seconds between attempts to take the lead (and checks that it is still held).
POLL_SECONDS = 2.0
#: The advisory lock's key: "geoapp" in ASCII, the same in every geoapp process.
ADVISORY_KEY = 0x67656F617070
#: Server-side keepalive of the lock's connection: a leader whose machine vanished is
#: noticed after idle + interval × count seconds, and its lock released.
_KEEPALIVE = "-c tcp_keepalives_idle=4 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=2"


class Lock(Protocol):
    """A lock at most one process holds, released when its holder dies."""

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; whether this process holds it now."""

    def held(self) -> bool:
        """Whether this process still holds the lock it took."""

    def release(self) -> None:
        """Give the lock up (nothing if not held)."""


class AdvisoryLock:
    """PostgreSQL: a session-level advisory lock on a dedicated connection kept open."""

    def __init__(self, url: str) -> None:
        # No pool: the connection is the lock; a new one is made after it breaks.
        self._engine = sa.create_engine(url, poolclass=NullPool, connect_args={
            "connect_timeout": CONNECT_TIMEOUT, "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            "options": _KEEPALIVE})
        self._conn: sa.Connection | None = None

    def acquire(self) -> bool:
        """Connect if needed and try the lock once (never waits for it)."""
        try:
            if self._conn is None:
                # Autocommit: the session holds the lock, no transaction is left open.
                self._conn = self._engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT")
            got = self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"),
                                     {"key": ADVISORY_KEY}).scalar()
        except sa.exc.DBAPIError as exc:
            logger.warning("leader lock: database unavailable: %s",
                           str(exc.orig).strip().splitlines()[0] if exc.orig else exc)
            self._drop()
            return False
        return bool(got)

    def held(self) -> bool:
        """Whether the lock's connection still answers (the server keeps the lock while it does)."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError:
            self._drop()
            return False
        return True

    def release(self) -> None:
        """Close the connection: the server releases the lock with it."""
        self._drop()
        self._engine.dispose()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sa.exc.DBAPIError:
                pass  # already broken: the server has dropped the lock with it
            self._conn = None


class FileLock:
    """SQLite: an exclusive flock on a file, released by the kernel when the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Try the lock once (never waits for it)."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        """A flock lasts as long as its file stays open."""
        return self._fd is not None

    def release(self) -> None:
        """Close the file, which releases the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class OwnStore:
    """An in-memory SQLite store belongs to one process, which always leads it."""

    def acquire(self) -> bool:
        """Always: nobody else can reach this store."""
        return True

    def held(self) -> bool:
        """Always."""
        return True

    def release(self) -> None:
        """Nothing to give up."""


def lock_for(database_url: str) -> Lock:
    """The leader lock of the store at ``database_url``."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if not path or path == ":memory:":
            return OwnStore()
        return FileLock(Path(f"{path}.leader"))
    return AdvisoryLock(database_url)


class Leader:
    """Takes the lead when it can, runs ``start`` on gaining it and ``stop`` on losing it."""

    def __init__(self, lock: Lock, start: Callable[[], None], stop: Callable[[], None],
                 poll: float = POLL_SECONDS) -> None:
        self.lock = lock
        self.start = start
        self.stop = stop
        self.poll = poll
        self.leading = False

    async def step(self) -> None:
        """One attempt: take the lead if free, or check the lead is still ours."""
        if self.leading:
            if not await asyncio.to_thread(self.lock.held):
                logger.warning("lost the lead: background work stops in this process")
                self.leading = False
                self.stop()
        elif await asyncio.to_thread(self.lock.acquire):
            logger.info("leading: this process runs the background work (pid %d)", os.getpid())
            self.leading = True
            self.start()

    async def run(self) -> None:
        """Step every ``poll`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.step()
            except Exception:  # noqa: BLE001 (keep trying; the next step may succeed)
                logger.exception("leader election step failed")

    def resign(self) -> None:
        """Stop the background work and give the lock up (at shutdown)."""
        if self.leading:
            self.leading = False
            self.stop()
        self.lock.release()
