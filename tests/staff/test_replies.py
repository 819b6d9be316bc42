"""Response templates: administrators add and remove them, and the audit log keeps both."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from geoapp.store.schema import admin_events, response_templates
from tests.staff.conftest import csrf_of


def test_removing_a_template_is_audited_with_what_it_said(app, staff_client):
    client = staff_client("admin")
    csrf = csrf_of(client, "/staff/admin")
    added = client.post("/staff/admin/templates", follow_redirects=False, data={
        "csrf": csrf, "body": "現地を確認しました。", "status": "acknowledged", "lang": "ja"})
    assert added.status_code == 303
    engine = app.state.reports.store.engine
    with engine.connect() as conn:
        template_id = conn.execute(sa.select(sa.func.max(response_templates.c.id))).scalar_one()
    for _ in range(2):  # a double click deletes once and fails nothing
        gone = client.post(f"/staff/admin/templates/{template_id}/delete",
                           data={"csrf": csrf}, follow_redirects=False)
        assert gone.status_code == 303
    assert "現地を確認しました。" not in client.get("/staff/admin").text
    with engine.connect() as conn:
        events = conn.execute(admin_events.select().order_by(admin_events.c.id)).all()
    assert [e.action for e in events] == ["add_template", "delete_template"]
    assert events[1].actor_name == "admin san"
    assert events[1].before["body"] == "現地を確認しました。"
    assert events[1].subject == f"response_template:{template_id}"


def test_the_admin_audit_log_cannot_be_edited_or_erased(app, staff_client):
    client = staff_client("admin")
    client.post("/staff/admin/templates", data={
        "csrf": csrf_of(client, "/staff/admin"), "body": "対応しました。", "status": "fixed",
        "lang": "ja"})
    engine = app.state.reports.store.engine
    for statement in (admin_events.update().values(actor_name="someone else"),
                      admin_events.delete()):
        with pytest.raises(sa.exc.DatabaseError), engine.begin() as conn:
            conn.execute(statement)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(admin_events)).scalar() == 1
