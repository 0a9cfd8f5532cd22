"""Keeps the filed tickets' states fresh, like playbook bugs (`playbooks.bug_states`): the
same trackers, the same cache, timeout and rate-limit manners; what it learns is written on
the action items (`ticket_state`, `ticket_checked_at`), which `#actions`, the export and the
bundle read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.playbooks.bug_states import BugStates
from storage.models import utcnow
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.tickets")

BATCH = 200
"""Tickets looked at per round (the least recently checked first)."""

WAIT = 20.0
"""Seconds a round waits for trackers; what has not answered is left for the next."""


class TicketStates:
    def __init__(self, store: Store, states: BugStates, *, every: timedelta,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._states = states
        self._every = max(every, timedelta(seconds=1))
        self._clock = clock
        self.rounds = 0

    async def run(self) -> None:
        """Refresh forever (a leader's task: cancelled when the term ends)."""
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("refreshing ticket states failed: %s", type(error).__name__)
            await asyncio.sleep(self._every.total_seconds())

    async def refresh(self) -> int:
        """One round: ask the trackers about every filed ticket, write what changed.
        Returns how many states were written."""
        async with self._store.reading() as tx:
            items = [(item.id, item.ticket_url) for item in await tx.actions.filed(limit=BATCH)]
        urls = [url for _, url in items if url]
        if not urls:
            self.rounds += 1
            return 0
        known = {state.url: state for state in await self._states.get_many(urls, wait=WAIT)}
        now = self._clock()
        written = 0
        async with self._store.transaction() as tx:
            for action_id, url in items:
                state = known.get(url or "")
                if state is None or state.state == "unknown":
                    continue  # keep the last known state; the reason is not a state
                item = await tx.actions.get(action_id)
                if item is None:
                    continue
                if item.ticket_state != state.state:
                    written += 1
                item.ticket_state, item.ticket_checked_at = state.state, now
        self.rounds += 1
        return written
