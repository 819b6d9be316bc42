"""The plan's figures: posts, handled share, times to respond and close, map views.

A Japanese fiscal year runs from April to March and is labelled with the era year too
(FY2025 = 令和7年度).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from geoapp.i18n import Lang, data_name
from geoapp.japantime import JST
from geoapp.store.schema import categories, departments, map_views, reports

MONTHS = (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)


def fiscal_year(moment: datetime) -> int:
    """The fiscal year (by its starting calendar year) a moment falls in, in Japan time."""
    local = moment.astimezone(JST)
    return local.year if local.month >= 4 else local.year - 1


def era_label(fy: int) -> str:
    """The fiscal year in the Japanese era: 2019 is 令和元年度, 2025 is 令和7年度."""
    if fy >= 2019:
        n = fy - 2018
        return f"令和{'元' if n == 1 else n}年度"
    n = fy - 1988
    return f"平成{'元' if n == 1 else n}年度"


def fiscal_bounds(fy: int) -> tuple[datetime, datetime]:
    """The first instant of the fiscal year and of the next one (UTC)."""
    start = datetime(fy, 4, 1, tzinfo=JST).astimezone(UTC)
    end = datetime(fy + 1, 4, 1, tzinfo=JST).astimezone(UTC)
    return start, end


@dataclass
class Group:
    """Figures for one category, one department, or all reports."""

    label: str
    posted: int = 0
    handled: int = 0
    median_response_hours: float | None = None  # posting to the first staff action
    median_closing_hours: float | None = None  # posting to closing

    @property
    def share(self) -> float | None:
        """Handled / posted (対応件数/投稿件数), None when nothing was posted."""
        return self.handled / self.posted if self.posted else None


@dataclass
class FiscalFigures:
    """Everything the dashboard shows for one fiscal year."""

    fy: int
    label: str
    total: Group
    by_category: list[Group]
    by_department: list[Group]
    monthly_posted: list[tuple[int, int]]  # (month, count), April first
    monthly_handled: list[tuple[int, int]]
    map_views: int


def _hours(conn: sa.Connection, end: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Hours from a report's posting to ``end``, in SQL (NULL while ``end`` is)."""
    if conn.dialect.name == "postgresql":
        return sa.extract("epoch", end - reports.c.created_at) / 3600.0
    return (sa.func.julianday(end) - sa.func.julianday(reports.c.created_at)) * 24.0


def _month(conn: sa.Connection, moment: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """The calendar month of ``moment`` in Japan time, in SQL."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.extract("month", sa.func.timezone("Asia/Tokyo", moment)), sa.Integer)
    # Stored as UTC text; Japan keeps no summer time, so it is always nine hours ahead.
    return sa.cast(sa.func.strftime("%m", moment, "+9 hours"), sa.Integer)


def _medians(conn: sa.Connection, query: sa.Select, key: sa.ColumnElement[Any],
             value: sa.ColumnElement[float]) -> dict[Any, float]:
    """The median of ``value`` per ``key`` over ``query``'s reports (NULLs left out).

    PostgreSQL has ``percentile_cont``; SQLite has no median, so the middle row (or the two
    middle rows, averaged) is picked by window functions: the same figure, still in SQL.
    """
    if conn.dialect.name == "postgresql":
        median = sa.func.percentile_cont(0.5).within_group(value)
        return dict(conn.execute(query.with_only_columns(key, median)
                                 .where(value.is_not(None)).group_by(key)).all())
    ranked = query.with_only_columns(
        key.label("key"), value.label("value"),
        sa.func.row_number().over(partition_by=key, order_by=value).label("rank"),
        sa.func.count().over(partition_by=key).label("n"),
    ).where(value.is_not(None)).subquery()
    middle = sa.select(ranked.c.key, sa.func.avg(ranked.c.value)).where(
        ranked.c.rank.between((ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2)
    ).group_by(ranked.c.key)
    return dict(conn.execute(middle).all())


def _groups(conn: sa.Connection, query: sa.Select, key: sa.ColumnElement[Any],
            name: Callable[[Any], str] = str) -> list[Group]:
    """Posted, handled and the two medians per ``key`` (a code), aggregated in SQL, each
    labelled with the code's ``name``."""
    counts = conn.execute(query.with_only_columns(
        key, sa.func.count(), sa.func.count(reports.c.closed_at)).group_by(key)).all()
    response = _medians(conn, query, key, _hours(conn, reports.c.first_response_at))
    closing = _medians(conn, query, key, _hours(conn, reports.c.closed_at))
    groups = [Group(name(code), posted, handled, response.get(code), closing.get(code))
              for code, posted, handled in counts]
    return sorted(groups, key=lambda g: (-g.posted, g.label))


def _names(conn: sa.Connection, table: sa.Table, family: str, lang: Lang
           ) -> Callable[[Any], str]:
    """Codes of ``table`` (categories, departments) to their names in ``lang``."""
    names = {row.code: data_name(family, row.code, lang, {"ja": row.name_ja, "en": row.name_en})
             for row in conn.execute(sa.select(table.c.code, table.c.name_ja, table.c.name_en))}
    return lambda code: names.get(code, str(code))


def _monthly(conn: sa.Connection, query: sa.Select, moment: sa.ColumnElement[Any]
             ) -> list[tuple[int, int]]:
    month = _month(conn, moment)
    found = dict(conn.execute(query.with_only_columns(month, sa.func.count())
                              .where(moment.is_not(None)).group_by(month)).all())
    return [(m, found.get(m, 0)) for m in MONTHS]


def figures(engine: sa.Engine, fy: int, lang: Lang = "ja") -> FiscalFigures:
    """The plan's figures for reports posted in fiscal year ``fy``, aggregated in SQL."""
    start, end = fiscal_bounds(fy)
    posted = (
        sa.select(reports.c.id)
        .join(categories, categories.c.code == reports.c.category_code)
        .join(departments, departments.c.code == reports.c.department_code, isouter=True)
        .where(reports.c.created_at >= start, reports.c.created_at < end)
    )
    with engine.connect() as conn:
        [total] = _groups(conn, posted, sa.literal("all")) or [Group("all")]
        # Grouped by code, then named: a catalogue may name them in the reader's language.
        by_category = _groups(conn, posted, categories.c.code,
                              _names(conn, categories, "reports.category", lang))
        by_department = _groups(conn, posted, sa.func.coalesce(departments.c.code, "-"),
                                _names(conn, departments, "reports.department", lang))
        monthly_posted = _monthly(conn, posted, reports.c.created_at)
        monthly_handled = _monthly(conn, posted, reports.c.closed_at)
        views = conn.execute(sa.select(map_views.c.views).where(
            map_views.c.fiscal_year == fy)).scalar() or 0
    return FiscalFigures(
        fy=fy, label=era_label(fy), total=total, by_category=by_category,
        by_department=by_department, monthly_posted=monthly_posted,
        monthly_handled=monthly_handled, map_views=views)


def add_map_views(engine: sa.Engine, counts: Mapping[int, int]) -> None:
    """Add views of the public map by fiscal year, in one transaction."""
    for attempt in range(3):  # two processes' first views of a year may race to insert
        try:
            with engine.begin() as conn:
                for fy, views in counts.items():
                    updated = conn.execute(
                        map_views.update().where(map_views.c.fiscal_year == fy)
                        .values(views=map_views.c.views + views)).rowcount
                    if not updated:
                        conn.execute(map_views.insert().values(fiscal_year=fy, views=views))
            return
        except IntegrityError:
            if attempt == 2:
                raise


def count_map_view(engine: sa.Engine, now: datetime) -> None:
    """Count one view of the public map in its fiscal year; nothing about the viewer is kept."""
    add_map_views(engine, {fiscal_year(now): 1})


class MapViewCounter:
    """Views of the public map counted in memory and written in batches.

    A page view that wrote its own row would take SQLite's one write lock on every view of
    the map; the service flushes these counts every few seconds and when it stops instead.
    """

    def __init__(self) -> None:
        self._pending: Counter[int] = Counter()
        self._lock = threading.Lock()

    def count(self, now: datetime) -> None:
        """Count one view (in memory only)."""
        with self._lock:
            self._pending[fiscal_year(now)] += 1

    def pending(self, fy: int) -> int:
        """Views of ``fy`` counted here and not yet written."""
        with self._lock:
            return self._pending[fy]

    def flush(self, engine: sa.Engine) -> int:
        """Write the counted views; kept for the next flush when the database fails."""
        with self._lock:
            batch, self._pending = self._pending, Counter()
        if not batch:
            return 0
        try:
            add_map_views(engine, batch)
        except BaseException:
            with self._lock:
                self._pending.update(batch)
            raise
        return sum(batch.values())


def fiscal_years(engine: sa.Engine, now: datetime) -> list[int]:
    """Fiscal years with reports or map views, newest first, always including this one."""
    with engine.connect() as conn:
        first = conn.execute(sa.select(sa.func.min(reports.c.created_at))).scalar()
        viewed = set(conn.execute(sa.select(map_views.c.fiscal_year)).scalars())
    current = fiscal_year(now)
    oldest = min([current, *viewed] + ([fiscal_year(first)] if first else []))
    return list(range(current, oldest - 1, -1))
