"""The plan's figures: fiscal years in Japan time, era labels, shares and medians."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geoapp.reports.service import Submission
from geoapp.staff.figures import count_map_view, era_label, figures, fiscal_year
from geoapp.staff.workflow import ActionRequest


@pytest.mark.parametrize(
    ("moment", "fy"),
    [
        (datetime(2026, 3, 31, 14, 59, tzinfo=UTC), 2025),  # 23:59 on 31 March in Japan
        (datetime(2026, 3, 31, 15, 0, tzinfo=UTC), 2026),  # 00:00 on 1 April in Japan
        (datetime(2027, 1, 10, tzinfo=UTC), 2026),
    ],
)
def test_fiscal_years_turn_on_1_april_japan_time(moment, fy):
    assert fiscal_year(moment) == fy


@pytest.mark.parametrize(("fy", "label"), [(2019, "令和元年度"), (2025, "令和7年度"),
                                           (2026, "令和8年度"), (2018, "平成30年度")])
def test_era_labels(fy, label):
    assert era_label(fy) == label


def test_posted_handled_share_and_medians_by_category_and_department(
        service, accounts, workflow, store):
    start = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    road = next(u for u in accounts.all() if u.username == "road")

    def post(category: str, at: datetime) -> int:
        return service.submit(Submission(category=category, description="x", lat="37.9477",
                                         lon="139.3275"), now=at).report.id

    first = post("gutter", start)
    second = post("gutter", start + timedelta(days=40))
    post("dead_animal", start + timedelta(days=41))
    post("gutter", datetime(2026, 3, 1, tzinfo=UTC))  # the previous fiscal year
    workflow.apply(first, road, ActionRequest("acknowledge", 1), start + timedelta(hours=2))
    workflow.apply(first, road, ActionRequest("fix", 2, body="済"), start + timedelta(hours=10))
    workflow.apply(second, road, ActionRequest("close", 1, body="対象外"),
                   start + timedelta(days=40, hours=4))
    data = figures(store.engine, 2026)
    assert (data.total.posted, data.total.handled) == (3, 2)
    assert data.total.share == pytest.approx(2 / 3)
    assert data.total.median_response_hours == pytest.approx(3)  # 2 h and 4 h
    assert data.total.median_closing_hours == pytest.approx(7)  # 10 h and 4 h
    by_category = {g.label: g for g in data.by_category}
    assert by_category["側溝・排水"].posted == 2 and by_category["動物の死骸"].handled == 0
    by_department = {g.label: g.posted for g in data.by_department}
    assert by_department == {"道路管理担当": 2, "環境衛生担当": 1}
    assert dict(data.monthly_posted)[5] == 1 and dict(data.monthly_posted)[6] == 2
    assert dict(data.monthly_handled)[5] == 1 and dict(data.monthly_handled)[6] == 1
    assert data.label == "令和8年度"


def test_map_views_are_counted_per_fiscal_year(store):
    for _ in range(3):
        count_map_view(store.engine, datetime(2026, 6, 1, tzinfo=UTC))
    count_map_view(store.engine, datetime(2026, 3, 1, tzinfo=UTC))
    assert figures(store.engine, 2026).map_views == 3
    assert figures(store.engine, 2025).map_views == 1
