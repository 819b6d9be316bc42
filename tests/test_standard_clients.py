"""GDAL's OAPIF driver and OWSLib read every public collection unchanged, paging by `next`.

The server's store holds more reports than a page, so the store-backed reports layer is
paged by its cursor links; the tests that read every collection run on PostGIS too.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import httpx
import pyogrio
import pytest
from owslib.ogcapi.features import Features

from tests.conftest import LiveServer, store_of_its_own

pytestmark = pytest.mark.live

#: A page maximum well under the shelters' 59, so whole reads must follow `next` links.
SMALL_PAGES = "25"


#: Reports posted before the clients read: more than one page of SMALL_PAGES.
REPORTS = 30


def _post_reports(server: LiveServer) -> None:
    """REPORTS reports through the API, spread along a line inside the city."""
    for n in range(REPORTS):
        response = httpx.post(f"{server.url}/api/v1/reports", timeout=30, data={
            "category": "gutter", "description": f"側溝 {n}",
            "lat": f"{37.93 + n * 0.001:.6f}", "lon": f"{139.33 + n * 0.001:.6f}"})
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def paged_server(store_engine, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"paged-var-{store_engine}")
    with store_of_its_own(store_engine, data_dir, "paged") as url:
        server = LiveServer(data_dir, env={
            "GEOAPP_DATABASE_URL": url, "GEOAPP_ITEMS_MAX_LIMIT": SMALL_PAGES,
            "GEOAPP_REPORT_RATE_LIMIT": str(REPORTS)})
        _post_reports(server)
        yield server
        server.stop()


def _public_collections(server) -> dict[str, int]:
    docs = httpx.get(f"{server.url}/collections").json()["collections"]
    counts = {}
    for doc in docs:
        items = httpx.get(f"{server.url}/collections/{doc['id']}/items?limit=1").json()
        counts[doc["id"]] = items["numberMatched"]
    return counts


@pytest.mark.both_engines
def test_gdal_lists_every_public_collection(paged_server):
    names = {str(name) for name, _ in pyogrio.list_layers(f"OAPIF:{paged_server.url}/")}
    assert names == set(_public_collections(paged_server))


@pytest.mark.both_engines
def test_gdal_reads_every_collection_whole_across_pages(paged_server):
    collections = _public_collections(paged_server)
    assert collections["reports"] == REPORTS  # more than a page from the store
    for collection, matched in collections.items():
        frame = pyogrio.read_dataframe(f"OAPIF:{paged_server.url}/", layer=collection)
        assert len(frame) == matched, collection
        assert frame.crs.to_string() in ("OGC:CRS84", "EPSG:4326")
        assert frame.geometry.is_valid.all()


def test_gdal_reads_the_shelters_with_their_wifi_attributes(paged_server):
    frame = pyogrio.read_dataframe(f"OAPIF:{paged_server.url}/", layer="shelters")
    assert len(frame) == 59  # more than one page of 25
    shiunji = frame[frame["name"] == "紫雲寺小学校"].iloc[0]
    assert bool(shiunji["wifi"]) is True
    assert "00000JAPAN" in shiunji["wifi_ssids"]
    assert abs(shiunji.geometry.x - 139.3181) < 1e-6


def test_gdal_applies_a_spatial_filter_through_bbox(paged_server):
    frame = pyogrio.read_dataframe(f"OAPIF:{paged_server.url}/", layer="shelters",
                                   bbox=(139.30, 37.93, 139.33, 37.96))
    assert 0 < len(frame) < 59


@pytest.mark.both_engines
def test_owslib_reads_landing_conformance_and_collections(paged_server):
    api = Features(paged_server.url)
    assert "conformsTo" in api.conformance()
    ids = {c["id"] for c in api.collections()["collections"]}
    assert ids == set(_public_collections(paged_server))
    assert api.collection("shelters")["title"] == "指定避難所"


@pytest.mark.both_engines
def test_owslib_pages_every_collection_through_next_links(paged_server):
    api = Features(paged_server.url)
    collections = _public_collections(paged_server)
    assert collections["reports"] == REPORTS
    for collection, matched in collections.items():
        seen = []
        query = {"limit": SMALL_PAGES}
        for _ in range(10):
            page = api.collection_items(collection, **query)
            seen += [feature["id"] for feature in page["features"]]
            nxt = [link for link in page["links"] if link["rel"] == "next"]
            if not nxt:
                break
            # Whatever the next link carries: an offset for file layers, a cursor for the
            # store's layers.
            query = dict(parse_qsl(urlsplit(nxt[0]["href"]).query))
        assert len(seen) == len(set(seen)) == matched, collection


def test_owslib_reads_one_feature(paged_server):
    api = Features(paged_server.url)
    feature = api.collection_item("shelters", "E1520600001111")
    if isinstance(feature, str | bytes):
        feature = json.loads(feature)
    assert feature["properties"]["name"] == "紫雲寺小学校"


def test_gdal_reads_a_collection_in_epsg_6676_matching_pyproj(paged_server):
    from pyproj import Transformer

    frame = pyogrio.read_dataframe(f"OAPIF:{paged_server.url}/", layer="shelters",
                                   CRS="EPSG:6676")
    assert frame.crs.to_epsg() == 6676
    shiunji = frame[frame["name"] == "紫雲寺小学校"].iloc[0]
    easting, northing = Transformer.from_crs("OGC:CRS84", "EPSG:6676",
                                             always_xy=True).transform(139.3181, 38.014285)
    # GeoPandas keeps x = easting, y = northing whatever the CRS's declared axis order.
    assert (shiunji.geometry.x, shiunji.geometry.y) == pytest.approx((easting, northing), abs=1e-3)
