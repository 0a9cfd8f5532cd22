"""Carrying pages to the providers: the protocol every provider implements, and the outbox
deliverer that feeds them.

Each provider delivery is its own outbox row (`page.pagerduty`, `page.email`, ...), written in
the transaction that paged, escalated, acknowledged or resolved. The row names the manager,
not their contact details: routing keys stay in the configuration, out of the database, and
are looked up when the row is delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.config.models import Contacts, EscalationManager
from bot.core.effects import Page
from bot.core.ports import DeliveryRejected
from bot.paging.announce import Announcer
from commands import paging_replies as say
from storage.models import utcnow
from storage.paging import FAILED, TRIGGERED
from storage.timeline import Where
from storage.unit_of_work import Store

log = logging.getLogger("statusdesk.paging")

TRIGGER = "trigger"
ACKNOWLEDGE = "acknowledge"
RESOLVE = "resolve"

PAGER_IDENTITY = "statusdesk paging"
"""The `identity` of timeline entries the pager writes on its own (escalations, failures)."""


@dataclass(frozen=True, slots=True)
class PageEvent:
    """One thing to tell one provider about one page."""

    action: str
    """`trigger`, `acknowledge` or `resolve`."""
    page_id: int
    incident_id: int
    title: str
    severity: int
    round: int
    step: int
    steps: int
    manager: EscalationManager
    dedup_key: str
    text: str | None
    paged_by: str
    at: datetime
    incident_url: str | None
    actor: str | None = None
    """Who acknowledged or resolved (None for a trigger)."""

    @property
    def summary(self) -> str:
        """One line for a pager's screen: `[sev1] #12 Gate broken — text`."""
        line = f"[sev{self.severity}] #{self.incident_id} {self.title}"
        return f"{line} — {self.text}" if self.text else line

    def payload(self) -> dict[str, Any]:
        return {
            "action": self.action, "page_id": self.page_id, "incident_id": self.incident_id,
            "title": self.title, "severity": self.severity, "round": self.round,
            "step": self.step, "steps": self.steps, "manager": self.manager.name,
            "dedup_key": self.dedup_key, "text": self.text, "paged_by": self.paged_by,
            "at": self.at.isoformat(), "incident_url": self.incident_url, "actor": self.actor,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], manager: EscalationManager
                     ) -> PageEvent:
        return cls(
            action=payload["action"], page_id=int(payload["page_id"]),
            incident_id=int(payload["incident_id"]), title=payload["title"],
            severity=int(payload["severity"]), round=int(payload["round"]),
            step=int(payload["step"]), steps=int(payload["steps"]), manager=manager,
            dedup_key=payload["dedup_key"], text=payload.get("text"),
            paged_by=payload["paged_by"], at=datetime.fromisoformat(payload["at"]),
            incident_url=payload.get("incident_url"), actor=payload.get("actor"),
        )


class PagingProvider(Protocol):
    """One way of reaching an escalation manager (PagerDuty, Opsgenie, a webhook, e-mail,
    a chat message).

    `send` raises `DeliveryUnavailable` (with `retry_after` when the far end said when) to
    be retried, `DeliveryRejected` when retrying cannot help.
    """

    name: str
    actions: frozenset[str]
    """The actions this provider carries: a chat message has nothing to resolve."""

    def reaches(self, contacts: Contacts) -> bool:
        """Whether the manager has a contact of this provider's kind."""
        ...

    async def send(self, event: PageEvent) -> None: ...


def kind_of(provider: str) -> str:
    return Page(provider, 0, {}).kind


def deduplicates(provider: PagingProvider) -> bool:
    """Whether the provider's far end folds a repeated delivery into the first (dedup key,
    alias, delivery id), so a page interrupted by a crash is sent again: a provider says so
    with `deduplicates = True` (PagerDuty, Opsgenie, the webhook; not e-mail or chat)."""
    return getattr(provider, "deduplicates", False) is True


class PageDeliverer:
    """The outbox's deliverer for every `page.*` kind.

    A provider's permanent refusal is reported where people look: the incident's channel and
    its timeline. When every provider refused a trigger, the manager cannot be reached at
    all, so the step is marked failed and escalates at once instead of after `ack_timeout`.
    """

    def __init__(
        self,
        providers: Sequence[PagingProvider],
        managers: Sequence[EscalationManager],
        store: Store,
        announcer: Announcer,
        *,
        bot_nick: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._providers = {kind_of(p.name): p for p in providers}
        self.kinds = frozenset(self._providers)
        self.repeatable = frozenset(kind for kind, p in self._providers.items()
                                    if deduplicates(p))
        self._managers = {m.name: m for m in managers}
        self._store = store
        self._announcer = announcer
        self._clock = clock
        self._bot_nick = bot_nick
        self.on_queued: Callable[[], None] = lambda: None
        """Called after a failure report was queued (wakes the outbox and the escalation
        timer)."""

    def replace_managers(self, managers: Sequence[EscalationManager]) -> None:
        """The escalation managers of a reloaded configuration (their contacts)."""
        self._managers = {m.name: m for m in managers}

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        provider = self._providers[kind]
        manager = self._managers.get(payload["manager"])
        if manager is None:
            raise DeliveryRejected(
                f"{payload['manager']} is no longer in paging.escalation_managers")
        event = PageEvent.from_payload(payload, manager)
        try:
            await provider.send(event)
        except DeliveryRejected as error:
            await self._report(provider.name, event, str(error))
            raise
        log.info("%s %s for incident #%d (%s) delivered via %s", event.action, manager.name,
                 event.incident_id, event.dedup_key, provider.name)

    async def _report(self, provider: str, event: PageEvent, reason: str) -> None:
        now = self._clock()
        async with self._store.transaction() as tx:
            key = f"page-failed:{event.page_id}:{provider}:{event.action}"
            await tx.incidents.get(event.incident_id, for_update=True)  # lock order: see pages
            page = await tx.pages.get(event.page_id, for_update=True)
            no_way_left = (event.action == TRIGGER and page is not None
                           and page.status == TRIGGERED and page.rejected + 1 >= page.deliveries)
            text = say.delivery_failed(
                event.action, event.incident_id, event.manager.name, provider, reason,
                no_way_left=no_way_left,
                escalating=no_way_left and page is not None and page.escalate_at is not None
                and page.step < len(page.chain))
            if not await self._announcer.announce(tx, event.incident_id, key, text, now):
                return  # reported already, before a crash kept the outbox from settling
            where = Where(actor=self._bot_nick, identity=PAGER_IDENTITY)
            await tx.timeline.append(event.incident_id, "page.failed", where, now,
                                     new=event.manager.name, text=f"{provider}: {reason}",
                                     public=False)
            if event.action == TRIGGER and page is not None:
                page.rejected += 1
                page.updated_at = now
                if page.status == TRIGGERED and page.rejected >= page.deliveries:
                    page.status = FAILED
                    if page.escalate_at is not None:
                        page.escalate_at = now  # no point waiting ack_timeout
        log.warning("paging %s for incident #%d via %s refused: %s", event.manager.name,
                    event.incident_id, provider, reason)
        self.on_queued()
