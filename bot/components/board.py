"""Changing components inside a command's transaction: the one place that writes a status
change, its timeline entries, its broadcast and its `ComponentChanged` event.

Chat (`bot.components.extension`) uses it, and so may anything else that holds components
(a maintenance window is an incident of kind maintenance: `link` it at
`under_maintenance`, `release` it when it completes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.components.rules import after_link, after_release
from bot.core.effects import EVERYWHERE, NOTICE_PREFIX, Notice, broadcast, to_row
from bot.core.events import ComponentChanged
from bot.core.ports import Channel
from commands import component_replies as say
from commands.component_status import is_broadcast_worthy
from storage.models import Component
from storage.timeline import Where
from storage.unit_of_work import Transaction

TIMELINE_KIND = "component"
"""The kind of the timeline entries components write on incidents."""


@dataclass(slots=True)
class Applied:
    """What a change to components produced: events to publish after commit, and whether a
    broadcast was queued in the outbox (then wake it)."""

    events: list[ComponentChanged] = field(default_factory=list)
    queued: bool = False
    released: list[tuple[str, str, list[int]]] = field(default_factory=list)
    """`release` only: (name, status now, incidents still holding it) of each component."""


class ComponentBoard:
    def __init__(self, channels: Callable[[], Sequence[Channel]]) -> None:
        self._channels = channels

    async def set_status(self, tx: Transaction, component: Component, status: str,
                         where: Where, at: datetime, *, text: str | None = None) -> Applied:
        """An operator says what state the component is in: it takes `status`, and every
        live hold on it now holds it there (so a holder letting go later does not bring back
        an older word). The incidents holding it get the timeline entry."""
        out = Applied()
        holds = await tx.components.live_holds([component.id])
        await tx.components.set_hold_statuses(component.id, status)
        await self._change(tx, component, status, where, at, None, text,
                           [h.incident_id for h in holds], out)
        return out

    async def link(self, tx: Transaction, incident_id: int, components: Sequence[Component],
                   status: str, where: Where, at: datetime) -> Applied:
        """The incident holds each component at `status`; worst hold wins."""
        out = Applied()
        for component in components:
            holds = await tx.components.live_holds([component.id])
            others = [h.status for h in holds if h.incident_id != incident_id]
            await tx.components.hold(incident_id, component.id, status, at, where.actor)
            new = after_link(component.status, status, others)
            if new == component.status:
                await tx.timeline.append(incident_id, TIMELINE_KIND, where, at,
                                         text=say.linked_text(component.name, status, new),
                                         old=component.status, new=new)
                continue
            await self._change(tx, component, new, where, at, incident_id, None,
                               [incident_id], out)
        return out

    async def release(self, tx: Transaction, incident_id: int, where: Where,
                      at: datetime) -> Applied:
        """The incident lets go of its components (it resolved): each takes the worst of
        what still holds it, else operational."""
        out = Applied()
        ids = await tx.components.release(incident_id, at)
        if not ids:
            return out
        remaining = await tx.components.live_holds(ids)
        for component_id in ids:
            component = await tx.components.get(component_id, for_update=True)
            if component is None:
                continue
            holders = [h for h in remaining if h.component_id == component_id]
            new = after_release(h.status for h in holders)
            await self._change(tx, component, new, where, at, incident_id, None,
                               [incident_id], out)
            out.released.append((component.name, new, [h.incident_id for h in holders]))
        return out

    async def _change(self, tx: Transaction, component: Component, new: str, where: Where,
                      at: datetime, incident_id: int | None, text: str | None,
                      timeline_on: Sequence[int], out: Applied) -> None:
        old = component.status
        change = await tx.components.set_status(component, new, at, actor=where.actor,
                                                incident_id=incident_id, text=text)
        if change is None:
            return
        entry = say.timeline_text(component.name, old, new, text)
        for holder in dict.fromkeys(timeline_on):
            await tx.timeline.append(holder, TIMELINE_KIND, where, at, text=entry, old=old,
                                     new=new)
            incident = await tx.incidents.get(holder)
            if incident is not None:
                incident.updated_at = at
        if is_broadcast_worthy(new):
            notice = Notice(EVERYWHERE, NOTICE_PREFIX + say.broadcast_text(component.name,
                                                                           new, text))
            queued = broadcast(f"component-change:{change.id}", self._channels(), [notice])
            if queued:
                await tx.outbox.add_many([to_row(q) for q in queued], at)
                out.queued = True
        out.events.append(ComponentChanged(at=at, incident_id=incident_id,
                                           component_id=component.id, name=component.name,
                                           old=old, new=new, text=text))
