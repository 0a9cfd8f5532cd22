"""The pager: pages, escalates, acknowledges and resolves, always inside a transaction.

Every change is written to the `pages` table, the incident's timeline and the outbox (one row
per provider delivery) together, so a crash anywhere leaves either all of it or none of it,
and the escalation timer (`pages.escalate_at`) survives restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.config.models import EscalationManager, PagingConfig
from bot.core.effects import Page, Queued, to_row
from bot.incidents.metrics import format_duration
from bot.paging.announce import Announcer
from bot.paging.delivery import (
    ACKNOWLEDGE,
    PAGER_IDENTITY,
    RESOLVE,
    TRIGGER,
    PageEvent,
    PagingProvider,
)
from bot.paging.policy import dedup_key, escalate_at, next_manager
from bot.paging.rotation import Override, Rotation
from commands import paging_replies as say
from commands.auth import irc_casefold
from storage.models import Incident, PageRecord
from storage.paging import ACKNOWLEDGED, ESCALATED, FAILED, RESOLVED, TRIGGERED, WAITING
from storage.timeline import Where
from storage.unit_of_work import Transaction

log = logging.getLogger("statusdesk.paging")


@dataclass(frozen=True, slots=True)
class Paged:
    """The outcome of asking for a page: what to answer, and whether a page went out."""

    text: str
    started: bool


class Pager:
    def __init__(
        self,
        config: PagingConfig,
        providers: Sequence[PagingProvider],
        announcer: Announcer,
        *,
        bot_nick: str,
        incident_url: Callable[[int], str | None] = lambda _: None,
    ) -> None:
        self.config = config
        self.rotation = Rotation.from_config(config)
        self._providers = list(providers)
        self._announcer = announcer
        self._incident_url = incident_url
        self._bot_nick = bot_nick
        self._managers = {m.name: m for m in config.escalation_managers}

    def reconfigure(self, config: PagingConfig) -> None:
        """The rotation and the escalation managers of a reloaded configuration (built first,
        then swapped: a page being sent sees the old ones or the new ones)."""
        rotation = Rotation.from_config(config)
        managers = {m.name: m for m in config.escalation_managers}
        self.config, self.rotation, self._managers = config, rotation, managers

    # --- who is who ----------------------------------------------------------------------

    def manager(self, name: str) -> EscalationManager | None:
        return self._managers.get(name)

    def find_manager(self, nick: str) -> EscalationManager | None:
        """The escalation manager a chat nick names: their name, IRC nick or Matrix id."""
        for manager in self._managers.values():
            contacts = manager.contacts
            if manager.name.casefold() == nick.casefold() or nick == contacts.matrix or (
                    contacts.irc and irc_casefold(contacts.irc) == irc_casefold(nick)):
                return manager
        return None

    def providers_for(self, manager: EscalationManager, action: str) -> list[str]:
        return [p.name for p in self._providers
                if action in p.actions and p.reaches(manager.contacts)]

    async def overrides(self, tx: Transaction, now: datetime) -> list[Override]:
        rows = await tx.oncall_overrides.in_force_after(now)
        return [Override(r.manager, r.starts_at, r.ends_at) for r in rows
                if r.manager in self._managers]

    # --- paging --------------------------------------------------------------------------

    async def page(
        self, tx: Transaction, incident: Incident, where: Where, now: datetime,
        text: str | None = None,
    ) -> Paged:
        """Start a round of paging for the incident, unless one is going on."""
        await tx.incidents.get(incident.id, for_update=True)
        live = await tx.pages.live(incident.id)
        if live:
            current = live[-1]
            return Paged(say.already_paging(current.manager, incident.id, current.step,
                                            len(current.chain), current.created_at),
                         started=False)
        chain = self.rotation.chain(now, await self.overrides(tx, now))
        round_ = await tx.pages.last_round(incident.id) + 1
        page = await self._step(tx, incident, round_, 1, chain, text, where.actor, now)
        await tx.timeline.append(incident.id, "page.sent", where, now, new=page.manager,
                                 text=self._step_text(page), public=False)
        return Paged(say.paging(page.manager, incident.id, self._step_text(page)),
                     started=True)

    def _step_text(self, page: PageRecord) -> str:
        manager = self._managers.get(page.manager)
        via = self.providers_for(manager, TRIGGER) if manager else []
        return say.step_text(page.step, len(page.chain), via, page.text)

    async def _step(
        self, tx: Transaction, incident: Incident, round_: int, step: int, chain: list[str],
        text: str | None, paged_by: str, now: datetime,
    ) -> PageRecord:
        page = await tx.pages.add(
            incident_id=incident.id, round=round_, step=step, manager=chain[step - 1],
            chain=chain, status=TRIGGERED, dedup_key=dedup_key(incident.id, round_, step),
            text=text, paged_by=paged_by, deliveries=0, rejected=0, created_at=now,
            escalate_at=escalate_at(now, self.config.ack_timeout),
            updated_at=now,
        )
        page.deliveries = await self._queue(tx, page, incident, TRIGGER, now)
        if page.deliveries == 0:
            # Nothing can reach this manager: do not wait ack_timeout for them.
            page.status = FAILED
            page.escalate_at = now
        return page

    async def _queue(
        self, tx: Transaction, page: PageRecord, incident: Incident, action: str,
        now: datetime, actor: str | None = None,
    ) -> int:
        manager = self._managers.get(page.manager)
        if manager is None:
            return 0
        event = PageEvent(
            action=action, page_id=page.id, incident_id=incident.id, title=incident.title,
            severity=incident.severity, round=page.round, step=page.step,
            steps=len(page.chain), manager=manager, dedup_key=page.dedup_key, text=page.text,
            paged_by=page.paged_by, at=now, incident_url=self._incident_url(incident.id),
            actor=actor,
        )
        rows = [
            to_row(Queued(Page(name, incident.id, event.payload()),
                          f"page:{page.id}:{name}:{action}"))
            for name in self.providers_for(manager, action)
        ]
        await tx.outbox.add_many(rows, now)
        return len(rows)

    # --- escalating ----------------------------------------------------------------------

    async def escalate(self, tx: Transaction, page_id: int, now: datetime) -> str | None:
        """The timer of page `page_id` ran out: page the next manager of the chain, unless
        someone acknowledged (or it escalated) meanwhile. What was said."""
        found = await tx.pages.get(page_id)
        if found is None:
            return None
        incident = await tx.incidents.get(found.incident_id, for_update=True)
        page = await tx.pages.get(page_id, for_update=True)
        if page is None or page.status not in WAITING or page.escalate_at is None \
                or page.escalate_at > now:
            return None
        page.escalate_at = None
        page.updated_at = now
        if incident is None or incident.state == "resolved":
            await self.resolve(tx, page.incident_id, Where(self._bot_nick, PAGER_IDENTITY),
                               now)
            return None
        where = Where(actor=self._bot_nick, identity=PAGER_IDENTITY)
        nxt = next_manager(page.chain, page.step)
        reason = say.not_acknowledged_reason(page.status == FAILED,
                                             format_duration(self.config.ack_timeout))
        if nxt is None:
            text = say.unanswered(incident.id, page.manager, reason, page.chain)
            await tx.timeline.append(incident.id, "page.unanswered", where, now,
                                     old=page.manager, text=text, public=False)
            await self._announcer.announce(tx, incident.id, f"page-unanswered:{page.id}",
                                           text, now)
            return text
        page.status = ESCALATED
        step = await self._step(tx, incident, page.round, page.step + 1, list(page.chain),
                                page.text, page.paged_by, now)
        detail = self._step_text(step)
        await tx.timeline.append(incident.id, "page.escalated", where, now, old=page.manager,
                                 new=step.manager,
                                 text=say.escalated_entry(page.manager, reason, detail),
                                 public=False)
        text = say.escalated(page.manager, reason, incident.id, step.manager, detail)
        await self._announcer.announce(tx, incident.id, f"page-escalated:{page.id}", text, now)
        log.info("incident #%d: escalated from %s to %s", incident.id, page.manager,
                 step.manager)
        return text

    # --- acknowledging and resolving -----------------------------------------------------

    async def acknowledge(
        self, tx: Transaction, incident: Incident, by: str, where: Where, now: datetime,
        *, via: str = "chat",
    ) -> list[PageRecord]:
        """Acknowledge every live page of the incident; the escalation stops."""
        await tx.incidents.get(incident.id, for_update=True)
        live = list(await tx.pages.live(incident.id))
        for page in live:
            page.status = ACKNOWLEDGED
            page.acknowledged_at = now
            page.acknowledged_by = by
            page.escalate_at = None
            page.updated_at = now
            if page.deliveries > page.rejected:
                await self._queue(tx, page, incident, ACKNOWLEDGE, now, actor=by)
        if live:
            if incident.acknowledged_at is None:
                incident.acknowledged_at = now
            paged = ", ".join(dict.fromkeys(p.manager for p in live))
            await tx.timeline.append(incident.id, "page.acknowledged", where, now, new=by,
                                     text=f"via {via}; paged: {paged}", public=False)
        return live

    async def resolve(self, tx: Transaction, incident_id: int, where: Where, now: datetime
                      ) -> int:
        """Resolve every page of the incident at the providers; how many there were."""
        incident = await tx.incidents.get(incident_id, for_update=True)
        pages = await tx.pages.unresolved(incident_id)
        for page in pages:
            page.status = RESOLVED
            page.resolved_at = now
            page.escalate_at = None
            page.updated_at = now
            if incident is not None and page.deliveries > page.rejected:
                await self._queue(tx, page, incident, RESOLVE, now, actor=where.actor)
        if pages:
            await tx.timeline.append(incident_id, "page.resolved", where, now,
                                     text=f"{len(pages)} page(s) resolved", public=False)
        return len(pages)

