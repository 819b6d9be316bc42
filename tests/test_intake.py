"""One intake for every door that takes a body: limits while the body streams, keys before it.

Declared lengths are tried in-process on both engines; chunked bodies of up to 1 GB against a
real `geoapp serve` (uvicorn) on both engines, as a client streaming from a generator would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from geoapp.open311.keys import ApiKeys
from geoapp.staff.accounts import Accounts
from geoapp.store.engine import open_engine
from geoapp.transit.positions import Vehicles
from geoapp.web.intake_limits import DETECTION, POSITION, SMALL, SUBMISSION, Door
from geoapp.wildlife.devices import Devices
from tests.conftest import LiveServer, store_of_its_own
from tests.imaging import phone_jpeg
from tests.staff.conftest import PASSWORD, csrf_of, login

NOW = datetime.now(UTC)
CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}
GB = 1024**3
MB = 1024**2
BOUNDARY = "intake-test-boundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Keys:
    """What a client needs to reach every door: keys and a staff login."""

    api_key: str
    device_key: str
    bus_key: str


def _make_keys(engine: sa.Engine) -> Keys:
    Accounts(engine).create("admin", PASSWORD, "admin", NOW)
    _, device_key = Devices(engine).register(
        name="cam", kind="ai_camera", lon=139.3275, lat=37.9477, species=["bear"], owner="市",
        now=NOW, visibility="exact")
    return Keys(ApiKeys(engine).issue("intake-test", NOW), device_key,
                Vehicles(engine).add("bus-1", "1号車", NOW))


# -- the doors ---------------------------------------------------------------------------------


def _prefix(kind: str) -> bytes:
    """The start of a body of ``kind`` whose last field then grows without end."""
    if kind == "multipart":
        return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\n"
                f"gutter\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photos\"; "
                f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    return b'{"event_id": "' if kind == "json" else b"description="


@dataclass(frozen=True)
class Case:
    """One door: where, with which headers and body, and what its 413 looks like."""

    name: str
    door: Door
    path: str
    headers: Callable[[Keys], dict[str, str]]
    kind: str  # multipart, form or json
    answer: str  # problem, open311 or form

    def body(self, size: int) -> bytes:
        """A body of exactly ``size`` bytes."""
        prefix = _prefix(self.kind)
        return prefix + b"x" * (size - len(prefix))

    def stream(self, size: int, counter: list[int]) -> Iterator[bytes]:
        """A body of ``size`` bytes in 64 KiB chunks, counting in ``counter`` what was taken."""
        yield _prefix(self.kind)
        chunk = b"x" * 65536
        while counter[0] < size:
            counter[0] += len(chunk)
            yield chunk


CASES = [
    Case("report API", SUBMISSION, "/api/v1/reports", lambda k: MULTIPART, "multipart",
         "problem"),
    Case("report form", SUBMISSION, "/reports/new", lambda k: MULTIPART, "multipart", "form"),
    Case("Open311 request", SUBMISSION, "/open311/v2/requests.json",
         lambda k: {**MULTIPART, "X-Api-Key": k.api_key}, "multipart", "open311"),
    Case("Open311 update", SMALL, "/open311/v2/servicerequestupdates.json",
         lambda k: {**FORM, "X-Api-Key": k.api_key}, "form", "open311"),
    Case("wildlife ingest", DETECTION, "/api/v1/wildlife/detections",
         lambda k: {**JSON, "X-Device-Key": k.device_key}, "json", "problem"),
    Case("bus position", POSITION, "/api/v1/buses/positions",
         lambda k: {**JSON, "Authorization": f"Bearer {k.bus_key}"}, "json", "problem"),
    Case("staff login", SMALL, "/staff/login", lambda k: FORM, "form", "problem"),
    Case("alerts (any other door)", SMALL, "/wildlife/alerts", lambda k: FORM, "form",
         "problem"),
]


def _is_413(case: Case, response: httpx.Response, lang: str = "ja") -> None:
    assert response.status_code == 413, response.text[:300]
    if case.answer == "problem":
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 413 and body["title"] == "Payload too large"
    elif case.answer == "open311":
        assert response.json() == [{"code": 413, "description": case.door.refusal().detail}]
    else:  # the form again, with its message
        assert response.headers["content-type"].startswith("text/html")
        assert 'enctype="multipart/form-data"' in response.text
        refusal = case.door.refusal()
        assert (refusal.detail_ja if lang == "ja" else refusal.detail) in response.text


def _stored(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("reports", "report_photos", "wildlife_detections",
                              "transit_positions", "report_events")}


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# -- declared lengths, in-process, both engines -------------------------------------------------


@pytest.fixture
def keyed(engine_client) -> tuple[Any, Keys]:
    """A client on each engine, with an API key, a wildlife device, a bus and an admin."""
    return engine_client, _make_keys(engine_client.app.state.reports.store.engine)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_declared_length_over_the_limit_is_refused_and_nothing_is_stored(keyed, case):
    client, keys = keyed
    response = client.post(case.path, content=case.body(case.door.limit + 1),
                           headers=case.headers(keys))
    _is_413(case, response)
    assert set(_stored(client.app.state.reports.store.engine).values()) == {0}
    settings = client.app.state.settings
    assert _files(settings.media) == []


def test_a_staff_form_over_the_limit_is_refused(keyed):
    client, _ = keyed
    login(client, "admin")
    token = csrf_of(client, "/staff/admin/apikeys")
    response = client.post("/staff/admin/apikeys", headers=FORM,
                           content=f"csrf={token}&name=".encode() + b"x" * SMALL.limit)
    assert response.status_code == 413
    assert [k.name for k in client.app.state.api_keys.all()] == ["intake-test"]
    assert client.post("/staff/admin/apikeys", data={"csrf": token, "name": "ok"},
                       follow_redirects=False).status_code == 200


# The page's language is its ?lang= (the form's action keeps it), whatever the browser prefers.
@pytest.mark.parametrize(("query", "headers", "lang"), [
    ("", {}, "ja"), ("?lang=en", {}, "en"), ("", {"Accept-Language": "en-GB,en"}, "ja")])
def test_the_form_says_why_in_its_language(engine_client, query, headers, lang):
    case = CASES[1]
    response = engine_client.post(case.path + query, headers={**MULTIPART, **headers},
                                  content=case.body(SUBMISSION.limit + 1))
    _is_413(case, response, lang)
    page = response.text
    assert ("写真は1枚15MBまで、3枚まで" in page) == (lang == "ja")
    assert ("at most 3 photos of 15 MB each" in page) == (lang == "en")
    assert re.search(r'<input type="hidden" name="lang" value="' + lang, page)


def _padded_jpeg(size: int) -> bytes:
    """A real photo padded after its end marker to ``size`` bytes (decoders stop at EOI)."""
    photo = phone_jpeg(1600, 1200)
    return photo + b"\0" * (size - len(photo))


def test_three_large_photos_within_the_limit_are_stored(engine_client):
    photos = [("photos", (f"p{i}.jpg", _padded_jpeg(14 * MB), "image/jpeg")) for i in range(3)]
    response = engine_client.post("/api/v1/reports", files=photos, data={
        "category": "gutter", "description": "側溝のふたが割れています", **CITY_HALL})
    assert response.status_code == 201, response.text[:300]
    assert len(response.json()["photos"]) == 3


def test_one_photo_over_15_mb_is_named_with_its_real_size(engine_client):
    photos = [("photos", ("ok.jpg", phone_jpeg(), "image/jpeg")),
              ("photos", ("huge.jpg", _padded_jpeg(20 * MB), "image/jpeg"))]
    response = engine_client.post("/api/v1/reports", files=photos, headers={
        "Accept-Language": "en"}, data={"category": "gutter", "description": "蓋", **CITY_HALL})
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "photos[1]" and "20.0 MB" in body["detail"]
    assert set(_stored(engine_client.app.state.reports.store.engine).values()) == {0}


def test_an_open311_key_in_the_header_is_enough(keyed):
    client, keys = keyed
    response = client.post("/open311/v2/requests.json", headers={"X-Api-Key": keys.api_key},
                           data={"service_code": "gutter", "description": "側溝",
                                 "lat": CITY_HALL["lat"], "long": CITY_HALL["lon"]})
    assert response.status_code == 201, response.text
    wrong = client.post("/open311/v2/requests.json?api_key=wrong",
                        data={"api_key": keys.api_key, "service_code": "gutter"})
    assert wrong.status_code == 403 and wrong.json()[0]["code"] == 403


# -- chunked and streamed bodies against a real server, both engines --------------------------


@dataclass
class Live:
    """A real geoapp on one engine, its store, keys, and its process's memory."""

    server: LiveServer
    engine: sa.Engine
    keys: Keys
    data_dir: Path

    def peak_rss_mb(self) -> float:
        """The server process's peak resident memory so far (VmHWM), in MB."""
        status = Path(f"/proc/{self.server.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def live(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """`geoapp serve` on each engine (its own PostGIS database), with keys for every door."""
    data_dir = tmp_path_factory.mktemp(f"intake-{request.param}")
    with store_of_its_own(request.param, data_dir, "intake") as url:
        # The server migrates and seeds the store; the keys are added beside it.
        server = LiveServer(data_dir, env={"GEOAPP_DATABASE_URL": url,
                                           "GEOAPP_REPORT_RATE_LIMIT": "1000"})
        engine = open_engine(url)
        try:
            yield Live(server, engine, _make_keys(engine), data_dir)
        finally:
            server.stop()
            engine.dispose()


def _post_stream(live: Live, case: Case, headers: dict[str, str],
                 size: int = GB) -> tuple[httpx.Response, int]:
    """POST a body of ``size`` bytes from a generator; the answer and the bytes taken."""
    counter = [0]
    response = httpx.post(live.server.url + case.path, content=case.stream(size, counter),
                          headers=headers, timeout=60)
    return response, counter[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_chunked_gigabyte_is_refused_once_it_crosses_the_limit(live, case):
    peak = live.peak_rss_mb()
    response, sent = _post_stream(live, case, case.headers(live.keys))
    _is_413(case, response)
    assert response.headers["connection"] == "close"
    # The server stopped reading just past the limit: socket buffers, not the gigabyte.
    assert case.door.limit < sent < case.door.limit + 32 * MB
    assert live.peak_rss_mb() - peak < 64
    assert set(_stored(live.engine).values()) == {0}
    assert _files(live.data_dir / "media") == []


def test_a_declared_gigabyte_is_refused_before_its_body_is_read(live):
    case = CASES[0]
    response, sent = _post_stream(live, case, {**MULTIPART, "Content-Length": str(GB)})
    _is_413(case, response)
    assert sent < 16 * MB < case.door.limit  # refused unread, not after 46 MB


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/api/v1/wildlife/detections", {"X-Device-Key": "wrong"}, 401),
    ("/api/v1/wildlife/detections", {}, 401),
    ("/api/v1/buses/positions", {"Authorization": "Bearer wrong"}, 401),
    ("/api/v1/buses/positions", {}, 401),
    ("/open311/v2/requests.json", {"X-Api-Key": "wrong"}, 403),
    ("/open311/v2/requests.json?api_key=wrong", {}, 403),
    ("/open311/v2/servicerequestupdates.json", {"X-Api-Key": "wrong"}, 403),
])
def test_a_bad_header_key_is_refused_before_the_body(live, path, headers, status):
    case = next(c for c in CASES if path.startswith(c.path))
    sent_headers = {**case.headers(live.keys), **headers}
    if not headers:  # no key at all
        sent_headers = {"Content-Type": sent_headers["Content-Type"]}
    peak = live.peak_rss_mb()
    response, sent = _post_stream(live, replace(case, path=path), sent_headers)
    assert response.status_code == status
    assert sent < 16 * MB  # the server answered without reading the gigabyte
    assert live.peak_rss_mb() - peak < 64
    assert set(_stored(live.engine).values()) == {0}


def test_a_body_left_unread_closes_the_connection_and_a_read_one_keeps_it(client):
    ignored = client.request("GET", "/healthz", content=b"x" * (SMALL.limit + 1))
    assert ignored.status_code == 200 and ignored.headers["connection"] == "close"
    read = client.post("/wildlife/alerts", data={"email": "a@example.org", "area": "city"})
    assert read.status_code in (200, 422) and "connection" not in read.headers
