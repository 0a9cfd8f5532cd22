"""Telling an incident's channel what paging did, through the outbox like every announcement."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot.core.effects import to_own_channel, to_row
from bot.core.ports import Channel
from storage.unit_of_work import Transaction


class Announcer:
    """Queues a `notice` to the channel where the incident was opened (its first timeline
    entry says where) when the bot is still in it, else to every broadcast channel."""

    def __init__(self, channels: Callable[[], Sequence[Channel]]) -> None:
        self._channels = channels

    async def announce(
        self, tx: Transaction, incident_id: int, key: str, text: str, now: datetime
    ) -> bool:
        """Queue `text`; False when an announcement with this key was queued before (a
        retried delivery reporting the same failure again, say)."""
        first = (await tx.timeline.first_of([incident_id])).get(incident_id)
        own = None
        if first is not None and first.transport and first.network and first.channel:
            own = Channel(first.transport, first.network, first.channel)
        new = False
        for queued in to_own_channel(key, text, own, list(self._channels())):
            if await tx.outbox.add(*to_row(queued), now):
                new = True
        return new
