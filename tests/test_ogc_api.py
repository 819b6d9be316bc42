"""OGC API – Features Part 1 Core, as a client reads it."""

from __future__ import annotations

import pytest

GEOJSON = "application/geo+json"


def test_landing_page_links_to_api_conformance_and_collections(client):
    body = client.get("/", headers={"Accept": "application/json"}).json()
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert rels["service-desc"].endswith("/api")
    assert rels["conformance"].endswith("/conformance")
    assert rels["data"].endswith("/collections")


def test_browsers_get_the_map_at_the_root(client):
    response = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.headers["content-type"].startswith("text/html")
    assert "folium-map" in response.text
    # The map fetches its layers from the feature API rather than inlining them.
    assert "/collections/shelters/items" in response.text
    assert "紫雲寺小学校" not in response.text


def test_conformance_declares_core_geojson_html_and_oas30(client):
    classes = client.get("/conformance").json()["conformsTo"]
    for name in ("core", "geojson", "html", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{name}" in classes


def test_api_document_is_openapi_30_with_items_limit_bounds(client, settings):
    response = client.get("/api")
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    spec = response.json()
    assert spec["openapi"].startswith("3.0")
    params = spec["paths"]["/collections/{collection_id}/items"]["get"]["parameters"]
    limit = next(p for p in params if p["name"] == "limit")
    assert limit["schema"]["maximum"] == settings.items_max_limit


def test_collections_lists_public_feature_layers_only(engine_client):
    # On both engines: the list reads every store-backed layer's version for its ETag.
    response = engine_client.get("/collections")
    assert response.status_code == 200, response.text
    ids = [c["id"] for c in response.json()["collections"]]
    assert ids == ["boundary", "shelters", "evacuation_sites", "community_centres", "wifi",
                   "reports", "wildlife_detections", "bus_areas", "bus_routes", "bus_stops",
                   "bus_positions"]
    # raster hazard overlays are map layers, not feature collections
    assert "hazard_flood" not in ids


def test_collection_has_extent_licence_and_item_links(client):
    doc = client.get("/collections/shelters").json()
    minx, miny, maxx, maxy = doc["extent"]["spatial"]["bbox"][0]
    assert 139.2 < minx < maxx < 139.5 and 37.8 < miny < maxy < 38.1
    rels = {(link["rel"], link["type"]) for link in doc["links"]}
    assert ("items", GEOJSON) in rels and ("items", "text/html") in rels
    assert ("license", "text/html") in rels
    assert "国土地理院" in doc["geoapp:attribution"]


def test_items_are_geojson_with_counts_and_default_limit(client, settings):
    response = client.get("/collections/shelters/items")
    assert response.headers["content-type"] == GEOJSON
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 59
    assert body["numberReturned"] == len(body["features"]) == settings.items_default_limit
    assert body["timeStamp"].endswith("Z")


def test_paging_with_next_and_prev_visits_every_feature_once(client):
    seen: list[str] = []
    url = "/collections/shelters/items?limit=25"
    pages = 0
    while url:
        body = client.get(url).json()
        pages += 1
        seen += [f["id"] for f in body["features"]]
        links = {link["rel"]: link["href"] for link in body["links"]}
        if pages > 1:
            assert "prev" in links
        url = links.get("next")
    assert pages == 3
    assert len(seen) == len(set(seen)) == 59


def test_an_over_large_limit_is_clamped_not_refused(client, settings):
    body = client.get(f"/collections/shelters/items?limit={settings.items_max_limit * 10}").json()
    assert body["numberReturned"] == 59


def test_bbox_returns_only_features_inside_it(client):
    bbox = (139.30, 37.93, 139.33, 37.96)
    body = client.get("/collections/shelters/items", params={
        "bbox": ",".join(map(str, bbox)), "limit": 100}).json()
    assert 0 < body["numberMatched"] < 59
    for feature in body["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def test_bbox_on_the_boundary_polygon_tests_the_shape_not_just_its_box(client):
    # The NW corner of the boundary's bbox lies outside the city polygon (the sea).
    outside = client.get("/collections/boundary/items?bbox=139.2417,38.045,139.245,38.049").json()
    assert outside["numberMatched"] == 0
    city_hall = client.get("/collections/boundary/items?bbox=139.327,37.947,139.328,37.948").json()
    assert city_hall["numberMatched"] == 1


def test_property_filter_selects_shelters_with_wifi(client):
    body = client.get("/collections/shelters/items?wifi=true&limit=100").json()
    assert body["numberMatched"] == 9
    assert all(f["properties"]["wifi"] for f in body["features"])
    names = {f["properties"]["name"] for f in body["features"]}
    assert "紫雲寺小学校" in names


def test_filters_and_paging_are_kept_in_next_links(client):
    body = client.get("/collections/shelters/items?wifi=false&limit=10").json()
    next_href = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert "wifi=false" in next_href and "offset=10" in next_href


def test_one_item_by_id(client):
    response = client.get("/collections/shelters/items/E1520600001111")
    assert response.headers["content-type"] == GEOJSON
    feature = response.json()
    assert feature["properties"]["name"] == "紫雲寺小学校"
    assert feature["properties"]["wifi_ssids"] == "SAMPLE_Shibata_Free_WiFi, 00000JAPAN"


def test_evacuation_sites_carry_their_hazard_flags(client):
    feature = client.get("/collections/evacuation_sites/items?limit=1").json()["features"][0]
    flags = ("flood", "landslide", "storm_surge", "earthquake", "tsunami", "large_fire",
             "inland_flood", "volcano")
    assert all(isinstance(feature["properties"][flag], bool) for flag in flags)
    floods = client.get("/collections/evacuation_sites/items?flood=true&limit=100").json()
    assert floods["numberMatched"] == 41  # GSI's file marks 41 of 59 for floods


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/collections/nope", 404, None),
        ("/collections/nope/items", 404, None),
        ("/collections/shelters/items/E000", 404, None),
        ("/collections/hazard_flood/items", 404, None),
        ("/collections/shelters/items?bbox=1,2,3", 400, "bbox"),
        ("/collections/shelters/items?bbox=a,b,c,d", 400, "bbox"),
        ("/collections/shelters/items?bbox=139,38,140,200", 400, "bbox"),
        ("/collections/shelters/items?bbox=139,39,140,38", 400, "bbox"),
        ("/collections/shelters/items?bbox=200,38,210,39", 400, "bbox"),
        ("/collections/shelters/items?bbox=nan,38,140,39", 400, "bbox"),
        ("/collections/shelters/items?limit=ten", 400, "limit"),
        ("/collections/shelters/items?limit=0", 400, "limit"),
        ("/collections/shelters/items?offset=-1", 400, "offset"),
        ("/collections/shelters/items?colour=red", 400, "colour"),
        ("/collections/shelters/items?f=xml", 400, "f"),
        ("/collections/shelters/items?datetime=yesterday", 400, "datetime"),
        ("/collections/shelters/items?crs=http://www.opengis.net/def/crs/EPSG/0/9999", 400, "crs"),
    ],
)
def test_bad_requests_get_a_problem_body_never_a_500(client, url, status, parameter):
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    if parameter:
        assert body["parameter"] == parameter


def test_html_list_view_is_a_table_of_the_layer_properties(client):
    response = client.get("/collections/shelters/items?f=html&limit=100")
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert html.count("<tr>") == 60  # header row and 59 shelters
    assert "<caption>指定避難所</caption>" in html
    assert "紫雲寺小学校" in html and "公衆無線LAN" in html


def test_html_list_view_in_english(client):
    html = client.get("/collections/shelters/items?f=html&lang=en").text
    assert '<html lang="en">' in html
    assert "Designated shelters" in html and "Public Wi-Fi" in html


def test_browsers_asking_for_html_get_html_items(client):
    response = client.get("/collections/wifi/items", headers={"Accept": "text/html"})
    assert response.headers["content-type"].startswith("text/html")
    assert "<table" in response.text and "<caption>" in response.text


def test_html_errors_are_pages_not_json(client):
    response = client.get("/collections/nope?f=html")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "nope" in response.text


def test_items_answer_in_the_requested_language(client):
    body = client.get("/collections/shelters?lang=en").json()
    assert body["title"] == "Designated shelters"
    assert client.get("/collections/shelters?lang=ja").json()["title"] == "指定避難所"


# -- OGC API – Features Part 2: coordinate reference systems --------------------------------

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


def test_collections_offer_the_japanese_crss(client):
    doc = client.get("/collections/shelters").json()
    assert set(doc["crs"]) >= {"http://www.opengis.net/def/crs/OGC/1.3/CRS84", f"{EPSG}4326",
                               f"{EPSG}6668", f"{EPSG}6676"}
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in \
        client.get("/conformance").json()["conformsTo"]


def test_items_in_the_niigata_plane_system_match_pyproj(client):
    from pyproj import Transformer

    response = client.get(f"/collections/shelters/items/E1520600001111?crs={EPSG}6676")
    assert response.headers["content-crs"] == f"<{EPSG}6676>"
    northing, easting = response.json()["geometry"]["coordinates"]
    expected = Transformer.from_crs("OGC:CRS84", "EPSG:6676").transform(139.3181, 38.014285)
    assert (northing, easting) == pytest.approx(expected, abs=1e-6)
    assert 200_000 < northing < 250_000  # about 224 km north of the zone's origin at 36°N


def test_epsg_4326_answers_latitude_first(client):
    body = client.get(f"/collections/shelters/items?limit=1&crs={EPSG}4326").json()
    lat, lon = body["features"][0]["geometry"]["coordinates"]
    assert 37 < lat < 39 and 139 < lon < 140


def test_bbox_crs_reads_the_bbox_in_that_crs_axis_order(client):
    plain = client.get("/collections/shelters/items?bbox=139.30,37.93,139.33,37.96").json()
    lat_first = client.get("/collections/shelters/items", params={
        "bbox": "37.93,139.30,37.96,139.33", "bbox-crs": f"{EPSG}4326"}).json()
    assert lat_first["numberMatched"] == plain["numberMatched"] > 0


def test_an_unsupported_crs_is_a_clear_400(client):
    body = client.get(f"/collections/shelters/items?bbox-crs={EPSG}3857&bbox=1,2,3,4").json()
    assert body["status"] == 400 and body["parameter"] == "bbox-crs" and "6676" in body["detail"]
