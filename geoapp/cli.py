"""The ``geoapp`` command: serve, check layers, import data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from pydantic import ValidationError

from geoapp.errors import GeoappError
from geoapp.settings import Settings

cli = typer.Typer(help="geoapp: Shibata City's public map service.", no_args_is_help=True)
layers_cli = typer.Typer(help="Map layer declarations (layers/*.yaml).", no_args_is_help=True)
wifi_cli = typer.Typer(help="The public Wi-Fi list (公衆無線LANアクセスポイント一覧).",
                       no_args_is_help=True)
store_cli = typer.Typer(help="The database (SQLite or PostGIS) and the photo store.",
                        no_args_is_help=True)
cli.add_typer(layers_cli, name="layers")
cli.add_typer(wifi_cli, name="wifi")
cli.add_typer(store_cli, name="store")
staff_cli = typer.Typer(help="Staff accounts.", no_args_is_help=True)
cli.add_typer(staff_cli, name="staff")
keys_cli = typer.Typer(help="Open311 API keys.", no_args_is_help=True)
cli.add_typer(keys_cli, name="apikeys")
mail_cli = typer.Typer(help="Outgoing e-mail (the outbox).", no_args_is_help=True)
cli.add_typer(mail_cli, name="mail")
gtfs_cli = typer.Typer(help="Community bus timetables (GTFS / GTFS-JP).", no_args_is_help=True)
cli.add_typer(gtfs_cli, name="gtfs")
buses_cli = typer.Typer(help="Community buses allowed to post positions (device keys).",
                        no_args_is_help=True)
cli.add_typer(buses_cli, name="buses")


@contextmanager
def _refusals(prefix: str = "", code: int = 1) -> Iterator[None]:
    """Turn a GeoappError into its message on stderr and exit ``code`` (no traceback)."""
    try:
        yield
    except GeoappError as exc:
        typer.echo(f"{prefix}{exc.detail}", err=True)
        raise typer.Exit(code) from None


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        typer.echo(f"geoapp: invalid settings:\n{exc}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, help="Worker processes."),
) -> None:
    """Run the web service."""
    import uvicorn

    from geoapp.app import create_app, open_reference_store

    settings = _settings()
    with _refusals("geoapp: ", code=2):
        # Migrate and seed once, here, then tell every worker only to check the schema:
        # several processes migrating one store at once would race.
        if settings.migrate_on_start:
            open_reference_store(settings).engine.dispose()
            os.environ["GEOAPP_MIGRATE_ON_START"] = "false"
            settings = settings.model_copy(update={"migrate_on_start": False})
        create_app(settings)  # fail here, with a readable message, before binding the port
    uvicorn.run("geoapp.app:create_app", factory=True, host=host, port=port, workers=workers,
                # geoapp reads X-Forwarded-For itself, from GEOAPP_TRUSTED_PROXIES only.
                proxy_headers=False, log_level="info")


@layers_cli.command("validate")
def layers_validate() -> None:
    """Check every layer declaration and load its data; exit 1 on any problem."""
    from geoapp.app import open_reference_store
    from geoapp.catalog.registry import Catalog
    from geoapp.places.towns import towns_in
    from geoapp.reports.boundary import CityBoundary
    from geoapp.reports.layer import ReportSource
    from geoapp.transit.service import BusService
    from geoapp.wildlife.layer import DetectionSource

    settings = _settings()
    with _refusals():
        store = open_reference_store(settings)
        towns = towns_in(settings.geo_dir)
        reports = ReportSource(store, settings.base_url, towns=towns)
        city = CityBoundary(settings.geo_dir / "shibata_boundary_n03.geojson")
        buses = BusService(store.engine, areas_file=settings.bus_areas_file,
                           city=city.contains, gone_after=settings.bus_gone_after)
        catalog = Catalog.build(settings.layers_dir, settings.geo_dir, settings.data_dir,
                                reports=reports, transit=buses.sources,
                                wildlife=DetectionSource(store.engine, towns=towns))
    for layer in catalog:
        count = f"{len(layer.source)} features" if layer.source is not None else "raster tiles"
        marks = [m for m, on in (("sample", layer.sample), ("provisional",
                 layer.spec.provisional), ("hidden", not layer.spec.public)) if on]
        typer.echo(f"ok  {layer.id:<20} {count}" + (f"  [{', '.join(marks)}]" if marks else ""))


@wifi_cli.command("import")
def wifi_import(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The CSV file."),
    sample: bool = typer.Option(False, help="Mark the list as sample data (shows a notice)."),
) -> None:
    """Make a recommended-format CSV the active Wi-Fi list (UTF-8, UTF-8 BOM or CP932)."""
    from geoapp.wifi.dataset import import_list

    settings = _settings()
    with _refusals("rejected, nothing changed: "):
        active = import_list(path, settings.data_dir, sample=sample)
    for problem in active.wifi.problems:
        typer.echo(f"skipped line {problem.line}: {problem.reason}", err=True)
    typer.echo(
        f"imported {len(active.wifi.points)} access points from {path.name} "
        f"({active.wifi.encoding}); {len(active.wifi.problems)} rows skipped. "
        "Restart geoapp to serve the new list."
    )


@wifi_cli.command("reset")
def wifi_reset() -> None:
    """Forget the imported list and serve the shipped sample again."""
    from geoapp.wifi.dataset import reset

    removed = reset(_settings().data_dir)
    typer.echo("imported list removed; the sample is served" if removed else "no imported list")


@store_cli.command("migrate")
def store_migrate() -> None:
    """Bring the database schema to the newest revision (the service also does it on start)."""
    from geoapp.store.engine import current_revision, migrate, open_engine

    settings = _settings()
    engine = open_engine(settings.database)
    migrate(engine)
    typer.echo(f"{engine.dialect.name}: schema at revision {current_revision(engine)}")


@store_cli.command("seed")
def store_seed(
    update: bool = typer.Option(False, help="Also overwrite rows that exist (edits are lost)."),
) -> None:
    """Load departments, categories and states from data/reports.yaml."""
    from geoapp.store.engine import migrate, open_engine
    from geoapp.store.reports import ReportStore
    from geoapp.yamlfile import read_yaml

    settings = _settings()
    engine = open_engine(settings.database)
    migrate(engine)
    changed = ReportStore(engine).seed(read_yaml(settings.reports_yaml), update=update)
    typer.echo(", ".join(f"{table}: {n} written" for table, n in changed.items()))


@store_cli.command("sweep")
def store_sweep(
    older_than: float = typer.Option(3600, help="Keep unreferenced files younger than this (s)."),
) -> None:
    """Remove photo files no report refers to (left by interrupted submissions)."""
    from geoapp.app import create_app

    service = create_app(_settings()).state.reports
    removed = service.sweep_media(older_than_seconds=older_than)
    typer.echo(f"removed {len(removed)} unreferenced photo files")


@cli.command("backup")
def backup_command(
    dest: Path = typer.Argument(..., help="A new (or empty) folder to write the backup to."),
) -> None:
    """Back up the database, then the photos it refers to, into DEST (safe while serving)."""
    from geoapp.store.backup import backup

    settings = _settings()
    with _refusals("geoapp backup: "):
        manifest = backup(settings.database, settings.media, dest, progress=typer.echo)
    counts = manifest["counts"]
    typer.echo(f"backed up {counts.get('reports', 0)} reports, "
               f"{counts.get('wildlife_detections', 0)} wildlife detections and "
               f"{len(manifest['photos'])} photo files into {dest}")
    if manifest["missing_photos"]:
        for photo in manifest["missing_photos"]:
            typer.echo(f"{photo['problem']}: {photo['store']} photo {photo['key']}", err=True)
        typer.echo(f"geoapp backup: INCOMPLETE: {len(manifest['missing_photos'])} photos the "
                   "database refers to are missing or damaged in the media folder", err=True)
        raise typer.Exit(1)


@cli.command("restore")
def restore_command(
    src: Path = typer.Argument(..., help="A folder written by `geoapp backup`."),
    force: bool = typer.Option(False, help="Replace a store that already holds data."),
) -> None:
    """Check a backup whole, then restore its database and photos (stop the service first)."""
    from geoapp.store.backup import restore

    settings = _settings()
    with _refusals("geoapp restore: "):
        restored = restore(settings.database, settings.media, src, force=force,
                           progress=typer.echo)
    rows = ", ".join(f"{table} {n}" for table, n in restored.counts.items() if n)
    typer.echo(f"restored {restored.engine} database at revision {restored.revision} "
               f"({rows}) and {sum(restored.photos.values())} photo files "
               f"({', '.join(f'{k} {n}' for k, n in restored.photos.items())})")


@staff_cli.command("create")
def staff_create(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., help="admin, road, department or wildlife."),
    department: str = typer.Option("", help="Department code (for department staff)."),
    display_name: str = typer.Option("", help="Name shown in the audit log."),
    email: str = typer.Option("", help="The staff member's e-mail."),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input."),
) -> None:
    """Create a staff account (the password is asked for, or read from stdin)."""
    import sys
    from datetime import UTC, datetime

    from geoapp.app import open_reference_store
    from geoapp.staff.accounts import Accounts

    password = (sys.stdin.readline().rstrip("\n") if password_stdin
                else typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    accounts = Accounts(open_reference_store(_settings()).engine)
    with _refusals("geoapp: "):
        user = accounts.create(username, password, role, datetime.now(UTC),
                               display_name=display_name or None, email=email or None,
                               department_code=department or None)
    typer.echo(f"created {user.username} ({user.role})")


def _api_keys():  # noqa: ANN202
    from geoapp.app import open_reference_store
    from geoapp.open311.keys import ApiKeys

    return ApiKeys(open_reference_store(_settings()).engine)


@keys_cli.command("issue")
def keys_issue(name: str = typer.Argument(..., help="The client's name."),
               quota: int | None = typer.Option(
                   None, help="Accepted posts per hour (default 1000).")) -> None:
    """Issue an Open311 API key (printed once; only its hash is stored)."""
    from datetime import UTC, datetime

    with _refusals("geoapp: "):
        typer.echo(_api_keys().issue(name, datetime.now(UTC), quota))


@keys_cli.command("quota")
def keys_quota(name: str = typer.Argument(..., help="The client's name."),
               quota: int = typer.Argument(..., help="Accepted posts per hour.")) -> None:
    """Set how many posts per hour a key may make (applies at once)."""
    with _refusals("geoapp: "):
        _api_keys().set_quota(name, quota)
    typer.echo(f"{name}: {quota} posts per hour")


@keys_cli.command("revoke")
def keys_revoke(name: str = typer.Argument(..., help="The client's name.")) -> None:
    """Revoke an Open311 API key at once."""
    from datetime import UTC, datetime

    with _refusals("geoapp: "):
        _api_keys().revoke(name, datetime.now(UTC))
    typer.echo(f"revoked {name}")


@keys_cli.command("list")
def keys_list() -> None:
    """List issued keys (names and dates, never the keys)."""
    for key in _api_keys().all():
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
        typer.echo(f"{key.name}\t{key.created_at:%Y-%m-%d}\t{state}\t{key.quota_per_hour}/h")


@mail_cli.command("send")
def mail_send() -> None:
    """Send the mail that is due now (the service also does this every few seconds)."""
    from datetime import UTC, datetime

    from geoapp.app import create_app

    sender = create_app(_settings()).state.mail_sender
    if sender is None:
        typer.echo("geoapp: GEOAPP_SMTP_HOST is not set", err=True)
        raise typer.Exit(2)
    typer.echo(f"sent {sender.send_due(datetime.now(UTC))}; {sender.pending()} still queued")


def _timetable_engine():  # noqa: ANN202 (imports stay lazy, as elsewhere here)
    from geoapp.store.engine import migrate, open_engine

    engine = open_engine(_settings().database)
    migrate(engine)
    return engine


@gtfs_cli.command("import")
def gtfs_import(
    path: Path = typer.Argument(..., exists=True, help="The feed: a .zip or a folder."),
    sample: bool = typer.Option(False, help="Mark the timetable as sample data on every page."),
) -> None:
    """Make a GTFS / GTFS-JP feed the bus timetable, in one step; a refused feed changes nothing."""
    from geoapp.transit.gtfs import read_feed
    from geoapp.transit.timetable import Timetable

    engine = _timetable_engine()
    with _refusals("refused, the timetable in place is kept: "):
        feed = read_feed(path, progress=lambda step: typer.echo(f"reading {step}"))
    for problem in feed.problems:
        typer.echo(f"problem {problem}", err=True)
    typer.echo(f"writing {len(feed.stops)} stops, {len(feed.routes)} routes, {len(feed.trips)} "
               f"trips, {len(feed.stop_times)} stop times in one transaction…")
    Timetable(engine).replace(feed, sample=sample)
    typer.echo(f"imported {path.name}: {len(feed.problems)} problems reported"
               + (" (marked as sample)" if sample else ""))


@gtfs_cli.command("status")
def gtfs_status() -> None:
    """Show the timetable in force and the problems found when it was imported."""
    from geoapp.transit.timetable import Timetable

    info = Timetable(_timetable_engine()).info()
    if info is None:
        typer.echo("no timetable imported")
        return
    typer.echo(f"{info['source_name']} ({info['publisher']}, version {info['version'] or '-'})"
               f" imported {info['imported_at']:%Y-%m-%d %H:%M} UTC"
               + (" [sample]" if info["sample"] else ""))
    for problem in info["problems"]:
        typer.echo(f"problem {problem}")


@buses_cli.command("add")
def buses_add(
    vehicle: str = typer.Argument(..., help="The vehicle id (letters, digits, . _ -)."),
    label: str = typer.Option("", help="The name riders see, e.g. 1号車."),
) -> None:
    """Register a bus and print its device key (shown once, stored hashed)."""
    from datetime import UTC, datetime

    from geoapp.transit.positions import Vehicles

    with _refusals():
        key = Vehicles(_timetable_engine()).add(vehicle, label, datetime.now(UTC))
    typer.echo(key)


@buses_cli.command("remove")
def buses_remove(vehicle: str = typer.Argument(..., help="The vehicle id.")) -> None:
    """Forget a bus: its key stops working and its position disappears."""
    from geoapp.transit.positions import Vehicles

    with _refusals():
        Vehicles(_timetable_engine()).remove(vehicle)
    typer.echo(f"removed {vehicle}")


@buses_cli.command("list")
def buses_list() -> None:
    """List the registered buses."""
    from geoapp.transit.positions import Vehicles

    for row in Vehicles(_timetable_engine()).all():
        typer.echo(f"{row['vehicle_id']}\t{row['label']}\t{row['created_at']:%Y-%m-%d}")


wildlife_cli = typer.Typer(help="Wildlife devices and sightings.", no_args_is_help=True)
cli.add_typer(wildlife_cli, name="wildlife")


def _wildlife_engine():  # noqa: ANN202 (imports stay lazy, as elsewhere here)
    from geoapp.store.engine import migrate, open_engine

    engine = open_engine(_settings().database)
    migrate(engine)
    return engine


@wildlife_cli.command("import")
def wildlife_import(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Sightings CSV."),
    species: str = typer.Option("bear", help="Species of rows that do not name one."),
    visibility: str = typer.Option("mesh", help="exact, mesh (1 km cell) or hidden."),
    outside_ok: bool = typer.Option(False, help="Keep rows outside the city (test data)."),
) -> None:
    """Import past sightings from a prefecture's CSV; unreadable rows are listed and skipped."""
    from datetime import UTC, datetime

    from geoapp.reports.boundary import CityBoundary
    from geoapp.wildlife.csvimport import import_sightings

    settings = _settings()
    boundary = None if outside_ok else CityBoundary(
        settings.geo_dir / "shibata_boundary_n03.geojson")
    with _refusals("refused, nothing was imported: "):
        result = import_sightings(_wildlife_engine(), path.read_bytes(), now=datetime.now(UTC),
                                  default_species=species, visibility=visibility,
                                  boundary=boundary)
    for line, reason in result.skipped:
        typer.echo(f"skipped line {line}: {reason}", err=True)
    typer.echo(f"added {result.added}, already there {result.already}, "
               f"skipped {len(result.skipped)}")


@wildlife_cli.command("register")
def wildlife_register(
    name: str = typer.Argument(..., help="The device's name."),
    kind: str = typer.Option(..., help="sensor, ir_camera, ai_camera, trap or other."),
    lat: float = typer.Option(..., help="Latitude."),
    lon: float = typer.Option(..., help="Longitude."),
    species: str = typer.Option(..., help="Species watched, comma-separated (bear,boar,…)."),
    owner: str = typer.Option("新発田市", help="Who owns or runs it."),
    officers: str = typer.Option("", help="E-mails alerted when a trap triggers, commas."),
    visibility: str = typer.Option("mesh", help="exact, mesh or hidden (traps: hidden)."),
) -> None:
    """Register a device and print its id and key (the key is shown once, stored hashed)."""
    from datetime import UTC, datetime

    from geoapp.wildlife.devices import Devices

    with _refusals():
        device, key = Devices(_wildlife_engine()).register(
            name=name, kind=kind, lon=lon, lat=lat, species=species.split(","), owner=owner,
            now=datetime.now(UTC), officers=officers.split(","), visibility=visibility)
    typer.echo(f"device {device.id}\t{key}")


@wildlife_cli.command("status")
def wildlife_status(
    device_id: int = typer.Argument(..., help="The device number."),
    status: str = typer.Argument(..., help="active, maintenance or retired."),
) -> None:
    """Mark a device active, under maintenance or retired (a retired device is refused)."""
    from geoapp.wildlife.devices import Devices

    with _refusals():
        device = Devices(_wildlife_engine()).set_status(device_id, status)
    typer.echo(f"device {device.id} is {device.status}")


@wildlife_cli.command("devices")
def wildlife_devices() -> None:
    """List the registered devices."""
    from geoapp.wildlife.devices import Devices

    for d in Devices(_wildlife_engine()).all():
        typer.echo(f"{d.id}\t{d.kind}\t{d.status}\t{d.public_visibility}\t{d.name}")

def main() -> None:
    """Entry point of the ``geoapp`` console script."""
    cli()
