"""The memory check of issue 10: concurrent 1 GB chunked uploads against the body limit.

Run on demand, not as a test:

    .venv/bin/python bench/upload_memory.py [--uploads 10] [--gigabytes 1] [--postgis]

It starts ``geoapp serve --workers 2`` on a free port of 127.0.0.1 with a fresh temporary
data dir (SQLite; with ``--postgis`` also on a temporary PostgreSQL database, dropped at the
end), then sends ``--uploads`` concurrent multipart uploads to ``POST /api/v1/reports``, each
a photo part that grows to ``--gigabytes`` GB, chunked (no Content-Length), from a generator.
It prints, per engine:

- the server's resident memory (the sum over its process group: supervisor and workers,
  sampled from /proc every 10 ms) before, at its peak during the uploads, and the increase;
- for each upload, its answer, the MB the client managed to send, and the seconds from the
  moment its body crossed the submission limit to the answer;
- whether anything was stored (it must not be), and the targets: < 200 MB, < 2 s.

Every server it started is stopped, also on an error or Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import bisect
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import HOST, group_rss
from reports import POSTGRES, Server, TempDatabase

ROOT = Path(__file__).resolve().parent.parent
ENDPOINT = "/api/v1/reports"
BOUNDARY = "geoapp-bench-upload"
CHUNK = 64 * 1024
MB = 1024 * 1024
#: The issue's targets.
TARGET_RSS_MB = 200
TARGET_SECONDS = 2.0


@dataclass
class Upload:
    """One streamed upload: what was sent and when, what came back and when."""

    size: int
    sent: int = 0
    status: str = "-"
    limit: int | None = None  # the server's, from its 413 answer
    answered_at: float | None = None
    progress: list[tuple[int, float]] = field(default_factory=list)

    def body(self) -> Iterator[bytes]:
        """A report form whose photo part grows to ``size`` bytes, 64 KiB at a time."""
        yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\n"
               f"gutter\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photos\"; "
               f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
        chunk = b"\xff" * CHUNK
        while self.sent < self.size:
            yield chunk
            # Resumed: this chunk is in the kernel's hands, on its way to the server.
            self.sent += CHUNK
            self.progress.append((self.sent, time.monotonic()))

    def send(self, url: str) -> None:
        """POST the body; record the answer, the limit it names, and when it came."""
        try:
            response = httpx.post(url, content=self.body(), timeout=120, headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
            self.status = str(response.status_code)
            if response.status_code == 413:
                self.limit = response.json().get("limit")
        except httpx.HTTPError as exc:
            self.status = type(exc).__name__
        self.answered_at = time.monotonic()

    @property
    def seconds(self) -> float | None:
        """From the moment the body sent crossed the server's limit to the answer."""
        if self.limit is None or self.answered_at is None:
            return None
        crossing = bisect.bisect_right([sent for sent, _ in self.progress], self.limit)
        if crossing >= len(self.progress):  # refused while the crossing chunk was written
            return self.answered_at - self.progress[-1][1] if self.progress else None
        return self.answered_at - self.progress[crossing][1]


class PeakSampler(threading.Thread):
    """Samples a process group's resident memory until stopped; keeps the peak."""

    def __init__(self, pgid: int) -> None:
        super().__init__(daemon=True)
        self.pgid, self.peak, self._done = pgid, group_rss(pgid), threading.Event()

    def run(self) -> None:
        """Sample every 10 ms."""
        while not self._done.wait(0.01):
            self.peak = max(self.peak, group_rss(self.pgid))

    def stop(self) -> int:
        """Stop sampling; the peak in bytes."""
        self._done.set()
        self.join()
        return self.peak


def measure(server: Server, uploads: int, size: int) -> bool:
    """Run the uploads against one server, print its figures; whether the targets were met."""
    url = f"http://{HOST}:{server.port}{ENDPOINT}"
    time.sleep(1.0)  # let the workers settle after start-up
    before = group_rss(server.process.pid)
    sampler = PeakSampler(server.process.pid)
    sampler.start()
    jobs = [Upload(size) for _ in range(uploads)]
    threads = [threading.Thread(target=job.send, args=(url,)) for job in jobs]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    peak = sampler.stop()
    increase = (peak - before) / MB
    stored = httpx.get(f"http://{HOST}:{server.port}/collections/reports/items",
                       timeout=30).json()["numberMatched"]
    limit = next((job.limit for job in jobs if job.limit), 0)
    print(f"  {uploads} uploads of {size / MB:,.0f} MB each, server's limit {limit / MB:.0f} MB,"
          f" all answered in {elapsed:.1f} s")
    print(f"  server RSS (process group): before {before / MB:.0f} MB, peak {peak / MB:.0f} MB,"
          f" increase {increase:.0f} MB (target < {TARGET_RSS_MB} MB)")
    print("  upload  answer  sent MB  s from limit to answer")
    for number, job in enumerate(jobs, 1):
        seconds = f"{job.seconds:.2f}" if job.seconds is not None else "-"
        print(f"  {number:>6}  {job.status:>6}  {job.sent / MB:>7.0f}  {seconds:>6}")
    worst = max((job.seconds for job in jobs if job.seconds is not None), default=float("inf"))
    print(f"  slowest refusal {worst:.2f} s (target < {TARGET_SECONDS:g} s); "
          f"reports stored: {stored}")
    return (increase < TARGET_RSS_MB and worst < TARGET_SECONDS and stored == 0
            and all(job.status == "413" for job in jobs))


def main() -> int:
    """Parse the options, start each server, upload, print, stop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=10, help="concurrent uploads")
    parser.add_argument("--gigabytes", type=float, default=1.0, help="size of each upload")
    parser.add_argument("--workers", type=int, default=2, help="geoapp serve --workers")
    parser.add_argument("--postgis", action="store_true",
                        help="also measure against a temporary PostgreSQL database")
    parser.add_argument("--postgres-url", default=POSTGRES,
                        help="server to create the temporary database on (trust auth)")
    args = parser.parse_args()
    if args.uploads < 1 or args.gigabytes < 0.1:
        parser.error("at least one upload, each of at least 0.1 GB")

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    engines = ["SQLite", "PostGIS"] if args.postgis else ["SQLite"]
    met = True
    with tempfile.TemporaryDirectory(prefix="geoapp-bench-upload-") as tmp:
        for engine in engines:
            database = TempDatabase(args.postgres_url) if engine == "PostGIS" else None
            # The code of this checkout is measured, whatever geoapp the venv points at.
            env = {"PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT),
                                                              os.environ.get("PYTHONPATH"))))}
            if database is not None:
                env["GEOAPP_DATABASE_URL"] = database.url
            data_dir = Path(tmp) / f"{engine.lower()}-var"
            data_dir.mkdir()
            server = Server(engine, data_dir, env, args.workers)
            try:
                server.wait_ready()
                print(f"{engine}: geoapp serve --workers {args.workers} on :{server.port}",
                      flush=True)
                met = measure(server, args.uploads, int(args.gigabytes * 1024 * MB)) and met
            finally:
                server.stop()
                if database is not None:
                    database.drop()
    print("targets met" if met else "TARGETS NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
