"""Paging's command rules: who may do what, and what to answer, decided without I/O (as
`bot.core.rules` does for the desk).

The extension (`bot.paging.extension`) reads what a rule needs, asks the rule, and applies
the outcome; every rule here can be tested with plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from bot.config import EscalationManager
from bot.paging.policy import is_paged_person, may_acknowledge
from bot.paging.rotation import Override, Rotation, local_time
from commands import paging_replies as say
from commands import replies
from commands.auth import Identity, Principal
from commands.model import Role

# --- #page ---------------------------------------------------------------------------------------


def page_refusal(incident_id: int, state: str) -> str | None:
    """Why the incident cannot be paged for (None: it can)."""
    return say.resolved_nobody_to_page(incident_id) if state == "resolved" else None


# --- #ack ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """Nothing to apply: just say `reply`."""

    reply: str


@dataclass(frozen=True, slots=True)
class AckTarget:
    incident_id: int


def ack_target(
    live: Sequence[tuple[int, str]],
    manager: Callable[[str], EscalationManager | None],
    principal: Principal | None,
    identity: Identity,
) -> AckTarget | Answer:
    """`#ack` without an id: the incident paging the sender, if exactly one is.

    `live`: the live pages as (incident id, paged manager's name); `manager`: the configured
    manager of a name (None: no longer configured)."""
    if not live:
        return Answer(say.nobody_paged())
    admin = principal is not None and Role.ADMIN in principal.roles
    mine: set[int] = set()
    for incident_id, name in live:
        paged = manager(name)
        if admin or (paged is not None and is_paged_person(paged, principal, identity)):
            mine.add(incident_id)
    candidates = mine or {incident_id for incident_id, _ in live}
    if len(candidates) > 1:
        return Answer(say.several_paged(list(candidates)))
    (incident_id,) = candidates
    return AckTarget(incident_id)


@dataclass(frozen=True, slots=True)
class AckRefused:
    reason: str
    """For the audit log."""
    reply: str


@dataclass(frozen=True, slots=True)
class AckAccepted:
    who: str
    """Who acknowledged, as the pages record it: the paged manager the sender proved to be,
    else (an admin) the sender."""
    reply: str


def ack(
    incident_id: int,
    paged: Sequence[str],
    managers: Sequence[EscalationManager],
    principal: Principal | None,
    identity: Identity,
    actor: str,
) -> AckRefused | AckAccepted | Answer:
    """`#ack` of an incident. `paged`: the managers its live pages page (empty: none);
    `managers`: those of them still configured; `actor`: the sender's name."""
    if not paged:
        return Answer(say.nobody_paged_for(incident_id))
    if not may_acknowledge(managers, principal, identity):
        reason = say.ack_refusal_reason(incident_id, identity.unverified)
        if identity.unverified:
            return AckRefused(reason, replies.unverified("#ack", identity.unverified))
        return AckRefused(reason, say.ack_refused(incident_id, paged))
    who = next((mgr.name for mgr in managers
                if is_paged_person(mgr, principal, identity)), actor)
    return AckAccepted(who, say.acknowledged(who, incident_id))


# --- #oncall -------------------------------------------------------------------------------------


def on_call(rotation: Rotation, now: datetime, overrides: Sequence[Override], *,
            configured: bool) -> str:
    """The answer to `#oncall`. `configured`: `paging.rotation` is set."""
    current = rotation.on_call(now, overrides)
    upcoming = rotation.next_shift(now, overrides)
    next_from = None
    if upcoming is not None and upcoming.starts_at is not None \
            and upcoming.starts_at != current.ends_at:
        next_from = local_time(upcoming.starts_at, rotation.zone)
    return say.on_call(
        current.manager, override=current.override,
        until=local_time(current.ends_at, rotation.zone) if current.ends_at is not None
        else None,
        next_manager=upcoming.manager if upcoming is not None else None,
        next_from=next_from, rotation=configured, chain=rotation.chain(now, overrides))


@dataclass(frozen=True, slots=True)
class OverrideUntil:
    """The override may be set: `manager` on call from now until `ends` (UTC)."""

    manager: str
    ends: datetime


def override(
    nick: str,
    manager: EscalationManager | None,
    known: Sequence[str],
    until: datetime,
    zone: tzinfo,
    now: datetime,
) -> OverrideUntil | Answer:
    """`#oncall override NICK UNTIL`: `manager` is the one `nick` names (None: nobody);
    `until` the local time given (naive, in the rotation's `zone`)."""
    if manager is None:
        return Answer(say.not_a_manager(nick, known))
    ends = until.replace(tzinfo=zone).astimezone(UTC)
    if ends <= now:
        return Answer(say.time_passed(local_time(ends, zone)))
    return OverrideUntil(manager.name, ends)


def override_set(override: OverrideUntil, on_call_before: str, zone: tzinfo) -> str:
    """The answer once the override is recorded; `on_call_before`: who was on call."""
    instead = on_call_before if on_call_before != override.manager else None
    return say.override_set(override.manager, local_time(override.ends, zone), instead)
