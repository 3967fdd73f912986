"""The client's address: the peer's, unless the peer is a proxy we were told to trust.

X-Forwarded-For is read from the right, skipping trusted hops, so a client cannot forge its address by
sending the header itself (only what the last trusted proxy appended counts). What the rate limit counts is
the client: an IPv4 address, or the /64 of an IPv6 one (one subscriber holds a whole /64); a hop written with
its port (`203.0.113.7:4711`, `[2001:db8::1]:443`) is the same client as without.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_networks(setting: str) -> list[Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip()]


def _address(text: str) -> Address | None:
    """An address as a hop may write it: bare, `v4:port`, `[v6]` or `[v6]:port`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_key(address: Address | None, fallback: str) -> str:
    """What one client is, for the rate limit."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        return str(mapped) if mapped else str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address) if address is not None else fallback


def client_ip(peer: str | None, forwarded_for: str | None, networks: Sequence[Network]) -> str:
    if not peer:
        return "unknown"
    if not forwarded_for or not _trusted(_address(peer), networks):
        return client_key(_address(peer), peer)
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _trusted(_address(hop), networks):
            return client_key(_address(hop), hop)
    return client_key(_address(peer), peer)


def allowed(peer: str | None, networks: Sequence[Network]) -> bool:
    """Whether the peer itself (never a forwarded address) is in `networks`."""
    return _trusted(_address(peer or ""), networks)
