"""Swaps channel topics for the alert and restores the saved ones afterwards."""

from __future__ import annotations

import logging
from typing import Any

from bot.core.effects import RestoreTopic, SetTopic, channel_effect
from bot.core.ports import Channel, DeliveryRejected, TopicChanged
from bot.transports.registry import Transports
from storage.models import utcnow
from storage.timeline import Where
from storage.unit_of_work import Store
from storage.write_refusals import write_refusal

log = logging.getLogger("statusdesk.topics")


class TopicKeeper:
    """Delivers `set_topic` and `restore_topic` effects, and keeps track of topics people
    set meanwhile.

    The topic in force before the first alert is saved once; a second alert replaces the
    first alert's topic without overwriting what was saved. Each step is safe to repeat, so
    a retry after a crash sets the same topic again rather than losing the saved one. A
    topic someone sets while an alert's is up, on any transport, is the one restored.
    """

    kinds = frozenset({SetTopic.kind, RestoreTopic.kind})
    repeatable = kinds
    """Setting the same topic twice leaves the channel as once."""

    def __init__(self, store: Store, transports: Transports, *, bot_nick: str) -> None:
        self._store = store
        self._transports = transports
        self._bot_nick = bot_nick

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        try:
            effect = channel_effect(kind, payload)
        except ValueError as error:
            raise DeliveryRejected(str(error)) from error
        channel = effect.channel
        key = (channel.transport, channel.network, channel.name)
        transport = self._transports.to(channel)
        match effect:
            case SetTopic(text=text, incident_id=incident_id):
                async with self._store.reading() as tx:
                    already_saved = await tx.topics.get(*key) is not None
                if not already_saved:
                    current = await transport.get_topic(channel.name)
                    async with self._store.transaction() as tx:
                        await tx.topics.save_if_absent(*key, current, utcnow())
                await transport.set_topic(channel.name, text)
                await self._record(channel, incident_id, new=text)
            case RestoreTopic(incident_id=incident_id):
                async with self._store.reading() as tx:
                    saved = await tx.topics.get(*key)
                if saved is None:
                    return
                await transport.set_topic(channel.name, saved.topic or "")
                async with self._store.transaction() as tx:
                    await tx.topics.pop(*key)
                await self._record(channel, incident_id, new=saved.topic or "")
            case _:
                raise DeliveryRejected(f"{kind} is not a topic change")

    async def topic_changed(self, change: TopicChanged) -> None:
        """A transport saw someone else set a topic: during an alert, that is the topic to
        restore afterwards (outside one, nothing is saved and nothing changes)."""
        channel = change.channel
        try:
            async with self._store.transaction() as tx:
                replaced = await tx.topics.replace(channel.transport, channel.network,
                                                   channel.name, change.topic, utcnow())
        except Exception as error:
            if write_refusal(error) is None:  # a refused write is the store's to log, once
                raise
            return
        if replaced:
            log.info("%s: %s set a new topic in %s during the alert; it will be the one "
                     "restored", channel.transport, change.setter, channel.name)

    async def _record(self, channel: Channel, incident_id: int | None, *, new: str) -> None:
        """What the bot did to a channel, in the incident's log (private: it is not news)."""
        if not incident_id:
            return
        where = Where(actor=self._bot_nick, identity="statusdesk topic keeper",
                      transport=channel.transport, network=channel.network,
                      channel=channel.name)
        async with self._store.transaction() as tx:
            if await tx.incidents.get(incident_id) is not None:
                await tx.timeline.append(incident_id, "topic", where, utcnow(),
                                         new=new, public=False)
