"""Helpers the benchmark scripts share: free ports, CPU and memory accounting from /proc."""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _group_stats(pgid: int) -> Iterator[list[str]]:
    """The /proc stat fields (after the command name) of each live process of a group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) == pgid:
            yield fields


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(f[11]) + int(f[12]) for f in _group_stats(pgid)) / tick


def group_rss(pgid: int) -> int:
    """Resident memory, in bytes, of the live processes of a process group, summed."""
    return sum(int(f[21]) for f in _group_stats(pgid)) * os.sysconf("SC_PAGE_SIZE")


def hammer(port: int, path: str, clients: int, seconds: float,
           headers: dict[str, str] | None = None) -> tuple[float, float, set[int]]:
    """GETs of ``path`` by ``clients`` threads, each on one keep-alive connection, for
    ``seconds``: requests per second, median latency (ms) and the statuses seen."""
    latencies: list[float] = []
    statuses: set[int] = set()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        mine: list[float] = []
        seen: set[int] = set()
        while time.monotonic() < stop:
            began = time.perf_counter()
            conn.request("GET", path, headers=headers or {})
            answer = conn.getresponse()
            answer.read()
            mine.append(time.perf_counter() - began)
            seen.add(answer.status)
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, statuses
