"""One intake for every door that takes a request: who sent it (through trusted proxies),
which language to answer in, and the keys that arrive in headers, read before any body.

The body limits are in `geoapp.web.intake_limits`, form reading in `geoapp.web.intake_forms`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request

from geoapp.i18n import DEFAULT_LANG, Lang, pick_lang

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR blocks (``10.0.0.0/8``, ``127.0.0.1``) as networks."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False)
                 for value in values if value.strip())


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: Request) -> str:
    """The client's address: the peer, or X-Forwarded-For's hop just before our proxies.

    X-Forwarded-For is believed only when the peer is one of the proxies named in
    ``GEOAPP_TRUSTED_PROXIES``, and only as far back as the chain stays among them, so a
    client cannot choose its own address by sending the header itself.
    """
    peer = request.client.host if request.client else "unknown"
    networks: tuple[Network, ...] = request.app.state.trusted_proxies
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for header in request.headers.getlist("x-forwarded-for")
            for hop in header.split(",") if hop.strip()]
    address = peer
    while hops and _trusted(address, networks):
        address = hops.pop()
    return address


def answer_lang(request: Request, form_lang: object = None, *, page: bool = False) -> Lang:
    """The one language resolver: the form's ``lang``, else ``?lang=``, else Accept-Language.

    Pages, their error pages, problem bodies and Open311 all ask here. A page (``page``)
    does not follow Accept-Language: its language is in its URL, so its links, its form and
    a refusal sent before the body is read (413, no form to ask) keep it. Japanese when
    nothing says otherwise.
    """
    asked = str(form_lang or "") or request.query_params.get("lang")
    if asked:
        return pick_lang(asked)
    if page:
        return DEFAULT_LANG
    preferred = request.headers.get("accept-language", "").split(",")[0].split(";")[0]
    return pick_lang(preferred)


def bearer_key(request: Request) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header (bus devices), if any."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return None
    return auth[7:].strip() or None


def device_key(request: Request) -> str | None:
    """A wildlife device's key: ``X-Device-Key``, else ``Authorization: Bearer``."""
    return request.headers.get("x-device-key") or bearer_key(request)


def api_key_before_body(request: Request) -> str | None:
    """An Open311 ``api_key`` sent where it can be checked before the body is read.

    That is the query string or an ``X-Api-Key`` header; a key in the form itself can only
    be checked after the (size-limited) form is read.
    """
    return request.query_params.get("api_key") or request.headers.get("x-api-key") or None
