"""Five Whys, action items and incident roles as a desk extension: `#why`, `#action`,
`#actions`, `#incident ID role ROLE NICK` (roles other than `lead` and `em`, which the core
applies as `#incident ID lead|em NICK`).

Whys and action items are private timeline entries, like notes: the export shows them, the
page, the feed and the Statuspage JSON never do. Filing an item as a ticket is decided here
and done elsewhere: `#action A7 file` emits `ActionFilingRequested`, which the extension that
files tickets sees in the same transaction (`on_change`) and turns into an outbox effect.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.events import (
    ActionChanged,
    ActionFilingRequested,
    DeskEvent,
    RoleAssigned,
    WhyRecorded,
)
from bot.core.extension import Applying
from commands import followup_replies as say
from commands import model as m
from commands import replies
from commands.model import Command
from storage.action_items import DONE, DROPPED, OPEN
from storage.incident_roles import PUBLIC_ROLES
from storage.models import ActionItem

CLOSED_STATES = {"done": DONE, "drop": DROPPED}


class FollowUpExtension:
    commands: tuple[type, ...] = (m.Why, m.ActionAdd, m.ActionClose, m.ActionFile,
                                  m.ActionList, m.IncidentSetRole)

    def __init__(self, roles: Sequence[str] = ("lead", "em", "comms", "scribe"), *,
                 file_actions_in: str | None = None, can_file: bool = False) -> None:
        self.roles = list(dict.fromkeys(["lead", "em", *roles]))
        self.file_actions_in = file_actions_in
        self.can_file = can_file
        """Set by whatever files tickets (it reacts to `ActionFilingRequested`); without
        it, `#action A7 file` says it cannot, rather than promise a ticket nobody makes."""

    def replace_roles(self, roles: Sequence[str]) -> None:
        """`incidents.roles` of a reloaded configuration (roles already assigned stay on
        their incidents)."""
        self.roles = list(dict.fromkeys(["lead", "em", *roles]))

    async def apply(self, command: Command, ctx: Applying) -> None:
        match command:
            case m.Why(text, incident_id, number):
                await self._why(text, incident_id, number, ctx)
            case m.ActionAdd():
                await self._add(command, ctx)
            case m.ActionClose(action_id, outcome, text):
                await self._close(action_id, outcome, text, ctx)
            case m.ActionFile(action_id):
                await self._file(action_id, ctx)
            case m.ActionList(incident_id):
                await self._list(incident_id, ctx)
            case m.IncidentSetRole(incident_id, role, nick):
                await self._role(incident_id, role, nick, ctx)

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        return None

    # --- Five Whys -------------------------------------------------------------------------

    async def _why(self, text: str, incident_id: int | None, number: int | None,
                   ctx: Applying) -> None:
        incident = await ctx.target_incident(incident_id, say.WHY_USAGE)
        if incident is None:
            return
        tx, actor = ctx.tx, ctx.where.actor
        if number is None:
            entry = await tx.whys.append(incident.id, text, actor, ctx.now)
            number = entry.number
            await tx.timeline.append(incident.id, "why", ctx.where, ctx.now,
                                     text=say.why_timeline_text(number, text), public=False)
            ctx.out.say(say.why_recorded(incident.id, number))
            replaced = False
        else:
            found = await tx.whys.get(incident.id, number)
            if found is None:
                ctx.out.say(say.no_such_why(incident.id, number,
                                            len(await tx.whys.of(incident.id))))
                return
            old = found.text
            found.text, found.author, found.at = text, actor, ctx.now
            await tx.timeline.append(incident.id, "why.replaced", ctx.where, ctx.now,
                                     old=say.why_timeline_text(number, old),
                                     new=say.why_timeline_text(number, text), public=False)
            ctx.out.say(say.why_replaced(incident.id, number))
            replaced = True
        incident.updated_at = ctx.now
        ctx.out.events.append(WhyRecorded(at=ctx.now, incident_id=incident.id, number=number,
                                          replaced=replaced))

    # --- action items ----------------------------------------------------------------------

    async def _add(self, command: m.ActionAdd, ctx: Applying) -> None:
        incident = await ctx.target_incident(command.incident_id, say.ACTION_USAGE)
        if incident is None:
            return
        item = await ctx.tx.actions.add(incident.id, command.text, owner=command.owner,
                                        due=command.due, created_by=ctx.where.actor,
                                        at=ctx.now)
        name = say.action_name(item.id)
        await ctx.tx.timeline.append(incident.id, "action", ctx.where, ctx.now,
                                     text=f"{name}: {command.text}", public=False)
        incident.updated_at = ctx.now
        ctx.out.events.append(ActionChanged(at=ctx.now, incident_id=incident.id,
                                            action_id=item.id, change="added"))
        ctx.out.say(say.action_added(item.id, incident.id, command.owner, command.due))

    async def _item(self, action_id: int, ctx: Applying) -> ActionItem | None:
        item = await ctx.tx.actions.get(action_id, for_update=True)
        if item is None:
            ctx.out.say(say.no_such_action(action_id))
        return item

    async def _close(self, action_id: int, outcome: str, text: str | None,
                     ctx: Applying) -> None:
        item = await self._item(action_id, ctx)
        if item is None:
            return
        state = CLOSED_STATES[outcome]
        if item.state != OPEN:
            ctx.out.say(say.action_already_closed(action_id, item.state))
            return
        item.state, item.closed_by, item.closed_at = state, ctx.where.actor, ctx.now
        item.close_text = text
        name = say.action_name(item.id)
        await ctx.tx.timeline.append(item.incident_id, f"action.{state}", ctx.where, ctx.now,
                                     text=f"{name}: {text}" if text else name, old=OPEN,
                                     new=state, public=False)
        ctx.out.events.append(ActionChanged(at=ctx.now, incident_id=item.incident_id,
                                            action_id=item.id, change=state))
        ctx.out.say(say.action_closed(action_id, state))

    async def _file(self, action_id: int, ctx: Applying) -> None:
        item = await self._item(action_id, ctx)
        if item is None:
            return
        tracker = self.file_actions_in
        if tracker is None:
            ctx.out.say(say.NO_TRACKER)
            return
        if item.ticket_url:
            ctx.out.say(say.action_already_filed(action_id, item.ticket_url))
            return
        if item.state != OPEN:
            ctx.out.say(say.action_not_open(action_id, item.state))
            return
        if not self.can_file:
            ctx.out.say(say.filing_unavailable(action_id))
            return
        await ctx.tx.timeline.append(item.incident_id, "action.file", ctx.where, ctx.now,
                                     text=f"{say.action_name(item.id)} → {tracker}",
                                     public=False)
        ctx.out.events.append(ActionFilingRequested(at=ctx.now, incident_id=item.incident_id,
                                                    action_id=item.id, tracker=tracker))
        ctx.out.say(say.action_filing(action_id, tracker))

    async def _list(self, incident_id: int | None, ctx: Applying) -> None:
        if incident_id is not None and await ctx.tx.incidents.get(incident_id) is None:
            ctx.out.say(replies.no_such_incident(incident_id))
            return
        limit = say.MAX_LISTED_ACTIONS
        items = await ctx.tx.actions.open(incident_id, limit=limit + 1)
        more = 0
        if len(items) > limit:
            more = len(await ctx.tx.actions.open(incident_id)) - limit
            items = items[:limit]
        lines = [say.ActionLine(i.id, i.incident_id, i.text, i.owner, i.due, i.ticket_url,
                                i.ticket_state) for i in items]
        ctx.out.say(*say.action_list(lines, ctx.now.date(), incident_id, more))

    # --- roles -----------------------------------------------------------------------------

    async def _role(self, incident_id: int, role: str, nick: str, ctx: Applying) -> None:
        if role not in self.roles:
            ctx.out.say(say.unknown_role(role, self.roles))
            return
        incident = await ctx.tx.incidents.get(incident_id, for_update=True)
        if incident is None:
            ctx.out.say(replies.no_such_incident(incident_id))
            return
        old = await ctx.tx.roles.assign(incident.id, role, nick, ctx.where.actor, ctx.now)
        if old == nick:
            ctx.out.say(say.role_unchanged(incident.id, role, nick))
            return
        # Only the public roles reach the page (DESIGN §1.7: lead and comms).
        await ctx.tx.timeline.append(incident.id, f"role.{role}", ctx.where, ctx.now,
                                     old=old, new=nick, public=role in PUBLIC_ROLES)
        incident.updated_at = ctx.now
        ctx.out.events.append(RoleAssigned(at=ctx.now, incident_id=incident.id, role=role,
                                           old=old, new=nick))
        ctx.out.say(say.role_changed(incident.id, role, nick))
