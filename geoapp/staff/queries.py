"""What staff see: the filtered queue, one report in full, its history."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geoapp.errors import InvalidParameter
from geoapp.features.live import CHUNK, MAX_OFFSET, bounded_count
from geoapp.features.params import MAX_ID, parse_bbox, parse_int, whole_number
from geoapp.i18n import Lang, data_name
from geoapp.staff.accounts import StaffUser
from geoapp.store.reports import ReportStore, candidates
from geoapp.store.schema import (
    categories,
    departments,
    report_events,
    reports,
    staff_users,
    statuses,
)

#: Each sort as (column, descending) pairs ending with the id, so the order is total: pages
#: never repeat or skip a report, and exports resume after the last row they read.
SORT_KEYS: dict[str, tuple[tuple[sa.Column[Any], bool], ...]] = {
    "newest": ((reports.c.created_at, True), (reports.c.id, True)),
    "oldest": ((reports.c.created_at, False), (reports.c.id, False)),
    "priority": ((reports.c.priority, False), (reports.c.created_at, False),
                 (reports.c.id, False)),
    "updated": ((reports.c.updated_at, True), (reports.c.id, True)),
}
SORTS = {name: [c.desc() if descending else c.asc() for c, descending in keys]
         for name, keys in SORT_KEYS.items()}
PER_PAGE = 50
#: The deepest queue page: an offset costs more the further it goes, so pages stop at the
#: public layers' offset bound; narrower filters (area, age, state) reach any report.
MAX_PAGE = MAX_OFFSET // PER_PAGE + 1
#: The oldest "older than" filter: a century (more would overflow the date arithmetic).
MAX_AGE_DAYS = 36_500


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters, as plain values (parsed from a query string by ``parse``)."""

    status: str = "open"  # a state code, "open", "closed" or "all"
    category: str | None = None
    department: str | None = None
    priority: int | None = None
    assignee: str | None = None  # a user id, "none" or "me"
    older_than_days: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    sort: str = "oldest"
    page: int = 1

    @classmethod
    def parse(cls, params: dict[str, str]) -> QueueFilter:
        """Filters from query parameters; InvalidParameter for a malformed one."""
        def number(name: str, maximum: int = MAX_ID) -> int | None:
            value = (params.get(name) or "").strip()
            return parse_int(name, value, default=0, minimum=0, maximum=maximum) if value else None

        sort = params.get("sort") or "oldest"
        if sort not in SORTS:
            raise InvalidParameter("sort", f"one of {', '.join(SORTS)}")
        bbox = params.get("bbox") or None
        return cls(
            status=params.get("status") or "open",
            category=params.get("category") or None,
            department=params.get("department") or None,
            priority=number("priority"),
            assignee=params.get("assignee") or None,
            older_than_days=number("older_than_days", MAX_AGE_DAYS),
            bbox=parse_bbox(bbox) if bbox else None,
            sort=sort,
            page=max(1, number("page") or 1),
        )

    def query_string(self, **changes: Any) -> dict[str, str]:
        """These filters (with ``changes``) as query parameters, for links."""
        values = {
            "status": self.status, "category": self.category, "department": self.department,
            "priority": self.priority, "assignee": self.assignee,
            "older_than_days": self.older_than_days,
            "bbox": ",".join(map(str, self.bbox)) if self.bbox else None,
            "sort": self.sort, "page": self.page, **changes,
        }
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


@dataclass(frozen=True)
class QueueRow:
    """One report in the queue."""

    id: int
    category: str
    category_en: str
    status_code: str
    status: str
    status_en: str
    status_group: str
    department_code: str | None
    department: str
    department_en: str
    priority: int
    assignee: str | None
    assignee_id: int | None
    supporters: int
    description: str
    lon: float
    lat: float
    created_at: datetime
    updated_at: datetime
    version: int
    duplicate_of: int | None = None
    first_response_at: datetime | None = None
    closed_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    category_code: str = ""

    # The names people read go through the one chooser (geoapp.i18n.data_name), so a
    # catalogue of a third language names them too; the columns are the ja/en data.
    def category_name(self, lang: Lang) -> str:
        """The category's name in ``lang``."""
        return data_name("reports.category", self.category_code, lang,
                         {"ja": self.category, "en": self.category_en})

    def status_name(self, lang: Lang) -> str:
        """The state's name in ``lang``."""
        return data_name("reports.status", self.status_code, lang,
                         {"ja": self.status, "en": self.status_en})

    def department_name(self, lang: Lang) -> str:
        """The department's name in ``lang`` (empty when the report has none)."""
        if not self.department_code:
            return ""
        return data_name("reports.department", self.department_code, lang,
                         {"ja": self.department or "", "en": self.department_en or ""})


def _base_query() -> sa.Select:
    assignee = staff_users.alias("assignee")
    return (
        sa.select(
            reports.c.id, categories.c.name_ja.label("category"),
            categories.c.name_en.label("category_en"), reports.c.status_code,
            statuses.c.name_ja.label("status"), statuses.c.name_en.label("status_en"),
            statuses.c.public_group.label("status_group"), reports.c.department_code,
            departments.c.name_ja.label("department"),
            departments.c.name_en.label("department_en"), reports.c.priority,
            assignee.c.display_name.label("assignee"), reports.c.assignee_id, reports.c.supporters,
            reports.c.description, reports.c.lon, reports.c.lat, reports.c.created_at,
            reports.c.updated_at, reports.c.version, reports.c.duplicate_of,
            reports.c.first_response_at, reports.c.closed_at, reports.c.attributes,
            reports.c.category_code,
        )
        .join(categories, categories.c.code == reports.c.category_code)
        .join(statuses, statuses.c.code == reports.c.status_code)
        .join(departments, departments.c.code == reports.c.department_code, isouter=True)
        .join(assignee, assignee.c.id == reports.c.assignee_id, isouter=True)
    )


def visible_to(user: StaffUser) -> sa.ColumnElement[bool]:
    """The reports a member of staff may see."""
    if user.role in ("admin", "road"):
        return sa.true()
    if user.role == "department":
        return reports.c.department_code == user.department_code
    return sa.false()


def _filtered(conn: sa.Connection, user: StaffUser, f: QueueFilter, now: datetime
              ) -> sa.Select:
    query = _base_query().where(visible_to(user))
    if f.status == "open":
        query = query.where(statuses.c.is_open.is_(True))
    elif f.status == "closed":
        query = query.where(statuses.c.is_open.is_(False))
    elif f.status != "all":
        query = query.where(reports.c.status_code == f.status)
    if f.category:
        query = query.where(reports.c.category_code == f.category)
    if f.department:
        query = query.where(reports.c.department_code == f.department)
    if f.priority:
        query = query.where(reports.c.priority == f.priority)
    if f.assignee == "none":
        query = query.where(reports.c.assignee_id.is_(None))
    elif f.assignee == "me":
        query = query.where(reports.c.assignee_id == user.id)
    elif f.assignee and (assignee := whole_number(f.assignee)) is not None:
        # An id past the column's range is nobody's (and must not reach PostgreSQL).
        query = query.where(reports.c.assignee_id == assignee if assignee <= MAX_ID
                            else sa.false())
    if f.older_than_days is not None:
        query = query.where(reports.c.created_at <= now - timedelta(days=f.older_than_days))
    if f.bbox:
        query = query.where(*_in_area(conn, f.bbox))
    return query


def _in_area(conn: sa.Connection, bbox: tuple[float, float, float, float]
             ) -> list[sa.ColumnElement[bool]]:
    """Reports in ``bbox``: the spatial index chooses, the stored coordinates decide."""
    index = candidates(conn, bbox)
    return [*([index] if index is not None else []), *ReportStore.within(bbox)]


def queue(engine: sa.Engine, user: StaffUser, f: QueueFilter, now: datetime,
          per_page: int = PER_PAGE) -> tuple[list[QueueRow], int | None]:
    """One page of the reports ``user`` may see that match ``f``, and how many match.

    The count is None when more than COUNT_LIMIT match: it is counted with a LIMIT, never
    by reading every row, and not at all when this page shows where the answer ends.
    """
    offset = (f.page - 1) * per_page
    if offset > MAX_OFFSET:
        raise InvalidParameter("page", f"at most page {MAX_OFFSET // per_page + 1}; narrow the "
                                       "filters (area, age, state) to reach other reports")
    with engine.connect() as conn:
        query = _filtered(conn, user, f, now)
        found = conn.execute(query.order_by(*SORTS[f.sort]).limit(per_page + 1)
                             .offset(offset or None)).all()
        rows = [QueueRow(**r._mapping) for r in found[:per_page]]
        if len(found) <= per_page and (rows or not offset):
            total: int | None = offset + len(rows)  # this page holds the end of the answer
        else:
            total = bounded_count(conn, query)
    return rows, total


def rows(engine: sa.Engine, user: StaffUser, f: QueueFilter, now: datetime, *,
         chunk: int = CHUNK) -> Iterator[QueueRow]:
    """Every report ``user`` may see that matches ``f``, in the queue's order (for exports).

    Read ``chunk`` rows per short query, each starting after the last row of the one before
    on the sort's own keys: memory stays constant and no connection is held between chunks.
    """
    return _chunked(engine, lambda conn: _filtered(conn, user, f, now), SORT_KEYS[f.sort],
                    chunk)


def _chunked(engine: sa.Engine, make: Callable[[sa.Connection], sa.Select],
             keys: Sequence[tuple[sa.Column[Any], bool]], chunk: int) -> Iterator[QueueRow]:
    order = [c.desc() if descending else c.asc() for c, descending in keys]
    last: list[Any] | None = None
    while True:
        with engine.connect() as conn:
            query = make(conn)
            if last is not None:
                query = query.where(_after(keys, last))
            found = conn.execute(query.order_by(*order).limit(chunk)).all()
        yield from (QueueRow(**r._mapping) for r in found)
        if len(found) < chunk:
            return
        last = [found[-1]._mapping[column.key] for column, _ in keys]


def _after(keys: Sequence[tuple[sa.Column[Any], bool]], values: Sequence[Any]
           ) -> sa.ColumnElement[bool]:
    """Rows after ``values`` in the order of ``keys``: (a, b, id) > (x, y, z) spelled out,
    as a row-value comparison would not use the indexes on both engines, nor mix directions."""
    clause: sa.ColumnElement[bool] | None = None
    for (column, descending), value in reversed(list(zip(keys, values, strict=True))):
        beyond = column < value if descending else column > value
        clause = beyond if clause is None else sa.or_(beyond, sa.and_(column == value, clause))
    assert clause is not None
    return clause


def report(engine: sa.Engine, user: StaffUser, report_id: int) -> QueueRow | None:
    """One report as staff see it, or None if it does not exist or is not theirs."""
    with engine.connect() as conn:
        row = conn.execute(_base_query().where(reports.c.id == report_id, visible_to(user))
                           ).first()
    return QueueRow(**row._mapping) if row else None


def exists(engine: sa.Engine, report_id: int) -> bool:
    """Whether a report exists at all (to tell 404 from 403)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(reports.c.id).where(reports.c.id == report_id)
                            ).first() is not None


def events(engine: sa.Engine, report_id: int, *, public_only: bool = False) -> list[sa.Row]:
    """A report's history, oldest first (public replies only, for the public page)."""
    query = sa.select(report_events).where(report_events.c.report_id == report_id)
    if public_only:
        query = query.where(report_events.c.public.is_(True))
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(report_events.c.id)).all())


def public_updates(engine: sa.Engine, start: datetime, end: datetime,
                   limit: int) -> list[sa.Row]:
    """Public replies and state changes (not internal notes) between two moments, oldest first."""
    query = (sa.select(report_events).where(
        report_events.c.public.is_(True) | (report_events.c.kind == "action"),
        report_events.c.at >= start, report_events.c.at <= end)
        .order_by(report_events.c.id).limit(limit))
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def nearby(engine: sa.Engine, user: StaffUser, lon: float, lat: float, exclude: int,
           radius_deg: float = 0.005) -> list[QueueRow]:
    """Other reports around a point (about 500 m), for the staff report map."""
    area = (lon - radius_deg, lat - radius_deg, lon + radius_deg, lat + radius_deg)
    with engine.connect() as conn:
        query = _base_query().where(visible_to(user), reports.c.id != exclude,
                                    *_in_area(conn, area))
        return [QueueRow(**r._mapping) for r in conn.execute(
            query.order_by(reports.c.id.desc()).limit(50))]


def every_report(engine: sa.Engine, *, chunk: int = CHUNK) -> Iterator[QueueRow]:
    """Every report, oldest first, ``chunk`` at a time (public fields and routing; never
    the reporter's contact)."""
    return _chunked(engine, lambda conn: _base_query(), ((reports.c.id, False),), chunk)
