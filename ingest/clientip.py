"""The client's address: the peer's, unless the peer is a proxy we were told to trust.

X-Forwarded-For is read from the right, skipping trusted hops, so a client cannot forge its address by
sending the header itself (only what the last trusted proxy appended counts).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(setting: str) -> list[Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip()]


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(peer: str | None, forwarded_for: str | None, networks: Sequence[Network]) -> str:
    if not peer or not forwarded_for or not _trusted(peer, networks):
        return peer or "unknown"
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _trusted(hop, networks):
            return hop
    return peer
