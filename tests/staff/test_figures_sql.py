"""The dashboard's figures are aggregated in the database, on both engines, and equal what
counting every report by hand gives."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
import sqlalchemy as sa

from geoapp.japantime import JST
from geoapp.staff.figures import figures, fiscal_bounds
from geoapp.store.schema import categories, departments, reports
from tests.bulk import START, insert_reports, synthetic_reports


def _by_hand(engine: sa.Engine, fy: int) -> dict:
    """The figures from every report of the year, counted in Python as the old code did."""
    start, end = fiscal_bounds(fy)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(reports.c.created_at, reports.c.first_response_at, reports.c.closed_at,
                      categories.c.name_ja.label("category"),
                      departments.c.name_ja.label("department"))
            .join(categories, categories.c.code == reports.c.category_code)
            .join(departments, departments.c.code == reports.c.department_code, isouter=True)
            .where(reports.c.created_at >= start, reports.c.created_at < end)).all()
    groups: dict[tuple[str, str], dict] = defaultdict(
        lambda: {"posted": 0, "handled": 0, "response": [], "closing": []})
    months: dict[str, Counter] = {"posted": Counter(), "handled": Counter()}
    for row in rows:
        for key in (("total", "all"), ("category", row.category),
                    ("department", row.department or "-")):
            group = groups[key]
            group["posted"] += 1
            if row.first_response_at:
                group["response"].append(
                    (row.first_response_at - row.created_at).total_seconds() / 3600)
            if row.closed_at:
                group["handled"] += 1
                group["closing"].append((row.closed_at - row.created_at).total_seconds() / 3600)
        months["posted"][row.created_at.astimezone(JST).month] += 1
        if row.closed_at:
            months["handled"][row.closed_at.astimezone(JST).month] += 1
    return {"groups": groups, "months": months}


@pytest.fixture
def year_of_reports(store):
    """2,000 reports over a year and a half; half answered, a third closed."""
    engine = store.engine
    ids = insert_reports(engine, synthetic_reports(2000, seed=5))
    with engine.begin() as conn:
        for n, report_id in enumerate(ids):
            created = START + timedelta(hours=6.5 * n)  # April 2025 to September 2026
            values = {"created_at": created, "updated_at": created}
            if n % 2 == 0:
                values["first_response_at"] = created + timedelta(minutes=37 * (n % 97) + 5)
            if n % 3 == 0:  # some closings land in the next month, across midnight in Japan
                values["closed_at"] = created + timedelta(hours=(n % 211) + 15.25)
            conn.execute(reports.update().where(reports.c.id == report_id).values(**values))
    return engine


def test_figures_come_from_sql_aggregates_and_match_counting_by_hand(year_of_reports):
    engine = year_of_reports
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        data = figures(engine, 2025)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    # Every read of the reports is an aggregate: no report is loaded into Python.
    on_reports = [s for s in seen if "FROM reports" in s]
    assert on_reports and all("GROUP BY" in s for s in on_reports), on_reports
    if engine.dialect.name == "postgresql":
        assert any("percentile_cont" in s for s in on_reports)

    expected = _by_hand(engine, 2025)
    groups = expected["groups"]
    assert data.total.posted == groups["total", "all"]["posted"] > 1000
    assert all(n > 0 for _, n in data.monthly_posted)  # the whole year has reports
    found = [("total", data.total)] + [("category", g) for g in data.by_category] + [
        ("department", g) for g in data.by_department]
    assert len(found) == len(groups)
    for kind, group in found:
        want = groups[kind, group.label]
        assert (group.posted, group.handled) == (want["posted"], want["handled"]), group.label
        for mine, theirs in ((group.median_response_hours, want["response"]),
                             (group.median_closing_hours, want["closing"])):
            if theirs:
                assert mine == pytest.approx(statistics.median(theirs), abs=1e-3), group.label
            else:
                assert mine is None
    assert dict(data.monthly_posted) == {m: expected["months"]["posted"][m]
                                         for m, _ in data.monthly_posted}
    assert dict(data.monthly_handled) == {m: expected["months"]["handled"][m]
                                          for m, _ in data.monthly_handled}
    assert [g.posted for g in data.by_category] == sorted(
        (g.posted for g in data.by_category), reverse=True)


def test_a_year_without_reports_has_empty_figures(store):
    data = figures(store.engine, 2019)
    assert (data.total.posted, data.total.handled, data.total.share) == (0, 0, None)
    assert data.total.median_response_hours is None and data.by_category == []
    assert all(n == 0 for _, n in data.monthly_posted)
