"""Security headers on every response: a Content-Security-Policy, nosniff, a referrer policy.

HTML pages get a policy that lets them run only geoapp's own script files and the one inline
script block a template marks with the request's nonce (never 'unsafe-inline'), and load
images only from geoapp and the tile servers the map draws. Anything else (GeoJSON, problem
JSON, CSV, photos, scripts, stylesheets) is never meant to be rendered as a document, so it
gets a policy that allows nothing at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geoapp.catalog.registry import Catalog
from geoapp.catalog.spec import TileSource
from geoapp.settings import HOST_PATTERN, Settings

#: Where the middleware leaves the request's nonce (``request.state.csp_nonce``).
NONCE_STATE = "csp_nonce"
#: Everything that is not an HTML page: nothing may load, nothing may frame it.
STRICT_POLICY = "default-src 'none'; frame-ancestors 'none'"
#: Two years. Not includeSubDomains: other hosts under geoapp's name are not geoapp's to bind.
HSTS = "max-age=63072000"


def origin(url: str) -> str | None:
    """The origin of an absolute http(s) URL or URL template, ``{s}`` subdomains as ``*``.

    ``https://{s}.tile.example.org/{z}/{x}/{y}.png`` gives ``https://*.tile.example.org``,
    the CSP wildcard that covers every subdomain Leaflet may pick.
    """
    parts = urlsplit(url.replace("{s}", "*"))
    if parts.scheme not in ("http", "https") or not HOST_PATTERN.fullmatch(parts.netloc):
        return None  # relative, or not a plain host: nothing that could widen the policy
    return f"{parts.scheme}://{parts.netloc}"


def tile_origins(settings: Settings, catalog: Catalog) -> list[str]:
    """The origins the map loads tile images from: the base map and every tile layer."""
    urls = [settings.tile_url]
    for layer in catalog:
        if isinstance(layer.spec.source, TileSource):
            urls.extend(layer.spec.source.urls)
    return _unique(origin(url) for url in urls)


def _unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


@dataclass(frozen=True)
class PagePolicy:
    """The parts of the HTML pages' policy fixed at start-up; the nonce is added per request."""

    #: 'self', plus GEOAPP_BASE_URL's origin when links point there rather than to the host
    #: the page came from.
    own: tuple[str, ...]
    tiles: tuple[str, ...]
    #: Who may put public pages in a frame: 'self' and GEOAPP_EMBED_ORIGINS.
    embedders: tuple[str, ...]

    @classmethod
    def build(cls, settings: Settings, catalog: Catalog) -> PagePolicy:
        """The policy for ``settings`` and the catalogue's tile layers."""
        own = _unique(["'self'", origin(settings.base_url)])
        return cls(tuple(own), tuple(tile_origins(settings, catalog)),
                   tuple(_unique(["'self'", *settings.embed_origins])))

    def header(self, nonce: str, *, staff: bool) -> str:
        """The Content-Security-Policy of one HTML page."""
        own = " ".join(self.own)
        # Public pages (the map above all) may be embedded by the city's own sites; a staff
        # page never: its buttons change reports, so a framing page could trick a click.
        ancestors = "'none'" if staff else " ".join(self.embedders)
        directives = [
            f"default-src {own}",
            # Inline scripts only with this response's nonce: an injected <script> or an
            # onclick= attribute cannot run even if some text escaped its escaping.
            f"script-src {own} 'nonce-{nonce}'",
            # geoapp's stylesheets only: no <style> block or style="" attribute in the HTML.
            # Leaflet positions tiles and markers through element.style (CSSOM), which
            # style-src does not govern, so it needs no 'unsafe-inline'.
            f"style-src {own}",
            # Symbols are data: SVG URIs; the tiles come from their servers.
            " ".join(["img-src", own, "data:", "blob:", *self.tiles]),
            f"connect-src {own}",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action {own}",
            f"frame-ancestors {ancestors}",
        ]
        return "; ".join(directives)


def _is_staff(path: str) -> bool:
    return path == "/staff" or path.startswith("/staff/")


def nonce(request: Request) -> str:
    """This request's CSP nonce, for the ``nonce`` attribute of an inline script."""
    return getattr(request.state, NONCE_STATE, "")


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to every HTTP response.

    It sits outside every other layer (see ``geoapp.app.GeoApp``), so even an unexpected
    500 answer carries them.
    """

    def __init__(self, app: ASGIApp, policy: PagePolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Give the request a fresh nonce, then add the headers to its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})[NONCE_STATE] = request_nonce
        staff = _is_staff(scope["path"])
        # The scheme the server saw. uvicorn runs without proxy headers (a client must not
        # be able to claim HTTPS), so behind a TLS-terminating proxy this is http and the
        # proxy, which owns the certificate, is the one to send HSTS.
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                headers["Content-Security-Policy"] = (
                    self.policy.header(request_nonce, staff=staff) if html else STRICT_POLICY)
                headers["X-Content-Type-Options"] = "nosniff"
                # Staff URLs name reports and filters: they are not sent to anyone, not even
                # as an origin to the tile servers. Public pages send only their origin away.
                headers["Referrer-Policy"] = (
                    "same-origin" if staff else "strict-origin-when-cross-origin")
                if staff:
                    headers["X-Frame-Options"] = "DENY"  # for browsers without frame-ancestors
                if https:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
