"""Never a 500 from input: malformed ids, dates, numbers and text get a clear 4xx on both engines.

Every case here was a plain-text 500 before (issue 10), mostly on PostgreSQL, which refuses
an id past its 32-bit INTEGER and a NUL in text where SQLite shrugs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from geoapp.app import create_app
from tests.staff.conftest import PASSWORD, csrf_of, login

CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    return body


def _report_count(client: TestClient) -> int:
    return client.get("/collections/reports/items").json()["numberMatched"]


def _post_report(client: TestClient, url: str = "/api/v1/reports", **fields) -> object:
    data = {"category": "gutter", "description": "側溝のふたが割れています", **CITY_HALL, **fields}
    return client.post(url, data=data)


MALFORMED_NUMBERS = [
    "/reports/%C2%B2",  # str.isdigit() says yes to '²', int() says no
    "/reports/%C2%B2/receipt",
    "/api/v1/reports/²",
    "/api/v1/reports/2147483648",  # one past PostgreSQL's INTEGER
    "/api/v1/reports/" + "9" * 23,  # past SQLite's 64 bits
    "/api/v1/reports/0",
    "/api/v1/reports/%EF%BC%91",  # a full-width digit one
    "/collections/reports/items/²",
    "/collections/reports/items/2147483648",
    "/reports/%00",
]


def test_a_malformed_or_impossible_report_number_is_404(engine_client):
    for path in MALFORMED_NUMBERS:
        body = _problem(engine_client.get(path), 404)
        assert body["title"] == "Not found"


def test_supporting_an_impossible_report_is_404(engine_client):
    _problem(engine_client.post("/api/v1/reports/2147483648/supporters"), 404)


def test_open311_answers_404_in_its_own_error_format(engine_client):
    for path in ("/open311/v2/requests/².json", "/open311/v2/requests/" + "9" * 23 + ".json"):
        response = engine_client.get(path)
        # Open311's standard error body, not problem+json (its clients read this).
        assert response.status_code == 404 and response.json()[0]["code"] == 404
    response = engine_client.get("/open311/v2/requests/2147483648.xml")
    assert response.status_code == 404 and "<code>404</code>" in response.text


OPEN311_BAD_QUERIES = [
    ("service_request_id=²", "service_request_id"),
    ("service_request_id=2147483648", "service_request_id"),
    ("service_request_id=1," + "9" * 23, "service_request_id"),
    ("start_date=0001-01-01T00:00:00%2B14:00", "start_date"),
    ("end_date=9999-12-31T23:59:59-14:00", "end_date"),
    ("start_date=yesterday", "start_date"),
]


def test_open311_refuses_bad_ids_and_dates_with_400(engine_client):
    for query, parameter in OPEN311_BAD_QUERIES:
        for path in ("/open311/v2/requests.json", "/open311/v2/servicerequestupdates.json"):
            if "service_request_id" in query and "updates" in path:
                continue
            response = engine_client.get(f"{path}?{query}")
            assert response.status_code == 400, (path, response.text)
            [error] = response.json()
            assert error["code"] == 400 and parameter in error["description"]


def test_open311_dates_within_range_still_work(engine_client):
    assert _post_report(engine_client).status_code == 201
    response = engine_client.get("/open311/v2/requests.json?start_date=2000-01-01T00:00:00%2B14:00"
                                 "&end_date=2100-12-31T23:59:59-14:00")
    assert response.status_code == 200 and len(response.json()) == 1


def test_nearby_refuses_coordinates_that_are_not_finite(engine_client):
    for lat in ("inf", "-inf", "1e400", "nan", "91"):
        response = engine_client.get("/api/v1/reports/nearby",
                                     params={"lat": lat, "lon": "139.3275", "category": "gutter"})
        body = _problem(response, 400)
        assert "lat" in body["detail"]


BAD_QUERIES = [
    ("/collections/reports/items?offset=2147483648", "offset"),
    ("/collections/reports/items?offset=%C2%B2", "offset"),
    ("/collections/shelters/items?offset=-1", "offset"),
    ("/collections/reports/items?bbox=0,0,inf,1", "bbox"),
    ("/api/v1/reports/nearby?lat=37.9&lon=139.3&category=%00", "category"),
    ("/wildlife/detections?species=%00", "species"),
]


def test_bad_query_parameters_are_400_problems(engine_client):
    for path, parameter in BAD_QUERIES:
        body = _problem(engine_client.get(path), 400)
        assert parameter in body["detail"]


def test_a_huge_limit_is_still_clamped_not_refused(engine_client):
    response = engine_client.get("/collections/shelters/items?limit=99999999999999999999999")
    assert response.status_code == 200
    page = response.json()
    assert 10 < page["numberReturned"] == page["numberMatched"] <= 10_000


@pytest.mark.parametrize("field", ["description", "name", "email"])
def test_nul_in_a_report_is_refused_before_anything_is_written(engine_client, field):
    value = {"description": "ふたが\x00割れています", "name": "秘密\x00花子",
             "email": "a\x00b@example.org"}[field]
    response = _post_report(engine_client, **{field: value})
    body = _problem(response, 422)
    assert body["field"] == field and "U+0000" in body["detail"]
    assert _report_count(engine_client) == 0


def test_other_control_characters_are_refused_in_english_too(engine_client):
    response = _post_report(engine_client, "/api/v1/reports?lang=en", name="escape\x1b[31m")
    body = _problem(response, 422)
    assert body["field"] == "name" and "control character" in body["detail"]
    # A description may span lines and hold tabs.
    assert _post_report(engine_client, description="一行目\r\n\t二行目").status_code == 201


def test_nul_in_an_attribute_is_refused(engine_client):
    response = _post_report(engine_client, category="street_light",
                            **{"attribute[light_number]": "A-\x00"})
    body = _problem(response, 422)
    assert body["field"] == "attribute[light_number]"
    assert _report_count(engine_client) == 0


def test_open311_post_with_nul_is_refused_and_writes_nothing(engine_client):
    key = engine_client.app.state.api_keys.issue("tester", NOW)
    response = engine_client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "gutter", "description": "割れ\x00ています",
        "lat": CITY_HALL["lat"], "long": CITY_HALL["lon"]})
    assert response.status_code == 400  # Open311's status for every invalid request
    assert "description" in response.json()[0]["description"]
    assert _report_count(engine_client) == 0


def test_open311_update_for_an_impossible_request_is_404(engine_client):
    key = engine_client.app.state.api_keys.issue("tester", NOW)
    response = engine_client.post("/open311/v2/servicerequestupdates.json", data={
        "api_key": key, "service_request_id": "2147483648", "description": "done"})
    assert response.status_code == 404


@pytest.fixture
def staff(engine_client):
    """A road member of staff logged in on the engine's app."""
    engine_client.app.state.accounts.create("road", PASSWORD, "road", NOW)
    login(engine_client, "road")
    return engine_client


STAFF_QUERIES = [
    ("/staff/api/reports?page=%C2%B2", 400),
    ("/staff/api/reports?page=2147483648", 400),
    ("/staff/api/reports?older_than_days=2147483647", 400),
    ("/staff/api/reports?assignee=99999999999", 200),
    ("/staff/api/reports?category=%00", 400),
    ("/staff/dashboard?fy=%C2%B2", 400),
    ("/staff/dashboard?fy=99999", 400),
    ("/staff/reports/%C2%B2", 404),
    ("/staff/reports/2147483648", 404),
]


def test_staff_parameters_are_checked_too(staff):
    for path, status in STAFF_QUERIES:
        response = staff.get(path, headers={"Accept": "application/json"})
        assert response.status_code == status, (path, response.text)
        if status != 200:
            _problem(response, status)


def test_a_staff_reply_with_nul_is_refused_and_the_report_unchanged(staff):
    number = _post_report(staff).json()["number"]
    before = staff.get(f"/api/v1/reports/{number}").json()
    page = staff.get(f"/staff/reports/{number}").text
    version = page.split('name="version" value="', 1)[1].split('"', 1)[0]
    response = staff.post(f"/staff/reports/{number}/actions", data={
        "csrf": csrf_of(staff), "action": "reply", "version": version, "body": "対応\x00します"},
        headers={"Accept": "application/json"})
    body = _problem(response, 422)
    assert body["field"] == "body"
    assert staff.get(f"/api/v1/reports/{number}").json() == before


def test_wildlife_texts_with_nul_are_refused(engine_client):
    app = engine_client.app
    _, key = app.state.wildlife.devices.register(
        name="センサー", kind="sensor", lon=139.3275, lat=37.9477, species=["bear"],
        owner="新発田市", now=NOW)
    response = engine_client.post("/api/v1/wildlife/detections", headers={"X-Device-Key": key},
                                  json={"event_id": "e\x001", "time": "2026-11-25T09:00:00+09:00",
                                        "species": "bear"})
    body = _problem(response, 422)
    assert body["field"] == "event_id"
    response = engine_client.post("/wildlife/alerts", data={
        "email": "a\x00@example.org", "species": "bear", "area": "city"})
    assert response.status_code == 422 and "email" in response.text


def test_bus_position_with_a_year_one_timestamp_is_refused(engine_client):
    app = engine_client.app
    key = app.state.buses.positions.vehicles.add("bus1", "1号車", NOW)
    for stamp in ("0001-01-01T00:00:00+14:00", 1e300):
        response = engine_client.post("/api/v1/buses/positions",
                                      headers={"Authorization": f"Bearer {key}"},
                                      json={"lat": 37.9477, "lon": 139.3275, "timestamp": stamp})
        body = _problem(response, 422)
        assert body["field"] == "timestamp"


# -- The catch-all ------------------------------------------------------------------------


def _failing_app(settings):
    app = create_app(settings)

    def boom() -> None:
        raise RuntimeError("a bug nobody foresaw")

    app.add_api_route("/test-only/boom", boom)
    return app


def test_an_unexpected_error_is_a_problem_with_an_error_id_that_is_in_the_log(settings, caplog):
    with TestClient(_failing_app(settings), raise_server_exceptions=False) as client, \
            caplog.at_level(logging.ERROR, logger="geoapp"):
        response = client.get("/test-only/boom")
    body = _problem(response, 500)
    error_id = body["error_id"]
    assert len(error_id) >= 6 and error_id in body["detail"]
    assert "a bug nobody foresaw" not in response.text  # no internals to the client
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info[0] is RuntimeError
    assert "a bug nobody foresaw" in caplog.text  # the traceback is in the log


def test_a_browser_gets_the_error_page_with_the_same_id(settings, caplog):
    with TestClient(_failing_app(settings), raise_server_exceptions=False) as client, \
            caplog.at_level(logging.ERROR, logger="geoapp"):
        response = client.get("/test-only/boom", headers={"Accept": "text/html"})
        again = client.get("/test-only/boom", headers={"Accept": "text/html"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    error_id = response.headers["x-error-id"]
    assert error_id in response.text and error_id in caplog.text
    assert again.headers["x-error-id"] != error_id  # one id per failure


def test_staff_form_numbers_out_of_range_are_422_not_misread(staff):
    number = _post_report(staff).json()["number"]
    page = staff.get(f"/staff/reports/{number}").text
    version = page.split('name="version" value="', 1)[1].split('"', 1)[0]
    for field, value, action in (("duplicate_of", "2147483648", "duplicate"),
                                 ("assignee", "99999999999", "assign"),
                                 ("version", "²x", "note")):
        response = staff.post(f"/staff/reports/{number}/actions", data={
            "csrf": csrf_of(staff), "action": action, "version": version, "body": "メモ",
            field: value}, headers={"Accept": "application/json"})
        assert _problem(response, 422)["field"] == field
    # Full-width digits from a Japanese IME still mean the number.
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    response = staff.post(f"/staff/reports/{number}/actions", data={
        "csrf": csrf_of(staff), "action": "priority", "version": version.translate(full_width),
        "priority": "１"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    [row] = staff.get("/staff/api/reports").json()["reports"]
    assert row["properties"]["priority"] == 1


def test_staff_and_client_texts_with_nul_are_refused_everywhere(engine_client):
    app = engine_client.app
    app.state.accounts.create("admin", PASSWORD, "admin", NOW)
    # The login form: a NUL in the name must not reach PostgreSQL's WHERE clause.
    page = engine_client.get("/staff/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    response = engine_client.post("/staff/login", data={
        "csrf": token, "username": "ad\x00min", "password": PASSWORD},
        headers={"Accept": "application/json"})
    assert _problem(response, 422)["field"] == "username"
    login(engine_client, "admin")
    csrf = csrf_of(engine_client)
    response = engine_client.post("/staff/admin/templates", data={
        "csrf": csrf, "body": "定型\x00文", "status": "fixed"})
    assert response.status_code == 422 and "body" in response.text
    # The key form shows its refusal on the page, as every admin form does.
    response = engine_client.post("/staff/admin/apikeys", data={"csrf": csrf, "name": "x\x00"})
    assert response.status_code == 422 and "制御文字" in response.text
    assert app.state.api_keys.all() == []
    # Open311 status updates go through the same workflow check.
    key = app.state.api_keys.issue("contractor", NOW)
    number = _post_report(engine_client).json()["number"]
    response = engine_client.post("/open311/v2/servicerequestupdates.json", data={
        "api_key": key, "service_request_id": number, "description": "完了\x00"})
    assert response.status_code == 400 and "body" in response.json()[0]["description"]
    assert engine_client.get("/open311/v2/servicerequestupdates.json").json() == []
