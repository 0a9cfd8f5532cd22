"""The escalation policy as pure decisions: keys, timers, who may acknowledge, when to page.

The pager (`bot.paging.pager`) applies these to the stored pages; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.config.models import EscalationManager
from bot.core.events import DeskEvent, IncidentOpened, SeverityChanged
from commands.auth import Identity, Principal
from commands.model import Role

__all__ = [
    "PAGERDUTY_SEVERITY",
    "auto_page_severity",
    "dedup_key",
    "escalate_at",
    "is_paged_person",
    "may_acknowledge",
    "next_manager",
]

PAGERDUTY_SEVERITY = {1: "critical", 2: "error", 3: "warning", 4: "info"}
"""Incident severity (1 worst) as PagerDuty's `payload.severity`."""


def dedup_key(incident_id: int, round_: int, step: int) -> str:
    """The provider-side key of one step of one round of paging an incident.

    Stable: a retried delivery (after a timeout, a 5xx, a crash) carries the same key, so
    PagerDuty and Opsgenie fold it into the alert the first attempt opened.
    """
    return f"statusdesk-incident-{incident_id}-page-{round_}-step-{step}"


def escalate_at(now: datetime, ack_timeout: timedelta) -> datetime:
    """When a step paged at `now` escalates if nobody acknowledges it. The last step of the
    chain has a timer too: when it runs out, the channel hears that nobody answered."""
    return now + ack_timeout


def next_manager(chain: Sequence[str], step: int) -> str | None:
    """Who step `step + 1` pages (None: everyone in the chain has been paged)."""
    return chain[step] if step < len(chain) else None


def auto_page_severity(event: DeskEvent, threshold: int | None) -> int | None:
    """The severity that makes this change page automatically, or None.

    An incident pages when it is opened at `threshold` or worse, or when its severity is
    raised across the threshold (sev3 -> sev1 pages; sev1 -> sev2 -> sev1 pages again only if
    nobody is being paged already, which the pager checks).
    """
    if threshold is None:
        return None
    match event:
        case IncidentOpened(severity=severity) if severity <= threshold:
            return severity
        case SeverityChanged(old=old, new=new) if new <= threshold and (
                old is None or old > threshold):
            return new
    return None


def is_paged_person(
    manager: EscalationManager, principal: Principal | None, identity: Identity
) -> bool:
    """Whether the sender proves to be `manager`: the whitelisted user of that name, or a
    verified identity (IRC services account, Matrix user id) that is one of their contacts.

    A bare IRC nick proves nothing (anyone can take it), so it counts only through the
    whitelist, where trusting nicks is an explicit choice (`irc: {nick: ...}`).
    """
    contacts = manager.contacts
    if principal is not None:
        if principal.name.casefold() == manager.name.casefold():
            return True
        if contacts.matrix and principal.matrix_user == contacts.matrix:
            return True
        # Under the sender's network's case mapping: `[x]` and `{x}` are one name only on a
        # network that says so.
        if contacts.irc and identity.fold(contacts.irc) in {
            identity.fold(v) for v in (principal.irc_account, principal.irc_nick) if v
        }:
            return True
    if contacts.matrix and identity.transport == "matrix" and \
            identity.matrix_user == contacts.matrix:
        return True
    return bool(
        contacts.irc and identity.transport == "irc" and identity.account
        and identity.fold(identity.account) == identity.fold(contacts.irc)
    )


def may_acknowledge(
    paged: Sequence[EscalationManager], principal: Principal | None, identity: Identity
) -> bool:
    """The paged people (any step of the round) and admins may acknowledge."""
    if principal is not None and Role.ADMIN in principal.roles:
        return True
    return any(is_paged_person(manager, principal, identity) for manager in paged)
