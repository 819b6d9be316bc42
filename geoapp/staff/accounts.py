"""Staff accounts: Argon2 passwords, roles, throttled logins, server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from geoapp.errors import Conflict, InvalidInput, NotFound
from geoapp.staff.throttle import LOCK_AFTER, LoginRefused, LoginThrottle
from geoapp.store.schema import departments, staff_sessions, staff_users
from geoapp.text import check_text, check_texts

__all__ = ["LOCK_AFTER", "ROLES", "Accounts", "LoginRefused", "Session", "StaffUser"]

Role = Literal["admin", "road", "department", "wildlife"]
ROLES: tuple[Role, ...] = ("admin", "road", "department", "wildlife")
SESSION_FOR = timedelta(hours=12)
MIN_PASSWORD = 12

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("geoapp-no-such-user")


@dataclass(frozen=True)
class StaffUser:
    """A member of staff as the service sees them (never the password hash)."""

    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    department_code: str | None
    active: bool

    def sees_all_reports(self) -> bool:
        """Road staff and admins triage every report; a department sees its own."""
        return self.role in ("admin", "road")


@dataclass(frozen=True)
class Session:
    """A logged-in session: whose it is and the CSRF token its forms must carry."""

    user: StaffUser
    csrf_token: str
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: sa.Row) -> StaffUser:
    return StaffUser(row.id, row.username, row.display_name, row.email, row.role,
                     row.department_code, row.active)


class Accounts:
    """Creating staff, checking passwords, and keeping sessions."""

    def __init__(self, engine: sa.Engine, checks_per_minute: int = 20) -> None:
        self.engine = engine
        self.throttle = LoginThrottle(engine, checks_per_minute)
        #: Argon2 verifications done by this object (how much work attackers cost us).
        self.password_checks = 0

    def create(self, username: str, password: str, role: str, now: datetime, *,
               display_name: str | None = None, email: str | None = None,
               department_code: str | None = None) -> StaffUser:
        """Add a member of staff; InvalidInput for a bad name, role or password."""
        check_texts({"username": username, "display_name": display_name, "email": email,
                     "department": department_code})
        username = username.strip()
        if not username or len(username) > 60 or not username.replace("-", "").replace(
                "_", "").replace(".", "").isalnum():
            raise InvalidInput("username", key="error.account.username")
        if role not in ROLES:
            raise InvalidInput("role", key="error.account.role", roles=", ".join(ROLES))
        if len(password) < MIN_PASSWORD:
            raise InvalidInput("password", key="error.account.password", min=MIN_PASSWORD)
        if role == "department" and not department_code:
            raise InvalidInput("department", key="error.account.department_missing")
        with self.engine.begin() as conn:
            if department_code and conn.execute(sa.select(departments.c.code).where(
                    departments.c.code == department_code)).first() is None:
                raise InvalidInput("department", key="error.account.department_unknown",
                                   code=department_code)
            if conn.execute(sa.select(staff_users.c.id).where(
                    staff_users.c.username == username)).first():
                raise Conflict(f"user {username!r} already exists")
            user_id = conn.execute(staff_users.insert().values(
                username=username, display_name=display_name or username, email=email,
                password_hash=_hasher.hash(password), role=role,
                department_code=department_code if role == "department" else None,
                active=True, failed_logins=0, created_at=now,
            ).returning(staff_users.c.id)).scalar_one()
        return self.get(user_id)

    def get(self, user_id: int) -> StaffUser:
        """One member of staff."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(staff_users).where(staff_users.c.id == user_id)).first()
        if row is None:
            raise NotFound(f"no staff user {user_id}")
        return _user(row)

    def all(self) -> list[StaffUser]:
        """Every member of staff, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(staff_users).order_by(staff_users.c.username))
            return [_user(r) for r in rows]

    def set_active(self, user_id: int, active: bool) -> StaffUser:
        """Enable or disable an account (disabling also ends its sessions)."""
        with self.engine.begin() as conn:
            conn.execute(staff_users.update().where(staff_users.c.id == user_id)
                         .values(active=active))
            if not active:
                conn.execute(staff_sessions.delete().where(staff_sessions.c.user_id == user_id))
        return self.get(user_id)

    def authenticate(self, username: str, password: str, now: datetime,
                     address: str = "-") -> StaffUser:
        """The user if the password is right; LoginRefused (with a pause or a wait) if not.

        ``address`` is where the try comes from: failures lock out that address only, and
        names that are not accounts go through exactly the same steps.
        """
        check_text("username", username)  # PostgreSQL refuses NUL even in a WHERE clause
        self.throttle.admit(username, address, now)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(staff_users).where(
                staff_users.c.username == username.strip())).first()
        # A name that is no (active) account is checked against a dummy hash, so the time
        # taken does not tell which staff names exist.
        live = row if row is not None and row.active else None
        self.password_checks += 1
        if _verify(live.password_hash if live else _DUMMY_HASH, password) and live:
            self.throttle.succeeded(username, address)
            return _user(live)
        raise self.throttle.failed(username, address, now)

    def open_session(self, user: StaffUser, now: datetime) -> tuple[str, Session]:
        """A new session: the cookie token (shown once) and the session it opens."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = now + SESSION_FOR
        with self.engine.begin() as conn:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.expires_at < now))
            conn.execute(staff_sessions.insert().values(
                token_hash=_token_hash(token), user_id=user.id, csrf_token=csrf,
                created_at=now, expires_at=expires))
        return token, Session(user, csrf, expires)

    def session(self, token: str, now: datetime) -> Session | None:
        """The live session for a cookie token, or None."""
        query = (sa.select(staff_sessions.c.csrf_token, staff_sessions.c.expires_at, staff_users)
                 .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
                 .where(staff_sessions.c.token_hash == _token_hash(token)))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.expires_at <= now or not row.active:
            return None
        return Session(_user(row), row.csrf_token, row.expires_at)

    def close_session(self, token: str) -> None:
        """Log out: the token stops working at once."""
        with self.engine.begin() as conn:
            conn.execute(staff_sessions.delete().where(
                staff_sessions.c.token_hash == _token_hash(token)))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
