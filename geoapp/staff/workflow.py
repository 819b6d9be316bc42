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
from geoapp.mail.outbox import enqueue
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


def _required(value: str | None, field: str, en: str, ja: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(field, en, detail_ja=ja)
    if len(text) > 4000:
        raise InvalidInput(field, "at most 4000 characters", detail_ja="4000文字以内にしてください")
    return text


def can_handle(user: StaffUser, department_code: str | None) -> bool:
    """Whether ``user`` may see and act on a report routed to ``department_code``."""
    if user.role in ("admin", "road"):
        return True
    return user.role == "department" and user.department_code == department_code


class Workflow:
    """Applies staff actions to reports."""

    def __init__(self, engine: sa.Engine, base_url: str) -> None:
        self.engine = engine
        self.base_url = base_url

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
            raise InvalidInput("action", f"unknown action {req.action!r}",
                               detail_ja=f"操作「{req.action}」はありません")
        with self.engine.begin() as conn:
            row = self._row(conn, report_id)
            if not can_handle(user, row.department_code):
                raise Forbidden(f"report {report_id} is not routed to your department")
            if row.version != req.version:
                raise StaleEdit("他の職員がこの通報を先に更新しました。画面を読み込み直して、変更を"
                                "確認してからもう一度操作してください。 / Another member of staff "
                                "saved this report after you opened it; reload the page to see "
                                "their change, then try again.")
            before = {key: getattr(row, key) for key in _TRACKED}
            changes, body, public = self._changes(conn, row, req, now)
            changes.update(version=row.version + 1, updated_at=now)
            if row.first_response_at is None:
                changes["first_response_at"] = now
            done = conn.execute(reports.update().where(
                reports.c.id == report_id, reports.c.version == req.version).values(**changes))
            if done.rowcount != 1:  # a concurrent save between our read and write
                raise StaleEdit("他の職員が同時にこの通報を更新しました。読み込み直して"
                                "ください。 / Another member of staff saved this report at "
                                "the same time; reload the page and try again.")
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
                raise IllegalTransition(
                    f"現在の状況（{row.status_code}）ではこの操作（{action}）はできません。 / "
                    f"'{action}' is not allowed while the report is '{row.status_code}'.")
            changes["status_code"] = target
            changes["closed_at"] = None if self._is_open(conn, target) else now
            body = (req.body or "").strip() or None
            public = body is not None and action != "refer"
        if action == "fix":
            body = _required(req.body, "body", "write the public reply saying what was done",
                             "対応内容を市民向けの回答として入力してください")
            public = True
        elif action == "close":
            body = _required(req.body, "body", "give the reason (it is shown to the public)",
                             "理由を入力してください（公開されます）")
            public = True
        elif action == "refer":
            if req.manager not in ROAD_MANAGERS:
                raise InvalidInput("manager", "choose the national or prefectural road office",
                                   detail_ja="国道または県道の管理者を選んでください")
            note = _required(req.body, "body", "add a note for the road manager",
                             "情報提供の内容を入力してください")
            ja, en = ROAD_MANAGERS[req.manager]
            body = f"{ja}の管理者へ情報提供しました / Referred to {en}.\n{note}"
            public = True
        elif action == "duplicate":
            changes["duplicate_of"] = self._merge_into(conn, row, req.duplicate_of, now)
        elif action == "note":
            body = _required(req.body, "body", "write the note", "メモを入力してください")
        elif action == "reply":
            body = _required(req.body, "body", "write the reply", "回答を入力してください")
            public = True
        elif action == "priority":
            if req.priority not in (1, 2, 3):
                raise InvalidInput("priority", "priority is 1 (high), 2 or 3 (low)",
                                   detail_ja="優先度は1（高）〜3（低）です")
            changes["priority"] = req.priority
        elif action == "assign":
            changes["assignee_id"] = self._assignee(conn, req.assignee_id, row.department_code)
        elif action == "forward":
            changes["department_code"] = self._department(conn, req.department)
            body = _required(req.body, "body", "add a note for the department",
                             "転送先への申し送りを入力してください")
        return changes, body, public

    def _merge_into(self, conn: sa.Connection, row: sa.Row, original_id: int | None,
                    now: datetime) -> int:
        """Move supporters and subscribers of a duplicate to its original."""
        if original_id is None or original_id == row.id:
            raise InvalidInput("duplicate_of", "give the number of the original report",
                               detail_ja="元の通報の番号を入力してください")
        original = conn.execute(sa.select(reports).where(reports.c.id == original_id)).first()
        if original is None:
            raise InvalidInput("duplicate_of", f"no report {original_id}",
                               detail_ja=f"通報 No.{original_id} はありません")
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
            raise InvalidInput("assignee", "this member of staff cannot handle the report",
                               detail_ja="この職員はこの通報を担当できません")
        return user_id

    def _department(self, conn: sa.Connection, code: str | None) -> str:
        if not code or conn.execute(sa.select(departments.c.code).where(
                departments.c.code == code)).first() is None:
            raise InvalidInput("department", "choose a department",
                               detail_ja="転送先の部署を選んでください")
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
            subject, body = mail_text(sub.lang, report_id, category, status, reply,
                                      self.base_url, sub.token)
            enqueue(conn, sub.email, subject, body, now)


def mail_text(lang: str, number: int, category: Any, status: Any, reply: str | None,
              base_url: str, token: str) -> tuple[str, str]:
    """The subject and body of an update mail in ``lang``."""
    link = f"{base_url}/reports/{number}" + ("?lang=en" if lang == "en" else "")
    stop = f"{base_url}/unsubscribe/{token}"
    if lang == "en":
        subject = f"[Shibata City] Report No. {number}: {status.name_en}"
        lines = [f"An update on your report No. {number} ({category.name_en}).", "",
                 f"Status: {status.name_en}"]
        if reply:
            lines += ["", "Reply from the city:", reply]
        lines += ["", f"Your report: {link}", f"Stop these e-mails: {stop}"]
    else:
        subject = f"【新発田市】通報 No.{number} の対応状況: {status.name_ja}"
        lines = [f"通報 No.{number}（{category.name_ja}）について、市からのお知らせです。", "",
                 f"対応状況: {status.name_ja}"]
        if reply:
            lines += ["", "市からの回答:", reply]
        lines += ["", f"通報の詳細: {link}", f"今後のお知らせを停止する: {stop}"]
    return subject, "\n".join(lines) + "\n"
