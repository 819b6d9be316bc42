"""The submission rate limit, kept in the database: shared by processes, fair to retries."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geoapp.app import create_app
from geoapp.cli import cli
from geoapp.settings import Settings
from tests.staff.conftest import NOW, PASSWORD, csrf_of, login

CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}
PROXY, RESIDENT, NEIGHBOUR = "10.0.0.1", "198.51.100.20", "198.51.100.21"


def _post(client: TestClient, headers: dict[str, str] | None = None, **fields: str):
    data = {"category": "gutter", "description": "側溝のふたが割れています", **CITY_HALL, **fields}
    return client.post("/api/v1/reports", data=data, headers=headers or {})


def _open311(client: TestClient, key: str):
    return client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "gutter", "description": "側溝のふたが割れている",
        "lat": CITY_HALL["lat"], "long": CITY_HALL["lon"]})


@pytest.fixture
def two_processes(database_url, tmp_path):
    """Two geoapps on one database, as two server processes would be; clients by address."""
    settings = Settings(environment="test", data_dir=tmp_path / "var", database_url=database_url,
                        trusted_proxies=[PROXY], report_refused_limit=15)
    apps = (create_app(settings), create_app(settings))
    with ExitStack() as stack:
        def client(app_index: int, address: str) -> TestClient:
            return stack.enter_context(TestClient(apps[app_index], client=(address, 50000)))
        yield apps, client


def test_processes_share_one_limit(two_processes):
    _, client = two_processes
    first, second = client(0, RESIDENT), client(1, RESIDENT)
    answers = [_post(first if i % 2 else second).status_code for i in range(10)]
    assert answers == [201] * 10
    eleventh = _post(first)
    assert eleventh.status_code == 429 and 0 < int(eleventh.headers["retry-after"]) <= 600
    assert eleventh.headers["content-type"].startswith("application/problem+json")
    assert _post(second).status_code == 429
    assert _post(client(1, NEIGHBOUR)).status_code == 201  # someone else is not held up


def test_retries_of_a_stored_report_do_not_count(two_processes):
    _, client = two_processes
    first, second = client(0, RESIDENT), client(1, RESIDENT)
    headers = {"Idempotency-Key": "phone-retry-1"}
    assert _post(first, headers).status_code == 201
    retries = [_post(second if i % 2 else first, headers) for i in range(11)]
    assert [r.status_code for r in retries] == [200] * 11
    assert len({r.json()["number"] for r in retries}) == 1
    # A key reused for different content is refused (and counted as a refusal).
    assert _post(first, headers, description="違う内容").status_code == 409
    # The retries left the whole allowance but the first report: 9 more, then 429.
    assert [_post(first).status_code for _ in range(9)] == [201] * 9
    assert _post(second).status_code == 429
    assert _post(second, headers).status_code == 200  # a retry is still answered


def test_refused_posts_do_not_use_up_the_allowance(two_processes):
    _, client = two_processes
    first, second = client(0, RESIDENT), client(1, RESIDENT)
    refused = [_post(first if i % 2 else second, category="teleport") for i in range(10)]
    assert [r.status_code for r in refused] == [422] * 10
    assert _post(first).status_code == 201
    # Refused posts have their own, higher limit (15 here): then even they are 429.
    assert [_post(second, lat="north").status_code for _ in range(5)] == [422] * 5
    assert _post(first, lat="north").status_code == 429
    assert _post(second).status_code == 429  # spamming refusals is not free either
    assert _post(client(0, NEIGHBOUR)).status_code == 201


def test_the_form_counts_refusals_apart_too(two_processes):
    _, client = two_processes
    form = client(0, RESIDENT)
    data = {"category": "gutter", "description": "側溝のふたが割れています", "lang": "ja"}
    for _ in range(10):
        page = form.post("/reports/new", data={**data, "lat": "37.9161", "lon": "139.0236"})
        assert page.status_code == 422 and "新発田市の外" in page.text
    done = form.post("/reports/new", data={**data, **CITY_HALL}, follow_redirects=False)
    assert done.status_code == 303 and "/receipt" in done.headers["location"]


def test_forwarded_for_counts_only_through_the_trusted_proxy(two_processes):
    _, client = two_processes
    spoofer = client(0, RESIDENT)
    answers = [_post(spoofer, {"X-Forwarded-For": f"203.0.113.{i}"}).status_code
               for i in range(11)]
    assert answers == [201] * 10 + [429]  # the header is ignored: one address, one limit
    proxy = client(1, PROXY)
    behind = [_post(proxy, {"X-Forwarded-For": "203.0.113.50"}).status_code for _ in range(11)]
    assert behind == [201] * 10 + [429]
    assert _post(proxy, {"X-Forwarded-For": "203.0.113.51"}).status_code == 201


def test_an_open311_key_has_its_own_quota(two_processes):
    apps, client = two_processes
    small = apps[0].state.api_keys.issue("patrol-app", datetime.now(UTC), quota=3)
    big = apps[0].state.api_keys.issue("city-app", datetime.now(UTC))
    first, second = client(0, RESIDENT), client(1, RESIDENT)
    assert [_open311(first if i % 2 else second, small).status_code
            for i in range(3)] == [201] * 3
    over = _open311(first, small)
    assert over.status_code == 429 and int(over.headers["retry-after"]) > 0
    assert over.json()[0]["code"] == 429
    # The key's quota is not the address's allowance: the form from here still works ...
    assert [_post(first).status_code for _ in range(10)] == [201] * 10
    assert _post(first).status_code == 429
    # ... and a spent address allowance does not stop another key's client at that address.
    assert _open311(second, big).status_code == 201
    # An admin raises the quota: it applies at once, to every process.
    apps[1].state.api_keys.set_quota("patrol-app", 4)
    assert _open311(second, small).status_code == 201
    assert _open311(first, small).status_code == 429


def test_admins_set_quotas_with_the_command(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_DATABASE_URL", database_url)
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    issued = runner.invoke(cli, ["apikeys", "issue", "patrol-app", "--quota", "50"])
    assert issued.exit_code == 0, issued.output
    assert "patrol-app" in runner.invoke(cli, ["apikeys", "list"]).output
    assert "50/h" in runner.invoke(cli, ["apikeys", "list"]).output
    assert runner.invoke(cli, ["apikeys", "quota", "patrol-app", "7"]).exit_code == 0
    assert "7/h" in runner.invoke(cli, ["apikeys", "list"]).output
    refused = runner.invoke(cli, ["apikeys", "quota", "patrol-app", "0"])
    assert refused.exit_code == 1 and "quota" in refused.output
    assert runner.invoke(cli, ["apikeys", "quota", "nobody", "5"]).exit_code == 1


def test_admins_set_quotas_on_the_admin_page(database_url, tmp_path):
    settings = Settings(environment="test", data_dir=tmp_path / "var", database_url=database_url)
    app = create_app(settings)
    app.state.accounts.create("admin", PASSWORD, "admin", NOW)
    with TestClient(app) as admin:
        login(admin, "admin")
        csrf = csrf_of(admin, "/staff/admin/apikeys")
        page = admin.post("/staff/admin/apikeys",
                          data={"csrf": csrf, "name": "patrol-app", "quota": "5"})
        assert page.status_code == 200 and 'id="new-key"' in page.text
        assert 'value="5"' in page.text
        done = admin.post("/staff/admin/apikeys/quota", follow_redirects=False,
                          data={"csrf": csrf, "name": "patrol-app", "quota": "2"})
        assert done.status_code == 303
        assert [k.quota_per_hour for k in app.state.api_keys.all()] == [2]
        for bad in ("0", "many", "１０"):
            refused = admin.post("/staff/admin/apikeys/quota",
                                 data={"csrf": csrf, "name": "patrol-app", "quota": bad})
            assert refused.status_code == 422 and "上限" in refused.text, bad
        assert [k.quota_per_hour for k in app.state.api_keys.all()] == [2]
