"""Delivers channel notices queued by the desk."""

from __future__ import annotations

from typing import Any

from bot.core.effects import Notice, channel_effect
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

    kinds = frozenset({Notice.kind})

    def __init__(self, transports: Transports) -> None:
        self._transports = transports

    def _notice(self, kind: str, payload: dict[str, Any]) -> Notice:
        try:
            effect = channel_effect(kind, payload)
        except ValueError as error:
            raise DeliveryRejected(str(error)) from error
        if not isinstance(effect, Notice):
            raise DeliveryRejected(f"{kind} is not a notice")
        return effect

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        notice = self._notice(kind, payload)
        transport = self._transports.to(notice.channel)
        await transport.notice(notice.channel.name, notice.text)

    def stages(self, kind: str, payload: dict[str, Any]) -> bool:
        return self._can(StagedNotices, kind, payload)

    async def deliver_staged(self, kind: str, payload: dict[str, Any],
                             before_write: BeforeWrite) -> None:
        notice, transport = self._with(StagedNotices, kind, payload)
        await transport.notice_staged(notice.channel.name, notice.text, before_write)

    def repeats_safely(self, kind: str, payload: dict[str, Any]) -> bool:
        return self._can(KeyedNotices, kind, payload)

    async def deliver_keyed(self, kind: str, payload: dict[str, Any], key: str) -> None:
        notice, transport = self._with(KeyedNotices, kind, payload)
        await transport.notice_keyed(notice.channel.name, notice.text, key)

    def _can(self, ability: type, kind: str, payload: dict[str, Any]) -> bool:
        try:
            transport = self._transports.to(self._notice(kind, payload).channel)
        except DeliveryRejected:
            return False
        return isinstance(transport, ability)

    def _with(self, ability: type, kind: str, payload: dict[str, Any]) -> tuple[Notice, Any]:
        """The notice and its transport, which has `ability` (a protocol checked at run
        time; `Any` because mypy takes no protocol class as a `type[T]`)."""
        notice = self._notice(kind, payload)
        transport = self._transports.to(notice.channel)
        if not isinstance(transport, ability):
            # Replaced since it was looked at: next time it goes the ordinary way.
            raise DeliveryUnavailable(f"{transport.name}/{transport.network} changed")
        return notice, transport
