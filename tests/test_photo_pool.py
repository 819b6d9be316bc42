"""The one photo pool: worker processes at lower priority, bounded, shared by every door."""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from geoapp.app import create_app
from geoapp.errors import (
    GeoappError,
    InvalidInput,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    PhotoRejected,
    RateLimited,
    StoreUnavailable,
    status_for,
)
from geoapp.photos.media import MediaStore
from geoapp.photos.pool import PhotoPool
from geoapp.reports.boundary import CityBoundary
from geoapp.reports.service import ReportService, Submission
from geoapp.settings import Settings
from tests.conftest import ROOT
from tests.imaging import GPS_IFD, phone_jpeg
from tests.wildlife.conftest import CITY_HALL as WILD_CITY_HALL
from tests.wildlife.conftest import at

CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}
NOT_AN_IMAGE = b"these are my notes, not a photo"


def distinct_jpegs(count: int) -> list[bytes]:
    """Phone JPEGs (with GPS EXIF) that differ in colour, so each is a different photo."""
    return [phone_jpeg(1200, 900, colour=(20 + 9 * i, 90, 200 - 7 * i)) for i in range(count)]


def my_priority() -> int:
    """This process's niceness (higher: the kernel schedules it later)."""
    return os.getpriority(os.PRIO_PROCESS, 0)


def assert_no_exif(jpeg: bytes) -> None:
    """The stored copy carries no EXIF at all, so no GPS position."""
    image = Image.open(io.BytesIO(jpeg))
    assert not image.getexif() and not image.getexif().get_ifd(GPS_IFD)


@pytest.fixture
def pool():
    """A pool of one worker with room for one waiting photo (the machine's default size)."""
    photo_pool = PhotoPool(workers=1, queue=1)
    yield photo_pool
    photo_pool.close()


def test_a_photo_is_made_in_a_worker_process_at_lower_priority(pool):
    photo = pool.process(phone_jpeg(4000, 3000, orientation=6))
    assert photo.made_by != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, photo.made_by) > my_priority()
    assert pool.made_by == {photo.made_by: 1}
    assert (photo.width, photo.height) == (1500, 2000)  # turned upright in the worker too
    assert_no_exif(photo.full)
    assert_no_exif(photo.thumb)


def test_without_workers_photos_are_made_in_the_calling_process():
    photo = PhotoPool(workers=0).process(phone_jpeg())
    assert photo.made_by == os.getpid()
    assert_no_exif(photo.full)


def test_a_rejected_photo_reaches_the_caller_unchanged_with_its_index(pool):
    good, cut = distinct_jpegs(2)
    worker = pool.process(good).made_by
    with pytest.raises(PhotoRejected) as caught:
        pool.process_all([good, NOT_AN_IMAGE, cut[:4000]])
    error = caught.value
    assert type(error) is PhotoRejected and status_for(error) == 422
    assert (error.index, error.reason, error.field) == (1, "not_an_image", "photos[1]")
    assert error.detail == "Photo 2 is not an image."
    assert error.detail_ja == "写真2は画像ファイルではありません。"
    # The worker lives on after a refusal: the next photo is made by the same process.
    assert pool.process(good).made_by == worker


@pytest.mark.parametrize("error", [
    PhotoRejected(2, "truncated", "Photo 3 is incomplete", "写真3のデータが途中で切れています"),
    InvalidInput("email", "not valid", detail_ja="正しくありません"),
    InvalidParameter("bbox", "four numbers"),
    PayloadTooLarge("too large", detail_ja="大きすぎます", limit=1024),
    RateLimited("slow down", retry_after=42),
    StoreUnavailable("database away", retry_after=3),
    NotFound("no report 7"),
], ids=lambda error: type(error).__name__)
def test_every_error_crosses_a_process_boundary_intact(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and isinstance(copy, GeoappError)
    assert (str(copy), vars(copy), status_for(copy)) == (str(error), vars(error),
                                                          status_for(error))


def test_a_burst_larger_than_the_queue_is_processed_in_full(pool):
    photos = distinct_jpegs(12)  # 12 callers at once; room for 2 (one busy, one waiting)
    with ThreadPoolExecutor(len(photos)) as callers:
        made = list(callers.map(pool.process, photos))
    assert len({p.sha256 for p in made}) == len(photos)
    assert os.getpid() not in pool.made_by and sum(pool.made_by.values()) == len(photos)
    assert pool.peak_in_flight == 2  # the rest waited their turn, holding no pool memory


def test_a_killed_worker_is_replaced_and_the_photo_still_made(pool):
    first = pool.process(phone_jpeg())
    os.kill(first.made_by, signal.SIGKILL)
    second = pool.process(phone_jpeg())
    assert second.made_by not in (first.made_by, os.getpid())
    assert os.getpriority(os.PRIO_PROCESS, second.made_by) > my_priority()


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            stat = fh.read()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def test_workers_leave_when_their_web_process_is_killed():
    # A web worker killed with SIGKILL never closes its pool: its workers must not linger.
    script = ("import os, signal\n"
              "from geoapp.photos.pool import PhotoPool\n"
              "from tests.imaging import phone_jpeg\n"
              "print(PhotoPool(workers=1).process(phone_jpeg()).made_by, flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    worker = int(done.stdout)
    deadline = time.monotonic() + 30  # a bound on waiting, not a speed check
    while running(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running(worker)


def test_a_closed_pool_refuses_work():
    pool = PhotoPool(workers=1)
    pool.start()
    pool.close()
    with pytest.raises(RuntimeError):
        pool.process(phone_jpeg())


def test_a_burst_of_submissions_stores_every_report(store, tmp_path: Path):
    pool = PhotoPool(workers=1, queue=1)
    service = ReportService(store, MediaStore(tmp_path / "media"),
                            CityBoundary(ROOT / "data" / "geo" / "shibata_boundary_n03.geojson"),
                            pool)
    photos = distinct_jpegs(8)

    def submit(photo: bytes) -> int:
        return service.submit(Submission(category="gutter", description="側溝のふたが割れています",
                                         photos=[photo], **CITY_HALL)).report.id

    try:
        with ThreadPoolExecutor(len(photos)) as callers:
            numbers = list(callers.map(submit, photos))
    finally:
        pool.close()
    assert len(set(numbers)) == len(photos)
    for number in numbers:
        stored = store.get(number)
        assert len(stored.photos) == 1
        assert_no_exif(service.media.path(stored.photos[0].media_key).read_bytes())
    assert os.getpid() not in pool.made_by and sum(pool.made_by.values()) == len(photos)


@pytest.fixture
def served(database_url: str, tmp_path: Path):
    """A geoapp on each engine with its default photo pool, started and stopped by its lifespan."""
    settings = Settings(environment="test", data_dir=tmp_path / "var", database_url=database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        yield app, client


def test_every_door_uses_the_one_pool_of_lower_priority_workers(served):
    app, client = served
    now = datetime.now(UTC).replace(microsecond=0)
    pool: PhotoPool = app.state.photos
    assert pool.workers >= 1
    assert app.state.reports.photos is pool and app.state.wildlife.ingest.photos is pool
    jpegs = iter(distinct_jpegs(4))

    api = client.post("/api/v1/reports", data={"category": "gutter", "description": "API",
                                                **CITY_HALL},
                      files=[("photos", ("a.jpg", next(jpegs), "image/jpeg"))])
    assert api.status_code == 201
    form = client.post("/reports/new", data={"category": "gutter", "description": "form",
                                              **CITY_HALL},
                       files=[("photos", ("b.jpg", next(jpegs), "image/jpeg"))],
                       follow_redirects=False)
    assert form.status_code == 303
    key = app.state.api_keys.issue("city-app", now)
    open311 = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "gutter", "description": "Open311",
        "lat": CITY_HALL["lat"], "long": CITY_HALL["lon"]},
        files=[("media", ("c.jpg", next(jpegs), "image/jpeg"))])
    assert open311.status_code == 201
    _, device_key = app.state.wildlife.devices.register(
        name="cam", kind="ai_camera", lon=WILD_CITY_HALL[0], lat=WILD_CITY_HALL[1],
        species=["bear"], owner="市", now=now, visibility="exact")
    wildlife = client.post("/api/v1/wildlife/detections",
                           data={"event_id": "e1", "time": at(now), "species": "bear"},
                           files={"image": ("d.jpg", next(jpegs), "image/jpeg")},
                           headers={"X-Device-Key": device_key})
    assert wildlife.status_code == 201

    assert sum(pool.made_by.values()) == 4 and os.getpid() not in pool.made_by
    for worker in pool.made_by:  # still running: the pool lives as long as the app
        assert os.getpriority(os.PRIO_PROCESS, worker) > my_priority()
    served_photo = client.get(api.json()["photos"][0]["url"])
    assert served_photo.status_code == 200
    assert_no_exif(served_photo.content)


@pytest.mark.parametrize(("lang", "message"), [
    ("ja", "写真2は画像ファイルではありません。"),
    ("en", "Photo 2 is not an image."),
])
def test_a_rejected_photo_is_named_in_the_422_answer(served, lang, message):
    _, client = served
    good = distinct_jpegs(1)[0]
    response = client.post(
        "/api/v1/reports", headers={"Accept-Language": lang},
        data={"category": "gutter", "description": "写真つき", **CITY_HALL},
        files=[("photos", ("a.jpg", good, "image/jpeg")),
               ("photos", ("notes.jpg", NOT_AN_IMAGE, "image/jpeg"))])
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "photos[1]"
    assert response.json()["detail"] == message
    assert client.get("/collections/reports/items").json()["numberMatched"] == 0
