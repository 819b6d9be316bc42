"""A bounded Schemathesis run against the OpenAPI document at /api, on both engines.

Every documented operation gets a few dozen generated requests (valid and invalid ones,
deterministic: derandomized, no example database). Each answer must not be a 5xx, must
carry a status code and content type the document declares, and must match the schema
declared for it. So the document has to say which refusals geoapp really gives.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from geoapp.app import create_app
from geoapp.settings import Settings
from tests.conftest import _empty_postgis
from tests.test_hazards import TileServer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
#: Examples per operation: enough to reach the refusals, small enough for two shared cores.
EXAMPLES = 25


def _document() -> dict:
    """The document /api serves (it does not depend on the engine), from a throwaway app."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(environment="test", data_dir=Path(folder)))
        document = app.openapi()
        app.state.reports.store.engine.dispose()
    return document


# Loaded at collection: schemathesis's lazy fixture loader does not run under pytest 9.
schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def engine_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A geoapp on each engine in turn, shared by the module's operations (one build each)."""
    data_dir = tmp_path_factory.mktemp("schemathesis")
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'geoapp.sqlite3'}"
    else:
        url = request.getfixturevalue("postgis_url")
        _empty_postgis(url)
    # /hazards reads a local tile server with no tiles (nothing drawn anywhere), never the
    # internet; its failures (502/503) have tests of their own.
    tiles = TileServer()
    app = create_app(Settings(
        environment="test", data_dir=data_dir / "var", database_url=url,
        # Generated posts must reach the checks, not the limit (which has tests of its own).
        report_rate_limit=100_000, hazard_tile_base=tiles.url))
    yield app
    app.state.reports.store.engine.dispose()
    tiles.stop()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, engine_app):
    case.call_and_validate(app=engine_app, checks=CHECKS)
