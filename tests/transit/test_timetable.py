"""The timetable in the store (SQLite and PostGIS): one-step replacement, refusal leaving
the old timetable, and departures by the calendar and its exceptions in Japan time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from geoapp.cli import cli
from geoapp.transit.gtfs import read_feed
from geoapp.transit.timetable import Timetable
from tests.transit.feeds import SAMPLE, V3_FILES, write_feed


def _jst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+09:00").astimezone(UTC)


@pytest.fixture
def timetable(store, tmp_path):
    table = Timetable(store.engine)
    table.replace(read_feed(write_feed(tmp_path / "v3")))
    return table


def _times(timetable, when, stop="S1"):
    return [(d.time, d.trip_id) for d in timetable.departures(_jst(when)).get(stop, [])]


def test_departures_follow_the_calendar_in_japan_time(timetable):
    # Wednesday 2026-11-25, 07:00 in Japan (22:00 UTC the day before).
    assert _times(timetable, "2026-11-25T07:00:00") == [
        ("08:00", "T1"), ("17:30", "T2"), ("23:59", "T4")]
    assert _times(timetable, "2026-11-25T09:00:00") == [("17:30", "T2"), ("23:59", "T4")]
    # Saturday: the weekend service.
    assert _times(timetable, "2026-11-28T07:00:00") == [("10:00", "T3"), ("23:59", "T4")]


def test_calendar_dates_remove_and_add_services(timetable):
    # Monday 2026-11-23 is a holiday: weekday trips are removed, the holiday trip added.
    assert _times(timetable, "2026-11-23T07:00:00") == [("10:00", "T3"), ("23:59", "T4")]


def test_trips_past_midnight_count_on_the_next_day(timetable):
    # T4 leaves S1 at 23:59 and reaches S2 at 24:04, that is 00:04 the next morning.
    assert _times(timetable, "2026-11-26T00:01:00", "S2")[0] == ("00:04", "T4")
    # Tonight's run is listed as Japanese timetables write it.
    assert _times(timetable, "2026-11-25T23:00:00", "S2") == [("24:04", "T4")]
    assert "S3" not in timetable.departures(_jst("2026-11-25T07:00:00"))  # the last stop


def test_a_new_import_replaces_the_old_in_one_step(timetable, tmp_path):
    version = timetable.version()
    timetable.replace(read_feed(SAMPLE), sample=True)
    assert timetable.version() > version
    assert {s["stop_id"] for s in timetable.stops()}.isdisjoint({"S1", "S2", "S3"})
    assert timetable.info()["sample"] is True


def test_a_failed_write_leaves_the_previous_timetable(timetable, tmp_path):
    feed = read_feed(SAMPLE)
    feed.stop_times.append(dict(feed.stop_times[0]))  # a duplicate key fails mid-transaction
    with pytest.raises(sa.exc.IntegrityError):
        timetable.replace(feed)
    assert {s["stop_id"] for s in timetable.stops()} == {"S1", "S2", "S3"}
    assert timetable.info()["publisher"] == "新発田市（テスト）"


def test_the_cli_imports_with_progress_and_a_refused_feed_changes_nothing(
        database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_DATABASE_URL", database_url)
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    good = runner.invoke(cli, ["gtfs", "import", str(SAMPLE), "--sample"])
    assert good.exit_code == 0, good.output
    assert "reading stops.txt: 48 rows" in good.output
    assert "problem routes_jp.txt:3: route '21000-1' is not in routes.txt" in good.output
    broken = write_feed(tmp_path / "broken", {
        "stop_times.txt": V3_FILES["stop_times.txt"] + "T1,9:00:00,9:00:00,NOPE,9,0\n"})
    bad = runner.invoke(cli, ["gtfs", "import", str(broken)])
    assert bad.exit_code == 1
    assert "refused, the timetable in place is kept" in bad.output
    assert "stop 'NOPE' does not exist" in bad.output
    status = runner.invoke(cli, ["gtfs", "status"])
    assert "gtfs_jp_sample_mlit_rinkobus" in status.output and "[sample]" in status.output
