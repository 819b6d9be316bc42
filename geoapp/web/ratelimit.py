"""The submission rate limit as routes use it: per client address, or per Open311 API key.

The counts live in the store (geoapp.store.ratelimit), so every process on one database
shares them. A submission refused with a 4xx answer is counted separately, against a higher
allowance, so a resident correcting a form does not use up what they may post.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from geoapp.errors import GeoappError, RateLimited, status_for
from geoapp.open311.keys import ApiKey
from geoapp.store.ratelimit import Allowance, RateStore

#: Open311 quotas are per hour; a key's refused posts are allowed as many again.
KEY_WINDOW = 3600


class RateLimiter:
    """Reservations for submissions, by client address or by API key."""

    def __init__(self, store: RateStore, address_allowance: Allowance) -> None:
        self.store = store
        self.address_allowance = address_allowance

    def hit(self, client: str, now: datetime | None = None) -> None:
        """Count one action from ``client`` that cannot be refused afterwards ("me too")."""
        self.store.reserve(f"addr:{client}", self.address_allowance, now or datetime.now(UTC))

    @contextmanager
    def submission(self, client: str, now: datetime | None = None) -> Iterator[None]:
        """Count the submission run inside, from client address ``client``."""
        with self._counted(f"addr:{client}", self.address_allowance, now):
            yield

    @contextmanager
    def key_submission(self, key: ApiKey, now: datetime | None = None) -> Iterator[None]:
        """Count the submission run inside against an Open311 key's own hourly quota."""
        allowance = Allowance(key.quota_per_hour, KEY_WINDOW, key.quota_per_hour)
        with self._counted(f"key:{key.id}", allowance, now):
            yield

    @contextmanager
    def _counted(self, key: str, allowance: Allowance, now: datetime | None) -> Iterator[None]:
        hit = self.store.reserve(key, allowance, now or datetime.now(UTC))
        try:
            yield
        except GeoappError as error:
            if isinstance(error, RateLimited) or status_for(error) >= 500:
                self.store.release(hit)  # not the client's doing
            else:
                self.store.mark_refused(hit)
            raise
        except BaseException:
            self.store.release(hit)
            raise
