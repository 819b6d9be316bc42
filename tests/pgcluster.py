"""A throwaway PostgreSQL cluster a test creates, stops and starts on a free port.

Tests that take the database away (outages, backup and restore, scale runs) use this
instead of the machine's cluster on 5432, which other tests share and must never lose.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

#: Debian's PostgreSQL binaries (the version the PostGIS package is built for).
PG_BIN = Path(os.environ.get("GEOAPP_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgCluster:
    """A PostgreSQL cluster in a temporary folder: 127.0.0.1 on a free port, trust auth.

    PostgreSQL refuses to run as root, so as root every command runs as ``postgres`` and the
    folder belongs to that user; as anyone else the commands run as the caller.
    """

    def __init__(self) -> None:
        # Not pytest's tmp_path: that lies under a 0700 folder the postgres user cannot enter.
        self.root = Path(tempfile.mkdtemp(prefix="geoapp-pgcluster-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.running = False

    def init(self) -> None:
        """Create the cluster's files (initdb) and its configuration."""
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                # Throwaway data: an immediate stop is a crash of PostgreSQL, not of the
                # machine, so the page cache keeps what was committed without fsync.
                "fsync = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
                "max_connections = 40\n")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(PG_BIN / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}):\n{result.stdout}"
                               f"{result.stderr}\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "start")
        self.running = True

    def stop(self) -> None:
        """Stop the server at once, as a crash or a pulled cable would (no clean shutdown)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.running = False

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL of ``database`` on this cluster over TCP."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL (PostGIS is added by the migrations)."""
        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)

    def remove(self) -> None:
        """Stop the server if it runs and delete its folder."""
        try:
            if self.running or (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """A started throwaway cluster, stopped and deleted afterwards even when a test fails."""
    cluster = PgCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
