"""A Mosquitto broker of the tests' own: a free port, a temporary config, its own process.

The tests restart it to prove reconnection, so it must never be the machine's broker.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    """Mosquitto on 127.0.0.1 at a free port, with persistence so QoS 1 sessions survive."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # Keep root when started as root, so the persistence folder stays writable.
            "user root\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            f"log_dest file {folder / 'mosquitto.log'}\n")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "mosquitto.log")
                raise RuntimeError("Mosquitto did not start: "
                                   + (log.read_text() if log.exists() else "no log"))
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the broker as an operator would (SIGTERM: it saves its sessions first)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start the broker on the same port, keeping its persistent sessions."""
        self.stop()
        self.start()
