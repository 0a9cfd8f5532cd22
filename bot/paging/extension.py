"""Paging as a desk extension: `#page`, `#ack`, `#oncall`, `#oncall override`, automatic pages
for severe incidents, and resolving pages with their incident."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.core.events import DeskEvent, StateChanged
from bot.core.extension import Applying
from bot.paging import rules
from bot.paging.pager import Pager
from bot.paging.policy import auto_page_severity
from commands import model as m
from commands import paging_replies as say
from commands.model import Command
from commands.paging_replies import ACK_USAGE, PAGE_USAGE
from storage.models import Incident


class PagingExtension:
    commands: tuple[type, ...] = (m.Page, m.Ack, m.OnCall, m.OnCallOverride)

    def __init__(self, pager: Pager, *, on_paged: Callable[[], None] = lambda: None) -> None:
        self._pager = pager
        self._on_paged = on_paged
        """Wakes the escalation timer: a new page may be due before its next look."""

    async def apply(self, command: Command, ctx: Applying) -> None:
        match command:
            case m.Page(incident_id, text):
                await self._page(incident_id, text, ctx)
            case m.Ack(incident_id):
                await self._ack(incident_id, ctx)
            case m.OnCall():
                await self._oncall(ctx)
            case m.OnCallOverride(nick, until):
                await self._override(nick, until, ctx)

    async def on_change(self, event: DeskEvent, ctx: Applying) -> None:
        if event.incident_id is None:
            return
        severity = auto_page_severity(event, self._pager.config.auto_page_severity)
        if severity is not None:
            incident = await ctx.tx.incidents.get(event.incident_id, for_update=True)
            if incident is not None and incident.state != "resolved":
                paged = await self._pager.page(ctx.tx, incident, ctx.where, ctx.now,
                                               text=say.automatic_page_text(severity))
                if paged.started:
                    ctx.out.say(paged.text)
                    self._queued(ctx)
        if isinstance(event, StateChanged) and event.resolved:
            resolved = await self._pager.resolve(ctx.tx, event.incident_id, ctx.where, ctx.now)
            if resolved:
                ctx.out.say(say.pages_resolved(event.incident_id))
                self._queued(ctx)

    def _queued(self, ctx: Applying) -> None:
        ctx.out.queued = True
        self._on_paged()

    # --- #page ---------------------------------------------------------------------------

    async def _page(self, incident_id: int | None, text: str | None, ctx: Applying) -> None:
        incident = await ctx.target_incident(incident_id, PAGE_USAGE)
        if incident is None:
            return
        refusal = rules.page_refusal(incident.id, incident.state)
        if refusal is not None:
            ctx.out.say(refusal)
            return
        paged = await self._pager.page(ctx.tx, incident, ctx.where, ctx.now, text=text)
        ctx.out.say(paged.text)
        if paged.started:
            self._queued(ctx)

    # --- #ack ----------------------------------------------------------------------------

    async def _ack(self, incident_id: int | None, ctx: Applying) -> None:
        tx = ctx.tx
        if incident_id is not None:
            incident = await ctx.target_incident(incident_id, ACK_USAGE)
            if incident is None:
                return
        else:
            found = await self._incident_to_ack(ctx)
            if found is None:
                return
            incident = found
        live = await tx.pages.live(incident.id)
        configured = [self._pager.manager(p.manager) for p in live]
        decision = rules.ack(incident.id, [p.manager for p in live],
                             [manager for manager in configured if manager is not None],
                             ctx.principal, ctx.message.identity, ctx.where.actor)
        match decision:
            case rules.Answer(reply):
                ctx.out.say(reply)
            case rules.AckRefused(reason, reply):
                await tx.audit.record(ctx.where, ctx.now, command="#ack",
                                      text=ctx.message.text, outcome="refused", reason=reason)
                ctx.out.say(reply)
            case rules.AckAccepted(who, reply):
                await self._pager.acknowledge(tx, incident, who, ctx.where, ctx.now)
                await tx.audit.record(ctx.where, ctx.now, command="#ack",
                                      text=ctx.message.text, outcome="accepted")
                ctx.out.say(reply)
                self._queued(ctx)

    async def _incident_to_ack(self, ctx: Applying) -> Incident | None:
        """`#ack` without an id: the incident paging the sender, if exactly one is."""
        live = await ctx.tx.pages.live()
        target = rules.ack_target([(p.incident_id, p.manager) for p in live],
                                  self._pager.manager, ctx.principal, ctx.message.identity)
        if isinstance(target, rules.Answer):
            ctx.out.say(target.reply)
            return None
        return await ctx.tx.incidents.get(target.incident_id, for_update=True)

    # --- #oncall -------------------------------------------------------------------------

    async def _oncall(self, ctx: Applying) -> None:
        overrides = await self._pager.overrides(ctx.tx, ctx.now)
        ctx.out.say(rules.on_call(self._pager.rotation, ctx.now, overrides,
                                  configured=self._pager.config.rotation is not None))

    async def _override(self, nick: str, until: datetime, ctx: Applying) -> None:
        zone = self._pager.rotation.zone
        decision = rules.override(
            nick, self._pager.find_manager(nick),
            [m.name for m in self._pager.config.escalation_managers], until, zone, ctx.now)
        if isinstance(decision, rules.Answer):
            ctx.out.say(decision.reply)
            return
        before = self._pager.rotation.on_call(ctx.now, await self._pager.overrides(ctx.tx,
                                                                                  ctx.now))
        await ctx.tx.oncall_overrides.add(decision.manager, ctx.now, decision.ends,
                                          ctx.where.actor, ctx.now)
        ctx.out.say(rules.override_set(decision, before.manager, zone))
