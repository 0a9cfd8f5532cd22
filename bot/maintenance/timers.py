"""The maintenance timers: heads-up, start and end question, run by the leader only.

The schedule and what was already done (`heads_up_at`, `started_at`, `end_asked_at`) are
columns, so they survive restarts and failover: the first pass of a new term (or of a
restarted bot) fires whatever fell due meanwhile, once, since a timer's mark commits with its
announcement (and only while this instance still holds the lease).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.core.events import DeskEvent, EventBus
from bot.core.timer_passes import run_timer_passes
from bot.maintenance import rules
from bot.maintenance.windows import TIMER_IDENTITY, Windows, marks
from storage.models import utcnow
from storage.timeline import Where
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.maintenance")

MAX_SLEEP = 30.0
"""Longest wait between passes, so a clock jump or a window scheduled on another instance is
noticed soon."""


class MaintenanceTimers:
    def __init__(
        self,
        store: Store,
        windows: Windows,
        bus: EventBus,
        *,
        bot_nick: str,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._windows = windows
        self._bus = bus
        self._clock = clock
        self.on_queued = on_queued
        """Wakes the outbox after announcements were queued."""
        self._where = Where(actor=bot_nick, identity=TIMER_IDENTITY, transport=None,
                            network=None, channel=None)
        self._wake = asyncio.Event()
        self.fired = 0
        """Timers fired since start (for tests and metrics)."""

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Fire what is due, sleep until the next timer (or a wake-up); until cancelled."""
        await run_timer_passes(self.check, self._seconds_until_next, self._wake, log,
                               "maintenance timer pass")

    async def check(self) -> int:
        """One pass: fire every timer due now. How many were fired."""
        now = self._clock()
        before = self._windows.announce_before
        events: list[DeskEvent] = []
        fired = 0
        async with self._store.transaction() as tx:
            due = await tx.maintenance.due(now, now + before if before is not None else None)
            for maintenance_id in due:
                maintenance = await tx.maintenance.get(maintenance_id, for_update=True)
                if maintenance is None:
                    continue
                for timer in rules.timers_due(marks(maintenance), now, before):
                    events += await self._windows.fire(tx, maintenance, timer, self._where,
                                                       now)
                    fired += 1
        for event in events:
            self._bus.publish(event)
        if fired:
            self.fired += fired
            log.info("fired %d maintenance timer(s)", fired)
            self.on_queued()
        return fired

    async def _seconds_until_next(self) -> float:
        before = self._windows.announce_before
        async with self._store.reading() as tx:
            live = await tx.maintenance.live()
        times = [t for t in (rules.next_timer(marks(m), before) for m in live) if t is not None]
        if not times:
            return MAX_SLEEP
        return max(0.05, min(MAX_SLEEP, (min(times) - self._clock()).total_seconds()))
