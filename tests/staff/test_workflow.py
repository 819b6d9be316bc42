"""The triage workflow on both engines: transitions, concurrency, audit log, routing, mail."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from geoapp.errors import Forbidden, InvalidInput
from geoapp.reports.service import Submission
from geoapp.staff import queries
from geoapp.staff.queries import QueueFilter
from geoapp.staff.workflow import ActionRequest, IllegalTransition, StaleEdit
from tests.staff.conftest import NOW


def _report(service, category="gutter", email="resident@example.org", lang="ja", lat="37.9477"):
    return service.submit(Submission(category=category, description="困っています", lat=lat,
                                     lon="139.3275", email=email, lang=lang), now=NOW).report


def _user(accounts, name):
    return next(u for u in accounts.all() if u.username == name)


def _outbox(store):
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT to_addr, subject, body FROM outbox ORDER BY id")).all()


def test_a_report_moves_through_the_workflow_and_every_step_is_audited(
        service, accounts, workflow, store):
    report = _report(service)
    road = _user(accounts, "road")
    later = NOW + timedelta(hours=3)
    workflow.apply(report.id, road, ActionRequest("acknowledge", 1), later)
    workflow.apply(report.id, road, ActionRequest("priority", 2, priority=1), later)
    workflow.apply(report.id, road, ActionRequest("start", 3), later)
    workflow.apply(report.id, road, ActionRequest("note", 4, body="業者に連絡済み"), later)
    workflow.apply(report.id, road, ActionRequest("fix", 5, body="ふたを交換しました"), later)
    events = queries.events(store.engine, report.id)
    assert [e.action for e in events] == ["acknowledge", "priority", "start", "note", "fix"]
    assert events[0].before["status_code"] == "received"
    assert events[0].after["status_code"] == "acknowledged"
    assert events[1].after["priority"] == 1 and events[0].actor_name == "道路 一郎"
    assert [e.public for e in events] == [False, False, False, False, True]
    row = queries.report(store.engine, road, report.id)
    assert row.status_code == "fixed" and row.first_response_at == later
    assert row.closed_at == later


def test_an_illegal_transition_is_refused(service, accounts, workflow):
    report = _report(service)
    road = _user(accounts, "road")
    with pytest.raises(IllegalTransition):
        workflow.apply(report.id, road, ActionRequest("reopen", 1), NOW)
    workflow.apply(report.id, road, ActionRequest("close", 1, body="私有地のため"), NOW)
    with pytest.raises(IllegalTransition):
        workflow.apply(report.id, road, ActionRequest("start", 2), NOW)
    workflow.apply(report.id, road, ActionRequest("reopen", 2), NOW)


def test_the_later_of_two_saves_is_refused_not_lost(service, accounts, workflow, store):
    report = _report(service)
    road, admin = _user(accounts, "road"), _user(accounts, "admin")
    workflow.apply(report.id, road, ActionRequest("note", 1, body="先に保存"), NOW)
    with pytest.raises(StaleEdit, match="reload the page") as stale:  # str(): English
        workflow.apply(report.id, admin, ActionRequest("note", 1, body="後から保存"), NOW)
    assert "読み込み直して" in stale.value.message("ja")
    assert [e.body for e in queries.events(store.engine, report.id)] == ["先に保存"]


def test_required_texts_and_values_are_checked(service, accounts, workflow):
    report = _report(service)
    road = _user(accounts, "road")
    for req, field in ((ActionRequest("fix", 1), "body"), (ActionRequest("close", 1), "body"),
                       (ActionRequest("priority", 1, priority=7), "priority"),
                       (ActionRequest("forward", 1, department="nowhere", body="x"), "department"),
                       (ActionRequest("duplicate", 1, duplicate_of=report.id), "duplicate_of"),
                       (ActionRequest("refer", 1, body="x"), "manager"),
                       (ActionRequest("teleport", 1), "action")):
        with pytest.raises(InvalidInput) as error:
            workflow.apply(report.id, road, req, NOW)
        assert error.value.field == field


def test_departments_see_and_handle_only_what_is_routed_to_them(
        service, accounts, workflow, store):
    gutter = _report(service)
    dumping = _report(service, category="dead_animal")
    env, parks = _user(accounts, "env"), _user(accounts, "parks")
    rows, total = queries.queue(store.engine, env, QueueFilter(), NOW)
    assert [r.id for r in rows] == [dumping.id] and total == 1
    with pytest.raises(Forbidden):
        workflow.apply(gutter.id, env, ActionRequest("acknowledge", 1), NOW)
    with pytest.raises(Forbidden):
        workflow.apply(dumping.id, parks, ActionRequest("acknowledge", 1), NOW)
    # Road staff forward the gutter report to the environment department: now it is theirs.
    workflow.apply(gutter.id, _user(accounts, "road"),
                   ActionRequest("forward", 1, department="environment", body="不法投棄の可能性"),
                   NOW)
    rows, _ = queries.queue(store.engine, env, QueueFilter(), NOW)
    assert {r.id for r in rows} == {gutter.id, dumping.id}
    workflow.apply(gutter.id, env, ActionRequest("acknowledge", 2), NOW)
    wildlife = _user(accounts, "wild")
    assert queries.queue(store.engine, wildlife, QueueFilter(), NOW)[1] == 0


def test_a_duplicate_hands_its_supporters_and_subscribers_to_the_original(
        service, accounts, workflow, store):
    original = _report(service, email="first@example.org")
    copy = _report(service, email="second@example.org", lat="37.9478")
    service.support(copy.id, NOW)
    road = _user(accounts, "road")
    workflow.apply(copy.id, road, ActionRequest("duplicate", 1, duplicate_of=original.id), NOW)
    assert store.get(original.id).supporters == 2  # the copy's reporter and its supporter
    workflow.apply(original.id, road, ActionRequest("fix", 2, body="補修しました"), NOW)
    recipients = {row.to_addr for row in _outbox(store)}
    assert recipients == {"first@example.org", "second@example.org"}


def test_reporters_are_mailed_replies_and_closing_in_their_language(
        service, accounts, workflow, store):
    ja = _report(service, email="ja@example.org")
    en = _report(service, email="en@example.org", lang="en", lat="37.9478")
    road = _user(accounts, "road")
    workflow.apply(ja.id, road, ActionRequest("acknowledge", 1), NOW)  # not public: no mail
    assert _outbox(store) == []
    workflow.apply(ja.id, road, ActionRequest("reply", 2, body="現地を確認します"), NOW)
    workflow.apply(en.id, road, ActionRequest("close", 1, body="Private land"), NOW)
    mails = {row.to_addr: row for row in _outbox(store)}
    assert "現地を確認します" in mails["ja@example.org"].body
    assert f"https://map.example.jp/reports/{ja.id}" in mails["ja@example.org"].body
    assert "/unsubscribe/" in mails["ja@example.org"].body
    assert mails["en@example.org"].subject.startswith("[Shibata City]")
    assert "Closed without action" in mails["en@example.org"].body


def test_unsubscribed_reporters_get_no_more_mail(service, accounts, workflow, store):
    report = _report(service)
    with store.engine.connect() as conn:
        token = conn.execute(sa.text("SELECT token FROM subscribers")).scalar_one()
    assert store.unsubscribe(token) and not store.unsubscribe(token)
    workflow.apply(report.id, _user(accounts, "road"), ActionRequest("reply", 1, body="x"), NOW)
    assert _outbox(store) == []


def test_the_audit_log_cannot_be_changed_or_deleted(service, accounts, workflow, store):
    report = _report(service)
    workflow.apply(report.id, _user(accounts, "road"), ActionRequest("note", 1, body="x"), NOW)
    for statement in ("UPDATE report_events SET body = 'forged'", "DELETE FROM report_events"):
        with pytest.raises(sa.exc.DatabaseError), store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert [e.body for e in queries.events(store.engine, report.id)] == ["x"]


def test_the_queue_filters_sorts_and_pages(service, accounts, workflow, store):
    reports = [_report(service, lat=f"37.94{70 + i}") for i in range(5)]
    road = _user(accounts, "road")
    workflow.apply(reports[0].id, road, ActionRequest("priority", 1, priority=1), NOW)
    workflow.apply(reports[1].id, road, ActionRequest("assign", 1, assignee_id=road.id), NOW)
    rows, total = queries.queue(store.engine, road, QueueFilter(priority=1), NOW)
    assert [r.id for r in rows] == [reports[0].id]
    rows, _ = queries.queue(store.engine, road, QueueFilter(assignee="me"), NOW)
    assert [r.id for r in rows] == [reports[1].id]
    rows, _ = queries.queue(store.engine, road, QueueFilter(sort="priority"), NOW)
    assert rows[0].id == reports[0].id
    rows, total = queries.queue(store.engine, road, QueueFilter(page=2), NOW, per_page=2)
    assert total == 5 and len(rows) == 2
    rows, _ = queries.queue(store.engine, road, QueueFilter(older_than_days=3),
                            NOW + timedelta(days=2))
    assert rows == []
    rows, _ = queries.queue(store.engine, road,
                            QueueFilter(bbox=(139.32, 37.9469, 139.33, 37.94705)), NOW)
    assert [r.id for r in rows] == [reports[0].id]
