"""Residents' reports in Chromium: the form from map to receipt, photos stripped of EXIF,
the report on the public map in its state's colour, "me too" on a nearby report, report
texts shown literally (never run), readable errors, and no WCAG 2.0 A/AA violation.

One geoapp with a store of its own serves the module (a high submission limit, since the
tests post more reports than one resident may); the resident's path from the map to the
receipt and back runs on a second one over PostGIS too.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    assert_axe_clean,
    describe_axe,
    hide_map_panes,
    run_axe,
    wait_for_layer,
)
from tests.conftest import LiveServer, store_of_its_own
from tests.imaging import phone_jpeg

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1">'
#: Spots inside the city, far enough apart (> 250 m) that no test sees another's reports
#: as "nearby", nor their markers on top of one another.
NEARBY_SPOT = {"lat": "37.930000", "lon": "139.350000"}
XSS_SPOT = {"lat": "37.960000", "lon": "139.300000"}
PHOTO_SPOT = {"lat": "37.940000", "lon": "139.380000"}
#: Outside the city (Niigata city centre).
OUTSIDE = {"lat": "37.9161", "lon": "139.0236"}
SHIUNJI = "指定避難所: 紫雲寺小学校"
STATUS_COLOURS = {"new": "#c00000", "progress": "#b8860b", "fixed": "#1e7b34"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, store_engine):
    data_dir = tmp_path_factory.mktemp(f"reports-var-{store_engine}")
    with store_of_its_own(store_engine, data_dir, "browser_reports") as url:
        live = LiveServer(data_dir, env={"GEOAPP_DATABASE_URL": url,
                                         "GEOAPP_REPORT_RATE_LIMIT": "1000"})
        live.data_dir = data_dir
        yield live
        live.stop()


def post_report(server: LiveServer, *, category: str, description: str, spot: dict[str, str],
                photo: bool = False, **fields: str) -> dict:
    """A report posted through the JSON API; its public JSON."""
    files = [("photos", ("IMG_0001.JPG", phone_jpeg(800, 600), "image/jpeg"))] if photo else None
    response = httpx.post(f"{server.url}/api/v1/reports", timeout=30, files=files,
                          data={"category": category, "description": description, **spot,
                                **fields})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def photo_report(server) -> dict:
    return post_report(server, category="pavement", description="舗装に穴があいています",
                       spot=PHOTO_SPOT, photo=True)


def _settle(page: Page) -> None:
    """Give any injected handler (an image's onerror) its chance to run."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)


def _no_exif(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert not image.getexif(), f"EXIF left in the stored photo: {dict(image.getexif())}"
    assert "exif" not in image.info and "xmp" not in image.info
    return image


def _marker(page: Page, number: str) -> dict:
    """Zoom the public map to a report's point (drawn from vector tiles); what it shows, and
    a locator for it."""
    page.locator(".folium-map").scroll_into_view_if_needed()
    page.evaluate("""number => fetch("/collections/reports/items/" + number)
        .then(response => response.json())
        .then(report => { const [lon, lat] = report.geometry.coordinates;
                          geoappMap.setView([lat, lon], 17, {animate: false}); })""", number)
    point = page.locator(f".geoapp-tiles-reports path[data-number='{number}']").first
    expect(point).to_be_visible()
    return {"fill": point.get_attribute("fill"), "label": point.get_attribute("aria-label"),
            "locator": point}


# --- a. from the map to the receipt, and back on the map -----------------------------------


@pytest.mark.both_engines
def test_a_resident_reports_with_a_photo_and_sees_it_on_the_map(page, page_watch, server,
                                                                   tmp_path):
    # The map leads to the form.
    page.goto(server.url + "/")
    legend = page.locator("#layer-reports .legend li")
    expect(legend).to_have_text(["受付", "対応中", "対応済"])
    for index, colour in enumerate(STATUS_COLOURS.values()):
        src = unquote(legend.nth(index).locator("img").get_attribute("src"))
        assert f'fill="{colour}"' in src
    page.get_by_role("main").get_by_role("link", name="通報する").click()
    page.wait_for_url(re.compile(r"/reports/new$"))
    page.wait_for_function("window.geoappMap !== undefined")

    # Location by a tap on the map: the fields take the point tapped.
    box = page.locator(".folium-map").bounding_box()
    point = {"x": round(box["width"] / 2) + 40, "y": round(box["height"] / 2) - 30}
    tapped = page.evaluate("p => geoappMap.containerPointToLatLng([p.x, p.y])", point)
    page.locator(".folium-map").click(position=point)
    expect(page.locator("#lat")).not_to_have_value("")
    # Within two pixels (at zoom 11, a pixel is under 0.0007 degrees).
    assert abs(float(page.locator("#lat").input_value()) - tapped["lat"]) < 0.0014
    assert abs(float(page.locator("#lon").input_value()) - tapped["lng"]) < 0.0014
    assert re.fullmatch(r"\d+\.\d{6}", page.locator("#lon").input_value())
    expect(page.get_by_role("button", name="選んだ場所")).to_have_count(0)  # not a stop
    expect(page.locator(".leaflet-marker-icon[alt='選んだ場所']")).to_be_visible()

    # Without a mouse: a landmark chosen from the keyboard fills the fields.
    landmark = page.locator("#landmark")
    landmark.focus()
    page.keyboard.press("ArrowDown")
    first = landmark.evaluate("s => s.options[1].value").split(",")
    expect(page.locator("#lat")).to_have_value(first[0])
    expect(page.locator("#lon")).to_have_value(first[1])
    option = landmark.locator("option", has_text=SHIUNJI)
    value = option.get_attribute("value")
    landmark.select_option(label=option.inner_text().strip())
    lat, lon = value.split(",")
    expect(page.locator("#lat")).to_have_value(lat)
    expect(page.locator("#lon")).to_have_value(lon)
    # The chosen point is drawn where the landmark is.
    assert page.evaluate("""() => {
        let found = null;
        geoappMap.eachLayer(l => { if (l instanceof L.Marker) { found = l.getLatLng(); } });
        return [found.lat.toFixed(6), found.lng.toFixed(6)];
    }""") == [lat, lon]

    page.locator("#category").select_option("gutter")
    page.get_by_label("状況の説明").fill("側溝のふたが割れて、歩くと危ないです。\n幅は約50cm。")
    photo = tmp_path / "IMG_0001.JPG"
    photo.write_bytes(phone_jpeg(1600, 1200))
    assert Image.open(photo).getexif(), "the test photo carries EXIF (GPS, camera model)"
    page.locator("#photos").set_input_files(str(photo))
    page.get_by_role("button", name="通報する").click()

    # The receipt, with the report number and the page to keep.
    page.wait_for_url(re.compile(r"/reports/\d+/receipt$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("通報を受け付けました")
    number = page.locator("#report-number").inner_text()
    assert number.isdigit()
    assert page.url.endswith(f"/reports/{number}/receipt")
    expect(page.locator("#report-link")).to_have_attribute("href", f"/reports/{number}")

    # The stored photo, as served and as on disk, has no EXIF left.
    page.locator("#report-link").click()
    page.wait_for_url(re.compile(rf"/reports/{number}$"))
    expect(page.locator("#description")).to_have_text(
        "側溝のふたが割れて、歩くと危ないです。\n幅は約50cm。")
    photo_link = page.locator(".photos a")
    expect(photo_link).to_have_count(1)
    for url in (photo_link.get_attribute("href"), photo_link.locator("img").get_attribute("src")):
        _no_exif(page.request.get(url).body())
    stored = [p for p in (Path(server.data_dir) / "media").rglob("*") if p.is_file()]
    assert stored, "no photo in the media folder"
    for path in stored:
        _no_exif(path.read_bytes())

    # The report is on the public map, red for 受付, with its photo and page in the popup.
    page.goto(server.url + "/")
    wait_for_layer(page, "reports")
    marker = _marker(page, number)
    assert marker["fill"] == STATUS_COLOURS["new"]
    assert marker["label"] == f"通報 {number}（受付）"
    # It stands where the shelter does: the shelters layer is switched off to reach it.
    page.get_by_role("checkbox", name="指定避難所", exact=True).uncheck()
    marker["locator"].click()
    popup = page.locator(".leaflet-popup")
    expect(popup.locator("h2")).to_have_text("側溝・排水")
    image = popup.get_by_role("img", name="写真")
    expect(image).to_have_attribute("src", re.compile(r"^/media/[0-9a-f]+"))
    page.wait_for_function("() => document.querySelector('.leaflet-popup img').naturalWidth > 0")
    expect(popup.get_by_role("link", name="詳細ページ")).to_have_attribute(
        "href", f"/reports/{number}")
    expect(popup.get_by_role("link", name="一覧を表で見る")).to_have_attribute(
        "href", f"/collections/reports/items/{number}?f=html&lang=ja")
    expect(popup.locator("dd", has_text="/media/")).to_have_count(0)  # not as a bare address
    page.wait_for_load_state("networkidle")
    page_watch.assert_clean()


# --- b. an open report nearby: "me too" instead of a new one -------------------------------


def test_nearby_report_of_the_same_category_can_be_supported(page, page_watch, server):
    existing = post_report(server, category="guardrail", description="ガードレールが曲がっています",
                           spot=NEARBY_SPOT)
    before = existing["supporters"]
    page.goto(server.url + "/reports/new")
    nearby = page.locator("#nearby")
    # About 30 m away, typed in.
    page.locator("#lat").fill("37.930200")
    page.locator("#lon").fill("139.350100")
    page.locator("#lon").press("Tab")
    page.locator("#category").select_option("gutter")  # another category: nothing nearby
    page.wait_for_load_state("networkidle")
    expect(nearby).to_be_hidden()
    page.locator("#category").select_option("guardrail")
    expect(nearby).to_be_visible()
    expect(nearby.get_by_role("heading")).to_have_text("近くに同じ種類の通報があります")
    item = nearby.locator("li").filter(has=page.get_by_role(
        "link", name=re.compile(rf"^No\. {existing['number']} ")))
    expect(item).to_have_count(1)
    expect(item).to_contain_text("ガードレールが曲がっています")
    item.get_by_role("button", name="私も困っています").click()

    page.wait_for_url(re.compile(rf"/reports/{existing['number']}\?supported=1$"))
    expect(page.get_by_role("status")).to_have_text(
        "ありがとうございます。「私も困っています」を記録しました。")
    expect(page.locator("#supporters")).to_have_text(str(before + 1))
    after = httpx.get(f"{server.url}/api/v1/reports/{existing['number']}").json()
    assert after["supporters"] == before + 1
    page_watch.assert_clean()


# --- c. report texts are shown, never run ---------------------------------------------------


def _assert_not_run(page: Page) -> None:
    assert page.evaluate("window.__xss") is None, "injected script ran"
    assert page.locator("img[src=x]").count() == 0


def test_report_text_is_shown_literally_everywhere(page, page_watch, server):
    report = post_report(server, category="obstacle", description=XSS, spot=XSS_SPOT,
                         name=XSS, email="someone@example.org")
    number = report["number"]

    page.goto(server.url + "/")
    wait_for_layer(page, "reports")
    marker = _marker(page, number)
    marker["locator"].click()
    popup = page.locator(".leaflet-popup")
    expect(popup.locator("dd").filter(has_text=XSS)).to_have_count(1)
    expect(popup.locator("img")).to_have_count(0)  # no photo, and none made from the text
    _settle(page)
    _assert_not_run(page)

    page.goto(server.url + "/collections/reports/items?f=html&limit=100")
    expect(page.get_by_role("table").locator("td", has_text=XSS)).to_have_count(1)
    _settle(page)
    _assert_not_run(page)

    page.goto(f"{server.url}/reports/{number}")
    expect(page.locator("#description")).to_have_text(XSS)
    _settle(page)
    _assert_not_run(page)

    # The form's list of nearby reports (built in the browser) too.
    page.goto(server.url + "/reports/new")
    page.locator("#lat").fill(XSS_SPOT["lat"])
    page.locator("#lon").fill(XSS_SPOT["lon"])
    page.locator("#category").select_option("obstacle")
    expect(page.locator("#nearby-list li p")).to_have_text([XSS])
    _settle(page)
    _assert_not_run(page)
    page_watch.assert_clean()


# --- d. axe-core: WCAG 2.0 A and AA ---------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_report_pages_have_no_wcag_violations(page, page_watch, server, photo_report, lang):
    query = "?lang=en" if lang == "en" else ""
    number = photo_report["number"]
    page.goto(f"{server.url}/reports/new{query}")
    page.wait_for_function("window.geoappMap !== undefined")
    assert page.locator("html").get_attribute("lang") == lang
    assert_axe_clean(page, f"/reports/new{query}")
    # With the nearby list shown.
    page.locator("#lat").fill(PHOTO_SPOT["lat"])
    page.locator("#lon").fill(PHOTO_SPOT["lon"])
    page.locator("#category").select_option("pavement")
    expect(page.locator("#nearby")).to_be_visible()
    assert_axe_clean(page, f"/reports/new{query} with a nearby report")

    _assert_text_contrast_decided(page)

    page.goto(f"{server.url}/reports/{number}/receipt{query}")
    assert_axe_clean(page, f"/reports/{number}/receipt{query}")
    page.goto(f"{server.url}/reports/{number}{query}")
    expect(page.locator(".photos img")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    assert_axe_clean(page, f"/reports/{number}{query} (with a photo)")
    page_watch.assert_clean()


def _assert_text_contrast_decided(page: Page) -> None:
    """axe could judge the contrast of all text on the form. As on the map page, the map's
    panes (clipped, but laid out beyond the map) are hidden first. An empty <textarea> is
    always left undecided by axe-core 4.10 (dequelabs/axe-core#4947, fixed after 4.10.3);
    its colours are the browser's field colours."""
    hide_map_panes(page)
    results = run_axe(page, {"runOnly": {"type": "rule", "values": ["color-contrast"]}})
    assert not results["violations"], describe_axe(results["violations"])
    unsure = [n for rule in results["incomplete"] for n in rule["nodes"]
              if "content contains only non-text" not in n["summary"]
              and not n["html"].startswith("<textarea")]
    assert not unsure, describe_axe(results["incomplete"])
    assert "color-contrast" in results["passes"]


def test_map_with_a_report_popup_has_no_wcag_violations(page, page_watch, server, photo_report):
    page.goto(server.url + "/")
    for layer_id in ("boundary", "shelters", "wifi", "reports"):
        wait_for_layer(page, layer_id)
    marker = _marker(page, photo_report["number"])
    marker["locator"].click()
    expect(page.locator(".leaflet-popup img")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert_axe_clean(page, "the map with a report's popup open")
    page_watch.assert_clean()


# --- e. a readable error, in the page's language, keeping what was typed --------------------


@pytest.mark.parametrize(("lang", "message", "summary"), [
    ("ja", "場所が新発田市の外です。市内の場所を選んでください", "入力内容を確認してください"),
    ("en", "the location is outside Shibata City", "Please check the form"),
], ids=["ja", "en"])
def test_a_location_outside_the_city_is_explained(page, page_watch, server, lang, message,
                                                  summary):
    query = "?lang=en" if lang == "en" else ""
    description = "市外の道路です <b>太字</b> & 改行\n2行目"
    page.goto(f"{server.url}/reports/new{query}")
    page.locator("#lat").fill(OUTSIDE["lat"])
    page.locator("#lon").fill(OUTSIDE["lon"])
    page.locator("#category").select_option("road_other")
    page.locator("#description").fill(description)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("button[type=submit].primary").click()
    assert posted.value.status == 422
    page.wait_for_load_state()

    assert page.locator("html").get_attribute("lang") == lang
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert.get_by_role("heading")).to_have_text(summary)
    expect(alert).to_contain_text(message)
    # What was typed is kept; the fields at fault are marked.
    expect(page.locator("#description")).to_have_value(description)
    expect(page.locator("#lat")).to_have_value(OUTSIDE["lat"])
    expect(page.locator("#lon")).to_have_value(OUTSIDE["lon"])
    expect(page.locator("#category")).to_have_value("road_other")
    expect(page.locator("#lat")).to_have_attribute("aria-invalid", "true")
    page.wait_for_function("window.geoappMap !== undefined")
    assert_axe_clean(page, f"/reports/new{query} with an error shown")
    # The refused submission is the only error response (Chromium logs it, too).
    assert page_watch.http_errors == [f"422 {server.url}/reports/new{query}"]
    page_watch.http_errors.clear()
    page_watch.console_errors[:] = [e for e in page_watch.console_errors
                                    if "status of 422" not in e]
    page_watch.assert_clean()
