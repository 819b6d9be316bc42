"""The rate limit's store: exact under concurrency from several processes, bounded in size."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geoapp.errors import RateLimited
from geoapp.store.engine import open_engine
from geoapp.store.ratelimit import Allowance, RateStore

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
ALLOWANCE = Allowance(limit=10, window=600, refused_limit=20)


def test_parallel_submissions_cannot_slip_past_the_limit(store, database_url):
    # Two engines on one database: two server processes, each with its own connections.
    other = open_engine(database_url)
    stores = [RateStore(store.engine, keep=600), RateStore(other, keep=600)]

    def attempt(index: int) -> bool:
        try:
            stores[index % 2].reserve("addr:198.51.100.1", ALLOWANCE, NOW)
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = sum(pool.map(attempt, range(30)))
    other.dispose()
    assert admitted == 10


def test_refused_submissions_have_their_own_allowance_and_retry_after(store):
    rates = RateStore(store.engine, keep=600)
    for second in range(20):
        rates.mark_refused(rates.reserve("addr:a", ALLOWANCE, NOW + timedelta(seconds=second)))
    with pytest.raises(RateLimited) as limited:
        rates.reserve("addr:a", ALLOWANCE, NOW + timedelta(seconds=100))
    assert limited.value.retry_after == 500  # when the oldest refusal leaves the window
    released = rates.reserve("addr:b", ALLOWANCE, NOW)
    rates.release(released)  # a failure on our side does not count
    for _ in range(10):
        rates.reserve("addr:b", ALLOWANCE, NOW)
    with pytest.raises(RateLimited):
        rates.reserve("addr:b", ALLOWANCE, NOW)
    assert rates.reserve("addr:b", ALLOWANCE, NOW + timedelta(seconds=601))


def test_old_rows_are_removed(store):
    rates = RateStore(store.engine, keep=600)
    for client in range(50):
        rates.reserve(f"addr:10.0.0.{client}", ALLOWANCE, NOW)
    rates.reserve("addr:10.0.1.1", ALLOWANCE, NOW + timedelta(seconds=601))
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM rate_hits")).scalar() == 1
