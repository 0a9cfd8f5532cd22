"""Swaps channel topics for the alert and restores the saved ones afterwards."""

from __future__ import annotations

from typing import Any

from bot.transports.registry import Transports
from storage.models import utcnow
from storage.timeline import Where
from storage.unit_of_work import Store


class TopicKeeper:
    """Delivers `set_topic` and `restore_topic` effects.

    The topic in force before the first alert is saved once; a second alert replaces the
    first alert's topic without overwriting what was saved. Each step is safe to repeat, so
    a retry after a crash sets the same topic again rather than losing the saved one.
    """

    kinds = frozenset({"set_topic", "restore_topic"})
    repeatable = kinds
    """Setting the same topic twice leaves the channel as once."""

    def __init__(self, store: Store, transports: Transports, *,
                 bot_nick: str = "statusdesk") -> None:
        self._store = store
        self._transports = transports
        self._bot_nick = bot_nick

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        name, network, channel = payload["transport"], payload["network"], payload["target"]
        transport = self._transports.get(name, network)
        if kind == "set_topic":
            async with self._store.reading() as tx:
                already_saved = await tx.topics.get(name, network, channel) is not None
            if not already_saved:
                current = await transport.get_topic(channel)
                async with self._store.transaction() as tx:
                    await tx.topics.save_if_absent(name, network, channel, current, utcnow())
            await transport.set_topic(channel, payload["text"])
            await self._record(payload, new=payload["text"])
            return
        async with self._store.reading() as tx:
            saved = await tx.topics.get(name, network, channel)
        if saved is None:
            return
        await transport.set_topic(channel, saved.topic or "")
        async with self._store.transaction() as tx:
            await tx.topics.pop(name, network, channel)
        await self._record(payload, new=saved.topic or "")

    async def _record(self, payload: dict[str, Any], *, new: str) -> None:
        """What the bot did to a channel, in the incident's log (private: it is not news)."""
        if not payload.get("incident_id"):
            return
        where = Where(actor=self._bot_nick, identity="statusdesk topic keeper",
                      transport=payload["transport"], network=payload["network"],
                      channel=payload["target"])
        async with self._store.transaction() as tx:
            if await tx.incidents.get(int(payload["incident_id"])) is not None:
                await tx.timeline.append(int(payload["incident_id"]), "topic", where, utcnow(),
                                         new=new, public=False)
