"""Queues the filing of an action item as a ticket, inside the command's transaction.

The follow-up extension decides (`#action A7 file` → `ActionFilingRequested`); this one
turns the decision into an outbox effect in the same transaction, so the request commits,
or rolls back, with the timeline entry that records it. With
`postmortem.file_every_action`, every new item (`ActionChanged` `added`) is queued too.
"""

from __future__ import annotations

from bot.core.events import ActionChanged, ActionFilingRequested, DeskEvent
from bot.core.extension import Applying
from bot.tickets.filing_request import KIND, lane_of, request_for, ticket_body
from commands.filing_targets import FilingTarget
from commands.model import Command


class TicketFilingExtension:
    commands: tuple[type, ...] = ()

    def __init__(self, target: FilingTarget, *, installation: str,
                 file_every_action: bool = False) -> None:
        self._target = target
        self._installation = installation
        self._every = file_every_action

    async def apply(self, command: Command, ctx: Applying) -> None:
        return None

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        match event:
            case ActionFilingRequested(action_id=action_id):
                await self._queue(action_id, ctx)
            case ActionChanged(action_id=action_id, change="added") if self._every:
                await self._queue(action_id, ctx)

    async def _queue(self, action_id: int, ctx: Applying) -> None:
        item = await ctx.tx.actions.get(action_id, for_update=True)
        if item is None or item.ticket_url:
            return
        if await ctx.tx.outbox.lane_busy(lane_of(item.id)):
            return  # asked again while the first request is still on its way
        incident = await ctx.tx.incidents.get(item.incident_id)
        request = request_for(
            self._target, action_id=item.id, incident_id=item.incident_id, title=item.text,
            body=ticket_body(action_id=item.id, incident_id=item.incident_id,
                             incident_title=incident.title if incident else None,
                             incident_url=ctx.incident_url(item.incident_id), text=item.text,
                             owner=item.owner, due=item.due.isoformat() if item.due else None,
                             requested_by=ctx.where.actor),
            installation=self._installation)
        # Recorded before anything is sent: whoever looks at the item knows which marker
        # its ticket carries, even if the bot dies before it hears back from the tracker.
        item.filed_marker = request.marker
        if await ctx.tx.outbox.add(KIND, request.lane, request.payload(),
                                   request.key(ctx.now.isoformat()), ctx.now):
            ctx.out.queued = True  # the desk wakes the outbox after commit
