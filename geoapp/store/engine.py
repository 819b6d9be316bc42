"""Opening the database named by the settings, and migrating it to the current schema."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 (DB-API objects)
    # synchronous=FULL syncs the WAL at every commit: in WAL mode NORMAL survives a killed
    # process but may lose the last acknowledged reports in a power cut. The level comes
    # from GEOAPP_SQLITE_SYNCHRONOUS (validated by Settings at start-up) because this hook
    # sees only the DB-API connection; NORMAL exists for bench/reports.py to price FULL.
    synchronous = os.environ.get("GEOAPP_SQLITE_SYNCHRONOUS", "FULL")
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"GEOAPP_SQLITE_SYNCHRONOUS must be FULL or NORMAL, not {synchronous!r}")
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one writer commits; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_engine(url: str) -> sa.Engine:
    """An engine for ``url`` (sqlite:///… or postgresql+psycopg://…), tuned per engine."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision (safe to run on every start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database is at, or None before the first migration."""
    inspector = sa.inspect(engine)
    if not inspector.has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
