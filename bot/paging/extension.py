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
from commands import replies
from commands.model import Command, Role
from storage.models import Incident, PageRecord

PAGE_USAGE = "#page #ID [TEXT]"


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
                                               text=f"automatic page for sev{severity}")
                if paged.started:
                    ctx.out.say(paged.text)
                    self._queued(ctx)
        if isinstance(event, StateChanged) and event.resolved:
            resolved = await self._pager.resolve(ctx.tx, event.incident_id, ctx.where, ctx.now)
            if resolved:
                ctx.out.say(f"Resolved the page(s) of incident #{event.incident_id}.")
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
            ctx.out.say(f"Incident #{incident.id} is resolved: there is nobody to page for it.")
            return
        paged = await self._pager.page(ctx.tx, incident, ctx.where, ctx.now, text=text)
        ctx.out.say(paged.text)
        if paged.started:
            self._queued(ctx)

    # --- #ack ----------------------------------------------------------------------------

    async def _ack(self, incident_id: int | None, ctx: Applying) -> None:
        tx = ctx.tx
        if incident_id is not None:
            incident = await ctx.target_incident(incident_id, "#ack #ID")
            if incident is None:
                return
        else:
            found = await self._incident_to_ack(ctx)
            if found is None:
                return
            incident = found
        live = await tx.pages.live(incident.id)
        if not live:
            ctx.out.say(f"Nobody is being paged for incident #{incident.id}.")
            return
        managers = [self._pager.manager(p.manager) for p in live]
        paged = [manager for manager in managers if manager is not None]
        identity = ctx.message.identity
        if not may_acknowledge(paged, ctx.principal, identity):
            names = ", ".join(dict.fromkeys(p.manager for p in live))
            reason = f"not paged for incident #{incident.id}"
            if identity.unverified:
                reason = f"{reason}; account not verified: {identity.unverified}"
                await tx.audit.record(ctx.where, ctx.now, command="#ack",
                                      text=ctx.message.text, outcome="refused", reason=reason)
                ctx.out.say(replies.unverified("#ack", identity.unverified))
                return
            await tx.audit.record(ctx.where, ctx.now, command="#ack", text=ctx.message.text,
                                  outcome="refused", reason=reason)
            # The refusal every command gives (DESIGN §1.4), then why.
            ctx.out.say(f"{replies.refusal('#ack')}: you were not paged for incident "
                        f"#{incident.id} (paged: {names}); only they or an admin may "
                        "acknowledge.")
            return
        who = next((mgr.name for mgr in paged
                    if is_paged_person(mgr, ctx.principal, identity)), ctx.where.actor)
        await self._pager.acknowledge(tx, incident, who, ctx.where, ctx.now)
        await tx.audit.record(ctx.where, ctx.now, command="#ack", text=ctx.message.text,
                              outcome="accepted")
        ctx.out.say(f"Acknowledged: {who} is on incident #{incident.id}; escalation stopped.")
        self._queued(ctx)

    async def _incident_to_ack(self, ctx: Applying) -> Incident | None:
        """`#ack` without an id: the incident paging the sender, if exactly one is."""
        live = await ctx.tx.pages.live()
        if not live:
            ctx.out.say("Nobody is being paged right now.")
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
            ids = ", ".join(f"#{i}" for i in sorted(candidates))
            ctx.out.say(f"Pages are going on for several incidents ({ids}): say which one, "
                        f"e.g. #ack {min(candidates)}.")
            return None
        (incident_id,) = candidates
        return await ctx.tx.incidents.get(incident_id, for_update=True)

    # --- #oncall -------------------------------------------------------------------------

    async def _oncall(self, ctx: Applying) -> None:
        rotation = self._pager.rotation
        overrides = await self._pager.overrides(ctx.tx, ctx.now)
        now = rotation.on_call(ctx.now, overrides)
        line = f"On call now: {now.manager}"
        if now.override:
            line += " (override)"
        if now.ends_at is not None:
            line += f" until {local_time(now.ends_at, rotation.zone)}"
        upcoming = rotation.next_shift(ctx.now, overrides)
        if upcoming is not None:
            line += f"; next: {upcoming.manager}"
            if upcoming.starts_at is not None and upcoming.starts_at != now.ends_at:
                line += f" from {local_time(upcoming.starts_at, rotation.zone)}"
        elif self._pager.config.rotation is None:
            line += " (no rotation configured)"
        chain = rotation.chain(ctx.now, overrides)
        if len(chain) > 1:
            line += f". Escalation order: {' → '.join(chain)}"
        ctx.out.say(line + ".")

    async def _override(self, nick: str, until: datetime, ctx: Applying) -> None:
        manager = self._pager.find_manager(nick)
        if manager is None:
            known = ", ".join(m.name for m in self._pager.config.escalation_managers)
            ctx.out.say(f"{nick} is not an escalation manager (paging.escalation_managers: "
                        f"{known}).")
            return
        zone = self._pager.rotation.zone
        ends = until.replace(tzinfo=zone).astimezone(UTC)
        if ends <= ctx.now:
            ctx.out.say(f"{local_time(ends, zone)} has passed already: give a time to come.")
            return
        before = self._pager.rotation.on_call(ctx.now, await self._pager.overrides(ctx.tx,
                                                                                  ctx.now))
        await ctx.tx.oncall_overrides.add(manager.name, ctx.now, ends, ctx.where.actor, ctx.now)
        instead = f" instead of {before.manager}" if before.manager != manager.name else ""
        ctx.out.say(f"{manager.name} is on call{instead} until {local_time(ends, zone)}.")
