"""Who a request comes from: the peer, or X-Forwarded-For only through named proxies."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from geoapp.settings import Settings
from geoapp.web.intake import client_address, parse_networks


def _app(trusted: list[str]) -> FastAPI:
    app = FastAPI()
    app.state.trusted_proxies = parse_networks(trusted)

    @app.get("/who")
    def who(request: Request) -> dict[str, str]:
        return {"address": client_address(request)}

    return app


def _who(trusted: list[str], peer: str, forwarded: str | None) -> str:
    client = TestClient(_app(trusted), client=(peer, 50000))
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.get("/who", headers=headers).json()["address"]


def test_a_client_cannot_choose_its_address_by_sending_the_header():
    assert _who([], "203.0.113.7", "198.51.100.1") == "203.0.113.7"
    assert _who(["10.0.0.5"], "203.0.113.7", "198.51.100.1") == "203.0.113.7"


def test_the_hop_before_the_trusted_proxies_is_the_client():
    assert _who(["10.0.0.0/24"], "10.0.0.5", "198.51.100.1") == "198.51.100.1"
    # A client that forges the header gets its forgery kept at the left, not believed.
    assert _who(["10.0.0.0/24"], "10.0.0.5", "1.2.3.4, 198.51.100.1") == "198.51.100.1"
    # Two proxies of ours in a row: the balancer then the cache.
    assert _who(["10.0.0.0/24"], "10.0.0.5", "198.51.100.1, 10.0.0.9") == "198.51.100.1"


def test_a_bad_proxy_setting_stops_start_up():
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(trusted_proxies=["not-an-address"])
