"""Login throttling kept in the store, so that every process on one database agrees.

Failures are counted per (account name, source address): an attacker locks out only
themselves, never the owner trying from elsewhere. Across all addresses, an account name
gets at most ``checks_per_minute`` password checks; beyond that the answer is "try again
later" without checking, so many addresses buy an attacker nothing. Names are stored as
hashes and treated the same whether or not they are accounts, so nothing tells which exist.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import sqlalchemy as sa

from geoapp.store.schema import login_checks, login_failures

#: After this many failures in a row from one address, each further try waits (up to SLOW_MAX s).
SLOW_AFTER = 3
SLOW_MAX = 8.0
#: After this many failures in a row from one address, that address is locked for LOCK_FOR.
LOCK_AFTER = 10
LOCK_FOR = timedelta(minutes=15)
#: A (name, address) pair that has not failed for this long starts afresh.
FORGET_AFTER = timedelta(hours=1)
CHECK_WINDOW = timedelta(minutes=1)


class LoginRefused(Exception):
    """A login that did not succeed: ``delay`` to impose, or ``retry_after`` seconds to wait."""

    def __init__(self, message: str, delay: float = 0.0, locked: bool = False,
                 retry_after: int = 0) -> None:
        super().__init__(message)
        self.delay = delay
        self.locked = locked
        self.retry_after = retry_after


def _name_hash(username: str) -> str:
    return hashlib.sha256(username.strip().encode()).hexdigest()


def _wait(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def delay_after(failures: int) -> float:
    """The pause imposed after ``failures`` failures in a row."""
    return 0.0 if failures < SLOW_AFTER else min(SLOW_MAX, 0.5 * 2 ** (failures - SLOW_AFTER))


class LoginThrottle:
    """Whether a password may be checked now, and what a failure or success changes."""

    def __init__(self, engine: sa.Engine, checks_per_minute: int) -> None:
        self.engine = engine
        self.checks_per_minute = checks_per_minute

    def admit(self, username: str, address: str, now: datetime) -> None:
        """Allow one password check, or raise LoginRefused (locked, or too many checks)."""
        name, address = _name_hash(username), address[:64]
        pair = (login_failures.c.name_hash == name) & (login_failures.c.address == address)
        with self.engine.begin() as conn:
            # Bounded growth: forget finished windows and stale, unlocked failure counts.
            # (On SQLite this first write also makes concurrent logins take turns.)
            conn.execute(login_checks.delete().where(
                login_checks.c.window_start <= now - CHECK_WINDOW))
            conn.execute(login_failures.delete().where(
                login_failures.c.last_failure_at < now - FORGET_AFTER,
                sa.or_(login_failures.c.locked_until.is_(None),
                       login_failures.c.locked_until <= now)))
            row = conn.execute(sa.select(login_failures.c.locked_until).where(pair)).first()
            if row is not None and row.locked_until is not None:
                if row.locked_until > now:
                    raise LoginRefused(
                        "locked for this address after many failures; try again later",
                        locked=True, retry_after=_wait(row.locked_until, now))
                # The lock has run out: start afresh, so one more mistake does not relock.
                conn.execute(login_failures.delete().where(pair))
            self._count_check(conn, name, now)

    def _count_check(self, conn: sa.Connection, name: str, now: datetime) -> None:
        counted = conn.execute(login_checks.update().where(
            login_checks.c.name_hash == name, login_checks.c.checks < self.checks_per_minute
        ).values(checks=login_checks.c.checks + 1)).rowcount
        if counted:
            return
        try:
            with conn.begin_nested():
                conn.execute(login_checks.insert().values(name_hash=name, window_start=now,
                                                          checks=1))
            return
        except sa.exc.IntegrityError:
            pass  # the window exists and is full (or another process just opened it)
        start = conn.execute(sa.select(login_checks.c.window_start).where(
            login_checks.c.name_hash == name)).scalar()
        raise LoginRefused("too many login attempts for this account; try again later",
                           retry_after=_wait((start or now) + CHECK_WINDOW, now))

    def failed(self, username: str, address: str, now: datetime) -> LoginRefused:
        """Count a wrong password from ``address``; the refusal to answer with."""
        name, address = _name_hash(username), address[:64]
        pair = (login_failures.c.name_hash == name) & (login_failures.c.address == address)
        with self.engine.begin() as conn:
            failures = conn.execute(login_failures.update().where(pair).values(
                failures=login_failures.c.failures + 1, last_failure_at=now,
            ).returning(login_failures.c.failures)).scalar()
            if failures is None:
                try:
                    with conn.begin_nested():
                        conn.execute(login_failures.insert().values(
                            name_hash=name, address=address, failures=1, last_failure_at=now))
                    failures = 1
                except sa.exc.IntegrityError:  # another process counted this pair first
                    failures = conn.execute(login_failures.update().where(pair).values(
                        failures=login_failures.c.failures + 1, last_failure_at=now,
                    ).returning(login_failures.c.failures)).scalar_one()
            locked = failures >= LOCK_AFTER
            if locked:
                conn.execute(login_failures.update().where(pair)
                             .values(locked_until=now + LOCK_FOR))
        return LoginRefused("wrong user name or password", delay=delay_after(failures),
                            locked=locked, retry_after=int(LOCK_FOR.total_seconds()) if locked
                            else 0)

    def succeeded(self, username: str, address: str) -> None:
        """The right password from ``address``: its failures are forgotten."""
        with self.engine.begin() as conn:
            conn.execute(login_failures.delete().where(
                login_failures.c.name_hash == _name_hash(username),
                login_failures.c.address == address[:64]))
