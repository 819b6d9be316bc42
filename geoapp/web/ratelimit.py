"""A per-client sliding-window limit on submissions (per process; enough for one server).

Behind several app servers, put the limit in the load balancer or a shared cache.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from geoapp.errors import RateLimited


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds for each client key."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str, now: float | None = None) -> None:
        """Count one submission; RateLimited (with Retry-After seconds) when over the limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = max(1, math.ceil(hits[0] + self.window - now))
                raise RateLimited(
                    f"too many reports from this connection; try again in {retry} s", retry)
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle clients so memory stays bounded
                idle = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]
                for key in idle:
                    del self._hits[key]
