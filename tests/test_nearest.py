"""Nearest shelters and evacuation sites: the domain (distances, directions, filters) and
``GET /nearest`` as JSON, as a page, and its refusals."""

from __future__ import annotations

import pytest
from pyproj import Geod

from geoapp.errors import InvalidParameter
from geoapp.features.source import Feature
from geoapp.nearest import Query, compass_point, nearest

#: 新発田駅 (Shibata station), a point in the middle of the city.
STATION = (139.3308, 37.9479)
GEOD = Geod(ellps="GRS80")


def _point(fid: str, lon: float, lat: float, **props: object) -> Feature:
    return Feature(fid, {"type": "Point", "coordinates": [lon, lat]}, {"name": fid, **props})


def _offset(azimuth: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(*STATION, azimuth, metres)
    return lon, lat


def test_places_come_nearest_first_with_the_distance_and_direction_pyproj_measures():
    places = {name: _offset(azimuth, metres) for name, azimuth, metres in [
        ("north_1200", 0, 1200), ("east_300", 90, 300), ("southwest_2500", 225, 2500),
        ("northwest_800", 315, 800), ("south_50", 180, 50), ("southeast_4000", 135, 4000)]}
    features = [_point(name, lon, lat) for name, (lon, lat) in places.items()]
    found = nearest(features, Query(lon=STATION[0], lat=STATION[1], limit=10))
    assert [n.feature.id for n in found] == ["south_50", "east_300", "northwest_800",
                                             "north_1200", "southwest_2500", "southeast_4000"]
    assert [n.compass for n in found] == ["S", "E", "NW", "N", "SW", "SE"]
    for near in found:
        azimuth, _, metres = GEOD.inv(*STATION, near.lon, near.lat)
        # EPSG:6676's scale here differs from the ellipsoid's by well under 0.1 %; grid
        # north from true north by under a degree.
        assert near.distance_m == pytest.approx(metres, rel=1e-3)
        assert (near.bearing_deg - azimuth + 180) % 360 - 180 == pytest.approx(0, abs=1.0)


def test_a_known_pair_in_the_city_is_measured_in_metres():
    """新発田駅 to a point in 中央町 about 350 m west of it (by the geodesic)."""
    city_hall = (139.3268, 37.9477)
    found = nearest([_point("hall", *city_hall)], Query(lon=STATION[0], lat=STATION[1]))
    _, _, metres = GEOD.inv(*STATION, *city_hall)
    assert found[0].distance_m == pytest.approx(metres, rel=1e-3)
    assert 340 < found[0].distance_m < 360
    assert found[0].compass == "W"


@pytest.mark.parametrize(("bearing", "point"), [
    (0, "N"), (22.4, "N"), (22.6, "NE"), (90, "E"), (180, "S"), (247.6, "W"),
    (292.4, "W"), (292.6, "NW"), (337.6, "N"), (359.9, "N"), (-10, "N")])
def test_bearings_round_to_the_nearest_of_eight_compass_points(bearing, point):
    assert compass_point(bearing) == point


def test_the_wifi_and_hazard_filters_keep_only_the_places_that_have_them():
    near_no_wifi = _point("a", *_offset(0, 100), wifi=False, flood=False, earthquake=True)
    far_wifi = _point("b", *_offset(0, 900), wifi=True, flood=True, earthquake=False)
    features = [near_no_wifi, far_wifi]
    here = {"lon": STATION[0], "lat": STATION[1]}
    assert [n.feature.id for n in nearest(features, Query(**here))] == ["a", "b"]
    assert [n.feature.id for n in nearest(features, Query(**here, wifi=True))] == ["b"]
    sites = {"layer": "evacuation_sites", **here}
    assert [n.feature.id for n in nearest(features, Query(**sites, hazard="flood"))] == ["b"]
    assert [n.feature.id for n in nearest(features, Query(**sites, hazard="earthquake"))] == ["a"]
    assert nearest(features, Query(**sites, hazard="volcano")) == []


@pytest.mark.parametrize(("fields", "parameter"), [
    ({"layer": "wifi"}, "layer"),
    ({"layer": "evacuation_sites", "wifi": True}, "wifi"),
    ({"hazard": "flood"}, "hazard"),
    ({"layer": "evacuation_sites", "hazard": "meteor"}, "hazard"),
    ({"limit": 0}, "limit"),
    ({"limit": 51}, "limit"),
])
def test_a_query_that_cannot_be_answered_names_its_parameter(fields, parameter):
    with pytest.raises(InvalidParameter) as caught:
        Query(lon=STATION[0], lat=STATION[1], **fields)
    assert caught.value.parameter == parameter


# --- GET /nearest --------------------------------------------------------------------------


def test_the_api_lists_the_nearest_shelters_with_wifi_as_geojson(client):
    answer = client.get("/nearest", params={"lat": STATION[1], "lon": STATION[0],
                                            "wifi": "true", "limit": 3})
    assert answer.status_code == 200
    body = answer.json()
    assert body["type"] == "FeatureCollection" and body["inside_city"] is True
    places = body["features"]
    assert len(places) == 3
    assert all(p["properties"]["wifi"] for p in places)
    distances = [p["properties"]["distance_m"] for p in places]
    assert distances == sorted(distances)
    first = places[0]["properties"]
    assert first["name"] and first["address"].startswith("新潟県新発田市")
    assert first["direction"] in ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
    assert first["url"].endswith(f"/collections/shelters/items/{places[0]['id']}?f=html")
    # Every shelter with Wi-Fi that is not listed is no nearer than the last one listed.
    everyone = client.get("/nearest", params={"lat": STATION[1], "lon": STATION[0],
                                              "wifi": "true", "limit": 50}).json()["features"]
    assert [p["id"] for p in everyone[:3]] == [p["id"] for p in places]


def test_evacuation_sites_for_a_hazard_answer_in_english(client):
    body = client.get("/nearest", params={
        "lat": STATION[1], "lon": STATION[0], "layer": "evacuation_sites",
        "hazard": "landslide", "lang": "en"}).json()
    assert len(body["features"]) == 5
    first = body["features"][0]
    site = client.get(f"/collections/evacuation_sites/items/{first['id']}").json()
    assert site["properties"]["landslide"] is True
    assert first["properties"]["direction_label"] in (
        "north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")


def test_a_point_outside_the_city_is_answered_and_says_so(client):
    niigata_station = {"lat": 37.9122, "lon": 139.0617}
    body = client.get("/nearest", params={**niigata_station, "lang": "en"}).json()
    assert body["inside_city"] is False
    assert "outside Shibata City" in body["notes"][0]
    assert body["features"][0]["properties"]["distance_m"] > 10_000


def test_the_page_lists_the_places_as_a_numbered_list_of_links(client):
    page = client.get("/nearest", params={"lat": STATION[1], "lon": STATION[0], "f": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<ol class="nearest-list">' in html
    assert html.count("/collections/shelters/items/") == 5
    assert "の方向" in html and "約" in html
    empty_form = client.get("/nearest", headers={"Accept": "text/html"})
    assert empty_form.status_code == 200
    assert 'name="lat"' in empty_form.text and "nearest-list" not in empty_form.text


@pytest.mark.parametrize(("params", "parameter"), [
    ({"lat": "91", "lon": "139.3"}, "lat"),
    ({"lat": "nan", "lon": "139.3"}, "lat"),
    ({"lat": "37.9"}, "lon"),
    ({"lon": "139.3"}, "lat"),
    ({"lat": "37.9", "lon": "139.3", "layer": "bus_stops"}, "layer"),
    ({"lat": "37.9", "lon": "139.3", "hazard": "flood"}, "hazard"),
    ({"lat": "37.9", "lon": "139.3", "limit": "five"}, "limit"),
    ({"lat": "37.9", "lon": "139.3", "wifi": "perhaps"}, "wifi"),
])
def test_bad_input_answers_a_problem(client, params, parameter):
    answer = client.get("/nearest", params=params)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert parameter in answer.json()["detail"]


def test_the_form_says_what_to_change(client):
    page = client.get("/nearest", params={"lat": "37.9", "lon": "139.3", "hazard": "flood",
                                          "f": "html", "lang": "en"})
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert "only emergency evacuation sites" in page.text
    assert 'value="flood" selected' in page.text


def test_the_api_definition_declares_nearest(client):
    operation = client.get("/api").json()["paths"]["/nearest"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"lat", "lon", "layer", "wifi", "hazard", "limit"} <= names
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["type"]["enum"] == ["FeatureCollection"]
    assert "400" in operation["responses"]


def test_the_shelter_and_site_lists_link_to_the_nearest_form(client):
    for layer in ("shelters", "evacuation_sites"):
        page = client.get(f"/collections/{layer}/items", params={"f": "html", "lang": "en"})
        assert f'href="/nearest?layer={layer}&amp;lang=en"' in page.text
        form = client.get(f"/nearest?layer={layer}&lang=en", headers={"Accept": "text/html"})
        assert f'<option value="{layer}" selected>' in form.text
    assert "/nearest?" not in client.get("/collections/wifi/items?f=html").text
