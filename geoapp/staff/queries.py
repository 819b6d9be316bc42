"""What staff see: the filtered queue, one report in full, its history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from geoapp.errors import InvalidParameter
from geoapp.features.params import MAX_ID, parse_bbox, parse_int, whole_number
from geoapp.staff.accounts import StaffUser
from geoapp.store.schema import (
    categories,
    departments,
    report_events,
    reports,
    staff_users,
    statuses,
)

SORTS = {
    "newest": [reports.c.created_at.desc(), reports.c.id.desc()],
    "oldest": [reports.c.created_at.asc(), reports.c.id.asc()],
    "priority": [reports.c.priority.asc(), reports.c.created_at.asc()],
    "updated": [reports.c.updated_at.desc(), reports.c.id.desc()],
}
PER_PAGE = 50
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


def _filtered(user: StaffUser, f: QueueFilter, now: datetime) -> sa.Select:
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
        minx, miny, maxx, maxy = f.bbox
        query = query.where(reports.c.lon.between(minx, maxx), reports.c.lat.between(miny, maxy))
    return query


def queue(engine: sa.Engine, user: StaffUser, f: QueueFilter, now: datetime,
          per_page: int | None = PER_PAGE) -> tuple[list[QueueRow], int]:
    """One page of the reports ``user`` may see that match ``f``, and how many match."""
    query = _filtered(user, f, now)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())
                             ).scalar_one()
        query = query.order_by(*SORTS[f.sort])
        if per_page is not None:
            query = query.limit(per_page).offset((f.page - 1) * per_page)
        rows = [QueueRow(**r._mapping) for r in conn.execute(query)]
    return rows, total


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
    query = _base_query().where(
        visible_to(user), reports.c.id != exclude,
        reports.c.lon.between(lon - radius_deg, lon + radius_deg),
        reports.c.lat.between(lat - radius_deg, lat + radius_deg),
    ).order_by(reports.c.id.desc()).limit(50)
    with engine.connect() as conn:
        return [QueueRow(**r._mapping) for r in conn.execute(query)]


def all_rows(engine: sa.Engine) -> list[QueueRow]:
    """Every report, oldest first (public fields and routing; never the reporter's contact)."""
    with engine.connect() as conn:
        return [QueueRow(**r._mapping) for r in conn.execute(
            _base_query().order_by(reports.c.id))]
