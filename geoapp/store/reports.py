"""The report store: one interface over SQLite and PostGIS.

Callers hand over plain values and get records back; which engine runs is known only
here, in the one function that asks the spatial index for candidates.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from geoapp.errors import Conflict, NotFound
from geoapp.features.source import BBox
from geoapp.store import spatial
from geoapp.store.records import Category, Contact, Department, NewReport, Photo, Report, Status
from geoapp.store.schema import (
    categories,
    departments,
    report_photos,
    reports,
    statuses,
    subscribers,
    transitions,
)

_PUBLIC_COLUMNS = [
    reports.c.id, reports.c.category_code, reports.c.status_code, reports.c.description,
    reports.c.lon, reports.c.lat, reports.c.attributes, reports.c.supporters, reports.c.lang,
    reports.c.source, reports.c.created_at, reports.c.updated_at,
]


#: Seconds categories and states are served from memory before being read again. They
#: change only on ``geoapp store seed``, which clears this process's copy at once; other
#: processes see the change within this time.
REFERENCE_TTL = 60.0
#: Candidates the R*Tree may return before a bbox counts as "most of the table": then the
#: page is read in id order with the exact test alone, as materialising every candidate
#: to sort it would cost more than the rows a page skips.
RTREE_PROBE = 20_000
#: Ids per ``IN (...)`` when loading photos: far below SQLite's 32,766 and PostgreSQL's
#: 65,535 bound parameters, whatever the number of reports asked for.
IN_CHUNK = 1000


class DuplicateIdempotencyKey(Conflict):
    """Another report was stored with the same idempotency key first."""


class ReportStore:
    """Reports, their photos, and the category, department and state tables."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._reference: dict[str, tuple[float, list[Any]]] = {}
        self._reference_lock = threading.Lock()

    @property
    def engine_name(self) -> str:
        """'sqlite' or 'postgresql': for logs and health checks only."""
        return self.engine.dialect.name

    # -- reference data -------------------------------------------------------------------

    def seed(self, data: Mapping[str, Any], *, update: bool = False) -> dict[str, int]:
        """Add missing departments, categories, states and transitions; never deletes rows.

        With ``update``, rows that exist are overwritten too (edits made since are lost).
        """
        rows = {
            departments: [
                {"code": d["code"], "name_ja": d["name_ja"], "name_en": d["name_en"]}
                for d in data.get("departments", [])
            ],
            statuses: [
                {"code": s["code"], "name_ja": s["name_ja"], "name_en": s["name_en"],
                 "public_group": s["group"], "is_open": bool(s["open"]),
                 "sort_order": s.get("order", 100)}
                for s in data.get("statuses", [])
            ],
            categories: [
                {"code": c["code"], "department_code": c["department"],
                 "name_ja": c["name_ja"], "name_en": c["name_en"],
                 "requires_photo": bool(c.get("requires_photo", False)),
                 "season": c.get("season"), "attributes": c.get("attributes", []),
                 "active": bool(c.get("active", True)), "sort_order": c.get("order", 100)}
                for c in data.get("categories", [])
            ],
        }
        moves = [
            {"action": t["action"], "from_status": source, "to_status": t["to"]}
            for t in data.get("transitions", []) for source in t["from"]
        ]
        changed = {}
        with self.engine.begin() as conn:
            for table in (departments, statuses, categories):
                existing = set(conn.execute(sa.select(table.c.code)).scalars())
                changed[table.name] = 0
                for row in rows[table]:
                    if row["code"] not in existing:
                        conn.execute(table.insert().values(**row))
                    elif update:
                        conn.execute(table.update().where(table.c.code == row["code"])
                                     .values(**row))
                    else:
                        continue
                    changed[table.name] += 1
            # Transitions reference states, so they come after them.
            if update:
                conn.execute(transitions.delete())
            known = {(r.action, r.from_status) for r in conn.execute(
                sa.select(transitions.c.action, transitions.c.from_status))}
            fresh = [m for m in moves if (m["action"], m["from_status"]) not in known]
            if fresh:
                conn.execute(transitions.insert(), fresh)
            changed["transitions"] = len(fresh)
        self.forget_reference()
        return changed

    def forget_reference(self) -> None:
        """Read categories and states from the database again at their next use."""
        with self._reference_lock:
            self._reference.clear()

    def _cached(self, name: str, query: sa.Select, make: Any) -> list[Any]:
        """Reference rows from memory while fresh (they are read on every page otherwise)."""
        now = time.monotonic()
        with self._reference_lock:
            hit = self._reference.get(name)
            if hit is not None and now - hit[0] < REFERENCE_TTL:
                return list(hit[1])
        with self.engine.connect() as conn:
            rows = [make(**r._mapping) for r in conn.execute(query)]
        with self._reference_lock:
            self._reference[name] = (now, rows)
        return list(rows)

    def departments(self) -> list[Department]:
        """Every department."""
        with self.engine.connect() as conn:
            return [Department(**r._mapping) for r in conn.execute(sa.select(departments))]

    def categories(self, *, active_only: bool = True) -> list[Category]:
        """Categories in display order."""
        query = sa.select(categories).order_by(categories.c.sort_order, categories.c.code)
        every = self._cached("categories", query, Category)
        return [c for c in every if c.active] if active_only else every

    def statuses(self) -> list[Status]:
        """States in workflow order."""
        return self._cached("statuses", sa.select(statuses).order_by(statuses.c.sort_order),
                            Status)

    # -- reports --------------------------------------------------------------------------

    def insert(self, new: NewReport, *, status_code: str, now: datetime) -> Report:
        """Store a report, its photos and its reporter's subscription in one transaction."""
        values = {
            "category_code": new.category_code, "status_code": status_code,
            "description": new.description, "lon": new.lon, "lat": new.lat,
            "attributes": new.attributes, "supporters": 0,
            "reporter_name": new.reporter_name, "reporter_email": new.reporter_email,
            "lang": new.lang, "source": new.source,
            "idempotency_key": new.idempotency_key, "request_hash": new.request_hash,
            "created_at": now, "updated_at": now, "priority": 2, "version": 1,
        }
        try:
            with self.engine.begin() as conn:
                values["department_code"] = conn.execute(
                    sa.select(categories.c.department_code)
                    .where(categories.c.code == new.category_code)).scalar_one()
                report_id = conn.execute(
                    reports.insert().values(**values).returning(reports.c.id)
                ).scalar_one()
                if new.reporter_email:
                    conn.execute(subscribers.insert().values(
                        report_id=report_id, email=new.reporter_email, lang=new.lang,
                        token=secrets.token_urlsafe(24), active=True))
                if new.photos:
                    conn.execute(report_photos.insert(), [
                        {"report_id": report_id, "position": i, "media_key": p.media_key,
                         "thumb_key": p.thumb_key, "width": p.width, "height": p.height}
                        for i, p in enumerate(new.photos)
                    ])
        except IntegrityError as exc:
            if new.idempotency_key and self.by_idempotency_key(new.idempotency_key):
                raise DuplicateIdempotencyKey("idempotency key already used") from exc
            raise
        return self.get(report_id)

    def get(self, report_id: int) -> Report:
        """One report; NotFound if there is none."""
        found = self._load(sa.select(*_PUBLIC_COLUMNS).where(reports.c.id == report_id))
        if not found:
            raise NotFound(f"no report {report_id}")
        return found[0]

    def version(self, report_id: int) -> int:
        """The report's edit version (staff saves carry it to detect a concurrent change)."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(reports.c.version).where(reports.c.id == report_id)
                                 ).scalar()
        if found is None:
            raise NotFound(f"no report {report_id}")
        return found

    def contact(self, report_id: int) -> Contact:
        """The reporter's name and e-mail (staff only)."""
        query = sa.select(reports.c.reporter_name, reports.c.reporter_email).where(
            reports.c.id == report_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no report {report_id}")
        return Contact(name=row.reporter_name, email=row.reporter_email)

    def by_idempotency_key(self, key: str) -> tuple[Report, str | None] | None:
        """The report stored under an idempotency key, with its request hash."""
        query = sa.select(reports.c.id, reports.c.request_hash).where(
            reports.c.idempotency_key == key)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (self.get(row.id), row.request_hash) if row else None

    def add_supporter(self, report_id: int, now: datetime) -> Report:
        """Count one more resident affected by an open report ('me too')."""
        open_codes = [s.code for s in self.statuses() if s.is_open]
        with self.engine.begin() as conn:
            done = conn.execute(
                reports.update()
                .where(reports.c.id == report_id, reports.c.status_code.in_(open_codes))
                .values(supporters=reports.c.supporters + 1, updated_at=now)
            ).rowcount
        if not done:
            self.get(report_id)  # NotFound when it does not exist at all
            raise Conflict(f"report {report_id} is no longer open")
        return self.get(report_id)

    def in_bbox(
        self,
        bbox: BBox | None,
        *,
        categories_in: Iterable[str] | None = None,
        statuses_in: Iterable[str] | None = None,
    ) -> list[Report]:
        """Reports whose point lies in ``bbox`` (the engine's spatial index, then exactly)."""
        query = sa.select(*_PUBLIC_COLUMNS).order_by(reports.c.id)
        if bbox is not None:
            query = query.where(self._bbox_clause(bbox), *self.within(bbox))
        if categories_in is not None:
            query = query.where(reports.c.category_code.in_(list(categories_in)))
        if statuses_in is not None:
            query = query.where(reports.c.status_code.in_(list(statuses_in)))
        return self._load(query)

    def search(
        self,
        *,
        ids: Iterable[int] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        categories_in: Iterable[str] | None = None,
        is_open: bool | None = None,
        limit: int,
    ) -> list[Report]:
        """Reports matching every given condition, newest first, at most ``limit`` of them.

        One query for the reports and one for their photos, whatever ``limit`` is.
        """
        query = sa.select(*_PUBLIC_COLUMNS)
        if ids is not None:
            query = query.where(reports.c.id.in_(list(ids)))
        if created_from is not None:
            query = query.where(reports.c.created_at >= created_from)
        if created_to is not None:
            query = query.where(reports.c.created_at <= created_to)
        if categories_in is not None:
            query = query.where(reports.c.category_code.in_(list(categories_in)))
        if is_open is not None:
            query = query.where(reports.c.status_code.in_(
                sa.select(statuses.c.code).where(statuses.c.is_open.is_(is_open))))
        return self._load(query.order_by(reports.c.created_at.desc(), reports.c.id.desc())
                          .limit(limit))

    def transitions_from(self, status_code: str) -> dict[str, str]:
        """The state actions allowed from ``status_code``, with the state each leads to."""
        query = sa.select(transitions.c.action, transitions.c.to_status).where(
            transitions.c.from_status == status_code)
        with self.engine.connect() as conn:
            return {row.action: row.to_status for row in conn.execute(query)}

    def unsubscribe(self, token: str) -> bool:
        """Stop mails for the subscription with this token; False if it is unknown."""
        with self.engine.begin() as conn:
            return bool(conn.execute(subscribers.update().where(
                subscribers.c.token == token, subscribers.c.active.is_(True)
            ).values(active=False)).rowcount)

    def count(self) -> int:
        """How many reports are stored."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one()

    def media_keys(self) -> set[str]:
        """Every media key a stored report refers to (what the photo sweep must keep)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(report_photos.c.media_key, report_photos.c.thumb_key))
            return {key for row in rows for key in row}

    # -- pages of public reports (geoapp.reports.layer) -----------------------------------

    def public_select(self) -> sa.Select:
        """The public columns of reports (never the reporter's name or e-mail)."""
        return sa.select(*_PUBLIC_COLUMNS)

    @staticmethod
    def within(bbox: BBox) -> list[sa.ColumnElement[bool]]:
        """The exact test of a point in ``bbox``, edges included, on the stored coordinates.

        The indexes keep rounded boxes (the R*Tree 32-bit floats, GiST float boxes), so they
        only choose candidates: a point just outside the box passes them, never this test.
        """
        minx, miny, maxx, maxy = bbox
        return [reports.c.lon >= minx, reports.c.lon <= maxx,
                reports.c.lat >= miny, reports.c.lat <= maxy]

    def candidates(self, conn: sa.Connection, bbox: BBox) -> sa.ColumnElement[bool] | None:
        """The spatial index's clause for ``bbox``, or None where scanning in order is cheaper."""
        return candidates(conn, bbox)

    def photos_of(self, conn: sa.Connection, ids: Sequence[int]) -> dict[int, tuple[Photo, ...]]:
        """The photos of the reports ``ids``, in order, by report."""
        photos: dict[int, list[Photo]] = {}
        for start in range(0, len(ids), IN_CHUNK):
            rows = conn.execute(
                sa.select(report_photos)
                .where(report_photos.c.report_id.in_(ids[start:start + IN_CHUNK]))
                .order_by(report_photos.c.report_id, report_photos.c.position))
            for p in rows:
                photos.setdefault(p.report_id, []).append(
                    Photo(p.media_key, p.thumb_key, p.width, p.height))
        return {report_id: tuple(found) for report_id, found in photos.items()}

    @staticmethod
    def report_of(row: sa.Row, photos: Mapping[int, tuple[Photo, ...]]) -> Report:
        """A record from a row of :meth:`public_select` and the photos by report."""
        return Report(**row._mapping, photos=photos.get(row.id, ()))

    # -- helpers --------------------------------------------------------------------------

    def _bbox_clause(self, bbox: BBox) -> sa.ColumnElement[bool]:
        return bbox_clause(self.engine.dialect.name, bbox)

    def _load(self, query: sa.Select) -> list[Report]:
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            photos = self.photos_of(conn, [row.id for row in rows])
        return [self.report_of(row, photos) for row in rows]


def bbox_clause(dialect: str, bbox: BBox) -> sa.ColumnElement[bool]:
    """The spatial index's (rounded, inclusive) clause for reports in ``bbox``."""
    return spatial.index_clause(dialect, reports, bbox)


def candidates(conn: sa.Connection, bbox: BBox) -> sa.ColumnElement[bool] | None:
    """The spatial index's clause for ``bbox``, or None where scanning in order is cheaper.

    PostgreSQL's planner weighs the GiST index against the primary key by itself. SQLite
    cannot: a box holding most of the table is answered faster by reading reports in
    id order with the exact test, so the R*Tree is asked first how many it would return.
    Pair it with :meth:`ReportStore.within`, the exact test.
    """
    return spatial.candidates(conn, reports, bbox, RTREE_PROBE)
