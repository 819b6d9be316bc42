"""Backups of the store: a consistent snapshot of the database, then the photos it refers to.

A backup is a folder: ``database.sqlite3`` (SQLite's online backup API) or ``database.pgdump``
(``pg_dump -Fc``), ``media/`` in the media folder's own layout (``media/wildlife/`` for the
wildlife photos), and ``manifest.json``, written last, so a folder without one is an
interrupted backup. The database is copied first and the photos after: photos are
content-addressed and never change, so every photo the snapshot refers to is still there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from geoapp import __version__
from geoapp.errors import Conflict, GeoappError, ImportRejected, NotFound
from geoapp.photos.media import MediaStore
from geoapp.store.engine import MIGRATIONS
from geoapp.store.schema import metadata, report_photos, wildlife_detections

FORMAT = "geoapp-backup/1"
MANIFEST = "manifest.json"
DATABASE_FILES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}

#: Photo stores under the media root: reports at its top, wildlife in a folder of its own.
MEDIA_STORES = {"reports": "", "wildlife": "wildlife"}

#: Tables of what people and devices entered. A store with rows in any of them holds data a
#: restore would destroy; the reference tables (categories, states…) are seeded on every start.
DATA_TABLES = ("reports", "report_events", "subscribers", "staff_users", "api_keys",
               "wildlife_devices", "wildlife_detections", "wildlife_subscriptions",
               "transit_feed", "transit_vehicles")

_COPY = re.compile(rb'^COPY (?:"?\w+"?\.)?"?(\w+)"? \(.*\) FROM stdin;$')
#: pg_restore list entries of the PostGIS extension: it is created as the migrations do it,
#: since dropping or commenting on it needs its owner, which geoapp's user may not be.
_EXTENSION_ENTRY = re.compile(rb"^\d+; \d+ \d+ (?:EXTENSION|COMMENT - EXTENSION) ")

Progress = Callable[[str], object]


@dataclass(frozen=True)
class Snapshot:
    """What a database snapshot holds: its schema revision, row counts and photo keys."""

    revision: str | None
    counts: dict[str, int]
    photos: dict[str, set[str]]


@dataclass(frozen=True)
class Restored:
    """What a restore put in place."""

    engine: str
    revision: str | None
    counts: dict[str, int]
    photos: dict[str, int]


def engine_name(database_url: str) -> str:
    """``sqlite`` or ``postgresql``, from a database URL."""
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


# -- backup ---------------------------------------------------------------------------------


def backup(database_url: str, media_root: Path, dest: Path,
           progress: Progress = lambda _: None) -> dict:
    """Write a backup of the store into the new folder ``dest``; return its manifest.

    Safe while the service runs. Photos the database refers to but that are missing from the
    media folder are listed under ``missing_photos`` (the backup is then incomplete).
    """
    engine = engine_name(database_url)
    _new_folder(dest)
    database_file = dest / DATABASE_FILES[engine]
    try:
        if engine == "sqlite":
            snapshot = _snapshot_sqlite(_sqlite_path(database_url), database_file)
        else:
            snapshot = _snapshot_postgres(database_url, database_file)
        progress(f"database: {engine} at revision {snapshot.revision}, "
                 f"{snapshot.counts.get('reports', 0)} reports -> {database_file.name}")
        photos, missing = _copy_photos(snapshot.photos, Path(media_root), dest / "media")
        progress(f"photos: {len(photos)} copied" + (f", {len(missing)} MISSING" if missing else ""))
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "geoapp_version": __version__,
            "engine": engine,
            "schema_revision": snapshot.revision,
            "database": {"file": database_file.name, "sha256": _sha256_file(database_file),
                         "bytes": database_file.stat().st_size},
            "counts": snapshot.counts,
            "photos": photos,
            "missing_photos": missing,
        }
        _write_durably(dest / MANIFEST, json.dumps(manifest, indent=1).encode())
    except OSError as exc:
        raise GeoappError(f"backup failed: {exc}") from None
    return manifest


def _new_folder(dest: Path) -> None:
    """Make ``dest``, refusing a file or a folder that already holds anything."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} exists and is not an empty folder; a backup needs a new folder")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GeoappError(f"cannot create {dest}: {exc}") from None


def _snapshot_sqlite(path: Path, target: Path) -> Snapshot:
    """Copy the live database with SQLite's online backup API, then read the copy."""
    if not path.is_file():
        raise GeoappError(f"no SQLite database at {path}")
    try:
        # mode=rw: never create an empty database where the real one was expected.
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)) as live, \
                closing(sqlite3.connect(target)) as copy:
            live.execute("PRAGMA busy_timeout=10000")
            live.backup(copy)  # in one step: one read transaction, a consistent snapshot
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no WAL
    except sqlite3.Error as exc:
        raise GeoappError(f"cannot back up {path}: {exc}") from None
    with _read_only_sqlite(target) as conn:
        return _facts(conn)


def _snapshot_postgres(database_url: str, target: Path) -> Snapshot:
    """``pg_dump -Fc`` of the database, with counts and photo keys read in the same snapshot."""
    url, env = _libpq(database_url)
    with _postgres(database_url, isolation_level="REPEATABLE READ") as conn, conn.begin():
        # pg_dump joins this transaction's snapshot: the dump and the manifest's counts and
        # photo list describe the very same moment.
        snapshot_id = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
        facts = _facts(conn)
        _run(["pg_dump", "--format=custom", f"--snapshot={snapshot_id}", f"--file={target}",
              f"--dbname={url}"], env)
    return facts


def _facts(conn: sa.Connection) -> Snapshot:
    """Schema revision, rows per geoapp table and referenced photo keys, on one connection."""
    tables = set(sa.inspect(conn).get_table_names())
    revision = (conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
                if "alembic_version" in tables else None)
    counts = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
              for t in metadata.sorted_tables if t.name in tables}
    # Read here rather than through ReportStore.media_keys and detections.media_keys: those
    # open their own connection, outside the snapshot's transaction.
    photos: dict[str, set[str]] = {store: set() for store in MEDIA_STORES}
    for store, table, columns in (("reports", report_photos, ("media_key", "thumb_key")),
                                  ("wildlife", wildlife_detections, ("photo_key", "thumb_key"))):
        if table.name in tables:
            rows = conn.execute(sa.select(*(table.c[name] for name in columns)))
            photos[store] = {key for row in rows for key in row if key}
    return Snapshot(revision, counts, photos)


def _copy_photos(keys: dict[str, set[str]], media_root: Path,
                 backup_media: Path) -> tuple[list[dict], list[dict]]:
    """Copy every referenced photo into the backup; (manifest entries, missing or damaged)."""
    photos, missing = [], []
    for store, keys_of_store in keys.items():
        live = MediaStore(media_root / MEDIA_STORES[store])
        copy = MediaStore(backup_media / MEDIA_STORES[store])
        for key in sorted(keys_of_store):
            try:
                data = live.path(key).read_bytes()
            except (FileNotFoundError, NotFound):
                missing.append({"store": store, "key": key, "problem": "missing"})
                continue
            digest = hashlib.sha256(data).hexdigest()
            if not key.startswith(digest):  # the name is the hash of the bytes
                missing.append({"store": store, "key": key, "problem": "damaged"})
                continue
            copy.put(data, key.rsplit(".", 1)[1])
            photos.append({"store": store, "key": key, "sha256": digest, "bytes": len(data),
                           "path": copy.path(key).relative_to(backup_media.parent).as_posix()})
    return photos, missing


# -- restore --------------------------------------------------------------------------------


def restore(database_url: str, media_root: Path, src: Path, *, force: bool = False,
            progress: Progress = lambda _: None) -> Restored:
    """Check the backup in ``src`` whole, then put its database and photos in place.

    Nothing is changed unless every photo has its hash, the database file its hash and the
    counts of the manifest, and the target holds no data (or ``force``).
    """
    engine = engine_name(database_url)
    try:
        try:
            manifest = _verified(src, engine, progress)
            if not force:
                _refuse_data(database_url)
        except GeoappError as exc:
            exc.detail = f"{exc.detail}; nothing was changed"
            raise
        photos = _restore_photos(manifest["photos"], src / "media", Path(media_root))
        progress(f"photos: {sum(photos.values())} restored into {media_root}")
        database_file = src / DATABASE_FILES[engine]
        if engine == "sqlite":
            _restore_sqlite(database_file, _sqlite_path(database_url))
        else:
            _restore_postgres(database_file, database_url)
        with _connect(database_url) as conn:
            restored = _facts(conn)
    except OSError as exc:
        raise GeoappError(f"restore failed: {exc}") from None
    if restored.counts != manifest["counts"]:
        raise GeoappError(f"restored, but the database's counts {restored.counts} differ from "
                          f"the manifest's {manifest['counts']}")
    progress(f"database: {engine} at revision {restored.revision}")
    return Restored(engine, restored.revision, restored.counts, photos)


def _verified(src: Path, engine: str, progress: Progress) -> dict:
    """The manifest of ``src`` once everything it lists is checked; ImportRejected if not."""
    try:
        return _check(src, engine, progress)
    except (KeyError, TypeError, AttributeError) as exc:  # a manifest edited by hand
        raise ImportRejected(f"{src / MANIFEST} is malformed ({type(exc).__name__}: "
                             f"{exc})") from None


def _check(src: Path, engine: str, progress: Progress) -> dict:
    try:
        manifest = json.loads((src / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise ImportRejected(f"{src} has no {MANIFEST}: not a backup, or an interrupted "
                             "one") from None
    except ValueError as exc:
        raise ImportRejected(f"{src / MANIFEST} is not readable JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ImportRejected(f"{src / MANIFEST} is not a {FORMAT} manifest")
    if manifest.get("engine") != engine:
        raise ImportRejected(f"the backup is of a {manifest.get('engine')} store, the "
                             f"configured database is {engine}")
    revision = manifest.get("schema_revision")
    if revision not in _known_revisions():
        raise ImportRejected(f"schema revision {revision!r} of the backup is unknown to this "
                             f"geoapp {__version__} (made by a newer version?)")
    database_file = src / DATABASE_FILES[engine]
    if not database_file.is_file() or _sha256_file(database_file) != manifest["database"].get(
            "sha256"):
        raise ImportRejected(f"{database_file} is missing or differs from the manifest")
    counts = (_sqlite_counts(database_file) if engine == "sqlite"
              else _dump_counts(database_file))
    expected = manifest["counts"]
    wrong = {t: (counts.get(t, 0), n) for t, n in expected.items() if counts.get(t, 0) != n}
    if wrong:
        raise ImportRejected("the database does not hold the manifest's rows: " + ", ".join(
            f"{t} {found} (manifest {n})" for t, (found, n) in sorted(wrong.items())))
    for photo in manifest["photos"]:
        path = _backup_store(src / "media", photo.get("store")).path(photo.get("key"))
        try:
            digest = _sha256_file(path)
        except FileNotFoundError:
            raise ImportRejected(f"photo {photo['key']} is missing from the backup") from None
        if digest != photo.get("sha256") or not photo["key"].startswith(digest):
            raise ImportRejected(f"photo {photo['key']} in the backup is damaged: its SHA-256 "
                                 f"is {digest}")
    progress(f"verified {src}: database and {len(manifest['photos'])} photos match the "
             f"manifest of {manifest.get('created_at')}")
    return manifest


def _backup_store(backup_media: Path, store: object) -> MediaStore:
    if store not in MEDIA_STORES:
        raise ImportRejected(f"the manifest names an unknown photo store {store!r}")
    return MediaStore(backup_media / MEDIA_STORES[store])


def _refuse_data(database_url: str) -> None:
    """Conflict if the target store holds any reports, accounts, devices…"""
    if engine_name(database_url) == "sqlite" and not _sqlite_path(database_url).exists():
        return
    with _connect(database_url) as conn:
        tables = set(sa.inspect(conn).get_table_names())
        rows = {name: n for name in DATA_TABLES if name in tables and (n := conn.execute(
            sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one())}
    if rows:
        raise Conflict("the configured store already holds data (" + ", ".join(
            f"{name} {n}" for name, n in rows.items()) + "); `restore --force` replaces it")


def _restore_photos(photos: list[dict], backup_media: Path, media_root: Path) -> dict[str, int]:
    """Copy the backup's photos into the media folders (before the database that names them)."""
    counts = dict.fromkeys(MEDIA_STORES, 0)
    for photo in photos:
        data = _backup_store(backup_media, photo["store"]).path(photo["key"]).read_bytes()
        MediaStore(media_root / MEDIA_STORES[photo["store"]]).put(
            data, photo["key"].rsplit(".", 1)[1])
        counts[photo["store"]] += 1
    return counts


def _restore_sqlite(database_file: Path, target: Path) -> None:
    """Copy the backup into the target through SQLite's backup API: one transaction."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Through SQLite rather than a file copy: the target's WAL and locks stay coherent,
        # and a crash half-way rolls the target back instead of leaving half a file.
        with closing(sqlite3.connect(f"{database_file.resolve().as_uri()}?mode=ro",
                                     uri=True)) as source, \
                closing(sqlite3.connect(target)) as live:
            live.execute("PRAGMA busy_timeout=10000")
            source.backup(live)
    except sqlite3.Error as exc:
        raise GeoappError(f"cannot restore into {target}: {exc}") from None


def _restore_postgres(dump: Path, database_url: str) -> None:
    """pg_restore --clean in one transaction: the target is replaced whole or not at all."""
    url, env = _libpq(database_url)
    with _postgres(database_url) as conn, conn.begin():
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))  # as migration 0001
    listing = _run(["pg_restore", "--list", str(dump)], env)
    entries = b"".join(line for line in listing.splitlines(keepends=True)
                       if not _EXTENSION_ENTRY.match(line))
    with tempfile.NamedTemporaryFile(suffix=".list") as use_list:
        use_list.write(entries)
        use_list.flush()
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--single-transaction", f"--use-list={use_list.name}", f"--dbname={url}",
              str(dump)], env)


# -- reading databases ----------------------------------------------------------------------


def _sqlite_path(database_url: str) -> Path:
    return Path(sa.engine.make_url(database_url).database or "")


@contextmanager
def _read_only_sqlite(path: Path) -> Iterator[sa.Connection]:
    """A connection that cannot change the file (a backup is never written to again)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    engine = sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True),
                              poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.DBAPIError as exc:
        raise GeoappError(f"{path} is not a readable SQLite database: {exc.orig}") from None
    finally:
        engine.dispose()


@contextmanager
def _postgres(database_url: str, **options: str) -> Iterator[sa.Connection]:
    """A connection of its own (no pool, no statement timeout: a dump may take long)."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool, **options)
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.OperationalError as exc:
        raise GeoappError(f"cannot use the database: {exc.orig}") from None
    finally:
        engine.dispose()


def _connect(database_url: str) -> AbstractContextManager[sa.Connection]:
    if engine_name(database_url) == "postgresql":
        return _postgres(database_url)
    return _read_only_sqlite(_sqlite_path(database_url))


def _sqlite_counts(path: Path) -> dict[str, int]:
    with _read_only_sqlite(path) as conn:
        return _facts(conn).counts


def _dump_counts(dump: Path) -> dict[str, int]:
    """Rows per table in a pg_dump archive, read from its data without any database."""
    counts: dict[str, int] = {}
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(["pg_restore", "--data-only", "--file=-", str(dump)],
                                       stdout=subprocess.PIPE, stderr=errors)
        except FileNotFoundError:
            raise GeoappError(_NO_CLIENT.format("pg_restore")) from None
        table = None
        assert process.stdout is not None  # piped above
        for line in process.stdout:
            if table is None:
                if match := _COPY.match(line.rstrip(b"\n")):
                    table = match.group(1).decode()
                    counts[table] = 0
            elif line == b"\\.\n":  # end of a COPY block; a row's newlines are escaped
                table = None
            else:
                counts[table] += 1
        if process.wait():
            errors.seek(0)
            raise ImportRejected(f"{dump} is not a readable pg_dump archive: "
                                 f"{errors.read().decode(errors='replace').strip()}")
    return counts


_NO_CLIENT = "{} not found: install the PostgreSQL client of the server's version"


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump and pg_restore, and their environment (the password in it,
    not on a command line others can read)."""
    url = sa.engine.make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(argv: list[str], env: dict[str, str]) -> bytes:
    """Run a PostgreSQL client tool and return its output; its own message on failure."""
    try:
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
    except FileNotFoundError:
        raise GeoappError(_NO_CLIENT.format(argv[0])) from None
    if done.returncode:
        raise GeoappError(f"{argv[0]} failed: "
                          f"{done.stderr.decode(errors='replace').strip()[-2000:]}")
    return done.stdout


def _known_revisions() -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_durably(path: Path, data: bytes) -> None:
    """Write a file whole (temp file, fsync, rename, fsync of the folder)."""
    temp = path.with_name(f".{path.name}.tmp")
    with temp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
