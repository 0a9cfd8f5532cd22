"""Admission of live-update (`/api/events`) clients: at most so many overall and so many per
client address.

Each live client holds a connection, and so a file descriptor, for as long as it stays: without
a cap, one address opening ten thousand streams used up the process's open files and the page
went down for everyone. A client turned away gets a 503 at once and its connection back; the
page itself still works for it (live updates are an extra, bot/web/static/live.js).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Literal

Refused = Literal["full", "address"]

IPV6_PREFIX = 64
"""IPv6 clients are counted per /64: one host commonly holds a whole /64 of addresses."""


def address_key(peer: str | None) -> str:
    """What a client is counted under: its IPv4 address, or its IPv6 /64 network.
    Anything else (no peer, a Unix socket) shares one key."""
    if not peer:
        return ""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


class LiveClientLimit:
    """Counts live clients; `enter` admits one or says why not, `leave` gives its place back."""

    def __init__(self, total: int, per_address: int) -> None:
        if total < 1 or per_address < 1:
            raise ValueError("live client limits must be at least 1")
        self.total = total
        self.per_address = min(per_address, total)
        self._by_address: Counter[str] = Counter()
        self._count = 0
        self.refused_full = 0
        self.refused_address = 0

    @property
    def count(self) -> int:
        return self._count

    def enter(self, peer: str | None) -> Refused | None:
        """Admit a client from `peer` (None), or refuse it: `full` overall, or its
        `address` has as many as it may have."""
        key = address_key(peer)
        if self._count >= self.total:
            self.refused_full += 1
            return "full"
        if self._by_address[key] >= self.per_address:
            self.refused_address += 1
            return "address"
        self._by_address[key] += 1
        self._count += 1
        return None

    def admits(self, peer: str | None) -> bool:
        """Whether `enter` would admit a client from `peer` now (nothing is counted)."""
        return (self._count < self.total
                and self._by_address.get(address_key(peer), 0) < self.per_address)

    def leave(self, peer: str | None) -> None:
        key = address_key(peer)
        if key not in self._by_address:
            return  # never admitted: nothing to give back
        left = self._by_address[key] - 1
        if left > 0:
            self._by_address[key] = left
        else:
            # Forgotten at zero: ten thousand addresses that came and went take no memory.
            del self._by_address[key]
        self._count -= 1

    def addresses(self) -> int:
        """Addresses with at least one live client."""
        return len(self._by_address)
