"""Delivers channel notices queued by the desk."""

from __future__ import annotations

from typing import Any

from bot.core.ports import (
    BeforeWrite,
    DeliveryRejected,
    DeliveryUnavailable,
    KeyedNotices,
    StagedNotices,
)
from bot.transports.registry import Transports


class Broadcaster:
    """Notices go out at most once where the network cannot tell a repeat (IRC), and
    exactly once where it deduplicates by a key of ours (Matrix transaction ids). Where the
    transport tells when a notice leaves (IRC), only that moment makes it "being sent": one
    still waiting in flood control at a crash is sent after the restart."""

    kinds = frozenset({"notice"})

    def __init__(self, transports: Transports) -> None:
        self._transports = transports

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        transport = self._transports.get(payload["transport"], payload["network"])
        await transport.notice(payload["target"], payload["text"])

    def stages(self, kind: str, payload: dict[str, Any]) -> bool:
        try:
            transport = self._transports.get(payload["transport"], payload["network"])
        except DeliveryRejected:
            return False
        return isinstance(transport, StagedNotices)

    async def deliver_staged(self, kind: str, payload: dict[str, Any],
                             before_write: BeforeWrite) -> None:
        transport = self._transports.get(payload["transport"], payload["network"])
        if not isinstance(transport, StagedNotices):
            raise DeliveryUnavailable(f"{transport.name}/{transport.network} changed")
        await transport.notice_staged(payload["target"], payload["text"], before_write)

    def repeats_safely(self, kind: str, payload: dict[str, Any]) -> bool:
        try:
            transport = self._transports.get(payload["transport"], payload["network"])
        except DeliveryRejected:
            return False
        return isinstance(transport, KeyedNotices)

    async def deliver_keyed(self, kind: str, payload: dict[str, Any], key: str) -> None:
        transport = self._transports.get(payload["transport"], payload["network"])
        if not isinstance(transport, KeyedNotices):
            # Replaced since it was looked at: next time it goes the ordinary way.
            raise DeliveryUnavailable(f"{transport.name}/{transport.network} changed")
        await transport.notice_keyed(payload["target"], payload["text"], key)
