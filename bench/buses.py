"""Benchmark live bus positions: updates ingested per second, and serving GTFS-Realtime.

Run on demand, not as a test:

    .venv/bin/python bench/buses.py [--buses 50] [--updates 2000] [--clients 4] [--reads 200]

It makes a fresh SQLite data dir, registers ``--buses`` buses (device keys), starts
``geoapp serve`` on a free port of 127.0.0.1, then

1. posts ``--updates`` positions inside Shibata (each bus moving along a line) to
   ``POST /api/v1/buses/positions`` from ``--clients`` threads on keep-alive connections,
   and prints updates per second with median and p95 latency;
2. reads ``GET /gtfs-rt/vehicle-positions`` ``--reads`` times, checks it decodes to one
   entity per bus, and prints the median and p95 time to serve it and its size.

The server is stopped at the end, also on an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from google.transit import gtfs_realtime_pb2

from geoapp.store.engine import migrate, open_engine
from geoapp.transit.positions import Vehicles

CITY_HALL = (37.9477, 139.3275)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(data: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "GEOAPP_ENVIRONMENT": "test", "GEOAPP_DATA_DIR": str(data)}
    process = subprocess.Popen([sys.executable, "-m", "geoapp", "serve", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("geoapp did not start within 30 s")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buses", type=int, default=50)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        engine = open_engine(f"sqlite:///{data / 'geoapp.sqlite3'}")
        migrate(engine)
        vehicles = Vehicles(engine)
        now = datetime.now(UTC)
        keys = [vehicles.add(f"bus{i:03d}", f"{i}号車", now) for i in range(args.buses)]
        engine.dispose()
        port = _free_port()
        server = _start(data, port)
        try:
            _ingest(port, keys, args.updates, args.clients)
            _serve(port, args.buses, args.reads)
        finally:
            server.terminate()
            server.wait(timeout=10)


def _ingest(port: int, keys: list[str], updates: int, clients: int) -> None:
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(worker, updates, clients):
            bus = n % len(keys)
            step = n // len(keys)
            body = json.dumps({"lat": CITY_HALL[0] + bus * 1e-4, "lon": CITY_HALL[1] + step * 1e-5,
                               "bearing": 90, "timestamp": datetime.now(UTC).isoformat()})
            start = time.perf_counter()
            conn.request("POST", "/api/v1/buses/positions", body=body, headers={
                "Authorization": f"Bearer {keys[bus]}", "Content-Type": "application/json"})
            answer = conn.getresponse()
            answer.read()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if answer.status != 201:
                    failures.append(answer.status)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    print(f"ingest: {updates} position updates from {clients} clients, {len(keys)} buses: "
          f"{updates / wall:.0f} updates/s; median {statistics.median(latencies) * 1000:.1f} ms,"
          f" p95 {_pct(latencies, 0.95) * 1000:.1f} ms; non-201 answers: {len(failures)}")


def _serve(port: int, buses: int, reads: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times: list[float] = []
    size = 0
    for _ in range(reads):
        start = time.perf_counter()
        conn.request("GET", "/gtfs-rt/vehicle-positions")
        answer = conn.getresponse()
        body = answer.read()
        times.append(time.perf_counter() - start)
        size = len(body)
    message = gtfs_realtime_pb2.FeedMessage()
    message.ParseFromString(body)
    assert len(message.entity) == buses, f"{len(message.entity)} entities, not {buses}"
    print(f"GTFS-Realtime with {buses} buses: median {statistics.median(times) * 1000:.2f} ms, "
          f"p95 {_pct(times, 0.95) * 1000:.2f} ms over {reads} reads; {size} bytes")


if __name__ == "__main__":
    main()
