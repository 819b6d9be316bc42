"""Reading GTFS-JP feeds: the (messy) MLIT sample in tests/data, a v3 feed, and refused feeds."""

from __future__ import annotations

import pytest

from geoapp.errors import ImportRejected
from geoapp.transit.gtfs import parse_time, read_feed
from tests.transit.feeds import SAMPLE, V3_FILES, write_feed


def test_the_mlit_sample_is_read_with_its_problems_named_by_file_and_line():
    feed = read_feed(SAMPLE)
    assert (len(feed.stops), len(feed.routes), len(feed.trips), len(feed.stop_times)) == \
        (48, 2, 6, 129)
    problems = [str(p) for p in feed.problems]
    assert "routes_jp.txt:3: route '21000-1' is not in routes.txt; row skipped" in problems
    assert any(p.startswith("trips.txt:1: column 'wheelchair_accesible'") for p in problems)
    station = next(s for s in feed.stops if s["stop_id"] == "1510")
    assert station["name_kana"] == "かわさきえきにしぐち"  # v2 translations
    assert station["name_en"] == "Kawasaki Station West Gate"
    route = next(r for r in feed.routes if r["route_id"] == "25000-1")
    assert route["color"] == "#e4007f" and route["origin"] == "川崎駅西口"  # routes_jp
    assert route["geometry"]["type"] == "MultiLineString"  # built from the stop sequence
    assert {t["service_id"] for t in feed.trips} == {"平日（月～金）"}
    assert feed.stop_times[0]["departure"] == 6 * 3600 + 28 * 60  # "6:28:00", unpadded


def test_a_v3_feed_zip_brings_patterns_shapes_translations_and_offices(tmp_path):
    feed = read_feed(write_feed(tmp_path, as_zip=True))
    assert feed.problems == []
    assert feed.publisher == "新発田市（テスト）" and feed.version == "test-3"
    assert feed.agencies[0]["official_name"] == "新発田市（テスト）"
    route = feed.routes[0]
    assert (route["origin"], route["destination"]) == ("新発田駅前", "西公園")  # pattern_jp
    assert route["long_name_en"] == "Town Loop"
    assert len(route["geometry"]["coordinates"][0]) == 4  # shapes.txt, not the 3 stops
    stop = feed.stops[0]
    assert (stop["name_kana"], stop["name_en"]) == ("しばたえきまえ", "Shibata Station")
    assert feed.trips[0]["office_id"] == "O1" and feed.trips[0]["headsign_en"] == "Nishi Park"


def test_unsound_rows_are_skipped_and_reported(tmp_path):
    times = V3_FILES["stop_times.txt"] + "T1,8:1x:00,8:1x:00,S3,4,0\n"
    stops = V3_FILES["stops.txt"] + "S9,沖合,1.0,1.0,0,\n"
    feed = read_feed(write_feed(tmp_path, {"stop_times.txt": times, "stops.txt": stops}))
    problems = [str(p) for p in feed.problems]
    assert "stop_times.txt:14: time '8:1x:00' is not H:MM:SS; row skipped" in problems
    assert "stops.txt:5: stop S9: 1.0, 1.0 is not in Japan; row skipped" in problems
    assert len(feed.stop_times) == 12


@pytest.mark.parametrize(("changes", "message"), [
    ({"stops.txt": None}, "required file missing: stops.txt"),
    ({"stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"}, "no usable stop"),
    ({"stop_times.txt": V3_FILES["stop_times.txt"] + "T1,9:00:00,9:00:00,NOPE,9,0\n"},
     "stop_times.txt:14: stop 'NOPE' does not exist"),
    ({"trips.txt": V3_FILES["trips.txt"] + "R9,平日,T9,x,0,,,\n"},
     "trips.txt:6: route 'R9' does not exist"),
    ({"trips.txt": V3_FILES["trips.txt"] + "R1,祝日,T9,x,0,,,\n"}, "service '祝日'"),
    ({"routes.txt": "route_id,route_short_name\nR1,1\n"}, "required column route_type"),
])
def test_unusable_feeds_are_refused(tmp_path, changes, message):
    with pytest.raises(ImportRejected, match=message):
        read_feed(write_feed(tmp_path, changes))


def test_not_a_feed_is_refused(tmp_path):
    path = tmp_path / "x.pdf"
    path.write_bytes(b"%PDF")
    with pytest.raises(ImportRejected, match="not a zip file"):
        read_feed(path)


def test_times_may_be_unpadded_and_pass_midnight():
    assert parse_time("6:28:00") == 23280
    assert parse_time("25:05:00") == 90300
    with pytest.raises(ValueError):
        parse_time("6:28")
