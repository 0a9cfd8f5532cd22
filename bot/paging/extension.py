"""Paging as a desk extension: `#page`, `#ack`, `#oncall`, `#oncall override`, automatic pages
for severe incidents, and resolving pages with their incident."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.core.events import DeskEvent, StateChanged
from bot.core.extension import Applying
from bot.paging.pager import Pager
from bot.paging.policy import auto_page_severity, is_paged_person, may_acknowledge
from bot.paging.rotation import local_time
from commands import model as m
from commands import paging_replies as say
from commands import replies
from commands.model import Command, Role
from commands.paging_replies import ACK_USAGE, PAGE_USAGE
from storage.models import Incident, PageRecord


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
        if incident.state == "resolved":
            ctx.out.say(say.resolved_nobody_to_page(incident.id))
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
        if not live:
            ctx.out.say(say.nobody_paged_for(incident.id))
            return
        managers = [self._pager.manager(p.manager) for p in live]
        paged = [manager for manager in managers if manager is not None]
        identity = ctx.message.identity
        if not may_acknowledge(paged, ctx.principal, identity):
            reason = say.ack_refusal_reason(incident.id, identity.unverified)
            if identity.unverified:
                await tx.audit.record(ctx.where, ctx.now, command="#ack",
                                      text=ctx.message.text, outcome="refused", reason=reason)
                ctx.out.say(replies.unverified("#ack", identity.unverified))
                return
            await tx.audit.record(ctx.where, ctx.now, command="#ack", text=ctx.message.text,
                                  outcome="refused", reason=reason)
            ctx.out.say(say.ack_refused(incident.id, [p.manager for p in live]))
            return
        who = next((mgr.name for mgr in paged
                    if is_paged_person(mgr, ctx.principal, identity)), ctx.where.actor)
        await self._pager.acknowledge(tx, incident, who, ctx.where, ctx.now)
        await tx.audit.record(ctx.where, ctx.now, command="#ack", text=ctx.message.text,
                              outcome="accepted")
        ctx.out.say(say.acknowledged(who, incident.id))
        self._queued(ctx)

    async def _incident_to_ack(self, ctx: Applying) -> Incident | None:
        """`#ack` without an id: the incident paging the sender, if exactly one is."""
        live = await ctx.tx.pages.live()
        if not live:
            ctx.out.say(say.nobody_paged())
            return None
        admin = ctx.principal is not None and Role.ADMIN in ctx.principal.roles
        mine: dict[int, PageRecord] = {}
        for page in live:
            manager = self._pager.manager(page.manager)
            if admin or (manager is not None and is_paged_person(
                    manager, ctx.principal, ctx.message.identity)):
                mine.setdefault(page.incident_id, page)
        candidates = mine or {p.incident_id: p for p in live}
        if len(candidates) > 1:
            ctx.out.say(say.several_paged(list(candidates)))
            return None
        (incident_id,) = candidates
        return await ctx.tx.incidents.get(incident_id, for_update=True)

    # --- #oncall -------------------------------------------------------------------------

    async def _oncall(self, ctx: Applying) -> None:
        rotation = self._pager.rotation
        overrides = await self._pager.overrides(ctx.tx, ctx.now)
        now = rotation.on_call(ctx.now, overrides)
        upcoming = rotation.next_shift(ctx.now, overrides)
        next_from = None
        if upcoming is not None and upcoming.starts_at is not None \
                and upcoming.starts_at != now.ends_at:
            next_from = local_time(upcoming.starts_at, rotation.zone)
        ctx.out.say(say.on_call(
            now.manager, override=now.override,
            until=local_time(now.ends_at, rotation.zone) if now.ends_at is not None else None,
            next_manager=upcoming.manager if upcoming is not None else None,
            next_from=next_from, rotation=self._pager.config.rotation is not None,
            chain=rotation.chain(ctx.now, overrides)))

    async def _override(self, nick: str, until: datetime, ctx: Applying) -> None:
        manager = self._pager.find_manager(nick)
        if manager is None:
            known = [m.name for m in self._pager.config.escalation_managers]
            ctx.out.say(say.not_a_manager(nick, known))
            return
        zone = self._pager.rotation.zone
        ends = until.replace(tzinfo=zone).astimezone(UTC)
        if ends <= ctx.now:
            ctx.out.say(say.time_passed(local_time(ends, zone)))
            return
        before = self._pager.rotation.on_call(ctx.now, await self._pager.overrides(ctx.tx,
                                                                                  ctx.now))
        await ctx.tx.oncall_overrides.add(manager.name, ctx.now, ends, ctx.where.actor, ctx.now)
        instead = before.manager if before.manager != manager.name else None
        ctx.out.say(say.override_set(manager.name, local_time(ends, zone), instead))
