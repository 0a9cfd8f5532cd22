"""Subscribers as a desk extension: every event that concerns them queues one notice in the
command's own transaction (it commits, or rolls back, with the change)."""

from __future__ import annotations

from bot.core.events import AlertSet, DeskEvent, IncidentOpened
from bot.core.extension import Applying
from bot.subscribers.delivery import NOTICE, NOTICE_LANE
from bot.subscribers.notices import notice_for
from commands.model import Command


class SubscribersExtension:
    commands: tuple[type, ...] = ()
    """No commands of its own: subscribing happens on the status page."""

    async def apply(self, command: Command, ctx: Applying) -> None:  # pragma: no cover
        raise AssertionError("subscribers apply no commands")

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        if isinstance(event, AlertSet) and any(
                isinstance(e, IncidentOpened) and e.incident_id == event.incident_id
                for e in ctx.out.events):
            return  # the alert that opened the incident: one mail ("opened"), not two
        notice = notice_for(event)
        if notice is None:
            return
        if await ctx.tx.outbox.add(NOTICE, NOTICE_LANE, notice.payload(),
                                   f"subscribers:{notice.key}", ctx.now):
            ctx.out.queued = True
