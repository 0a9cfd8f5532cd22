"""What the bot answers: reply texts built from plain values, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from commands.component_replies import now_line
from commands.maintenance_replies import now_line as maintenance_now_line

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
    is_alert: bool = False
    """Opened by `#status alert` (clearing the alert resolves it)."""
    roles: tuple[tuple[str, str], ...] = ()
    """(role, nick) of the roles other than lead and em (`incidents.roles`), when known."""


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


def incident_line(incident: IncidentView, now: datetime) -> str:
    """One line: `#12 [sev2 investigating] Gate broken (lead alice, EM bob) — latest (5m ago)`."""
    roles = []
    if incident.lead:
        roles.append(f"lead {incident.lead}")
    if incident.manager:
        roles.append(f"EM {incident.manager}")
    roles += [f"{role} {nick}" for role, nick in incident.roles]
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
    *,
    components: Sequence[tuple[str, str]] = (),
    maintenance: Sequence[tuple[int, str, datetime, str]] = (),
) -> list[str]:
    """The answer to "what's happening?" (`components`: (name, status) of those that are not
    operational; `maintenance`: (id, title, planned end, zone) of the windows in progress)."""
    lines = []
    if alert is not None:
        lines.append(f"ALERT: {alert.text} (set by {alert.set_by}, {ago(alert.set_at, now)})")
    if incidents:
        lines.extend(_listed(incidents, now, None))
    components_line = now_line(components)
    if components_line is not None:
        lines.append(components_line)
    for maintenance_id, title, ends_at, zone in maintenance:
        lines.append(maintenance_now_line(maintenance_id, title, ends_at, zone, now))
    if alert is None and not incidents and components_line is None and not maintenance:
        lines.append("All clear: no alert and no open incidents.")
    if page_url:
        lines.append(f"Status page: {page_url}")
    return lines


# --- what applying a command answers --------------------------------------------------------

ROLE_LABELS = {"severity": "severity", "lead": "incident lead", "manager": "escalation manager"}


def usage(reason: str | None, usage_line: str) -> str:
    return f"{reason}. Usage: {usage_line}" if reason else f"usage: {usage_line}"


def alert_set(incident_id: int, opened: bool) -> str:
    if opened:
        return f"Alert set; opened incident #{incident_id}."
    return f"Alert updated (incident #{incident_id})."


def notice_sent(incident_id: int | None) -> str:
    return "Notice sent" + (f" (added to incident #{incident_id})." if incident_id else ".")


def status_logged() -> str:
    return "Logged on the status page."


def no_alert() -> str:
    return "There is no alert to clear."


def alert_cleared(incident_id: int | None) -> str:
    resolved = f"; incident #{incident_id} resolved" if incident_id else ""
    return f"Alert cleared; topics restored{resolved}."


def kudos_added(kind: str, page_url: str | None) -> str:
    # No full stop after a URL: chat clients would make it part of the link.
    link = f": {page_url}/{kind}" if page_url else "."
    return f"Added to the {kind} list{link}"


def incident_opened(incident_id: int, severity: int, title: str, url: str | None) -> str:
    return (f"Opened incident #{incident_id} (sev{severity}): {title}"
            + (f" — {url}" if url else ""))


def already_in_state(incident_id: int, state: str) -> str:
    return f"Incident #{incident_id} is already {state}."


def state_changed(incident_id: int, state: str, *, alert_still_set: bool) -> str:
    line = f"Incident #{incident_id} is now {state}."
    if alert_still_set:
        line += " The alert is still set: clear it with #status ok."
    return line


def field_unchanged(incident_id: int, field: str, value: object) -> str:
    return f"Incident #{incident_id}: {ROLE_LABELS[field]} is already {value}."


def field_changed(incident_id: int, field: str, value: object) -> str:
    return f"Incident #{incident_id}: {ROLE_LABELS[field]} is now {value}."


def no_such_incident(incident_id: int) -> str:
    return f"There is no incident #{incident_id}."


def none_open(usage_line: str) -> str:
    return (f"No incident is open: say which one ({usage_line}) or open one with "
            "#incident open TITLE.")


def several_open(ids: Sequence[int], usage_line: str) -> str:
    listed = ", ".join(f"#{i}" for i in ids)
    return f"Several incidents are open ({listed}): say which one, e.g. {usage_line}."


def noted(incident_id: int) -> str:
    return f"Noted on incident #{incident_id}."


def bug_linked(url: str, incident_id: int) -> str:
    return f"Linked {url} to incident #{incident_id}."


@dataclass(frozen=True, slots=True)
class LogLine:
    """A timeline entry as `#incident ID log` sends it."""

    at: datetime
    actor: str
    kind: str
    public: bool
    text: str | None = None
    old: str | None = None
    new: str | None = None


def incident_log(incident_id: int, title: str, entries: Sequence[LogLine],
                 page_url: str | None) -> list[str]:
    """The last entries of an incident's log, for a private message. `page_url`: where the
    log API answers (None when it is off: the link would only answer 401)."""
    lines = [f"Incident #{incident_id}: {title} — last {len(entries)} entries:"]
    for entry in entries:
        detail = entry.text or ""
        if entry.old is not None or entry.new is not None:
            detail = f"{entry.old or '-'} → {entry.new or '-'} {detail}".strip()
        scope = "" if entry.public else " (private)"
        lines.append(f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.actor} {entry.kind}{scope}: "
                     f"{detail}")
    if page_url:
        lines.append(f"Full log: {page_url}/api/incidents/{incident_id}/log.md "
                     "(needs the API token)")
    else:
        lines.append(f"Full log: run `statusdesk incidents export {incident_id}` on the bot's "
                     "host (the log API is off: status_page.api_token is not set)")
    return lines


def log_sent(incident_id: int) -> str:
    return f"Sent you the log of incident #{incident_id} by private message."
