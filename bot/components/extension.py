"""Components as a desk extension: `#component NAME STATUS [TEXT]`, `#component list` /
`#components`, `#incident ID affects NAME[,NAME...] [STATUS]`, and letting go of an
incident's components when it resolves."""

from __future__ import annotations

from collections.abc import Sequence

from bot.components.board import Applied, ComponentBoard
from bot.core.events import DeskEvent, StateChanged
from bot.core.extension import Applying
from commands import component_replies as say
from commands import model as m
from commands import replies
from commands.component_names import find
from commands.model import Command
from storage.models import Component


class ComponentsExtension:
    commands: tuple[type, ...] = (m.ComponentSet, m.ComponentList, m.IncidentAffects)

    def __init__(self, board: ComponentBoard) -> None:
        self.board = board

    async def apply(self, command: Command, ctx: Applying) -> None:
        match command:
            case m.ComponentSet(name, status, text):
                await self._set(name, status, text, ctx)
            case m.ComponentList():
                rows = await ctx.tx.components.all()
                ctx.out.say(*say.listing([(c.name, c.group_name, c.status) for c in rows]))
            case m.IncidentAffects(incident_id, names, status):
                await self._affects(incident_id, names, status, ctx)

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        if isinstance(event, StateChanged) and event.resolved:
            applied = await self.board.release(ctx.tx, event.incident_id, ctx.where, ctx.now)
            if applied.released:
                back = [name for name, _, holders in applied.released if not holders]
                still = [(name, status, holders) for name, status, holders in applied.released
                         if holders]
                ctx.out.say(say.released(event.incident_id, back, still))
            self._took(applied, ctx)

    async def _set(self, name: str, status: str, text: str | None, ctx: Applying) -> None:
        components = await ctx.tx.components.all(for_update=True)
        component = find(components, name)
        if component is None:
            ctx.out.say(_unknown([name], components))
            return
        if component.status == status:
            ctx.out.say(say.unchanged(component.name, status))
            return
        old = component.status
        applied = await self.board.set_status(ctx.tx, component, status, ctx.where, ctx.now,
                                              text=text)
        ctx.out.say(say.changed(component.name, old, status))
        self._took(applied, ctx)

    async def _affects(self, incident_id: int, names: Sequence[str], status: str,
                       ctx: Applying) -> None:
        incident = await ctx.tx.incidents.get(incident_id, for_update=True)
        if incident is None:
            ctx.out.say(replies.no_such_incident(incident_id))
            return
        if incident.state == "resolved":
            ctx.out.say(say.resolved_incident(incident_id))
            return
        components = await ctx.tx.components.all(for_update=True)
        found = {name: find(components, name) for name in names}
        unknown = [name for name, component in found.items() if component is None]
        if unknown:
            ctx.out.say(_unknown(unknown, components))
            return
        chosen = list({c.id: c for c in found.values() if c is not None}.values())
        applied = await self.board.link(ctx.tx, incident_id, chosen, status, ctx.where,
                                        ctx.now)
        incident.updated_at = ctx.now
        ctx.out.say(say.affects(incident_id, [(c.name, c.status) for c in chosen]))
        self._took(applied, ctx)

    def _took(self, applied: Applied, ctx: Applying) -> None:
        ctx.out.events.extend(applied.events)
        if applied.queued:
            ctx.out.queued = True  # the desk wakes the outbox after commit


def _unknown(words: Sequence[str], components: Sequence[Component]) -> str:
    return say.unknown_component(words, [(c.name, c.id) for c in components])
