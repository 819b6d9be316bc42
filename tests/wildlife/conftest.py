"""Wildlife fixtures: the service over each engine, and devices of each visibility."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from geoapp.reports.boundary import CityBoundary
from geoapp.wildlife.service import WildlifeService
from tests.conftest import ROOT, city_towns
from tests.mosquitto import Broker

#: Inside Shibata: near city hall, and about 5 km east.
CITY_HALL = (139.3275, 37.9477)
EAST = (139.39, 37.95)
BOUNDARY = CityBoundary(ROOT / "data" / "geo" / "shibata_boundary_n03.geojson")


def at(now: datetime, minutes_ago: float = 0) -> str:
    """An ISO time ``minutes_ago`` before ``now`` (negative: ahead of it)."""
    return (now - timedelta(minutes=minutes_ago)).isoformat()


@pytest.fixture
def now() -> datetime:
    """The time this test started (UTC, whole seconds), taken afresh for each test.

    Never a time taken when the module was imported: the suite runs for many minutes, and
    "the last 3 hours" or "5 minutes ahead" must be measured from when the test runs.
    """
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def wild(store, tmp_path: Path) -> WildlifeService:
    """The wildlife service on each engine."""
    return WildlifeService(store.engine, tmp_path / "wildmedia", BOUNDARY,
                           mail_root="https://map.example.jp", towns=city_towns())


@pytest.fixture
def devices(wild, now: datetime):
    """One device per visibility, and a trap (which asks to be exact, and is hidden anyway)."""
    made = {}
    for name, kind, visibility, pos in (
            ("exact", "ai_camera", "exact", CITY_HALL), ("mesh", "ir_camera", "mesh", CITY_HALL),
            ("hidden", "sensor", "hidden", EAST), ("trap", "trap", "exact", EAST)):
        made[name] = wild.devices.register(
            name=f"{name} device", kind=kind, lon=pos[0], lat=pos[1], species=["bear", "boar"],
            owner="農林水産課", now=now, officers=["officer@city.example"], visibility=visibility)
    return made


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A Mosquitto of this test session's own (never the machine's), stopped at the end."""
    broker = Broker(tmp_path_factory.mktemp("mosquitto"))
    yield broker
    broker.stop()


@pytest.fixture
def broker(mqtt_broker: Broker) -> Broker:
    """The session's broker, running (a test that restarted it leaves it running)."""
    if mqtt_broker.process is None or mqtt_broker.process.poll() is not None:
        mqtt_broker.start()
    return mqtt_broker
