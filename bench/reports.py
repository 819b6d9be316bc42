"""Benchmark report submissions with 12 MP photos, and the photo pipeline against its floor.

Run on demand, not as a test:

    .venv/bin/python bench/reports.py [--submissions 40] [--clients 4] [--runs 10] [--postgis]
                                      [--durability]

It reuses the cached 12-megapixel phone-like JPEG of ``bench/photos.py`` (4000x3000, noisy,
EXIF with GPS and orientation 6; made in ``bench/out/`` on first use) and derives one distinct
photo per submission from it by nudging quantisation-table entries, so every upload decodes to
different pixels and is stored as a new file. It then

1. times ``geoapp.photos.pipeline.process`` in-process beside the floor (Pillow ``open`` ->
   ``load`` -> save JPEG quality 85 at full size) and prints their ratio;
2. starts ``geoapp serve`` on a free port of 127.0.0.1 with a fresh temporary data dir (SQLite),
   and posts the photos to ``POST /api/v1/reports`` (one photo each) from concurrent clients,
   each request on a fresh connection, reporting submissions per second, median and p95
   latency and the answers other than 201;
3. with ``--postgis``, does step 2 again against a temporary PostgreSQL database, dropped at
   the end;
4. with ``--durability``, does step 2 on SQLite twice, with ``GEOAPP_SQLITE_SYNCHRONOUS=NORMAL``
   and then with ``FULL`` (the default: the WAL is synced at every commit), and prints what
   FULL costs as ratios FULL/NORMAL.

Every server it started is stopped, also on an error or Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import secrets
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from common import free_port, group_cpu
from photos import SIZE, Timing, floor, sample, timed
from PIL import Image, features

from geoapp.photos.pipeline import process

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
HOST = "127.0.0.1"
ENDPOINT = "/api/v1/reports"
FIELDS = {"category": "gutter", "lat": "37.9477", "lon": "139.3275"}  # city hall
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
WARM_UP = 2
#: Above this many cores used by other work, figures are flagged as unreliable.
BUSY_CORES = 0.25
#: Cores a server could use for photos: the machine's, at most the 2 processing slots.
CORES = min(2, os.cpu_count() or 1)


# --------------------------------------------------------------------------- photos


def _quantisation_slots(jpeg: bytes) -> list[int]:
    """Offsets of the 9 lowest-frequency AC entries of every 8-bit DQT table of a JPEG.

    Those entries are used at every DCT scale (the pipeline decodes at 1/2 scale), so changing
    one of them changes the decoded pixels of the whole picture, a little.
    """
    slots, pos = [], 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF and jpeg[pos + 1] != 0xDA:
        end = pos + 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        if jpeg[pos + 1] == 0xDB:
            table = pos + 4
            while table < end:
                if jpeg[table] >> 4:  # 16-bit table: not what Pillow writes, leave it alone
                    table += 1 + 128
                    continue
                slots += [table + 1 + zigzag for zigzag in range(1, 10)]
                table += 1 + 64
        pos = end
    if not slots:
        raise ValueError("no 8-bit quantisation table found in the sample JPEG")
    return slots


def distinct_photos(jpeg: bytes, count: int) -> list[bytes]:
    """``count`` copies of a JPEG that all decode to different pixels (and differ from it).

    Copy ``k`` adds 1 to the quantisation entries picked by the bits of ``k + 1``: a few bytes
    change, the file stays a valid JPEG of the same size, and no re-encoding is needed.
    """
    slots = _quantisation_slots(jpeg)
    if count >= 2 ** len(slots):
        raise ValueError(f"at most {2 ** len(slots) - 1} distinct photos")
    photos = []
    for k in range(count):
        data, bits = bytearray(jpeg), k + 1
        for i, offset in enumerate(slots):
            if bits >> i & 1:
                data[offset] = data[offset] + 1 if data[offset] < 255 else data[offset] - 1
        photos.append(bytes(data))
    return photos


# --------------------------------------------------------------------------- machine load



def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    """CPU seconds (user + system) used so far by this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def other_load(seconds: float = 1.0) -> float:
    """Cores kept busy by the rest of the machine over ``seconds`` (this script idle)."""
    before = machine_busy()
    time.sleep(seconds)
    return (machine_busy() - before) / seconds


# --------------------------------------------------------------------------- servers



class Server:
    """``geoapp serve`` started by this script in its own process group, logging to a file."""

    def __init__(self, name: str, data_dir: Path, extra_env: dict[str, str],
                 workers: int, root: Path = ROOT) -> None:
        self.name, self.data_dir, self.port = name, data_dir, free_port()
        self.log = data_dir.parent / f"{name}.log"
        self._log_fh = self.log.open("wb")
        env = {**os.environ, "GEOAPP_DATA_DIR": str(data_dir),
               "GEOAPP_REPORT_RATE_LIMIT": "100000", **extra_env}
        # `-m geoapp` run in ``root`` serves that checkout's code (a worktree sharing another
        # checkout's .venv would otherwise import the code the venv was installed from).
        argv = [str(PYTHON), "-m", "geoapp", "serve", "--host", HOST, "--port", str(self.port),
                "--workers", str(workers)]
        # Own session: stop() signals this group only (the server and any workers).
        self.process = subprocess.Popen(argv, env=env, cwd=root, stdout=self._log_fh,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll GET /healthz until it answers 200, or raise with the tail of the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        """The last lines the server wrote."""
        if not self._log_fh.closed:
            self._log_fh.flush()
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after 10 s."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
            except ProcessLookupError:
                pass
        try:  # workers left behind by a crashed parent are still in the group
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log_fh.close()


class TempDatabase:
    """A PostgreSQL database made for one run and dropped afterwards."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url.rstrip("/")
        self.name = f"geoapp_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self._admin = self.server_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(f"{self._admin}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    @property
    def url(self) -> str:
        """The SQLAlchemy URL geoapp is given."""
        return f"{self.server_url}/{self.name}"

    def drop(self) -> None:
        """Drop the database, closing any session still connected to it."""
        with psycopg.connect(f"{self._admin}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# --------------------------------------------------------------------------- client


@dataclass(frozen=True)
class Upload:
    """One prepared submission: a multipart body in three parts around the photo bytes."""

    head: bytes
    photo: bytes
    tail: bytes
    content_type: str

    @property
    def length(self) -> int:
        """The body's length in bytes."""
        return len(self.head) + len(self.photo) + len(self.tail)


def make_upload(photo: bytes | None, number: int) -> Upload:
    """The multipart/form-data body of a report with one photo (or none), as a phone app
    sends it."""
    boundary = f"----geoapp-bench-{secrets.token_hex(8)}"
    fields = {**FIELDS, "description": f"Blocked gutter, benchmark report {number}"}
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        .encode() for name, value in fields.items()
    )
    if photo is None:  # --without-photos: what a submission costs apart from its photo
        return Upload(head, b"", f"--{boundary}--\r\n".encode(),
                      f"multipart/form-data; boundary={boundary}")
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
             f'filename="IMG_{number:04d}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return Upload(head, photo, tail, f"multipart/form-data; boundary={boundary}")


def post(port: int, upload: Upload) -> tuple[int, bytes, float]:
    """(status, body, seconds) of one submission on a new connection (TCP_NODELAY is set)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        conn.putrequest("POST", ENDPOINT, skip_accept_encoding=True)
        for name, value in (("Content-Type", upload.content_type),
                            ("Content-Length", str(upload.length)),
                            ("Accept", "application/json"), ("Connection", "close")):
            conn.putheader(name, value)
        conn.endheaders()
        for part in (upload.head, upload.photo, upload.tail):
            conn.send(part)
        response = conn.getresponse()
        body = response.read()
        status = response.status
    finally:
        conn.close()
    return status, body, time.perf_counter() - start


@dataclass
class Run:
    """What concurrent clients measured against one server."""

    engine: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    machine_cpu: float = 0.0
    stored_files: int = 0
    expected_files: int = 0

    @property
    def created(self) -> int:
        """Submissions answered 201 with one photo."""
        return self.statuses["201"]

    @property
    def rate(self) -> float:
        """Submissions created per second of wall-clock time."""
        return self.created / self.seconds if self.seconds else float("nan")

    @property
    def not_created(self) -> int:
        """Submissions answered anything but 201 (or not answered)."""
        return sum(n for status, n in self.statuses.items() if status != "201")

    def latency(self, quantile: float) -> float:
        """A latency quantile (0.5 median, 0.95 p95) in seconds, over every answer."""
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[round(quantile * 100) - 1]

    @property
    def other_cores(self) -> float:
        """Cores used by neither the server nor this script: other work on the machine."""
        rest = self.machine_cpu - self.server_cpu - self.client_cpu
        return max(0.0, rest) / self.seconds if self.seconds else float("nan")


def _photo_count(body: bytes) -> int:
    """How many photos a created report's JSON lists (-1 if the body is not that JSON)."""
    try:
        return len(json.loads(body)["photos"])
    except (ValueError, KeyError, TypeError):
        return -1


def submit_all(server: Server, uploads: list[Upload], clients: int, run: Run) -> None:
    """Send every upload once, ``clients`` at a time, each on a fresh connection."""
    next_index = iter(range(len(uploads)))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            try:
                status, body, seconds = post(server.port, uploads[index])
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    run.statuses[type(error).__name__] += 1
                    if len(run.errors) < 3:
                        run.errors.append(f"#{index}: {error!r}")
                continue
            label = str(status)
            if status == 201 and _photo_count(body) != (1 if uploads[index].photo else 0):
                label = "201 without its photo"
            with lock:
                run.latencies.append(seconds)
                run.statuses[label] += 1
                if label != "201" and len(run.errors) < 3:
                    run.errors.append(f"#{index}: {status} {body[:300].decode(errors='replace')}")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def bench_server(server: Server, uploads: list[Upload], clients: int) -> Run:
    """Warm the server up, then time the submissions; count the photo files it stored."""
    run = Run(server.name)
    warm_up, timed_uploads = uploads[:WARM_UP], uploads[WARM_UP:]
    for upload in warm_up:  # first-request costs: imports, database connections, folders
        status, body, _ = post(server.port, upload)
        if status != 201:
            raise RuntimeError(f"{server.name}: warm-up answered {status}: {body[:500]!r}\n"
                               f"{server.log_tail()}")
    server_before, client_before = group_cpu(server.process.pid), self_cpu()
    machine_before, start = machine_busy(), time.perf_counter()
    submit_all(server, timed_uploads, clients, run)
    run.seconds = time.perf_counter() - start
    run.machine_cpu = machine_busy() - machine_before
    run.client_cpu = self_cpu() - client_before
    run.server_cpu = group_cpu(server.process.pid) - server_before
    media = server.data_dir / "media"
    run.stored_files = sum(1 for p in media.rglob("*.jpg") if not p.name.startswith("."))
    # Each photo: a full copy and a thumbnail (none with --without-photos).
    run.expected_files = 2 * (len(warm_up) + run.created) if uploads[0].photo else 0
    return run


# --------------------------------------------------------------------------- output


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the table."""
    return f"{seconds * 1000:.0f}"


def table(runs: list[Run], clients: int, pipeline_cpu: float) -> str:
    """The submission figures of every engine, one column each."""
    rows = [
        ("submissions/s", lambda r: f"{r.rate:.2f}"),
        ("latency median (ms)", lambda r: ms(r.latency(0.5))),
        ("latency p95 (ms)", lambda r: ms(r.latency(0.95))),
        ("non-201 answers", lambda r: str(r.not_created)),
        ("wall time (s)", lambda r: f"{r.seconds:.1f}"),
        ("server CPU per submission (ms)",
         lambda r: ms(r.server_cpu / r.created) if r.created else "-"),
        ("  of which outside the pipeline (ms)",
         lambda r: ms(r.server_cpu / r.created - pipeline_cpu) if r.created else "-"),
        (f"ceiling at {CORES} free cores (subs/s)",
         lambda r: f"{CORES * r.created / r.server_cpu:.1f}" if r.created else "-"),
        ("cores: server / client / other",
         lambda r: f"{r.server_cpu / r.seconds:.2f} / {r.client_cpu / r.seconds:.2f} / "
                   f"{r.other_cores:.2f}"),
        ("photo files stored / expected", lambda r: f"{r.stored_files} / {r.expected_files}"),
    ]
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(r.engine), *(len(cell(r)) for _, cell in rows)) for r in runs]
    lines = [f"{f'{clients} clients, fresh connections':<{label_width}}  "
             + "  ".join(f"{r.engine:>{w}}" for r, w in zip(runs, widths, strict=True))]
    lines.append("-" * len(lines[0]))
    for label, cell in rows:
        lines.append(f"{label:<{label_width}}  "
                     + "  ".join(f"{cell(r):>{w}}" for r, w in zip(runs, widths, strict=True)))
    return "\n".join(lines)


def durability_report(normal: Run, full: Run) -> str:
    """What synchronous=FULL costs against NORMAL, as ratios FULL/NORMAL."""
    if not (normal.created and full.created):
        return "synchronous FULL/NORMAL: no submissions created, no ratio"
    cpu = (full.server_cpu / full.created) / (normal.server_cpu / normal.created)
    return "\n".join([
        "SQLite synchronous=FULL against NORMAL (ratio FULL/NORMAL; PostgreSQL is durable by "
        "default):",
        f"  submissions/s {full.rate / normal.rate:.2f}, latency median "
        f"{full.latency(0.5) / normal.latency(0.5):.2f}, p95 "
        f"{full.latency(0.95) / normal.latency(0.95):.2f}, server CPU per submission {cpu:.2f}",
        f"  median latency FULL - NORMAL: {ms(full.latency(0.5) - normal.latency(0.5))} ms",
    ])


def pipeline_report(raw: bytes, runs: int) -> tuple[Timing, Timing, str]:
    """Time the pipeline and the floor on the same file; return both and a printable text."""
    result = process(raw)
    pipeline = timed(lambda: process(raw), runs)
    bare = timed(lambda: floor(raw), runs)
    text = "\n".join([
        f"Photo pipeline, in-process, 12 MP JPEG {SIZE[0]}x{SIZE[1]} "
        f"({len(raw) / 1e6:.2f} MB), {runs} runs each after one warm-up:",
        f"  pipeline  {pipeline}  -> stores {result.width}x{result.height} "
        f"{len(result.full) / 1e3:.0f} kB + thumbnail {len(result.thumb) / 1e3:.1f} kB",
        f"  floor     {bare}  (Image.open -> load -> JPEG q85, full size)",
        f"  ratio pipeline/floor: {pipeline.median / bare.median:.2f} (medians), "
        f"{pipeline.best / bare.best:.2f} (minimums), {pipeline.cpu / bare.cpu:.2f} (CPU)",
    ])
    return pipeline, bare, text


# --------------------------------------------------------------------------- the run


def main() -> int:
    """Parse the options, time the pipeline, start each server, submit, print, stop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", "-n", type=int, default=40,
                        help=f"timed submissions per engine (after {WARM_UP} warm-up ones)")
    parser.add_argument("--clients", "-c", type=int, default=4, help="concurrent clients")
    parser.add_argument("--runs", type=int, default=10, help="pipeline and floor runs")
    parser.add_argument("--workers", type=int, default=1, help="geoapp serve --workers")
    parser.add_argument("--postgis", action="store_true",
                        help="also measure against a temporary PostgreSQL database")
    parser.add_argument("--without-photos", action="store_true",
                        help="submit reports without a photo (the database's share alone)")
    parser.add_argument("--durability", action="store_true",
                        help="measure SQLite with synchronous=NORMAL and FULL, print the ratio")
    parser.add_argument("--postgres-url", default=POSTGRES,
                        help="server to create the temporary database on (trust auth)")
    args = parser.parse_args()
    if args.submissions < 1 or args.clients < 1:
        parser.error("--submissions and --clients must be at least 1")

    started = time.monotonic()
    busy = other_load()
    print(f"Pillow {Image.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}, "
          f"{os.cpu_count()} CPUs, other load before start: {busy:.2f} cores", flush=True)
    if busy > BUSY_CORES:
        print(f"WARNING: the machine is already busy ({busy:.2f} cores); figures will be noisy",
              flush=True)
    raw = sample("jpeg")
    photos = distinct_photos(raw, args.submissions + WARM_UP)
    uploads = [make_upload(None if args.without_photos else photo, number)
               for number, photo in enumerate(photos)]
    print(f"{len(uploads)} distinct photos of {len(raw) / 1e6:.2f} MB ready "
          f"({WARM_UP} for warm-up)", flush=True)

    print(f"timing the pipeline and the floor, {args.runs} runs each ...", flush=True)
    pipeline, _, pipeline_text = pipeline_report(raw, args.runs)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    engines: list[tuple[str, dict[str, str]]] = [("SQLite", {})]
    if args.durability:  # the same submissions, without and with a WAL sync at each commit
        engines = [(f"SQLite-{level}", {"GEOAPP_SQLITE_SYNCHRONOUS": level})
                   for level in ("NORMAL", "FULL")]
    if args.postgis:
        engines.append(("PostGIS", {}))
    results: list[Run] = []
    database: TempDatabase | None = None
    with tempfile.TemporaryDirectory(prefix="geoapp-bench-reports-") as tmp:
        try:
            for engine, engine_env in engines:
                env = dict(engine_env)
                if engine == "PostGIS":
                    database = TempDatabase(args.postgres_url)
                    env["GEOAPP_DATABASE_URL"] = database.url
                data_dir = Path(tmp) / f"{engine.lower()}-var"
                data_dir.mkdir()
                server = Server(engine, data_dir, env, args.workers)
                try:
                    server.wait_ready()
                    print(f"measuring {engine}: geoapp on :{server.port}, "
                          f"{args.submissions} submissions by {args.clients} clients ...",
                          flush=True)
                    run = bench_server(server, uploads, args.clients)
                finally:
                    server.stop()
                results.append(run)
                for line in run.errors:
                    print(f"  {engine}: {line}")
                if run.not_created:
                    print(f"  {engine} log:\n{server.log_tail()}")
        finally:
            if database is not None:
                database.drop()

    print()
    print(pipeline_text)
    print()
    what = "no photo" if args.without_photos else "one distinct 12 MP JPEG each"
    print(f"POST {ENDPOINT}, {what}, geoapp serve --workers "
          f"{args.workers}; {args.submissions} timed submissions per engine")
    print(table(results, args.clients, 0.0 if args.without_photos else pipeline.cpu))
    print(f"ceiling = {CORES} cores / server CPU per submission: the rate if the server had the "
          f"{CORES} cores to itself (it processes at most 2 photos at once)")
    if args.durability:
        print(durability_report(*results[:2]))
    for run in results:
        if run.stored_files != run.expected_files:
            print(f"WARNING: {run.engine} stored {run.stored_files} photo files, "
                  f"expected {run.expected_files}")
        if run.other_cores > BUSY_CORES:
            print(f"WARNING: other work used {run.other_cores:.2f} cores during the "
                  f"{run.engine} run; figures are noisy")
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0 if all(r.not_created == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
