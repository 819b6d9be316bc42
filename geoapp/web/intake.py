"""One intake for every door that takes a request: who sent it (through trusted proxies)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request

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
