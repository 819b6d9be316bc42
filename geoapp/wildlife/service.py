"""The wildlife parts wired together once at start-up: registry, ingest, alerts, layers."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from geoapp.mail.render import MailTexts
from geoapp.photos.media import MediaStore
from geoapp.photos.pool import PhotoPool
from geoapp.places.towns import Towns
from geoapp.reports.boundary import CityBoundary
from geoapp.wildlife import detections
from geoapp.wildlife.alerts import Alerts
from geoapp.wildlife.devices import Devices
from geoapp.wildlife.ingest import Ingest
from geoapp.wildlife.layer import DetectionSource


class WildlifeService:
    """Everything wildlife, over one engine; built once at start-up."""

    def __init__(self, engine: sa.Engine, media_root: Path, boundary: CityBoundary, *,
                 mail_root: str, towns: Towns, layer_root: str = "", recent_days: int = 7,
                 photos: PhotoPool | None = None, mail: MailTexts | None = None) -> None:
        self.engine = engine
        self.boundary = boundary
        self.devices = Devices(engine)
        # A folder of its own: the report sweep never sees (and never removes) these photos.
        self.media = MediaStore(media_root)
        self.alerts = Alerts(engine, boundary, mail_root, mail)
        self.ingest = Ingest(engine, self.devices, self.media, self.alerts, photos)
        self.public = DetectionSource(engine, towns=towns, days=recent_days, root=layer_root)
        self.staff = DetectionSource(engine, towns=towns, staff=True, days=recent_days,
                                     root=layer_root)

    def sweep_media(self, older_than_seconds: float = 3600) -> list[str]:
        """Remove image files no detection refers to (left by interrupted ingests)."""
        return self.media.sweep(detections.media_keys(self.engine), older_than_seconds)
