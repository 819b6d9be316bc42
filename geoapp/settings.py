"""Settings read from ``GEOAPP_*`` environment variables and validated at start-up."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository (or image) root: ``layers/``, ``data/geo/`` and ``templates/`` live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: A host (or ``*.domain``) with an optional port: nothing that could end a CSP directive.
HOST_PATTERN = re.compile(r"(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?")

GSI_PALE_TILES = "https://cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png"
GSI_TILES_CREDIT = '<a href="https://maps.gsi.go.jp/development/ichiran.html">地理院タイル</a>'


class Settings(BaseSettings):
    """Everything an operator may change; every field is documented in the README."""

    model_config = SettingsConfigDict(env_prefix="GEOAPP_", extra="forbid")

    environment: Literal["development", "test", "production"] = "development"
    base_url: str = Field(
        default="",
        description="Public URL prefix used in links; empty means 'derive from the request'.",
    )
    layers_dir: Path = PROJECT_ROOT / "layers"
    geo_dir: Path = PROJECT_ROOT / "data" / "geo"
    templates_dir: Path = PROJECT_ROOT / "templates"
    vendor_dir: Path = PROJECT_ROOT / "node_modules"
    data_dir: Path = Field(
        default=PROJECT_ROOT / "var",
        description="Writable folder for imported datasets (and, later, the store and photos).",
    )
    database_url: str = Field(
        default="",
        description="sqlite:///path or postgresql+psycopg://…; empty: SQLite in data_dir.",
    )
    statement_timeout: float = Field(
        default=30.0, gt=0, le=3600,
        description="Seconds one PostgreSQL statement of a request may run before it is cancelled.")
    media_dir: Path | None = Field(
        default=None, description="Folder of processed photos; default data_dir/media."
    )
    migrate_on_start: bool = Field(
        default=True,
        description="Migrate and seed the store when the app is built; false: only check the "
                    "schema is at head (geoapp serve migrates once, then starts workers so).")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite's synchronous level; FULL: an acknowledged write survives a power "
                    "cut (read by geoapp.store.engine from the environment).")
    reports_yaml: Path = PROJECT_ROOT / "data" / "reports.yaml"
    report_rate_limit: int = Field(default=10, ge=1, description="Submissions per window.")
    report_rate_window: int = Field(default=600, ge=1, description="Seconds.")
    report_refused_limit: int = Field(
        default=30, ge=1,
        description="Refused (4xx) submissions per window, counted apart from accepted ones.")
    login_checks_per_minute: int = Field(
        default=20, ge=1,
        description="Password checks per account and minute, from all addresses together.")
    # Every core but one, left to the web workers (1 on a 2-core machine).
    photo_workers: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) - 1), ge=0, le=64,
        description="Photo worker processes per web worker; 0: photos in the web process.")
    photo_queue: int = Field(default=4, ge=0, le=1000,
                             description="Photos that may wait for a worker; then callers wait.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxies (addresses or CIDR blocks) whose X-Forwarded-For is believed.")
    embed_origins: list[str] = Field(
        default_factory=list,
        description="Sites (https://host, https://*.domain) that may show public pages in a frame.")
    cookie_secure: bool | None = Field(
        default=None, description="Secure session cookies; None: when the request is HTTPS."
    )
    smtp_host: str = Field(default="", description="Mail server; empty: mail stays queued.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    mail_from: str = "noreply@city.shibata.lg.jp"
    mail_interval: float = Field(default=5.0, gt=0, description="Seconds between outbox runs.")
    tile_url: str = GSI_PALE_TILES
    tile_attribution: str = GSI_TILES_CREDIT
    tile_max_zoom: int = Field(default=18, ge=1, le=22)
    hazard_tile_base: str = Field(
        default="",
        description="scheme://host[:port] that replaces the hazard overlays' tile host when "
                    "geoapp reads a point (/hazards); empty: the layer files' own host (in the "
                    "test environment: nowhere, so no test reaches the internet).")
    hazard_tile_timeout: float = Field(default=3.0, gt=0, le=30,
                                       description="Seconds to wait for one hazard tile.")
    map_center: tuple[float, float] = (37.9477, 139.3275)  # city hall, lat/lon
    map_zoom: int = Field(default=11, ge=1, le=18)
    items_default_limit: int = Field(default=10, ge=1)
    items_max_limit: int = Field(default=10_000, ge=1)
    bus_areas_file: Path | None = Field(
        default=None, description="GeoJSON polygons of reservation-based bus service areas.")
    bus_refresh: float = Field(default=5.0, gt=0, le=300,
                               description="Seconds between bus position refreshes on maps.")
    bus_gone_after: int = Field(default=1800, ge=120,
                                description="Seconds after which a bus's position is dropped.")
    gtfs_rt_url: str = Field(default="", description="A GTFS-RT VehiclePositions feed to read.")
    gtfs_rt_interval: float = Field(default=15.0, ge=1, description="Seconds between reads.")

    mqtt_url: str = Field(default="", description="MQTT broker for wildlife devices; empty: off.")
    mqtt_topic_prefix: str = Field(default="geoapp/wildlife", min_length=1,
                                   description="Topics are PREFIX/devices/ID/detections.")
    mqtt_client_id: str = Field(default="geoapp-wildlife", min_length=1,
                                description="Client id of geoapp's persistent MQTT session.")
    wildlife_recent_days: int = Field(default=7, ge=1, le=3650,
                                      description="Days of detections the public layer shows.")

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def database(self) -> str:
        """The database URL in force (the embedded SQLite file unless one is configured)."""
        return self.database_url or f"sqlite:///{self.data_dir / 'geoapp.sqlite3'}"

    @property
    def media(self) -> Path:
        """The media folder in force."""
        return self.media_dir or self.data_dir / "media"

    @field_validator("database_url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:///", "postgresql")):
            raise ValueError("database_url must start with sqlite:/// or postgresql")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {item!r} is not an address or CIDR block") from None
        return value

    @field_validator("embed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = []
        for item in value:
            parts = urlsplit(item.strip())
            # An origin only: a path or query would be ignored by browsers and mislead.
            if (parts.scheme not in ("https", "http") or not HOST_PATTERN.fullmatch(parts.netloc)
                    or parts.path not in ("", "/") or parts.query or parts.fragment):
                raise ValueError(f"embed_origins: {item!r} is not an origin such as "
                                 "https://www.city.shibata.lg.jp")
            origins.append(f"{parts.scheme}://{parts.netloc}")
        return origins

    @field_validator("gtfs_rt_url")
    @classmethod
    def _feed_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("gtfs_rt_url must be an http:// or https:// address")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if value and not value.startswith(("mqtt://", "mqtts://")):
            raise ValueError("mqtt_url must be an mqtt:// or mqtts:// address")
        return value

    @field_validator("tile_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        if not all(part in value for part in ("{z}", "{x}", "{y}")):
            raise ValueError("tile_url must contain {z}, {x} and {y}")
        return value

    @model_validator(mode="after")
    def _check_paths(self) -> Settings:
        for name in ("layers_dir", "geo_dir", "templates_dir"):
            path = getattr(self, name)
            if not path.is_dir():
                raise ValueError(f"{name}: folder {path} does not exist")
        if not (self.vendor_dir / "leaflet" / "package.json").is_file():
            raise ValueError(
                f"vendor_dir: {self.vendor_dir} has no leaflet; run `npm ci` in the project root"
            )
        if self.smtp_host and not self.base_url:
            # Mail is sent outside any request, so its links cannot borrow a request's host.
            raise ValueError("base_url must be set when smtp_host is: e-mails link to reports")
        if self.items_default_limit > self.items_max_limit:
            raise ValueError("items_default_limit must not exceed items_max_limit")
        return self
