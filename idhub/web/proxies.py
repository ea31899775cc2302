"""Who the client is behind reverse proxies: X-Forwarded-* honoured only from trusted networks.

A proxy appends the address it received the request from to X-Forwarded-For; whatever
the client itself put in front of that is unverified. So the client is the rightmost
address that is not one of our proxies (walking left only through trusted ones), and a
request that does not come from a trusted proxy keeps its own peer address, headers
ignored. Throttling groups IPv6 addresses by /64 (one host usually holds a whole /64).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """The [server] trusted_proxies setting; a wrong entry stops the hub with its text."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"server.trusted_proxies: {value!r} is not a network ({exc})") from exc
    return tuple(networks)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[v6]:port"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "v4:port"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(value: str, networks: tuple[Network, ...]) -> bool:
    address = _address(value)
    return address is not None and any(address in network for network in networks)


def client_hop(peer: str, forwarded_for: str, networks: tuple[Network, ...]) -> tuple[str, int]:
    """(the client's address, how many X-Forwarded-For entries from the right it sits);
    index 0 means the peer itself (not from a trusted proxy, or no header)."""
    if not networks or not _trusted(peer, networks):
        return peer, 0
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for index, hop in enumerate(reversed(hops), start=1):
        if _address(hop) is None:
            return peer, 0  # garbage where a proxy wrote an address: trust nothing
        if not _trusted(hop, networks):
            return str(_address(hop)), index
    # Every hop is one of ours: the leftmost is as far as we can see.
    return (str(_address(hops[0])), len(hops)) if hops else (peer, 0)


def _entry(header: str, index: int, count: int) -> str | None:
    """The value a header list holds for hop `index` (from the right) when the proxies
    append one per hop; else its last value (a proxy that overwrites)."""
    values = [v.strip() for v in header.split(",") if v.strip()]
    if not values:
        return None
    return values[-index] if len(values) == count and index <= count else values[-1]


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR, the scheme and the host as the client sent them,
    read from X-Forwarded-* only when the peer is a trusted proxy."""

    def __init__(self, app: Any, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        if self.networks and forwarded and _trusted(peer, self.networks):
            client, index = client_hop(peer, forwarded, self.networks)
            count = len([h for h in forwarded.split(",") if h.strip()])
            environ["idhub.proxy_peer"] = peer
            environ["REMOTE_ADDR"] = client
            proto = _entry(environ.get("HTTP_X_FORWARDED_PROTO", ""), index, count)
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
            host = _entry(environ.get("HTTP_X_FORWARDED_HOST", ""), index, count)
            if host:
                environ["HTTP_HOST"] = host
        elif self.networks and _trusted(peer, self.networks):
            # A trusted proxy without X-Forwarded-For may still say the scheme was https.
            proto = _entry(environ.get("HTTP_X_FORWARDED_PROTO", ""), 1, 1)
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)


def throttle_key(address: str | None) -> str | None:
    """The source a throttle counts: an IPv4 address, or the /64 an IPv6 address is in."""
    if not address:
        return None
    parsed = _address(address)
    if parsed is None:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(parsed) >> 64 << 64, 64)))
    return str(parsed)
