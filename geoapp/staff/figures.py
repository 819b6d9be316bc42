"""The plan's figures: posts, handled share, times to respond and close, map views.

A Japanese fiscal year runs from April to March and is labelled with the era year too
(FY2025 = 令和7年度).
"""

from __future__ import annotations

import statistics
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

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
    response_hours: list[float] = field(default_factory=list)
    closing_hours: list[float] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        """Handled / posted (対応件数/投稿件数), None when nothing was posted."""
        return self.handled / self.posted if self.posted else None

    @property
    def median_response_hours(self) -> float | None:
        """Median hours from posting to the first staff action."""
        return statistics.median(self.response_hours) if self.response_hours else None

    @property
    def median_closing_hours(self) -> float | None:
        """Median hours from posting to closing."""
        return statistics.median(self.closing_hours) if self.closing_hours else None


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


def _hours(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds() / 3600


def figures(engine: sa.Engine, fy: int, lang: str = "ja") -> FiscalFigures:
    """The plan's figures for reports posted in fiscal year ``fy``."""
    start, end = fiscal_bounds(fy)
    name = "name_ja" if lang == "ja" else "name_en"
    query = (
        sa.select(reports.c.created_at, reports.c.first_response_at, reports.c.closed_at,
                  categories.c[name].label("category"), departments.c[name].label("department"))
        .join(categories, categories.c.code == reports.c.category_code)
        .join(departments, departments.c.code == reports.c.department_code, isouter=True)
        .where(reports.c.created_at >= start, reports.c.created_at < end)
    )
    total = Group("all")
    by_category: dict[str, Group] = {}
    by_department: dict[str, Group] = defaultdict(lambda: Group(""))
    posted_months: Counter[int] = Counter()
    handled_months: Counter[int] = Counter()
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        views = conn.execute(sa.select(map_views.c.views).where(
            map_views.c.fiscal_year == fy)).scalar() or 0
    for row in rows:
        groups = [total, by_category.setdefault(row.category, Group(row.category))]
        department = row.department or "-"
        by_department[department].label = department
        groups.append(by_department[department])
        response = _hours(row.created_at, row.first_response_at)
        closing = _hours(row.created_at, row.closed_at)
        for group in groups:
            group.posted += 1
            if row.closed_at is not None:
                group.handled += 1
            if response is not None:
                group.response_hours.append(response)
            if closing is not None:
                group.closing_hours.append(closing)
        posted_months[row.created_at.astimezone(JST).month] += 1
        if row.closed_at is not None:
            handled_months[row.closed_at.astimezone(JST).month] += 1
    return FiscalFigures(
        fy=fy, label=era_label(fy), total=total,
        by_category=sorted(by_category.values(), key=lambda g: -g.posted),
        by_department=sorted(by_department.values(), key=lambda g: -g.posted),
        monthly_posted=[(m, posted_months[m]) for m in MONTHS],
        monthly_handled=[(m, handled_months[m]) for m in MONTHS],
        map_views=views,
    )


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
