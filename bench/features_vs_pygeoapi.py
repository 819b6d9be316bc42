"""Benchmark geoapp's OGC API Features items against pygeoapi 0.21 (its GeoJSON provider).

Run on demand, not as a test:

    .venv/bin/python bench/features_vs_pygeoapi.py [--points 5000] [--duration 10] [--gzip]

It creates ``bench/.peer-venv`` (pygeoapi 0.21 + gunicorn from PyPI) when missing, serves the
same GeoJSON files with both servers on free ports of 127.0.0.1 (2 worker processes each),
checks that both answer the same features, measures latency and throughput over fresh
connections (one request per TCP connection, ``Connection: close``), prints a table and stops
every server it started, also on error or Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import free_port, group_cpu

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / "bench" / ".peer-venv"
GEOAPP = ROOT / ".venv" / "bin" / "geoapp"
SHELTERS_FILE = ROOT / "data" / "geo" / "shibata_designated_shelters_gsi.geojson"
HOST = "127.0.0.1"
WORKERS = 2
SHIBATA_BBOX = (139.24, 37.79, 139.68, 38.05)
CENTRAL_BBOX = "139.30,37.93,139.36,37.97"
#: (name, query string, at most this many samples, at most this many seconds)
LATENCY_QUERIES = [
    ("items limit=10", "limit=10", 200, 6.0),
    ("items limit=1000", "limit=1000", 60, 6.0),
    ("bbox limit=100", f"bbox={CENTRAL_BBOX}&limit=100", 200, 6.0),
]
THROUGHPUT_QUERY = "limit=10"
CLIENTS = 8
WARM_UP = 10
#: Above this many cores used by other work, figures are flagged as unreliable.
BUSY_CORES = 0.25


# --------------------------------------------------------------------------- servers



class Server:
    """A server process group started by this script, with its log in a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path,
                 port: int, ready_path: str) -> None:
        self.name, self.port, self.log, self.ready_path = name, port, log, ready_path
        self._log_fh = log.open("wb")
        # Own session: stop() signals this group only (the server and its workers).
        self.process = subprocess.Popen(argv, env=env, stdout=self._log_fh,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Poll until the server answers 200, or raise with the tail of its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            try:
                status, _, _ = fetch(self.port, self.ready_path)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        """The last lines the server wrote."""
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
        # Workers left behind by a crashed parent are still in the group.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log_fh.close()


def describe_checkout() -> str:
    """The commit geoapp runs from, and whether the work tree has changes."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "geoapp", "layers", "data"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "(no git)"
    return f"{commit}{' + uncommitted changes' if dirty else ''}"


def ensure_peer_venv() -> Path:
    """bench/.peer-venv with pygeoapi 0.21 and gunicorn; its bin folder."""
    bin_dir = PEER_VENV / "bin"
    if (bin_dir / "gunicorn").exists() and (bin_dir / "pygeoapi").exists():
        return bin_dir
    print(f"creating {PEER_VENV.relative_to(ROOT)} (pygeoapi==0.21.*, gunicorn) ...", flush=True)
    python = shutil.which("python3.11") or sys.executable
    subprocess.run([python, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(bin_dir / "pip"), "install", "--quiet", "pygeoapi==0.21.*", "gunicorn"],
                   check=True)
    return bin_dir


def pygeoapi_config(port: int, collections: dict[str, Path], gzip_on: bool) -> dict[str, Any]:
    """A minimal pygeoapi configuration serving each GeoJSON file with the GeoJSON provider."""
    resources = {}
    for name, path in collections.items():
        resources[name] = {
            "type": "collection",
            "title": name,
            "description": f"{name} (benchmark)",
            "keywords": ["benchmark"],
            "extents": {"spatial": {
                "bbox": list(SHIBATA_BBOX),
                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            }},
            "providers": [{
                "type": "feature",
                "name": "GeoJSON",
                "data": str(path),
                "id_field": "共通ID",
            }],
        }
    url = f"http://{HOST}:{port}"
    return {
        "server": {
            "bind": {"host": HOST, "port": port},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": gzip_on,
            "languages": ["en-US"],
            "cors": False,
            "pretty_print": False,
            "limits": {"default_items": 10, "max_items": 10000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "OpenStreetMap"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "bench", "description": "bench",
                               "keywords": ["bench"], "keywords_type": "theme",
                               "terms_of_service": "", "url": url},
            "license": {"name": "CC-BY 4.0", "url": url},
            "provider": {"name": "bench", "url": url},
            # pygeoapi's templates and OpenAPI generator read every one of these.
            "contact": {key: "bench" for key in (
                "name", "position", "address", "city", "stateorprovince", "postalcode",
                "country", "phone", "fax", "email", "url", "hours", "instructions", "role")},
        },
        "resources": resources,
    }


def start_pygeoapi(bin_dir: Path, tmp: Path, collections: dict[str, Path],
                   gzip_on: bool) -> Server:
    """Write the config and OpenAPI document, then serve with ``gunicorn -w 2``."""
    port = free_port()
    config = tmp / "pygeoapi-config.yml"
    openapi = tmp / "pygeoapi-openapi.yml"
    # JSON is YAML: no YAML library needed on this side.
    config.write_text(json.dumps(pygeoapi_config(port, collections, gzip_on),
                                 ensure_ascii=False, indent=1), encoding="utf-8")
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    generated = subprocess.run([str(bin_dir / "pygeoapi"), "openapi", "generate", str(config),
                                "--output-file", str(openapi)], env=env, capture_output=True,
                               text=True, timeout=120)
    if generated.returncode != 0:
        raise RuntimeError(f"pygeoapi openapi generate failed:\n{generated.stderr[-3000:]}")
    argv = [str(bin_dir / "gunicorn"), "-w", str(WORKERS), "-b", f"{HOST}:{port}",
            "pygeoapi.flask_app:APP"]
    first = next(iter(collections))
    return Server("pygeoapi", argv, env, tmp / "pygeoapi.log", port,
                  f"/collections/{first}/items?limit=1")


def start_geoapp(name: str, tmp: Path, extra_env: dict[str, str], probe: str) -> Server:
    """``geoapp serve --workers 2`` with its data dir (and any other setting) in ``tmp``."""
    port = free_port()
    data_dir = tmp / f"{name}-var"
    data_dir.mkdir()
    env = {**os.environ, "GEOAPP_ENVIRONMENT": "production",
           "GEOAPP_DATA_DIR": str(data_dir), **extra_env}
    argv = [str(GEOAPP), "serve", "--host", HOST, "--port", str(port),
            "--workers", str(WORKERS)]
    return Server(name, argv, env, tmp / f"{name}.log", port, probe)


# --------------------------------------------------------------------------- synthetic data


def write_synthetic(tmp: Path, points: int) -> tuple[Path, Path, Path]:
    """N points in Shibata's bbox, shaped like the GSI shelter file; (geo dir, file, layers)."""
    rng = random.Random(15206)
    minx, miny, maxx, maxy = SHIBATA_BBOX
    features = []
    for n in range(1, points + 1):
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [
                round(rng.uniform(minx, maxx), 6), round(rng.uniform(miny, maxy), 6)]},
            "properties": {
                "NO": 900000 + n,
                "共通ID": f"SYN{n:08d}",
                "都道府県名及び市町村名": "新潟県新発田市",
                "施設・場所名": f"合成データ地点{n}",
                "住所": f"新潟県新発田市合成町{n % 500 + 1}-{n % 37 + 1}",
                "指定緊急避難場所との住所同一": "1" if n % 3 == 0 else "",
                "その他市町村長が必要と認める事項": None,
                "受入対象者": None,
                "備考": "",
            },
        })
    geo_dir = tmp / "synthetic-geo"
    geo_dir.mkdir()
    # geoapp may read other files of its geo dir (the city boundary, ...): link them all.
    for shipped in SHELTERS_FILE.parent.iterdir():
        (geo_dir / shipped.name).symlink_to(shipped)
    path = geo_dir / "synthetic_points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "name": "synthetic",
                                "features": features}, ensure_ascii=False), encoding="utf-8")
    layers_dir = tmp / "synthetic-layers"
    layers_dir.mkdir()
    # Modelled on layers/shelters.yaml, without the Wi-Fi enrichment (no wifi layer here).
    (layers_dir / "synthetic.yaml").write_text(f"""\
id: synthetic
order: 20
title: {{ja: 合成データ（ベンチマーク用）, en: Synthetic points (benchmark)}}
description:
  ja: ベンチマーク用の合成データ {points} 点。実在の施設ではありません。
  en: {points} synthetic points for benchmarking; not real places.
source: {{type: geojson, path: {path.name}, id_property: 共通ID}}
marker_label: {{ja: 合成地点, en: Synthetic point}}
label_property: name
properties:
  - {{key: name, source: 施設・場所名, label: {{ja: 施設・場所名, en: Name}}}}
  - {{key: address, source: 住所, label: {{ja: 住所, en: Address}}}}
  - {{key: same_as_emergency_site, source: 指定緊急避難場所との住所同一, \
label: {{ja: 指定緊急避難場所と同一, en: Also an emergency evacuation site}}, type: boolean}}
  - {{key: intended_for, source: 受入対象者, label: {{ja: 受入対象者, en: Intended for}}}}
  - {{key: gsi_no, source: "NO", label: {{ja: 番号, en: Number}}, type: integer}}
style: {{color: "#888888", symbol: circle}}
credit:
  text: {{ja: 合成データ, en: Synthetic data}}
  licence: CC0 1.0
""", encoding="utf-8")
    return geo_dir, path, layers_dir


# --------------------------------------------------------------------------- client


class Client:
    """Fresh-connection GETs with fixed headers (one TCP connection per request)."""

    def __init__(self, accept_encoding: str) -> None:
        self.headers = {"Connection": "close", "Accept": "application/geo+json",
                        "Accept-Encoding": accept_encoding}


CLIENT = Client("identity")


def fetch(port: int, path: str) -> tuple[int, int, float]:
    """(status, body bytes, seconds) of one GET on a new connection (TCP_NODELAY is set)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path, headers=CLIENT.headers)
        response = conn.getresponse()
        body = response.read()
        status = response.status
    finally:
        conn.close()
    return status, len(body), time.perf_counter() - start


def items_path(collection: str, query: str) -> str:
    """The items URL path of a collection with a query string."""
    return f"/collections/{collection}/items?{query}"


def features_of(port: int, collection: str, query: str) -> dict[str, Any]:
    """The parsed GeoJSON answer (sanity checks use httpx, decoding gzip if offered)."""
    url = f"http://{HOST}:{port}{items_path(collection, query)}"
    response = httpx.get(url, headers=CLIENT.headers, timeout=60)
    response.raise_for_status()
    return response.json()


@dataclass
class Latency:
    """Sequential fresh-connection latencies of one query."""

    samples: list[float] = field(default_factory=list)
    errors: int = 0
    size: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p95(self) -> float:
        if len(self.samples) < 2:
            return self.median
        return statistics.quantiles(self.samples, n=20, method="inclusive")[18]


def measure_latency(port: int, path: str, max_samples: int, max_seconds: float) -> Latency:
    """Warm up, then time requests one after another until either bound is reached."""
    for _ in range(WARM_UP):
        fetch(port, path)
    result = Latency()
    deadline = time.perf_counter() + max_seconds
    while len(result.samples) < max_samples and time.perf_counter() < deadline:
        try:
            status, size, seconds = fetch(port, path)
        except OSError:
            result.errors += 1
            continue
        if status == 200:
            result.samples.append(seconds)
            result.size = size
        else:
            result.errors += 1
    return result



def machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / tick, sum(values) / tick


def other_load(seconds: float = 1.0) -> float:
    """Cores kept busy by the rest of the machine over ``seconds`` (this script idle)."""
    busy0, _ = machine_busy()
    time.sleep(seconds)
    busy1, _ = machine_busy()
    return (busy1 - busy0) / seconds


@dataclass
class Throughput:
    """Requests answered by CLIENTS concurrent clients in a fixed time, and who used the CPU."""

    ok: int
    non_200: int
    failed: int
    seconds: float
    client_cpu: float
    server_cpu: float
    machine_cpu: float

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

    @property
    def server_ms_per_request(self) -> float:
        """Server CPU (all its processes, user + kernel) per answered request."""
        return self.server_cpu / self.ok * 1000 if self.ok else float("nan")

    @property
    def other_cores(self) -> float:
        """Cores used by neither the server nor this client: other work on the machine."""
        return max(0.0, self.machine_cpu - self.server_cpu - self.client_cpu) / self.seconds


def measure_throughput(server: Server, path: str, duration: float) -> Throughput:
    """CLIENTS threads, each sending fresh-connection GETs back to back for ``duration`` s."""
    port = server.port
    counts = {"ok": 0, "non_200": 0, "failed": 0}
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration

    def worker() -> None:
        ok = non_200 = failed = 0
        while time.perf_counter() < stop_at:
            try:
                status, _, _ = fetch(port, path)
            except OSError:
                failed += 1
                continue
            if status == 200:
                ok += 1
            else:
                non_200 += 1
        with lock:
            counts["ok"] += ok
            counts["non_200"] += non_200
            counts["failed"] += failed

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    server_before = group_cpu(server.process.pid)
    machine_before, _ = machine_busy()
    start = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 70)
    elapsed = time.perf_counter() - start
    machine_after, _ = machine_busy()
    server_after = group_cpu(server.process.pid)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return Throughput(counts["ok"], counts["non_200"], counts["failed"], elapsed, cpu,
                      server_after - server_before, machine_after - machine_before)


# --------------------------------------------------------------------------- the run


@dataclass
class Target:
    """One server answering one dataset."""

    server: Server
    collection: str


def sanity(dataset: str, geo: Target, peer: Target) -> list[str]:
    """Compare numberReturned, numberMatched and the ids of every measured query."""
    warnings = []
    queries = [q for _, q, _, _ in LATENCY_QUERIES] + [THROUGHPUT_QUERY]
    for query in dict.fromkeys(queries):
        try:
            a = features_of(geo.server.port, geo.collection, query)
            b = features_of(peer.server.port, peer.collection, query)
        except (httpx.HTTPError, ValueError) as exc:
            warnings.append(f"WARNING: {dataset} ?{query}: no comparable answers ({exc})")
            continue
        ids_a = [str(f.get("id")) for f in a["features"]]
        ids_b = [str(f.get("id")) for f in b["features"]]
        line = (f"{dataset} ?{query}: geoapp returned {len(ids_a)} (matched "
                f"{a.get('numberMatched')}), pygeoapi {len(ids_b)} (matched "
                f"{b.get('numberMatched')})")
        print("  sanity " + line)
        if len(ids_a) != len(ids_b) or a.get("numberMatched") != b.get("numberMatched"):
            warnings.append("WARNING: different counts: " + line)
        elif sorted(ids_a) != sorted(ids_b):
            warnings.append(f"WARNING: {dataset} ?{query}: same count, different feature ids")
    return warnings


def bench_one(target: Target, duration: float) -> dict[str, Any]:
    """Latency of each query, then throughput on limit=10."""
    port, collection = target.server.port, target.collection
    figures: dict[str, Any] = {}
    for name, query, max_samples, max_seconds in LATENCY_QUERIES:
        figures[name] = measure_latency(port, items_path(collection, query), max_samples,
                                        max_seconds)
    figures["throughput"] = measure_throughput(
        target.server, items_path(collection, THROUGHPUT_QUERY), duration)
    return figures


def ms(seconds: float) -> str:
    """Milliseconds with sensible precision."""
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def cores(run: Throughput) -> str:
    """Cores used by the server, this client and everything else during a throughput run."""
    return (f"{run.server_cpu / run.seconds:.1f}/{run.client_cpu / run.seconds:.1f}/"
            f"{run.other_cores:.1f}")


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The report: one row per dataset and figure, both servers and geoapp's speed-up."""
    head = f"{'dataset':<22} {'figure':<28} {'geoapp':>12} {'pygeoapi':>12} {'speed-up':>9}"
    rows = [head, "-" * len(head)]
    for dataset, by_server in results.items():
        geo, peer = by_server["geoapp"], by_server["pygeoapi"]
        for name, _, _, _ in LATENCY_QUERIES:
            a, b = geo[name], peer[name]
            for label, va, vb in (("median", a.median, b.median), ("p95", a.p95, b.p95)):
                rows.append(f"{dataset:<22} {name + ' ' + label + ' ms':<28} {ms(va):>12} "
                            f"{ms(vb):>12} {vb / va:>8.1f}x")
            rows.append(f"{dataset:<22} {name + ' body KiB':<28} {a.size / 1024:>12.1f} "
                        f"{b.size / 1024:>12.1f} {'':>9}")
            if a.errors or b.errors:
                rows.append(f"{dataset:<22} {name + ' errors':<28} {a.errors:>12} "
                            f"{b.errors:>12}")
        ta, tb = geo["throughput"], peer["throughput"]
        label = f"req/s {CLIENTS} clients limit=10"
        speed = f"{ta.rps / tb.rps:>8.1f}x" if tb.rps else "      n/a"
        rows.append(f"{dataset:<22} {label:<28} {ta.rps:>12.0f} {tb.rps:>12.0f} {speed}")
        rows.append(f"{dataset:<22} {'  non-200 / failed':<28} "
                    f"{f'{ta.non_200} / {ta.failed}':>12} {f'{tb.non_200} / {tb.failed}':>12}")
        rows.append(f"{dataset:<22} {'  server CPU ms/request':<28} "
                    f"{ta.server_ms_per_request:>12.2f} {tb.server_ms_per_request:>12.2f} "
                    f"{tb.server_ms_per_request / ta.server_ms_per_request:>8.1f}x")
        rows.append(f"{dataset:<22} {'  cores: server/client/other':<28} "
                    f"{cores(ta):>12} {cores(tb):>12}")
        rows.append("")
    return "\n".join(rows)


def as_json(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The figures as plain JSON (for --json)."""
    out: dict[str, Any] = {}
    for dataset, by_server in results.items():
        for server, figures in by_server.items():
            entry = {}
            for name, value in figures.items():
                if isinstance(value, Latency):
                    entry[name] = {"median_ms": value.median * 1000, "p95_ms": value.p95 * 1000,
                                   "samples": len(value.samples), "non_200": value.errors,
                                   "bytes": value.size}
                else:
                    entry[name] = {"rps": value.rps, "ok": value.ok, "non_200": value.non_200,
                                   "failed": value.failed, "seconds": value.seconds,
                                   "client_cpu_s": value.client_cpu,
                                   "server_cpu_s": value.server_cpu,
                                   "server_ms_per_request": value.server_ms_per_request,
                                   "other_cores": value.other_cores}
            out.setdefault(dataset, {})[server] = entry
    return out


def main() -> int:
    """Parse the options, start the servers, measure, print, stop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5000,
                        help="synthetic points to serve as well (0: shelters only)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of the concurrent throughput run, per server and dataset")
    parser.add_argument("--gzip", action="store_true",
                        help="send Accept-Encoding: gzip and turn on pygeoapi's gzip "
                             "(geoapp always compresses bodies over 1 KiB when asked)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    CLIENT.headers["Accept-Encoding"] = "gzip" if args.gzip else "identity"

    started = time.monotonic()
    bin_dir = ensure_peer_venv()
    busy = other_load()
    print(f"geoapp {describe_checkout()}; other load before start: {busy:.2f} cores of "
          f"{os.cpu_count()}", flush=True)
    if busy > BUSY_CORES:
        print(f"WARNING: the machine is already busy ({busy:.2f} cores); figures will be noisy",
              flush=True)
    servers: list[Server] = []
    tmp = Path(tempfile.mkdtemp(prefix="geoapp-bench-"))

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        collections = {"shelters": SHELTERS_FILE}
        targets: dict[str, tuple[Target, Target]] = {}
        synthetic_layers = None
        if args.points > 0:
            geo_dir, synthetic_file, synthetic_layers = write_synthetic(tmp, args.points)
            collections["synthetic"] = synthetic_file
        peer = start_pygeoapi(bin_dir, tmp, collections, args.gzip)
        servers.append(peer)
        geo = start_geoapp("geoapp", tmp, {}, "/collections/shelters/items?limit=1")
        servers.append(geo)
        targets["shelters (59, real)"] = (Target(geo, "shelters"), Target(peer, "shelters"))
        if synthetic_layers is not None:
            geo_syn = start_geoapp("geoapp-synthetic", tmp, {
                "GEOAPP_LAYERS_DIR": str(synthetic_layers), "GEOAPP_GEO_DIR": str(geo_dir),
            }, "/collections/synthetic/items?limit=1")
            servers.append(geo_syn)
            targets[f"SYNTHETIC {args.points} pts"] = (
                Target(geo_syn, "synthetic"), Target(peer, "synthetic"))
        for server in servers:
            server.wait_ready()
        print(f"servers up in {time.monotonic() - started:.0f} s: "
              + ", ".join(f"{s.name} :{s.port}" for s in servers)
              + f" ({WORKERS} workers each); Accept-Encoding: "
              + CLIENT.headers["Accept-Encoding"], flush=True)

        warnings: list[str] = []
        for dataset, (geo_t, peer_t) in targets.items():
            warnings += sanity(dataset, geo_t, peer_t)
        for line in warnings:
            print(line, flush=True)

        results: dict[str, dict[str, dict[str, Any]]] = {}
        for dataset, (geo_t, peer_t) in targets.items():
            for label, target in (("geoapp", geo_t), ("pygeoapi", peer_t)):
                print(f"measuring {label} on {dataset} ...", flush=True)
                results.setdefault(dataset, {})[label] = bench_one(target, args.duration)

        print()
        print(f"geoapp (uvicorn, {WORKERS} workers) vs pygeoapi 0.21 GeoJSON provider "
              f"(gunicorn -w {WORKERS}); fresh connection per request; "
              f"Accept-Encoding: {CLIENT.headers['Accept-Encoding']}")
        print("speed-up = how many times faster geoapp is (pygeoapi/geoapp for latency, "
              "geoapp/pygeoapi for req/s)")
        if args.points > 0:
            print(f"SYNTHETIC rows: {args.points} random points in Shibata's bbox, not real "
                  "data")
        print()
        print(table(results))
        for line in warnings:
            print(line)
        for dataset, by_server in results.items():
            for label, figures in by_server.items():
                other = figures["throughput"].other_cores
                if other > BUSY_CORES:
                    print(f"WARNING: other work used {other:.2f} cores during {label}'s "
                          f"throughput run on {dataset}; rerun on a quiet machine")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(as_json(results), indent=1), encoding="utf-8")
            print(f"figures written to {args.json}")
        print(f"total {time.monotonic() - started:.0f} s")
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
