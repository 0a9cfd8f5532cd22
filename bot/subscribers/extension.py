"""Subscribers as a desk extension: every event that concerns them queues one notice in the
command's own transaction (it commits, or rolls back, with the change).

Events some other part commits without the desk (a maintenance window started by its timer)
reach subscribers through the event bus instead (`after_commit`): the notice is queued in a
transaction of its own right after. The notice's key is the same either way, so an event
seen both ways is queued once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime

from bot.core.events import (
    AlertSet,
    ComponentChanged,
    DeskEvent,
    IncidentOpened,
    StateChanged,
)
from bot.core.extension import Applying
from bot.subscribers.delivery import NOTICE, NOTICE_LANE
from bot.subscribers.notices import COMPONENT, Notice, notice_for
from commands.model import Command
from storage.models import utcnow
from storage.unit_of_work import Store, Transaction

log = logging.getLogger("statusdesk.subscribers")

REMEMBERED = 10_000
"""How many notices queued in a command's transaction are remembered, so their events, when
the bus publishes them after the commit, are not queued again (a database round trip)."""


class _Recent:
    def __init__(self, size: int) -> None:
        self._order: deque[str] = deque()
        self._keys: set[str] = set()
        self._size = size

    def add(self, key: str) -> None:
        if key in self._keys:
            return
        self._order.append(key)
        self._keys.add(key)
        if len(self._order) > self._size:
            self._keys.discard(self._order.popleft())

    def __contains__(self, key: str) -> bool:
        return key in self._keys


async def queue_notice(tx: Transaction, notice: Notice, now: datetime) -> bool:
    """Queue `notice` for subscribers in `tx`; False if it was queued already.

    An incident's notice is given the components the incident touches (holds or held) as
    they are now, in the transaction of the change: who hears of it must not depend on
    whether the mailing starts before or after the next `#incident ID affects`."""
    if notice.kind == COMPONENT and notice.incident_id is not None:
        holder = await tx.incidents.get(notice.incident_id)
        if holder is not None and holder.kind == "maintenance":
            # A window taking or releasing its components: its own notice (started,
            # completed) names them; one mail, not one more per component.
            return False
    if notice.incident_id is not None and notice.kind != COMPONENT:
        held = await tx.components.of_incidents([notice.incident_id])
        touched = (*notice.components,
                   *(h.component_id for h in held.get(notice.incident_id, ())))
        notice = dataclasses.replace(notice, components=tuple(dict.fromkeys(touched)))
    return await tx.outbox.add(NOTICE, NOTICE_LANE, notice.payload(),
                               f"subscribers:{notice.key}", now)


def _told_otherwise(event: DeskEvent, events: list[DeskEvent]) -> bool:
    """Whether another notice of the same command says it already: the alert that opened an
    incident is its "opened" notice; a component its incident let go of (or took) is in
    that incident's notice, which names the components it touches. One mail a command."""
    match event:
        case AlertSet(incident_id=incident_id):
            return any(isinstance(e, IncidentOpened) and e.incident_id == incident_id
                       for e in events)
        case ComponentChanged(incident_id=int() as incident_id):
            return any(isinstance(e, IncidentOpened | StateChanged)
                       and e.incident_id == incident_id for e in events)
    return False


class SubscribersExtension:
    commands: tuple[type, ...] = ()
    """No commands of its own: subscribing happens on the status page."""

    def __init__(self, store: Store | None = None, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock
        self._recent = _Recent(REMEMBERED)
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_queued: Callable[[], None] = lambda: None

    async def apply(self, command: Command, ctx: Applying) -> None:  # pragma: no cover
        raise AssertionError("subscribers apply no commands")

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        notice = notice_for(event)
        if notice is None:
            return
        self._recent.add(notice.key)  # decided here, whatever the decision: not on the bus
        if _told_otherwise(event, ctx.out.events):
            return
        if await queue_notice(ctx.tx, notice, ctx.now):
            ctx.out.queued = True

    def after_commit(self, event: DeskEvent) -> None:
        """An event bus subscriber: what the desk's commands did not queue already."""
        notice = notice_for(event)
        if notice is None or notice.key in self._recent or self._store is None:
            return
        if isinstance(event, AlertSet):
            return  # always the desk's (`on_change` decides about it)
        self._recent.add(notice.key)
        task = asyncio.get_running_loop().create_task(self._queue(notice),
                                                      name="subscribers-notice")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _queue(self, notice: Notice) -> None:
        assert self._store is not None
        try:
            async with self._store.transaction() as tx:
                queued = await queue_notice(tx, notice, self._clock())
        except Exception as error:
            log.error("could not queue the %s notice for subscribers: %s", notice.kind,
                      type(error).__name__)
            return
        if queued:
            self.on_queued()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
