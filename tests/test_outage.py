"""Database outages: 503 with Retry-After while the store is away, and back without a restart.

The PostgreSQL side runs a real geoapp (uvicorn, its own process) on a throwaway cluster
that the test stops and starts; the machine's shared cluster is never touched.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from geoapp.app import create_app
from geoapp.errors import StoreUnavailable
from geoapp.settings import Settings
from geoapp.store.engine import migrate, open_engine, ping
from tests.conftest import LiveServer
from tests.pgcluster import PgCluster

REPORT = {"category": "gutter", "description": "側溝のふたが割れています",
          "lat": "37.9477", "lon": "139.3275"}
PROBLEM = "application/problem+json"
#: What a load balancer relies on: an answer within 1 s (1.5 s leaves room for a busy CI).
ANSWER_WITHIN = 1.5
#: After the database returns, requests succeed within this many seconds.
RECOVERY_WITHIN = 5.0


@pytest.fixture
def served(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[PgCluster, LiveServer]]:
    """geoapp served by uvicorn on a database of the module's own cluster."""
    url = pg_cluster.create_database("geoapp_outage")
    server = LiveServer(tmp_path_factory.mktemp("outage-var"),
                        env={"GEOAPP_DATABASE_URL": url, "GEOAPP_REPORT_RATE_LIMIT": "1000"})
    try:
        yield pg_cluster, server
    finally:
        server.stop()
        if not pg_cluster.running:
            pg_cluster.start()  # a failed test leaves the cluster up for the module's others


def _local_port(response: httpx.Response) -> int:
    """The client-side port of the connection the response came on."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def _timed(http: httpx.Client, method: str, path: str, **kwargs: object) -> httpx.Response:
    start = time.monotonic()
    response = http.request(method, path, **kwargs)
    elapsed = time.monotonic() - start
    assert elapsed < ANSWER_WITHIN, f"{method} {path} took {elapsed:.2f} s"
    return response


def _is_unavailable(response: httpx.Response, content_type: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(content_type)
    assert 1 <= int(response.headers["retry-after"]) <= 30


@pytest.mark.live
def test_every_door_answers_503_while_the_database_is_away_and_recovers(served):
    cluster, server = served
    with httpx.Client(base_url=server.url, timeout=10) as http:
        before = http.post("/api/v1/reports", data=REPORT)
        assert before.status_code == 201, before.text
        number = before.json()["number"]
        port = _local_port(before)

        cluster.stop()

        items = _timed(http, "GET", "/collections/reports/items")
        _is_unavailable(items, PROBLEM)
        assert items.json()["status"] == 503
        one = _timed(http, "GET", f"/api/v1/reports/{number}")
        _is_unavailable(one, PROBLEM)
        posted = _timed(http, "POST", "/api/v1/reports",
                        data={**REPORT, "description": "停電中の投稿"})
        _is_unavailable(posted, PROBLEM)
        assert "number" not in posted.json()
        open311 = _timed(http, "GET", "/open311/v2/requests.json")
        _is_unavailable(open311, "application/json")
        assert open311.json()[0]["code"] == 503
        open311_xml = _timed(http, "GET", "/open311/v2/requests.xml")
        _is_unavailable(open311_xml, "text/xml")
        assert "<code>503</code>" in open311_xml.text
        page = _timed(http, "GET", f"/reports/{number}", headers={"Accept": "text/html"})
        _is_unavailable(page, "text/html")
        assert "しばらくしてからもう一度お試しください" in page.text
        assert "Traceback" not in page.text and "psycopg" not in page.text
        health = _timed(http, "GET", "/healthz")
        assert health.status_code == 200
        not_ready = _timed(http, "GET", "/readyz")
        _is_unavailable(not_ready, PROBLEM)
        # Every answer above came on the one keep-alive connection: none was dropped.
        assert _local_port(not_ready) == port

        cluster.start()

        deadline = time.monotonic() + RECOVERY_WITHIN
        while (ready := http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, f"not ready {RECOVERY_WITHIN} s after restart"
            time.sleep(0.1)
        assert ready.json()["status"] == "ready"  # leading again or not, as the lock falls
        kept = http.get(f"/api/v1/reports/{number}")
        assert kept.status_code == 200
        assert kept.json()["description"] == REPORT["description"]
        after = http.post("/api/v1/reports", data={**REPORT, "description": "復旧後の投稿"})
        assert after.status_code == 201, after.text
        assert http.get(f"/api/v1/reports/{after.json()['number']}").status_code == 200
        assert _local_port(after) == port


def test_readyz_is_200_while_the_store_answers(engine_client):
    response = engine_client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "leader": True,  # a lone process leads
                               "mqtt": False}  # no broker configured
    assert engine_client.get("/healthz").status_code == 200


def test_a_locked_sqlite_store_answers_503_for_writes_and_keeps_serving_reads(tmp_path: Path):
    settings = Settings(environment="test", data_dir=tmp_path / "var")
    with TestClient(create_app(settings)) as client:
        number = client.post("/api/v1/reports", data=REPORT).json()["number"]
        # Another process (a maintenance script, say) holds SQLite's one write lock.
        holder = sqlite3.connect(tmp_path / "var" / "geoapp.sqlite3", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            refused = client.post("/api/v1/reports", data=REPORT,
                                  headers={"Accept-Language": "en"})
            assert refused.status_code == 503
            assert refused.headers["content-type"] == PROBLEM
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["detail"].startswith("The database cannot be reached")
            # WAL: readers are not blocked by the writer, so pages and readiness go on.
            assert client.get(f"/api/v1/reports/{number}").status_code == 200
            assert client.get("/readyz").status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert client.post("/api/v1/reports", data=REPORT).status_code == 201


def test_a_statement_timeout_is_not_taken_for_an_outage(pg_cluster: PgCluster):
    # A query the server cancels after the timeout is this query's fault: it stays an
    # error of its own (a 500 with a log entry), not a 503 that invites retries.
    engine = open_engine(pg_cluster.url(), statement_timeout=0.2)
    try:
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"), \
                engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_sleep(2)"))
        ping(engine)  # the database itself is fine
    finally:
        engine.dispose()


def test_the_store_raises_store_unavailable_and_reconnects_by_itself(pg_cluster: PgCluster):
    url = pg_cluster.create_database("geoapp_reconnect")
    engine = open_engine(url)
    try:
        migrate(engine)
        ping(engine)  # a pooled connection now exists; the stop below breaks it
        pg_cluster.stop()
        with pytest.raises(StoreUnavailable):
            ping(engine)
        with pytest.raises(StoreUnavailable):
            ping(engine)  # no connection at all now: connecting fails the same way
        pg_cluster.start()
        ping(engine)  # the same engine, no restart: dead connections were discarded
    finally:
        if not pg_cluster.running:
            pg_cluster.start()
        engine.dispose()


def test_an_exhausted_pool_is_store_unavailable_not_a_hang(database_url: str):
    engine = open_engine(database_url, pool_timeout=0.3)
    held = []
    try:
        with pytest.raises(StoreUnavailable):
            for _ in range(50):  # far more than the pool holds on either engine
                held.append(engine.connect())
        assert 5 <= len(held) < 50
        for connection in held:
            connection.close()
        held.clear()
        ping(engine)  # connections handed back: the store answers again
    finally:
        for connection in held:
            connection.close()
        engine.dispose()
