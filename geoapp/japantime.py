"""Japan time: the one time zone, and the one way a time is written for a person to read.

Times are stored in UTC; everything a person reads (pages, popups, mails, exports) is in
Japan time. Japan keeps no daylight saving, so the offset is always +09:00.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

#: The city's time zone.
JST = ZoneInfo("Asia/Tokyo")

#: English month names, for times written in English (here and in geoapp-map.js).
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


def local(moment: datetime) -> datetime:
    """``moment`` in Japan time (a naive moment is taken to be UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(JST)


def iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 in Japan time with its offset (``2026-12-01T23:09:00+09:00``):
    the same instant for a machine, the local time for a person reading a file."""
    return local(moment).isoformat(timespec="seconds")


def today(now: datetime) -> date:
    """The date in Japan at ``now``."""
    return local(now).date()


def format_time(moment: datetime | None, lang: str = "ja") -> str:
    """A moment as a person reads it: ``2026年12月1日 23:09`` or ``1 December 2026, 23:09``."""
    if moment is None:
        return ""
    at = local(moment)
    if lang == "ja":
        return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"
    return f"{at.day} {MONTHS_EN[at.month - 1]} {at.year}, {at:%H:%M}"


def format_date(moment: datetime | date | None, lang: str = "ja") -> str:
    """A day as a person reads it: ``2026年12月1日`` or ``1 December 2026``."""
    if moment is None:
        return ""
    day = local(moment).date() if isinstance(moment, datetime) else moment
    if lang == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"
