"""Security headers on every answer: a CSP without 'unsafe-inline' for scripts, nosniff, a
referrer policy, staff pages never framed, HSTS only over HTTPS."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from geoapp.app import create_app
from geoapp.settings import Settings
from tests.staff.conftest import NOW, PASSWORD, login

HTML = {"Accept": "text/html"}
STRICT = "default-src 'none'; frame-ancestors 'none'"


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy as directive → sources."""
    header = response.headers["content-security-policy"]
    return {name: sources for name, *sources in
            (part.split() for part in header.split(";") if part.strip())}


def script_nonce(response) -> str:
    """The nonce the response's CSP allows inline scripts with."""
    (source,) = [s for s in policy(response)["script-src"] if s.startswith("'nonce-")]
    return source[len("'nonce-"):-1]


def assert_headers(response) -> None:
    """What every answer carries, whatever its kind."""
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("strict-origin-when-cross-origin",
                                                   "same-origin")
    directives = policy(response)
    for name in ("script-src", "default-src"):  # script-src falls back to default-src
        assert "'unsafe-inline'" not in directives.get(name, [])
        assert "'unsafe-eval'" not in directives.get(name, [])
    assert "strict-transport-security" not in response.headers  # plain http here


@pytest.fixture
def admin_client(engine_client: TestClient) -> TestClient:
    """The engine's client, logged in as an admin."""
    engine_client.app.state.accounts.create("admin", PASSWORD, "admin", NOW)
    login(engine_client, "admin")
    return engine_client


def test_every_kind_of_answer_carries_the_headers(engine_client):
    client = engine_client
    answers = {
        "map page": client.get("/", headers=HTML),
        "report form": client.get("/reports/new", headers=HTML),
        "GeoJSON": client.get("/collections/shelters/items"),
        "JSON": client.get("/api/v1/categories"),
        "problem+json": client.get("/collections/nowhere/items"),
        "HTML error page": client.get("/collections/nowhere?f=html"),
        "static asset": client.get("/static/geoapp/geoapp.css"),
        "vendor asset": client.get(
            client.get("/", headers=HTML).text.split('<script src="')[1].split('"')[0]),
        "redirect": client.get("/staff", headers=HTML, follow_redirects=False),
        "staff login page": client.get("/staff/login"),
    }
    assert answers["problem+json"].headers["content-type"] == "application/problem+json"
    assert answers["redirect"].status_code == 303
    for kind, response in answers.items():
        assert response.status_code in (200, 303, 404), kind
        assert_headers(response)
        html = response.headers.get("content-type", "").startswith("text/html")
        if not html:  # nothing here is meant to be a document: it may load nothing at all
            assert response.headers["content-security-policy"] == STRICT, kind


def test_staff_pages_are_never_framed_and_keep_their_urls_to_themselves(admin_client):
    for url in ("/staff", "/staff/dashboard", "/staff/admin", "/staff/login"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/html")
        assert_headers(response)
        assert policy(response)["frame-ancestors"] == ["'none'"], url
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
    staff_json = admin_client.get("/staff/api/reports")
    assert staff_json.status_code == 200
    assert staff_json.headers["content-security-policy"] == STRICT


def test_public_pages_may_be_framed_only_by_the_site_itself(client):
    response = client.get("/", headers=HTML)
    assert policy(response)["frame-ancestors"] == ["'self'"]
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "x-frame-options" not in response.headers


def test_the_city_s_sites_named_in_the_settings_may_embed_the_map_not_staff_pages(tmp_path):
    settings = Settings(environment="test", data_dir=tmp_path / "var",
                        embed_origins=["https://www.city.shibata.lg.jp/"])
    with TestClient(create_app(settings)) as client:
        public = client.get("/", headers=HTML)
        staff = client.get("/staff/login")
    assert policy(public)["frame-ancestors"] == ["'self'", "https://www.city.shibata.lg.jp"]
    assert policy(staff)["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("value", [
    "www.city.shibata.lg.jp",  # no scheme
    "https://www.city.shibata.lg.jp/map",  # a path browsers would ignore
    "https://a.jp; script-src *",  # would end the directive and widen the policy
    "javascript:alert(1)",
])
def test_an_embed_origin_that_is_not_an_origin_stops_start_up(tmp_path, value):
    with pytest.raises(ValidationError, match="embed_origins"):
        Settings(environment="test", data_dir=tmp_path / "var", embed_origins=[value])


def test_each_page_has_its_own_nonce_and_only_nonced_inline_scripts(admin_client):
    pages = ["/", "/?lang=en", "/reports/new", "/buses", "/wildlife/alerts",
             "/collections?f=html", "/collections/shelters/items?f=html", "/api?f=html",
             "/opendata", "/wildlife/detections?f=html", "/staff", "/staff/dashboard",
             "/staff/admin", "/staff/admin/apikeys", "/staff/wildlife"]
    nonces = set()
    for url in pages:
        response = admin_client.get(url, headers=HTML)
        assert response.status_code == 200, url
        nonce = script_nonce(response)
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", nonce), nonce  # 18 random bytes
        nonces.add(nonce)
        html = response.text
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
        assert all(attrs == f' nonce="{nonce}"' for attrs in inline), (url, inline)
        # No inline event handler or style: the policy would refuse them.
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), url
        assert not re.search(r"<[^>]+\sstyle\s*=|<style", html), url
    assert len(nonces) == len(pages)  # a fresh nonce for every answer


def test_map_pages_run_their_nonced_script_and_load_tiles_from_their_servers(client):
    response = client.get("/", headers=HTML)
    nonce = script_nonce(response)
    assert f'<script nonce="{nonce}">' in response.text
    assert "L.map(" in response.text.split(f'<script nonce="{nonce}">')[1]
    directives = policy(response)
    assert directives["style-src"] == ["'self'"]
    assert {"data:", "blob:", "https://cyberjapandata.gsi.go.jp",
            "https://disaportaldata.gsi.go.jp"} <= set(directives["img-src"])
    assert directives["connect-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]


def test_a_configured_tile_server_is_allowed_its_subdomains_as_a_wildcard(tmp_path):
    settings = Settings(environment="test", data_dir=tmp_path / "var",
                        tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png",
                        base_url="https://map.example.jp/geoapp")
    with TestClient(create_app(settings)) as client:
        directives = policy(client.get("/reports/new", headers=HTML))
    assert "https://*.tile.example.org" in directives["img-src"]
    assert "https://cyberjapandata.gsi.go.jp" not in directives["img-src"]
    # Links and fetches go to the public address, which may not be the one asked.
    assert directives["connect-src"] == ["'self'", "https://map.example.jp"]
    assert directives["form-action"] == ["'self'", "https://map.example.jp"]


def test_hsts_only_over_https(settings):
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as secure:
        for url in ("/", "/collections/shelters/items", "/staff/login"):
            assert secure.get(url, headers=HTML).headers["strict-transport-security"] == (
                "max-age=63072000")
    with TestClient(app) as plain:
        assert "strict-transport-security" not in plain.get("/", headers=HTML).headers


def test_an_unexpected_error_carries_the_headers_too(settings):
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert_headers(response)
    assert response.headers["content-security-policy"] == STRICT
