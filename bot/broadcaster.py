"""Delivers channel notices queued by the desk."""

from __future__ import annotations

from typing import Any

from bot.transports.registry import Transports


class Broadcaster:
    kinds = frozenset({"notice"})

    def __init__(self, transports: Transports) -> None:
        self._transports = transports

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        transport = self._transports.get(payload["transport"], payload["network"])
        await transport.notice(payload["target"], payload["text"])
