"""Opening the database named by the settings, and migrating it to the current schema."""

from __future__ import annotations

import functools
import logging
import math
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from geoapp.errors import SchemaOutOfDate, StoreUnavailable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

logger = logging.getLogger(__name__)

#: Seconds to wait for a new PostgreSQL connection. libpq's floor is 2; a stopped server on
#: a reachable host refuses at once, so this bound only matters for a silent network.
CONNECT_TIMEOUT = 2
#: Milliseconds sent data may stay unacknowledged before the kernel drops a PostgreSQL
#: connection: without it a pooled connection to a vanished host hangs for many minutes.
TCP_USER_TIMEOUT_MS = 5000
#: Seconds a request waits for one of the pool's connections before it is answered 503.
POOL_TIMEOUT = 10.0
#: Milliseconds an SQLite statement waits for another process's write lock.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Seconds a client is told to wait before trying again while the store is unavailable.
RETRY_AFTER = 5

# Which database errors mean "the store is unavailable" (503, try again shortly) rather
# than "this statement failed". Only failures to reach or use the database at all count:
# no connection could be made, the connection broke (SQLAlchemy invalidates it, so the
# next checkout reconnects), the server is shutting down, starting up or full of clients,
# or SQLite cannot open its file or get its lock. A statement the server ran and refused
# stays what it is, even when it is an OperationalError: a query cancelled by
# statement_timeout, a deadlock, a row-lock or serialization failure, a data error. The
# database is up then; calling that an outage would flip /readyz, invite clients to retry
# the same expensive request every few seconds (more load, not less) and hide a query that
# needs fixing, so it surfaces as an error with its own log entry instead.
_PG_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
# Primary SQLite result codes: BUSY and LOCKED (another process holds the database lock
# past busy_timeout: SQLite has one lock for the whole file), IOERR, CANTOPEN (file or
# folder gone), PROTOCOL (a WAL lock race).
_SQLITE_UNAVAILABLE_CODES = {5, 6, 10, 14, 15}


def _unavailable(context: sa.engine.ExceptionContext) -> bool:
    """Whether the error in ``context`` means the store cannot be used just now (see above)."""
    if context.connection is None or context.is_disconnect:
        return True  # no connection could be made, or the one in use broke
    error = context.original_exception
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_UNAVAILABLE_CODES
    if isinstance(error, context.dialect.loaded_dbapi.InterfaceError):
        return True  # psycopg: the connection was closed under us
    state = getattr(error, "sqlstate", None) or ""
    return state.startswith(_PG_UNAVAILABLE_STATES)


def _translate(context: sa.engine.ExceptionContext) -> BaseException | None:
    """Replace an error that means "store unavailable" with StoreUnavailable, in one place."""
    if context.is_pre_ping:
        return None  # the pool reconnects by itself after a failed ping; let it
    if not _unavailable(context):
        return None
    first_line = (str(context.original_exception).strip().splitlines() or ["?"])[0]
    logger.warning("database unavailable: %s", first_line)
    return StoreUnavailable("The database cannot be used just now.", RETRY_AFTER)


class _Pool(sa.pool.QueuePool):
    """SQLAlchemy's default pool, except that waiting too long for a connection is a 503."""

    def _do_get(self) -> sa.pool.ConnectionPoolEntry:
        try:
            return super()._do_get()
        except sa.exc.TimeoutError as error:
            logger.warning("database pool exhausted: %s", error)
            raise StoreUnavailable("Every database connection is busy.", RETRY_AFTER) from error


def _sqlite_pragmas(synchronous: str, dbapi_connection, _record) -> None:  # noqa: ANN001
    # synchronous=FULL syncs the WAL at every commit: in WAL mode NORMAL survives a killed
    # process but may lose the last acknowledged reports in a power cut. NORMAL exists for
    # bench/reports.py to price FULL (GEOAPP_SQLITE_SYNCHRONOUS).
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"SQLite synchronous must be FULL or NORMAL, not {synchronous!r}")
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one writer commits; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _math_functions(dbapi_connection, cursor)
    cursor.close()


#: The SQL math functions report_cells' triggers use (the tile of a point), for an SQLite
#: built without SQLITE_ENABLE_MATH_FUNCTIONS: same names, same results.
def _or_null(function):  # noqa: ANN001, ANN202
    # SQLite's own math functions answer NULL outside their domain (ln(0)); Python raises.
    def call(value):  # noqa: ANN001, ANN202
        try:
            return None if value is None else function(value)
        except (ValueError, OverflowError):
            return None
    return call


_MATH = {"ln": (1, _or_null(math.log)), "tan": (1, _or_null(math.tan)),
         "radians": (1, _or_null(math.radians)), "floor": (1, _or_null(math.floor)),
         "pi": (0, lambda: math.pi)}


def _math_functions(dbapi_connection, cursor) -> None:  # noqa: ANN001
    try:
        cursor.execute("SELECT ln(1), tan(0), radians(0), floor(0.5), pi()")
    except sqlite3.OperationalError:
        for name, (arity, function) in _MATH.items():
            dbapi_connection.create_function(name, arity, function, deterministic=True)


def open_engine(url: str, *, statement_timeout: float = 30.0,
                pool_timeout: float = POOL_TIMEOUT, sqlite_synchronous: str = "FULL"
                ) -> sa.Engine:
    """An engine for ``url`` (sqlite:///… or postgresql+psycopg://…), tuned per engine.

    ``statement_timeout`` (seconds) bounds each PostgreSQL statement, ``pool_timeout`` the
    wait for a free connection of the pool. Errors that mean the
    database is unavailable are raised as :class:`geoapp.errors.StoreUnavailable`.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        in_memory = not path or path == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False},
            **({} if in_memory else {"poolclass": _Pool, "pool_timeout": pool_timeout}))
        sa.event.listen(engine, "connect",
                        functools.partial(_sqlite_pragmas, sqlite_synchronous))
    else:
        engine = sa.create_engine(
            url, poolclass=_Pool, pool_pre_ping=True, pool_size=5, max_overflow=5,
            pool_timeout=pool_timeout,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT,
                "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
                "options": f"-c statement_timeout={round(statement_timeout * 1000)}",
            })
    sa.event.listen(engine, "handle_error", _translate)
    return engine


def ping(engine: sa.Engine) -> None:
    """Run a trivial query; raises StoreUnavailable while the database cannot answer."""
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision (safe to run on every start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Building an index on a large table may take longer than any request may.
            connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database is at, or None before the first migration."""
    inspector = sa.inspect(engine)
    if not inspector.has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def head_revision() -> str:
    """The newest schema revision this geoapp knows."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def check_at_head(engine: sa.Engine) -> None:
    """Refuse (SchemaOutOfDate) a store whose schema is not the newest revision.

    Workers check instead of migrating: migrations run once, before any of them starts
    (``geoapp serve`` or ``geoapp store migrate``), never in several processes at once.
    """
    found, wanted = current_revision(engine), head_revision()
    if found != wanted:
        at = f"at revision {found}" if found else "empty (never migrated)"
        raise SchemaOutOfDate(
            f"the database schema is {at}; this geoapp needs revision {wanted}. "
            "Run `geoapp store migrate` (or start it with `geoapp serve`, which migrates "
            "once before starting its workers).")
