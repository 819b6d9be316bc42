"""Login throttling an attacker cannot turn against the owner (in the store, both engines)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from geoapp.app import create_app
from geoapp.settings import Settings
from geoapp.staff.accounts import LOCK_AFTER, Accounts, LoginRefused
from tests.staff.conftest import NOW, PASSWORD

ATTACKER, OWNER = "198.51.100.7", "203.0.113.5"
WRONG = "wrong password!"


def _refusal(accounts, name, password, when, address) -> LoginRefused:
    with pytest.raises(LoginRefused) as refused:
        accounts.authenticate(name, password, when, address=address)
    return refused.value


def test_an_attacker_once_a_minute_does_not_keep_the_owner_out(accounts):
    locked_answers = 0
    for minute in range(45):
        when = NOW + timedelta(minutes=minute)
        locked_answers += _refusal(accounts, "admin", WRONG, when, ATTACKER).locked
        if minute % 5 == 4:  # the owner logs in now and then, from the office
            owner = accounts.authenticate("admin", PASSWORD, when + timedelta(seconds=30),
                                          address=OWNER)
            assert owner.username == "admin"
    assert locked_answers > 0  # the attacker's own address did get locked out
    # Even while the attacker's address is locked, the owner's is not.
    last = NOW + timedelta(minutes=45)
    assert _refusal(accounts, "admin", PASSWORD, last, ATTACKER).locked
    assert accounts.authenticate("admin", PASSWORD, last, address=OWNER).username == "admin"


def test_a_thousand_tries_from_many_addresses_check_at_most_the_ceiling(store):
    accounts = Accounts(store.engine, checks_per_minute=20)
    accounts.create("admin", PASSWORD, "admin", NOW)
    # 1,000 addresses within 50 seconds (and fewer for a name that is no account: the same).
    for name, tries in (("admin", 1000), ("no-such-user", 200)):
        before, later = accounts.password_checks, 0
        for attempt in range(tries):
            address = f"10.{attempt // 250}.{attempt % 250}.1"
            refused = _refusal(accounts, name, WRONG, NOW + timedelta(seconds=attempt / 20),
                               address)
            later += bool(refused.retry_after)
        assert accounts.password_checks - before == 20, name
        assert later == tries - 20  # "try again later", unchecked
    # Next minute, the owner gets in as usual.
    owner = accounts.authenticate("admin", PASSWORD, NOW + timedelta(seconds=61), address=OWNER)
    assert owner.username == "admin"


def test_after_a_lock_expires_one_mistake_does_not_lock_again(accounts):
    for _ in range(LOCK_AFTER):
        refused = _refusal(accounts, "road", WRONG, NOW, OWNER)
    assert refused.locked and refused.retry_after == 15 * 60
    checks = accounts.password_checks
    locked = _refusal(accounts, "road", PASSWORD, NOW + timedelta(minutes=1), OWNER)
    assert locked.locked and locked.retry_after == 14 * 60
    assert accounts.password_checks == checks  # not even checked while locked
    after = NOW + timedelta(minutes=16)
    slip = _refusal(accounts, "road", WRONG, after, OWNER)
    assert not slip.locked and slip.delay == 0
    assert accounts.authenticate("road", PASSWORD, after, address=OWNER).username == "road"


def test_success_resets_the_count(accounts):
    for _ in range(LOCK_AFTER - 1):
        _refusal(accounts, "road", WRONG, NOW, OWNER)
    accounts.authenticate("road", PASSWORD, NOW, address=OWNER)
    later = NOW + timedelta(minutes=2)
    refused = [_refusal(accounts, "road", WRONG, later, OWNER) for _ in range(LOCK_AFTER - 1)]
    assert not any(r.locked for r in refused) and refused[0].delay == 0


def test_counts_are_shared_by_processes_and_unknown_names_count_alike(store, accounts):
    other_process = Accounts(store.engine)  # another worker on the same database
    answers = {}
    for name in ("road", "no-such-user"):
        answers[name] = [
            (r.delay, r.locked, r.retry_after, str(r)) for r in (
                _refusal(accounts if i % 2 else other_process, name, WRONG, NOW, ATTACKER)
                for i in range(LOCK_AFTER + 1))]
    assert answers["road"] == answers["no-such-user"]
    assert answers["road"][-1][1]  # locked, across both "processes"


def _login(client: TestClient, password: str, **headers: str):
    page = client.get("/staff/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/staff/login", follow_redirects=False, headers=headers, data={
        "csrf": token, "username": "admin", "password": password, "next": "/staff"})


def test_http_login_locks_out_the_attacker_address_only(database_url, tmp_path):
    settings = Settings(environment="test", data_dir=tmp_path / "var", database_url=database_url,
                        trusted_proxies=["10.0.0.1"])
    app = create_app(settings)
    app.state.accounts.create("admin", PASSWORD, "admin", NOW)
    for _ in range(LOCK_AFTER):  # earlier failures from the attacker's address
        _refusal(app.state.accounts, "admin", WRONG, datetime.now(UTC), ATTACKER)
    with TestClient(app, client=(ATTACKER, 40000)) as attacker, \
            TestClient(app, client=("10.0.0.1", 40001)) as proxy, \
            TestClient(app, client=(OWNER, 40002)) as owner:
        refused = _login(attacker, PASSWORD)  # even the right password, for a while
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 800
        assert "ログインの試行が多すぎます" in refused.text
        # Through the city's proxy, the address is the one it names.
        assert _login(proxy, PASSWORD, **{"X-Forwarded-For": ATTACKER}).status_code == 429
        assert _login(proxy, PASSWORD, **{"X-Forwarded-For": OWNER}).status_code == 303
        # Claiming another address without being the proxy changes nothing.
        assert _login(attacker, PASSWORD, **{"X-Forwarded-For": OWNER}).status_code == 429
        wrong = _login(owner, WRONG)
        assert wrong.status_code == 401 and "ログインできませんでした" in wrong.text
        assert _login(owner, PASSWORD).status_code == 303
