"""GDAL's OAPIF driver and OWSLib read every public collection unchanged, paging by `next`."""

from __future__ import annotations

import json

import pyogrio
import pytest
from owslib.ogcapi.features import Features

from tests.conftest import LiveServer

pytestmark = pytest.mark.live

#: A page maximum well under the shelters' 59, so whole reads must follow `next` links.
SMALL_PAGES = "25"


@pytest.fixture(scope="module")
def paged_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("paged-var"),
                        env={"GEOAPP_ITEMS_MAX_LIMIT": SMALL_PAGES})
    yield server
    server.stop()


def _public_collections(server) -> dict[str, int]:
    import httpx

    docs = httpx.get(f"{server.url}/collections").json()["collections"]
    counts = {}
    for doc in docs:
        items = httpx.get(f"{server.url}/collections/{doc['id']}/items?limit=1").json()
        counts[doc["id"]] = items["numberMatched"]
    return counts


def test_gdal_lists_every_public_collection(paged_server):
    names = {str(name) for name, _ in pyogrio.list_layers(f"OAPIF:{paged_server.url}/")}
    assert names == set(_public_collections(paged_server))


def test_gdal_reads_every_collection_whole_across_pages(paged_server):
    for collection, matched in _public_collections(paged_server).items():
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


def test_owslib_reads_landing_conformance_and_collections(paged_server):
    api = Features(paged_server.url)
    assert "conformsTo" in api.conformance()
    ids = {c["id"] for c in api.collections()["collections"]}
    assert ids == set(_public_collections(paged_server))
    assert api.collection("shelters")["title"] == "指定避難所"


def test_owslib_pages_every_collection_through_next_links(paged_server):
    api = Features(paged_server.url)
    for collection, matched in _public_collections(paged_server).items():
        seen = []
        offset = 0
        for _ in range(10):
            page = api.collection_items(collection, limit=int(SMALL_PAGES), offset=offset)
            seen += [feature["id"] for feature in page["features"]]
            nxt = [link for link in page["links"] if link["rel"] == "next"]
            if not nxt:
                break
            offset = int(nxt[0]["href"].split("offset=")[1].split("&")[0])
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
