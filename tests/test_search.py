"""Place search: the normaliser, the towns and nearest_town, the ranking, and GET /search
(JSON, the page, refusals); report numbers on both engines, closed ones never found."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod

from geoapp.app import create_app
from geoapp.places.normalise import normalise, variants
from geoapp.places.search import ADDRESS, EXACT, PREFIX, SUBSTRING, PlaceIndex
from geoapp.places.towns import CREDIT, nearest_town, towns_in
from geoapp.settings import PROJECT_ROOT, Settings
from geoapp.transit.gtfs import read_feed
from tests.bulk import insert_reports, report_row
from tests.transit.feeds import write_feed

GEO = PROJECT_ROOT / "data" / "geo"
OTEMACHI_1 = (139.322865, 37.95031)  # 大手町一丁目's representative point in the file


# --- the normaliser -------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["大手町1丁目", "大手町１丁目", "大手町一丁目", "大手町 1 丁目",
                                   "大手町　１丁目"])
def test_chome_written_in_any_digits_or_width_is_one_form(typed):
    assert normalise(typed) == "大手町一丁目"


def test_chome_numbers_past_ten_are_kanji_as_addresses_write_them():
    assert normalise("本町11丁目") == "本町十一丁目"
    assert normalise("本町20丁目") == "本町二十丁目"
    assert normalise("本町２３丁目") == "本町二十三丁目"


def test_katakana_full_and_half_width_become_hiragana():
    assert normalise("イケノハタ") == normalise("いけのはた") == normalise("ｲｹﾉﾊﾀ") == "いけのはた"
    assert normalise("池ノ端") == "池の端"
    assert normalise("Ｗｉ－Ｆｉ") == "wi-fi"


def test_a_leading_city_or_prefecture_and_city_is_dropped_in_a_variant():
    assert variants("新発田市大手町") == ("新発田市大手町", "大手町")
    assert variants("新潟県新発田市 大手町１丁目") == ("新潟県新発田市大手町一丁目", "大手町一丁目")
    assert variants("大手町") == ("大手町",)
    # The city's name alone stays something to look for.
    assert variants("新発田市") == ("新発田市",)


# --- the towns ------------------------------------------------------------------------------

def test_the_288_towns_are_loaded_with_their_koaza():
    towns = towns_in(GEO)
    assert len(towns) == 288
    names = {t.name for t in towns.towns}
    assert {"大手町一丁目", "中央町三丁目", "月岡温泉", "小舟渡字神明前"} <= names


def test_nearest_town_answers_the_town_and_the_distance_in_metres():
    at_point = nearest_town(*OTEMACHI_1)
    assert at_point.town.name == "大手町一丁目" and at_point.metres < 0.01
    # 120 m due north of the point, by the ellipsoid: EPSG:6676 agrees within a metre.
    lon, lat, _ = Geod(ellps="GRS80").fwd(*OTEMACHI_1, 0, 120)
    near = nearest_town(lon, lat, GEO)
    assert near.town.name == "大手町一丁目"
    assert math.isclose(near.metres, 120, abs_tol=1)


# --- ranking --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """The index over a real geoapp's catalogue (its store on SQLite, no bus timetable)."""
    settings = Settings(environment="test", data_dir=tmp_path_factory.mktemp("var"))
    with TestClient(create_app(settings)) as app_client:
        yield PlaceIndex(towns_in(GEO), app_client.app.state.catalog)


def test_one_chome_typed_three_ways_finds_the_same_town_first(index):
    for typed in ("大手町1丁目", "大手町１丁目", "大手町一丁目", "新発田市大手町一丁目",
                  "新潟県新発田市大手町１丁目"):
        first = index.search(typed)[0]
        assert (first.kind, first.name, first.rank) == ("town", "大手町一丁目", EXACT), typed


def test_exact_before_prefix_before_address_before_substring(index):
    found = index.search("大手町", limit=20)
    # Prefix matches: the six 丁目, shorter names first, then by code point.
    assert [p.name for p in found[:6]] == ["大手町一丁目", "大手町三丁目", "大手町二丁目",
                                           "大手町五丁目", "大手町六丁目", "大手町四丁目"]
    assert {p.rank for p in found[:6]} == {PREFIX}
    ranks = [p.rank for p in index.search("紫雲寺", limit=20)]
    assert ranks == sorted(ranks) and SUBSTRING in ranks and PREFIX in ranks
    # An address with its block number finds its town.
    address = index.search("大手町1丁目2-3")[0]
    assert (address.name, address.rank) == ("大手町一丁目", ADDRESS)


def test_features_of_every_named_point_layer_are_found_then_by_layer_order(index):
    found = index.search("紫雲寺小学校", limit=20)
    layers = [p.collection for p in found if p.name == "紫雲寺小学校"]
    assert layers[0] == "shelters"
    assert {"shelters", "wifi"} <= {p.collection for p in found}
    assert all(p.kind == "feature" and p.id for p in found)


def test_katakana_input_finds_a_name_written_with_katakana(index):
    # 池ノ端 is written with a katakana ノ; typed in hiragana or half width it is found.
    for typed in ("池の端", "池ﾉ端", "池ノ端"):
        assert index.search(typed)[0].name == "池ノ端", typed


def test_at_most_limit_results_and_nothing_for_nothing(index):
    assert len(index.search("町", limit=10)) == 10
    assert len(index.search("町", limit=500)) == 20
    assert index.search("ﾎﾟﾎﾟﾋﾟﾎﾟ") == []
    assert index.search("   ") == []


# --- GET /search ------------------------------------------------------------------------------

def test_json_answer_names_kind_layer_id_position_and_url(client):
    body = client.get("/search", params={"q": "紫雲寺小学校"}).json()
    assert body["query"] == "紫雲寺小学校" and body["numberReturned"] == len(body["results"])
    first = body["results"][0]
    assert first["kind"] == "feature" and first["collection"] == "shelters"
    assert first["kind_label"] == "指定避難所"
    assert first["url"].endswith(f"/collections/shelters/items/{first['id']}?f=html")
    feature = client.get(f"/collections/shelters/items/{first['id']}").json()
    assert feature["geometry"]["coordinates"] == [first["lon"], first["lat"]]
    assert body["credits"] == []  # no town among them


def test_a_town_answer_carries_the_towns_credit_and_a_map_link(client):
    body = client.get("/search", params={"q": "１丁目", "lang": "en"}).json()
    towns = [r for r in body["results"] if r["kind"] == "town"]
    assert towns and towns[0]["kind_label"] == "Town"
    assert "/?at=" in towns[0]["url"] and "lang=en" in towns[0]["url"]
    assert body["credits"] == [CREDIT]


def test_limit_is_capped_and_checked(client):
    assert len(client.get("/search", params={"q": "町", "limit": "3"}).json()["results"]) == 3
    assert len(client.get("/search", params={"q": "町", "limit": "99"}).json()["results"]) == 20
    assert client.get("/search", params={"q": "町", "limit": "x"}).status_code == 400


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "あ" * 101},
                                    {"q": "大手町\x00"}, {"q": "大手町\x1b"}])
def test_bad_queries_answer_400_problems(client, params):
    response = client.get("/search", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "q" in response.json()["detail"]


def test_the_html_page_lists_results_with_the_credit_in_each_language(client):
    page = client.get("/search", params={"q": "大手町", "f": "html"})
    assert page.status_code == 200 and 'lang="ja"' in page.text
    assert "「大手町」の検索結果" in page.text and "大手町一丁目" in page.text
    assert CREDIT in page.text
    assert 'action="/search"' in page.text and 'name="q" type="text" value="大手町"' in page.text
    english = client.get("/search", params={"q": "ポポピポ", "f": "html", "lang": "en"})
    assert 'lang="en"' in english.text and "Nothing found." in english.text
    assert 'name="lang" value="en"' in english.text  # the form keeps the language
    # Opened without a query (a bookmarked box), the page is the form alone.
    assert client.get("/search", params={"f": "html"}).status_code == 200
    assert client.get("/search", params={"f": "html", "q": ""}).status_code == 400


def test_search_is_declared_in_the_api_definition(client):
    spec = client.get("/api").json()
    operation = spec["paths"]["/search"]["get"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/SearchAnswer"}
    result = spec["components"]["schemas"]["SearchResult"]["properties"]
    assert {"kind", "name", "collection", "id", "lon", "lat", "url"} <= set(result)
    assert "400" in operation["responses"]


def test_the_box_is_on_the_map_and_the_list_pages(client):
    for path in ("/?f=html", "/collections?f=html", "/collections/shelters/items?f=html"):
        page = client.get(path, headers={"Accept": "text/html"}).text
        assert 'class="place-search"' in page and 'name="q"' in page, path
    assert CREDIT in client.get("/", headers={"Accept": "text/html"}).text


# --- the favicon and the head -------------------------------------------------------------

def test_favicon_and_theme_colour(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    for path in ("/?f=html", "/search?f=html", "/reports/new", "/opendata", "/api?f=html"):
        page = client.get(path, headers={"Accept": "text/html"}).text
        assert '<meta name="theme-color"' in page and 'rel="icon"' in page, path
    svg = client.get(next(line.split('href="')[1].split('"')[0]
                          for line in page.splitlines() if 'rel="icon"' in line))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")


# --- report numbers: the store, on both engines ----------------------------------------------

def test_public_report_numbers_are_found_and_closed_ones_are_not(engine_client):
    engine = engine_client.app.state.reports.store.engine
    shown, closed = insert_reports(engine, [
        report_row(139.3275, 37.9477, category="gutter"),
        report_row(139.33, 37.95, status="closed")])
    body = engine_client.get("/search", params={"q": str(shown)}).json()
    first = body["results"][0]
    assert (first["kind"], first["collection"], first["id"]) == ("report", "reports", str(shown))
    assert first["name"] == f"通報 {shown}（側溝・排水）"
    assert (first["lon"], first["lat"]) == (139.3275, 37.9477)
    assert first["url"].endswith(f"/reports/{shown}")
    # Typed in full width or with 「No.」, in English.
    wide = str(shown).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    english = engine_client.get("/search", params={"q": f"No.{wide}", "lang": "en"}).json()
    assert english["results"][0]["name"].startswith(f"Report {shown} (")
    # A closed report is not public: its number finds nothing; neither does an unused one.
    for number in (closed, 999_999, 99_999_999_999_999_999_999):
        found = engine_client.get("/search", params={"q": str(number)}).json()["results"]
        assert all(r["kind"] != "report" for r in found), number


def test_bus_stops_are_found_by_name_reading_and_english_after_an_import(engine_client,
                                                                         tmp_path):
    before = engine_client.get("/search", params={"q": "新発田駅前"}).json()["results"]
    assert before and all(r["collection"] != "bus_stops" for r in before)  # 新発田駅前公園…
    engine_client.app.state.buses.timetable.replace(read_feed(write_feed(tmp_path / "v3")),
                                                    sample=False)
    # The index built before the import follows the timetable's new version.
    for typed in ("新発田駅前", "シバタエキマエ", "shibata station"):
        found = engine_client.get("/search", params={"q": typed}).json()["results"]
        stop = next(r for r in found if r["collection"] == "bus_stops")
        assert (stop["id"], stop["name"]) == ("S1", "新発田駅前"), typed
    english = engine_client.get("/search", params={"q": "新発田駅前", "lang": "en"}).json()
    assert english["results"][0]["name"] == "Shibata Station"
