"""Response templates: the canned public replies staff pick from, kept by administrators.

Each change is written to the audit log (``admin_events``) in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from geoapp.staff.accounts import StaffUser
from geoapp.store.schema import admin_events, response_templates


def _audit(conn: sa.Connection, user: StaffUser, action: str, subject: str, now: datetime,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    conn.execute(admin_events.insert().values(
        at=now, actor_id=user.id or None, actor_name=user.display_name, action=action,
        subject=subject, before=before, after=after))


def all_templates(engine: sa.Engine) -> list[sa.Row]:
    """Every response template, oldest first."""
    with engine.connect() as conn:
        return list(conn.execute(response_templates.select().order_by(response_templates.c.id)))


def for_category(engine: sa.Engine, category_code: str) -> list[sa.Row]:
    """The templates for one category, and those for every category."""
    with engine.connect() as conn:
        return list(conn.execute(response_templates.select().where(
            (response_templates.c.category_code == category_code)
            | response_templates.c.category_code.is_(None)).order_by(response_templates.c.id)))


def add_template(engine: sa.Engine, user: StaffUser, *, category_code: str | None,
                 status_code: str, lang: str, body: str, now: datetime) -> int:
    """Add a template; returns its id."""
    values = {"category_code": category_code, "status_code": status_code, "lang": lang,
              "body": body}
    with engine.begin() as conn:
        template_id = conn.execute(response_templates.insert().values(**values)
                                   .returning(response_templates.c.id)).scalar_one()
        _audit(conn, user, "add_template", f"response_template:{template_id}", now,
               after=values)
    return template_id


def delete_template(engine: sa.Engine, user: StaffUser, template_id: int, now: datetime) -> bool:
    """Remove a template, keeping what it said in the audit log; False if it was gone already.

    Deleting twice (a double click, two admins) is harmless, so it is not an error.
    """
    with engine.begin() as conn:
        row = conn.execute(response_templates.select().where(
            response_templates.c.id == template_id).with_for_update()).first()
        if row is None:
            return False
        conn.execute(sa.delete(response_templates).where(response_templates.c.id == template_id))
        _audit(conn, user, "delete_template", f"response_template:{template_id}", now,
               before={k: v for k, v in row._mapping.items() if k != "id"})
    return True


def admin_history(engine: sa.Engine, limit: int = 100) -> list[sa.Row]:
    """The newest administrators' changes, newest first."""
    with engine.connect() as conn:
        return list(conn.execute(admin_events.select().order_by(admin_events.c.id.desc())
                                 .limit(limit)))
