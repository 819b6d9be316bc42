"""Load: 200 viewers of the map, layers and report pages while photos are posted 10 a second.

Run on demand, not as a test (loopback only):

    .venv/bin/python bench/load.py [--seconds 60] [--idle-seconds 20] [--viewers 200]
                                   [--rate 10] [--postgis] [--server-root /work/main]

It starts ``geoapp serve --workers 2`` (the checkout at ``--server-root``, default this one)
on a free port of 127.0.0.1 with a fresh data folder (SQLite; with ``--postgis`` a PostgreSQL
database it creates on 127.0.0.1:5432 and drops afterwards), posts a few reports so report
pages exist, then

1. IDLE: ``--viewers`` viewers for ``--idle-seconds``, no submissions;
2. LOAD: the same viewers for ``--seconds`` while ``--rate`` reports a second are posted to
   ``POST /api/v1/reports``, each with a ~3 MB 12 MP JPEG (``bench/photos.py``'s sample, made
   from Pillow noise and cached in ``bench/out/``);

and checks every acknowledged (201) report with ``GET /api/v1/reports/N`` afterwards.

A viewer loops over the map page ``/``, ``/collections/shelters/items?limit=100``,
``/collections/reports/items?limit=100`` and a report page ``/reports/N``, pausing
``--think`` seconds (0.5-1.5x, at random) between requests as a person reading would.
It prints answers by status, p50/p95/p99 per kind in both phases, the ratio of viewer p95
under load to idle, lost acknowledged reports, and the CPU seconds of the server and of this
client (one process; its own CPU use competes with the server on a small machine).
Targets: no 5xx, nothing lost, viewer p95 under load within 3x of idle.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import signal
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import HOST, group_cpu
from photos import sample
from reports import (
    FIELDS,
    POSTGRES,
    ROOT,
    Server,
    TempDatabase,
    distinct_photos,
    machine_busy,
    self_cpu,
)

VIEWER_KINDS = ("map", "shelters", "reports_layer", "report_page")
#: Report pages for viewers to read, posted before the idle phase.
SEED_REPORTS = 12
#: Distinct photos cycled through by the submissions (each ~3 MB in memory).
DISTINCT_PHOTOS = 8
#: Submissions still waiting for an answer past this are not started (counted as skipped).
MAX_OUTSTANDING = 300
REQUEST_TIMEOUT = 60.0
#: Below uvicorn's 5 s keep-alive: a connection the server is closing is never reused.
KEEPALIVE_EXPIRY = 2.0
TARGET_RATIO = 3.0


@dataclass
class Phase:
    """Latencies and answers of one phase, by kind of request."""

    name: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    acknowledged: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    machine_cpu: float = 0.0

    @property
    def other_cores(self) -> float:
        """Cores used meanwhile by neither the server nor this client (others' work)."""
        rest = self.machine_cpu - self.server_cpu - self.client_cpu
        return max(0.0, rest) / self.seconds if self.seconds else float("nan")

    def record(self, kind: str, status: str, seconds: float) -> None:
        """One answer (or failure) of ``kind``."""
        self.statuses[kind][status] += 1
        if status[0].isdigit():
            self.latencies[kind].append(seconds)

    def quantile(self, kind: str, q: float) -> float:
        """A latency quantile of ``kind`` in seconds (nan without answers)."""
        values = self.latencies.get(kind, [])
        if len(values) < 2:
            return values[0] if values else float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]

    def viewer_quantile(self, q: float) -> float:
        """A latency quantile over every viewer request."""
        merged = Phase("viewers")
        merged.latencies["all"] = [v for k in VIEWER_KINDS for v in self.latencies.get(k, [])]
        return merged.quantile("all", q)

    def count(self, predicate) -> int:  # noqa: ANN001 (a small filter on status strings)
        """Answers whose status satisfies ``predicate``, over every kind."""
        return sum(n for c in self.statuses.values() for s, n in c.items() if predicate(s))


def viewer_paths(report_ids: list[int], rng: random.Random) -> dict[str, str]:
    """One path for each kind a viewer asks for (a random report page)."""
    return {
        "map": "/",
        "shelters": "/collections/shelters/items?limit=100",
        "reports_layer": "/collections/reports/items?limit=100",
        "report_page": f"/reports/{rng.choice(report_ids)}",
    }


async def viewer(client: httpx.AsyncClient, phase: Phase, stop_at: float, think: float,
                 report_ids: list[int], seed: int) -> None:
    """One person: the map, the layers and report pages in turn, with pauses between."""
    rng = random.Random(seed)
    turn = rng.randrange(len(VIEWER_KINDS))
    await asyncio.sleep(rng.uniform(0, think))  # viewers do not all arrive in the same ms
    # Bounded in time and count: at most one request per 0.5 x think seconds.
    for _ in range(int((stop_at - time.monotonic()) / (0.5 * think)) + 1):
        if time.monotonic() >= stop_at:
            return
        kind = VIEWER_KINDS[turn % len(VIEWER_KINDS)]
        turn += 1
        path = viewer_paths(report_ids, rng)[kind]
        start = time.perf_counter()
        try:
            response = await client.get(path, headers={"Accept": "text/html"}
                                        if kind in ("map", "report_page") else {})
            status = str(response.status_code)
        except httpx.HTTPError as error:
            status = type(error).__name__
        phase.record(kind, status, time.perf_counter() - start)
        if not status.startswith("2") and len(phase.errors) < 5:
            phase.errors.append(f"{kind} {path}: {status}")
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


async def submit_one(client: httpx.AsyncClient, photo: bytes, number: int,
                     phase: Phase) -> int | None:
    """Post one report with one photo; its number when acknowledged (201)."""
    start = time.perf_counter()
    try:
        response = await client.post(
            "/api/v1/reports",
            data={**FIELDS, "description": f"Blocked gutter, load benchmark report {number}"},
            files={"photos": (f"IMG_{number:04d}.jpg", photo, "image/jpeg")},
            headers={"Idempotency-Key": f"load-{secrets.token_hex(8)}",
                     "Accept": "application/json"})
        status = str(response.status_code)
    except httpx.HTTPError as error:
        status, response = type(error).__name__, None
    phase.record("submit", status, time.perf_counter() - start)
    if status != "201" and len(phase.errors) < 5:
        body = response.text[:200] if response is not None else ""
        phase.errors.append(f"submit #{number}: {status} {body}")
    if status == "201" and response is not None:
        phase.acknowledged.append(int(response.json()["number"]))
        return phase.acknowledged[-1]
    return None


async def submitter(client: httpx.AsyncClient, phase: Phase, stop_at: float, rate: float,
                    photos: list[bytes]) -> None:
    """Start ``rate`` submissions a second until ``stop_at`` (open loop), then await them."""
    pending: set[asyncio.Task] = set()
    next_at, number = time.monotonic(), 0
    while next_at < stop_at:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if len(pending) >= MAX_OUTSTANDING:
            phase.record("submit", "skipped", 0.0)
        else:
            task = asyncio.create_task(
                submit_one(client, photos[number % len(photos)], number, phase))
            pending.add(task)
            task.add_done_callback(pending.discard)
        number += 1
        next_at += 1 / rate
    if pending:
        await asyncio.wait(pending, timeout=REQUEST_TIMEOUT + 5)


async def run_phase(server: Server, phase: Phase, args: argparse.Namespace,
                    report_ids: list[int], photos: list[bytes] | None) -> None:
    """Viewers (and submissions, when ``photos`` are given) for one phase."""
    seconds = args.seconds if photos else args.idle_seconds
    limits = httpx.Limits(max_connections=args.viewers + MAX_OUTSTANDING,
                          max_keepalive_connections=args.viewers + 50,
                          keepalive_expiry=KEEPALIVE_EXPIRY)
    url = f"http://{HOST}:{server.port}"
    server_before, client_before = group_cpu(server.process.pid), self_cpu()
    machine_before, start = machine_busy(), time.monotonic()
    stop_at = start + seconds
    async with httpx.AsyncClient(base_url=url, limits=limits,
                                 timeout=REQUEST_TIMEOUT) as client:
        jobs = [viewer(client, phase, stop_at, args.think, report_ids, seed)
                for seed in range(args.viewers)]
        if photos:
            jobs.append(submitter(client, phase, stop_at, args.rate, photos))
        await asyncio.gather(*jobs)
    phase.seconds = time.monotonic() - start
    phase.server_cpu = group_cpu(server.process.pid) - server_before
    phase.client_cpu = self_cpu() - client_before
    phase.machine_cpu = machine_busy() - machine_before


async def seed_reports(server: Server, photo: bytes) -> list[int]:
    """A few reports for viewers to read (also warms the photo path up)."""
    seeding = Phase("seed")
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{server.port}",
                                 timeout=REQUEST_TIMEOUT) as client:
        for i in range(SEED_REPORTS):
            await submit_one(client, photo, -1 - i, seeding)
        if not seeding.acknowledged:
            raise RuntimeError(f"{server.name}: no seed report was accepted: {seeding.errors}\n"
                               f"{server.log_tail()}")
        for path in viewer_paths(seeding.acknowledged, random.Random(0)).values():
            await client.get(path)  # first-request costs: templates, caches, connections
    return seeding.acknowledged


async def lost_reports(server: Server, numbers: list[int]) -> list[int]:
    """Acknowledged report numbers that GET /api/v1/reports/N does not find (20 at a time)."""
    gate = asyncio.Semaphore(20)
    lost: list[int] = []

    async def check(client: httpx.AsyncClient, number: int) -> None:
        async with gate:
            try:
                response = await client.get(f"/api/v1/reports/{number}")
                ok = response.status_code == 200 and response.json()["number"] == str(number)
            except httpx.HTTPError:
                ok = False
            if not ok:
                lost.append(number)

    async with httpx.AsyncClient(base_url=f"http://{HOST}:{server.port}",
                                 timeout=REQUEST_TIMEOUT) as client:
        await asyncio.gather(*(check(client, n) for n in numbers))
    return sorted(lost)


def ms(seconds: float) -> str:
    """Seconds as whole milliseconds."""
    return "-" if seconds != seconds else f"{seconds * 1000:.0f}"


def report(engine: str, idle: Phase, load: Phase, lost: list[int], args: argparse.Namespace,
           server_root: Path) -> bool:
    """Print one engine's figures; True when every target is met."""
    print(f"\n== {engine}: geoapp serve --workers {args.workers} from {server_root}; "
          f"{args.viewers} viewers (think {args.think:g} s); load: {args.rate:g} posts/s "
          f"with a {len(sample('jpeg')) / 2**20:.1f} MB 12 MP JPEG each")
    for phase in (idle, load):
        print(f"-- {phase.name}: {phase.seconds:.1f} s; CPU seconds: server "
              f"{phase.server_cpu:.1f}, this client {phase.client_cpu:.1f}; other work on "
              f"the machine meanwhile: {phase.other_cores:.2f} cores")
        print(f"   {'kind':<14}{'answers':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  statuses")
        kinds = [*VIEWER_KINDS, "submit"] if phase is load else list(VIEWER_KINDS)
        for kind in kinds:
            counts = phase.statuses.get(kind, Counter())
            statuses = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
            print(f"   {kind:<14}{sum(counts.values()):>8}{ms(phase.quantile(kind, .5)):>9}"
                  f"{ms(phase.quantile(kind, .95)):>9}{ms(phase.quantile(kind, .99)):>9}"
                  f"  {statuses}")
        print(f"   {'all viewers':<14}{'':>8}{ms(phase.viewer_quantile(.5)):>9}"
              f"{ms(phase.viewer_quantile(.95)):>9}{ms(phase.viewer_quantile(.99)):>9}")
        for line in phase.errors:
            print(f"   e.g. {line}")
    ratio = load.viewer_quantile(.95) / idle.viewer_quantile(.95)
    server_errors = sum(p.count(lambda s: s.startswith("5")) for p in (idle, load))
    failures = sum(p.count(lambda s: not s[0].isdigit() and s != "skipped")
                   for p in (idle, load))
    submitted = sum(load.statuses["submit"].values())
    print(f"-- viewer p95 under load / idle: {ratio:.2f} (target <= {TARGET_RATIO:g})")
    print(f"-- 5xx answers: {server_errors}; failed connections or timeouts: {failures}")
    print(f"-- submissions: {submitted} started, {len(load.acknowledged)} acknowledged (201), "
          f"{load.statuses['submit']['skipped']} skipped; acknowledged but missing from the "
          f"store: {len(lost)}{' ' + str(lost[:10]) if lost else ''}")
    return server_errors == 0 and not lost and ratio <= TARGET_RATIO


async def bench_engine(engine: str, args: argparse.Namespace, tmp: Path,
                       photos: list[bytes]) -> bool:
    """Start a server on ``engine``, run both phases, check the acknowledged reports."""
    env: dict[str, str] = {}
    database = TempDatabase(args.postgres_url) if engine == "PostGIS" else None
    if database is not None:
        env["GEOAPP_DATABASE_URL"] = database.url
    data_dir = tmp / f"{engine.lower()}-var"
    data_dir.mkdir()
    server = Server(engine, data_dir, env, args.workers, root=args.server_root)
    try:
        await asyncio.to_thread(server.wait_ready)
        print(f"{engine}: geoapp on :{server.port}; posting {SEED_REPORTS} reports to read",
              flush=True)
        report_ids = await seed_reports(server, photos[0])
        idle, load = Phase("IDLE"), Phase("LOAD")
        print(f"{engine}: idle phase, {args.idle_seconds:g} s", flush=True)
        await run_phase(server, idle, args, report_ids, None)
        print(f"{engine}: load phase, {args.seconds:g} s", flush=True)
        await run_phase(server, load, args, report_ids, photos)
        lost = await lost_reports(server, load.acknowledged)
        ok = report(engine, idle, load, lost, args, args.server_root)
        if not ok:
            print(f"   {engine} log tail:\n{server.log_tail(10)}")
        return ok
    finally:
        server.stop()
        if database is not None:
            database.drop()


def main() -> int:
    """Parse the options, run each engine, print the figures, stop everything started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="load phase length")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="idle phase length")
    parser.add_argument("--viewers", type=int, default=200, help="concurrent viewers")
    parser.add_argument("--think", type=float, default=1.0,
                        help="a viewer's mean pause between requests, seconds")
    parser.add_argument("--rate", type=float, default=10.0, help="report submissions a second")
    parser.add_argument("--workers", type=int, default=2, help="geoapp serve --workers")
    parser.add_argument("--postgis", action="store_true",
                        help="run on a temporary PostGIS database instead of SQLite")
    parser.add_argument("--postgres-url", default=POSTGRES,
                        help="server to create the temporary database on (trust auth)")
    parser.add_argument("--server-root", type=Path, default=ROOT,
                        help="checkout whose geoapp is served (e.g. main, for a 'before')")
    args = parser.parse_args()
    if not (0 < args.seconds <= 600 and 0 < args.idle_seconds <= 600):
        parser.error("--seconds and --idle-seconds must be in (0, 600]")
    if not (1 <= args.viewers <= 1000 and 0 < args.rate <= 100 and args.think > 0):
        parser.error("--viewers 1..1000, --rate in (0, 100], --think > 0")

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    photos = distinct_photos(sample("jpeg"), DISTINCT_PHOTOS)
    engine = "PostGIS" if args.postgis else "SQLite"
    with tempfile.TemporaryDirectory(prefix="geoapp-bench-load-") as tmp:
        ok = asyncio.run(bench_engine(engine, args, Path(tmp), photos))
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
