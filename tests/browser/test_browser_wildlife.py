"""Wildlife in Chromium: detections posted through the HTTP ingest API appear on the public
map with their species in the markers' names, and every page the wildlife work added (the
alert sign-up, its confirm and unsubscribe pages, the public list, the layer's list view and
the staff pages) is axe-clean (WCAG 2.0 A/AA)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from geoapp.staff.accounts import Accounts
from geoapp.store.engine import open_engine
from geoapp.store.schema import outbox
from geoapp.wildlife.devices import Devices
from tests.browser.helpers import PageWatch, assert_axe_clean, wait_for_layer
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
LAYER = "wildlife_detections"
API = "/api/v1/wildlife/detections"
#: Inside Shibata: near city hall, and about 5 km east.
CITY_HALL = (139.3275, 37.9477)
EAST = (139.39, 37.95)
SPECIES = ["bear", "boar", "monkey", "deer", "other"]


@dataclass
class Wild:
    """The served geoapp and its database."""

    server: LiveServer
    engine: sa.Engine

    @property
    def url(self) -> str:
        return self.server.url

    def outbox_bodies(self, address: str) -> list[str]:
        with self.engine.connect() as conn:
            return [row.body for row in conn.execute(
                sa.select(outbox.c.body).where(outbox.c.to_addr == address))]


def _post(wild: Wild, key: str, event_id: str, species: str, minutes_ago: int,
          count: int | None = 1) -> None:
    time = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    answer = httpx.post(f"{wild.url}{API}", headers={"X-Device-Key": key}, json={
        "event_id": event_id, "time": time, "species": species, "count": count})
    assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module")
def wild(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wild]:
    """A geoapp with three devices (exact, mesh, and a hidden one), detections of each
    species posted over HTTP, and a wildlife officer's account."""
    data_dir = tmp_path_factory.mktemp("wildlife-var")
    server = LiveServer(data_dir)
    engine = open_engine(f"sqlite:///{data_dir / 'geoapp.sqlite3'}")  # migrated by the server
    now = datetime.now(UTC)
    Accounts(engine).create("wild", PASSWORD, "wildlife", now, display_name="鳥獣 太郎")
    devices = Devices(engine)
    keys = {}
    for name, kind, visibility, pos in (("exact", "ai_camera", "exact", CITY_HALL),
                                        ("mesh", "ir_camera", "mesh", EAST),
                                        ("hidden", "sensor", "hidden", EAST)):
        _, keys[name] = devices.register(
            name=f"{name} カメラ", kind=kind, lon=pos[0], lat=pos[1], species=SPECIES,
            owner="農林水産課", now=now, officers=["officer@city.example"],
            visibility=visibility)
    wild = Wild(server, engine)
    try:
        _post(wild, keys["exact"], "e-bear", "bear", 30, count=2)
        _post(wild, keys["exact"], "e-monkey", "monkey", 60, count=5)
        _post(wild, keys["mesh"], "m-boar", "boar", 90)
        _post(wild, keys["mesh"], "m-deer", "deer", 120, count=None)
        _post(wild, keys["hidden"], "h-bear", "bear", 10)  # never on the public map
        yield wild
    finally:
        server.stop()
        engine.dispose()


def _expected_error(watch: PageWatch, status: int, url: str) -> None:
    """Take the one HTTP error a test provoked (and Chromium's console line about it) out of
    the watch; anything else recorded still fails ``assert_clean``."""
    assert watch.http_errors == [f"{status} {url}"], watch.http_errors
    watch.http_errors.clear()
    watch.console_errors[:] = [line for line in watch.console_errors if not (
        line.startswith(f"Failed to load resource: the server responded with a status of "
                        f"{status} ") and f"({url}:" in line)]


def _markers(page: Page) -> list[str]:
    """The accessible names of the wildlife layer's markers now on the map."""
    return page.evaluate("""id => geoapp.layers[id].getLayers()
        .filter(m => geoappMap.hasLayer(m) && m.getElement())
        .map(m => m.getElement().getAttribute('aria-label'))""", LAYER)


def test_the_map_shows_detections_with_species_names(wild: Wild, page: Page,
                                                     page_watch: PageWatch):
    page.goto(f"{wild.url}/")
    assert wait_for_layer(page, LAYER) == 4  # the hidden device's detection is not public
    switch = page.get_by_role("checkbox", name=re.compile("鳥獣の出没情報"))
    if switch.is_checked():  # off first, to see it switched on
        switch.uncheck()
        expect(page.locator(".leaflet-marker-icon[aria-label^='鳥獣出没']")).to_have_count(0)
    switch.check()
    markers = page.locator(".leaflet-marker-icon[aria-label^='鳥獣出没']")
    expect(markers).to_have_count(4)
    names = sorted(_markers(page))
    assert len(names) == 4
    for species in ("クマ", "イノシシ", "サル", "ニホンジカ"):
        assert sum(f"（{species}）" in name for name in names) == 1, names
    bear = page.get_by_role("button", name=re.compile(r"^鳥獣出没: クマ 2頭 .*（クマ）$"))
    expect(bear).to_have_count(1)
    expect(bear).to_have_attribute("alt", re.compile("クマ"))
    # Species differ by shape, not only by colour: four icons for four species.
    icons = {markers.nth(i).get_attribute("src") for i in range(4)}
    assert len(icons) == 4
    # The legend beside the map names each species with its symbol.
    legend = page.get_by_role("list", name=re.compile("鳥獣の出没情報"))
    for species in ("クマ", "イノシシ", "サル", "ニホンジカ", "その他"):
        expect(legend).to_contain_text(species)
    page.wait_for_load_state("networkidle")
    assert_axe_clean(page, "the map with the wildlife layer on")
    page_watch.assert_clean()


def test_the_alert_pages_are_accessible(wild: Wild, page: Page, page_watch: PageWatch):
    page.goto(f"{wild.url}/wildlife/alerts")
    assert_axe_clean(page, "/wildlife/alerts")

    # A validation error the browser cannot catch: no animal chosen.
    page.get_by_label("メールアドレス").fill("resident@example.org")
    page.get_by_role("checkbox", name="クマ").uncheck()
    page.get_by_role("button", name="登録する").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_axe_clean(page, "/wildlife/alerts after a validation error")
    _expected_error(page_watch, 422, f"{wild.url}/wildlife/alerts")
    # What was entered is kept as it was: the address, and no animal chosen.
    expect(page.get_by_label("メールアドレス")).to_have_value("resident@example.org")
    expect(page.get_by_role("checkbox", name="クマ")).not_to_be_checked()

    # … and one more: a circle without its point.
    page.get_by_role("checkbox", name="クマ").check()
    page.get_by_role("radio", name=re.compile("^地点の周り")).check()
    page.get_by_label("緯度", exact=True).fill("")
    page.get_by_role("button", name="登録する").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_axe_clean(page, "/wildlife/alerts after a missing point")
    _expected_error(page_watch, 422, f"{wild.url}/wildlife/alerts")

    page.get_by_role("radio", name="市内全域").check()
    page.get_by_role("button", name="登録する").click()
    expect(page.get_by_role("status")).to_be_visible()
    assert_axe_clean(page, "/wildlife/alerts once subscribed")

    bodies = wild.outbox_bodies("resident@example.org")
    assert len(bodies) == 1
    token = re.search(r"/wildlife/alerts/confirm/(\S+)", bodies[0]).group(1)
    for action in ("confirm", "unsubscribe"):
        page.goto(f"{wild.url}/wildlife/alerts/{action}/{token}")
        assert_axe_clean(page, f"/wildlife/alerts/{action} (the one-click form)")
        page.locator("main form button").click()
        expect(page.get_by_role("status")).to_be_visible()
        assert_axe_clean(page, f"/wildlife/alerts/{action} (done)")
    page_watch.assert_clean()


@pytest.mark.parametrize("path", [
    "/wildlife/detections?f=html",
    "/wildlife/detections?f=html&days=30&species=bear&lang=en",
    f"/collections/{LAYER}/items?f=html",
    f"/collections/{LAYER}/items?f=html&lang=en",
])
def test_the_public_lists_are_accessible(wild: Wild, page: Page, page_watch: PageWatch,
                                         path: str):
    page.goto(wild.url + path)
    expect(page.locator("main")).to_contain_text(
        "Bear" if "lang=en" in path else "クマ")
    assert_axe_clean(page, path)
    page_watch.assert_clean()


def test_the_staff_wildlife_pages_are_accessible(wild: Wild, page: Page,
                                                 page_watch: PageWatch):
    page.goto(f"{wild.url}/staff/login?next=/staff/wildlife")
    page.get_by_label("ユーザー名").fill("wild")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_url(f"{wild.url}/staff/wildlife")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_axe_clean(page, "/staff/wildlife")

    # Registering a device: first refused (no position), then its key shown once.
    form = page.locator("form[action$='/staff/wildlife/devices']")
    form.get_by_label("名称").fill("新しいセンサー")
    form.get_by_label("緯度", exact=True).fill("0")
    form.get_by_label("経度", exact=True).fill("0")
    form.get_by_role("button").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_axe_clean(page, "/staff/wildlife after a refused registration")
    _expected_error(page_watch, 422, f"{wild.url}/staff/wildlife/devices")

    form = page.locator("form[action$='/staff/wildlife/devices']")
    form.get_by_label("名称").fill("新しいセンサー")
    form.get_by_label("緯度", exact=True).fill(str(CITY_HALL[1]))
    form.get_by_label("経度", exact=True).fill(str(CITY_HALL[0]))
    form.get_by_role("checkbox", name="サル").check()
    form.get_by_role("button").click()
    expect(page.locator("#new-key")).to_be_visible()
    assert_axe_clean(page, "/staff/wildlife with a new device's key")

    page.goto(f"{wild.url}/staff/wildlife/detections?f=html")
    expect(page.locator("main tbody tr")).to_have_count(5)  # the hidden device's too
    assert_axe_clean(page, "/staff/wildlife/detections")
    page_watch.assert_clean()
