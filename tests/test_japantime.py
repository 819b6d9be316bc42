"""Every time a person reads is Japan time, written the way each language writes it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from geoapp.japantime import format_date, format_time, local, today


def test_a_utc_moment_is_read_in_japan_time_in_each_language():
    moment = datetime(2026, 12, 1, 14, 9, tzinfo=UTC)
    assert format_time(moment, "ja") == "2026年12月1日 23:09"
    assert format_time(moment, "en") == "1 December 2026, 23:09"
    assert local(moment).isoformat() == "2026-12-01T23:09:00+09:00"


def test_the_date_in_japan_turns_at_midnight_japan_time_not_utc():
    late_utc = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)  # 00:30 on 1 April in Japan
    assert today(late_utc) == date(2026, 4, 1)
    assert format_date(late_utc, "ja") == "2026年4月1日"
    assert format_date(date(2026, 4, 1), "en") == "1 April 2026"
    assert format_time(None) == ""
