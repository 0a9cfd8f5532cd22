"""Applying each chat event once, however often a network hands it over."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.core.ports import Message
from storage.unit_of_work import Transaction

log = logging.getLogger("statusdesk.desk")

APPLIED_EVENTS_KEPT = timedelta(days=7)
"""How long an applied command's event id is kept: replays (a Matrix sync from an older token,
a retry after a lost COMMIT answer) come within minutes, not days."""
PRUNE_APPLIED_EVERY = timedelta(hours=1)


class AppliedEvents:
    """The ids of the chat events applied, kept in the database with what they did."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._pruned_at = datetime.min.replace(tzinfo=UTC)

    async def claim(self, tx: Transaction, message: Message) -> bool:
        """Claim the message's event for this transaction: False when it was applied before
        (a network handing an event over again after a crash). Committed with the command's
        effects, so a crash either keeps both or loses both, and the replayed event is then
        applied."""
        if message.event_id is None:
            return True
        scope = f"{message.transport}/{message.network}"
        now = self._clock()
        if await tx.inbound_events.claim(scope, message.event_id, now):
            if now - self._pruned_at > PRUNE_APPLIED_EVERY:
                await tx.inbound_events.forget_before(now - APPLIED_EVENTS_KEPT)
                self._pruned_at = now
            return True
        log.info("%s event %s from %s was applied before; not again", scope,
                 message.event_id, message.sender)
        return False
