"""What the bot answers: reply texts built from plain values, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SEVERITY_NAMES = {1: "critical", 2: "major", 3: "minor", 4: "low"}


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as replies show it."""

    id: int
    title: str
    severity: int
    state: str
    lead: str | None
    manager: str | None
    opened_at: datetime
    latest: str | None = None
    latest_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertView:
    text: str
    set_by: str
    set_at: datetime


def ago(then: datetime, now: datetime) -> str:
    """`just now`, `5m ago`, `3h ago`, `2d ago`."""
    delta = now - then
    if delta < timedelta(minutes=1):
        return "just now"
    if delta < timedelta(hours=1):
        return f"{int(delta.total_seconds() // 60)}m ago"
    if delta < timedelta(days=1):
        return f"{int(delta.total_seconds() // 3600)}h ago"
    return f"{delta.days}d ago"


def posted_while_away(answer: str, posted_at: datetime) -> str:
    """An answer to a command the bot read late (it was posted while the bot was away):
    the effect came late, and the answer says from when."""
    return f"{answer} (posted {posted_at:%Y-%m-%d %H:%M} UTC while I was away; handled now)"


def refusal(command_name: str) -> str:
    return f"you are not authorized to use {command_name}"


def unverified(command_name: str, reason: str) -> str:
    """The sender may be whitelisted, but who they were when they said it cannot be known."""
    return f"could not verify your account, so {command_name} was not applied: {reason}"


def applied_unconfirmed(command_name: str) -> str:
    """The database committed the command but the answer to the COMMIT was lost."""
    return (f"{command_name} was applied (the database confirmed it late; it was not "
            "applied twice).")


def database_unavailable(command_name: str) -> str:
    return (f"{command_name} was not applied: the database is unavailable right now. "
            "Nothing was recorded; please say it again in a minute.")


def database_unwritable(command_name: str, reason: str) -> str:
    """The database answers but takes no writes (`reason`: "the database disk is full")."""
    return (f"{command_name} was not applied: {reason}. Nothing was recorded; "
            "please say it again once that is fixed.")


def not_configured(command_name: str, section: str) -> str:
    return f"{command_name} is not configured here (see the `{section}` section of the config)"


def incident_ref(incident_id: int) -> str:
    return f"#{incident_id}"


def incident_line(incident: IncidentView, now: datetime) -> str:
    """One line: `#12 [sev2 investigating] Gate broken (lead alice, EM bob) — latest (5m ago)`."""
    roles = []
    if incident.lead:
        roles.append(f"lead {incident.lead}")
    if incident.manager:
        roles.append(f"EM {incident.manager}")
    line = f"#{incident.id} [sev{incident.severity} {incident.state}] {incident.title}"
    if roles:
        line += f" ({', '.join(roles)})"
    # An alert incident's first update is its title again: say it once.
    if incident.latest and incident.latest != incident.title:
        when = f" ({ago(incident.latest_at, now)})" if incident.latest_at else ""
        line += f" — {incident.latest}{when}"
    return line


MAX_LISTED = 8
"""Incidents listed in one chat answer; the rest are counted and left to the status page,
since a channel flooded with lines helps nobody in an outage."""


def _listed(incidents: Sequence[IncidentView], now: datetime, page_url: str | None
            ) -> list[str]:
    lines = [incident_line(i, now) for i in incidents[:MAX_LISTED]]
    hidden = len(incidents) - MAX_LISTED
    if hidden > 0:
        where = f": {page_url}" if page_url else "."
        lines.append(f"…and {hidden} more, all on the status page{where}")
    return lines


def incident_list(
    incidents: Sequence[IncidentView], now: datetime, page_url: str | None = None
) -> list[str]:
    if not incidents:
        return ["No open incidents."]
    head = f"{len(incidents)} open incident{'s' if len(incidents) != 1 else ''}:"
    return [head, *_listed(incidents, now, page_url)]


def incident_summary(incident: IncidentView, now: datetime, page_url: str | None) -> list[str]:
    lines = [
        incident_line(incident, now),
        f"opened {incident.opened_at:%Y-%m-%d %H:%M} UTC ({ago(incident.opened_at, now)}), "
        f"severity {incident.severity} ({SEVERITY_NAMES[incident.severity]})",
    ]
    if page_url:
        lines.append(page_url)
    return lines


def now_answer(
    alert: AlertView | None,
    incidents: Sequence[IncidentView],
    now: datetime,
    page_url: str | None,
) -> list[str]:
    """The answer to "what's happening?"."""
    lines = []
    if alert is not None:
        lines.append(f"ALERT: {alert.text} (set by {alert.set_by}, {ago(alert.set_at, now)})")
    if incidents:
        lines.extend(_listed(incidents, now, None))
    if alert is None and not incidents:
        lines.append("All clear: no alert and no open incidents.")
    if page_url:
        lines.append(f"Status page: {page_url}")
    return lines
