"""Importing past sightings from prefectures' CSV files (the Ishikawa sample is test data)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from geoapp.errors import ImportRejected
from geoapp.wildlife.csvimport import import_sightings, parse_count, parse_date, parse_time
from tests.conftest import TEST_DATA
from tests.wildlife.conftest import BOUNDARY

SAMPLE = TEST_DATA / "sample_bear_sightings_ishikawa_r7.csv"


def test_the_ishikawa_sample_imports_once(store, now):
    raw = SAMPLE.read_bytes()
    first = import_sightings(store.engine, raw, now=now)
    assert first.added == 103 and first.skipped == []
    again = import_sightings(store.engine, raw, now=now)
    assert again.added == 0 and again.already == 103
    with store.engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT species, count, lon, lat, observed_at, visibility, source, note "
            "FROM wildlife_detections ORDER BY id LIMIT 1")).one()
    assert row.species == "bear" and row.count == 1 and row.source == "csv"
    assert abs(row.lon - 136.3650943103666) < 1e-9 and row.visibility == "mesh"
    assert "加賀市" in row.note


def test_the_city_boundary_skips_rows_elsewhere(store, now):
    result = import_sightings(store.engine, SAMPLE.read_bytes(), now=now, boundary=BOUNDARY)
    assert result.added == 0 and len(result.skipped) == 103
    assert "outside" in result.skipped[0][1] and result.skipped[0][0] == 2


def test_cp932_lat_lon_columns_and_bad_rows(store, now):
    text = ("緯度,経度,日付,時刻,頭数,獣種\n37.95,139.33,令和7年5月1日,6:30,２頭,イノシシ\n"
            "37.95,139.33,いつか,,1頭,クマ\n,,2025/5/2,,1,クマ\n")
    result = import_sightings(store.engine, text.encode("cp932"), now=now)
    assert result.added == 1 and [line for line, _ in result.skipped] == [3, 4]


def test_a_file_without_positions_is_refused_whole(store, now):
    with pytest.raises(ImportRejected):
        import_sightings(store.engine, "日付,場所\n2025.1.9,どこか\n".encode(), now=now)


def test_the_formats_prefectures_write():
    assert parse_date("2025.1.9") == (2025, 1, 9)
    assert parse_date("R7.1.9") == (2025, 1, 9) == parse_date("令和7年1月9日")
    assert parse_date("２０２５／１／９") == (2025, 1, 9)
    assert parse_time("17時30分～19時頃") == (17, 30) and parse_time("") == (12, 0)
    assert parse_count("1頭") == 1 and parse_count("３頭") == 3 and parse_count("-") is None
