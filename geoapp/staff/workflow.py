"""What staff do to reports: checked transitions, concurrency, the audit log, and mail.

Each action is one transaction: the report's new state, an append-only audit event with
the before and after, and the e-mails it causes (queued in the outbox) commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from geoapp.errors import Conflict, Forbidden, InvalidInput, NotFound
from geoapp.i18n import DEFAULT_LANG, data_names
from geoapp.mail.outbox import enqueue
from geoapp.mail.render import MailTexts
from geoapp.staff.accounts import StaffUser
from geoapp.store.schema import (
    categories,
    departments,
    report_events,
    reports,
    staff_users,
    statuses,
    subscribers,
    transitions,
)
from geoapp.text import check_texts


class IllegalTransition(Conflict):
    """The workflow does not allow this action from the report's state."""


class StaleEdit(Conflict):
    """Someone saved the report after this page was loaded."""


#: Actions that move a report between states (the rest keep its state).
STATE_ACTIONS = ("acknowledge", "plan", "start", "fix", "duplicate", "close", "refer", "reopen")
OTHER_ACTIONS = ("note", "reply", "priority", "assign", "forward")
ROAD_MANAGERS = {"national": ("国道（国土交通省）", "the national road office (MLIT)"),
                 "prefectural": ("県道（新潟県）", "Niigata Prefecture's road office")}
_TRACKED = ("status_code", "priority", "assignee_id", "department_code", "duplicate_of")


@dataclass(frozen=True)
class ActionRequest:
    """One staff action with what it needs; ``version`` is the one the page was loaded at."""

    action: str
    version: int
    body: str | None = None
    priority: int | None = None
    assignee_id: int | None = None
    department: str | None = None
    duplicate_of: int | None = None
    manager: str | None = None


def _required(value: str | None, field: str, key: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(field, key=f"error.workflow.{key}")
    if len(text) > 4000:
        raise InvalidInput(field, key="error.workflow.too_long")
    return text


def can_handle(user: StaffUser, department_code: str | None) -> bool:
    """Whether ``user`` may see and act on a report routed to ``department_code``."""
    if user.role in ("admin", "road"):
        return True
    return user.role == "department" and user.department_code == department_code


class Workflow:
    """Applies staff actions to reports."""

    def __init__(self, engine: sa.Engine, base_url: str, mail: MailTexts | None = None) -> None:
        self.engine = engine
        self.base_url = base_url
        self.mail = mail or MailTexts()

    def _row(self, conn: sa.Connection, report_id: int) -> sa.Row:
        row = conn.execute(sa.select(reports).where(reports.c.id == report_id)).first()
        if row is None:
            raise NotFound(f"no report {report_id}")
        return row

    def apply(self, report_id: int, user: StaffUser, req: ActionRequest, now: datetime) -> int:
        """Apply one action and return the id of the audit event it wrote.

        Forbidden, InvalidInput, IllegalTransition or StaleEdit if it cannot be applied.
        """
        # Before any lookup: PostgreSQL refuses NUL even in a WHERE clause.
        check_texts({"action": req.action, "body": req.body, "department": req.department,
                     "manager": req.manager}, multiline=frozenset({"body"}))
        if req.action not in STATE_ACTIONS + OTHER_ACTIONS:
            raise InvalidInput("action", key="error.workflow.unknown_action", action=req.action)
        with self.engine.begin() as conn:
            row = self._row(conn, report_id)
            if not can_handle(user, row.department_code):
                raise Forbidden(f"report {report_id} is not routed to your department")
            if row.version != req.version:
                raise StaleEdit(key="error.workflow.stale")
            before = {key: getattr(row, key) for key in _TRACKED}
            changes, body, public = self._changes(conn, row, req, now)
            changes.update(version=row.version + 1, updated_at=now)
            if row.first_response_at is None:
                changes["first_response_at"] = now
            done = conn.execute(reports.update().where(
                reports.c.id == report_id, reports.c.version == req.version).values(**changes))
            if done.rowcount != 1:  # a concurrent save between our read and write
                raise StaleEdit(key="error.workflow.stale_concurrent")
            after = {**before, **{k: v for k, v in changes.items() if k in _TRACKED}}
            kind = "note" if req.action == "note" else "reply" if public else "action"
            event_id = conn.execute(report_events.insert().values(
                report_id=report_id, at=now, actor_id=user.id or None,  # 0: an API client
                actor_name=user.display_name,
                kind=kind, action=req.action, public=public, body=body,
                before=before, after=after).returning(report_events.c.id)).scalar_one()
            status_changed = after["status_code"] != before["status_code"]
            closing = status_changed and not self._is_open(conn, after["status_code"])
            if public or closing:
                self._notify(conn, report_id, after["status_code"], body if public else None, now)
        return event_id

    def _is_open(self, conn: sa.Connection, status_code: str) -> bool:
        return bool(conn.execute(sa.select(statuses.c.is_open).where(
            statuses.c.code == status_code)).scalar_one())

    def _changes(self, conn: sa.Connection, row: sa.Row, req: ActionRequest, now: datetime
                 ) -> tuple[dict[str, Any], str | None, bool]:
        """The column changes, the event text, and whether that text is public."""
        action = req.action
        changes: dict[str, Any] = {}
        body: str | None = None
        public = False
        if action in STATE_ACTIONS:
            target = conn.execute(sa.select(transitions.c.to_status).where(
                transitions.c.action == action,
                transitions.c.from_status == row.status_code)).scalar()
            if target is None:
                raise IllegalTransition(key="error.workflow.not_allowed", action=action,
                                        status=row.status_code)
            changes["status_code"] = target
            changes["closed_at"] = None if self._is_open(conn, target) else now
            body = (req.body or "").strip() or None
            public = body is not None and action != "refer"
        if action == "fix":
            body = _required(req.body, "body", "fix_reply")
            public = True
        elif action == "close":
            body = _required(req.body, "body", "close_reason")
            public = True
        elif action == "refer":
            if req.manager not in ROAD_MANAGERS:
                raise InvalidInput("manager", key="error.workflow.choose_manager")
            note = _required(req.body, "body", "refer_note")
            ja, en = ROAD_MANAGERS[req.manager]
            body = f"{ja}の管理者へ情報提供しました / Referred to {en}.\n{note}"
            public = True
        elif action == "duplicate":
            changes["duplicate_of"] = self._merge_into(conn, row, req.duplicate_of, now)
        elif action == "note":
            body = _required(req.body, "body", "note")
        elif action == "reply":
            body = _required(req.body, "body", "reply")
            public = True
        elif action == "priority":
            if req.priority not in (1, 2, 3):
                raise InvalidInput("priority", key="error.workflow.priority")
            changes["priority"] = req.priority
        elif action == "assign":
            changes["assignee_id"] = self._assignee(conn, req.assignee_id, row.department_code)
        elif action == "forward":
            changes["department_code"] = self._department(conn, req.department)
            body = _required(req.body, "body", "forward_note")
        return changes, body, public

    def _merge_into(self, conn: sa.Connection, row: sa.Row, original_id: int | None,
                    now: datetime) -> int:
        """Move supporters and subscribers of a duplicate to its original."""
        if original_id is None or original_id == row.id:
            raise InvalidInput("duplicate_of", key="error.workflow.duplicate_missing")
        original = conn.execute(sa.select(reports).where(reports.c.id == original_id)).first()
        if original is None:
            raise InvalidInput("duplicate_of", key="error.workflow.duplicate_unknown",
                               number=original_id)
        conn.execute(reports.update().where(reports.c.id == original_id).values(
            supporters=reports.c.supporters + row.supporters + 1, updated_at=now,
            version=reports.c.version + 1))
        known = set(conn.execute(sa.select(subscribers.c.email).where(
            subscribers.c.report_id == original_id)).scalars())
        for sub in conn.execute(sa.select(subscribers).where(
                subscribers.c.report_id == row.id)).all():
            if sub.email not in known:
                conn.execute(subscribers.update().where(subscribers.c.id == sub.id)
                             .values(report_id=original_id))
        return original_id

    def _assignee(self, conn: sa.Connection, user_id: int | None, department: str | None
                  ) -> int | None:
        if user_id is None:
            return None
        row = conn.execute(sa.select(staff_users).where(staff_users.c.id == user_id)).first()
        if row is None or not row.active or row.role == "wildlife" or (
                row.role == "department" and row.department_code != department):
            raise InvalidInput("assignee", key="error.workflow.assignee")
        return user_id

    def _department(self, conn: sa.Connection, code: str | None) -> str:
        if not code or conn.execute(sa.select(departments.c.code).where(
                departments.c.code == code)).first() is None:
            raise InvalidInput("department", key="error.workflow.department")
        return code

    def _notify(self, conn: sa.Connection, report_id: int, status_code: str,
                reply: str | None, now: datetime) -> None:
        """Queue a mail to each subscriber, in the language they reported in."""
        status = conn.execute(sa.select(statuses).where(statuses.c.code == status_code)).one()
        row = conn.execute(sa.select(reports.c.category_code).where(
            reports.c.id == report_id)).one()
        category = conn.execute(sa.select(categories).where(
            categories.c.code == row.category_code)).one()
        for sub in conn.execute(sa.select(subscribers).where(
                subscribers.c.report_id == report_id, subscribers.c.active.is_(True))).all():
            link = f"{self.base_url}/reports/{report_id}" + (
                f"?lang={sub.lang}" if sub.lang != DEFAULT_LANG else "")
            subject, body = self.mail.render(
                "report_update", sub.lang, number=report_id, reply=reply, link=link,
                category=data_names("reports.category", category.code,
                                    {"ja": category.name_ja, "en": category.name_en}),
                status=data_names("reports.status", status.code,
                                  {"ja": status.name_ja, "en": status.name_en}),
                stop=f"{self.base_url}/unsubscribe/{sub.token}")
            enqueue(conn, sub.email, subject, body, now)

