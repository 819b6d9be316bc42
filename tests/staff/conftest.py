"""Staff fixtures: accounts of each role and logged-in clients."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from geoapp.app import create_app
from geoapp.staff.accounts import Accounts
from geoapp.staff.workflow import Workflow

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


@pytest.fixture
def accounts(store) -> Accounts:
    """Accounts on each engine, with one member of staff per role."""
    accounts = Accounts(store.engine)
    accounts.create("admin", PASSWORD, "admin", NOW, display_name="管理 者")
    accounts.create("road", PASSWORD, "road", NOW, display_name="道路 一郎")
    accounts.create("env", PASSWORD, "department", NOW, display_name="環境 花子",
                    department_code="environment")
    accounts.create("parks", PASSWORD, "department", NOW, display_name="公園 次郎",
                    department_code="parks")
    accounts.create("wild", PASSWORD, "wildlife", NOW, display_name="鳥獣 三郎")
    return accounts


@pytest.fixture
def workflow(store) -> Workflow:
    """The workflow on each engine."""
    return Workflow(store.engine, "https://map.example.jp")


@pytest.fixture
def app(engine_settings):
    """An app with one account per role."""
    app = create_app(engine_settings)
    accounts = app.state.accounts
    for name, role, department in (("admin", "admin", None), ("road", "road", None),
                                   ("env", "department", "environment"),
                                   ("wild", "wildlife", None)):
        accounts.create(name, PASSWORD, role, NOW, department_code=department,
                        display_name=f"{name} san")
    return app


def login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    """Log in through the form, as a browser would."""
    page = client.get("/staff/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = client.post("/staff/login", follow_redirects=False, data={
        "csrf": token, "username": username, "password": password, "next": "/staff"})
    assert response.status_code == 303, response.text


def csrf_of(client: TestClient, url: str = "/staff") -> str:
    """The CSRF token the session's forms carry, read from a staff page."""
    return re.search(r'name="csrf" value="([^"]+)"', client.get(url).text).group(1)


@pytest.fixture
def staff_client(app):
    """A factory of clients logged in as a given user."""
    clients = []

    def make(username: str) -> TestClient:
        client = TestClient(app)
        clients.append(client)
        login(client, username)
        return client

    yield make
    for client in clients:
        client.close()
