"""Staff pages over HTTP: who may open what, CSRF, login, actions, exports, figures."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from geoapp.app import create_app
from geoapp.settings import Settings
from tests.conftest import store_of_its_own
from tests.staff.conftest import NOW, PASSWORD, csrf_of, login

CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}

#: Every staff route, with the roles allowed in.
ROUTES = [
    ("GET", "/staff", {"admin", "road", "department"}),
    ("GET", "/staff/api/reports", {"admin", "road", "department"}),
    ("GET", "/staff/reports/1", {"admin", "road"}),  # report 1 is a road report
    ("POST", "/staff/reports/1/actions", {"admin", "road"}),
    ("GET", "/staff/export.csv", {"admin", "road", "department"}),
    ("GET", "/staff/export.geojson", {"admin", "road", "department"}),
    ("GET", "/staff/dashboard", {"admin", "road", "department"}),
    ("GET", "/staff/admin", {"admin"}),
    ("POST", "/staff/admin/users", {"admin"}),
    ("POST", "/staff/admin/users/5/active", {"admin"}),  # user 5: a spare account
    ("POST", "/staff/admin/templates", {"admin"}),
    ("POST", "/staff/admin/templates/1/delete", {"admin"}),
]
#: What a POST with nothing but the CSRF token gets from a role that may make it.
EMPTY_POST_STATUS = {"/staff/admin/users/5/active": 303, "/staff/admin/templates/1/delete": 303}
USERS = {"admin": "admin", "road": "road", "department": "env", "wildlife": "wild"}


@pytest.fixture
def with_report(app):
    with TestClient(app) as client:
        assert client.post("/api/v1/reports", data={
            "category": "gutter", "description": "側溝", "email": "r@example.org",
            **CITY_HALL}).status_code == 201
    return app


@pytest.fixture(scope="module")
def shared(tmp_path_factory, store_engine):
    """One app for the access matrix on each engine, with a report, an account per role and
    a spare one."""
    data_dir = tmp_path_factory.mktemp(f"var-{store_engine}")
    with store_of_its_own(store_engine, data_dir, "access") as url:
        yield from _shared(Settings(environment="test", data_dir=data_dir / "var",
                                    database_url=url))


def _shared(settings: Settings):
    app = create_app(settings)
    for name, role, department in (("admin", "admin", None), ("road", "road", None),
                                   ("env", "department", "environment"),
                                   ("wild", "wildlife", None), ("spare", "road", None)):
        app.state.accounts.create(name, PASSWORD, role, NOW, department_code=department)
    clients = {}
    with TestClient(app) as anon:
        assert anon.post("/api/v1/reports", data={
            "category": "gutter", "description": "側溝", **CITY_HALL}).status_code == 201
    for role, name in USERS.items():
        clients[role] = TestClient(app)
        login(clients[role], name)
    yield app, clients
    for client in clients.values():
        client.close()


@pytest.mark.both_engines
@pytest.mark.parametrize(("method", "url", "allowed"), ROUTES)
def test_anonymous_visitors_are_sent_to_log_in(shared, method, url, allowed):
    with TestClient(shared[0]) as client:
        response = client.request(method, url, follow_redirects=False)
        if method == "GET" and "/api/" not in url:
            assert response.status_code == 303
            assert response.headers["location"].startswith("/staff/login?next=")
        else:
            assert response.status_code == 401
            assert response.json()["status"] == 401


@pytest.mark.both_engines
@pytest.mark.parametrize(("method", "url", "allowed"), ROUTES)
@pytest.mark.parametrize("role", sorted(USERS))
def test_each_role_gets_in_or_gets_403(shared, method, url, allowed, role):
    client = shared[1][role]
    if method == "POST":
        csrf = csrf_of(client, "/staff/admin" if role == "admin" else "/staff") \
            if role != "wildlife" else "x"
        response = client.post(url, data={"csrf": csrf}, follow_redirects=False)
    else:
        response = client.get(url, follow_redirects=False)
    if role in allowed:
        # Let in: a page (200), an empty form refused for its fields (422), or done (303).
        expected = 200 if method == "GET" else EMPTY_POST_STATUS.get(url, 422)
        assert response.status_code == expected, (role, url, response.text[:200])
    else:
        assert response.status_code == 403, (role, url)


def test_a_post_without_the_session_s_csrf_token_is_refused(with_report, staff_client):
    client = staff_client("road")
    response = client.post("/staff/reports/1/actions",
                           data={"csrf": "forged", "version": "1", "action": "acknowledge"})
    assert response.status_code == 403
    assert "受付" in client.get("/staff/reports/1").text  # unchanged


def test_login_failures_show_a_message_and_logout_ends_the_session(app):
    with TestClient(app) as client:
        page = client.get("/staff/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        failed = client.post("/staff/login", data={"csrf": token, "username": "road",
                                                   "password": "nope", "next": "/staff"})
        assert failed.status_code == 401 and "ログインできませんでした" in failed.text
        login(client, "road")
        cookie = client.cookies.get("geoapp_staff")
        assert cookie
        client.post("/staff/logout", data={"csrf": csrf_of(client)})
        client.cookies.set("geoapp_staff", cookie)  # an old cookie no longer works
        assert client.get("/staff", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_httponly_and_samesite(app):
    with TestClient(app) as client:
        page = client.get("/staff/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        response = client.post("/staff/login", follow_redirects=False, data={
            "csrf": token, "username": "road", "password": "correct horse battery staple"})
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/staff",
                                    "/\\evil.example/", "javascript:alert(1)"])
def test_login_never_redirects_to_another_host(app, target):
    with TestClient(app) as client:
        page = client.get("/staff/login", params={"next": target})
        assert 'value="/staff"' in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        response = client.post("/staff/login", follow_redirects=False, data={
            "csrf": token, "username": "road", "password": "correct horse battery staple",
            "next": target})
        assert response.status_code == 303
        assert response.headers["location"] == "/staff"


def test_road_staff_act_and_the_reporter_sees_the_reply(with_report, staff_client):
    client = staff_client("road")
    page = client.get("/staff/reports/1").text
    assert "r@example.org" in page  # the contact, for staff only
    csrf = csrf_of(client, "/staff/reports/1")
    done = client.post("/staff/reports/1/actions", data={
        "csrf": csrf, "version": "1", "action": "fix", "body": "清掃しました <b>"})
    assert "対応済" in done.text and "清掃しました &lt;b&gt;" in done.text
    stale = client.post("/staff/reports/1/actions", headers={"Accept": "text/html"}, data={
        "csrf": csrf, "version": "1", "action": "note", "body": "古い画面から"})
    assert stale.status_code == 409 and "読み込み直して" in stale.text
    public = client.get("/reports/1").text
    assert "清掃しました &lt;b&gt;" in public and "r@example.org" not in public


def test_exports_are_open311_csv_with_bom_and_japanese_headers(with_report, staff_client):
    client = staff_client("road")
    response = client.get("/staff/export.csv?status=all")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["service_request_id", "requested_datetime", "updated_datetime"]
    assert rows[1][0] == "1" and rows[1][1].endswith("+09:00") and rows[1][4] == "open"
    japanese = client.get("/staff/export.csv?headers=ja").content.decode("utf-8-sig")
    assert japanese.startswith("受付番号,受付日時")
    geo = client.get("/staff/export.geojson").json()
    assert geo["features"][0]["properties"]["number"] == "1"
    assert "r@example.org" not in response.text + str(geo)


def test_a_formula_in_a_description_stays_text_in_the_csv(app, staff_client):
    with TestClient(app) as anon:
        anon.post("/api/v1/reports", data={"category": "gutter", **CITY_HALL,
                                            "description": "=HYPERLINK(\"http://x\")"})
    rows = list(csv.reader(io.StringIO(
        staff_client("road").get("/staff/export.csv").content.decode("utf-8-sig"))))
    assert rows[1][9].startswith("'=")


def test_the_dashboard_counts_the_fiscal_year(with_report, staff_client):
    client = staff_client("road")
    csrf = csrf_of(client, "/staff/reports/1")
    client.post("/staff/reports/1/actions", data={"csrf": csrf, "version": "1",
                                                  "action": "fix", "body": "完了"})
    with TestClient(client.app) as anon:
        anon.get("/", headers={"Accept": "text/html"})
    page = client.get("/staff/dashboard").text
    assert re.search(r"令和\d+年度", page)
    assert re.search(r'id="fig-posted">1<', page) and re.search(r'id="fig-handled">1<', page)
    assert re.search(r'id="fig-share">100%<', page)
    assert int(re.search(r'id="fig-map-views">(\d+)<', page).group(1)) >= 1
    assert '<table id="monthly">' in page and "<svg" in page


def test_admins_create_accounts_from_the_admin_page(app, staff_client):
    client = staff_client("admin")
    csrf = csrf_of(client, "/staff/admin")
    created = client.post("/staff/admin/users", data={
        "csrf": csrf, "username": "parks1", "password": "a long enough password",
        "role": "department", "department": "parks"})
    assert created.status_code == 200 and "parks1" in created.text
    refused = client.post("/staff/admin/users", data={
        "csrf": csrf, "username": "x", "password": "short", "role": "road"})
    assert refused.status_code == 422 and "12文字以上" in refused.text


def test_unsubscribing_needs_a_click_not_just_a_visit(with_report, app):
    import sqlalchemy as sa

    with app.state.reports.store.engine.connect() as conn:
        token = conn.execute(sa.text("SELECT token FROM subscribers")).scalar_one()
    with TestClient(app) as client:
        assert "停止する" in client.get(f"/unsubscribe/{token}").text
        assert "停止しました" in client.post(f"/unsubscribe/{token}").text
        assert client.post(f"/unsubscribe/{token}").status_code == 404
