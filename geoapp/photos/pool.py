"""One bounded pool of low-priority worker processes that runs the photo pipeline for every door.

Decoding a 12 MP photo takes ~80 ms of CPU (a HEIC ~1 s) and holds the GIL: run in the web
process it stalls map requests. The workers are separate processes at a lower CPU priority,
so a burst of photos slows submissions, not the map; at most ``workers + queue`` photos are
handed over at once, and a caller past that waits for room (bounded memory, never a refusal).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from geoapp.photos.pipeline import ProcessedPhoto, process

#: Added to the workers' niceness: the kernel then prefers the web workers when both are ready.
WORKER_NICENESS = 10
#: How often a worker checks that the web process that started it is still alive.
PARENT_CHECK_SECONDS = 1.0


def _init_worker() -> None:
    """Pool initializer: yield the CPU to the web workers, and die with the parent."""
    os.nice(WORKER_NICENESS)
    parent = os.getppid()

    def watch() -> None:
        # A web worker killed with SIGKILL never shuts its pool down, and a worker waiting
        # for work would wait forever: it notices being re-parented and leaves.
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class PhotoPool:
    """Processes photos in worker processes, or in the caller's thread when ``workers`` is 0."""

    def __init__(self, workers: int = 0, queue: int = 4) -> None:
        if workers < 0 or queue < 0:
            raise ValueError("workers and queue must not be negative")
        self.workers = workers
        self.queue = queue
        # Room for every worker busy and ``queue`` photos waiting; a caller past that blocks.
        self._room = threading.BoundedSemaphore(workers + queue) if workers else None
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        #: Photos made so far, by the process id that made each (a worker's, or the caller's).
        self.made_by: Counter[int] = Counter()
        #: The most photos ever handed to the workers at once (never above workers + queue).
        self.peak_in_flight = 0
        self._in_flight = 0

    def _pool(self) -> ProcessPoolExecutor:
        """The executor, made on first use (spawned workers start one by one, as needed)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the photo pool is shut down")
            if self._executor is None:
                # spawn, not fork: the web process has threads (database pools, the mail
                # sender, MQTT) whose locks a forked child would inherit held.
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker)
            return self._executor

    def _replace_broken(self, broken: ProcessPoolExecutor) -> None:
        """Forget an executor whose worker died (killed, out of memory): next call starts anew."""
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def start(self) -> None:
        """Spawn every worker now (in the background), so the first photos do not wait for it."""
        if self.workers:
            executor = self._pool()
            for _ in range(self.workers):  # each task no idle worker takes spawns one more
                executor.submit(os.getpid)

    def process_all(self, photos: Sequence[bytes]) -> list[ProcessedPhoto]:
        """Process a submission's photos, in parallel when there are workers, in order."""
        return self._run(list(enumerate(photos)))

    def process(self, raw: bytes, index: int = 0) -> ProcessedPhoto:
        """Process one photo (``index`` names it in a refusal)."""
        return self._run([(index, raw)])[0]

    def _run(self, items: list[tuple[int, bytes]]) -> list[ProcessedPhoto]:
        """The processed photos; the first unusable one (in order) raises its PhotoRejected."""
        done = self._made(items)
        with self._lock:
            self.made_by.update(photo.made_by for photo in done)
        return done

    def _made(self, items: list[tuple[int, bytes]]) -> list[ProcessedPhoto]:
        if not self.workers:
            return [process(raw, index) for index, raw in items]
        for attempt in range(2):
            executor = self._pool()
            futures: list[Future[ProcessedPhoto]] = []
            try:
                for index, raw in items:
                    futures.append(self._submit(executor, raw, index))
                return [future.result() for future in futures]
            except BrokenProcessPool:
                # A worker died mid-photo (killed, out of memory), which a bad photo does not
                # cause (it raises PhotoRejected): start a fresh pool and try once more.
                self._replace_broken(executor)
                if attempt:
                    raise
            finally:
                for future in futures:
                    future.cancel()  # after a refusal, the photos not yet started are moot
        raise AssertionError("unreachable")

    def _submit(self, executor: ProcessPoolExecutor, raw: bytes,
                index: int) -> Future[ProcessedPhoto]:
        """Hand one photo to a worker once there is room; the room is freed when it is done."""
        assert self._room is not None
        self._room.acquire()
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            future = executor.submit(process, raw, index)
        except BaseException:
            self._free_room()
            raise
        future.add_done_callback(lambda _: self._free_room())
        return future

    def _free_room(self) -> None:
        with self._lock:
            self._in_flight -= 1
        self._room.release()  # type: ignore[union-attr]

    def close(self) -> None:
        """Stop the workers (photos in progress finish first); later calls fail."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
