"""Reports over HTTP: the form and the JSON API share one write path and one set of rules."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from geoapp.app import create_app
from geoapp.japantime import JST
from geoapp.settings import Settings
from tests.imaging import bomb_png, phone_jpeg, png


@pytest.fixture
def client(engine_client):
    """Every test here runs on SQLite and on PostGIS: these doors touch the store."""
    return engine_client


CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}
EMAIL, NAME = "secret.reporter@example.org", "秘密 花子"
XSS = '<img src=x onerror="window.__xss=1">'


def _post(client, photos=(), headers=None, **fields):
    data = {"category": "gutter", "description": "側溝のふたが割れています", **CITY_HALL, **fields}
    files = [("photos", (name, body, mime)) for name, body, mime in photos]
    return client.post("/api/v1/reports", data=data, files=files or None, headers=headers or {})


def test_posting_a_report_with_a_phone_photo(engine_client):
    response = _post(engine_client, photos=[("IMG_0001.JPG", phone_jpeg(4000, 3000), "image/jpeg")],
                     email=EMAIL, name=NAME)
    assert response.status_code == 201
    body = response.json()
    assert body["status"]["ja"] == "受付" and body["category"]["code"] == "gutter"
    assert response.headers["location"] == body["url"]
    photo = engine_client.get(body["photos"][0]["url"])
    assert photo.headers["content-type"] == "image/jpeg"
    assert "max-age=31536000" in photo.headers["cache-control"]
    image = Image.open(io.BytesIO(photo.content))
    # At most 2048 px; JPEG draft decoding may land a little under (4000 px halves to 2000).
    assert 1800 <= max(image.size) <= 2048 and not image.getexif()
    page = engine_client.get(body["url"]).text
    assert "側溝のふたが割れています" in page
    assert body["photos"][0]["thumbnail"].split("/")[-1] in page


def test_the_report_appears_on_the_public_layer_coloured_by_state(engine_client):
    number = _post(engine_client).json()["number"]
    layer = engine_client.get("/collections/reports/items").json()
    feature = next(f for f in layer["features"] if f["id"] == number)
    assert feature["properties"]["status_group"] == "new"
    assert feature["geometry"]["coordinates"] == [139.3275, 37.9477]


@pytest.mark.parametrize(
    ("fields", "photos", "field", "ja"),
    [
        ({"lat": "37.9161", "lon": "139.0236"}, [], "location", "新発田市の外"),
        ({"category": "teleport"}, [], "category", "受け付けていません"),
        ({"description": ""}, [], "description", "状況を入力"),
        ({"description": "長" * 4001}, [], "description", "4000文字"),
        ({"lat": "north"}, [], "lat", "数値ではありません"),
        ({"lon": None}, [], "lon", "経度を指定"),
        ({}, [("a.jpg", phone_jpeg(), "image/jpeg")] * 4, "photos", "3枚まで"),
        ({}, [("notes.jpg", b"these are my notes, not a photo", "image/jpeg")], "photos[0]",
         "写真1は画像ファイルではありません"),
        ({}, [("half.jpg", phone_jpeg()[:5000], "image/jpeg")], "photos[0]", "途中で切れています"),
        ({}, [("photo.png", phone_jpeg(), "image/png")], None, None),  # lying extension: fine
        ({}, [("bomb.png", bomb_png(), "image/png")], "photos[0]", "画素数が多すぎます"),
    ],
    ids=["outside-city", "unknown-category", "empty-description", "long-description",
         "non-numeric-lat", "missing-lon", "four-photos", "not-an-image", "truncated",
         "lying-extension", "100-megapixel-bomb"],
)
def test_bad_reports_get_a_clear_422_in_japanese(client, fields, photos, field, ja):
    data = {k: v for k, v in fields.items() if v is not None}
    if "lon" in fields and fields["lon"] is None:
        data["lon"] = ""
    response = _post(client, photos=photos, **data)
    if field is None:  # the bytes are a JPEG whatever the name says: accepted
        assert response.status_code == 201
        return
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["field"] == field and ja in body["detail"]
    assert client.get("/collections/reports/items").json()["numberMatched"] == 0


def test_errors_follow_the_requested_language(client):
    body = _post(client, headers={"Accept-Language": "en-GB"}, lat="37.9161",
                 lon="139.0236").json()
    assert body["detail"] == "the location is outside Shibata City"


def test_a_flaky_phone_retrying_with_its_key_creates_one_report(engine_client):
    headers = {"Idempotency-Key": "3f1c2a9e-retry"}
    photos = [("a.jpg", phone_jpeg(), "image/jpeg")]
    first = _post(engine_client, photos=photos, headers=headers)
    second = _post(engine_client, photos=photos, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["number"] == second.json()["number"]
    assert engine_client.get("/collections/reports/items").json()["numberMatched"] == 1
    other = _post(engine_client, headers=headers, description="違う内容")
    assert other.status_code == 409


def test_submissions_are_rate_limited_with_retry_after(tmp_path, database_url):
    settings = Settings(environment="test", data_dir=tmp_path / "var", report_rate_limit=2,
                        database_url=database_url)
    with TestClient(create_app(settings)) as client:
        assert _post(client).status_code == 201
        assert _post(client).status_code == 201
        third = _post(client)
    assert third.status_code == 429
    assert int(third.headers["retry-after"]) > 0


def test_me_too_raises_the_count_on_the_page(client):
    number = _post(client).json()["number"]
    nearby = client.get("/api/v1/reports/nearby",
                        params={"lat": "37.9480", "lon": "139.3276", "category": "gutter"}).json()
    assert [r["number"] for r in nearby] == [number] and nearby[0]["distance_m"] < 50
    response = client.post(f"/reports/{number}/support", data={"lang": "ja"})
    assert response.status_code == 200  # followed the 303 to the report page
    assert re.search(r'id="supporters">1<', response.text)
    assert client.post(f"/api/v1/reports/{number}/supporters").json()["supporters"] == 2


def test_a_report_s_times_are_japan_time_for_people_and_machines(client):
    body = _post(client).json()
    posted = datetime.fromisoformat(body["created_at"])
    assert body["created_at"].endswith("+09:00") and body["updated_at"].endswith("+09:00")
    assert abs(posted - datetime.now(UTC)) < timedelta(minutes=5)
    local = posted.astimezone(JST)
    for lang, shown in (("ja", f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"),
                        ("en", f"{local.day} {local:%B} {local.year}, {local:%H:%M}")):
        page = client.get(f"/reports/{body['number']}?lang={lang}").text
        assert f'<time datetime="{body["created_at"]}">{shown}</time>' in page, lang


def test_the_form_posts_and_lands_on_the_receipt(client):
    form = client.get("/reports/new").text
    assert 'enctype="multipart/form-data"' in form and 'name="landmark"' in form
    response = client.post("/reports/new", data={"category": "obstacle", "lang": "ja",
                                                 "description": "倒木で通れません", **CITY_HALL},
                           files=[("photos", ("IMG.HEIC", phone_jpeg(), "image/heic"))])
    assert response.status_code == 200 and "/receipt" in str(response.url)
    assert "通報を受け付けました" in response.text
    number = re.search(r'id="report-number">(\d+)<', response.text).group(1)
    assert f"/reports/{number}" in response.text


def test_the_form_accepts_a_landmark_instead_of_a_map_tap(client):
    form = client.get("/reports/new").text
    landmark = re.search(r'<option value="([0-9.]+,[0-9.]+)"[^>]*>指定避難所: 紫雲寺小学校', form)
    response = client.post("/reports/new", data={
        "category": "gutter", "lang": "ja", "description": "側溝", "landmark": landmark.group(1)})
    assert "通報を受け付けました" in response.text


def test_the_form_shows_errors_in_its_language_and_keeps_what_was_typed(client):
    response = client.post("/reports/new?lang=en", data={
        "category": "gutter", "lang": "en", "description": "Broken lid <b>here</b>",
        "lat": "37.9161", "lon": "139.0236"})
    assert response.status_code == 422
    assert "outside Shibata City" in response.text
    assert "Broken lid &lt;b&gt;here&lt;/b&gt;" in response.text


def test_user_text_is_escaped_on_every_page(client):
    number = _post(client, description=XSS).json()["number"]
    for url in (f"/reports/{number}", f"/reports/{number}/receipt",
                "/collections/reports/items?f=html", f"/collections/reports/items/{number}?f=html"):
        html = client.get(url).text
        assert XSS not in html, url
        assert "&lt;img src=x onerror=" in html, url


def test_no_public_output_reveals_the_reporter(client):
    number = _post(client, email=EMAIL, name=NAME,
                   photos=[("a.jpg", phone_jpeg(), "image/jpeg")]).json()["number"]
    public = [
        "/", "/?f=json", "/collections", "/collections/reports", "/collections/reports/items",
        "/collections/reports/items?f=html", f"/collections/reports/items/{number}",
        f"/collections/reports/items/{number}?f=html", f"/reports/{number}",
        f"/reports/{number}/receipt", f"/api/v1/reports/{number}", "/api/v1/categories",
        "/api/v1/reports/nearby?lat=37.9477&lon=139.3275&category=gutter", "/api",
        "/reports/new",
    ]
    for url in public:
        response = client.get(url, headers={"Accept": "text/html"} if url == "/" else {})
        assert response.status_code == 200, url
        text = response.text
        assert EMAIL not in text and "secret.reporter" not in text and NAME not in text, url


def test_categories_list_their_departments_and_extra_fields(client):
    categories = {c["code"]: c for c in client.get("/api/v1/categories").json()}
    assert categories["dead_animal"]["department"]["code"] == "environment"
    assert categories["street_light"]["attributes"][0]["code"] == "light_number"
    assert categories["pavement"]["requires_photo"] is True


def test_the_api_is_documented_in_openapi(client):
    paths = client.get("/api").json()["paths"]
    post = paths["/api/v1/reports"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert any(p["name"] == "idempotency-key" for p in post["parameters"])


def test_unknown_reports_are_404(client):
    assert client.get("/reports/99999").status_code == 404
    assert client.get("/reports/abc").status_code == 404
    assert client.get("/api/v1/reports/99999").json()["status"] == 404
    assert client.get("/media/" + "0" * 64 + ".jpg").status_code == 404
    assert client.get("/media/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_pngs_are_accepted(client):
    assert _post(client, photos=[("x.png", png(), "image/png")]).status_code == 201


def test_the_form_s_empty_fields_of_other_categories_are_ignored(client):
    response = client.post("/reports/new", data={
        "category": "gutter", "lang": "ja", "description": "側溝", **CITY_HALL,
        "attribute[light_number]": ""})
    assert "通報を受け付けました" in response.text
