"""Staff accounts: hashed passwords, throttling and lock-out, sessions (on both engines)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from geoapp.errors import Conflict, InvalidInput
from geoapp.staff.accounts import LOCK_AFTER, LoginRefused
from tests.staff.conftest import NOW, PASSWORD


def test_passwords_are_stored_as_argon2_hashes(accounts, store):
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM staff_users")).scalars().all()
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in stored)


def test_the_right_password_logs_in(accounts):
    assert accounts.authenticate("road", PASSWORD, NOW).role == "road"


def test_failures_slow_down_then_lock_the_account(accounts):
    delays = []
    for _ in range(LOCK_AFTER):
        with pytest.raises(LoginRefused) as refused:
            accounts.authenticate("road", "wrong password!", NOW)
        delays.append(refused.value.delay)
    assert delays[0] == 0 and delays[-1] > delays[3] > 0
    assert refused.value.locked
    with pytest.raises(LoginRefused, match="locked"):  # even the right password, for a while
        accounts.authenticate("road", PASSWORD, NOW + timedelta(minutes=1))
    assert accounts.authenticate("road", PASSWORD, NOW + timedelta(hours=1)).username == "road"


def test_unknown_and_disabled_users_are_refused_alike(accounts):
    with pytest.raises(LoginRefused, match="wrong user name or password"):
        accounts.authenticate("nobody", PASSWORD, NOW)
    road = accounts.authenticate("road", PASSWORD, NOW)
    accounts.set_active(road.id, False)
    with pytest.raises(LoginRefused, match="wrong user name or password"):
        accounts.authenticate("road", PASSWORD, NOW)


def test_sessions_end_on_logout_expiry_and_disabling(accounts):
    user = accounts.authenticate("road", PASSWORD, NOW)
    token, session = accounts.open_session(user, NOW)
    assert accounts.session(token, NOW).user.id == user.id
    assert accounts.session(token, NOW + timedelta(hours=13)) is None
    accounts.close_session(token)
    assert accounts.session(token, NOW) is None
    token, _ = accounts.open_session(user, NOW)
    accounts.set_active(user.id, False)
    assert accounts.session(token, NOW) is None


@pytest.mark.parametrize(
    ("args", "field"),
    [(("x y", PASSWORD, "road"), "username"), (("ok", "short", "road"), "password"),
     (("ok", PASSWORD, "mayor"), "role"), (("ok", PASSWORD, "department"), "department")],
)
def test_bad_accounts_are_refused(accounts, args, field):
    with pytest.raises(InvalidInput) as error:
        accounts.create(*args, NOW)
    assert error.value.field == field


def test_user_names_are_unique(accounts):
    with pytest.raises(Conflict):
        accounts.create("road", PASSWORD, "road", NOW)


def test_unknown_names_slow_down_like_real_ones(accounts):
    """The pause must not tell an attacker which staff names exist."""
    def delays(name):
        out = []
        for _ in range(5):
            with pytest.raises(LoginRefused) as refused:
                accounts.authenticate(name, "wrong password!", NOW)
            out.append(refused.value.delay)
        return out

    assert delays("no-such-user") == delays("road")
